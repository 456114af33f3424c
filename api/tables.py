"""In-memory cache of the gold Delta tables, refreshed when their Delta version changes.

Each *dataset* (the tables one route family needs) is read with delta-rs at a fixed version, turned
into a ready-to-serve view (pre-encoded JSON bytes), and published by swapping one reference. The
datasets whose tables one job publishes (the tables' owner) form a *group*: its versions are chosen
so that they never mix two runs (api.consistency), and all its views switch in one assignment. A
table that cannot be read makes unavailable only what needs it: the datasets reading it, or for a
dataset that can do without it (`Dataset.partial`) the answers built from it; a group already
served keeps its previous views until every table reads again. Versions are checked at most every
`API_REFRESH_SECONDS`: by a background task while the server runs, or lazily by the request that
finds the view stale when no background task is running (tests, scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from api.consistency import WINDOW, choose, commits_of
from common.logging import redact
from common.storage import DeltaReader
from common.tables import Table

log = logging.getLogger(__name__)

V = TypeVar("V")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# The version recorded for an optional table that does not exist yet.
MISSING = -1
# The version recorded for a table whose log could not be read.
BROKEN = -2


class DataUnavailableError(Exception):
    """A dataset cannot be served yet (table missing, empty, unreadable); the message says what to run."""


@dataclass(frozen=True)
class Unreadable:
    """What `build` gets for a table of `Dataset.partial` that could not be read: the view serves
    the other tables' answers and this message (naming the table, never a path) for the rest."""

    message: str


@dataclass(frozen=True)
class Dataset(Generic[V]):
    """The tables one family of routes reads, and how to turn them into a view."""

    name: str
    tables: tuple[Table, ...]
    build: Callable[[Mapping[str, Any]], V]  # {table path: pyarrow.Table} -> view
    hint: str  # the command that produces the tables, quoted in 503 answers
    # True: a table no job has written yet is an empty answer (`build` gets None), not a 503.
    optional: bool = False
    # Tables `build` can do without: one that cannot be read reaches it as `Unreadable`.
    partial: tuple[Table, ...] = ()


@dataclass(frozen=True)
class _Served:
    """One dataset as published: replaced whole, never changed in place."""

    view: Any = None
    versions: tuple[int, ...] | None = None
    error: str | None = None
    complete: bool = True  # False: a table could not be read; read again at the next check


@dataclass(frozen=True)
class _Cut:
    """The versions a group serves (None: not there) and why a table's log could not be read."""

    versions: dict[str, int | None]
    broken: dict[str, str] = field(default_factory=dict)  # path -> exception type


class _Group:
    """Datasets whose tables one job publishes together: their views switch at once."""

    def __init__(self, datasets: list[Dataset[Any]]) -> None:
        self.datasets = datasets
        self.tables = list({t.path: t for d in datasets for t in d.tables}.values())
        self.served: dict[str, _Served] = {d.name: _Served() for d in datasets}
        self.latest: dict[str, int | None] | None = None  # each table's version at the last choice
        self.cut = _Cut({})
        self.held: frozenset[str] = frozenset()  # runs whose commits the cut leaves out
        self.loaded = False
        self.checked_at = float("-inf")
        self.lock = threading.Lock()


