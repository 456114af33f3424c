"""The Helm chart, linted, rendered and validated offline (no cluster, no network)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
import yaml

from tests.k8s.k8s_support import (
    CHART,
    CRD_KINDS,
    CRDS,
    K8S_VERSION,
    NAMESPACE,
    SPARK_OPERATOR_VERSION,
    VALUE_SETS,
    cron_errors,
    helm,
    helm_binary,
    of_kind,
    render,
    render_text,
    spark_specs,
    validate_document,
)

pytestmark = pytest.mark.k8s

SECRET_SETTINGS = ("GITHUB_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MONGO_URI")
SETS = sorted(VALUE_SETS)


def test_helm_is_the_pinned_version() -> None:
    """`make setup` builds helm; a missing helm fails here instead of skipping the suite."""
    out = helm("version", "--short").stdout
    assert out.startswith("v3."), out
    stamp = Path(helm_binary()).with_name("helm.version")
    if stamp.is_file():
        assert stamp.read_text().strip() == "v3.21.4"


def test_crds_are_the_pinned_operator_version() -> None:
    """`make setup` installs the CRDs from the operator's Go module; nothing beside the clone is read."""
    stamp = CRDS / "version"
    assert stamp.is_file(), f"{CRDS} missing: run `make setup` (scripts/fetch_crds.sh)"
    module, _, _ = stamp.read_text().strip().partition(" ")
    assert module == f"github.com/kubeflow/spark-operator/v2@{SPARK_OPERATOR_VERSION}", module
    for kind, name in CRD_KINDS.items():
        crd = yaml.safe_load((CRDS / name).read_text())
        assert crd["spec"]["names"]["kind"] == kind
        assert [v["name"] for v in crd["spec"]["versions"]] == ["v1beta2"]


@pytest.mark.parametrize("value_set", SETS)
def test_helm_lint(value_set: str) -> None:
    args = ["lint", str(CHART), "--strict", "--kube-version", K8S_VERSION, "--namespace", NAMESPACE]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(path)]
    out = helm(*args).stdout
    assert "0 chart(s) failed" in out, out


@pytest.mark.parametrize("value_set", SETS)
def test_every_rendered_document_matches_its_schema(value_set: str) -> None:
    docs = render(VALUE_SETS[value_set])
    assert docs, "nothing rendered"
    for doc in docs:
        validate_document(doc)


@pytest.mark.parametrize("value_set", SETS)
def test_plain_manifests_are_kubectl_appliable(value_set: str) -> None:
    """`helm template ... | kubectl apply -n dataplatform -f -`: every document is complete,
    names are unique per kind, and none pins a namespace other than the one applied to."""
    text = render_text(VALUE_SETS[value_set])
    docs = [d for d in yaml.safe_load_all(text) if d]
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
        name = doc["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63, name
        assert doc["metadata"].get("namespace") in (None, NAMESPACE), name
        assert (doc["kind"], name) not in seen, f"duplicate {doc['kind']}/{name}"
        seen.add((doc["kind"], name))


def test_default_values_render_every_kind() -> None:
    kinds = sorted({d["kind"] for d in render([])})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Pod",
        "ScheduledSparkApplication",
        "Service",
        "SparkApplication",
    ]
    assert len(of_kind(render([]), "SparkApplication")) == 3
    # wikimedia's schedule is off by default (its --start-date is absolute; see values.yaml)
    assert len(of_kind(render([]), "ScheduledSparkApplication")) == 2


def test_dev_example_adds_minio_and_mongodb_and_default_does_not() -> None:
    def names(docs: list[dict[str, Any]]) -> set[str]:
        return {d["metadata"]["name"] for d in docs}

    assert {"dataplatform-minio", "dataplatform-mongodb"} <= names(render(VALUE_SETS["dev"]))
    assert not {"dataplatform-minio", "dataplatform-mongodb"} & names(render([]))
    assert not {"dataplatform-minio", "dataplatform-mongodb"} & names(render(VALUE_SETS["production"]))


