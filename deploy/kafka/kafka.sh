#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, broker+controller) from Maven Central jars.
#
#   deploy/kafka/kafka.sh up      resolve jars, format storage once, start, wait for metadata
#   deploy/kafka/kafka.sh down    stop cleanly (SIGTERM, then SIGKILL after 60 s)
#   deploy/kafka/kafka.sh status  exit 0 when the broker answers metadata
#
# Settings (environment):
#   KAFKA_PORT             client listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  controller listener (default KAFKA_PORT + 1)
#   KAFKA_DATA_DIR         storage, config, pid and server.log (default cache/broker-PORT)
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms512m -Xmx1g)
#   KAFKA_EXTRA_CONFIG     a properties file appended to server.properties (later keys win)
#   KAFKA_FORMAT_ARGS      extra StorageTool format arguments (e.g. --add-scram ...)
#   KAFKA_CLIENT_CONFIG    client properties for the readiness probe (SASL/TLS listeners)
#   KAFKA_START_TIMEOUT    seconds to wait for metadata (default 90)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
libs="$here/cache/libs"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data="${KAFKA_DATA_DIR:-$here/cache/broker-$port}"
heap="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
timeout="${KAFKA_START_TIMEOUT:-90}"
pidfile="$data/kafka.pid"

log() { echo "kafka: $*" >&2; }

resolve_jars() {
  if [[ -f "$libs/.complete" && "$libs/.complete" -nt "$here/pom.xml" ]]; then
    return
  fi
  log "resolving jars from Maven Central into $libs"
  rm -rf "$libs"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$libs/.complete"
}

java_run() {
  java $heap -cp "$libs/*" -Dlog4j.configuration="file:$data/log4j.properties" "$@"
}

write_config() {
  mkdir -p "$data/logs"
  cat > "$data/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
log.dirs=$data/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
PROPERTIES
  if [[ -n "${KAFKA_EXTRA_CONFIG:-}" ]]; then
    cat "$KAFKA_EXTRA_CONFIG" >> "$data/server.properties"
  fi
  cat > "$data/log4j.properties" <<LOG4J
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$data/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
LOG4J
}

format_storage() {
  if [[ -f "$data/logs/meta.properties" ]]; then
    return
  fi
  local cluster_id="-"
  # A random base64url UUID, as Kafka makes them: never starting with "-" (an option to
  # StorageTool's parser).
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  log "formatting KRaft storage in $data/logs (cluster $cluster_id)"
  local extra=()
  set -f # KAFKA_FORMAT_ARGS is split on blanks, never globbed ([name=...] is not a pattern)
  # shellcheck disable=SC2206
  extra=(${KAFKA_FORMAT_ARGS:-})
  set +f
  java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" \
    "${extra[@]}" > "$data/format.log" 2>&1 || {
    cat "$data/format.log" >&2
    exit 1
  }
}

running() {
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers_metadata() {
  local config=()
  if [[ -n "${KAFKA_CLIENT_CONFIG:-}" ]]; then
    config=(--command-config "$KAFKA_CLIENT_CONFIG")
  fi
  KAFKA_HEAP_OPTS="" java -Xmx128m -cp "$libs/*" -Dlog4j.configuration="file:$data/log4j.properties" \
    kafka.admin.BrokerApiVersionsCommand --bootstrap-server "127.0.0.1:$port" "${config[@]}" \
    > /dev/null 2>&1
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

up() {
  resolve_jars
  if running; then
    log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
    return
  fi
  write_config
  format_storage
  log "starting on 127.0.0.1:$port (controller $controller_port), data $data"
  nohup java $heap -cp "$libs/*" -Dlog4j.configuration="file:$data/log4j.properties" \
    kafka.Kafka "$data/server.properties" > "$data/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + timeout))
  until port_open && answers_metadata; do
    if ! running; then
      log "the broker exited; last lines of $data/server.log:"
      tail -n 30 "$data/server.log" "$data/stdout.log" >&2 || true
      exit 1
    fi
    if ((SECONDS > deadline)); then
      log "no metadata answer within ${timeout}s; see $data/server.log"
      exit 1
    fi
    sleep 1
  done
  log "ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

down() {
  if ! running; then
    log "not running"
    rm -f "$pidfile"
    return
  fi
  local pid
  pid="$(cat "$pidfile")"
  kill -TERM "$pid"
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "no clean stop within 60 s; killing $pid"
    kill -KILL "$pid"
  fi
  rm -f "$pidfile"
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running && answers_metadata ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