class TableCache:
    """Views of every dataset, keyed by dataset name, rebuilt only when a table's version changes.

    `ledger` names the dataset of the run ledger (its view's `succeeded` run ids release a run
    that rewrote only some tables of a group, see api.consistency).
    """

    def __init__(
        self,
        reader: DeltaReader,
        datasets: list[Dataset[Any]],
        refresh_seconds: float,
        ledger: str | None = None,
    ) -> None:
        self._reader = reader
        self._datasets = {d.name: d for d in datasets}
        by_owner: dict[tuple[str, ...], list[Dataset[Any]]] = {}
        for dataset in datasets:
            by_owner.setdefault(tuple(sorted({t.owner for t in dataset.tables})), []).append(dataset)
        self._ledger = ledger if ledger in self._datasets else None
        # The ledger's group first: a refresh of every group then sees the runs that just ended.
        self._groups = sorted(
            (_Group(members) for members in by_owner.values()),
            key=lambda g: all(d.name != self._ledger for d in g.datasets),
        )
        self._group_of = {d.name: g for g in self._groups for d in g.datasets}
        self._logged: dict[str, str] = {}
        self.refresh_seconds = refresh_seconds
        self.background = False  # True while a refresher task keeps the views fresh

    def get(self, name: str) -> Any:
        """The current view of a dataset; raises DataUnavailableError with a message naming the job."""
        state = self._fresh(self._group_of[name])[name]
        if state.view is None and state.error is not None:
            raise DataUnavailableError(state.error)
        return state.view

    def get_together(self, *names: str) -> tuple[Any, ...]:
        """Views of datasets from one switch of their group, so of the same runs; a dataset that
        cannot be served gives a DataUnavailableError in place of its view, for the caller to raise
        when it needs that view."""
        served: dict[str, _Served] = {}
        for group in {self._group_of[name] for name in names}:
            served.update(self._fresh(group))
        out: list[Any] = []
        for name in names:
            state = served[name]
            failed = state.view is None and state.error is not None
            out.append(DataUnavailableError(state.error) if failed else state.view)
        return tuple(out)

    def _fresh(self, group: _Group) -> dict[str, _Served]:
        if not group.loaded:
            self._refresh(group)  # first use: load synchronously
        elif not self.background and time.monotonic() - group.checked_at >= self.refresh_seconds:
            self._refresh(group)
        return group.served

    def versions(self) -> dict[str, tuple[int, ...] | None]:
        return {name: self._group_of[name].served[name].versions for name in self._datasets}

    def table_versions(self) -> dict[str, int]:
        """The Delta version each served table was last read at (tables not there yet left out)."""
        out: dict[str, int] = {}
        for name, dataset in self._datasets.items():
            versions = self._group_of[name].served[name].versions or ()
            for table, version in zip(dataset.tables, versions, strict=False):
                if version >= 0:
                    out[table.path] = version
        return out

    def refresh(self, name: str) -> bool:
        """Check the versions of the dataset's group and rebuild what changed; True if a view was."""
        return self._refresh(self._group_of[name])

    def refresh_all(self) -> bool:
        """Check every group; True if any view was rebuilt."""
        return any([self._refresh(group) for group in self._groups])

    def _refresh(self, group: _Group) -> bool:
        """Concurrent callers do not pile up: if a check is already running, the caller keeps the
        current views (or waits for the first load)."""
        first = not group.loaded
        if not group.lock.acquire(blocking=first):
            return False
        try:
            if first and group.loaded:
                return False  # loaded while this caller waited
            return self._refresh_locked(group)
        finally:
            group.loaded = True
            group.checked_at = time.monotonic()
            group.lock.release()

    def _refresh_locked(self, group: _Group) -> bool:
        started = time.perf_counter()
        try:
            cut = self._cut(group)
        except Exception as exc:  # noqa: BLE001 - an unreachable lake must not take the API down
            self._unreachable(group, exc)
            return False
        before = group.served
        served = {d.name: self._serve(d, cut, before[d.name]) for d in group.datasets}
        if any(not new.complete and before[name].view is not None for name, new in served.items()):
            # A table could not be read: every dataset that has a view keeps it at its previous
            # versions, so the group never mixes versions; the next check reads again.
            served = {
                name: before[name] if before[name].view is not None else new for name, new in served.items()
            }
        group.served = served  # the whole group switches at once
        rebuilt = [n for n, s in served.items() if s.view is not None and s.view is not before[n].view]
        for name in rebuilt:
            self._logged.pop(name, None)
            took = (time.perf_counter() - started) * 1000
            log.info(
                "loaded %s at versions %s in %.0f ms", name, self._named_versions(name, served[name]), took
            )
        return bool(rebuilt)

    def _named_versions(self, name: str, served: _Served) -> dict[str, int]:
        return dict(zip((t.path for t in self._datasets[name].tables), served.versions or (), strict=False))

    def _cut(self, group: _Group) -> _Cut:
        """The group's versions: chosen again when a table's version moved or the ledger released a
        held run; raises when no table of the group answers (the lake is unreachable)."""
        latest: dict[str, int | None] = {}
        errors: dict[str, Exception] = {}
        for table in group.tables:
            try:
                latest[table.path] = self._reader.version(table)
            except Exception as exc:  # noqa: BLE001 - one broken log takes down only its table
                errors[table.path] = exc
        if errors and len(errors) == len(group.tables):
            raise next(iter(errors.values()))
        broken = {path: type(error).__name__ for path, error in errors.items()}
        for path, error in errors.items():
            self._warn(path, f"cannot read the log of {path}: {type(error).__name__}: {error}")
        if not broken and latest == group.latest and not group.held & self._released(group):
            return group.cut
        cut = self._choose(group, latest, broken)
        group.latest = None if cut.broken else latest
        group.cut = cut
        return cut

    def _released(self, group: _Group) -> frozenset[str]:
        return self._succeeded() if group.held else frozenset()

    def _choose(self, group: _Group, latest: dict[str, int | None], broken: dict[str, str]) -> _Cut:
        """Per table, the newest version that does not mix runs (api.consistency), from the recent
        history of each table that exists."""
        there = [t for t in group.tables if latest.get(t.path) is not None]
        if len(there) < 2:  # one table alone has nothing to be consistent with
            group.held = frozenset()
            return _Cut({**latest, **dict.fromkeys(broken, BROKEN)}, broken)
        histories = {}
        for table in there:
            try:
                histories[table.path] = commits_of(self._reader.history(table, WINDOW))
            except Exception as exc:  # noqa: BLE001 - see _cut
                broken[table.path] = type(exc).__name__
                self._warn(
                    table.path, f"cannot read the history of {table.path}: {type(exc).__name__}: {exc}"
                )
        chosen = choose({p: h for p, h in histories.items() if h}, self._succeeded)
        group.held = chosen.held
        versions = {t.path: chosen.versions.get(t.path) for t in group.tables}
        return _Cut({**versions, **dict.fromkeys(broken, BROKEN)}, broken)

    def _succeeded(self) -> frozenset[str]:
        """The run ids the ledger records as succeeded (none without a ledger)."""
        if self._ledger is None:
            return frozenset()
        view = self.get_together(self._ledger)[0]
        return frozenset(getattr(view, "succeeded", ()))

    def _serve(self, dataset: Dataset[Any], cut: _Cut, old: _Served) -> _Served:
        """The dataset at the group's versions: `old` if they did not change, else read and built."""
        missing = [t for t in dataset.tables if cut.versions.get(t.path) is None and not dataset.optional]
        if missing:
            error = f"table {missing[0].path} does not exist under LAKE_ROOT yet: run `{dataset.hint}`"
            self._warn(dataset.name, error)
            return _Served(error=error)
        versions = tuple(MISSING if (v := cut.versions.get(t.path)) is None else v for t in dataset.tables)
        if versions == old.versions and old.complete:
            return old
        data, failed = self._read(dataset, versions, cut.broken)
        if failed - {t.path for t in dataset.partial}:
            return _Served(
                None, versions, self._unreadable(dataset, failed, versions, cut.broken), complete=False
            )
        try:
            view = dataset.build(data)
        except (
            DataUnavailableError
        ) as exc:  # readable but not servable (e.g. no rows yet): wait for a new version
            self._warn(dataset.name, str(exc))
            return _Served(None, versions, str(exc), complete=not failed)
        except Exception as exc:  # noqa: BLE001 - keep serving the previous version, retry at the next check
            self._warn(dataset.name, f"cannot build the {dataset.name} answers: {type(exc).__name__}: {exc}")
            return _Served(None, versions, f"cannot build the {dataset.name} answers", complete=False)
        return _Served(view, versions, None, complete=not failed)

    def _read(
        self, dataset: Dataset[Any], versions: tuple[int, ...], broken: Mapping[str, str]
    ) -> tuple[dict[str, Any], set[str]]:
        """Each table at its version; one that cannot be read is an `Unreadable` (its path returned)."""
        data: dict[str, Any] = {}
        failed: set[str] = set()
        for table, version in zip(dataset.tables, versions, strict=True):
            if version == MISSING:
                data[table.path] = None
            elif table.path in broken:
                failed.add(table.path)
            else:
                try:
                    data[table.path] = self._reader.read(table, version)
                    self._logged.pop(table.path, None)
                except Exception as exc:  # noqa: BLE001 - one unreadable table must not take the others down
                    failed.add(table.path)
                    detail = f"{type(exc).__name__}: {exc}"
                    self._warn(table.path, f"cannot read {table.path} at version {version}: {detail}")
        for path in failed:
            data[path] = Unreadable(self._unreadable(dataset, {path}, versions, broken))
        return data, failed

    @staticmethod
    def _unreadable(
        dataset: Dataset[Any], paths: set[str], versions: tuple[int, ...], broken: Mapping[str, str]
    ) -> str:
        """The 503 detail for unreadable tables: each one's name and version, never a path."""
        parts = []
        for table, version in zip(dataset.tables, versions, strict=True):
            if table.path in paths:
                why = broken.get(table.path)
                parts.append(
                    f"{table.path} (its log: {why})" if why else f"{table.path} at version {version}"
                )
        return f"cannot read the {dataset.name} tables: {', '.join(parts)}: run `{dataset.hint}` to rebuild"

    def _unreachable(self, group: _Group, exc: Exception) -> None:
        """No table of the group answered: views are kept; the detail names the tables, not the lake."""
        paths, kind = ", ".join(t.path for t in group.tables), type(exc).__name__
        self._warn(f"group {paths}", f"cannot reach {paths}: {kind}: {exc}")
        group.served = {
            name: dataclasses.replace(
                state,
                error=f"cannot reach the {name} tables ({kind}): {paths}; checked again shortly",
                complete=state.complete and state.view is not None,
            )
            for name, state in group.served.items()
        }
        group.latest = None

    def _warn(self, key: str, message: str) -> None:
        """Log a failure once until it changes (the lake is checked every few seconds)."""
        message = redact(" ".join(_ANSI.sub("", message).replace("↳", " ").split()))[:500]
        if self._logged.get(key) != message:
            log.warning("%s: %s", key, message)
            self._logged[key] = message

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
