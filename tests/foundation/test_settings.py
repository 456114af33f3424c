"""Settings: defaults from the contract, flags over environment, one-line errors naming the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import add_settings_flags, settings_from_args
from common.errors import ConfigError
from common.logging import redact
from common.settings import load_settings
from common.spark import build_conf
from common.storage import delta_rs_uri, delta_storage_options, lake_path

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LAKE_ROOT", "GITHUB_API_URL", "DATAGOUV_BUCKET", "MONGO_URI", "API_PORT", "S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.lake_root == "./lake"
    assert s.github_api_url == "https://api.github.com"
    assert s.wikimedia_dumps_url == "https://dumps.wikimedia.org"
    assert s.datagouv_api_url == "https://www.data.gouv.fr/api/1"
    assert s.datagouv_bucket == "datagouv"
    assert s.mongo_uri.get_secret_value() == "mongodb://127.0.0.1:27017"
    assert (s.api_host, s.api_port) == ("127.0.0.1", 8000)
    assert s.s3_endpoint_url is None


def test_token_pool_is_split_and_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "tok_aaaa, tok_bbbb,,")
    s = load_settings()
    assert s.github_tokens == ["tok_aaaa", "tok_bbbb"]
    assert "tok_aaaa" not in repr(s)
    assert redact("using tok_bbbb now") == "using *** now"


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    monkeypatch.setenv("LAKE_ROOT", "/from/env")
    parser = argparse.ArgumentParser()
    add_settings_flags(parser)
    assert settings_from_args(parser.parse_args([])).lake_root == "/from/env"
    assert settings_from_args(parser.parse_args(["--lake-root", "s3a://b/p"])).lake_root == "s3a://b/p"


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"LAKE_ROOT": "ftp://host/lake"}, "LAKE_ROOT"),
        ({"LAKE_ROOT": "s3a://"}, "LAKE_ROOT"),
        ({"S3_ENDPOINT_URL": "127.0.0.1:9000"}, "S3_ENDPOINT_URL"),
        ({"API_PORT": "99999"}, "API_PORT"),
    ],
)
def test_wrong_setting_names_itself(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(f"{setting}: ")
    assert "\n" not in str(err.value)


def test_lake_paths_and_delta_rs_options() -> None:
    s = load_settings(
        lake_root="s3://lake/prefix/",
        s3_endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="minioadmin",
        aws_secret_access_key="miniopassword",
    )
    assert lake_path(s, "github", "commits") == "s3a://lake/prefix/github/commits"
    assert delta_rs_uri(lake_path(s, "t")) == "s3://lake/prefix/t"
    opts = delta_storage_options(s)
    assert opts["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert opts["AWS_ALLOW_HTTP"] == "true"
    local = load_settings(lake_root="rel/lake")
    assert lake_path(local, "x") == str((Path.cwd() / "rel/lake/x").resolve())


def test_spark_conf_wires_delta_and_s3a_path_style() -> None:
    s = load_settings(
        lake_root="s3a://lake/p",
        s3_endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="k",
        aws_secret_access_key="secret-value",
    )
    conf = build_conf(s, "app")
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"].endswith("DeltaCatalog")
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.master"].startswith("local")
    assert "spark.jars.packages" not in conf  # no Ivy resolution at start-up


def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "LAKE_", "MONGO_"))}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "common.doctor", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unknown_scheme_exits_with_one_line() -> None:
    proc = _doctor({"LAKE_ROOT": "gs://bucket/lake"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "doctor: error: LAKE_ROOT: unknown scheme 'gs://' (use a local path or s3a://bucket/prefix)"
    ]


def test_unreachable_endpoint_names_the_setting() -> None:
    proc = _doctor(
        {
            "LAKE_ROOT": "s3a://lake/x",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "b",
        }
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("doctor: error: S3_ENDPOINT_URL: cannot reach")
    assert "Traceback" not in proc.stderr


def test_unreachable_mongo_names_the_setting(tmp_path: Path) -> None:
    proc = _doctor({"LAKE_ROOT": str(tmp_path), "MONGO_URI": "mongodb://127.0.0.1:9"}, "--mongo")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("doctor: error: MONGO_URI: cannot reach")


def test_operational_knobs_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Spark, progress and Mongo knobs come from Settings like every other setting."""
    for var in (
        "SPARK_UI_ENABLED",
        "SPARK_LOG_LEVEL",
        "SPARK_JARS_DIR",
        "MONGO_DATABASE",
        "GITHUB_PROGRESS_SECONDS",
        "SPARK_EXECUTOR_WAIT_SECONDS",
    ):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.spark_ui_enabled, s.spark_log_level, s.spark_jars_dir) == (False, "WARN", None)
    assert s.spark_executor_wait_seconds == 90.0
    assert (s.mongo_database, s.github_progress_seconds) == ("datagouv", 10.0)
    assert build_conf(s, "app")["spark.ui.enabled"] == "false"
    monkeypatch.setenv("SPARK_UI_ENABLED", "true")
    monkeypatch.setenv("SPARK_LOG_LEVEL", "error")
    monkeypatch.setenv("MONGO_DATABASE", "other")
    monkeypatch.setenv("GITHUB_PROGRESS_SECONDS", "0")
    s = load_settings()
    assert build_conf(s, "app")["spark.ui.enabled"] == "true"
    assert (s.spark_log_level, s.mongo_database, s.github_progress_seconds) == ("ERROR", "other", 0.0)
    monkeypatch.setenv("SPARK_JARS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=f"SPARK_JARS_DIR: {tmp_path} lacks"):
        build_conf(load_settings(), "app")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("SPARK_LOG_LEVEL", "loud"),
        ("GITHUB_PROGRESS_SECONDS", "-1"),
        ("SPARK_UI_ENABLED", "maybe"),
        ("SPARK_EXECUTOR_WAIT_SECONDS", "0"),
    ],
)
def test_wrong_operational_knob_names_itself(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=f"^{var}: "):
        load_settings()