@pytest.mark.parametrize("value_set", SETS)
def test_schedules_are_valid_cron_in_an_iana_zone_and_forbid_overlap(value_set: str) -> None:
    scheduled = of_kind(render(VALUE_SETS[value_set]), "ScheduledSparkApplication")
    assert scheduled
    zones = available_timezones()
    for doc in scheduled:
        spec = doc["spec"]
        assert cron_errors(spec["schedule"]) == [], (doc["metadata"]["name"], spec["schedule"])
        assert spec["timeZone"] in zones, spec["timeZone"]
        ZoneInfo(spec["timeZone"])
        assert spec["concurrencyPolicy"] == "Forbid"  # one writer per Delta table on S3
        assert spec["template"]["restartPolicy"]["type"] == "Never"


@pytest.mark.parametrize("value_set", ["default", "production"])
def test_datagouv_runs_every_wednesday_at_17_paris_time(value_set: str) -> None:
    (doc,) = [
        d
        for d in of_kind(render(VALUE_SETS[value_set]), "ScheduledSparkApplication")
        if d["metadata"]["name"].endswith("-datagouv-cron")
    ]
    assert doc["spec"]["schedule"] == "0 17 * * 3"
    assert doc["spec"]["timeZone"] == "Europe/Paris"
    assert doc["spec"]["template"]["mainApplicationFile"].endswith("/datagouv_catalog/__main__.py")


def test_other_schedules_are_configurable() -> None:
    docs = render(
        [],
        {
            "jobs.github.schedule.cron": "15 1 * * 0",
            "jobs.wikimedia.schedule.timeZone": "Asia/Tokyo",
            "jobs.wikimedia.schedule.enabled": "true",
            "jobs.wikimedia.schedule.args.days": "3",
        },
    )
    by_name = {d["metadata"]["name"]: d["spec"] for d in of_kind(docs, "ScheduledSparkApplication")}
    assert by_name["dataplatform-github-cron"]["schedule"] == "15 1 * * 0"
    assert by_name["dataplatform-wikimedia-cron"]["timeZone"] == "Asia/Tokyo"
    args = by_name["dataplatform-wikimedia-cron"]["template"]["arguments"]
    assert args[args.index("--days") + 1] == "3"


def test_cron_checker_rejects_bad_expressions() -> None:
    assert cron_errors("0 17 * * 3") == []
    assert cron_errors("*/15 0-6,22 1 JAN-MAR MON-FRI") == []
    assert cron_errors("0 17 * *")  # 4 fields
    assert cron_errors("60 17 * * 3")
    assert cron_errors("0 24 * * 3")
    assert cron_errors("0 17 0 * 3")
    assert cron_errors("0 17 * 13 3")
    assert cron_errors("0 17 * * 8")
    assert cron_errors("0 17 * * 5-2")
    assert cron_errors("*/0 * * * *")
    assert cron_errors("@weekly")


