#!/usr/bin/env bash
# make k8s-e2e: the single-node cluster up (scripts/k8s.sh), the spark-operator and the platform
# chart installed, every SparkApplication of tests/k8s/test_k8s_cluster.py run to its final state,
# each application's state and time printed, the cluster torn down; exit 0 only if all held.
# Binaries and images come from `make k8s-binaries images` (cached, so a second run reuses them).
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
started=$SECONDS
scripts/k8s.sh up || { echo "k8s-e2e: the cluster did not come up" >&2; scripts/k8s.sh down >/dev/null 2>&1; exit 1; }
up=$((SECONDS - started))
scripts/run_tests.sh tests/k8s/test_k8s_cluster.py
rc=$?
echo "k8s-e2e: applications (final state, seconds from kubectl apply):"
cat tests/artifacts/k8s-applications.txt 2>/dev/null || echo "  (none ran)"
scripts/k8s.sh down
echo "k8s-e2e: cluster up in ${up}s, whole run $((SECONDS - started))s, exit $rc"
exit $rc
