#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the end-to-end tests and a local try:
#   scripts/k8s.sh up      etcd, kube-apiserver, controller-manager, scheduler, containerd + runc +
#                          a CNI bridge, kubelet, kube-proxy and CoreDNS, each a host process run
#                          by PID; the project's images imported into containerd (no registry)
#   scripts/k8s.sh env     prints KUBECONFIG=... (eval it, or export it by hand)
#   scripts/k8s.sh status  the node and every pod
#   scripts/k8s.sh load IMAGE...   (re)import images from podman into the cluster's containerd
#   scripts/k8s.sh down    stops every process by PID, removes pods, mounts, network and state
# Binaries: scripts/build_k8s.sh (cached under ~/.cache/dataplatform/k8s/<version>). Images:
# scripts/images.sh. Needs root, containerd, runc and the CNI plugins (Debian packages).
# Network: pods on 10.244.0.0/24 behind the bridge dpk8s0 (10.244.0.1 is this host as pods see
# it: the API server, CoreDNS and anything the host serves on 0.0.0.0), services on 10.96.0.0/24.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${DATAPLATFORM_CACHE:-$HOME/.cache/dataplatform}"
K8S_VERSION="v1.34.4"
BIN="$CACHE/k8s/$K8S_VERSION/bin"
STATE="${K8S_STATE_DIR:-$HERE/.k8s}"
RUN="/run/dataplatform-k8s"
CONTAINERD_ROOT="$CACHE/k8s/containerd"   # image content kept between clusters (a cache)
BRIDGE="dpk8s0"
HOST_IP="10.244.0.1"
POD_CIDR="10.244.0.0/24"
SERVICE_CIDR="10.96.0.0/24"
API_PORT="${K8S_API_PORT:-6443}"
ETCD_PORT="${K8S_ETCD_PORT:-2479}"
NODE="dataplatform-node"
IMAGES=(${K8S_IMAGES:-spark api operator minio ferretdb pause})  # K8S_IMAGES: a subset to import
PAUSE_IMAGE="localhost/dataplatform-pause:dev"
export PATH="$BIN:$PATH"
export KUBECONFIG="$STATE/admin.kubeconfig"

fail() { echo "k8s: $*" >&2; exit 1; }
log() { echo "k8s: $*"; }
alive() { [ -f "$STATE/pids/$1" ] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

preflight() {
  [ "$(id -u)" = 0 ] || fail "must run as root (containerd, the kubelet and the bridge need it)"
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns; do
    [ -x "$BIN/$b" ] || fail "$BIN/$b missing: run scripts/build_k8s.sh (or make k8s-binaries)"
  done
  for c in containerd ctr runc openssl iptables ip; do
    command -v "$c" >/dev/null || fail "$c not found: apt-get install containerd runc containernetworking-plugins iptables iproute2 openssl"
  done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] \
    || fail "CNI plugins missing in /usr/lib/cni: apt-get install containernetworking-plugins"
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] \
    || fail "no usable cgroup hierarchy under /sys/fs/cgroup"
  [ -d /proc/sys/net/bridge ] || fail "the kernel lacks br_netfilter (/proc/sys/net/bridge): services cannot route"
  local p
  for p in "$API_PORT" "$ETCD_PORT" 10250 10256 10257 10259; do
    ! port_busy 127.0.0.1 "$p" || fail "port $p is in use (another cluster? run scripts/k8s.sh down)"
  done
}

