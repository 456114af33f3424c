#!/usr/bin/env bash
# Build the local servers once from the Go module proxy and cache them under ~/.cache.
# MinIO: the upstream repository is archived; the proxy does not serve the tag
# RELEASE.2025-10-15T17-29-55Z by name, so we pin the last commit of the archived repository
# (the tag plus README changes and two small S3 conditional-write fixes).
set -euo pipefail
BIN="${DATAPLATFORM_CACHE:-$HOME/.cache/dataplatform}/bin"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
FERRETDB_VERSION="v1.24.2"
HELM_VERSION="v3.21.4"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$BIN"

stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }

if ! stamp_ok minio "$MINIO_VERSION"; then
  echo "building minio $MINIO_VERSION (first time only, a few minutes)"
  (cd /tmp && CGO_ENABLED=0 GOBIN="$BIN" go install "github.com/minio/minio@$MINIO_VERSION")
  echo "$MINIO_VERSION" > "$BIN/minio.version"
fi
if ! stamp_ok ferretdb "$FERRETDB_VERSION"; then
  echo "building ferretdb $FERRETDB_VERSION (first time only)"
  (cd "$HERE/tools/ferretdb" && CGO_ENABLED=0 go build -o "$BIN/ferretdb" .)
  echo "$FERRETDB_VERSION" > "$BIN/ferretdb.version"
fi
if ! stamp_ok helm "$HELM_VERSION"; then
  echo "building helm $HELM_VERSION (first time only)"
  (cd /tmp && CGO_ENABLED=0 GOBIN="$BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  echo "$HELM_VERSION" > "$BIN/helm.version"
fi
echo "servers ready in $BIN"
