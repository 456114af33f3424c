"""The chart's Prometheus parts: scrape annotations on the API pods and the example stale-table alert."""

from __future__ import annotations

import pytest
import yaml

from tests.k8s.k8s_support import of_kind, render, validate_document

pytestmark = pytest.mark.k8s


def _api_pod_annotations(sets: dict[str, str] | None = None) -> dict[str, str]:
    [deployment] = [
        d for d in of_kind(render([], sets), "Deployment") if d["metadata"]["name"].endswith("-api")
    ]
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_api_pods_carry_the_scrape_annotations_unless_switched_off() -> None:
    annotations = _api_pod_annotations()
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == "8000"
    off = _api_pod_annotations({"api.metrics.scrapeAnnotations": "false"})
    assert not any(key.startswith("prometheus.io/") for key in off)


ON = {"api.metrics.alertRules.enabled": "true"}


def test_stale_table_alert_rule() -> None:
    docs = render([], ON)
    [rules] = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-alert-rules")]
    validate_document(rules)
    groups = yaml.safe_load(rules["data"]["dataplatform.rules.yaml"])["groups"]
    [rule] = groups[0]["rules"]
    assert rule["alert"] == "DataplatformGoldTableStale"
    assert rule["expr"] == ("max by (table, job) (dataplatform_table_last_success_age_seconds) > 691200")
    assert "{{ $labels.table }}" in rule["annotations"]["summary"]  # left for Prometheus to fill
    shorter = render([], {**ON, "api.metrics.alertRules.staleAfterHours": "26"})
    [rules] = [d for d in of_kind(shorter, "ConfigMap") if d["metadata"]["name"].endswith("-alert-rules")]
    assert "> 93600" in rules["data"]["dataplatform.rules.yaml"]
    off = render([])  # opt-in
    assert not [d for d in of_kind(off, "ConfigMap") if d["metadata"]["name"].endswith("-alert-rules")]
