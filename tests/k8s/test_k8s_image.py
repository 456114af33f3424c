"""Structural checks of the Dockerfile (no Docker engine here): stages, users, layer order, COPY sources."""

from __future__ import annotations

import glob
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from common.spark import REQUIRED_JARS
from tests.k8s.k8s_support import (
    REPO,
    Stage,
    dockerignore_patterns,
    dockerignored,
    image_path_to_repo,
    parse_dockerfile,
    stage,
)

pytestmark = pytest.mark.k8s

SPARK_BASE = "apache/spark:4.2.0-scala2.13-java17-python3-ubuntu"


def _index(build_stage: Stage, predicate: str) -> int:
    for i, instruction in enumerate(build_stage.instructions):
        if re.search(predicate, instruction.raw):
            return i
    raise AssertionError(f"no instruction matching {predicate!r} in stage {build_stage.name}")


def test_two_images_from_the_pinned_bases() -> None:
    _, stages = parse_dockerfile()
    spark, api = stage(stages, "spark"), stage(stages, "api")
    assert spark.base == SPARK_BASE
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", api.base), api.base
    assert stages[-1].name == "api" or stages[-1].name == "spark"


def test_images_run_as_non_root() -> None:
    _, stages = parse_dockerfile()
    spark_user = stage(stages, "spark").last("USER")
    api_user = stage(stages, "api").last("USER")
    assert spark_user is not None and spark_user.args[0].strip() == "185:185"
    assert api_user is not None
    uid = api_user.args[0].split(":")[0].strip()
    assert uid.isdigit() and int(uid) >= 1000
    # USER comes after every COPY/RUN that needs root.
    for build_stage in (stage(stages, "spark"), stage(stages, "api")):
        last_user = max(i for i, ins in enumerate(build_stage.instructions) if ins.keyword == "USER")
        assert not [ins for ins in build_stage.instructions[last_user:] if ins.keyword in ("RUN", "ADD")]


def test_dependencies_are_installed_before_the_source() -> None:
    _, stages = parse_dockerfile()
    for name, install in (("spark", r"uv pip install"), ("api", r"pip install")):
        build_stage = stage(stages, name)
        assert _index(build_stage, install) < _index(build_stage, r"COPY common/"), name
    spark = stage(stages, "spark")
    assert _index(spark, r"COPY jars/") < _index(spark, r"COPY common/")


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    _, stages = parse_dockerfile()
    stage_names = {s.name for s in stages}
    patterns = dockerignore_patterns()
    checked = 0
    for build_stage in stages:
        for copy_ in build_stage.copies():
            if "from" in copy_.flags:
                assert copy_.flags["from"] in stage_names | {"uv"}, copy_.raw
                continue
            for source in copy_.args[:-1]:
                matches = glob.glob(str(REPO / source.rstrip("/")))
                assert matches, f"{copy_.raw}: {source} does not exist (jars/ is filled by `make setup`)"
                assert not dockerignored(source, patterns), f"{source} is excluded by .dockerignore"
                checked += 1
    assert checked >= 6


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".venv/bin/python",
        "lake/x",
        ".git/HEAD",
        "api/web/node_modules/chart.js/x.js",
        ".services/m",
        "tests/k8s/x.py",
        "common/__pycache__/x.pyc",
        "prod.env",
    ):
        assert dockerignored(path, patterns), path
    for path in (
        "common/spark.py",
        "jobs/github_contributors/__main__.py",
        "api/static/vendor/chart.umd.min.js",
        "jars/hadoop-aws-3.5.0.jar",
        "pyproject.toml",
        "constraints.txt",
    ):
        assert not dockerignored(path, patterns), path


def test_the_baked_jars_are_the_local_ones() -> None:
    """The image bakes jars/ (fetch_jars.sh and build_jvm.sh): the jars get_spark requires are there."""
    names = [p.name for p in (REPO / "jars").glob("*.jar")]
    for prefix in REQUIRED_JARS:
        assert any(n.startswith(prefix) for n in names), f"jars/ lacks {prefix}*.jar: run `make setup`"
    assert f"for prefix in {' '.join(REQUIRED_JARS)};" in (REPO / "Dockerfile").read_text()  # its own check
    _, stages = parse_dockerfile()
    (copy_,) = [c for c in stage(stages, "spark").copies() if c.args[0].startswith("jars/")]
    assert copy_.args[-1].rstrip("/") == "/opt/spark/jars"  # on the JVM classpath from start


def test_job_and_common_sources_are_in_the_spark_image() -> None:
    _, stages = parse_dockerfile()
    spark = stage(stages, "spark")
    for path in ("/opt/app/common/spark.py", "/opt/app/jobs/__init__.py"):
        mapped = image_path_to_repo(path, spark)
        assert mapped is not None and mapped.is_file(), path
    env = " ".join(i.args[0] for i in spark.instructions if i.keyword == "ENV")
    assert "PYTHONPATH=/opt/app" in env and "PYSPARK_PYTHON=/opt/venv/bin/python" in env
    api = stage(stages, "api")
    assert image_path_to_repo("/opt/app/api/__main__.py", api) is not None
    assert image_path_to_repo("/opt/app/jobs/__init__.py", api) is None  # no job code in the API


def _requirement_snippet() -> str:
    _, stages = parse_dockerfile()
    (run,) = [i for i in stage(stages, "requirements").instructions if i.keyword == "RUN"]
    match = re.search(r'python -c "(.*?)"\s*&&', run.args[0])
    assert match, run.raw
    return match.group(1)


def test_requirement_split(tmp_path: Path) -> None:
    """Spark image: all but pyspark (delta-spark with --no-deps); API image: nothing of the JVM side."""
    for name in ("pyproject.toml",):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-c", _requirement_snippet()], cwd=tmp_path, check=True)

    def names(file: str) -> set[str]:
        lines = (tmp_path / file).read_text().split()
        return {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-") for line in lines}

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    project = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    spark, nodeps, api = (
        names("requirements-spark.txt"),
        names("requirements-spark-nodeps.txt"),
        names("requirements-api.txt"),
    )
    assert "pyspark" not in spark | nodeps | api
    assert nodeps == {"delta-spark"}
    assert spark | nodeps | {"pyspark"} >= project
    assert api == project - {"pyspark", "delta-spark"}


def test_both_images_run_the_python_the_project_targets() -> None:
    """The Spark base image's own python3 is Ubuntu 22.04's 3.10: the Spark stage must bring 3.11."""
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.search(r">=\s*3\.(\d+)", requires)
    assert minor, requires
    wanted = f"3.{minor.group(1)}"
    _, stages = parse_dockerfile()
    spark_runs = " ".join(i.args[0] for i in stage(stages, "spark").instructions if i.keyword == "RUN")
    assert f"uv python install {wanted}" in spark_runs and f"uv venv --python {wanted}" in spark_runs
    assert stage(stages, "api").base.startswith(f"python:{wanted}-")
