#!/usr/bin/env bash
# Every benchmark in bench/, one after the other (they must not share the 2 cores), results in
# bench/results/*.json. `BENCH=api_wrk scripts/run_bench.sh` runs one.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for script in bench/*.py; do
  name=$(basename "$script" .py)
  case "$name" in __init__ | results_file | realsize_files) continue ;; esac  # helpers, not benchmarks
  # Minutes of downloads and builds from empty caches: only when asked for by name.
  if [ "$name" = demo_cold ] && [ "${BENCH:-}" != demo_cold ]; then continue; fi
  if [ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ]; then continue; fi
  echo "== $name"
  .venv/bin/python -m "bench.$name"
done
