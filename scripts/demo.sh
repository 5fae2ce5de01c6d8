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
#   EMF metrics count what they say, and prints the payment record: credited once. Then the
#   notifier tells acme's own system: a signed payment.credited notification to a local
#   receiver that verifies it (Standard Webhooks), refused once to show the retry.
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
RECEIVER_PID=""
cleanup() {
    if [ -n "$RECEIVER_PID" ]; then
        kill "$RECEIVER_PID" 2>/dev/null || true
        wait "$RECEIVER_PID" 2>/dev/null || true
    fi
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
# The consumer as `cargo lambda watch` builds it (its own package's features), so the watch
# starts at once.
cargo build --quiet -p payhook-consumer --bin consumer
PAYHOOK="$(payhook_cli)"

SUBSCRIBER=acme
PAYMENT_ID=order-1001
# Demo-only secrets, the ones sealed in events/demo-acme.bundle.
export PAYHOOK_WEBHOOK_SECRET=whsec_demo_acme
export PAYHOOK_STRIPE_API_KEY=sk_test_demo_acme

# The demo key set, its issuer and acme's bundle sealed to it are committed (events/demo-*,
# local use only), so the ready-made events in events/sqs/ open under this stack too. Here acme
# is resealed with a notification endpoint, the way `payhook seal` makes real bundles (see
# README, Deploy): seal generates acme's notification secret and shows it once, on stderr.
say "acme's bundle with a notification endpoint (a local receiver), sealed with the demo issuer"
unset PAYHOOK_NOTIFY_SECRET
RECEIVER_PORT="$(free_port)"
read -r DEMO_KID DEMO_PUBLIC < <(sed -n 's/^kid=\([^ ]*\) public_key=\([^ ]*\)$/\1 \2/p' events/demo-public-key.txt)
PAYHOOK_ISSUER_KEY="$(cat events/demo-issuer.json)" PAYHOOK_WEBHOOK_SECRETS="$PAYHOOK_WEBHOOK_SECRET" \
    "$PAYHOOK" seal --subscriber "$SUBSCRIBER" --public-key "$DEMO_PUBLIC" --kid "$DEMO_KID" \
    --mode test --notify-url "http://127.0.0.1:$RECEIVER_PORT/hooks/payhook" \
    > "$DEMO/bundle.txt" 2> "$DEMO/seal.err"
cat "$DEMO/seal.err"
PAYHOOK_NOTIFY_SECRET="$(grep -o 'whsec_[A-Za-z0-9+/=]*' "$DEMO/seal.err")"
export PAYHOOK_NOTIFY_SECRET

say "tables, demo key set secret, queues and acme's bundle parameter on moto"
"$PAYHOOK" dev provision --keyset events/demo-keyset.json --bundle "$SUBSCRIBER=@$DEMO/bundle.txt" \
    | tee "$DEMO/consumer.env"
set -a
source "$DEMO/consumer.env"
set +a

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
    --route "$SUBSCRIBER=@$DEMO/bundle.txt" > "$DEMO/ingress.log" 2>&1 &
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

# Each delivery ended as the demo says it does: the webhook credited, the four by hand of the
# same payment duplicates, the ignored type ignored, the forgery refused into the rejected queue.
python3 - "$DEMO/watch.log" <<'PY'
import json, sys
notices = {}
for line in open(sys.argv[1]):
    try:
        n = json.loads(line)
    except ValueError:
        continue
    if isinstance(n, dict) and "outcome" in n:
        notices.setdefault(n["message_id"], []).append((n["outcome"], n.get("reason")))
want = {
    "demo-1-charge.succeeded": [("duplicate", None)],
    "demo-2-payment_intent.succeeded": [("duplicate", None), ("duplicate", None)],
    "demo-3-checkout.session.completed": [("duplicate", None)],
    "demo-5-customer.created": [("ignored", "event type not handled")],
    "demo-6-forged": [("dead_lettered", "bad_signature")],
}
for message_id, outcomes in want.items():
    assert notices.pop(message_id, None) == outcomes, (message_id, outcomes)
# What is left is the webhook's own message (an SQS message id), credited once.
assert list(notices.values()) == [[("credited", None)]], notices
print("each delivery's outcome is the one the demo claims")
PY
REJECTED="$("$PAYHOOK" dlq list --dlq-url "$REJECTED_QUEUE_URL" --json)"
echo "$REJECTED" | python3 -c '
import json, sys
got = [json.loads(l) for l in sys.stdin if l.strip()]
assert [(d["event_type"], d["reason"]) for d in got] == [("payment_intent.succeeded", "bad_signature")], got
print("the forged delivery waits in the rejected queue with its reason")'
test "$("$PAYHOOK" dlq list --dlq-url "$DEAD_LETTER_QUEUE_URL" --json | wc -l)" = 0

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
say "acme's own system is told: a local receiver checking signatures with acme's secret, refusing the first try"
"$PAYHOOK" dev receiver --port "$RECEIVER_PORT" --fail-first 1 > "$DEMO/receiver.log" 2> "$DEMO/receiver.err" &
RECEIVER_PID=$!
wait_for_port "$RECEIVER_PORT" "payhook dev receiver" "$DEMO/receiver.err"
say "the notifier's pass now (the deployed one runs every minute): refused, retry due in 10 minutes"
"$PAYHOOK" dev notify
say "the notifier's pass 10 minutes later: delivered"
"$PAYHOOK" dev notify --later-secs 600
sleep 0.5
say "what the receiver got (one line per request; raw body and signature left out here)"
"$VENV/bin/python" -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l); d.pop("raw_body", None); d.pop("webhook_signature", None); print(json.dumps(d))
' "$DEMO/receiver.log"
say "the audit trail: payhook notifications list"
"$PAYHOOK" notifications list --subscriber "$SUBSCRIBER" 2> /dev/null | tee "$DEMO/notifications.txt"
# Two requests, both verified by the receiver with acme's secret, the same webhook-id, the
# second one taken.
# The receiver checked each with the Rust Standard Webhooks library; checked again here with the
# Python one.
"$VENV/bin/python" - "$DEMO/receiver.log" "$PAYMENT_ID" <<'PY'
import json, os, sys
from standardwebhooks import Webhook
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 2, f"expected 2 requests at the receiver, got {len(lines)}"
assert all(l["verified"] for l in lines), "a notification did not verify"
for l in lines:
    Webhook(os.environ["PAYHOOK_NOTIFY_SECRET"]).verify(l["raw_body"], {
        k: l[k.replace("-", "_")] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
print("both requests verify with the Python standardwebhooks library too")
assert lines[0]["webhook_id"] == lines[1]["webhook_id"], "the webhook-id changed between tries"
assert [l["answered"] for l in lines] == [500, 200], [l["answered"] for l in lines]
data = lines[1]["body"]["data"]
assert lines[1]["body"]["type"] == "payment.credited" and data["payment_id"] == sys.argv[2], data
assert data["paid"] == 1, data
PY
grep -q 'delivered after 2 attempt(s)' "$DEMO/notifications.txt"

say "500 of it refunded on localstripe: Stripe's refund webhooks take the same way, the refund is recorded once"
REFUND="$("$PAYHOOK" dev demo-refund --payment-intent "$INTENT" --amount 500)"
echo "$REFUND"
"$PAYHOOK" dev local --queue-url "$QUEUE_URL" --wait-secs 1 --until-idle 4 \
    --invoke-url "http://127.0.0.1:$PORT/2015-03-31/functions/consumer/invocations"
"$PAYHOOK" dev record --table "$PAYMENTS_TABLE" --subscriber "$SUBSCRIBER" --payment-id "$PAYMENT_ID" \
    | tee "$DEMO/record-refunded.json"
"$PAYHOOK" dev notify
sleep 0.5
# refund.created and charge.refunded both came: one recorded the refund, the other found it
# recorded; the record's sums moved once; acme was told, with the record after the refund.
python3 - "$DEMO/watch.log" "$DEMO/record-refunded.json" "$DEMO/receiver.log" "$REFUND" <<'PY'
import json, sys
notices = []
for line in open(sys.argv[1]):
    try:
        n = json.loads(line)
    except ValueError:
        continue
    if isinstance(n, dict) and n.get("event_type") in ("refund.created", "charge.refunded"):
        notices.append(n["outcome"])
assert sorted(notices) == ["duplicate", "refunded"], notices
record = json.load(open(sys.argv[2]))
got = {k: record[k] for k in ("paid", "amount_received", "refunded", "net")}
assert got == {"paid": 1, "amount_received": 2000, "refunded": 500, "net": 1500}, got
requests = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
last = requests[-1]
assert len(requests) == 3 and last["verified"] and last["answered"] == 200, requests
assert last["webhook_id"] == "msg_" + sys.argv[4], last["webhook_id"]
body = last["body"]
assert body["type"] == "payment.refunded" and body["data"]["amount"] == 500, body
assert body["data"]["record"]["net"] == 1500 and body["data"]["record"]["state"] == "partially_refunded", body
print("the refund is on the record once, and acme got a signed payment.refunded")
PY

say "done: localstripe's webhook credited the payment once through the local ingress; three event types and a redelivery by hand were duplicates; the forged one is in the rejected queue; acme's receiver got one signed payment.credited notification, on its second try; a refund's two webhooks recorded it once, and acme was told"

if [ -n "$KEEP" ]; then
    {
        echo "export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL STRIPE_API_BASE=$STRIPE_API_BASE"
        echo "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
        echo "export PATH=$VENV/bin:\$PATH"
        sed 's/^/export /' "$DEMO/consumer.env"
        echo "invoke() { cargo lambda invoke consumer --invoke-address 127.0.0.1 --invoke-port $PORT --data-file \"\$1\"; }"
        echo "export PAYHOOK_NOTIFY_SECRET=$PAYHOOK_NOTIFY_SECRET"
        echo "stop_demo() { kill -- -$WATCH_PID; kill $INGRESS_PID $RECEIVER_PID $MOTO_PID $LOCALSTRIPE_PID; }"
    } > "$DEMO/env.sh"
    say "still running; in your shell: source $DEMO/env.sh; invoke events/sqs/ignored.json; stop_demo"
fi
