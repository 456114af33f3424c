#!/usr/bin/env bash
# What `make demo` needs and only that, its independent parts side by side (idempotent):
#  - the virtualenv without the dev tools (the jars download meanwhile), then the JVM readers;
#  - the two servers, MinIO and FerretDB (Go builds: the longest part of a cold start);
#  - the dashboard's vendored chart library.
# No helm, operator CRDs, chromium or wrk: tests and benchmarks need them, and `make setup` adds
# them (and the dev tools) when they are wanted. Nor the driver's class archive: it saves each
# Spark start a few seconds and costs a minute of both cores to build; `make setup` builds it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
exec 3>&1  # the steps' own progress lines, beside their logs

python_side() {
  local stamp=.venv/.demo-installed began=$SECONDS
  scripts/fetch_jars.sh --download-only & local jars=$!  # Maven downloads while pip installs
  if [ ! -f .venv/.installed ] && { [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; }; then
    test -x .venv/bin/python || python3.11 -m venv .venv || python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt .
    touch "$stamp"
  fi
  echo "demo setup: pip ready ($((SECONDS - began)) s)" >&3
  wait "$jars" || true  # a failed download is fetch_jars.sh's to report, just below
  scripts/fetch_jars.sh
  echo "demo setup: jars ready ($((SECONDS - began)) s)" >&3
  scripts/build_jvm.sh
}

step() {  # step NAME COMMAND...: run it, its output kept apart; on failure show its end
  local name="$1"; shift
  local began=$SECONDS
  if "$@" >"$LOGS/$name.log" 2>&1; then
    echo "demo setup: $name ready ($((SECONDS - began)) s)"
  else
    echo "demo setup: $name failed:" >&2
    tail -n 30 "$LOGS/$name.log" >&2
    return 1
  fi
}

step python python_side & python=$!
step servers env SERVERS="minio ferretdb" scripts/build_servers.sh & servers=$!
step dashboard env WEB_TOOLS=0 scripts/setup_web.sh & dashboard=$!
rc=0
for pid in $python $servers $dashboard; do wait "$pid" || rc=1; done
exit $rc
