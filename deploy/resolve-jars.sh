#!/usr/bin/env bash
# Resolve journeylake's JVM jars (Delta Lake, GraphFrames, Spark's Kafka connector) with Maven
# into a local folder, and the Kafka broker `make kafka-up` runs into a tools folder.
# Usage: deploy/resolve-jars.sh JAR_DIR PYTHON [TOOLS_DIR]
#
# JAR_DIR is Spark's classpath (every jar under it, see core/spark_session.local_jars); the
# broker's jars (its own Scala and Jackson) go to TOOLS_DIR/kafka/libs (default: .tools beside
# JAR_DIR) so they never meet Spark's.
#
# Repositories: Maven Central, and before it every URL of $JOURNEYLAKE_MAVEN_REPOS
# (comma-separated; https:// for a company mirror, file:// for a folder in Maven layout).
# Safe to run twice: a stamp of the pom and the pyspark version skips work already done.
set -euo pipefail
jar_dir=$(realpath -m "${1:?jar folder}")
python=${2:?python of the virtual environment}
tools_dir=$(realpath -m "${3:-$(dirname "$jar_dir")/.tools}")
broker_dir="$tools_dir/kafka/libs"
here=$(cd "$(dirname "$0")" && pwd)
pom="$here/jars/pom.xml"

spark_jars=$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
stamp="$jar_dir/.stamp"
want="$(sha256sum "$pom" | cut -d' ' -f1) $(ls "$spark_jars" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && compgen -G "$jar_dir/delta/delta-spark_*.jar" >/dev/null \
   && compgen -G "$jar_dir/graphframes/graphframes-spark4_*.jar" >/dev/null \
   && compgen -G "$jar_dir/kafka/spark-sql-kafka-0-10_*.jar" >/dev/null \
   && compgen -G "$broker_dir/kafka_2.13-*.jar" >/dev/null; then
  echo "jars: up to date in $jar_dir"
  exit 0
fi

# The pom with the extra repositories: Maven takes repositories from the pom, and a copy keeps
# the user's own settings.xml (mirrors, proxies, credentials) in force.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repositories=""
index=0
IFS=',' read -ra urls <<<"${JOURNEYLAKE_MAVEN_REPOS:-}"
for url in "${urls[@]}"; do
  url=$(echo "$url" | xargs)
  [[ -n "$url" ]] || continue
  index=$((index + 1))
  repositories+="<repository><id>journeylake-extra-$index</id><url>$url</url></repository>"
done
sed "s#<!-- JOURNEYLAKE_MAVEN_REPOS -->#<repositories>$repositories</repositories>#" "$pom" >"$work/pom.xml"

rm -rf "$jar_dir"
mkdir -p "$jar_dir/delta" "$jar_dir/graphframes"
resolve() {  # what, output folder, maven options...
  local what=$1 out=$2
  shift 2
  echo "jars: resolving $what"
  if ! mvn -B -q -f "$work/pom.xml" "$@" dependency:copy-dependencies -DincludeScope=runtime \
       -DoutputDirectory="$out" >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    return 1
  fi
}
resolve "Delta Lake" "$jar_dir/delta" -P delta
if ! resolve "GraphFrames" "$jar_dir/graphframes" -U -P graphframes -DincludeGroupIds=io.graphframes; then
  rm -rf "$jar_dir"
  version=$(sed -n 's#.*<graphframes.version>\(.*\)</graphframes.version>.*#\1#p' "$pom")
  echo "jars: ERROR io.graphframes:graphframes-spark4_2.13:$version could not be resolved from Maven Central${JOURNEYLAKE_MAVEN_REPOS:+ or $JOURNEYLAKE_MAVEN_REPOS}." \
       "Set JOURNEYLAKE_MAVEN_REPOS to a Maven repository that serves io.graphframes (comma-separated" \
       "URLs; a company mirror, or file:///path/to/a/folder in Maven layout) and run make setup again." >&2
  exit 1
fi

resolve "Spark's Kafka connector" "$jar_dir/kafka" -P kafka-connector
rm -rf "$broker_dir"
resolve "the Kafka broker" "$broker_dir" -P kafka-broker

# Spark's own jars are provided: keep only what pyspark does not ship, so two versions of one
# library (hadoop, parquet, jackson, scala) never meet on the classpath.
"$python" "$here/prune_provided_jars.py" "$jar_dir" "$spark_jars"
echo "$want" >"$stamp"
echo "jars: $(find "$jar_dir" -name '*.jar' | wc -l) jars in $jar_dir," \
     "$(find "$broker_dir" -name '*.jar' | wc -l) Kafka broker jars in $broker_dir"
