#!/usr/bin/env bash
# The fault suite and the fuzz targets, in one command, against freshly started emulators.
# PROPTEST_CASES sets the fuzzing effort per property (default 5000 here, 512 in the test run).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
bootstrap
trap stop_emulators EXIT
start_emulators
export PROPTEST_CASES="${PROPTEST_CASES:-5000}"
say "fault suite and fuzzing (PROPTEST_CASES=$PROPTEST_CASES)"
cargo test -p payhook-consumer --test it -- faults:: fuzz:: --nocapture
