#!/usr/bin/env bash
# moto and localstripe on free ports, nothing provisioned: prints the exports another shell
# needs and keeps them running until Ctrl-C. For sessions like docs/cli.md's, which provision
# their own stack; scripts/local.sh is the whole pipeline ready-made.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bootstrap
trap stop_emulators EXIT
start_emulators
cargo build --quiet -p payhook-cli --bin payhook --features dev
cat <<INFO
moto (AWS):  $AWS_ENDPOINT_URL
localstripe: $STRIPE_API_BASE

In another shell:
  export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL STRIPE_API_BASE=$STRIPE_API_BASE
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  export PATH=$ROOT/target/debug:\$PATH
INFO
while true; do sleep 3600; done
