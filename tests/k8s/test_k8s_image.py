"""Structural checks of the Dockerfile and its build script (no engine needed): stages and their
bases, users, layer order, COPY sources, Spark's layout, the entrypoint. The images themselves
are built by `make images` and run by tests/k8s/test_k8s_image_run.py."""

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

PUBLIC_BASE = r"python:3\.11-slim-bookworm"
IMAGES_SH = REPO / "scripts" / "images.sh"
ENTRYPOINT = REPO / "images" / "entrypoint.sh"
# Named build contexts scripts/images.sh passes (the Go-built binaries), not stages.
NAMED_CONTEXTS = {"bins"}


def _index(build_stage: Stage, predicate: str) -> int:
    for i, instruction in enumerate(build_stage.instructions):
        if re.search(predicate, instruction.raw):
            return i
    raise AssertionError(f"no instruction matching {predicate!r} in stage {build_stage.name}")


def _raw_from_lines() -> dict[str, str]:
    """Each stage's FROM argument as written (before the ARG is expanded)."""
    found = {}
    for line in (REPO / "Dockerfile").read_text().splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def _images_sh_value(name: str) -> str:
    match = re.search(rf"^{name}=(.*)$", IMAGES_SH.read_text(), re.MULTILINE)
    assert match, f"scripts/images.sh sets no {name}"
    return match.group(1)


def test_the_base_is_a_build_argument_defaulting_to_the_public_image() -> None:
    args, stages = parse_dockerfile()
    assert re.fullmatch(PUBLIC_BASE, args["PYTHON_IMAGE"]), args["PYTHON_IMAGE"]
    raw = _raw_from_lines()
    for name in ("requirements", "spark", "api", "minio", "ferretdb"):
        assert raw[name] == "${PYTHON_IMAGE}", f"stage {name} is FROM {raw[name]}"
    assert raw["operator"] == "spark"  # the operator submits with the image's own spark-submit
    assert raw["pause"] == "scratch"
    targets = {"requirements", "spark", "api", "operator", "minio", "ferretdb", "pause"}
    assert {s.name for s in stages} == targets


def test_the_offline_base_is_the_same_debian_and_python() -> None:
    """scripts/images.sh makes the offline base from the Debian release the public image is built on,
    whose own python3 is the version the project targets (bookworm: 3.11), as `python`, with venv."""
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.search(r">=\s*3\.(\d+)", requires)
    assert minor, requires
    args, _ = parse_dockerfile()
    assert args["PYTHON_IMAGE"].startswith(f"python:3.{minor.group(1)}-")
    suite = _images_sh_value("BASE_SUITE")
    assert args["PYTHON_IMAGE"].endswith(f"-{suite}")
    assert {"bookworm": "11"}[suite] == minor.group(1)
    packages = set(_images_sh_value("BASE_PACKAGES").split(","))
    assert {"python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd"} <= packages
    assert "mmdebstrap --quiet --variant=minbase" in IMAGES_SH.read_text()


def test_images_run_as_non_root() -> None:
    _, stages = parse_dockerfile()
    expected = {"spark": "185:185", "operator": "185:185", "pause": "65535:65535"}
    for name in ("spark", "api", "operator", "minio", "ferretdb", "pause"):
        build_stage = stage(stages, name)
        user = build_stage.last("USER")
        assert user is not None, name
        uid = user.args[0].split(":")[0].strip()
        assert uid.isdigit() and int(uid) != 0, f"{name}: USER {user.args[0]} (numeric, not root)"
        if name in expected:
            assert user.args[0].strip() == expected[name], name
        if name == "api":
            assert int(uid) >= 1000
        # USER comes after every RUN/ADD that needs root.
        last_user = max(i for i, ins in enumerate(build_stage.instructions) if ins.keyword == "USER")
        assert not [ins for ins in build_stage.instructions[last_user:] if ins.keyword in ("RUN", "ADD")]


def test_dependencies_are_installed_before_the_source() -> None:
    _, stages = parse_dockerfile()
    for name in ("spark", "api"):
        build_stage = stage(stages, name)
        install = _index(build_stage, r"pip install -r /tmp/req/requirements-")
        assert install < _index(build_stage, r"COPY common/"), name
        assert install < _index(build_stage, r"COPY (jars|api)/"), name
    spark = stage(stages, "spark")
    assert _index(spark, r"COPY jars/") < _index(spark, r"COPY common/")


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    _, stages = parse_dockerfile()
    stage_names = {s.name for s in stages}
    patterns = dockerignore_patterns()
    script = IMAGES_SH.read_text()
    checked = 0
    for build_stage in stages:
        for copy_ in build_stage.copies():
            if "from" in copy_.flags:
                assert copy_.flags["from"] in stage_names | NAMED_CONTEXTS, copy_.raw
                if copy_.flags["from"] in NAMED_CONTEXTS:
                    # scripts/images.sh knows which folder holds each binary it passes as `bins`.
                    binary = copy_.args[0]
                    assert re.search(rf"{build_stage.name}\) echo \"\$\w+ {binary}\"", script), copy_.raw
                continue
            for source in copy_.args[:-1]:
                matches = glob.glob(str(REPO / source.rstrip("/")))
                assert matches, f"{copy_.raw}: {source} does not exist (jars/ is filled by `make setup`)"
                assert not dockerignored(source, patterns), f"{source} is excluded by .dockerignore"
                checked += 1
    assert checked >= 7


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
        "images/entrypoint.sh",
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


