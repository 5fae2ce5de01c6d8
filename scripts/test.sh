#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against real
# emulators (moto, localstripe), which this script installs and starts. `.ci/run` calls it.
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
