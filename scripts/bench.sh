#!/usr/bin/env bash
# Every benchmark in one command:
# 1. the per-message CPU path (criterion, crates/core/benches/pipeline.rs);
# 2. a batch of 10 against moto and localstripe with 50 ms added per Stripe call, sequential vs
#    concurrent (crates/core/benches/batch_latency.rs);
# 2b. a realistic mix of duplicate deliveries, duplicate shortcuts off and on, calls counted by
#    proxies (crates/core/benches/duplicate_mix.rs);
# 2c. what each kind of money movement costs in calls: credits (plain, Checkout, refunded
#    first) and refunds, counted by proxies (crates/core/benches/money_movements.rs);
# 3. cold start and deployment size for each release-profile choice (scripts/cold-start.sh;
#    the first run builds every profile, ~10 minutes each on 2 cores).
# Figures and method: BENCHMARKS.md.
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
say "duplicate mix: Stripe GETs and DynamoDB writes per payment, shortcuts off and on"
cargo bench --bench duplicate_mix
say "money movements: calls per credit kind and per refund"
cargo bench --bench money_movements
stop_emulators
say "cold start and size per release profile"
"$ROOT/scripts/cold-start.sh"
