"""The job runner: what every job needs, built once at its entry point and handed to its steps.

A job's `main(args, job)` reads as extract -> transform -> audit -> publish over a `JobRun`:
the settings (read once), the run's ledger record (stage times, inputs, outputs), Spark started
on first use with the run's id on its Delta commits, and side-by-side stages on a bounded pool.
Tests and benchmarks that call a job's steps directly build a `JobRun` outside the ledger.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from common.inputs import Published, table_versions
from common.ledger import Run
from common.settings import Settings
from common.spark import LazySpark, SessionOptions
from common.storage import Lake, RawStore

if TYPE_CHECKING:
    from pyspark import StorageLevel
    from pyspark.sql import DataFrame, SparkSession

    from common.tables import Table

log = logging.getLogger(__name__)
T = TypeVar("T")

# Side-by-side stages mostly wait (on the object store, on Delta's commits): a few threads.
MAX_SIDE_BY_SIDE = 8


class Held:
    """Frames persisted for a part of a run, released together when it ends (`JobRun.holding`):
    a long run frees what a finished step cached, and a session that runs jobs one after another
    (tests, a notebook) keeps no block of an ended run."""

    def __init__(self) -> None:
        self._frames: list[DataFrame] = []
        self._lock = threading.Lock()

    def keep(self, frame: DataFrame, level: StorageLevel | None = None) -> DataFrame:
        """`frame` persisted (`level`, else as `cache()` does) until `release`."""
        kept = frame.persist(level) if level is not None else frame.cache()
        with self._lock:
            self._frames.append(kept)
        return kept

    def release(self) -> None:
        with self._lock:
            frames, self._frames = self._frames, []
        for frame in frames:
            with contextlib.suppress(Exception):  # a session the watch stopped has nothing left
                frame.unpersist()


class JobRun:
    """One run of a job, as its steps see it.

    `record` is the ledger's run when the entry point opened one (its id then tags the Delta
    commits); without it the run is recorded nowhere. `spark` is used as given (a test's session)
    or started on first use (`use_spark` sets the job's own options first). `lake` is built once
    here from the settings; steps take it (and the stores it gives) rather than the settings.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        record: Run | None = None,
        spark: SparkSession | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.lake = Lake(settings)
        self.recorded = record is not None
        self.record = record if record is not None else Run(name, settings, {})
        self._given = spark
        self.spark = self._lazy({})
        self._held = Held()

    def _lazy(self, options: SessionOptions) -> LazySpark:
        tag = self.record.run_id if self.recorded else None
        return LazySpark(self.settings, self.name, commit_tag=tag, **options)

    # --- Spark ------------------------------------------------------------------------------------

    def use_spark(self, **options: Unpack[SessionOptions]) -> None:
        """The job's own session options (see common.spark.build_conf), before it starts."""
        if not self.spark.started:
            self.spark = self._lazy(options)

    def start_spark(self) -> None:
        """Start Spark in the background while the job does its own I/O (no-op when given)."""
        if self._given is None:
            self.spark.start()

    @property
    def spark_started(self) -> bool:
        return self._given is not None or self.spark.started

    def session(self, timed: bool = True) -> SparkSession:
        """The session; the time spent waiting for its start-up is the stage `spark_start` (not
        `timed`: a wait beside the one timed, not counted twice)."""
        if self._given is not None:
            return self._given
        if self.spark.ready or not timed:
            return self.spark.get()
        with self.stage("spark_start"):
            return self.spark.get()

    @property
    def stopped_reason(self) -> str | None:
        """Why the executor watch stopped the session, the root cause of whatever failed then."""
        return self.spark.stopped_reason

    def stop_spark(self) -> None:
        """End the run's own session (a given one is the caller's) and its JVM, which exits beside
        the run's last steps (`LazySpark.end`), timed as `spark_stop`; a session still starting
        is waited for, so no JVM outlives a failed run."""
        if self._given is None and self.spark.started:
            with self.stage("spark_stop"), contextlib.suppress(Exception):
                self.spark.end()

    def persist(self, frame: DataFrame, level: StorageLevel | None = None) -> DataFrame:
        """`frame` persisted (`level`, else as `cache()` does) until the run closes."""
        return self._held.keep(frame, level)

    @contextlib.contextmanager
    def holding(self) -> Iterator[Held]:
        """Frames persisted for the block only (`held.keep(frame)`), released when it ends."""
        held = Held()
        try:
            yield held
        finally:
            held.release()

    def close(self) -> None:
        """Release what the run holds: its persisted frames, its hold on the session."""
        self._held.release()
        self.spark.close()

    # --- the record ---------------------------------------------------------------------------

    def stage(self, name: str) -> contextlib.AbstractContextManager[None]:
        return self.record.stage(name)

    @property
    def stages(self) -> dict[str, float]:
        return self.record.stages.as_dict()

    def record_input(self, name: str, value: Any) -> None:
        self.record.record_input(name, value)

    def record_output(self, name: str, rows: int, version: int | None = None) -> None:
        self.record.record_output(name, rows, version)

    @property
    def run_id(self) -> str | None:
        return self.record.run_id if self.recorded else None

    # --- side-by-side stages ----------------------------------------------------------------------

    def side_by_side(self, stages: Mapping[str, Callable[[], T]]) -> dict[str, T]:
        """Run each named stage in its own thread, each timed under its name; once every one has
        ended, their results, or the first failure (in the order given)."""
        if not stages:
            return {}
        workers = min(len(stages), MAX_SIDE_BY_SIDE)
        with ThreadPoolExecutor(workers, thread_name_prefix=f"{self.name}-side") as pool:
            futures = {name: pool.submit(self._timed, name, work) for name, work in stages.items()}
            wait(futures.values())
        return {name: future.result() for name, future in futures.items()}

    def beside(self, name: str, work: Callable[[], T]) -> Future[T]:
        """Start a stage in a thread and go on; collect it with `.result()` (see `joined`)."""
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-{name}")
        future = pool.submit(self._timed, name, work)
        pool.shutdown(wait=False)
        return future

    @contextlib.contextmanager
    def joined(self, *running: Future[Any]) -> Iterator[None]:
        """On failure of the block, wait for the stages started `beside` it before raising: no
        work of a failed run outlives it (also when the job runs inside a caller's session)."""
        try:
            yield
        except BaseException:
            wait(running)
            raise

    def _timed(self, name: str, work: Callable[[], T]) -> T:
        with self.stage(name):
            return work()

    # --- unchanged inputs ---------------------------------------------------------------------

    def published(self, store: RawStore, marker: str) -> Published | None:
        """What the last successful run computed its tables from (common.inputs.Published)."""
        return Published.read(store, marker)

    def unchanged(self, previous: Published | None, request: str, tables: list[Table]) -> bool:
        """Whether the last run was asked the same (`request`, a digest) and its tables are still
        at the versions it left (a job repairs tables that lost files first: `unreadable`,
        `repair`): the inputs then decide whether anything is recomputed."""
        return (
            previous is not None
            and previous.request == request
            and previous.holds(table_versions(self.lake.reader, tables))
        )

    def unreadable(self, tables: list[Table]) -> list[Table]:
        """The tables whose latest version lists data files storage no longer holds (a file
        deleted by hand, a lost object), each named in a warning: a run must rebuild them rather
        than trust their version (see `repair`)."""
        reader, broken = self.lake.reader, []
        for table in tables:
            missing = reader.missing_files(table)
            if missing:
                log.warning("%s: %d data file(s) missing (%s)", table.path, len(missing), missing[0])
                broken.append(table)
        return broken

    def repair(self, tables: list[Table]) -> None:
        """Drop the lost files from each table's log (delta-rs FSCK): it reads and takes writes
        again, without their rows, which the caller then writes back."""
        for table in tables:
            self.lake.reader.repair(table)
            log.warning("%s: repaired; this run rebuilds its rows", table.path)

    def publish_record(
        self, store: RawStore, marker: str, request: str, inputs: str, tables: list[Table]
    ) -> None:
        """After a successful publish: what the tables were computed from, at which versions."""
        versions = table_versions(self.lake.reader, tables)
        Published(request, inputs, versions, self.run_id).write(store, marker)
