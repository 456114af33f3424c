"""In-memory cache of the gold Delta tables, refreshed when their Delta version changes.

Each *dataset* (the tables one route family needs) is read with delta-rs at a fixed version, turned
into a ready-to-serve view (pre-encoded JSON bytes), and published by swapping one reference. A
Delta commit is atomic and a version is read fully before the swap, so a request sees either the
old view or the new one, never a half-written table. Versions are checked at most every
`API_REFRESH_SECONDS`: by a background task while the server runs, or lazily by the request that
finds the view stale when no background task is running (tests, scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from common.logging import redact
from common.storage import DeltaReader
from common.tables import Table

log = logging.getLogger(__name__)

V = TypeVar("V")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# The version recorded for an optional table that does not exist yet.
MISSING = -1


class DataUnavailableError(Exception):
    """A dataset cannot be served yet (table missing, empty, unreadable); the message says what to run."""


@dataclass(frozen=True)
class Dataset(Generic[V]):
    """The tables one family of routes reads, and how to turn them into a view."""

    name: str
    tables: tuple[Table, ...]
    build: Callable[[Mapping[str, Any]], V]  # {table path: pyarrow.Table} -> view
    hint: str  # the command that produces the tables, quoted in 503 answers
    # True: a table no job has written yet is an empty answer (`build` gets None), not a 503.
    optional: bool = False


@dataclass
class _State:
    versions: tuple[int, ...] | None = None
    view: Any = None
    error: str | None = None
    checked_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class TableCache:
    """Views of every dataset, keyed by dataset name, rebuilt only when a table's version changes."""

    def __init__(self, reader: DeltaReader, datasets: list[Dataset[Any]], refresh_seconds: float) -> None:
        self._reader = reader
        self._datasets = {d.name: d for d in datasets}
        self._states = {d.name: _State() for d in datasets}
        self.refresh_seconds = refresh_seconds
        self.background = False  # True while a refresher task keeps the views fresh

    def get(self, name: str) -> Any:
        """The current view of a dataset; raises DataUnavailableError with a message naming the job."""
        state = self._states[name]
        if state.versions is None and state.error is None:
            self.refresh(name)  # first use: load synchronously
        elif not self.background and time.monotonic() - state.checked_at >= self.refresh_seconds:
            self.refresh(name)
        if state.error is not None and state.view is None:
            raise DataUnavailableError(state.error)
        return state.view

    def versions(self) -> dict[str, tuple[int, ...] | None]:
        return {name: state.versions for name, state in self._states.items()}

    def table_versions(self) -> dict[str, int]:
        """The Delta version each served table was last read at (tables not there yet left out)."""
        out: dict[str, int] = {}
        for name, state in self._states.items():
            for table, version in zip(self._datasets[name].tables, state.versions or (), strict=False):
                if version != MISSING:
                    out[table.path] = version
        return out

    def refresh(self, name: str) -> bool:
        """Check the dataset's table versions and rebuild its view if any changed; True if rebuilt.

        Concurrent callers do not pile up: if a check is already running, the caller keeps the
        current view (or waits for the first load).
        """
        state = self._states[name]
        first = state.versions is None and state.error is None
        if not state.lock.acquire(blocking=first):
            return False
        try:
            return self._refresh_locked(self._datasets[name], state)
        finally:
            state.checked_at = time.monotonic()
            state.lock.release()

    def refresh_all(self) -> bool:
        """Check every dataset; True if any view was rebuilt."""
        return any([self.refresh(name) for name in self._datasets])

    def _refresh_locked(self, dataset: Dataset[Any], state: _State) -> bool:
        try:
            versions = tuple(self._require_version(dataset, t) for t in dataset.tables)
        except DataUnavailableError as exc:
            self._fail(dataset, state, str(exc))
            state.view, state.versions = None, None
            return False
        except Exception as exc:  # noqa: BLE001 - an unreachable lake must not take the API down
            self._fail(dataset, state, f"cannot reach the {dataset.name} tables: {type(exc).__name__}: {exc}")
            return False
        if versions == state.versions:
            if state.view is not None:
                state.error = None
            return False
        started = time.perf_counter()
        try:
            data = {
                t.path: None if v == MISSING else self._reader.read(t, v)
                for t, v in zip(dataset.tables, versions, strict=True)
            }
            view = dataset.build(data)
        except (
            DataUnavailableError
        ) as exc:  # readable but not servable (e.g. no rows yet): wait for a new version
            self._fail(dataset, state, str(exc))
            state.view, state.versions = None, versions
            return False
        except Exception as exc:  # noqa: BLE001 - keep serving the previous version, retry at the next check
            self._fail(dataset, state, f"cannot read the {dataset.name} tables: {type(exc).__name__}: {exc}")
            return False
        state.view, state.versions, state.error = view, versions, None
        log.info(
            "loaded %s at versions %s in %.0f ms",
            dataset.name,
            dict(zip((t.path for t in dataset.tables), versions, strict=True)),
            (time.perf_counter() - started) * 1000,
        )
        return True

    def _require_version(self, dataset: Dataset[Any], table: Table) -> int:
        version = self._reader.version(table)
        if version is None and dataset.optional:
            return MISSING
        if version is None:
            raise DataUnavailableError(
                f"table {table.path} does not exist under LAKE_ROOT yet: run `{dataset.hint}`"
            )
        return version

    @staticmethod
    def _fail(dataset: Dataset[Any], state: _State, message: str) -> None:
        message = redact(" ".join(_ANSI.sub("", message).replace("↳", " ").split()))[:500]
        if state.error != message:
            log.warning("%s: %s", dataset.name, message)
        state.error = message

    async def run_refresher(self, stop: asyncio.Event) -> None:
        """Check every dataset each `refresh_seconds` in a worker thread until `stop` is set."""
        self.background = True
        try:
            while not stop.is_set():
                if await asyncio.to_thread(self.refresh_all):
                    gc.freeze()  # the new views join the long-lived objects the GC skips (see main)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(self.refresh_seconds, 0.05))
        finally:
            self.background = False
