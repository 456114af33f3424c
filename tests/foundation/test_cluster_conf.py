"""The factory's cluster settings and the one-line root cause, without a JVM."""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import pytest

from common import spark as spark_factory
from common.errors import ConfigError, one_line
from common.settings import load_settings
from common.spark import REQUIRED_JARS, build_conf, check_master, class_archive, master_address, project_zip

pytestmark = pytest.mark.unit


def test_local_mode_keeps_jars_on_the_launch_class_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    conf = build_conf(load_settings(lake_root="/tmp/lake"), "app")
    assert conf["spark.master"] == "local[*]"
    # Copying the 700 MB of jars to an executor that is the driver itself would only cost time.
    assert "spark.jars" not in conf
    assert all(p in conf["spark.driver.extraClassPath"] for p in REQUIRED_JARS)
    assert conf["spark.executorEnv.PYTHONPATH"].split(":")[0] == str(Path(__file__).resolve().parents[2])


def test_a_short_job_compiles_with_c1_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    settings = load_settings(lake_root="/tmp/lake")
    short = build_conf(settings, "app", short_job=True)["spark.driver.extraJavaOptions"].split()
    default = build_conf(settings, "app")["spark.driver.extraJavaOptions"].split()
    assert "-XX:TieredStopAtLevel=1" in short
    assert "-XX:TieredStopAtLevel=1" not in default
    assert set(default) < set(short)  # the locale and log settings stay


def test_a_job_adds_its_own_driver_java_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    settings = load_settings(lake_root="/tmp/lake")
    conf = build_conf(settings, "app", java_options="-XX:+UseParallelGC")
    default = build_conf(settings, "app")["spark.driver.extraJavaOptions"].split()
    assert set(conf["spark.driver.extraJavaOptions"].split()) == {*default, "-XX:+UseParallelGC"}
    assert "-XX:+UseParallelGC" not in default
    assert "-XX:+UseParallelGC" not in conf["spark.executor.extraJavaOptions"]


def test_a_short_job_shuffles_into_one_partition_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.setattr(spark_factory.os, "cpu_count", lambda: 8)
    settings = load_settings(lake_root="/tmp/lake")
    assert build_conf(settings, "app", short_job=True)["spark.sql.shuffle.partitions"] == "8"
    assert build_conf(settings, "app")["spark.sql.shuffle.partitions"] == "16"


def test_the_driver_maps_the_class_archive_setup_built_for_these_jars(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.setattr(spark_factory, "CLASS_ARCHIVE_DIR", tmp_path / "cds")
    jars = tmp_path / "jars"
    jars.mkdir()
    for prefix in REQUIRED_JARS:
        (jars / f"{prefix}1.0.jar").write_bytes(b"jar")
    settings = load_settings(lake_root="/tmp/lake", spark_jars_dir=str(jars))

    def options() -> str:
        return build_conf(settings, "app")["spark.driver.extraJavaOptions"]

    assert "SharedArchiveFile" not in options()  # not built yet: plain class loading
    archive = class_archive(settings)
    archive.parent.mkdir()
    archive.write_bytes(b"archive")
    assert f"-XX:SharedArchiveFile={archive}" in options().split()
    assert "-Xlog:cds=off" in options().split()  # a stale one is dropped without a word
    # Setup's own run writes it at exit instead of reading one.
    dumping = build_conf(settings, "app", dump_class_archive=tmp_path / "new.jsa")
    dumping = dumping["spark.driver.extraJavaOptions"]
    assert f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}" in dumping.split()
    assert "SharedArchiveFile" not in dumping
    # A rebuilt jar means another archive name: the JVM would refuse the old one anyway.
    (jars / "dataplatform-pageviews1.0.jar").write_bytes(b"rebuilt jar")
    assert class_archive(settings) != archive
    assert "SharedArchiveFile" not in options()


def test_standalone_master_ships_every_jar_and_binds_where_executors_can_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    conf = build_conf(load_settings(lake_root="s3a://lake/p", spark_master="spark://127.0.0.1:7077"), "app")
    assert conf["spark.master"] == "spark://127.0.0.1:7077"
    shipped = conf["spark.jars"].split(",")
    assert all(any(Path(j).name.startswith(p) for j in shipped) for p in REQUIRED_JARS)
    assert all(Path(j).is_file() for j in shipped)
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    # Executors get the code in the shipped zip, not from a folder of the driver's disk.
    assert "spark.executorEnv.PYTHONPATH" not in conf


def test_project_zip_holds_the_packages_executors_import(tmp_path: Path) -> None:
    with zipfile.ZipFile(project_zip(tmp_path)) as archive:
        names = set(archive.namelist())
    assert {"common/__init__.py", "common/spark.py", "jobs/__init__.py"} <= names
    assert "jobs/github_contributors/crawl.py" in names
    assert "jobs/wikimedia_pageviews/transform.py" in names
    assert not any(n.startswith(("tests/", "emulators/", "api/")) or ".pyc" in n for n in names)


