#!/usr/bin/env bash
# Resolve journeylake's JVM jars (Delta, GraphFrames) from Maven Central into a local folder.
# Usage: deploy/resolve-jars.sh JAR_DIR PYTHON
# Safe to run twice: a stamp of the pom and the pyspark version skips work already done, whatever
# the optional GraphFrames step found (`rm JAR_DIR/.stamp` to resolve again).
set -euo pipefail
jar_dir=$(realpath -m "${1:?jar folder}")
python=${2:?python of the virtual environment}
here=$(cd "$(dirname "$0")" && pwd)
pom="$here/jars/pom.xml"

spark_jars=$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
stamp="$jar_dir/.stamp"
want="$(sha256sum "$pom" | cut -d' ' -f1) $(ls "$spark_jars" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$jar_dir/delta/delta-spark_*.jar" >/dev/null; then
  echo "jars: up to date in $jar_dir"
  exit 0
fi

rm -rf "$jar_dir"
mkdir -p "$jar_dir/delta" "$jar_dir/graphframes"
echo "jars: resolving Delta Lake from Maven Central"
mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$jar_dir/delta"

echo "jars: resolving GraphFrames from Maven Central"
graphframes_ok=true
if mvn -B -q -U -f "$pom" -P graphframes dependency:copy-dependencies -DincludeScope=runtime \
     -DincludeGroupIds=io.graphframes -DoutputDirectory="$jar_dir/graphframes" >"$jar_dir/graphframes.log" 2>&1; then
  rm -f "$jar_dir/graphframes.log"
else
  graphframes_ok=false
  rm -rf "$jar_dir/graphframes"
  echo "jars: WARNING Maven Central did not serve io.graphframes:graphframes-spark4_2.13; graph" \
       "features fall back to journeylake's DataFrame implementations (details: $jar_dir/graphframes.log)" >&2
fi

# Spark's own jars are provided: keep only what pyspark does not ship, so two versions of one
# library (hadoop, parquet, jackson, scala) never meet on the classpath.
"$python" "$here/prune_provided_jars.py" "$jar_dir" "$spark_jars"
# The outcome of the GraphFrames step is kept beside the stamp; it does not make the next call
# resolve everything again.
if $graphframes_ok; then echo "resolved" >"$jar_dir/graphframes.status"; else echo "unavailable" >"$jar_dir/graphframes.status"; fi
echo "$want" >"$stamp"
echo "jars: $(find "$jar_dir" -name '*.jar' | wc -l) jars in $jar_dir"
