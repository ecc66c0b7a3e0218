#!/usr/bin/env bash
# Offline deployment checks of template.yaml: `sam validate` (transform and lint), `cfn-lint`, and the IAM check
# (no wildcard, no managed policy, after the SAM transform).
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