def test_spark_home_is_pysparks_spark() -> None:
    """/opt/spark: pyspark's bin/ and jars (with the project's), a real conf/ to mount over, Java 17."""
    _, stages = parse_dockerfile()
    spark = stage(stages, "spark")
    env = " ".join(i.args[0] for i in spark.instructions if i.keyword == "ENV")
    assert "SPARK_HOME=/opt/spark" in env and "JAVA_HOME=/opt/java" in env
    runs = " ".join(i.args[0] for i in spark.instructions if i.keyword == "RUN")
    assert "openjdk-17-jre-headless" in runs and "tini" in runs and "libnss-wrapper" in runs
    assert "mkdir -p /opt/spark/jars /opt/spark/conf /opt/spark/work-dir" in runs
    assert 'ln -s "$pyspark/bin" /opt/spark/bin' in runs
    assert 'ln -s "$pyspark"/jars/*.jar /opt/spark/jars/' in runs
    assert "spark-kubernetes_2.13-4.2.0.jar" in runs  # the executor backend's jar is there
    assert _index(spark, r"pyspark=") < _index(spark, r"COPY jars/")


def test_the_entrypoint_follows_sparks_kubernetes_contract() -> None:
    _, stages = parse_dockerfile()
    spark = stage(stages, "spark")
    (copy_,) = [c for c in spark.copies() if c.args[0] == "images/entrypoint.sh"]
    assert copy_.args[-1] == "/opt/entrypoint.sh"
    entrypoint = spark.last("ENTRYPOINT")
    assert entrypoint is not None and entrypoint.args[0].strip() == '["/opt/entrypoint.sh"]'
    assert ENTRYPOINT.stat().st_mode & 0o111, "images/entrypoint.sh is not executable"
    subprocess.run(["bash", "-n", str(ENTRYPOINT)], check=True)
    text = ENTRYPOINT.read_text()
    assert "--deploy-mode client" in text and "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS" in text
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in text
    for flag, variable in (
        ("--driver-url", "SPARK_DRIVER_URL"),
        ("--executor-id", "SPARK_EXECUTOR_ID"),
        ("--cores", "SPARK_EXECUTOR_CORES"),
        ("--app-id", "SPARK_APPLICATION_ID"),
        ("--hostname", "SPARK_EXECUTOR_POD_IP"),
        ("--resourceProfileId", "SPARK_RESOURCE_PROFILE_ID"),
        ("--podName", "SPARK_EXECUTOR_POD_NAME"),
    ):
        assert f'{flag} "${variable}"' in text, flag
    assert "exec /usr/bin/tini -s --" in text


def test_the_operator_image_runs_the_operator_with_the_images_spark() -> None:
    """The chart passes `controller start ...` / `webhook start ...` as args (no command)."""
    _, stages = parse_dockerfile()
    operator = stage(stages, "operator")
    entrypoint = operator.last("ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.args[0].strip() == '["/opt/entrypoint.sh", "/usr/bin/spark-operator"]'
    (copy_,) = operator.copies()
    assert copy_.args == ["spark-operator", "/usr/bin/spark-operator"] and copy_.flags["from"] == "bins"
    runs = " ".join(i.args[0] for i in operator.instructions if i.keyword == "RUN")
    assert "/etc/k8s-webhook-server/serving-certs" in runs
    for name, binary in (("minio", "/usr/local/bin/minio"), ("ferretdb", "/usr/local/bin/ferretdb")):
        server = stage(stages, name).last("ENTRYPOINT")
        assert server is not None and server.args[0].strip() == f'["{binary}"]'
    pause = stage(stages, "pause").last("ENTRYPOINT")
    assert pause is not None and pause.args[0].strip() == '["/pause"]'


def test_job_and_common_sources_are_in_the_spark_image() -> None:
    _, stages = parse_dockerfile()
    spark = stage(stages, "spark")
    for path in ("/opt/app/common/spark.py", "/opt/app/jobs/__init__.py"):
        mapped = image_path_to_repo(path, spark)
        assert mapped is not None and mapped.is_file(), path
    env = " ".join(i.args[0] for i in spark.instructions if i.keyword == "ENV")
    assert "PYTHONPATH=/opt/app" in env and "PYSPARK_PYTHON=/opt/venv/bin/python" in env
    assert "SPARK_JARS_DIR=/opt/spark/jars" in env
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
    """Spark image: every dependency (pyspark is its Spark); API image: nothing of the JVM side."""
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    subprocess.run([sys.executable, "-c", _requirement_snippet()], cwd=tmp_path, check=True)

    def names(file: str) -> set[str]:
        lines = (tmp_path / file).read_text().split()
        return {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-") for line in lines}

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    project = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    spark, api = names("requirements-spark.txt"), names("requirements-api.txt")
    assert spark == project and {"pyspark", "delta-spark"} <= spark
    assert api == project - {"pyspark", "delta-spark"}
    # pyspark's version is Spark's: the one the chart's SparkApplications declare.
    assert "pyspark==4.2.0" in deps
