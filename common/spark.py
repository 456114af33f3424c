"""The one Spark session factory: local mode by default, a standalone cluster with
SPARK_MASTER=spark://host:port, cluster mode under spark-submit (the operator).

Delta and S3A jars come from the project's `jars/` folder (filled once by `make setup` from Maven
Central, beside the project's own `pageviews` source built from jvm/), so a job starts offline and
never resolves packages through Ivy. On a standalone cluster the executors get what the
Kubernetes image gives them: the same jars (shipped by the driver through `spark.jars`) and the
project's `common/` and `jobs/` packages (a zip built at start, added with `addPyFile`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from common.errors import ConfigError
from common.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG4J2_CONF = Path(__file__).resolve().parent / "log4j2.properties"
# The Delta setting whose value each commit keeps as `userMetadata`: a run's id (start_session).
COMMIT_TAG_CONF = "spark.databricks.delta.commitInfo.userMetadata"
# dataplatform-pageviews is the project's own (jvm/, built by scripts/build_jvm.sh).
REQUIRED_JARS = (
    "delta-spark_",
    "delta-storage-",
    "hadoop-aws-",
    "bundle-",
    "jlibdeflate-",
    "dataplatform-pageviews",
)
# What executors import by name: the packages the image copies to /opt/app.
PROJECT_PACKAGES = ("common", "jobs")


# A JVM takes its default locale and charset from LC_ALL/LANG: Spark's lower() and upper() follow
# that locale (a Turkish one lower-cases "I" to dotless "ı"), and Java 17 reads the C locale's
# charset as ASCII. Pinned on the driver and the executors, so no answer depends on the machine's.
JVM_LOCALE_OPTIONS = "-Duser.language=en -Duser.country=US -Dfile.encoding=UTF-8"


# A driver JVM maps the classes an earlier run loaded (a dynamic AppCDS archive) instead of
# loading and verifying ~15,000 classes from the jars: measured, Spark start-up plus one Delta
# write and read went from 11.2 s to 6.9 s. `make setup` builds it (common/class_archive.py).
CLASS_ARCHIVE_DIR = Path.home() / ".cache" / "dataplatform" / "cds"
# A missing, stale or foreign archive only disables sharing: the JVM says nothing and goes on.
CLASS_ARCHIVE_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def class_archive(settings: Settings | None = None) -> Path:
    """Where this checkout's archive lives: its name carries the JDK, pyspark and each jar's path,
    size and mtime (what the JVM checks before using it), so new jars never meet an old archive."""
    import pyspark

    digest = hashlib.sha256(f"{os.environ.get('JAVA_HOME', '')}\0{pyspark.__version__}\n".encode())
    for jar in local_jars(settings):
        stat = os.stat(jar)
        digest.update(f"{jar}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return CLASS_ARCHIVE_DIR / f"spark-{digest.hexdigest()[:16]}.jsa"


def class_archive_options(settings: Settings, dump_to: Path | None = None) -> str:
    """The driver's JVM options for the archive: use it when built, or write it at exit (setup)."""
    if dump_to is not None:
        return f" -XX:ArchiveClassesAtExit={dump_to} {CLASS_ARCHIVE_QUIET}"
    archive = class_archive(settings)
    return f" -XX:SharedArchiveFile={archive} {CLASS_ARCHIVE_QUIET}" if archive.is_file() else ""


def jars_dir(settings: Settings | None = None) -> Path:
    """SPARK_JARS_DIR, else the project's jars/."""
    chosen = (settings or Settings()).spark_jars_dir
    return Path(chosen) if chosen else PROJECT_ROOT / "jars"


def local_jars(settings: Settings | None = None) -> list[str]:
    """The jar files to put on `spark.jars`; fails with a clear line when setup was not run."""
    folder = jars_dir(settings)
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    missing = [prefix for prefix in REQUIRED_JARS if not any(Path(j).name.startswith(prefix) for j in jars)]
    if missing:
        raise ConfigError("SPARK_JARS_DIR", f"{folder} lacks {', '.join(missing)}*.jar (run `make setup`)")
    return jars