@pytest.mark.parametrize("value_set", SETS)
def test_spark_pods_are_sized_and_run_as_non_root(value_set: str) -> None:
    for name, spec in spark_specs(render(VALUE_SETS[value_set])):
        assert spec["type"] == "Python" and spec["mode"] == "cluster"
        assert spec["mainApplicationFile"].startswith("local:///"), name
        assert spec["timeToLiveSeconds"] > 0
        assert spec["restartPolicy"]["type"] in ("Never", "OnFailure")
        if spec["restartPolicy"]["type"] == "OnFailure":
            assert spec["restartPolicy"]["onFailureRetries"] >= 1
        for role in ("driver", "executor"):
            pod = spec[role]
            assert _cpu(pod["coreLimit"]) >= pod["cores"], f"{name} {role}: coreLimit below cores"
            assert re.fullmatch(r"\d+[mg]", pod["memory"]) and re.fullmatch(r"\d+[mg]", pod["memoryOverhead"])
            for context in (pod["securityContext"], pod["podSecurityContext"]):
                assert context["runAsNonRoot"] is True and context["runAsUser"] == 185
            assert pod["securityContext"]["allowPrivilegeEscalation"] is False
            assert pod["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {"configMapRef": {"name": "dataplatform-settings"}} in pod["envFrom"]
        assert spec["driver"]["serviceAccount"] == "dataplatform-spark"
        dynamic = spec.get("dynamicAllocation", {}).get("enabled", False)
        assert ("instances" in spec["executor"]) != dynamic


def test_dynamic_allocation_switch() -> None:
    off = dict(spark_specs(render([])))["dataplatform-wikimedia"]
    assert "dynamicAllocation" not in off and off["executor"]["instances"] == 4
    on = dict(spark_specs(render([], {"spark.dynamicAllocation.enabled": "true"})))["dataplatform-wikimedia"]
    assert on["dynamicAllocation"]["enabled"] is True
    assert on["dynamicAllocation"]["maxExecutors"] >= on["dynamicAllocation"]["minExecutors"]
    assert on["dynamicAllocation"]["shuffleTrackingEnabled"] is True


@pytest.mark.parametrize("value_set", SETS)
def test_secrets_only_by_reference(value_set: str) -> None:
    docs = render(VALUE_SETS[value_set])
    (config,) = of_kind(docs, "ConfigMap")
    assert not set(SECRET_SETTINGS) & set(config["data"])
    assert not of_kind(docs, "Secret"), "the chart must not create Secrets"
    envs: list[dict[str, Any]] = []
    for _, spec in spark_specs(docs):
        envs += spec["driver"].get("env", []) + spec["executor"].get("env", [])
    for deployment in of_kind(docs, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            envs += container.get("env", [])
    secret_envs = [e for e in envs if e["name"] in SECRET_SETTINGS or e["name"].startswith("MINIO_ROOT")]
    assert secret_envs
    for env in secret_envs:
        assert "value" not in env and "secretKeyRef" in env["valueFrom"], env


def test_a_secret_in_settings_is_refused() -> None:
    proc = helm(
        "template",
        "x",
        str(CHART),
        "--kube-version",
        K8S_VERSION,
        "--set",
        "settings.GITHUB_TOKEN=ghp_leak",
        check=False,
    )
    assert proc.returncode != 0 and "is a secret" in proc.stderr


def test_jobs_get_only_the_secrets_they_need() -> None:
    specs = dict(spark_specs(render([])))
    names = {
        key: {e["name"] for e in specs[f"dataplatform-{key}"]["driver"].get("env", [])}
        for key in ("github", "wikimedia", "datagouv")
    }
    assert names["github"] == {"GITHUB_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert names["wikimedia"] == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert names["datagouv"] == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MONGO_URI"}


@pytest.mark.parametrize("value_set", SETS)
def test_api_deployment_has_probes_resources_and_non_root(value_set: str) -> None:
    docs = render(VALUE_SETS[value_set])
    (deployment,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "dataplatform-api"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["API_HOST"] == "0.0.0.0"
    assert "MONGO_URI" not in env  # the API reads only the lake
    port = container["ports"][0]["containerPort"]
    assert env["API_PORT"] == str(port)
    (service,) = [d for d in of_kind(docs, "Service") if d["metadata"]["name"] == "dataplatform-api"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    ingresses = of_kind(docs, "Ingress")
    assert len(ingresses) == (1 if value_set == "production" else 0)


def test_run_names_fit_in_pod_name_limits() -> None:
    """A scheduled run is <name>-<timestamp, up to 19 digits> and its driver <run>-driver (<= 63)."""
    docs = render(
        [],
        {"fullnameOverride": "a-very-long-release-name-for-this", "jobs.wikimedia.schedule.enabled": "true"},
    )
    for doc in of_kind(docs, "ScheduledSparkApplication"):
        assert len(doc["metadata"]["name"]) + 1 + 19 + len("-driver") <= 63, doc["metadata"]["name"]
    for doc in of_kind(docs, "SparkApplication"):
        assert len(doc["metadata"]["name"]) + len("-driver") <= 63


# ---------------------------------------------------------------------------------------------
# values.yaml: every value documented with a `# --` comment (itself or an ancestor's)
# ---------------------------------------------------------------------------------------------
def _undocumented_keys(path: Path) -> list[str]:
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    comment_block: list[str] = []
    missing: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            comment_block = []
            continue
        if stripped.startswith("#"):
            comment_block.append(stripped)
            continue
        match = re.match(r"^(\s*)([A-Za-z0-9_.\-\"']+):(\s|$)", line)
        if not match or stripped.startswith("-"):
            comment_block = []
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = any(c.startswith("# --") for c in comment_block) or any(s[2] for s in stack)
        if not documented and not _is_section(line, path):
            missing.append(".".join([s[1] for s in stack] + [key]))
        stack.append((indent, key, documented))
        comment_block = []
    return missing


def _is_section(line: str, path: Path) -> bool:
    """A key with nested keys and no value of its own: documented by its children."""
    return line.rstrip().endswith(":")


def test_every_value_is_documented() -> None:
    assert _undocumented_keys(CHART / "values.yaml") == []


def test_documentation_checker_catches_a_bare_key(tmp_path: Path) -> None:
    sample = tmp_path / "values.yaml"
    sample.write_text("# -- ok\na: 1\nsection:\n  # -- ok\n  b: 2\n  c: 3\n")
    assert _undocumented_keys(sample) == ["section.c"]


def test_chart_declares_the_operator_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["annotations"]["dataplatform/spark-operator-chart-version"] == "2.5.2"


def _cpu(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_schema_validation_rejects_typos_and_wrong_types() -> None:
    docs = render([])
    app = of_kind(docs, "SparkApplication")[0]
    app["spec"]["driver"]["coreLimitt"] = "1"
    with pytest.raises(AssertionError, match="coreLimitt"):
        validate_document(app)
    # Unknown keys are refused at every depth, in both kinds, also inside core types the CRD embeds.
    for doc, path, key in (
        (of_kind(docs, "SparkApplication")[0], ("spec",), "sparkConff"),
        (of_kind(docs, "SparkApplication")[0], ("spec", "executor"), "instancess"),
        (of_kind(docs, "ScheduledSparkApplication")[0], ("spec",), "schedulee"),
        (of_kind(docs, "ScheduledSparkApplication")[0], ("spec", "template", "driver"), "coreLimitt"),
    ):
        node = doc
        for part in path:
            node = node[part]
        node[key] = "1"
        with pytest.raises(AssertionError, match=key):
            validate_document(doc)
    env_doc = of_kind(docs, "SparkApplication")[0]
    env_doc["spec"]["driver"].setdefault("env", []).append({"name": "X", "valuee": "1"})
    with pytest.raises(AssertionError, match="valuee"):
        validate_document(env_doc)
    # Types and enums are the CRD's, not only its key names.
    typed = of_kind(docs, "SparkApplication")[0]
    typed["spec"]["executor"]["instances"] = "two"
    with pytest.raises(AssertionError, match="two"):
        validate_document(typed)
    kind_doc = of_kind(docs, "SparkApplication")[0]
    kind_doc["spec"]["type"] = "Rust"
    with pytest.raises(AssertionError, match="Rust"):
        validate_document(kind_doc)
    scheduled = of_kind(docs, "ScheduledSparkApplication")[0]
    scheduled["spec"]["template"]["restartPolicy"]["type"] = "Sometimes"
    with pytest.raises(AssertionError, match="Sometimes"):
        validate_document(scheduled)
    deployment = of_kind(docs, "Deployment")[0]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(AssertionError):
        validate_document(deployment)
    service = of_kind(docs, "Service")[0]
    service["spec"]["portz"] = []
    with pytest.raises(AssertionError):
        validate_document(service)


def test_backfill_runs_get_distinct_names() -> None:
    docs = render([], {"jobs.wikimedia.run.suffix": "2026w45", "jobs.wikimedia.args.startDate": "2026-11-02"})
    names = {d["metadata"]["name"] for d in of_kind(docs, "SparkApplication")}
    assert "dataplatform-wikimedia-2026w45" in names
    (app,) = [d for d in of_kind(docs, "SparkApplication") if d["metadata"]["name"].endswith("2026w45")]
    args = app["spec"]["arguments"]
    assert args[args.index("--start-date") + 1] == "2026-11-02"


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("jobs.github.agrs.org=x", "agrs"),
        ("spark.executor.memory=4 gigs", "memory"),
        ("spark.scheduled.concurrencyPolicy=Sometimes", "concurrencyPolicy"),
        ("jobs.datagouv.secrets={s3,vault}", "secrets"),
        ("api.port=70000", "port"),
    ],
)
def test_values_schema_rejects_typos(override: str, complaint: str) -> None:
    """helm ignores unknown values silently; values.schema.json makes a typo fail the render."""
    proc = helm("template", "x", str(CHART), "--kube-version", K8S_VERSION, "--set", override, check=False)
    assert proc.returncode != 0 and complaint in proc.stderr, proc.stderr
