"""Bad input on a cluster: one `error:` line naming the cause, a non-zero exit, nothing published."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.cluster.support import ROOT, Cluster, error_lines, run_job, tail

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_master_is_one_line_before_any_work(tmp_path: Path) -> None:
    from emulators import wikimedia
    from emulators.wikimedia_data import generate_tree

    generate_tree(tmp_path / "dumps", date(2026, 3, 2), 1)
    server = wikimedia.start(tmp_path / "dumps")
    port = _closed_port()
    log = tmp_path / "job.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "SPARK_MASTER": f"spark://127.0.0.1:{port}",
        "LAKE_ROOT": str(tmp_path / "lake"),
        "WIKIMEDIA_DUMPS_URL": server.url,
    }
    try:
        code = run_job(
            "wikimedia_pageviews", env, ["--start-date", "2026-03-02", "--days", "1"], log, timeout=120
        )
    finally:
        server.stop()
    assert code == 1, tail(log)
    expected = f"SPARK_MASTER: no Spark master answers at 127.0.0.1:{port} (Connection refused)"
    assert error_lines(log, "wikimedia_pageviews") == [f"wikimedia_pageviews: error: {expected}"]
    assert not list((tmp_path / "lake").glob("wikimedia/*/_delta_log"))


def test_missing_jar_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "jars").mkdir()
    probe = "from common.spark import local_jars; local_jars()"
    program = (
        f"from common.cli import run_entry; import sys; sys.exit(run_entry('probe', lambda: exec({probe!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SPARK_JARS_DIR": str(tmp_path / "jars")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"probe: error: SPARK_JARS_DIR: {tmp_path / 'jars'} lacks delta-spark_, delta-storage-, hadoop-aws-, "
        "bundle-, jlibdeflate-, dataplatform-pageviews*.jar (run `make setup`)"
    ]


# A driver whose function refers to a module that lives only on its own disk (tests/ is not
# shipped): the executors cannot import it, as they could not import the project unshipped.
DRIVER_ONLY = """
import sys
from common.cli import run_entry
from common.settings import load_settings
from common.spark import get_spark
from tests.cluster.support import Cluster


def main() -> int:
    spark = get_spark(load_settings(), "driver-only-module")
    spark.sparkContext.parallelize([1, 2], 2).map(lambda n: Cluster.__name__ * n).collect()
    return 0


sys.exit(run_entry("probe", main))
"""


def test_executor_that_cannot_import_a_module_names_it(cluster: Cluster, tmp_path: Path) -> None:
    env = cluster.env("s3a://lake-tests/unused", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER_ONLY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("probe: error:")]
    expected = "probe: error: PythonException: ModuleNotFoundError: No module named 'tests'"
    assert lines == [expected], proc.stderr[-3000:]