# --- certificates: one CA; an API server certificate; one admin (system:masters) client for
# every component (a test cluster); the service-account key pair. ---
certs() {
  local d="$STATE/pki"
  [ -f "$d/admin.crt" ] && return 0
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=dataplatform-k8s-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  cat >"$d/apiserver.ext" <<EOF
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:10.96.0.1,IP:$HOST_IP,IP:127.0.0.1
extendedKeyUsage=serverAuth
EOF
  issue apiserver "/CN=kube-apiserver" "$d/apiserver.ext"
  printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
  issue admin "/O=system:masters/CN=dataplatform-admin" "$d/client.ext"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

issue() {  # name subject extfile
  local d="$STATE/pki"
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
  openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
    -extfile "$3" -out "$d/$1.crt" 2>/dev/null
}

kubeconfig() {
  cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dataplatform
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$STATE/pki/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$STATE/pki/admin.crt", client-key: "$STATE/pki/admin.key"}
contexts:
- name: dataplatform
  context: {cluster: dataplatform, user: admin}
current-context: dataplatform
EOF
}

start() {  # name command... : a host process, logged and remembered by PID
  local name=$1; shift
  alive "$name" && return 0
  nohup "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name"
}

wait_until() {  # seconds what command...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "$what not ready after ${secs}s (logs: $STATE/logs)"
    sleep 1
  done
}

network() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr show dev "$BRIDGE" | grep -q "$HOST_IP/" || ip addr add "$HOST_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  mkdir -p "$STATE/cni"
  cat >"$STATE/cni/10-dataplatform.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "dataplatform", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni-ipam", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$HOST_IP"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
}

containerd_up() {
  mkdir -p "$RUN" "$CONTAINERD_ROOT"
  # restrict_oom_score_adj: this machine refuses to lower oom_score_adj even for root, and the CRI
  # gives sandboxes -998, so without the clamp every pod sandbox fails at runc create.
  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$RUN/containerd"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
EOF
  start containerd containerd --config "$STATE/containerd.toml"
  wait_until 30 containerd ctr --address "$RUN/containerd.sock" version
}

ctr_k8s() { ctr --address "$RUN/containerd.sock" -n k8s.io "$@"; }

load_images() {  # names... : import from podman's store when containerd lacks that image id
  # shellcheck source=images.sh
  . "$HERE/scripts/images.sh"  # podman() on the project's image storage
  local name ref id
  for name in "$@"; do
    ref="localhost/dataplatform-$name:dev"
    id="$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null)" || fail "image $ref missing: run make images"
    if [ "$(cat "$CONTAINERD_ROOT/loaded-$name" 2>/dev/null)" = "$id" ] && ctr_k8s images ls -q | grep -x "$ref" >/dev/null; then  # no -q: SIGPIPE under pipefail
      continue
    fi
    log "importing $ref into containerd"
    podman save --format docker-archive "$ref" | ctr_k8s images import --all-platforms - >/dev/null \
      || fail "import of $ref into containerd failed"
    echo "$id" >"$CONTAINERD_ROOT/loaded-$name"
  done
  # The CRI names each image by its id too (sha256:<id>): the versions imports replaced stay named
  # so, and a new image per commit grows the store by GBs. Removing every id name that is not a
  # loaded image's lets containerd collect them.
  local keep stale
  keep="$(sed 's/^/sha256:/' "$CONTAINERD_ROOT"/loaded-*)"
  stale="$(ctr_k8s images ls -q | grep -E '^(sha256:|import-)' | grep -vxF "$keep" || true)"
  [ -z "$stale" ] || ctr_k8s images rm --sync $stale >/dev/null  # word-split: one name per line
}

control_plane() {
  start etcd etcd --name "$NODE" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "$NODE=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --quota-backend-bytes 2147483648 --log-level warn
  local p="$STATE/pki"
  start kube-apiserver kube-apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$HOST_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --client-ca-file "$p/ca.crt" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --kubelet-client-certificate "$p/admin.crt" --kubelet-client-key "$p/admin.key" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --enable-aggregator-routing=true --kubelet-preferred-address-types InternalIP,Hostname
  wait_until 120 kube-apiserver kubectl get --raw /readyz
  start kube-controller-manager kube-controller-manager --kubeconfig "$KUBECONFIG" \
    --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --leader-elect=false --bind-address 127.0.0.1
  start kube-scheduler kube-scheduler --kubeconfig "$KUBECONFIG" \
    --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
    --leader-elect=false --bind-address 127.0.0.1
}

