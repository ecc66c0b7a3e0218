#!/usr/bin/env bash
# `sam build`, offline: every function of template.yaml built as `sam deploy` uploads it (an arm64 release binary from
# cargo-lambda, with zig as cross linker and C compiler) into .aws-sam/build; then each package's size zipped as
# Lambda receives it. On 2 cores: the first build about 6 minutes (release profile: fat LTO, one codegen unit); after
# a change to shared code about 2.5 minutes (every function is linked again); with nothing changed, seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[sam-build] %s\n' "$*" >&2; }
source infra/lambda-tools.sh
# The Rust standard library for the Lambda architecture (a no-op once installed).
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || {
  say "cannot install the aarch64-unknown-linux-gnu standard library with rustup (needed for arm64 Lambda)"
  exit 1
}
# sam runs `cargo lambda` from PATH; cargo-lambda runs zig as `python3 -m ziglang` from the same virtualenv.
export PATH="$VENV/bin:$PATH"
started=$SECONDS
say "building every function (arm64, release): SAM prints cargo's output when each is done; the first is the long one"
sam build --template template.yaml
say "built in $((SECONDS - started)) s"

python3 - <<'PY'
import io, pathlib, zipfile
TARGET = 5_000_000  # bytes zipped per package (BENCHMARKS.md)
print(f"{'function':<30}{'unzipped':>12}{'zipped':>12}{'zipped bytes':>14}")
over = []
for bootstrap in sorted(pathlib.Path(".aws-sam/build").glob("*/bootstrap")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(bootstrap, "bootstrap")
    zipped = len(buffer.getvalue())
    mib = lambda n: f"{n / 2**20:.1f} MiB"
    print(f"{bootstrap.parent.name:<30}{mib(bootstrap.stat().st_size):>12}{mib(zipped):>12}{zipped:>14,}")
    if zipped >= TARGET:
        over.append(bootstrap.parent.name)
if over:
    print(f"over the {TARGET:,}-byte target: {', '.join(over)}")
else:
    print(f"every package is under the {TARGET:,}-byte target")
PY
