#!/usr/bin/env bash
# `sam local invoke`, for real: the SAM-built functions run by AWS's Lambda runtime interface
# emulator in Docker, against moto and localstripe started here, with fresh signed events.
# Checks, in moto: a delivery credits its payment once, another event of the same payment is
# a duplicate, a forged one lands in the rejected queue; the reconciler and the notifier run
# and report. The test command runs it; run it alone the same way.
#
#   scripts/sam-local.sh [--build-dir DIR]     (default .aws-sam/build; built if missing)
#
# Where the Lambda base image public.ecr.aws/lambda/provided:al2023 cannot be pulled, a local
# stand-in is built (scripts/lib/lambda-base-image.sh) and passed with --invoke-image. Where
# no Docker engine runs, Debian's docker.io is installed and started (as root).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

BUILD_DIR=.aws-sam/build
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) BUILD_DIR="$2"; shift 2 ;;
        *) echo "usage: $0 [--build-dir DIR]" >&2; exit 2 ;;
    esac
done

bootstrap
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
mkdir -p "$STATE"
ensure_docker

if [ ! -f "$BUILD_DIR/template.yaml" ]; then
    say "no SAM build in $BUILD_DIR: sam build"
    sam build --build-dir "$BUILD_DIR"
fi

BASE_IMAGE_ARGS=()
if docker image inspect public.ecr.aws/lambda/provided:al2023 > /dev/null 2>&1 \
    || timeout 30 docker pull -q public.ecr.aws/lambda/provided:al2023 > /dev/null 2>&1; then
    say "using the Lambda base image public.ecr.aws/lambda/provided:al2023"
else
    say "public.ecr.aws/lambda/provided:al2023 cannot be pulled here: building a local base image"
    BASE_IMAGE_ARGS=(--invoke-image "$(bash "$ROOT/scripts/lib/lambda-base-image.sh")" --skip-pull-image)
fi

trap 'stop_forwards; stop_emulators' EXIT
start_emulators
forward_to_containers "${AWS_ENDPOINT_URL##*:}"
stripe_port="${STRIPE_API_BASE##*:}"
forward_to_containers "${stripe_port%/}"

PAYHOOK="$(payhook_cli)"
WORK="$STATE/sam-local"
rm -rf "$WORK"
mkdir -p "$WORK/events"
"$PAYHOOK" dev provision --keyset events/demo-keyset.json --bundle acme=@events/demo-acme.bundle \
    > "$WORK/stack.env"
set -a
source "$WORK/stack.env"
set +a
"$PAYHOOK" dev sam-env --host "$(docker_host_address)" > "$WORK/sam-env.json"

# Fresh events for this stack: a PaymentIntent on localstripe, two of its events and a forgery.
PI="$(PAYHOOK_STRIPE_API_KEY=sk_test_demo_acme "$PAYHOOK" dev demo-intent \
    --stripe-base "$STRIPE_API_BASE" --payment-id order-sam-local)"
make_event() { # name body [extra]
    local name="$1" body="$2"
    shift 2
    PAYHOOK_WEBHOOK_SECRET=whsec_demo_acme "$PAYHOOK" dev event --body "events/stripe/$body.json" \
        --subscriber acme --bundle @events/demo-acme.bundle --payment-intent "$PI" \
        --message-id "sam-local-$name" "$@" > "$WORK/events/$name.json"
}
make_event payment_intent.succeeded payment_intent.succeeded
make_event charge.succeeded charge.succeeded
make_event forged payment_intent.succeeded --forge

invoke() { # function event name
    say "sam local invoke $1 -e $2"
    sam local invoke "$1" -t "$BUILD_DIR/template.yaml" --config-file "$ROOT/samconfig.toml" \
        -e "$2" --env-vars "$WORK/sam-env.json" "${BASE_IMAGE_ARGS[@]}" \
        > "$WORK/$3.out" 2> "$WORK/$3.log"
    grep -E '^\{"level"' "$WORK/$3.log" >&2 || true
}
# The one notice of the invocation saved as NAME, as "outcome reason".
notice() {
    python3 - "$WORK/$1.log" <<'PY'
import json, sys
notices = []
for line in open(sys.argv[1]):
    try:
        n = json.loads(line)
    except ValueError:
        continue
    if isinstance(n, dict) and "outcome" in n:
        notices.append(n)
assert len(notices) == 1, f"expected one notice, got {notices}"
print(notices[0]["outcome"], notices[0].get("reason", "-"))
PY
}
expect() { # what got want
    if [ "$2" != "$3" ]; then
        echo "sam-local: $1: got '$2', want '$3'" >&2
        exit 1
    fi
    say "ok: $1: $2"
}

invoke ConsumerFunction "$WORK/events/payment_intent.succeeded.json" credit
expect "the first event's notice" "$(notice credit)" "credited -"
expect "the first invocation's answer" "$(tr -d ' \n' < "$WORK/credit.out")" '{"batchItemFailures":[]}'
invoke ConsumerFunction "$WORK/events/charge.succeeded.json" duplicate
expect "another event of the same payment" "$(notice duplicate)" "duplicate -"
invoke ConsumerFunction "$WORK/events/forged.json" forged
expect "the forged delivery" "$(notice forged)" "dead_lettered bad_signature"
invoke ConsumerFunction events/sqs/ignored.json ignored
expect "the committed ignored sample" "$(notice ignored)" "ignored event type not handled"

paid="$("$PAYHOOK" dev record --subscriber acme --payment-id order-sam-local | python3 -c 'import json,sys; print(json.load(sys.stdin)["paid"])')"
expect "the record's paid count in moto" "$paid" 1
rejected="$("$PAYHOOK" dlq list --dlq-url "$REJECTED_QUEUE_URL" --json | python3 -c '
import json, sys
print(" ".join(sorted(m["event_type"] + ":" + m["reason"] for m in map(json.loads, sys.stdin))))')"
expect "the rejected queue in moto" "$rejected" "payment_intent.succeeded:bad_signature"
dead="$("$PAYHOOK" dlq list --dlq-url "$DEAD_LETTER_QUEUE_URL" --json | wc -l)"
expect "the dead-letter queue in moto" "$dead" 0

invoke ReconcileFunction events/scheduled/tick.json reconcile
expect "the reconciler's notice for acme" "$(notice reconcile)" "reconciled -"
expect "the reconciler's answer" "$(tr -d ' \n' < "$WORK/reconcile.out")" '{"subscribers":1}'

invoke NotifierFunction events/scheduled/tick.json notify
status="$("$PAYHOOK" notifications list --subscriber acme --json | python3 -c '
import json, sys
print(" ".join(json.loads(l)["notification"]["status"] for l in sys.stdin))')"
# acme's bundle names no endpoint: the credit's notification is settled without a request.
expect "the credit's notification after the notifier ran" "$status" "not_notified"
say "sam local invoke: the consumer, reconciler and notifier as SAM built them, all checks passed"
