"""The operator install files: valid manifests, values that the 2.5.2 chart knows, names that match."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.k8s.k8s_support import CHART, NAMESPACE, OPERATOR_DIR, validate_document

pytestmark = pytest.mark.k8s


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((OPERATOR_DIR / name).read_text()) if d]


def _paths(node: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.append(path)
            out += _paths(value, path)
    return out


@pytest.mark.parametrize("name", ["namespaces.yaml", "rbac.yaml"])
def test_manifests_match_their_schemas(name: str) -> None:
    docs = _docs(name)
    assert docs
    for doc in docs:
        validate_document(doc)


def test_operator_values_use_only_keys_of_chart_2_5_2() -> None:
    known = {
        line.strip()
        for line in (OPERATOR_DIR / "chart-2.5.2-value-keys.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    values = yaml.safe_load((OPERATOR_DIR / "values.yaml").read_text())
    unknown = [
        p
        for p in _paths(values)
        if p not in known
        and not any(
            p.startswith(k + ".")
            for k in known
            if k.endswith(("resources", "podSecurityContext", "securityContext"))
        )
    ]
    assert unknown == []


def test_operator_watches_the_platform_namespace_with_the_webhook_on() -> None:
    values = yaml.safe_load((OPERATOR_DIR / "values.yaml").read_text())
    assert NAMESPACE in values["spark"]["jobNamespaces"]
    assert values["webhook"]["enable"] is True  # envFrom/secrets/securityContext reach the pods through it
    namespaces = {d["metadata"]["name"] for d in _docs("namespaces.yaml") if d["kind"] == "Namespace"}
    assert {"spark-operator", NAMESPACE} <= namespaces


def test_driver_service_account_is_the_one_the_chart_uses() -> None:
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    account = chart_values["spark"]["serviceAccountName"]
    docs = _docs("rbac.yaml")
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == account]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == account]
    assert sa["metadata"]["name"] == account and sa["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    rules = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    for resource in ("pods", "services", "configmaps", "persistentvolumeclaims"):
        for verb in ("create", "get", "list", "watch", "delete"):
            assert (resource, verb) in rules, (resource, verb)
    assert not any(r == "*" or v == "*" for r, v in rules), "no wildcard permissions"


def test_the_operator_may_manage_the_network_policies_spark_submit_creates() -> None:
    """Spark 4.2's spark-submit (run by the operator's controller) makes a NetworkPolicy per driver."""
    docs = _docs("rbac.yaml")
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].startswith("spark-operator")]
    name = role["metadata"]["name"]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == name]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        }
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "spark-operator-controller", "namespace": "spark-operator"}
    ]
