#!/usr/bin/env bash
# The benchmark harness in one command. BENCHMARKS.md says what it measures and shows the last run's figures.
#
#   infra/bench.sh            embedded dynoxide + mock cluster, optimised build (profile bench-local); updates the
#                             embedded section of BENCHMARKS.md; JSON in target/bench/results.json
#   infra/bench.sh --full     the same against DynamoDB Local and tansu (started here on 8000/9092, stopped after);
#                             updates the full section; JSON in target/bench/results-full.json
#   infra/bench.sh --peer     also measure cqrs-es 0.5 + dynamo-es 0.5 (a build of its own: several minutes the first
#                             time); combines with --full
#   infra/bench.sh --smoke    toy sizes, debug build, BENCHMARKS.md untouched: checks the harness runs (CI does this)
#   infra/bench.sh -- ARGS    pass ARGS to the harness (cargo run -p tributary-bench -- --help)
set -euo pipefail
cd "$(dirname "$0")/.."

full=0 peer=0 smoke=0 extra=()
while (($#)); do
  case "$1" in
    --full) full=1 ;;
    --peer) peer=1 ;;
    --smoke) smoke=1 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--full] [--peer] [--smoke] [-- harness arguments]" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '[bench] %s\n' "$*" >&2; }
profile=(--profile bench-local)
args=(--json target/bench/results.json --markdown BENCHMARKS.md)
if ((smoke)); then
  profile=()
  args=(--smoke --json target/bench/smoke.json)
fi

if ((full)); then
  infra/dynamodb-local.sh install
  infra/tansu.sh install
  trap 'infra/dynamodb-local.sh stop; infra/tansu.sh stop' EXIT
  infra/dynamodb-local.sh start 8000
  infra/tansu.sh start 9092
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
  ((smoke)) || args=(--json target/bench/results-full.json --markdown BENCHMARKS.md)
fi

if ((peer)); then
  say "building the peer (cqrs-es 0.5 + dynamo-es 0.5) in target/peer"
  CARGO_TARGET_DIR="$PWD/target/peer" cargo build --profile bench-local --manifest-path infra/bench-peer/Cargo.toml
  args+=(--peer target/peer/bench-local/bench-peer)
fi

say "building the harness"
cargo build "${profile[@]}" -p tributary-bench
cargo run -q "${profile[@]}" -p tributary-bench -- "${args[@]}" "${extra[@]}"
