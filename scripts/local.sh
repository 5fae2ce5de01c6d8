#!/usr/bin/env bash
# The whole pipeline on this machine, kept running: moto (DynamoDB, SQS, Secrets Manager) and
# localstripe on free ports, the tables, queues (with a redrive policy) and key set secret, and
# the consumer polling the queue like Lambda's event source mapping (`payhook local`). Put
# deliveries on the queue with `payhook send` from another shell (the script prints how).
# Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bootstrap
trap stop_emulators EXIT
start_emulators
PAYHOOK="$(payhook_cli)"
mkdir -p "$STATE/local"
"$PAYHOOK" dev provision --keyset events/demo-keyset.json --max-receive-count 3 \
    --visibility-timeout 10 > "$STATE/local/consumer.env"
set -a
source "$STATE/local/consumer.env"
set +a
{
    echo "export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL STRIPE_API_BASE=$STRIPE_API_BASE"
    echo "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
    sed 's/^/export /' "$STATE/local/consumer.env"
} > "$STATE/local/env.sh"

cat <<INFO
moto (AWS):        $AWS_ENDPOINT_URL
localstripe:       $STRIPE_API_BASE
webhook queue:     $QUEUE_URL   (maxReceiveCount 3, visibility 10 s)
dead-letter queue: $DEAD_LETTER_QUEUE_URL
payments table:    $PAYMENTS_TABLE

In another shell:
  source $STATE/local/env.sh
  export PAYHOOK_STRIPE_API_KEY=sk_test_demo_acme PAYHOOK_WEBHOOK_SECRET=whsec_demo_acme
  PI=\$(target/debug/payhook dev demo-intent --payment-id order-42)
  target/debug/payhook dev send --queue-url \$QUEUE_URL --body events/stripe/charge.succeeded.json \\
      --subscriber acme --bundle @events/demo-acme.bundle --payment-intent \$PI
  target/debug/payhook dev record --subscriber acme --payment-id order-42
  target/debug/payhook dlq list --dlq-url \$DEAD_LETTER_QUEUE_URL
  target/debug/payhook dlq redrive --dlq-url \$DEAD_LETTER_QUEUE_URL --queue-url \$QUEUE_URL
INFO
"$PAYHOOK" dev local --queue-url "$QUEUE_URL"
