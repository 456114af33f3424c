"""One run of a job per lake at a time: a lease object beside the job's tables.

Two runs of a job on one lake race their Delta commits and can leave tables from different runs.
A run takes `_leases/<job>.json` under LAKE_ROOT with a conditional create (S3's `If-None-Match:
*`, which MinIO and AWS S3 honour; an exclusive create on a local disk), renews it every quarter
of LEASE_TTL_SECONDS with a write conditional on the version it holds, and deletes it at the end.
A second run finds the lease live and stops at once, naming the holder; a lease whose holder was
killed stops being renewed and is taken over once it is LEASE_TTL_SECONDS old.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from common.errors import PlatformError
from common.settings import Settings
from common.storage import lake_path, s3_client, split_s3

log = logging.getLogger(__name__)


class LeaseHeldError(PlatformError):
    """Another run of the job holds the lake's lease."""


class _Backend(Protocol):
    def read(self) -> tuple[dict[str, Any], str] | None: ...
    def create(self, body: dict[str, Any]) -> str | None: ...
    def replace(self, body: dict[str, Any], version: str) -> str | None: ...
    def delete(self, version: str) -> None: ...


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True).encode()


class _LocalBackend:
    """A file; compare-and-swap under an flock of a sidecar file (versions are content hashes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = path.with_suffix(".lock")

    def _locked(self) -> Any:
        handle = self.lock.open("a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def _current(self) -> tuple[dict[str, Any], str] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return json.loads(raw), hashlib.sha256(raw).hexdigest()

    def read(self) -> tuple[dict[str, Any], str] | None:
        with self._locked():
            return self._current()

    def create(self, body: dict[str, Any]) -> str | None:
        with self._locked():
            if self._current() is not None:
                return None
            return self._write(body)

    def replace(self, body: dict[str, Any], version: str) -> str | None:
        with self._locked():
            current = self._current()
            if current is None or current[1] != version:
                return None
            return self._write(body)

    def delete(self, version: str) -> None:
        with self._locked():
            current = self._current()
            if current is not None and current[1] == version:
                self.path.unlink()

    def _write(self, body: dict[str, Any]) -> str:
        raw = _encode(body)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        tmp.replace(self.path)
        return hashlib.sha256(raw).hexdigest()


class _S3Backend:
    """An object written with S3 conditional requests (versions are ETags)."""

    def __init__(self, settings: Settings, uri: str) -> None:
        self.client = s3_client(settings)
        self.bucket, self.key = split_s3(uri)

    def read(self) -> tuple[dict[str, Any], str] | None:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None
        return json.loads(got["Body"].read()), str(got["ETag"])

    def _put(self, body: dict[str, Any], **condition: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            put = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=_encode(body), **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return None
            raise
        return str(put["ETag"])

    def create(self, body: dict[str, Any]) -> str | None:
        return self._put(body, IfNoneMatch="*")

    def replace(self, body: dict[str, Any], version: str) -> str | None:
        return self._put(body, IfMatch=version)

    def delete(self, version: str) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            self.client.delete_object(Bucket=self.bucket, Key=self.key)


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux): tells a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    current = process_start(pid)
    return start is None or current is None or current == start


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Lease:
    """A held lease: renewed in a daemon thread until `release()`."""

    backend: _Backend
    body: dict[str, Any]
    version: str
    ttl: float
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def start_renewing(self) -> None:
        threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True).start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            body = {**self.body, "renewed_at": _iso(_now())}
            try:
                version = self.backend.replace(body, self.version)
            except Exception as exc:  # noqa: BLE001 - the lake may be briefly down; try again
                log.warning("lease renewal failed: %s", str(exc).splitlines()[0] if str(exc) else exc)
                continue
            if version is None:
                self.lost = True
                log.error("the lease of %s was taken over: another run may be writing", self.body["job"])
                return
            self.body, self.version = body, version

    def release(self) -> None:
        self._stop.set()
        if not self.lost:
            try:
                self.backend.delete(self.version)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.warning("lease not released (it expires in %.0f s): %s", self.ttl, exc)


def _backend(settings: Settings, job: str) -> _Backend:
    where = lake_path(settings, "_leases", f"{job}.json")
    return _S3Backend(settings, where) if settings.lake_is_s3 else _LocalBackend(Path(where))


def acquire(settings: Settings, job: str, run_id: str) -> Lease:
    """Take the job's lease on the lake, or raise LeaseHeldError naming the live holder."""
    ttl = settings.lease_ttl_seconds
    backend = _backend(settings, job)
    now = _iso(_now())
    body = {
        "job": job,
        "run_id": run_id,
        "started_at": now,
        "renewed_at": now,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": process_start(os.getpid()),
    }
    version = backend.create(body)
    if version is None:
        version = _take_expired(backend, body, ttl, job)
    lease = Lease(backend, body, version, ttl)
    lease.start_renewing()
    return lease


def _take_expired(backend: _Backend, body: dict[str, Any], ttl: float, job: str) -> str:
    current = backend.read()
    if current is None:  # released between our create and this read
        version = backend.create(body)
    else:
        held, held_version = current
        renewed = datetime.fromisoformat(held["renewed_at"].replace("Z", "+00:00"))
        age = (_now() - renewed).total_seconds()
        # A holder on this machine whose process is gone (killed) need not be waited for.
        gone = held.get("host") == socket.gethostname() and not process_alive(
            int(held.get("pid") or 0), held.get("process_start")
        )
        if age < ttl and not gone:
            raise LeaseHeldError(
                f"another run of {job} holds this lake: run {held['run_id']}, started "
                f"{held['started_at']} (renewed {age:.0f} s ago; a lease not renewed for "
                f"{ttl:.0f} s is taken over)"
            )
        log.warning("taking over the lease of run %s (its process is gone or it expired)", held["run_id"])
        version = backend.replace(body, held_version)
    if version is None:
        raise LeaseHeldError(f"another run of {job} took this lake's lease at the same moment")
    return version
