#!/usr/bin/env bash
# The test command: formatting, lints, then every test twice — against the embedded servers (dynoxide for
# DynamoDB, librdkafka's mock cluster for Kafka) and against the real ones (the official DynamoDB Local and the
# tansu broker, installed and cached on first use, stopped at exit), both with a local KMS-compatible endpoint
# (moto's, for the ledger's signing keys); then `sam build` of every function (arm64 release binaries through
# cargo-lambda and zig, cached after the first build).
#
#   infra/test.sh            everything (what CI runs)
#   infra/test.sh --quick    fmt, clippy, deployment checks, the embedded run, the benchmark smoke run and
#                            Schemathesis only
#
# The fuzz targets (fuzz_* tests: HTTP edge, Kafka record, DynamoDB item and stream-record decoders) run with proptest's
# default 256 cases here; PROPTEST_CASES=1000000 makes them long runs (see SECURITY.md).
#
# Time: about 30 minutes warm and under 60 cold on 2 cores (CI allows 90). No test waits on a fixed sleep for what is
# eventually consistent: waits end when their condition holds, or fail after 120 s naming what did not come; every
# test binary ends itself after 25 minutes (TRIBUTARY_TEST_DEADLINE_SECS) saying which service stopped answering.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true

started=$SECONDS
step() { printf '\n==> [%d s] %s\n' "$((SECONDS - started))" "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "layering: framework crates depend on framework crates only, no module circles (infra/check-layers.py)"
infra/check-layers.py

step "deployment checks (sam validate --lint, cfn-lint, no wildcard IAM)"
infra/deploy-checks.sh

kms_port="${KMS_LOCAL_PORT:-4566}"
step "a local KMS-compatible endpoint on 127.0.0.1:$kms_port (moto 5.2.6, cached after the first run): the ledger's KMS path"
infra/kms-local.sh install
stop_services() { infra/kms-local.sh stop; }
trap stop_services EXIT
infra/kms-local.sh start "$kms_port"
# Every test binary reaches it as the functions reach KMS; TRIBUTARY_REQUIRE_KMS makes a missing endpoint a failure.
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$kms_port" TRIBUTARY_REQUIRE_KMS=1

step "tests against the embedded servers (dynoxide, librdkafka mock cluster; fuzz targets bounded: PROPTEST_CASES=${PROPTEST_CASES:-256})"
env -u AWS_ENDPOINT_URL_DYNAMODB -u KAFKA_BOOTSTRAP_SERVERS cargo test --workspace --locked

step "benchmark harness, smoke run (toy sizes: checks every part runs; the figures come from infra/bench.sh)"
env -u AWS_ENDPOINT_URL_DYNAMODB -u KAFKA_BOOTSTRAP_SERVERS infra/bench.sh --smoke >/dev/null

step "Schemathesis: the OpenAPI document against the running local stack (every check, bounded)"
infra/schemathesis.sh "${SCHEMATHESIS_EXAMPLES:-25}"

if ! $quick; then
  ddb_port="${DYNAMODB_LOCAL_PORT:-8000}"
  step "installing DynamoDB Local 3.3.1 and tansu 0.6.0 (cached after the first run)"
  infra/dynamodb-local.sh install
  infra/tansu.sh install
  trap 'infra/dynamodb-local.sh stop; stop_services' EXIT
  infra/dynamodb-local.sh start "$ddb_port"
  tansu_data="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}/run/tansu-private"
  rm -rf "$tansu_data" && mkdir -p "$tansu_data"
  step "tests against DynamoDB Local on 127.0.0.1:$ddb_port and tansu (a broker of each test binary's own)"
  # tansu 0.6.0 can lose its storage for good (testkit/src/broker.rs): each test binary starts a tansu of its own
  # (TRIBUTARY_TEST_KAFKA=tansu, TANSU_BIN), killed when the binary ends, so a broker bug stays inside one binary; the
  # fault-injection suite's broker outage pauses yet another, its own.
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port" TRIBUTARY_TEST_KAFKA=tansu \
    TANSU_BIN="$(infra/tansu.sh path)" TRIBUTARY_TANSU_DATA="$tansu_data" \
    env -u KAFKA_BOOTSTRAP_SERVERS cargo test --workspace --locked
  # The server every test used must still be answering: a failure here names it.
  infra/dynamodb-local.sh check "$ddb_port"
  infra/dynamodb-local.sh stop
  rm -rf "$tansu_data"
  trap stop_services EXIT

  step "sam build: every function as deployed (arm64, release; the first build takes about 6 minutes)"
  infra/sam-build.sh
fi

step "all green in $((SECONDS - started)) s"
