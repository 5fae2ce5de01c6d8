#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against real
# emulators (moto, localstripe), which this script installs and starts, the local demo under
# cargo lambda, the template's checks, the README's deploy commands as far as they go without
# an AWS account, and the SAM-built functions under `sam local invoke` in Docker (a Docker
# engine is installed and started where none runs). `.ci/run` calls it.
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
trap stop_emulators EXIT
start_emulators

# Lints and tests in one build: `cargo clippy` is `cargo check` with clippy-driver as the
# compiler of the workspace's own crates (RUSTC_WORKSPACE_WRAPPER); given to `cargo test`, the
# same lints (-D warnings, every target) run while the crates are built for the tests, and the
# dependencies are compiled once instead of once checked and once built. --all-features: the
# CLI's `dev` commands (the test kit) are a feature the operator's build leaves out. The
# benches are compiled and run once as a smoke test.
phase "cargo test --workspace --all-targets --all-features, linted by clippy -D warnings"
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)" RUSTFLAGS="-D warnings" \
    cargo test --workspace --all-targets --all-features
stop_emulators
# That build's CLI (its `dev` commands included) serves every script below.
export PAYHOOK_BIN="$ROOT/target/debug/payhook"

# The newcomer's first command, end to end: it fails if the record is not credited once.
phase "the local demo (scripts/demo.sh)"
"$ROOT/scripts/demo.sh"

# The CLI session docs/cli.md shows, run as written on fresh emulators: each command must
# print what the doc says it prints.
phase "docs/cli.md's session, as written (scripts/lib/doc_session.py)"
start_emulators
"$VENV/bin/python" scripts/lib/doc_session.py docs/cli.md "A session from key to redrive" \
    "$STATE/doc-session"
stop_emulators

# The template: linted and validated as SAM reads it (the per-resource checks of the
# SAM-translated template ran with the cargo tests).
phase "cfn-lint, sam validate --lint"
export SAM_CLI_TELEMETRY=0
cfn-lint template.yaml
sam validate --lint --region us-east-1

# The README's first deployment, read from README.md and run as written in a copy of the
# repository, against fresh emulators; `sam deploy` stops at its first AWS call, refused by a
# stand-in. Its `sam build` is SAM's debug mode: the same `cargo lambda build` (zig linker,
# Lambda's glibc, each binary copied as its function's bootstrap) without the release
# profile's fat LTO, which alone takes ~13 minutes on 2 cores; `sam build` as you run it to
# deploy builds the release profile.
phase "the README's first deployment (scripts/lib/readme_deploy.py)"
start_emulators
"$VENV/bin/python" scripts/lib/readme_deploy.py "$STATE/readme-deploy"
stop_emulators
for function in ConsumerFunction ReconcileFunction NotifierFunction; do
    test -x "$STATE/readme-deploy/.aws-sam/build/$function/bootstrap"
done

# That build, run by `sam local invoke` in Docker against fresh emulators.
phase "sam local invoke (scripts/sam-local.sh)"
"$ROOT/scripts/sam-local.sh" --build-dir "$STATE/readme-deploy/.aws-sam/build"
phase "all checks passed"
