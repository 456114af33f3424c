"""The manifests and the code agree: every application file is in the image, every argument list
parses with the job's own argument parser."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.k8s_support import (
    CHART,
    REPO,
    VALUE_SETS,
    image_path_to_repo,
    parse_dockerfile,
    render,
    spark_specs,
    stage,
)

pytestmark = pytest.mark.k8s

COMPONENT = "app.kubernetes.io/component"
MAIN_FILE = re.compile(r"^local://(/.+/jobs/(?P<module>[a-z_]+)/__main__\.py)$")


def _job_keys() -> list[str]:
    """Job keys straight from values.yaml: collecting these tests needs no helm (a missing helm
    then fails the tests that need it instead of aborting the whole collection)."""
    return sorted(yaml.safe_load((CHART / "values.yaml").read_text())["jobs"])


CASES = [(value_set, key) for value_set in sorted(VALUE_SETS) for key in _job_keys()]


def _specs(value_set: str, key: str) -> list[tuple[str, dict[str, Any]]]:
    """The job's SparkApplication and ScheduledSparkApplication template in that value set
    (none when both are disabled there, e.g. wikimedia in the production example)."""
    docs = [d for d in render(VALUE_SETS[value_set]) if d["metadata"]["labels"].get(COMPONENT) == key]
    specs = spark_specs(docs)
    if value_set == "default":
        assert specs, f"the default values render no application of job {key}"
    return specs


def _parser(module: str) -> argparse.ArgumentParser:
    if not (REPO / "jobs" / module / "cli.py").is_file():
        pytest.skip(f"jobs/{module}/cli.py does not exist yet (the job is being written)")
    cli = importlib.import_module(f"jobs.{module}.cli")
    parser: argparse.ArgumentParser = cli.build_parser()
    return parser


@pytest.mark.parametrize(("value_set", "key"), CASES)
def test_main_application_file_is_in_the_image(value_set: str, key: str) -> None:
    _, stages = parse_dockerfile()
    for name, spec in _specs(value_set, key):
        main_file = str(spec["mainApplicationFile"])
        match = MAIN_FILE.match(main_file)
        assert match, f"{name}: {main_file} is not local:///.../jobs/<job>/__main__.py"
        in_repo = image_path_to_repo(match.group(1), stage(stages, "spark"))
        assert in_repo is not None, f"{name}: no COPY in the spark stage puts {match.group(1)} in the image"
        if not in_repo.parent.is_dir():
            pytest.skip(f"jobs/{match.group('module')} does not exist yet (the job is being written)")
        assert in_repo.is_file(), f"{name}: {main_file} maps to {in_repo.relative_to(REPO)}, which is missing"


@pytest.mark.parametrize(("value_set", "key"), CASES)
def test_arguments_parse_with_the_jobs_own_parser(value_set: str, key: str) -> None:
    for name, spec in _specs(value_set, key):
        match = MAIN_FILE.match(str(spec["mainApplicationFile"]))
        assert match
        parser = _parser(match.group("module"))
        arguments = spec.get("arguments", [])
        assert isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                parser.parse_args(arguments)
            except SystemExit:
                pytest.fail(
                    f"{name} ({value_set}): {arguments} rejected by jobs.{match.group('module')}.cli: "
                    f"{stderr.getvalue().strip()}"
                )


def test_a_wrong_flag_would_be_caught() -> None:
    """The check above is not vacuous: a flag the job does not know is rejected."""
    parser = _parser("datagouv_catalog")
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        parser.parse_args(["--rundate", "2026-11-18"])


def test_every_job_package_has_a_chart_entry() -> None:
    """A job added under jobs/ without a SparkApplication would never run on the cluster."""
    modules = {
        MAIN_FILE.match(str(spec["mainApplicationFile"])).group("module")  # type: ignore[union-attr]
        for _, spec in spark_specs(render([]))
    }
    on_disk = {p.parent.name for p in Path(REPO / "jobs").glob("*/__main__.py")}
    assert on_disk <= modules, f"jobs without a chart entry: {sorted(on_disk - modules)}"