def under_spark_submit() -> bool:
    """spark-submit (and the operator) starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def s3a_conf(settings: Settings) -> dict[str, str]:
    """S3A settings for MinIO/S3: path-style, region for SDK v2, simple credentials."""
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": settings.aws_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.timeout": "20000",
        # A store that stopped answering fails a run within a minute (docs/contract.md, section 1):
        # 1 S3A retry (0.5 s on), each try of at most 3 SDK attempts: Delta's own retries of its
        # log reads multiply these, and a write that met a dead store took 62 s with 3 S3A retries.
        "spark.hadoop.fs.s3a.attempts.maximum": "3",
        "spark.hadoop.fs.s3a.retry.limit": "1",
        "spark.hadoop.fs.s3a.retry.interval": "500ms",
    }
    if settings.s3_endpoint_url:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            settings.s3_endpoint_url.startswith("https://")
        ).lower()
    if settings.aws_access_key_id and settings.aws_secret_access_key is not None:
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
        conf["spark.hadoop.fs.s3a.access.key"] = settings.aws_access_key_id
        conf["spark.hadoop.fs.s3a.secret.key"] = settings.aws_secret_access_key.get_secret_value()
    return conf


# A job whose JVM works for seconds ends before the C2 compiler's optimised code pays back the
# CPU it compiles with (on 2 cores its threads take the tasks' core): such a job asks for C1 only
# (measured on the data.gouv.fr benchmark: 21.8 s against 26.0 s for the whole job).
SHORT_JOB_JIT_OPTIONS = "-XX:TieredStopAtLevel=1"


def build_conf(
    settings: Settings,
    app_name: str,
    *,
    short_job: bool = False,
    java_options: str = "",
    dump_class_archive: Path | None = None,
) -> dict[str, str]:
    """Every Spark setting the factory applies, as a plain dict (testable without a JVM).

    `short_job`: the local JVM compiles with C1 only (SHORT_JOB_JIT_OPTIONS) and shuffles into
    one partition per core.
    `java_options`: more options of the local driver JVM, a job's own measured tuning.
    `dump_class_archive`: the driver JVM writes its class archive there at exit (setup only)."""
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        # Partition overwrite by replaceWhere only; never drop a whole table by accident.
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Tables the API reads with delta-rs stay on features it supports.
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        "spark.executor.extraJavaOptions": JVM_LOCALE_OPTIONS,
        **s3a_conf(settings),
    }
    master = settings.spark_master or "local[*]"
    if not standalone(master) or under_spark_submit():
        # Python workers import the project's modules (jobs.*, common.*) by name, also when the
        # driver was started by spark-submit from a file path. A standalone cluster's executors
        # get them in the shipped zip instead (get_spark), not from the driver's disk.
        conf["spark.executorEnv.PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
    if not under_spark_submit():
        conf.update(_local_driver_conf(settings, master, short_job, java_options, dump_class_archive))
    return conf


def _local_driver_conf(
    settings: Settings, master: str, short_job: bool, java_options: str, dump_class_archive: Path | None
) -> dict[str, str]:
    """What spark-submit (the operator) would otherwise set: the master, the driver JVM, the jars."""
    cores = os.cpu_count() or 2
    conf = {
        "spark.master": master,
        # On the JVM's launch classpath rather than spark.jars: in local mode the driver is
        # the executor, and spark.jars would copy the 700 MB AWS bundle at every start.
        "spark.driver.extraClassPath": os.pathsep.join(local_jars(settings)),
        "spark.driver.memory": settings.spark_driver_memory,
        # A short job's shuffles carry thousands of rows: one task per core, not two.
        "spark.sql.shuffle.partitions": str(max(2, cores) if short_job else max(4, cores * 2)),
        "spark.ui.enabled": str(settings.spark_ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": (
            f"-Dlog4j2.configurationFile=file:{LOG4J2_CONF} {JVM_LOCALE_OPTIONS}"
            + (f" {SHORT_JOB_JIT_OPTIONS}" if short_job else "")
            + (f" {java_options}" if java_options else "")
            + class_archive_options(settings, dump_class_archive)
        ),
    }
    if standalone(master):
        conf.update(standalone_conf(settings, master))
    else:
        # Delta rebuilds a table's state from its log in this many tasks at every read and
        # write (default 50): on one machine's cores that is 50 tasks for a few files each.
        conf["spark.databricks.delta.snapshotPartitions"] = str(max(2, cores))
    return conf


def standalone(master: str) -> bool:
    return master.startswith("spark://")


def tasks_on_driver(settings: Settings) -> bool:
    """Whether Spark's tasks run in this process's JVM (local mode, not under spark-submit): they
    then read files on this machine's disk, which executors elsewhere could not."""
    return not under_spark_submit() and (settings.spark_master or "local[*]").startswith("local")


