#!/usr/bin/env bash
# Build the project's own Spark extension (jvm/: the `pageviews` data source) into jars/.
# Compiled with the JDK's javac against the jars of the pinned pyspark wheel (the same Spark the
# jobs run on), so no Maven download of Spark is needed; skipped when sources and Spark are unchanged.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${SPARK_JARS_DIR:-$HERE/jars}"
JAR="$OUT/dataplatform-pageviews.jar"
PYSPARK_JARS=$("$HERE/.venv/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
# Its own dependency beyond Spark (fetched by fetch_jars.sh): jlibdeflate.
DEPS=$(compgen -G "$OUT/jlibdeflate-*.jar" | head -1) || { echo "build_jvm: no jlibdeflate jar in $OUT (run scripts/fetch_jars.sh)" >&2; exit 1; }
want=$( (cd "$HERE/jvm" && find src -type f | LC_ALL=C sort | xargs sha256sum; ls "$PYSPARK_JARS" | grep '^spark-sql_'; basename "$DEPS") | sha256sum | cut -d' ' -f1)
STAMP="$OUT/.jvm.sha256"
if [ -f "$JAR" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then echo "jvm extension up to date: $JAR"; exit 0; fi
command -v javac >/dev/null || { echo "build_jvm: javac not found (a JDK 17 is needed to build jvm/)" >&2; exit 1; }
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
mkdir -p "$BUILD/classes" "$OUT"
javac --release 17 -Xlint:all,-path,-serial -Werror -d "$BUILD/classes" -cp "$PYSPARK_JARS/*:$DEPS" $(find "$HERE/jvm/src/main/java" -name '*.java')
cp -r "$HERE/jvm/src/main/resources/." "$BUILD/classes/"
jar --create --file "$BUILD/out.jar" -C "$BUILD/classes" .
mv "$BUILD/out.jar" "$JAR"
echo "$want" > "$STAMP"
echo "built $JAR"
