#!/usr/bin/env bash
# Offline deployment checks of template.yaml: `sam validate` (transform and lint), `cfn-lint`, no wildcard IAM.
# The AWS SAM CLI (with cfn-lint) and cargo-lambda are installed once into a virtualenv under the cache.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}/lambda-tools"
say() { printf '[deploy-checks] %s\n' "$*" >&2; }

if ! "$VENV/bin/sam" --version 2>/dev/null | grep -q "1.170.0"; then
  say "installing aws-sam-cli 1.170.0 and cargo-lambda 1.9.2 into $VENV (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli==1.170.0 cargo-lambda==1.9.2
fi
export SAM_CLI_TELEMETRY=0
# Plain `validate` runs the SAM transform (it catches what the linter does not, e.g. an intrinsic where SAM needs a
# string); `--lint` runs cfn-lint on the result. Both are offline; the region is only for the transform.
"$VENV/bin/sam" validate --region us-east-1 --template template.yaml
"$VENV/bin/sam" validate --lint --template template.yaml
"$VENV/bin/cfn-lint" template.yaml && say "cfn-lint: clean"
"$VENV/bin/python" infra/check-iam.py template.yaml
