#!/usr/bin/env bash
# The test command: formatting, lints, then every test twice — against the embedded DynamoDB API (dynoxide)
# and against the official DynamoDB Local (installed and cached on first use, stopped at exit).
#
#   infra/test.sh            everything (what CI runs)
#   infra/test.sh --quick    fmt, clippy and the embedded run only
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests against the embedded DynamoDB API (dynoxide)"
env -u AWS_ENDPOINT_URL_DYNAMODB cargo test --workspace --locked

if ! $quick; then
  port="${DYNAMODB_LOCAL_PORT:-8000}"
  step "tests against DynamoDB Local 3.3.1 on 127.0.0.1:$port"
  infra/dynamodb-local.sh install
  trap 'infra/dynamodb-local.sh stop' EXIT
  infra/dynamodb-local.sh start "$port"
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port" cargo test --workspace --locked
fi

step "all green in $((SECONDS - started)) s"
