#!/usr/bin/env bash
# Regenerates the ready-to-invoke SQS events in events/sqs/ from the Stripe bodies in
# events/stripe/, with the demo key set and demo subscriber secrets (local use only).
# Fixed receive time and message ids keep diffs small; sealing is randomised, so bundles change.
#   sam local invoke ConsumerFunction -e events/sqs/payment_intent.succeeded.json
#   cargo lambda invoke consumer --data-file events/sqs/payment_intent.succeeded.json
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
cargo build --quiet --bin payhook
PAYHOOK="$ROOT/target/debug/payhook"

# The demo key set trusts the demo issuer, whose private key is committed too: local use only.
if [ ! -f events/demo-keyset.json ]; then
    "$PAYHOOK" keygen --kid demo --issuer-kid demo-issuer --issuer-out events/demo-issuer.json \
        --out events/demo-keyset.json > events/demo-public-key.txt
fi
PUBLIC_KEY="$(sed -n 's/^kid=demo public_key=//p' events/demo-public-key.txt)"
PAYHOOK_WEBHOOK_SECRETS=whsec_demo_acme PAYHOOK_STRIPE_API_KEY=sk_test_demo_acme \
    "$PAYHOOK" seal --subscriber acme --public-key "$PUBLIC_KEY" --kid demo --mode test \
    --issuer-key-file events/demo-issuer.json > events/demo-acme.bundle

RECEIVED_AT_MS=1764000002000
mkdir -p events/sqs
make() { # name body [extra args]
    local name="$1" body="$2"
    shift 2
    PAYHOOK_WEBHOOK_SECRET=whsec_demo_acme "$PAYHOOK" dev event --body "events/stripe/$body.json" \
        --subscriber acme --bundle @events/demo-acme.bundle --received-at-ms "$RECEIVED_AT_MS" \
        --message-id "sample-$name" "$@" > "events/sqs/$name.json"
    echo "events/sqs/$name.json"
}
make payment_intent.succeeded payment_intent.succeeded
make charge.succeeded charge.succeeded
make checkout.session.completed checkout.session.completed
# Stripe's retry of an event is a new HTTP request, so a new SQS message with the same body.
make duplicate payment_intent.succeeded
make ignored customer.created
make forged payment_intent.succeeded --forge
