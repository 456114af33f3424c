"""The project's single-node Kubernetes cluster (scripts/k8s.sh) with the real spark-operator and
the platform chart installed as a user installs them, as a pytest session fixture; and what the
tests use to apply SparkApplications with kubectl and follow them to their final state.

The emulators of the three sources run in the test process, bound to the bridge address pods see
this host at (10.244.0.1); MinIO and FerretDB run in the cluster (the chart's dev servers, from
the project's images) and the test reaches them, and the API, at their Service addresses."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import yaml

from tests.conftest import MINIO_PASSWORD, MINIO_USER
from tests.k8s.k8s_support import CACHE, CHART, OPERATOR_DIR, REPO, SPARK_OPERATOR_VERSION, helm

SCRIPT = REPO / "scripts" / "k8s.sh"
KUBECTL = CACHE / "k8s" / "v1.34.4" / "bin" / "kubectl"  # scripts/build_k8s.sh, the cluster's version
NAMESPACE = "dataplatform"
HOST_IP = "10.244.0.1"  # this host as pods see it (scripts/k8s.sh)
LOCAL_VALUES = CHART / "examples" / "local.yaml"
OPERATOR_CHART = (
    CACHE / "go" / "mod" / "github.com" / "kubeflow" / "spark-operator" / f"v2@{SPARK_OPERATOR_VERSION}"
    / "charts" / "spark-operator-chart"
)  # fmt: skip
REPORT = REPO / "tests" / "artifacts" / "k8s-applications.txt"
FINAL = ("COMPLETED", "FAILED", "SUBMISSION_FAILED", "FAILING")


def _kubeconfig() -> str:
    out = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def kubectl(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
    env = {**os.environ, "KUBECONFIG": _kubeconfig()}
    proc = subprocess.run(
        [str(KUBECTL), *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def cluster_up() -> bool:
    try:
        kubectl("get", "--raw", "/readyz", timeout=10)
    except (AssertionError, subprocess.SubprocessError, FileNotFoundError, IndexError):
        return False
    return True


def _script(*args: str, timeout: float = 900) -> None:
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"scripts/k8s.sh {' '.join(args)} failed:\n{proc.stderr[-3000:]}"


def cluster_helm(*args: str) -> str:
    return helm(*args, "--kubeconfig", _kubeconfig()).stdout


def apply_secret(name: str, data: dict[str, str]) -> None:
    """A Secret through stdin, so no credential is ever on a command line."""
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE}}
    kubectl("apply", "-f", "-", stdin=json.dumps({**doc, "stringData": data}))


def service_address(name: str, port: int) -> str:
    ip = kubectl("-n", NAMESPACE, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}").strip()
    return f"{ip}:{port}"


@dataclass
class Application:
    name: str
    applied: float
    state: str = ""
    seconds: float = 0.0
    executors_seen: set[str] = field(default_factory=set)


@dataclass
class Platform:
    """The installed platform: where its services answer, and the applications tests ran."""

    settings: dict[str, str]
    apps: dict[str, Application] = field(default_factory=dict)

    @property
    def minio(self) -> str:
        return "http://" + service_address("dataplatform-minio", 9000)

    @property
    def mongo_uri(self) -> str:
        return "mongodb://" + service_address("dataplatform-mongodb", 27017) + "/"

    @property
    def api(self) -> str:
        return "http://" + service_address("dataplatform-api", 80)

    def render(self, template: str, values: dict[str, str]) -> list[dict[str, Any]]:
        """Documents of one chart template with these values, as `helm template` gives a user."""
        sets = [arg for k, v in {**self.settings, **values}.items() for arg in ("--set", f"{k}={v}")]
        out = helm(
            "template", "dataplatform", str(CHART), "-n", NAMESPACE, "-f", str(LOCAL_VALUES),
            "--kube-version", "1.34.4", "--show-only", f"templates/{template}", *sets,
        ).stdout  # fmt: skip
        return [d for d in yaml.safe_load_all(out) if d]

    def apply(self, doc: dict[str, Any]) -> Application:
        """`kubectl apply` of one document (an earlier object of that name is deleted first)."""
        name = doc["metadata"]["name"]
        kubectl("-n", NAMESPACE, "delete", doc["kind"], name, "--ignore-not-found", "--wait=true")
        kubectl("-n", NAMESPACE, "apply", "-f", "-", stdin=json.dumps(doc))
        app = Application(name, time.monotonic())
        self.apps[name] = app
        if doc["kind"] == "SparkApplication":
            threading.Thread(target=self._watch_executors, args=(app,), daemon=True).start()
        return app

    def _watch_executors(self, app: Application, timeout: float = 900) -> None:
        """Note the application's executor pods every 2 s from its apply until it ends: a test may
        wait for it only after another test, when its pods are gone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a kubectl hiccup: the next poll notes them
                app.executors_seen.update(pod for pod, _ in self.executors(app.name))
                state = self.state(app.name)
                if state in FINAL and state != "FAILING":  # as `wait`: a failing one may retry
                    return
            time.sleep(2)

    def state(self, name: str) -> str:
        out = kubectl(
            "-n", NAMESPACE, "get", "sparkapplication", name, "-o",
            "jsonpath={.status.applicationState.state}", check=False,
        )  # fmt: skip
        return out.strip()

    def executors(self, name: str) -> list[tuple[str, str]]:
        """(pod, phase) of the application's executor pods now."""
        out = kubectl(
            "-n", NAMESPACE, "get", "pods", "-l", f"sparkoperator.k8s.io/app-name={name},spark-role=executor",
            "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
        )  # fmt: skip
        return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]  # type: ignore[misc]

    def wait(self, app: Application, timeout: float = 900) -> str:
        """Poll every 2 s until the application's state is final, noting executor pods seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.executors_seen.update(pod for pod, _ in self.executors(app.name))
            state = self.state(app.name)
            if state in FINAL and state != "FAILING":
                app.state, app.seconds = state, self.run_seconds(app)
                return state
            time.sleep(2)
        app.state, app.seconds = f"TIMEOUT ({self.state(app.name) or 'no state'})", timeout
        pytest.fail(f"{app.name} not finished after {timeout:.0f}s:\n{self.describe(app.name)}")

    def run_seconds(self, app: Application) -> float:
        """Submission to termination as the operator recorded them (else since `kubectl apply`)."""
        out = kubectl(
            "-n", NAMESPACE, "get", "sparkapplication", app.name, "-o",
            "jsonpath={.status.lastSubmissionAttemptTime} {.status.terminationTime}", check=False,
        ).split()  # fmt: skip
        if len(out) == 2:
            began, ended = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in out)
            return (ended - began).total_seconds()
        return time.monotonic() - app.applied

    def driver_log(self, name: str) -> str:
        return kubectl("-n", NAMESPACE, "logs", f"{name}-driver", check=False, timeout=60)

    def describe(self, name: str) -> str:
        status = kubectl("-n", NAMESPACE, "get", "sparkapplication", name, "-o", "yaml", check=False)
        pods = kubectl("-n", NAMESPACE, "get", "pods", "-o", "wide", check=False)
        return f"{status[-3000:]}\n{pods}\n{self.driver_log(name)[-4000:]}"

    def report(self) -> str:
        return "\n".join(
            f"{a.name:52} {a.state or 'not finished':12} {a.seconds:6.0f} s" for a in self.apps.values()
        )


def install(settings: dict[str, str]) -> Platform:
    """The operator from its own chart (webhook on), the driver's RBAC, the Secrets, then the
    platform chart with the local values: what a user does, with helm and kubectl."""
    kubectl("apply", "-f", str(OPERATOR_DIR / "namespaces.yaml"))
    cluster_helm(
        "upgrade", "--install", "spark-operator", str(OPERATOR_CHART), "-n", "spark-operator",
        "-f", str(OPERATOR_DIR / "values.yaml"), "-f", str(OPERATOR_DIR / "local.yaml"),
        "--wait", "--timeout", "5m",
    )  # fmt: skip
    kubectl("apply", "-f", str(OPERATOR_DIR / "rbac.yaml"))
    s3 = {"AWS_ACCESS_KEY_ID": MINIO_USER, "AWS_SECRET_ACCESS_KEY": MINIO_PASSWORD}
    apply_secret("dataplatform-s3", s3)
    apply_secret("dataplatform-mongo", {"MONGO_URI": "mongodb://dataplatform-mongodb:27017/"})
    apply_secret("dataplatform-github", {"GITHUB_TOKEN": "tok-1"})
    sets = [arg for k, v in settings.items() for arg in ("--set", f"{k}={v}")]
    cluster_helm(
        "upgrade", "--install", "dataplatform", str(CHART), "-n", NAMESPACE, "-f", str(LOCAL_VALUES),
        *sets, "--wait", "--timeout", "5m",
    )  # fmt: skip
    return Platform(settings)


@pytest.fixture(scope="module")
def k8s_cluster() -> Iterator[None]:
    """The cluster, started for the module when it is not up (and then stopped after it, so its
    pods do not take the cores of the tests that follow)."""
    started = False
    if not cluster_up():
        _script("up")
        started = True
    try:
        yield
    finally:
        if started and not os.environ.get("K8S_KEEP"):
            _script("down", timeout=300)


def write_report(platform: Platform) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(platform.report() + "\n")


def wait_until(condition: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(1)
