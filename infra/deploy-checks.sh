#!/usr/bin/env bash
# Offline deployment checks of template.yaml: `sam validate` (transform and lint), `cfn-lint`, no wildcard IAM.
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
"$VENV/bin/python" infra/check-iam.py template.yaml
