#!/usr/bin/env bash
# Start or stop a one-machine Spark standalone cluster (a master and one worker) with the
# virtual environment's Spark. pip's pyspark has no sbin/start-master.sh, so both daemons are
# started through bin/spark-class.
#
#   deploy/standalone-cluster.sh start|stop|status
#
# Environment: SPARK_MASTER_PORT (7077), SPARK_WORKER_CORES (2), SPARK_WORKER_MEMORY (6g),
# CLUSTER_DIR (data/cluster: pid files, logs and the worker's scratch space).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
spark_class="$root/.venv/bin/spark-class"
port=${SPARK_MASTER_PORT:-7077}
dir=${CLUSTER_DIR:-$root/data/cluster}
master_url="spark://127.0.0.1:$port"
mkdir -p "$dir"

start_daemon() {  # name, class, args...
  local name=$1; shift
  if [[ -f "$dir/$name.pid" ]] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
    echo "$name already running"; return
  fi
  nohup "$spark_class" "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

wait_for() {  # pattern in a log
  for _ in $(seq 1 60); do
    grep -q "$2" "$dir/$1.log" 2>/dev/null && return 0
    sleep 1
  done
  echo "$1 did not start; see $dir/$1.log" >&2
  return 1
}

case ${1:-} in
  start)
    export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$root/.venv/bin/python"
    start_daemon master org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$port" --webui-port "${SPARK_MASTER_WEBUI_PORT:-8080}"
    wait_for master "I have been elected leader"
    start_daemon worker org.apache.spark.deploy.worker.Worker "$master_url" \
      --cores "${SPARK_WORKER_CORES:-2}" --memory "${SPARK_WORKER_MEMORY:-6g}" \
      --work-dir "$dir/work" --webui-port "${SPARK_WORKER_WEBUI_PORT:-8081}"
    wait_for worker "Successfully registered with master"
    echo "$master_url"
    ;;
  stop)
    for name in worker master; do
      if [[ -f "$dir/$name.pid" ]]; then
        kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
        rm -f "$dir/$name.pid"
      fi
    done
    ;;
  status)
    for name in master worker; do
      if [[ -f "$dir/$name.pid" ]] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
        echo "$name running (pid $(cat "$dir/$name.pid"))"
      else
        echo "$name stopped"
      fi
    done
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
