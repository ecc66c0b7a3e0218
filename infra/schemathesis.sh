#!/usr/bin/env bash
# Schemathesis (property-based API testing from the OpenAPI document) against the local stack: every documented
# operation, every check, a bounded number of examples per operation. The devstack runs with --require-auth (no
# bearer token: 401, as API Gateway answers), so the authentication checks apply; the requests carry a local bearer
# token. Before that, the served AsyncAPI document goes through the AsyncAPI parser. Exits non-zero on any failure.
#
#   infra/schemathesis.sh [EXAMPLES]   examples per operation (default 25; more for a longer run)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[schemathesis] %s\n' "$*" >&2; }
VERSION="4.32.5"
CACHE="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
VENV="$CACHE/schemathesis-$VERSION"
EXAMPLES="${1:-25}"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  say "installing schemathesis $VERSION into $VENV (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

cargo build --locked --quiet -p devstack --bin devstack
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
PORT="${SCHEMATHESIS_PORT:-3077}"
LOG="$(mktemp)"
env -u AWS_ENDPOINT_URL_DYNAMODB -u KAFKA_BOOTSTRAP_SERVERS RUST_LOG=warn \
  "$TARGET_DIR/debug/devstack" --addr "127.0.0.1:$PORT" --dynamodb-addr 127.0.0.1:0 --require-auth >"$LOG" 2>&1 &
STACK=$!
trap 'kill $STACK 2>/dev/null; wait $STACK 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 240); do
  grep -q "Ctrl-C to stop" "$LOG" && break
  kill -0 $STACK 2>/dev/null || { cat "$LOG" >&2; say "the devstack exited"; exit 1; }
  sleep 0.25
done
grep -q "Ctrl-C to stop" "$LOG" || { cat "$LOG" >&2; say "the devstack did not start"; exit 1; }

# The AsyncAPI document as served (the bank's, with every other domain's events generated from their types): the
# AsyncAPI Initiative's parser must accept it too (deploy-checks installed it and checks the bank's file).
SERVED_ASYNCAPI="$(mktemp --suffix=.json)"
curl -sf "http://127.0.0.1:$PORT/asyncapi.json" >"$SERVED_ASYNCAPI"
node "$CACHE/asyncapi-parser-3.6.6/check.mjs" "$SERVED_ASYNCAPI" | grep -v "^info "
rm -f "$SERVED_ASYNCAPI"

# A local bearer token: header {"alg":"none"}, payload {"sub":"schemathesis"}, no signature checked locally.
b64() { printf '%s' "$1" | base64 | tr '+/' '-_' | tr -d '=\n'; }
TOKEN="Bearer $(b64 '{"alg":"none"}').$(b64 '{"sub":"schemathesis"}').unsigned"
say "$EXAMPLES examples per operation against http://127.0.0.1:$PORT"
cd infra/schemathesis
"$VENV/bin/st" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all --max-examples "$EXAMPLES" --seed "${SCHEMATHESIS_SEED:-42}" --no-color --generation-database none \
  -H "Authorization: $TOKEN" --report-dir "${SCHEMATHESIS_REPORTS:-$(mktemp -d)}"
