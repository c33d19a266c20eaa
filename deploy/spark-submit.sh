#!/usr/bin/env bash
# Submit a journeylake job to a Spark cluster (or local mode) with the jars of `make setup`.
#
#   deploy/spark-submit.sh JOB [job options...]        JOB: generate | ingest | silver | gold | train | score | run | tables
#
# Environment:
#   SPARK_MASTER      spark://host:7077, yarn, k8s://..., local[2] (default: local[2])
#   JOURNEYLAKE_ENV   configuration profile passed as --env (default: cluster)
#   SPARK_SUBMIT      the spark-submit to use (default: the virtual environment's)
#   SUBMIT_OPTS       extra spark-submit options, e.g. "--executor-memory 4g --num-executors 4"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
job=${1:?"usage: deploy/spark-submit.sh JOB [options]; JOB is generate, ingest, silver, gold, train, score, run or tables"}
shift
[[ -f "$root/jobs/$job.py" ]] || { echo "no job $job in $root/jobs" >&2; exit 2; }

python="$root/.venv/bin/python"
spark_submit=${SPARK_SUBMIT:-$root/.venv/bin/spark-submit}
jar_dir=${JOURNEYLAKE_JARS_DIR:-$root/.jars}
jars=$(find "$jar_dir" -name '*.jar' | sort | paste -sd, -)
[[ -n "$jars" ]] || { echo "no jars in $jar_dir: run make setup" >&2; exit 2; }

# The Python code travels with the job as one zip: journeylake, and graphframes-py, which a
# cluster does not ship (its JVM half comes with --jars).
package_zip=$(mktemp -d)/journeylake.zip
graphframes_dir=$("$python" -c 'import os, graphframes; print(os.path.dirname(os.path.dirname(graphframes.__file__)))')
(cd "$root/lib" && "$python" -m zipfile -c "$package_zip" journeylake)
(cd "$graphframes_dir" && "$python" - "$package_zip" <<'PY'
import sys, zipfile
from pathlib import Path
with zipfile.ZipFile(sys.argv[1], "a") as bundle:
    for path in sorted(Path("graphframes").rglob("*.py")):
        bundle.write(path)
    # zipimport cannot load namespace packages: give every folder an __init__.py.
    for folder in sorted({p.parent for p in Path("graphframes").rglob("*.py")}):
        if not (folder / "__init__.py").exists():
            bundle.writestr(str(folder / "__init__.py"), "")
PY
)

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
