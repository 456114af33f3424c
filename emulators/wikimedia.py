"""Emulator of `dumps.wikimedia.org`: serves a directory tree as static files, with faults.

Files are answered with their `Content-Length` (HEAD too), missing ones with 404. Faults are
switched at runtime, on the returned server object or through `GET /_control?...`:
`truncate=N` (the next N file answers stop halfway through the body), `corrupt=N` (the next N
answers carry the right length but damaged gzip bytes), `errors=N` (the next N answers are 503),
`latency=SECONDS` (each answer waits), `bandwidth=BYTES_PER_SECOND` (each file's body is sent
no faster: a slow link, 0 for none), `match=SUBSTRING` (faults only hit paths containing it),
`reset=1`. `GET /_stats` returns the number of requests per path.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlparse

from emulators.base import BackgroundServer, QuietHandler
from emulators.wikimedia_data import generate_demo

log = logging.getLogger(__name__)


@dataclass
class Faults:
    """Counters of the faults still to inject; each injected fault decrements its counter."""

    truncate: int = 0
    corrupt: int = 0
    errors: int = 0
    latency: float = 0.0
    bandwidth: float = 0.0
    match: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hits(self, path: str) -> bool:
        return not self.match or self.match in path

    def take(self, kind: str, path: str) -> bool:
        if not self.hits(path):
            return False
        with self.lock:
            left = int(getattr(self, kind))
            if left <= 0:
                return False
            setattr(self, kind, left - 1)
            return True

    def set(self, **values: Any) -> None:
        with self.lock:
            for key, value in values.items():
                setattr(self, key, value)


class EmulatorServer(BackgroundServer):
    """A running emulator: `.url`, `.faults`, `.requests`, `.stop()`."""

    def __init__(self, root: Path, host: str, port: int) -> None:
        self.root = root.resolve()
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.serve(_Handler, host, port, "wikimedia-emulator", start=False)


class _Handler(QuietHandler):
    emulator: EmulatorServer

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self, query: dict[str, list[str]]) -> None:
        faults = self.emulator.faults
        if "reset" in query:
            faults.set(truncate=0, corrupt=0, errors=0, latency=0.0, bandwidth=0.0, match="")
        for key in ("truncate", "corrupt", "errors"):
            if key in query:
                faults.set(**{key: int(query[key][0])})
        for key in ("latency", "bandwidth"):
            if key in query:
                faults.set(**{key: float(query[key][0])})
        if "match" in query:
            faults.set(match=query["match"][0])
        state = {
            k: getattr(faults, k) for k in ("truncate", "corrupt", "errors", "latency", "bandwidth", "match")
        }
        self._send(200, json.dumps(state).encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        path = unquote(parsed.path)
        if path == "/_control":
            self._control(parse_qs(parsed.query))
            return
        if path == "/_stats":
            self._send(200, json.dumps(dict(self.emulator.requests)).encode())
            return
        self.emulator.requests[path] += 1
        faults = self.emulator.faults
        if faults.latency:
            time.sleep(faults.latency)
        target = (self.emulator.root / path.lstrip("/")).resolve()
        hidden = any(part.startswith(".") for part in Path(path).parts)
        if hidden or not target.is_relative_to(self.emulator.root) or not target.is_file():
            self._send(404, b'{"detail": "not found"}')
            return
        if faults.take("errors", path):
            self._send(503, b'{"detail": "service unavailable (injected)"}')
            return
        if self.command == "GET" and faults.take("corrupt", path):
            body = target.read_bytes()
            middle = len(body) // 2
            body = body[:middle] + bytes(b ^ 0x5A for b in body[middle : middle + 64]) + body[middle + 64 :]
            self._send(200, body, "application/octet-stream")
            return
        size = target.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        with target.open("rb") as body_file:
            if faults.take("truncate", path):
                self.wfile.write(body_file.read(size // 2))
                self.wfile.flush()
                self.close_connection = True
                return
            # The kernel copies the file to the socket (a real-size day is 1.4 GB): the emulator
            # then costs the benchmarks' machine little CPU beside the job it serves.
            self.wfile.flush()
            if faults.bandwidth and faults.hits(path):
                _paced(self.connection, body_file, size, faults.bandwidth)
            else:
                self.connection.sendfile(body_file)


PACE_STEP = 64 << 10


def _paced(connection: Any, body: BinaryIO, size: int, rate: float) -> None:
    """Sends `body` (`size` bytes) at no more than `rate` bytes a second: each step leaves once
    the time its bytes take at that rate has passed."""
    started = time.monotonic()
    sent = 0
    while sent < size:
        count = min(PACE_STEP, size - sent)
        ahead = (sent + count) / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        step = connection.sendfile(body, sent, count)
        if step == 0:
            return
        sent += step


def start(root: Path, host: str = "127.0.0.1", port: int = 0, **options: Any) -> EmulatorServer:
    """Serve `root` in a daemon thread; `options` set initial faults (truncate=, corrupt=, ...)."""
    server = EmulatorServer(root, host, port)
    if options:
        server.faults.set(**options)
    server.thread.start()
    log.info("wikimedia emulator serving %s on %s", server.root, server.url)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a synthetic dumps.wikimedia.org tree")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--generate", action="store_true", help="write the demo tree into --root first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.generate:
        log.info("demo tree: %s", generate_demo(args.root))
    server = start(args.root, args.host, args.port)
    server.run_until_interrupted()


if __name__ == "__main__":
    main()