node() {
  mkdir -p "$STATE/kubelet" "$STATE/manifests"
  printf 'nameserver %s\nsearch dataplatform.svc.cluster.local svc.cluster.local cluster.local\n' "$HOST_IP" \
    >"$STATE/pod-resolv.conf"
  # CoreDNS answers for pods; the host's own resolver is what CoreDNS forwards the rest to.
  grep -v '^search' /etc/resolv.conf >"$STATE/upstream-resolv.conf" || true
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Hybrid cgroups here: no QoS hierarchy, no node-allocatable enforcement (kubepods fails to start).
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://$RUN/containerd.sock
staticPodPath: $STATE/manifests
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: "$STATE/pki/ca.crt"}}
authorization: {mode: AlwaysAllow}
clusterDNS: ["$HOST_IP"]
clusterDomain: cluster.local
resolvConf: "$STATE/upstream-resolv.conf"
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 100
readOnlyPort: 0
serializeImagePulls: false
podLogsDir: "$STATE/pod-logs"
EOF
  start kubelet kubelet --config "$STATE/kubelet.yaml" --kubeconfig "$KUBECONFIG" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE" --node-ip "$HOST_IP"
  start kube-proxy kube-proxy --kubeconfig "$KUBECONFIG" --proxy-mode iptables \
    --cluster-cidr "$POD_CIDR" --masquerade-all --hostname-override "$NODE" \
    --bind-address 127.0.0.1 --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 \
    --conntrack-max-per-core 0
  cat >"$STATE/Corefile" <<EOF
.:53 {
    bind $HOST_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG dataplatform
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . $STATE/upstream-resolv.conf
    cache 5
}
EOF
  start coredns coredns -conf "$STATE/Corefile"
  wait_until 120 "node $NODE" kubectl wait --for=condition=Ready "node/$NODE" --timeout=5s
}

up() {
  if alive kube-apiserver && kubectl get --raw /readyz >/dev/null 2>&1; then
    log "cluster already up: export KUBECONFIG=$KUBECONFIG"
    return 0
  fi
  preflight
  mkdir -p "$STATE/logs" "$STATE/pids"
  certs
  kubeconfig
  network
  containerd_up
  load_images "${IMAGES[@]}"
  control_plane
  node
  wait_until 60 "default service account" kubectl -n default get serviceaccount default
  log "cluster up in ${SECONDS}s: export KUBECONFIG=$KUBECONFIG"
}

stop_pid() {
  local f="$STATE/pids/$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

down() {
  [ -d "$STATE" ] || { log "nothing to stop"; return 0; }
  stop_pid kubelet
  if [ -S "$RUN/containerd.sock" ] && alive containerd; then
    # Every container and sandbox this cluster ran, then the tasks' shims.
    local c
    for c in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    sleep 1
    for c in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks rm -f "$c" >/dev/null 2>&1 || true; done
    for c in $(ctr_k8s containers ls -q 2>/dev/null); do ctr_k8s containers rm "$c" >/dev/null 2>&1 || true; done
  fi
  for p in coredns kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do stop_pid "$p"; done
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $RUN/containerd.sock" 2>/dev/null || true
  [ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # Mounts under the kubelet's and containerd's folders (secrets, emptyDirs, rootfs), deepest first.
  grep -oE " ($STATE|$RUN|$CONTAINERD_ROOT)/[^ ]*" /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  # The pods' veths (deleting one end deletes the pair), then the bridge; then the network
  # namespaces the CRI left as nsfs mounts (umount + rm: `ip netns` would first bind-mount
  # /run/netns over itself and hide them).
  for n in $(ip -o link show master "$BRIDGE" type veth 2>/dev/null | awk -F'[ @:]+' '{print $2}'); do
    ip link del "$n" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  for n in /run/netns/cni-*; do
    [ -e "$n" ] || continue
    umount "$n" 2>/dev/null || true
    rm -f "$n" 2>/dev/null || true
  done
  rm -rf "$STATE" "$RUN"
  log "cluster stopped and removed"
}

status() {
  kubectl get nodes -o wide
  kubectl get pods -A -o wide
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG" ;;
  status) status ;;
  load) shift; mkdir -p "$STATE/pids"; load_images "$@" ;;
  *) echo "usage: $0 up|down|env|status|load IMAGE..." >&2; exit 2 ;;
esac
