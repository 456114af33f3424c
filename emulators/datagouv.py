"""A local emulator of the data.gouv.fr endpoints the catalogue job uses, with switchable faults.

Serves the files written by `emulators.datagouv_data` (under `root`):
    GET /api/1/datasets/5d13a8b6634f41070a43dff3/   the catalogue dataset: `resources[]` whose
                                                    `extras["csv-export:model"]` names each export
    GET /fr/datasets/r/{uuid}                       stable URLs: 302 to the latest export file
    GET /exports/{file}                             the CSV files, with Content-Length
    GET /_emulator/faults?name=value                switch faults at runtime; /_emulator/stats

Faults (`set_faults` or the control endpoint): `error_status` (every answer is that 5xx),
`fail_next` (the next N answers are 503, then normal: a transient outage), `truncate` (files stop
half-way although Content-Length announces them whole), `latency` (seconds slept per request),
`api_down` (only the API endpoint answers 503, so the stable URLs are the way in).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from emulators.base import BackgroundServer, QuietHandler
from emulators.datagouv_data import DATASETS_FILE, ORGANIZATIONS_FILE, generate_demo

log = logging.getLogger(__name__)

CATALOGUE_ID = "5d13a8b6634f41070a43dff3"
STABLE_IDS = {
    "f868cca6-8da1-4369-a78d-47463f19a9a3": DATASETS_FILE,
    "b7bbfedc-2448-4135-a6c7-104548d396e7": ORGANIZATIONS_FILE,
}
# Resources of the real catalogue (model -> file); reuses are listed but not served.
_RESOURCES = (
    ("dataset", DATASETS_FILE, "f868cca6-8da1-4369-a78d-47463f19a9a3"),
    ("organization", ORGANIZATIONS_FILE, "b7bbfedc-2448-4135-a6c7-104548d396e7"),
    ("reuse", "export-reuse.csv", "970aafa0-3778-4d8b-b9d1-de937525e379"),
)


@dataclass
class Faults:
    """The emulator's switchable misbehaviour."""

    error_status: int | None = None
    fail_next: int = 0
    truncate: bool = False
    latency: float = 0.0
    api_down: bool = False


@dataclass
class Counters:
    requests: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    faults: int = 0


