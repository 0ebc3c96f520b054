#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) for dev and
# integration tests. No Docker and no Kafka tarball: the broker jars come from
# Maven Central (see kafka-pom.xml) and run as `java kafka.Kafka server.properties`.
#
# Usage: deploy/local/kafka.sh start|stop|restart|status
#
# Environment:
#   LEADFARM_CACHE_DIR               jar cache root        (default: $HOME/.cache/leadfarm)
#   LEADFARM_LOCAL_DIR               runtime state root    (default: /tmp/leadfarm-local)
#   LEADFARM_KAFKA_PORT              client port           (default: 9092, on 127.0.0.1)
#   LEADFARM_KAFKA_CONTROLLER_PORT   KRaft controller port (default: 9093, on 127.0.0.1)
#   LEADFARM_KAFKA_FRESH=1           wipe the data dir before starting (start/restart)
#
# All subcommands are idempotent.
set -euo pipefail

readonly KAFKA_VERSION=3.9.1
readonly DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly POM="$SCRIPT_DIR/kafka-pom.xml"

readonly CACHE_DIR="${LEADFARM_CACHE_DIR:-$HOME/.cache/leadfarm}/kafka-$KAFKA_VERSION"
readonly LIBS_DIR="$CACHE_DIR/libs"
# Written only after copy-dependencies succeeded; holds the pom checksum so that
# editing kafka-pom.xml re-resolves the jars.
readonly LIBS_MARKER="$CACHE_DIR/libs.complete"

readonly STATE_DIR="${LEADFARM_LOCAL_DIR:-/tmp/leadfarm-local}/kafka"
readonly DATA_DIR="$STATE_DIR/data"
readonly SERVER_PROPS="$STATE_DIR/server.properties"
readonly LOG4J_PROPS="$STATE_DIR/log4j.properties"
readonly LOG_FILE="$STATE_DIR/kafka.log"
readonly PID_FILE="$STATE_DIR/kafka.pid"
readonly LOCK_FILE="$STATE_DIR/.lock"

readonly HOST=127.0.0.1
readonly PORT="${LEADFARM_KAFKA_PORT:-9092}"
readonly CONTROLLER_PORT="${LEADFARM_KAFKA_CONTROLLER_PORT:-9093}"
readonly BOOTSTRAP="$HOST:$PORT"

readonly START_TIMEOUT=240  # seconds until "Kafka Server started" + answering port (a cold start loads every partition)
readonly STOP_TIMEOUT=20    # seconds between SIGTERM and SIGKILL

# Heap per the brief; GC flags are the ones kafka-run-class.sh uses.
readonly JAVA_OPTS=(
  -Xms256m -Xmx768m
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent
  -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$LOG4J_PROPS"
)

log() { printf '[kafka.sh] %s\n' "$*"; }
die() { printf '[kafka.sh] ERROR: %s\n' "$*" >&2; exit 1; }

# Serialise concurrent invocations (e.g. parallel test workers calling provision.sh).
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 180 9 || die "could not lock $LOCK_FILE within 180 s"
}

# --- probes -----------------------------------------------------------------

# True if something accepts TCP connections on $1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# True if a Kafka broker answers on $PORT. Sends a raw ApiVersions v0 request
# (no client library needed) and checks the response header: 4-byte size,
# correlation id 1, error code 0.
#   request = size(12) | api_key 18 | api_version 0 | correlation_id 1 | client_id "lf"
kafka_answers() {
  local reply
  # shellcheck disable=SC2016  # $0/$1 are expanded by the inner bash
  reply=$(timeout 5 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02lf" >&3
      head -c 10 <&3 | od -An -tx1 | tr -d " \n"
    ' "$HOST" "$PORT" 2>/dev/null) || return 1
  [[ "$reply" =~ ^[0-9a-f]{8}000000010000$ ]]
}

# Pid of the broker this script started, if that process is still alive.
broker_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid=$(<"$PID_FILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # Guard against pid reuse: the process must really be our kafka.Kafka.
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "kafka\.Kafka $SERVER_PROPS" || return 1
  echo "$pid"
}

# --- jars -------------------------------------------------------------------

ensure_jars() {
  local want
  want="$KAFKA_VERSION $(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$LIBS_MARKER" && "$(<"$LIBS_MARKER")" == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to download the Kafka jars)"
  log "resolving Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR ..."
  local t0=$SECONDS
  rm -rf "$LIBS_DIR" "$LIBS_MARKER"
  mkdir -p "$CACHE_DIR"
  # maven-dependency-plugin is named explicitly: Maven 3.8.7 would default to 2.8.
  # Output goes to a file: even with -B -q, Maven 3.8.7 prints stray ANSI resets.
  mvn -B -q -f "$POM" "$DEPENDENCY_PLUGIN:copy-dependencies" \
      -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$LIBS_DIR" \
      >"$CACHE_DIR/mvn.log" 2>&1 9>&- \
    || { tail -n 40 "$CACHE_DIR/mvn.log" >&2; die "mvn copy-dependencies failed (see $CACHE_DIR/mvn.log)"; }
  [[ -f "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
  echo "$want" >"$LIBS_MARKER"
  log "jars ready ($(find "$LIBS_DIR" -name '*.jar' | wc -l) jars) in $((SECONDS - t0)) s"
}

# --- config -----------------------------------------------------------------

write_config() {
  mkdir -p "$DATA_DIR"
  # Rewritten on every start so that port changes take effect; the data dir
  # (with the cluster id in meta.properties) is what persists.
  cat >"$SERVER_PROPS" <<EOF
# Generated by deploy/local/kafka.sh -- edits are overwritten on start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
# CONTROLLER must not be advertised.
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
# Single node: internal topics must have RF 1 or groups/transactions never get a
# coordinator; 1 partition instead of 50 keeps the first use cheap.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=2
num.io.threads=2
EOF

  cat >"$LOG4J_PROPS" <<'EOF'
# Generated by deploy/local/kafka.sh. Everything goes to stdout, which the
# script redirects to kafka.log.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# Per-request logging is far too chatty for a test broker.
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
}

# A Kafka Uuid is 16 random bytes, base64url without padding (22 chars).
# Re-roll ids starting with '-': StorageTool's argparse would read them as a flag.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ "$id" != -* ]] && { echo "$id"; return; }
  done
}

# Format the KRaft storage once per data dir. A static controller.quorum.voters
# means no --standalone (that is only for the dynamic quorum, KIP-853).
format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local id t0=$SECONDS
  id=$(new_cluster_id)
  log "formatting $DATA_DIR (cluster id $id) ..."
  java -cp "$LIBS_DIR/*" "-Dlog4j.configuration=file:$LOG4J_PROPS" \
      kafka.tools.StorageTool format -t "$id" -c "$SERVER_PROPS" --ignore-formatted \
      >"$STATE_DIR/format.log" 2>&1 9>&- \
    || { cat "$STATE_DIR/format.log" >&2; die "kafka-storage format failed"; }
  log "formatted in $((SECONDS - t0)) s"
}

