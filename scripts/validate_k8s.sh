#!/usr/bin/env bash
# Offline checks of the Kubernetes side (no cluster, no network): helm lint + template of the
# chart for its default values and examples, schema validation of every rendered document
# (core kinds with kubernetes-validate, spark-operator kinds against the operator's v2.5.2 CRDs
# that `make setup` installs with scripts/fetch_crds.sh),
# cron/time zones, the Dockerfile layout and the manifests' consistency with the jobs' CLIs.
# Add --all to also run the chart's pod commands locally (needs `make services`) and one job
# through spark-submit with the rendered arguments on the GitHub emulator (a few minutes).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
export PATH="$HOME/.cache/dataplatform/bin:$PATH"
command -v helm >/dev/null || { echo "helm missing: run make setup" >&2; exit 1; }
markers="k8s and not e2e and not integration"
if [ "${1:-}" = "--all" ]; then markers="k8s"; shift; fi
.venv/bin/python -m pytest -q -p no:cacheprovider tests/k8s -m "$markers" "$@"
