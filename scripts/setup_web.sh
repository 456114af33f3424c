#!/usr/bin/env bash
# The dashboard's side of `make setup` (idempotent):
#  - `npm ci` the pinned charting library (api/web/package-lock.json) and copy its UMD build into
#    api/static/vendor/, which the API serves itself, so the page works offline (no CDN);
#  - Debian's `chromium` for the browser test and `wrk` for the API benchmark, when missing and
#    we are root (Playwright drives the system chromium; it never downloads a browser).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
WEB="$HERE/api/web"
VENDOR="$HERE/api/static/vendor"
STAMP="$VENDOR/.lock.sha256"

want=$(sha256sum "$WEB/package-lock.json" | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$VENDOR/chart.umd.min.js" ]; then
  echo "dashboard vendor files up to date in $VENDOR"
else
  (cd "$WEB" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  mkdir -p "$VENDOR"
  src="$WEB/node_modules/chart.js/dist/chart.umd.min.js"
  [ -f "$src" ] || src="$WEB/node_modules/chart.js/dist/chart.umd.js"
  cp "$src" "$VENDOR/chart.umd.min.js"
  cp "$WEB/node_modules/chart.js/LICENSE.md" "$VENDOR/chart.js.LICENSE.md" 2>/dev/null || true
  echo "$want" > "$STAMP"
  echo "copied $(basename "$src") into $VENDOR"
fi

apt_install() {  # apt_install PACKAGE...: install, refreshing the package lists once if needed
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" || { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; }
}
[ "${WEB_TOOLS:-1}" = "1" ] || exit 0  # the demo's setup: the vendored library only
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt_install "${missing[@]}"
  else
    echo "not root: install ${missing[*]} yourself (Debian: apt-get install ${missing[*]}); the browser test and the API bench need them" >&2
  fi
fi
