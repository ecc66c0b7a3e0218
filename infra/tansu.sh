#!/usr/bin/env bash
# Install, start and stop the tansu Kafka broker 0.6.0 for the full test run.
#
#   infra/tansu.sh install        cargo install tansu 0.6.0 (sqlite storage) into the cache (~15 min the first time)
#   infra/tansu.sh start [PORT]   start on 127.0.0.1:PORT (default 9092) with a fresh data dir; wait until it answers
#   infra/tansu.sh stop           stop the broker started by `start`
#   infra/tansu.sh check [PORT]   fail (with the log's end) unless the broker still answers, storage included
#   infra/tansu.sh path           print the binary's path (tests start brokers of their own with it)
#
# Known limits of tansu 0.6.0 (see shared/LOCAL-STACK.md): no topic auto-create (we create topics explicitly), never
# delete a topic (it deletes all of them), no snappy, no transactions.
set -euo pipefail

VERSION="0.6.0"
CACHE="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
ROOT="${TANSU_ROOT:-$HOME/.cache/tansu-$VERSION}"
TANSU="$ROOT/bin/tansu"
RUN_DIR="$CACHE/run"
DATA_DIR="$RUN_DIR/tansu-data"
PID_FILE="$RUN_DIR/tansu.pid"
LOG_FILE="$RUN_DIR/tansu.log"

source "$(dirname "${BASH_SOURCE[0]}")/service.sh"
say() { printf '[tansu] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

install() {
  if [[ -x "$TANSU" ]] && "$TANSU" --version 2>/dev/null | grep -q "$VERSION"; then
    say "cached in $ROOT"
    return
  fi
  say "building tansu $VERSION with cargo (sqlite storage; about 15 minutes on 2 cores, once)"
  # Its own target dir (not the project's CARGO_TARGET_DIR): it is built once and cached by version.
  env -u CARGO_TARGET_DIR cargo install "tansu@$VERSION" --locked --features libsql --root "$ROOT"
  "$TANSU" --version | grep -q "$VERSION" || die "the installed tansu is not $VERSION"
}

start() {
  local port="${1:-9092}"
  [[ -x "$TANSU" ]] || install
  stop_quietly
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  say "starting on 127.0.0.1:$port"
  # The sqlite path is relative to the working directory, and tansu reads a .env there: run in a fresh data dir
  # with none of its settings inherited from the environment.
  (cd "$DATA_DIR" && exec env -u STORAGE_ENGINE -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u CLUSTER_ID \
      "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://tansu.db" </dev/null >"$LOG_FILE" 2>&1) &
  echo $! >"$PID_FILE"
  wait_ready "$PID_FILE" "$LOG_FILE" "127.0.0.1:$port" "$TANSU" topic list --broker "tcp://127.0.0.1:$port"
}

stop_quietly() {
  stop_pid "$PID_FILE"
}

stop() {
  stop_quietly
  say "stopped"
}

check() {
  local port="${1:-9092}"
  # Creating a topic goes through the broker's storage (a broker whose storage failed still lists topics).
  if timeout 30 "$TANSU" topic create "health-$(date +%s)-$RANDOM" --partitions 1 --broker "tcp://127.0.0.1:$port" \
      >/dev/null 2>&1; then
    say "still answering on 127.0.0.1:$port"
  else
    tail -n 40 "$LOG_FILE" >&2 || true
    die "the broker on 127.0.0.1:$port no longer answers (its log above): tests that failed after it stopped did so for that reason"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-9092}" ;;
  stop) stop ;;
  check) check "${2:-9092}" ;;
  path) echo "$TANSU" ;;
  *) echo "usage: $0 install | start [PORT] | stop | check [PORT] | path" >&2; exit 2 ;;
esac
