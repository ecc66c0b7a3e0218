#!/usr/bin/env bash
# Offline deployment checks of template.yaml: `sam validate` (transform and lint), `cfn-lint`, and the IAM check
# (no wildcard, no managed policy, after the SAM transform); the AsyncAPI document with the official parser.
# The AWS SAM CLI (with cfn-lint) and cargo-lambda are installed once into a virtualenv under the cache
# (infra/lambda-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[deploy-checks] %s\n' "$*" >&2; }
source infra/lambda-tools.sh
# Plain `validate` runs the SAM transform (it catches what the linter does not, e.g. an intrinsic where SAM needs a
# string); `--lint` runs cfn-lint on the result. Both are offline; the region is only for the transform.
"$VENV/bin/sam" validate --region us-east-1 --template template.yaml
"$VENV/bin/sam" validate --lint --template template.yaml
"$VENV/bin/cfn-lint" template.yaml && say "cfn-lint: clean"
# IAM as deployed (after the SAM transform, managed policies included); and proof that the check catches a managed
# policy with wildcards (a function SAM gives AWSLambdaDynamoDBExecutionRole).
"$VENV/bin/python" infra/check-iam.py template.yaml
"$VENV/bin/python" infra/check-iam.py --expect-failure infra/iam-fixtures/managed-policy.yaml
# ... and a wildcard in a role that a Fn::ForEach loop makes (the check expands the loops first).
"$VENV/bin/python" infra/check-iam.py --expect-failure infra/iam-fixtures/loop-wildcard.yaml
# The AsyncAPI document of the topics, with the AsyncAPI Initiative's parser (npm, installed once under the cache);
# and proof that it catches a broken document (a channel address that is not a string).
ASYNCAPI_TOOLS="$HOME/.cache/tributary/asyncapi-parser-3.6.6"
if [ ! -d "$ASYNCAPI_TOOLS/node_modules/@asyncapi/parser" ]; then
  say "installing @asyncapi/parser 3.6.6 into $ASYNCAPI_TOOLS"
  npm install --prefix "$ASYNCAPI_TOOLS" --no-audit --no-fund --silent @asyncapi/parser@3.6.6
fi
# ES modules resolve packages beside the script: run it from the tools' directory.
cp infra/asyncapi-check.mjs "$ASYNCAPI_TOOLS/check.mjs"
node "$ASYNCAPI_TOOLS/check.mjs" examples/bank/api/asyncapi.json
broken="$(mktemp --suffix=.json)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["channels"]["events"]["address"]=5; json.dump(d,open(sys.argv[2],"w"))' \
  examples/bank/api/asyncapi.json "$broken"
node "$ASYNCAPI_TOOLS/check.mjs" --expect-failure "$broken" >/dev/null && say "AsyncAPI check: catches a broken document"
rm -f "$broken"
