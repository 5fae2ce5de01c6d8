#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against real
# emulators (moto, localstripe), which this script installs and starts, the local demo under
# cargo lambda, and the template's checks and a SAM build of it. `.ci/run` calls it.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
START=$SECONDS
phase() { say "$1 (at $((SECONDS - START)) s)"; }

phase "installing the emulators and tools into .venv"
bootstrap
export PATH="$VENV/bin:$PATH"

phase "cargo fmt --check"
cargo fmt --all -- --check
phase "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

trap stop_emulators EXIT
start_emulators

# Unit and integration tests; the benches are compiled and run once as a smoke test.
phase "cargo test --workspace --all-targets"
cargo test --workspace --all-targets
stop_emulators

# The newcomer's first command, end to end: it fails if the record is not credited once.
phase "the local demo (scripts/demo.sh)"
"$ROOT/scripts/demo.sh"

# The template: linted, validated and built by SAM with two subscribers, so the per-subscriber
# routes really expand. The build is SAM's debug mode: the same `cargo lambda build` (zig
# linker, Lambda's glibc, the `consumer` binary copied as bootstrap) without the release
# profile's fat LTO, which alone takes ~13 minutes on 2 cores. `sam build` without
# SAM_BUILD_MODE (what you deploy) builds the release profile.
phase "cfn-lint, sam validate --lint, sam build (debug mode)"
export SAM_CLI_TELEMETRY=0
cfn-lint template.yaml
sam validate --lint --region us-east-1
SAM_BUILD_MODE=debug sam build --language-extensions --build-dir "$STATE/sam-build" \
    --parameter-overrides Subscribers=acme,globex-eu
for function in ConsumerFunction ReconcileFunction NotifierFunction; do
    test -x "$STATE/sam-build/$function/bootstrap"
done
phase "sam build produced the consumer, reconciler and notifier ($(du -h "$STATE/sam-build/ConsumerFunction/bootstrap" | cut -f1) each in debug mode); all checks passed"
