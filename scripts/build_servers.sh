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

# No debug information: the linker's largest work on a MinIO-sized binary, which no one debugs here.
GO_BUILD_FLAGS=(-trimpath "-ldflags=-s -w")
stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }

# SERVERS (default: all three) selects which; those to build are built side by side.
WANT="${SERVERS:-minio ferretdb helm}"
wanted() { [[ " $WANT " == *" $1 "* ]]; }

build_minio() {
  echo "building minio $MINIO_VERSION (first time only, a few minutes)"
  (cd /tmp && CGO_ENABLED=0 GOBIN="$BIN" go install "${GO_BUILD_FLAGS[@]}" "github.com/minio/minio@$MINIO_VERSION")
  echo "$MINIO_VERSION" > "$BIN/minio.version"
}
build_ferretdb() {
  echo "building ferretdb $FERRETDB_VERSION (first time only)"
  (cd "$HERE/tools/ferretdb" && CGO_ENABLED=0 go build "${GO_BUILD_FLAGS[@]}" -o "$BIN/ferretdb" .)
  echo "$FERRETDB_VERSION" > "$BIN/ferretdb.version"
}
build_helm() {
  echo "building helm $HELM_VERSION (first time only)"
  (cd /tmp && CGO_ENABLED=0 GOBIN="$BIN" go install "${GO_BUILD_FLAGS[@]}" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  echo "$HELM_VERSION" > "$BIN/helm.version"
}

pids=()
for server in minio ferretdb helm; do
  version_var="${server^^}_VERSION"
  if wanted "$server" && ! stamp_ok "$server" "${!version_var}"; then
    "build_$server" & pids+=($!)
  fi
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
[ $rc -eq 0 ] || { echo "a server build failed" >&2; exit 1; }
echo "servers ready in $BIN"