def master_address(master: str) -> tuple[str, int]:
    """host and port of `spark://host:port` (the first master of a comma-separated list)."""
    first = master.removeprefix("spark://").split(",", 1)[0]
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError("SPARK_MASTER", f"'{master}' is not spark://host:port")
    return host, int(port)


def driver_host(master: str) -> str:
    """The local address the route to the master leaves from: the one executors can call back.

    (A UDP connect sends nothing; it only picks the route.)
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(master_address(master))
        except OSError as exc:
            raise ConfigError("SPARK_MASTER", f"no route to {master}: {exc}") from None
        return str(probe.getsockname()[0])


def standalone_conf(settings: Settings, master: str) -> dict[str, str]:
    """Executors in other JVMs, maybe on other machines: ship the jars, bind where they can call."""
    host = driver_host(master)
    return {
        # The driver serves these to each executor, which loads them into its task class loader
        # (the image has them in $SPARK_HOME/jars instead). The driver keeps them on its launch
        # class path as well (above), where Delta's SQL extension must be at session start.
        "spark.jars": ",".join(local_jars(settings)),
        "spark.driver.host": host,
        "spark.driver.bindAddress": host,
    }


def project_zip(dest: Path) -> Path:
    """A zip of the project's packages (common/, jobs/) for executors that lack the checkout."""
    target = dest / "dataplatform.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in PROJECT_PACKAGES:
            for path in sorted((PROJECT_ROOT / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    archive.write(path, path.relative_to(PROJECT_ROOT).as_posix())
    return target


def check_master(master: str, timeout: float = 5.0) -> None:
    """Fail at once with the address when nothing answers there (Spark itself retries for 60 s)."""
    host, port = master_address(master)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError("SPARK_MASTER", f"no Spark master answers at {host}:{port} ({reason})") from None


def ship_project(spark: SparkSession) -> None:
    """Give a standalone cluster's executors the project's code, as the image's /opt/app does."""
    folder = Path(tempfile.mkdtemp(prefix="dataplatform-pyfiles-"))
    atexit.register(shutil.rmtree, folder, True)
    spark.sparkContext.addPyFile(str(project_zip(folder)))


def executor_count(spark: SparkSession) -> int:
    """Executors the scheduler can run tasks on. Its own registry, not the block managers': a
    block manager can outlive an executor killed while it registered, and asking for them is an
    RPC that waits on the endpoint busy with the loss."""
    return int(spark.sparkContext._jsc.sc().getExecutorIds().size())


def wait_for_executors(spark: SparkSession, master: str, timeout: float) -> None:
    """A master without free workers leaves every stage waiting for ever; say so instead."""
    deadline = time.monotonic() + timeout
    while executor_count(spark) < 1:
        if time.monotonic() > deadline:
            spark.stop()
            raise ConfigError(
                "SPARK_MASTER", f"no executor registered within {timeout:.0f} s: {master} has no free worker"
            )
        time.sleep(0.2)


class ExecutorWatch:
    """Calls `stop` once when `count` (of executors) has been 0 for `timeout` seconds.

    When every worker dies mid-run, Spark waits for a new executor with no deadline: the run
    would hang with its stages pending. Stopping the session fails the job in progress (no Delta
    commit is made, what the crawl landed stays landed); see `watch_executors`. `reason` is
    then the one line of why: the root cause to report whatever error the job's stage raised.
    """

    MAX_FAILURES = 30  # consecutive failed counts before giving up (the gateway is gone)

    def __init__(
        self, count: Callable[[], int], stop: Callable[[], None], timeout: float, interval: float = 1.0
    ) -> None:
        self._count = count
        self._stop = stop
        self.timeout = timeout
        self.interval = interval
        self.reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="executor-watch", daemon=True)

    def start(self) -> ExecutorWatch:
        self._thread.start()
        return self

    def close(self) -> None:
        self._done.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _watch(self) -> None:
        none_since: float | None = None
        failures = 0
        while not self._done.wait(self.interval):
            try:
                count = self._count()
                failures = 0
            except AttributeError:  # the session was stopped by its job: nothing to watch
                return
            except Exception:  # noqa: BLE001 - a gateway call failed: count again, a few times
                failures += 1
                if failures >= self.MAX_FAILURES:
                    log.warning("executor watch: no executor count in %d tries; not watching", failures)
                    return
                continue
            if count > 0:
                none_since = None
                continue
            now = time.monotonic()
            none_since = now if none_since is None else none_since
            if now - none_since >= self.timeout:
                self._stop()
                return


def watch_executors(spark: SparkSession, master: str, timeout: float) -> ExecutorWatch:
    """Start an ExecutorWatch that stops the session when its executors are gone for `timeout`."""
    reason = (
        f"every Spark executor was lost and none came back within {timeout:.0f} s "
        f"({master} has no live worker): the run stopped; rerun it once workers are back"
    )

    def stop() -> None:
        watch.reason = reason
        log.error("%s", reason)
        spark.sparkContext.cancelAllJobs()
        spark.stop()

    watch = ExecutorWatch(lambda: executor_count(spark), stop, timeout)
    return watch.start()


# Settings that carry credentials: never on a command line (see launch_jvm_without_secrets).
SECRET_CONF_KEYS = frozenset(
    {"spark.hadoop.fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key", "spark.hadoop.fs.s3a.session.token"}
)


def launch_jvm_without_secrets(conf: dict[str, str]) -> None:
    """pyspark starts its JVM with spark-submit and every setting as a `--conf` flag, which any
    user of the machine reads in the process list: start it with the settings that are not
    secret, so the credentials reach the running JVM through the gateway only."""
    from pyspark import SparkConf, SparkContext

    if SparkContext._gateway is None:
        public = [(k, v) for k, v in conf.items() if k not in SECRET_CONF_KEYS]
        SparkContext._ensure_initialized(conf=SparkConf(loadDefaults=False).setAll(public))


def warm_lake_filesystem(spark: SparkSession, settings: Settings) -> None:
    """Open the lake's filesystem in the JVM now: S3A's first use loads and builds its SDK client
    (about a second), which a job would otherwise pay on its first read of the lake, after the
    start-up it can overlap with its downloads. Best effort: a store that does not answer is
    the first read's to report."""
    from common.storage import lake_path

    root = lake_path(settings)
    if not root.startswith("s3a://"):
        return
    jvm: Any = spark.sparkContext._jvm
    try:
        path = jvm.org.apache.hadoop.fs.Path(root + "/")
        path.getFileSystem(spark._jsc.hadoopConfiguration()).exists(path)
    except Exception as exc:  # noqa: BLE001 - the job's own reads report a failing store
        log.debug("lake filesystem warm-up failed: %s", exc)


class SessionOptions(TypedDict, total=False):
    """A job's own session settings (see `build_conf`)."""

    short_job: bool
    java_options: str
    dump_class_archive: Path | None


def start_session(
    settings: Settings, app_name: str, *, commit_tag: str | None = None, **options: Unpack[SessionOptions]
) -> tuple[SparkSession, ExecutorWatch | None]:
    """Create (or reuse) a SparkSession with Delta and S3A configured (`options`: see
    `build_conf`), and on a standalone cluster the watch that stops it when every executor is
    lost. With `commit_tag` (a run id), the session's Delta commits carry it as `userMetadata`:
    the ledger and the API find a run's commits by it."""
    from pyspark.sql import SparkSession

    master = settings.spark_master or "local[*]"
    if not under_spark_submit():
        if standalone(master):
            check_master(master)
        # A laptop's hostname often resolves to loopback: say so instead of warning about it.
        # On a cluster, the driver listens where the executors can reach it.
        os.environ.setdefault("SPARK_LOCAL_IP", driver_host(master) if standalone(master) else "127.0.0.1")
        # Python workers run the driver's interpreter (the project's virtualenv), not whatever
        # `python3` is first on PATH and may lack our dependencies (pyspark reads only this).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = build_conf(settings, app_name, **options)
    launch_jvm_without_secrets(conf)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    running_on = spark.sparkContext.master or ""
    watch = None
    if standalone(running_on):
        ship_project(spark)
        wait_for_executors(spark, running_on, settings.spark_executor_wait_seconds)
        watch = watch_executors(spark, running_on, settings.spark_executor_wait_seconds)
    log.info("spark %s master=%s", spark.version, spark.sparkContext.master)
    warm_lake_filesystem(spark, settings)
    if commit_tag is not None:
        spark.conf.set(COMMIT_TAG_CONF, commit_tag)
    return spark, watch


def get_spark(settings: Settings, app_name: str, **options: Unpack[SessionOptions]) -> SparkSession:
    """A session outside a job run (tests, benchmarks, setup): see `start_session`."""
    return start_session(settings, app_name, **options)[0]


class LazySpark:
    """A run's session, started on first use: a run that finds nothing to do (every source
    unchanged) never pays Spark's start-up. `started` says whether it ran.

    A job that knows early that it will need Spark calls `start()`: the JVM then starts in a
    thread while the job does its own I/O, and `get()` waits only for what is left of it.
    """

    def __init__(
        self,
        settings: Settings,
        app_name: str,
        *,
        commit_tag: str | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        self.settings, self.app_name, self.commit_tag, self.options = settings, app_name, commit_tag, options
        self._session: SparkSession | None = None
        self._starting: Future[SparkSession] | None = None
        self._watch: ExecutorWatch | None = None
        self._lock = threading.Lock()
        # How long the start-up took (set once the session is up), whether or not it overlapped.
        self.startup_seconds: float | None = None

    @property
    def started(self) -> bool:
        return self._session is not None or self._starting is not None

    @property
    def ready(self) -> bool:
        """Whether `get()` returns at once (the session is up)."""
        return self._session is not None

    @property
    def stopped_reason(self) -> str | None:
        """Why the executor watch stopped the session (None when it did not)."""
        return self._watch.reason if self._watch is not None else None

    def _start(self) -> SparkSession:
        began = time.monotonic()
        session, self._watch = start_session(
            self.settings, self.app_name, commit_tag=self.commit_tag, **self.options
        )
        self.startup_seconds = time.monotonic() - began
        return session

    def start(self) -> None:
        """Begin the start-up in a background thread (no-op when started); errors surface in `get()`."""
        with self._lock:
            if self._session is None and self._starting is None:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start")
                self._starting = pool.submit(self._start)
                pool.shutdown(wait=False)

    def get(self) -> SparkSession:
        with self._lock:
            if self._session is None:
                self._session = self._starting.result() if self._starting is not None else self._start()
            return self._session

    def end(self) -> None:
        """Stop Spark and let its JVM exit now, beside what the run still does (the ledger, this
        process's exit) rather than after it: with its stdin closed the JVM stops Spark in its
        shutdown hook and exits. The last use of Spark in this process. Waits for a start-up still
        going; a JVM that spark-submit started (the parent of this process) is only stopped."""
        from pyspark import SparkContext

        session = self.get()
        proc = getattr(SparkContext._gateway, "proc", None)
        if proc is None or proc.stdin is None:
            session.stop()
            return
        proc.stdin.close()

    def close(self) -> None:
        """End the run's hold on the session: no watch, no run id on later commits (a process
        that runs jobs one after another reuses the session)."""
        if self._watch is not None:
            self._watch.close()
        if self._session is not None and self.commit_tag is not None:
            with contextlib.suppress(Exception):  # a session the watch stopped has no conf
                self._session.conf.unset(COMMIT_TAG_CONF)
