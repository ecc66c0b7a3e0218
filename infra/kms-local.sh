#!/usr/bin/env bash
# Install, start and stop a local KMS-compatible endpoint for the tests: moto 5.2.6's server (Python), whose KMS
# implements CreateKey, DescribeKey, Sign (ECDSA_SHA_256 on ECC_NIST_P256), GetPublicKey, GenerateDataKey, Decrypt.
# The tests reach it through AWS_ENDPOINT_URL_KMS, as the functions reach KMS on AWS.
#
#   infra/kms-local.sh install        a virtualenv with moto and its server's Flask, cached
#   infra/kms-local.sh start [PORT]   start on PORT (default 4566), wait until it answers
#   infra/kms-local.sh stop           stop the instance started by `start`
#
# Installed under ${TRIBUTARY_CACHE:-~/.cache/tributary} (about 140 MB, 15 s from PyPI the first time).
set -euo pipefail

VERSION="5.2.6"
CACHE="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
VENV="$CACHE/moto-$VERSION"
RUN_DIR="$CACHE/run"
PID_FILE="$RUN_DIR/kms-local.pid"
LOG_FILE="$RUN_DIR/kms-local.log"

source "$(dirname "${BASH_SOURCE[0]}")/service.sh"
say() { printf '[kms-local] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

install() {
  if "$VENV/bin/python" -c "import moto, flask, flask_cors; assert moto.__version__ == '$VERSION'" 2>/dev/null; then
    say "cached in $VENV"
    return
  fi
  python3 -m venv --help >/dev/null 2>&1 || die "python3-venv is needed (apt-get install python3-venv)"
  say "installing moto $VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "moto==$VERSION" "flask==3.1.3" "flask-cors==6.0.5" "werkzeug==3.1.9"
  say "installed in $VENV"
}

start() {
  local port="${1:-4566}"
  "$VENV/bin/python" -c "import moto" 2>/dev/null || install
  stop_pid "$PID_FILE"
  mkdir -p "$RUN_DIR"
  say "starting on 127.0.0.1:$port"
  (exec "$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$port" </dev/null >"$LOG_FILE" 2>&1) &
  echo $! >"$PID_FILE"
  wait_ready "$PID_FILE" "$LOG_FILE" "http://127.0.0.1:$port" curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"
}

stop() {
  stop_pid "$PID_FILE"
  say "stopped"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-4566}" ;;
  stop) stop ;;
  *) echo "usage: $0 install | start [PORT] | stop" >&2; exit 2 ;;
esac
