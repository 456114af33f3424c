#!/usr/bin/env bash
# The README's test command runs this: every test, with pytest's "no tests collected" (exit 5)
# treated as a failure, since a suite that runs nothing proves nothing.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
mkdir -p tests/artifacts
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit $rc
