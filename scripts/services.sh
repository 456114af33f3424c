#!/usr/bin/env bash
# Start/stop the local MinIO (127.0.0.1:9000) and FerretDB (127.0.0.1:27017) by PID.
# Starting twice is harmless: a server already answering is left alone.
set -euo pipefail
BIN="${DATAPLATFORM_CACHE:-$HOME/.cache/dataplatform}/bin"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${SERVICES_DIR:-$HERE/.services}"
MINIO_ADDR="${MINIO_ADDR:-127.0.0.1:9000}"
MONGO_ADDR="${MONGO_ADDR:-127.0.0.1:27017}"
export MINIO_ROOT_USER="${MINIO_ROOT_USER:-minioadmin}"
export MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-miniopassword}"
mkdir -p "$STATE"

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

wait_for() {  # name addr
  for _ in $(seq 1 150); do
    if port_open "$2"; then return 0; fi
    if ! alive "$1"; then echo "$1 exited at start-up; see $STATE/$1.log" >&2; tail -n 5 "$STATE/$1.log" >&2; return 1; fi
    sleep 0.2
  done
  echo "$1 did not answer on $2 within 30 s; see $STATE/$1.log" >&2
  return 1
}

start_one() {  # name addr command...
  local name=$1 addr=$2; shift 2
  if port_open "$addr"; then echo "$name already answering on $addr"; return 0; fi
  [ -x "$1" ] || { echo "$1 missing: run 'make setup'" >&2; return 1; }
  nohup "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
  wait_for "$name" "$addr"
  echo "$name up on $addr (pid $(cat "$STATE/$name.pid"))"
}

wait_minio_ready() {
  for _ in $(seq 1 150); do
    curl -fsS "http://$MINIO_ADDR/minio/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "minio not ready" >&2; return 1
}

stop_one() {
  if alive "$1"; then
    local pid; pid=$(cat "$STATE/$1.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "$1 stopped"
  fi
  rm -f "$STATE/$1.pid"
}

case "${1:-start}" in
  start)
    MINIO_BROWSER=off start_one minio "$MINIO_ADDR" "$BIN/minio" server "$STATE/minio-data" --address "$MINIO_ADDR" --quiet
    wait_minio_ready
    start_one ferretdb "$MONGO_ADDR" "$BIN/ferretdb" --listen-addr "$MONGO_ADDR" --sqlite-dir "$STATE/ferretdb-data"
    ;;
  stop)
    stop_one ferretdb
    stop_one minio
    ;;
  status)
    for s in minio:$MINIO_ADDR ferretdb:$MONGO_ADDR; do
      if port_open "${s#*:}"; then echo "${s%%:*} up on ${s#*:}"; else echo "${s%%:*} down"; fi
    done
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
