#!/usr/bin/env bash
# A Spark standalone cluster from the project's own pyspark: one master, two workers of one core
# each, every process by PID under .cluster/ (CLUSTER_DIR).
#
#   scripts/cluster.sh start            start what is not running (idempotent), wait for the workers
#   scripts/cluster.sh stop             stop everything by PID, remove the namespaces and work dirs
#   scripts/cluster.sh status
#   scripts/cluster.sh kill-worker N    SIGKILL worker N with its executors (a machine that dies)
#   scripts/cluster.sh env              print the settings a job needs to use the cluster
#
# Each worker runs with its own work and local dirs and an empty environment (env -i plus a few
# variables), so an executor has nothing of the driver's environment. As root (CLUSTER_NET=netns,
# the default when `ip netns` works), each worker also gets its own network namespace and address
# on a bridge (10.231.0.0/24), and its own mount namespace in which the project's folders are
# hidden under empty tmpfs: the executors see the venv's Python and pyspark (the interpreter and
# Spark an image would carry) and nothing else of the checkout, so jars and code must be shipped.
# Without root, CLUSTER_NET=loopback gives each worker a loopback alias (127.0.0.2, 127.0.0.3).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${CLUSTER_DIR:-$HERE/.cluster}"
WORKERS="${CLUSTER_WORKERS:-2}"
WORKER_CORES="${CLUSTER_WORKER_CORES:-1}"
WORKER_MEMORY="${CLUSTER_WORKER_MEMORY:-2g}"
MASTER_PORT="${CLUSTER_MASTER_PORT:-7077}"
MINIO_ADDR="${MINIO_ADDR:-127.0.0.1:9000}"
PY="$HERE/.venv/bin/python"
BRIDGE=dpcbr0
SUBNET=10.231.0
mkdir -p "$STATE"

net_mode() {
  case "${CLUSTER_NET:-auto}" in
    netns|loopback) echo "$CLUSTER_NET" ;;
    auto)
      if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then echo netns; else echo loopback; fi ;;
    *) echo "CLUSTER_NET must be netns, loopback or auto (got $CLUSTER_NET)" >&2; exit 2 ;;
  esac
}
NET="$(cat "$STATE/net" 2>/dev/null || net_mode)"
if [ "$NET" = netns ]; then MASTER_HOST="$SUBNET.1"; else MASTER_HOST=127.0.0.1; fi
worker_host() { if [ "$NET" = netns ]; then echo "$SUBNET.$((10 + $1))"; else echo "127.0.0.$((1 + $1))"; fi; }

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

