#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against real
# emulators (moto, localstripe), which this script installs and starts, the local demo under
# cargo lambda, and the template's checks and build. `.ci/run` calls it.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bootstrap
export PATH="$VENV/bin:$PATH"

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

trap stop_emulators EXIT
start_emulators

say "cargo test (unit and integration)"
cargo test --all-targets
stop_emulators

# The newcomer's first command, end to end: it fails if the record is not credited once.
say "the local demo (scripts/demo.sh)"
"$ROOT/scripts/demo.sh"

# The template: linted, validated and built the way `sam deploy` would use it. Built with two
# subscribers so the per-subscriber routes really expand.
say "cfn-lint, sam validate --lint, sam build"
export SAM_CLI_TELEMETRY=0
cfn-lint template.yaml
sam validate --lint --region us-east-1
sam build --language-extensions --build-dir "$STATE/sam-build" \
    --parameter-overrides Subscribers=acme,globex-eu
test -x "$STATE/sam-build/ConsumerFunction/bootstrap"
say "sam build produced $(du -h "$STATE/sam-build/ConsumerFunction/bootstrap" | cut -f1) bootstrap"
