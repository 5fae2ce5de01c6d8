#!/usr/bin/env bash
# The main job, locally, end to end, on a fresh machine:
#   installs the emulators into .venv, starts moto (DynamoDB, SQS, Secrets Manager) and
#   localstripe, creates the tables, the key set secret (the committed demo key) and the queues,
#   starts the real Lambda handler under `cargo lambda watch` and a local API Gateway
#   (`payhook dev ingress`, mapping requests as template.yaml does), registers it as
#   localstripe's webhook endpoint, confirms a PaymentIntent on localstripe, and lets its signed
#   webhook travel ingress -> queue -> handler. Then more deliveries by hand (the sample Stripe
#   events in events/stripe/ as signed SQS events: the other event types, a redelivery, an
#   ignored type, a forged one) through `cargo lambda invoke`. Prints the notices, checks the
#   EMF metrics count what they say, and prints the payment record: credited once.
# Leaves the generated events in .local/demo/events/ for `cargo lambda invoke --data-file`.
# With --keep, leaves moto, localstripe and `cargo lambda watch` running for more invokes, and
# writes .local/demo/env.sh (source it to reach them; it says how to stop them).
set -euo pipefail
KEEP=""
case "${1:-}" in
    --keep) KEEP=1 ;;
    "") ;;
    *) echo "usage: scripts/demo.sh [--keep]" >&2; exit 2 ;;
esac
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bootstrap
export PATH="$VENV/bin:$PATH"

DEMO="$STATE/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/events"
WATCH_PID=""
INGRESS_PID=""
cleanup() {
    if [ -n "$INGRESS_PID" ]; then
        kill "$INGRESS_PID" 2>/dev/null || true
        wait "$INGRESS_PID" 2>/dev/null || true
    fi
    if [ -n "$WATCH_PID" ]; then
        kill -- "-$WATCH_PID" 2>/dev/null || kill "$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    stop_emulators
}
[ -n "$KEEP" ] || trap cleanup EXIT
start_emulators

say "building the consumer and the payhook CLI"
cargo build --quiet --bins
PAYHOOK="$ROOT/target/debug/payhook"

SUBSCRIBER=acme
PAYMENT_ID=order-1001
# Demo-only secrets, the ones sealed in events/demo-acme.bundle.
export PAYHOOK_WEBHOOK_SECRET=whsec_demo_acme
export PAYHOOK_STRIPE_API_KEY=sk_test_demo_acme

# The demo key set and acme's bundle sealed to it are committed (events/demo-*, local use only),
# so the ready-made events in events/sqs/ open under this stack too. `payhook keygen` and
# `payhook seal` make real ones (see README, Deploy).
say "tables, demo key set secret and dead-letter queue on moto"
"$PAYHOOK" dev provision --keyset events/demo-keyset.json | tee "$DEMO/consumer.env"
set -a
source "$DEMO/consumer.env"
set +a
cp events/demo-acme.bundle "$DEMO/bundle.txt"

say "starting the handler under cargo lambda watch"
PORT="$(free_port)"
# setsid: its own process group, so cleanup can stop watch and the function it spawned.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" --ignore-changes \
    > "$DEMO/watch.log" 2>&1 &
WATCH_PID=$!
wait_for_port "$PORT" "cargo lambda watch" "$DEMO/watch.log"

say "a local API Gateway for POST /stripe/$SUBSCRIBER, and localstripe's webhooks pointed at it"
INGRESS_PORT="$(free_port)"
"$PAYHOOK" dev ingress --port "$INGRESS_PORT" --queue-url "$QUEUE_URL" \
    --route "$SUBSCRIBER=@events/demo-acme.bundle" > "$DEMO/ingress.log" 2>&1 &
INGRESS_PID=$!
wait_for_port "$INGRESS_PORT" "payhook dev ingress" "$DEMO/ingress.log"
"$PAYHOOK" dev stripe-webhook --id demo --url "http://127.0.0.1:$INGRESS_PORT/stripe/$SUBSCRIBER"

say "a PaymentIntent confirmed on localstripe, metadata.id=$PAYMENT_ID: its webhook goes ingress -> queue -> handler"
INTENT="$("$PAYHOOK" dev demo-intent --payment-id "$PAYMENT_ID" --amount 2000 --currency eur)"
echo "$INTENT"
# Like Lambda's event source mapping: batches from the queue to the handler's invoke API.
"$PAYHOOK" dev local --queue-url "$QUEUE_URL" --wait-secs 1 --until-idle 4 \
    --invoke-url "http://127.0.0.1:$PORT/2015-03-31/functions/consumer/invocations"

say "more deliveries by hand: signed SQS events in $DEMO/events"
event() { # name body-type [extra args]
    local name="$1" type="$2"
    shift 2
    "$PAYHOOK" dev event --body "events/stripe/$type.json" --subscriber "$SUBSCRIBER" \
        --bundle "@$DEMO/bundle.txt" --payment-intent "$INTENT" --message-id "demo-$name" "$@" \
        > "$DEMO/events/$name.json"
    echo "  $name.json"
}
event 1-charge.succeeded charge.succeeded
event 2-payment_intent.succeeded payment_intent.succeeded
event 3-checkout.session.completed checkout.session.completed
cp "$DEMO/events/2-payment_intent.succeeded.json" "$DEMO/events/4-redelivery.json"
echo "  4-redelivery.json"
event 5-customer.created customer.created
event 6-forged payment_intent.succeeded --forge

for f in "$DEMO"/events/*.json; do
    say "invoke $(basename "$f")"
    cargo lambda invoke consumer --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file "$f"
    echo
done

say "notices (one JSON line per message)"
grep -h '"outcome"' "$DEMO/watch.log" || { echo "no notices found; watch log:"; cat "$DEMO/watch.log"; exit 1; }

say "metrics (EMF documents, one per dimension set and invocation) against the notices"
grep -h '"_aws"' "$DEMO/watch.log" | head -n 3
python3 "$ROOT/scripts/lib/emf_check.py" "$DEMO/watch.log"

say "payment record $SUBSCRIBER/$PAYMENT_ID in DynamoDB"
"$PAYHOOK" dev record --table "$PAYMENTS_TABLE" --subscriber "$SUBSCRIBER" --payment-id "$PAYMENT_ID" \
    | tee "$DEMO/record.json"

# The demo checks its own result: the webhook and five deliveries by hand of one payment, and
# the webhook came through the ingress.
if ! grep -q '"paid": 1,' "$DEMO/record.json"; then
    echo "expected paid = 1 in the record above" >&2
    exit 1
fi
if grep -q 'SampleEvent' "$DEMO/record.json"; then
    echo "expected localstripe's webhook, not a delivery by hand, to have credited it" >&2
    exit 1
fi
say "done: localstripe's webhook credited the payment once through the local ingress; three event types and a redelivery by hand were duplicates; the forged one dead-lettered"

if [ -n "$KEEP" ]; then
    {
        echo "export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL STRIPE_API_BASE=$STRIPE_API_BASE"
        echo "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
        echo "export PATH=$VENV/bin:\$PATH"
        sed 's/^/export /' "$DEMO/consumer.env"
        echo "invoke() { cargo lambda invoke consumer --invoke-address 127.0.0.1 --invoke-port $PORT --data-file \"\$1\"; }"
        echo "stop_demo() { kill -- -$WATCH_PID; kill $INGRESS_PID $MOTO_PID $LOCALSTRIPE_PID; }"
    } > "$DEMO/env.sh"
    say "still running; in your shell: source $DEMO/env.sh; invoke events/sqs/ignored.json; stop_demo"
fi
