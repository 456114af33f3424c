#!/usr/bin/env bash
# Build the local Kubernetes cluster's binaries once from the Go module proxy and cache them under
# ~/.cache/dataplatform/k8s/<version>/bin: kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy, kubectl and etcd (tools/k8s/go.mod pins them), CoreDNS, the spark-operator
# (built inside its own module folder so its replace directives apply) and the pause binary
# (static C from the kubernetes module). A second run with the same versions does nothing.
# Cold on 2 cores: ~8 minutes (kube-apiserver dominates); warm: under a second.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${DATAPLATFORM_CACHE:-$HOME/.cache/dataplatform}"
K8S_VERSION="v1.34.4"
ETCD_VERSION="v3.6.4"
COREDNS_VERSION="v1.12.4"
OPERATOR_VERSION="v2.5.2"
BIN="$CACHE/k8s/$K8S_VERSION/bin"
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$BIN"

fail() { echo "build_k8s: $*" >&2; exit 1; }
command -v go >/dev/null || fail "go not found: needed to build the Kubernetes binaries"
stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$BIN/$1.version"; }

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

KUBE=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
todo=()
for c in "${KUBE[@]}"; do stamp_ok "$c" "$K8S_VERSION" || todo+=("k8s.io/kubernetes/cmd/$c"); done
if [ ${#todo[@]} -gt 0 ]; then
  echo "building ${todo[*]##*/} $K8S_VERSION (first time only, ~6 minutes cold)"
  (cd "$HERE/tools/k8s" && go build -trimpath -tags selinux,notest,grpcnotrace \
     -ldflags "-s -w $ldflags" -o "$BIN/" "${todo[@]}") || fail "the Kubernetes components did not build"
  for c in "${KUBE[@]}"; do stamp "$c" "$K8S_VERSION"; done
fi
if ! stamp_ok etcd "$ETCD_VERSION"; then
  echo "building etcd $ETCD_VERSION"
  (cd "$HERE/tools/k8s" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3) \
    || fail "etcd did not build"
  stamp etcd "$ETCD_VERSION"
fi
if ! stamp_ok coredns "$COREDNS_VERSION"; then
  echo "building coredns $COREDNS_VERSION"
  (cd /tmp && GOBIN="$BIN" go install "github.com/coredns/coredns@$COREDNS_VERSION") || fail "CoreDNS did not build"
  stamp coredns "$COREDNS_VERSION"
fi
if ! stamp_ok spark-operator "$OPERATOR_VERSION"; then
  echo "building spark-operator $OPERATOR_VERSION"
  dir="$(cd /tmp && go mod download -json "github.com/kubeflow/spark-operator/v2@$OPERATOR_VERSION" \
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" || fail "cannot download the spark-operator module"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$BIN/spark-operator" ./cmd/operator) \
    || fail "the spark-operator did not build"
  stamp spark-operator "$OPERATOR_VERSION"
fi
if ! stamp_ok pause "$K8S_VERSION"; then
  command -v gcc >/dev/null || fail "gcc not found: needed to build the pause binary"
  src="$GOMODCACHE/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
  [ -f "$src" ] || (cd "$HERE/tools/k8s" && go mod download k8s.io/kubernetes)
  gcc -Os -static -DVERSION="$K8S_VERSION" -o "$BIN/pause" "$src" || fail "the pause binary did not build"
  stamp pause "$K8S_VERSION"
fi
echo "kubernetes binaries ready in $BIN"