spark_home() { "$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'; }
java_home() {
  if [ -n "${JAVA_HOME:-}" ]; then echo "$JAVA_HOME"; return; fi
  local java; java="$(command -v java)" || { echo "no java on PATH (install a JDK 17)" >&2; exit 1; }
  dirname "$(dirname "$(readlink -f "$java")")"
}

# The whole environment of a master or worker: nothing else of the caller's leaks in.
minimal_env() {  # home local_ip
  local jh sh; jh="$(java_home)"; sh="$(spark_home)"
  echo "PATH=$jh/bin:/usr/bin:/bin HOME=$1 LANG=C.UTF-8 JAVA_HOME=$jh SPARK_HOME=$sh"
  echo "SPARK_CONF_DIR=$STATE/conf SPARK_LOCAL_IP=$2 SPARK_LOG_DIR=$1"
}

setup_net() {
  [ "$NET" = netns ] || return 0
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  for i in $(seq 1 "$WORKERS"); do
    local ns="dpc-w$i"
    ip netns list | grep -qw "$ns" || ip netns add "$ns"
    if ! ip link show "dpc-w$i-h" >/dev/null 2>&1; then
      ip link add "dpc-w$i-h" type veth peer name "dpc-w$i-n"
      ip link set "dpc-w$i-n" netns "$ns"
      ip link set "dpc-w$i-h" master "$BRIDGE"
      ip link set "dpc-w$i-h" up
      ip netns exec "$ns" ip addr add "$(worker_host "$i")/24" dev "dpc-w$i-n"
      ip netns exec "$ns" ip link set "dpc-w$i-n" up
      ip netns exec "$ns" ip link set lo up
    fi
  done
}

teardown_net() {
  [ "$NET" = netns ] || return 0
  for i in $(seq 1 "$WORKERS"); do
    ip link del "dpc-w$i-h" 2>/dev/null || true
    ip netns del "dpc-w$i" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

write_conf() {
  mkdir -p "$STATE/conf"
  # The daemons log at WARN (a worker prints every executor launch at INFO) to their own files.
  cat >"$STATE/conf/log4j2.properties" <<'EOF'
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.deploy.name = org.apache.spark.deploy
logger.deploy.level = info
EOF
}

start_master() {
  if alive master; then return 0; fi
  mkdir -p "$STATE/master"
  # shellcheck disable=SC2046
  setsid env -i -C "$STATE/master" $(minimal_env "$STATE/master" "$MASTER_HOST") \
    SPARK_MASTER_OPTS="-Dspark.deploy.spreadOut=true" \
    "$(spark_home)/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host "$MASTER_HOST" --port "$MASTER_PORT" --webui-port 0 \
    >"$STATE/master.log" 2>&1 </dev/null &
  echo $! >"$STATE/master.pid"
  for _ in $(seq 1 150); do
    port_open "$MASTER_HOST:$MASTER_PORT" && return 0
    alive master || { echo "master exited at start-up; see $STATE/master.log" >&2; tail -n 5 "$STATE/master.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "master did not answer on $MASTER_HOST:$MASTER_PORT within 30 s" >&2; exit 1
}

start_relay() {
  [ "$NET" = netns ] || return 0
  if alive relay; then return 0; fi
  setsid "$PY" "$HERE/scripts/tcp_relay.py" "$MASTER_HOST:${MINIO_ADDR#*:}" "$MINIO_ADDR" \
    >"$STATE/relay.log" 2>&1 </dev/null &
  echo $! >"$STATE/relay.pid"
}

start_worker() {  # i
  local i=$1 name="worker$1" host; host="$(worker_host "$1")"
  if alive "$name"; then return 0; fi
  local dir="$STATE/w$i"
  rm -rf "$dir"; mkdir -p "$dir/work" "$dir/local"
  local opts="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=60"
  opts+=" -Dspark.worker.cleanup.appDataTtl=30"
  # shellcheck disable=SC2046
  local cmd=(env -i -C "$dir" $(minimal_env "$dir" "$host") SPARK_WORKER_DIR="$dir/work" SPARK_LOCAL_DIRS="$dir/local"
    SPARK_WORKER_OPTS="$opts"
    "$(spark_home)/bin/spark-class" org.apache.spark.deploy.worker.Worker
    --host "$host" --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" --work-dir "$dir/work"
    --webui-port 0 "spark://$MASTER_HOST:$MASTER_PORT")
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    # Hide the checkout's folders (not the hidden ones: .venv holds the interpreter, .cluster the
    # worker's own dirs) in a mount namespace of the worker's own.
    local hide=""
    for d in "$HERE"/*/; do hide+="mount -t tmpfs -o size=1m,ro tmpfs '${d%/}' && "; done
    local wrap=(unshare -m --propagation private sh -c "${hide}exec \"\$@\"" sh "${cmd[@]}")
    if [ "$NET" = netns ]; then wrap=(ip netns exec "dpc-w$i" "${wrap[@]}"); fi
    setsid "${wrap[@]}" >"$STATE/$name.log" 2>&1 </dev/null &
  else
    setsid "${cmd[@]}" >"$STATE/$name.log" 2>&1 </dev/null &
  fi
  echo $! >"$STATE/$name.pid"
}

wait_workers() {
  for i in $(seq 1 "$WORKERS"); do
    local name="worker$i"
    for _ in $(seq 1 300); do
      grep -q "Successfully registered with master" "$STATE/$name.log" 2>/dev/null && continue 2
      alive "$name" || { echo "$name exited at start-up; see $STATE/$name.log" >&2; tail -n 5 "$STATE/$name.log" >&2; exit 1; }
      sleep 0.2
    done
    echo "$name did not register with the master within 60 s; see $STATE/$name.log" >&2; exit 1
  done
}

write_env() {
  {
    echo "SPARK_MASTER=spark://$MASTER_HOST:$MASTER_PORT"
    # The address at which executors reach services on this machine (emulators, MinIO).
    echo "CLUSTER_SERVICE_HOST=$MASTER_HOST"
    echo "CLUSTER_S3_ENDPOINT_URL=http://$MASTER_HOST:${MINIO_ADDR#*:}"
    echo "CLUSTER_NET=$NET"
  } >"$STATE/cluster.env"
}

stop_one() {  # name: the whole process group (a worker's executors and Python workers too)
  if alive "$1"; then
    local pid; pid=$(cat "$STATE/$1.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$1.pid"
}

case "${1:-start}" in
  start)
    echo "$NET" >"$STATE/net"
    write_conf
    setup_net
    start_relay
    start_master
    for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done
    wait_workers
    write_env
    echo "cluster up: spark://$MASTER_HOST:$MASTER_PORT, $WORKERS workers x $WORKER_CORES core ($NET)"
    ;;
  stop)
    for i in $(seq 1 "$WORKERS"); do stop_one "worker$i"; done
    stop_one master
    stop_one relay
    teardown_net
    rm -rf "$STATE"
    echo "cluster stopped"
    ;;
  kill-worker)
    n="${2:?usage: $0 kill-worker N}"
    alive "worker$n" || { echo "worker$n is not running" >&2; exit 1; }
    kill -KILL -- "-$(cat "$STATE/worker$n.pid")"
    rm -f "$STATE/worker$n.pid"
    echo "worker$n killed"
    ;;
  status)
    alive master && echo "master up (spark://$MASTER_HOST:$MASTER_PORT)" || echo "master down"
    for i in $(seq 1 "$WORKERS"); do
      alive "worker$i" && echo "worker$i up ($(worker_host "$i"))" || echo "worker$i down"
    done
    ;;
  env)
    [ -f "$STATE/cluster.env" ] || { echo "no cluster: run scripts/cluster.sh start" >&2; exit 1; }
    cat "$STATE/cluster.env"
    ;;
  *) echo "usage: $0 start|stop|status|kill-worker N|env" >&2; exit 2 ;;
esac