# --- subcommands ------------------------------------------------------------

wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      echo "----- last lines of $LOG_FILE -----" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      die "broker process $pid exited during startup"
    fi
    # An open port alone is not enough: listeners bind before the broker is
    # unfenced. "Kafka Server started" is logged after that point.
    if grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null && kafka_answers; then
      return 0
    fi
    sleep 0.5
  done
  echo "----- last lines of $LOG_FILE -----" >&2
  tail -n 40 "$LOG_FILE" >&2 || true
  die "broker (pid $pid) not ready after $START_TIMEOUT s; still running, see $LOG_FILE"
}

cmd_start() {
  local pid
  if pid=$(broker_pid); then
    if kafka_answers && grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null; then
      [[ "${LEADFARM_KAFKA_FRESH:-0}" == 1 ]] && log "note: LEADFARM_KAFKA_FRESH=1 ignored, broker already running (use restart)"
      log "already running (pid $pid)"
      log "bootstrap: $BOOTSTRAP"
      return 0
    fi
    # Our broker is still starting up (e.g. a concurrent start): just wait for it.
    log "broker pid $pid is starting, waiting ..."
    wait_ready "$pid"
    log "ready; bootstrap: $BOOTSTRAP"
    return 0
  fi
  if kafka_answers; then
    log "a Kafka broker not started by this script already answers on $BOOTSTRAP; using it"
    log "bootstrap: $BOOTSTRAP"
    return 0
  fi
  port_open "$PORT" && die "port $PORT is in use by something that is not a Kafka broker"
  port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is already in use"

  command -v java >/dev/null || die "java not found (Java 17 needed)"
  ensure_jars
  if [[ "${LEADFARM_KAFKA_FRESH:-0}" == 1 ]]; then
    log "LEADFARM_KAFKA_FRESH=1: wiping $DATA_DIR"
    rm -rf "$DATA_DIR"
  fi
  write_config
  format_storage

  # Keep the previous log for post-mortems; the readiness check greps a fresh one.
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  log "starting broker on $BOOTSTRAP (controller $HOST:$CONTROLLER_PORT) ..."
  local t0=$SECONDS
  # setsid+nohup: own session, immune to the caller's SIGHUP/Ctrl-C, so the broker
  # outlives this script. Without job control the child is not a process-group
  # leader, so setsid and nohup exec in place and $! is the java pid itself.
  # 9>&- : the broker must not inherit the lock fd, or it would hold the lock forever.
  setsid nohup java "${JAVA_OPTS[@]}" -cp "$LIBS_DIR/*" kafka.Kafka "$SERVER_PROPS" \
    >"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
  log "ready in $((SECONDS - t0)) s (pid $pid, log $LOG_FILE)"
  log "bootstrap: $BOOTSTRAP"
}

cmd_stop() {
  local pid
  if ! pid=$(broker_pid); then
    rm -f "$PID_FILE"
    if kafka_answers; then
      log "a Kafka broker on $BOOTSTRAP was not started by this script; not stopping it"
      exit 1
    fi
    log "not running"
    return 0
  fi
  log "stopping broker (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after $STOP_TIMEOUT s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    if kafka_answers; then
      log "running (pid $pid), bootstrap $BOOTSTRAP, data $DATA_DIR"
      return 0
    fi
    log "process $pid is alive but the broker does not answer on $BOOTSTRAP (starting?)"
    return 1
  fi
  if kafka_answers; then
    log "a broker not started by this script answers on $BOOTSTRAP"
    return 0
  fi
  log "not running"
  return 1
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start)   take_lock; cmd_start ;;
    stop)    take_lock; cmd_stop ;;
    restart) take_lock; cmd_stop; cmd_start ;;
    status)  cmd_status ;;
    *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
  esac
}

main "$@"
