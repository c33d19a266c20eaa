#!/usr/bin/env bash
# A single-node Apache Kafka broker in KRaft mode (no ZooKeeper) for journeylake's streaming jobs,
# run from the broker jars `make setup` resolved from Maven Central (.tools/kafka/libs).
#
# Usage: deploy/kafka.sh up|down|status
#   up      writes server.properties under the data folder, formats the storage once, starts the
#           broker in the background (log: <data>/server.log), waits until it serves, writes
#           <data>/kafka.pid
#   down    stops exactly the process of that pid file and waits until it is gone
#   status  says whether that process runs
#
# Settings (environment):
#   JOURNEYLAKE_KAFKA_DIR          data folder (default data/kafka: ignored by git)
#   JOURNEYLAKE_KAFKA_PORT         client port, bound to 127.0.0.1 (default: the port of
#                                  streaming.kafka.bootstrap_servers in conf/, read with $PYTHON)
#   JOURNEYLAKE_KAFKA_CONTROLLER_PORT  the KRaft controller's port (default: client port + 1)
#   JOURNEYLAKE_KAFKA_LIBS         broker jars (default .tools/kafka/libs)
#   JOURNEYLAKE_KAFKA_HEAP         broker heap (default 384m: the machine is shared with Spark)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-}
data_dir=$(realpath -m "${JOURNEYLAKE_KAFKA_DIR:-$root/data/kafka}")
libs=$(realpath -m "${JOURNEYLAKE_KAFKA_LIBS:-$root/.tools/kafka/libs}")
pid_file="$data_dir/kafka.pid"
properties="$data_dir/server.properties"
log_file="$data_dir/server.log"

say() { echo "kafka: $*"; }
fail() { echo "kafka: ERROR $*" >&2; exit 1; }

# The pid of the pid file when that process is still our broker (a pid can be reused by the
# system after the broker died: it is only ours if its command line names our properties).
running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $properties" || return 1
  echo "$pid"
}

port_answers() {  # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

configured_port() {
  local python=${PYTHON:-$root/.venv/bin/python}
  local servers
  servers=$(cd "$root" && "$python" -c \
    'from journeylake.core.config import load_config; print(load_config("local").streaming.kafka.bootstrap_servers)') \
    || fail "cannot read streaming.kafka.bootstrap_servers from conf/ (set JOURNEYLAKE_KAFKA_PORT)"
  local first=${servers%%,*}
  [[ "${first%:*}" == "127.0.0.1" || "${first%:*}" == "localhost" ]] \
    || fail "streaming.kafka.bootstrap_servers is $servers: make kafka-up runs a local broker on 127.0.0.1 only"
  echo "${first##*:}"
}

up() {
  if pid=$(running_pid); then
    say "already running (pid $pid, $data_dir)"
    return 0
  fi
  compgen -G "$libs/kafka_2.13-*.jar" >/dev/null \
    || fail "no Kafka broker jars in $libs: run make setup (it resolves org.apache.kafka:kafka_2.13 from Maven Central)"
  local port=${JOURNEYLAKE_KAFKA_PORT:-$(configured_port)}
  local controller_port=${JOURNEYLAKE_KAFKA_CONTROLLER_PORT:-$((port + 1))}
  for p in "$port" "$controller_port"; do
    ! port_answers "$p" || fail "port $p on 127.0.0.1 is already in use by another process"
  done
  mkdir -p "$data_dir/logs"
  # Single node: broker and controller in one process; every internal topic has one replica.
  cat >"$properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data_dir/logs
num.partitions=2
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$data_dir/log4j2.properties" <<EOF
appender.file.type=File
appender.file.name=file
appender.file.fileName=$log_file
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
EOF
  local java_opts=(-Xms128m "-Xmx${JOURNEYLAKE_KAFKA_HEAP:-384m}" -XX:+UseSerialGC
                   "-Dlog4j2.configurationFile=$data_dir/log4j2.properties")
  if [[ ! -f "$data_dir/logs/meta.properties" ]]; then
    # Kafka draws the cluster id itself: an id starting with "-" (1 random draw in 64)
    # would be read by StorageTool format as an option, and Kafka's own never starts so.
    local cluster_id
    cluster_id=$(java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid \
      2>>"$data_dir/format.log") || fail "drawing a cluster id failed; see $data_dir/format.log"
    say "formatting storage in $data_dir/logs (cluster $cluster_id)"
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$properties" >>"$data_dir/format.log" 2>&1 \
      || fail "formatting the storage failed; see $data_dir/format.log"
  fi
  nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$properties" \
    >>"$data_dir/stdout.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pid_file"
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      fail "the broker exited while starting; see $log_file and $data_dir/stdout.log"
    fi
    if port_answers "$port" && grep -q "Kafka Server started" "$log_file" 2>/dev/null; then
      say "broker up on 127.0.0.1:$port (pid $pid, data and logs in $data_dir)"
      return 0
    fi
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  fail "the broker did not start within 60 s; see $log_file"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pid_file"
    say "not running ($data_dir)"
    return 0
  fi
  kill "$pid"
  # A controlled shutdown flushes the logs; give it 30 s before forcing it.
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; say "stopped (pid $pid)"; return 0; }
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  say "killed (pid $pid) after 30 s without a clean shutdown"
}

status() {
  if pid=$(running_pid); then
    say "running (pid $pid, $data_dir)"
  else
    say "not running ($data_dir)"
    return 3
  fi
}

case "$command" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: deploy/kafka.sh up|down|status" >&2; exit 2 ;;
esac
