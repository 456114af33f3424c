#!/usr/bin/env bash
# Fetch the JVM side once from Maven Central into jars/ (Delta, hadoop-aws and its AWS SDK v2
# bundle). Transitive jars that the pyspark wheel already ships (Hadoop client, Jackson, Parquet,
# logging...) are dropped so the classpath holds one copy of each library.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${SPARK_JARS_DIR:-$HERE/jars}"
STAMP="$OUT/.pom.sha256"
want=$(sha256sum "$HERE/tools/jars/pom.xml" | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then echo "jars up to date in $OUT"; exit 0; fi
# --download-only: fill the local Maven repository (~700 MB, mostly the AWS bundle) without the
# virtualenv, so a setup downloads them while pip installs; a later call then copies from it.
if [ "${1:-}" = "--download-only" ]; then
  (cd "$HERE/tools/jars" && mvn -q -B dependency:resolve -DincludeScope=runtime)
  echo "jars downloaded"; exit 0
fi
rm -rf "$OUT"; mkdir -p "$OUT"
(cd "$HERE/tools/jars" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$OUT")
PYSPARK_JARS=$("$HERE/.venv/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
for jar in "$OUT"/*.jar; do
  name=$(basename "$jar" .jar | sed -E 's/-[0-9][0-9A-Za-z.+-]*$//')
  if compgen -G "$PYSPARK_JARS/$name-[0-9]*.jar" >/dev/null; then rm -f "$jar"; fi
done
# Hadoop's shaded client is in the wheel under other names.
rm -f "$OUT"/hadoop-client-api-*.jar "$OUT"/hadoop-client-runtime-*.jar
echo "$want" > "$STAMP"
ls "$OUT"