def test_master_url_and_an_unreachable_master_are_one_line() -> None:
    assert master_address("spark://10.0.0.1:7077,10.0.0.2:7077") == ("10.0.0.1", 7077)
    with pytest.raises(ConfigError, match=r"^SPARK_MASTER: 'spark://nohost' is not spark://host:port$"):
        master_address("spark://nohost")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError) as caught:
        check_master(f"spark://127.0.0.1:{port}")
    expected = f"SPARK_MASTER: no Spark master answers at 127.0.0.1:{port} (Connection refused)"
    assert str(caught.value) == expected


LAMBDA = "cannot assign instance of java.lang.invoke.SerializedLambda to field x.y of type scala.Function0"
LOAD = "a class the executors cannot load (their jars lack it): "
PY4J_CALL = "An error occurred while calling o101.save."
PY4J_S3A = """An error occurred while calling o134.save.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 failed 4 times, \
most recent failure: Lost task 0.3 in stage 3.0 (TID 12) (10.231.0.11 executor 1): \
java.lang.RuntimeException: java.lang.ClassNotFoundException: \
Class org.apache.hadoop.fs.s3a.S3AFileSystem not found
\tat org.apache.hadoop.conf.Configuration.getClass(Configuration.java:2737)
Caused by: java.lang.ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found
\tat org.apache.hadoop.conf.Configuration.getClassByName(Configuration.java:2641)
Driver stacktrace:
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2898)
Caused by: java.lang.RuntimeException: java.lang.ClassNotFoundException: Class \
org.apache.hadoop.fs.s3a.S3AFileSystem not found
\tat org.apache.hadoop.conf.Configuration.getClass(Configuration.java:2737)
Caused by: java.lang.ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found
\tat org.apache.hadoop.conf.Configuration.getClassByName(Configuration.java:2641)
\t... 3 more
"""

PY4J_IMPORT = """An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.
: org.apache.spark.SparkException: Job aborted due to stage failure: Lost task 0.3 (TID 7) \
(10.231.0.12 executor 0): org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/x/pyspark/worker.py", line 3040, in main
    func, profiler, deserializer, serializer = read_command(pickleSer, infile)
ModuleNotFoundError: No module named 'tests'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:624)
Driver stacktrace:
Caused by: org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/x/pyspark/worker.py", line 3040, in main
    func, profiler, deserializer, serializer = read_command(pickleSer, infile)
  File "/x/pyspark/serializers.py", line 193, in _read_with_length
    return self.loads(obj)
ModuleNotFoundError: No module named 'tests'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:624)
"""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (PY4J_S3A, "ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found"),
        (PY4J_IMPORT, "ModuleNotFoundError: No module named 'tests'"),
        (f"{PY4J_CALL}\n: org.apache.hadoop.fs.s3a.AWSBadRequestException: x", "AWSBadRequestException: x"),
        ("plain message\nsecond line", "plain message"),
        (
            f"{PY4J_CALL}\nCaused by: java.lang.ClassCastException: {LAMBDA}",
            f"{LOAD}ClassCastException: {LAMBDA}",
        ),
        ("", "RuntimeError"),
    ],
)
def test_one_line_names_the_root_cause(text: str, line: str) -> None:
    assert one_line(RuntimeError(text)) == line


def test_one_line_names_a_dead_jvm() -> None:
    """A Py4J error whose JVM died has no text (asking for it fails): the line says what happened."""
    from py4j.protocol import Py4JNetworkError

    assert one_line(Py4JNetworkError("")).startswith("the Spark JVM died during the run")
    assert one_line(RuntimeError("")) == "RuntimeError"


def test_one_line_names_a_dead_jvm_behind_a_refused_connection() -> None:
    """After the JVM died (a task's OutOfMemoryError ends it), the next Py4J call finds nothing
    listening: that refused connection, or one raised while handling it, is the same line, not
    `ConnectionRefusedError: [Errno 111] Connection refused`."""
    from py4j.java_gateway import GatewayParameters, JavaGateway
    from py4j.protocol import Py4JNetworkError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = JavaGateway(gateway_parameters=GatewayParameters(port=port))
    with pytest.raises(Py4JNetworkError) as refused:
        gateway.jvm.java.lang.System.currentTimeMillis()
    assert one_line(refused.value).startswith("the Spark JVM died during the run")
    try:
        try:
            raise refused.value
        except Py4JNetworkError:
            raise ValueError("cleaning up after it") from None
    except ValueError as later:
        assert one_line(later) == "cleaning up after it"  # `from None`: not its cause
    try:
        try:
            raise refused.value
        except Py4JNetworkError:
            raise ConnectionResetError(104, "Connection reset by peer")  # noqa: B904 - its context
    except ConnectionResetError as later:
        assert one_line(later).startswith("the Spark JVM died during the run")
    assert one_line(ConnectionRefusedError(111, "Connection refused")) == "[Errno 111] Connection refused"


def test_one_line_reads_the_trace_pyspark_keeps_beside_its_message() -> None:
    exc = RuntimeError("[TASK_WRITE_FAILED] Task failed while writing rows to s3a://lake/t.")
    exc._stackTrace = PY4J_S3A.split("\n", 1)[1]  # type: ignore[attr-defined]
    assert one_line(exc) == "ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found"
    assert one_line(RuntimeError("x" * 1000)) == "x" * 300
