#!/usr/bin/env bash
# Submit a journeylake job to a Spark cluster (or local mode) with the jars of `make setup`.
#
#   deploy/spark-submit.sh JOB [job options...]        JOB: generate | ingest | silver | gold | run | tables
#
# Environment:
#   SPARK_MASTER      spark://host:7077, yarn, k8s://..., local[2] (default: local[2])
#   JOURNEYLAKE_ENV   configuration profile passed as --env (default: cluster)
#   SPARK_SUBMIT      the spark-submit to use (default: the virtual environment's)
#   SUBMIT_OPTS       extra spark-submit options, e.g. "--executor-memory 4g --num-executors 4"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
job=${1:?"usage: deploy/spark-submit.sh JOB [options]; JOB is generate, ingest, silver, gold, run or tables"}
shift
[[ -f "$root/jobs/$job.py" ]] || { echo "no job $job in $root/jobs" >&2; exit 2; }

python="$root/.venv/bin/python"
spark_submit=${SPARK_SUBMIT:-$root/.venv/bin/spark-submit}
jar_dir=${JOURNEYLAKE_JARS_DIR:-$root/.jars}
jars=$(find "$jar_dir" -name '*.jar' | sort | paste -sd, -)
[[ -n "$jars" ]] || { echo "no jars in $jar_dir: run make setup" >&2; exit 2; }

# Executors import journeylake from a zip of the package that travels with the job.
package_zip=$(mktemp -d)/journeylake.zip
(cd "$root/lib" && "$python" -m zipfile -c "$package_zip" journeylake)

export JOURNEYLAKE_CONF_DIR=${JOURNEYLAKE_CONF_DIR:-$root/conf}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$python}
export PYSPARK_DRIVER_PYTHON=${PYSPARK_DRIVER_PYTHON:-$python}
# shellcheck disable=SC2086 # SUBMIT_OPTS is a list of options on purpose
exec "$spark_submit" \
  --master "${SPARK_MASTER:-local[2]}" \
  --name "journeylake-$job" \
  --jars "$jars" \
  --py-files "$package_zip" \
  ${SUBMIT_OPTS:-} \
  "$root/jobs/$job.py" --env "${JOURNEYLAKE_ENV:-cluster}" "$@"