class EmulatorServer(BackgroundServer):
    """A running emulator: `.url` (site base), `.api_url`, `.stop()`, `.set_faults(...)`."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, **faults: Any) -> None:
        self.root = Path(root)
        self.faults = Faults(**faults)
        self.counters = Counters()
        self.lock = threading.Lock()
        self.serve(_Handler, host, port, "datagouv-emulator")
        self.api_url = f"{self.url}/api/1"

    def set_faults(self, **faults: Any) -> None:
        known = {f.name for f in fields(Faults)}
        with self.lock:
            for name, value in faults.items():
                if name not in known:
                    raise ValueError(f"unknown fault '{name}'")
                setattr(self.faults, name, value)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    def take_fault(self, path: str) -> int | None:
        """The status to answer instead of the real one, if a fault applies to this request."""
        with self.lock:
            self.counters.requests += 1
            self.counters.by_path[path] = self.counters.by_path.get(path, 0) + 1
            status: int | None = None
            if self.faults.error_status:
                status = self.faults.error_status
            elif self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                status = 503
            elif self.faults.api_down and path.startswith("/api/"):
                status = 503
            if status is not None:
                self.counters.faults += 1
            return status


class _Handler(QuietHandler):
    emulator: EmulatorServer

    head_only = False

    def do_HEAD(self) -> None:
        self.head_only = True
        self.do_GET()

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not self.head_only:
            self.wfile.write(data)

    def do_GET(self) -> None:
        emu = self.emulator
        parsed = urlparse(self.path)
        path = parsed.path
        if path.startswith("/_emulator/"):
            self._control(path, parse_qs(parsed.query))
            return
        if emu.faults.latency:
            time.sleep(emu.faults.latency)
        status = emu.take_fault(path)
        if status is not None:
            self._json(status, {"message": "Service Unavailable"})
            return
        if path.rstrip("/") == f"/api/1/datasets/{CATALOGUE_ID}":
            self._json(200, self._catalogue())
        elif path.startswith("/fr/datasets/r/"):
            name = STABLE_IDS.get(path.rsplit("/", 1)[-1].strip("/"))
            if name is None:
                self._json(404, {"message": "Not Found"})
                return
            self.send_response(302)
            self.send_header("Location", f"{emu.url}/exports/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/exports/"):
            self._file(path.rsplit("/", 1)[-1])
        else:
            self._json(404, {"message": "Not Found"})

    def _catalogue(self) -> dict[str, Any]:
        emu = self.emulator
        resources = []
        for model, name, rid in _RESOURCES:
            file = emu.root / name
            stamp = datetime.fromtimestamp(file.stat().st_mtime if file.exists() else 0, UTC).isoformat()
            resources.append(
                {
                    "id": rid,
                    "title": name,
                    "format": "csv",
                    "url": f"{emu.url}/exports/{name}",
                    "filesize": file.stat().st_size if file.exists() else None,
                    "last_modified": stamp,
                    "extras": {"csv-export:model": model, "csv-export:date": stamp[:10]},
                }
            )
        # An older, superseded export of datasets: the job must pick the most recent one.
        resources.append(
            {
                "id": "00000000-0000-4000-8000-000000000000",
                "title": "export-dataset-old.csv",
                "format": "csv",
                "url": f"{emu.url}/exports/export-dataset-old.csv",
                "last_modified": "2019-01-01T00:00:00+00:00",
                "extras": {"csv-export:model": "dataset", "csv-export:date": "2019-01-01"},
            }
        )
        return {"id": CATALOGUE_ID, "title": "Catalogue des données de data.gouv.fr", "resources": resources}

    def _file(self, name: str) -> None:
        file = self.emulator.root / name
        if "/" in name or not file.is_file():
            self._json(404, {"message": "Not Found"})
            return
        size = file.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.head_only:
            return
        with file.open("rb") as fh:
            if self.emulator.faults.truncate:
                self.wfile.write(fh.read(size // 2))
                self.close_connection = True
                return
            shutil.copyfileobj(fh, self.wfile, 1 << 20)

    def _control(self, path: str, query: dict[str, list[str]]) -> None:
        emu = self.emulator
        if path == "/_emulator/stats":
            self._json(200, {"requests": emu.counters.requests, "faults": emu.counters.faults})
            return
        if path == "/_emulator/faults":
            types = {"error_status": int, "fail_next": int, "latency": float}
            updates: dict[str, Any] = {}
            for name, values in query.items():
                raw = values[-1]
                if name in ("truncate", "api_down"):
                    updates[name] = raw.lower() in ("1", "true", "yes")
                elif name in types:
                    updates[name] = types[name](raw) if raw not in ("", "none") else None
                else:
                    self._json(422, {"message": f"unknown fault '{name}'"})
                    return
            if updates.get("fail_next") is None and "fail_next" in updates:
                updates["fail_next"] = 0
            if "latency" in updates and updates["latency"] is None:
                updates["latency"] = 0.0
            emu.set_faults(**updates)
            self._json(200, {f.name: getattr(emu.faults, f.name) for f in fields(Faults)})
            return
        self._json(404, {"message": "Not Found"})


def start(root: Path, host: str = "127.0.0.1", port: int = 0, **options: Any) -> EmulatorServer:
    """Start the emulator in a daemon thread; `options` are initial faults."""
    return EmulatorServer(root, host, port, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="data.gouv.fr emulator (catalogue exports)")
    parser.add_argument("--root", type=Path, required=True, help="folder of the export files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (args.root / DATASETS_FILE).exists():
        log.info("no catalogue under %s: generating the demo one", args.root)
        generate_demo(args.root)
    server = start(args.root, args.host, args.port)
    log.info("data.gouv.fr emulator on %s (DATAGOUV_API_URL=%s)", server.url, server.api_url)
    server.run_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
