# Sourced by the deployment scripts: the AWS SAM CLI (with cfn-lint), cargo-lambda and zig, pinned, in one virtualenv
# under the cache (cargo-lambda finds zig through `python3 -m ziglang` there). Installs once; sets VENV.
VENV="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}/lambda-tools"
if ! "$VENV/bin/sam" --version 2>/dev/null | grep -q "1.170.0" || ! "$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q "1.9.2"; then
  printf '[lambda-tools] installing aws-sam-cli 1.170.0 and cargo-lambda 1.9.2 into %s (once)\n' "$VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli==1.170.0 cargo-lambda==1.9.2
fi
export SAM_CLI_TELEMETRY=0
# template.yaml makes one denormaliser per read model with Fn::ForEach (AWS::LanguageExtensions): `sam validate`
# and `sam build` expand it locally first (as `--language-extensions` does), as CloudFormation does at deploy.
export SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS=1
