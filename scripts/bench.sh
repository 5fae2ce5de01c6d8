#!/usr/bin/env bash
# Every benchmark in one command: the per-message CPU path (criterion) and a batch of 10 against
# moto and localstripe with 50 ms added per Stripe call (sequential vs concurrent).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
bootstrap
trap stop_emulators EXIT
start_emulators
say "per-message CPU path (criterion)"
cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 3
say "batch of 10 with Stripe latency"
cargo bench --bench batch_latency
