#!/usr/bin/env bash
# The spark-operator's CustomResourceDefinitions (SparkApplication, ScheduledSparkApplication),
# taken from the operator's own Go module at the version the chart deploys, so the k8s tests
# validate the rendered manifests against exactly what the API server would enforce.
# Why the Go module and not the PyPI package kubeflow-spark-api: that package's pydantic models
# drop unknown keys silently (a typo such as `coreLimitt` passes), know no enums (spec.type,
# restartPolicy.type, ...) and lag the operator (2.4.0 against 2.5.2); the module carries the
# generated CRDs themselves (config/crd/bases). `go mod download` checks the module against the
# Go checksum database; the pinned h1 sum below is checked again so a changed zip cannot slip in.
set -euo pipefail
CACHE="${DATAPLATFORM_CACHE:-$HOME/.cache/dataplatform}"
MODULE="github.com/kubeflow/spark-operator/v2"
VERSION="v2.5.2"
SUM="h1:6nX2UhwSfnYi1mtwczgFfJTMeLSL/1ajTvkFe8R7Vdc="
DEST="$CACHE/k8s/spark-operator-$VERSION/crds"
KINDS=(sparkoperator.k8s.io_sparkapplications.yaml sparkoperator.k8s.io_scheduledsparkapplications.yaml)

if [ "$(cat "$DEST/version" 2>/dev/null)" = "$MODULE@$VERSION $SUM" ]; then
  echo "spark-operator CRDs $VERSION ready in $DEST"
  exit 0
fi
command -v go >/dev/null || { echo "go not found: needed to fetch the spark-operator CRDs" >&2; exit 1; }
info="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION")" || {
  echo "cannot download $MODULE@$VERSION from the Go module proxy" >&2; exit 1; }
read -r dir got <<<"$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir",""), d.get("Sum",""))' <<<"$info")"
[ "$got" = "$SUM" ] || { echo "$MODULE@$VERSION: checksum $got, expected $SUM" >&2; exit 1; }
mkdir -p "$DEST"
for kind in "${KINDS[@]}"; do
  install -m 0644 "$dir/config/crd/bases/$kind" "$DEST/$kind"
done
echo "$MODULE@$VERSION $SUM" > "$DEST/version"
echo "spark-operator CRDs $VERSION ready in $DEST"
