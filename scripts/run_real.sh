#!/usr/bin/env bash
# The three jobs against the real services. Needs the network, GITHUB_TOKEN (a token or a pool
# a,b,c), and for data.gouv.fr an S3 endpoint and a MongoDB (the local ones by default).
# Expected durations/sizes are in the README ("Running against the real sources").
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GITHUB_TOKEN:?set GITHUB_TOKEN (one token or several separated by commas)}"
export LAKE_ROOT="${LAKE_ROOT:-./lake}"
export S3_ENDPOINT_URL="${S3_ENDPOINT_URL:-http://127.0.0.1:9000}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-minioadmin}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-miniopassword}"
ORG="${ORG:-facebook}"
# Seven full days ending two days ago: the hourly dumps lag real time by about two hours.
START="${WIKI_START_DATE:-$(date -u -d '9 days ago' +%F)}"
scripts/services.sh start
.venv/bin/python -m jobs.github_contributors --org "$ORG"
.venv/bin/python -m jobs.wikimedia_pageviews --start-date "$START" --days 7 --wiki enwiki
.venv/bin/python -m jobs.datagouv_catalog
echo "done: serve the results with 'make api'"
