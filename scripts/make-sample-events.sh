#!/usr/bin/env bash
# Signed SQS events from the Stripe bodies in events/stripe/, with the demo key set and the demo
# subscriber's secrets (local use only), for `sam local invoke -e` and
# `cargo lambda invoke --data-file`.
#
#   scripts/make-sample-events.sh
#       regenerates the committed fixtures in events/sqs/ (a fixed receive time in 2025 and
#       fixed message ids keep their diffs small, so their handled types are stale_event now)
#   scripts/make-sample-events.sh --fresh DIR [--payment-intent pi_…]
#       the same events received and created now, into DIR, naming a PaymentIntent of the
#       running local stack (payhook dev demo-intent makes one), for invoking against it
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
FRESH=""
INTENT_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --fresh) FRESH="$2"; shift 2 ;;
        --payment-intent) INTENT_ARGS=(--payment-intent "$2"); shift 2 ;;
        *) echo "usage: $0 [--fresh DIR [--payment-intent pi_…]]" >&2; exit 2 ;;
    esac
done
PAYHOOK="$(payhook_cli)"

if [ -n "$FRESH" ]; then
    mkdir -p "$FRESH"
    fresh() { # name body [extra args]
        local name="$1" body="$2"
        shift 2
        PAYHOOK_WEBHOOK_SECRET=whsec_demo_acme "$PAYHOOK" dev event --body "events/stripe/$body.json" \
            --subscriber acme --bundle @events/demo-acme.bundle "${INTENT_ARGS[@]}" \
            --message-id "fresh-$name-$(date +%s%N)" "$@" > "$FRESH/$name.json"
        echo "$FRESH/$name.json"
    }
    fresh payment_intent.succeeded payment_intent.succeeded
    fresh charge.succeeded charge.succeeded
    fresh checkout.session.completed checkout.session.completed
    fresh ignored customer.created
    fresh forged payment_intent.succeeded --forge
    exit 0
fi

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
