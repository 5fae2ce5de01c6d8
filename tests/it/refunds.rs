//! Refunds on the record, each movement once, whatever order and however often their events
//! come: against moto and the project's localstripe, which makes refunds as Stripe does (events,
//! `payment_intent`, failures that give the money back: scripts/lib/localstripe_stripe_fields.py).

use payhook::notifications::{Notification, Notifications};
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// Delivers signed messages (id, event type of the samples) for `intent` as one batch.
async fn deliver(stack: &Stack, intent: &str, messages: &[(&str, &str)]) {
    let bodies: Vec<String> = messages
        .iter()
        .map(|(_, kind)| sample_body(kind, intent))
        .collect();
    let records = messages
        .iter()
        .zip(&bodies)
        .map(|((id, _), body)| good(stack, id, body).sqs())
        .collect();
    let r = stack
        .consumer
        .handle(sqs_event(records))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
}

/// The record's sums: (paid, amount_received, refunded, net).
async fn sums(stack: &Stack, payment_id: &str) -> (i64, i64, i64, i64) {
    let record = stack
        .record(SUBSCRIBER, payment_id)
        .await
        .unwrap_or_else(|| panic!("record {payment_id}"));
    let n = |k: &str| record.get(k).and_then(|v| v.as_i64()).unwrap_or(-1);
    (n("paid"), n("amount_received"), n("refunded"), n("net"))
}

/// The notifications owed for a record, as (kind, id, amount), oldest first.
async fn owed(stack: &Stack, payment_id: &str) -> Vec<(String, String, i64)> {
    let mut listed: Vec<Notification> = Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    )
    .list(Some(SUBSCRIBER), Some(payment_id))
    .await
    .expect("notifications")
    .into_iter()
    .map(|(n, _)| n)
    .collect();
    listed.sort_by(|a, b| (a.credited_at, &a.id).cmp(&(b.credited_at, &b.id)));
    listed
        .into_iter()
        .map(|n| (n.kind.as_str().to_string(), n.id, n.amount))
        .collect()
}

/// The ledger's entries of a PaymentIntent, as their keys: the credit's, then each movement's.
async fn entries(stack: &Stack, intent: &str) -> Vec<String> {
    let prefix = format!("{SUBSCRIBER}#{intent}");
    let out = aws_sdk_dynamodb::Client::new(&stack.aws)
        .scan()
        .table_name(&stack.config.idempotency_table)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S(prefix))
        .send()
        .await
        .expect("scan the ledger");
    let mut keys: Vec<String> = out
        .items()
        .iter()
        .filter_map(|item| item.get("pk")?.as_s().ok().cloned())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_partial_refund_after_the_credit_is_recorded_once_and_notified() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-refund-1", 2000).await;
    deliver(&stack, &intent, &[("m-paid", "payment_intent.succeeded")]).await;
    let refund = stack.refund(&intent, Some(500)).await;

    let (logs, _guard) = Logs::capture();
    deliver(&stack, &intent, &[("m-refunded", "charge.refunded")]).await;
    // The same event again, and another event of the same refund.
    deliver(
        &stack,
        &intent,
        &[
            ("m-refunded-again", "charge.refunded"),
            ("m-refund-other-type", "refund.failed"),
        ],
    )
    .await;
    assert_eq!(logs.outcomes(), ["refunded", "duplicate", "duplicate"]);
    assert_eq!(sums(&stack, "order-refund-1").await, (1, 2000, 500, 1500));
    assert_eq!(
        owed(&stack, "order-refund-1").await,
        [
            (
                "payment.credited".to_string(),
                format!("msg_{intent}"),
                2000
            ),
            ("payment.refunded".to_string(), format!("msg_{refund}"), 500),
        ]
    );
    assert_eq!(
        entries(&stack, &intent).await,
        [
            format!("{SUBSCRIBER}#{intent}"),
            format!("{SUBSCRIBER}#{intent}#refund#{refund}"),
        ]
    );
    assert!(stack.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_payment_refunded_before_its_credit_is_credited_with_its_refund() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-refund-first", 3000).await;
    stack.refund(&intent, Some(1000)).await;
    let (logs, _guard) = Logs::capture();
    // The refund's event first, recent: nothing is credited yet, and the credit may be
    // committing right now, so it is retried.
    let early = good(
        &stack,
        "m-early-refund",
        &sample_body("charge.refunded", &intent),
    )
    .sqs();
    let r = stack
        .consumer
        .handle(sqs_event(vec![early]))
        .await
        .expect("batch");
    assert_eq!(failed_ids(&r), ["m-early-refund"]);
    assert_eq!(logs.notices()[0]["reason"], "not_yet_credited");
    // The same event an hour old (a payment never credited here, say): acknowledged.
    let mut old: serde_json::Value =
        serde_json::from_str(&sample_body("charge.refunded", &intent)).unwrap();
    old["created"] = (now_ms() / 1000 - 3600).into();
    let old = good(&stack, "m-old-refund", &old.to_string()).sqs();
    let r = stack
        .consumer
        .handle(sqs_event(vec![old]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert_eq!(stack.record(SUBSCRIBER, "order-refund-first").await, None);
    // Then the payment's (late, or redriven from the DLQ): credited with its refund.
    deliver(
        &stack,
        &intent,
        &[("m-late-paid", "payment_intent.succeeded")],
    )
    .await;
    assert_eq!(
        sums(&stack, "order-refund-first").await,
        (1, 3000, 1000, 2000)
    );
    // The refund's event again finds it recorded by the credit.
    deliver(&stack, &intent, &[("m-refund-again", "charge.refunded")]).await;
    assert_eq!(
        logs.outcomes(),
        ["retry", "ignored", "credited", "duplicate"]
    );
    assert_eq!(
        sums(&stack, "order-refund-first").await,
        (1, 3000, 1000, 2000)
    );
    // One notification, the credit's, whose body reports the refund and the net.
    let notes = owed(&stack, "order-refund-first").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, "payment.credited");
}

#[tokio::test]
async fn a_fully_refunded_payment_is_never_kept_as_paid() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-all-back", 1200).await;
    stack.refund(&intent, None).await;
    deliver(
        &stack,
        &intent,
        &[("m-all-back", "payment_intent.succeeded")],
    )
    .await;
    assert_eq!(sums(&stack, "order-all-back").await, (1, 1200, 1200, 0));
}

#[tokio::test]
async fn two_refunds_delivered_twice_in_any_order_each_count_once() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-two-refunds", 5000).await;
    deliver(&stack, &intent, &[("m-paid-2", "payment_intent.succeeded")]).await;
    stack.refund(&intent, Some(1000)).await;
    stack.refund(&intent, Some(2000)).await;
    // Four events of the two refunds in one batch (run one after another, as one
    // PaymentIntent's messages are), then all four again.
    let events = [
        ("m-a", "refund.failed"),
        ("m-b", "charge.refunded"),
        ("m-c", "charge.refunded"),
        ("m-d", "refund.failed"),
    ];
    let (logs, _guard) = Logs::capture();
    deliver(&stack, &intent, &events).await;
    let again: Vec<(String, &str)> = events
        .iter()
        .map(|(id, kind)| (format!("{id}-again"), *kind))
        .collect();
    let again: Vec<(&str, &str)> = again.iter().map(|(id, k)| (id.as_str(), *k)).collect();
    deliver(&stack, &intent, &again).await;
    let outcomes = logs.outcomes();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "refunded").count(),
        1,
        "the first event records both refunds: {outcomes:?}"
    );
    assert_eq!(outcomes.len(), 8);
    assert_eq!(
        sums(&stack, "order-two-refunds").await,
        (1, 5000, 3000, 2000)
    );
    let kinds: Vec<String> = owed(&stack, "order-two-refunds")
        .await
        .into_iter()
        .map(|(kind, _, _)| kind)
        .collect();
    assert_eq!(
        kinds,
        ["payment.credited", "payment.refunded", "payment.refunded"]
    );
}

#[tokio::test]
async fn a_refund_that_fails_gives_its_money_back_once() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-refund-fails", 2000).await;
    deliver(&stack, &intent, &[("m-paid-3", "payment_intent.succeeded")]).await;
    let refund = stack.refund(&intent, Some(800)).await;
    deliver(&stack, &intent, &[("m-refund-made", "charge.refunded")]).await;
    assert_eq!(
        sums(&stack, "order-refund-fails").await,
        (1, 2000, 800, 1200)
    );
    stack.fail_refund(&refund).await;
    let (logs, _guard) = Logs::capture();
    deliver(&stack, &intent, &[("m-refund-failed", "refund.failed")]).await;
    deliver(&stack, &intent, &[("m-refund-failed-2", "refund.failed")]).await;
    assert_eq!(logs.outcomes(), ["refunded", "duplicate"]);
    assert_eq!(sums(&stack, "order-refund-fails").await, (1, 2000, 0, 2000));
    assert_eq!(
        entries(&stack, &intent).await,
        [
            format!("{SUBSCRIBER}#{intent}"),
            format!("{SUBSCRIBER}#{intent}#refund#{refund}"),
            format!("{SUBSCRIBER}#{intent}#refund_reversed#{refund}"),
        ]
    );
    assert_eq!(
        owed(&stack, "order-refund-fails").await,
        [
            (
                "payment.credited".to_string(),
                format!("msg_{intent}"),
                2000
            ),
            ("payment.refunded".to_string(), format!("msg_{refund}"), 800),
            (
                "payment.refund_reversed".to_string(),
                format!("msg_{refund}_reversed"),
                800
            ),
        ]
    );
}

#[tokio::test]
async fn a_forged_refund_event_changes_nothing() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-forged-refund", 900).await;
    deliver(&stack, &intent, &[("m-paid-4", "payment_intent.succeeded")]).await;
    stack.refund(&intent, Some(900)).await;
    let body = sample_body("charge.refunded", &intent);
    let forged = Msg {
        secret: "whsec_not_the_subscribers",
        ..good(&stack, "m-forged-refund", &body)
    };
    let r = stack
        .consumer
        .handle(sqs_event(vec![forged.sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert_eq!(
        sums(&stack, "order-forged-refund").await,
        (1, 900, 0, 900),
        "nothing moves on a forgery, even of a refund Stripe made"
    );
    // This stack has no rejected queue: what strangers cause goes to the DLQ with its reason.
    let refused = stack.dead_letters().await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].1["failure-reason"], "bad_signature");
}

/// A partial capture is not a refund: Stripe captures part and releases the rest, and reports
/// what it captured as `amount_received`; a refund of it then comes off that. Amounts of a
/// zero-decimal currency are whole units, credited and refunded as they are.
#[tokio::test]
async fn a_partial_capture_credits_what_was_captured_and_nothing_is_refunded_for_the_rest() {
    let stack = Stack::new().await;
    let intent = stack
        .intent_captured("order-part-captured", 3000, 1800)
        .await;
    let (logs, _guard) = Logs::capture();
    deliver(
        &stack,
        &intent,
        &[("m-captured", "payment_intent.succeeded")],
    )
    .await;
    deliver(
        &stack,
        &intent,
        &[("m-captured-refund?", "charge.refunded")],
    )
    .await;
    assert_eq!(logs.outcomes(), ["credited", "duplicate"]);
    assert_eq!(
        sums(&stack, "order-part-captured").await,
        (1, 1800, 0, 1800)
    );

    let yen = stack.intent_with(Some("order-yen"), 5000, "jpy").await;
    deliver(&stack, &yen, &[("m-yen", "payment_intent.succeeded")]).await;
    stack.refund(&yen, Some(1200)).await;
    deliver(&stack, &yen, &[("m-yen-refund", "charge.refunded")]).await;
    assert_eq!(sums(&stack, "order-yen").await, (1, 5000, 1200, 3800));
}

/// A record credited before `net` was kept (only `paid` and `amount_received`): its first
/// refund starts `net` from what it received, not from zero.
#[tokio::test]
async fn a_record_from_before_net_was_kept_gets_it_right_at_its_first_refund() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-old-record", 2000).await;
    deliver(
        &stack,
        &intent,
        &[("m-old-paid", "payment_intent.succeeded")],
    )
    .await;
    aws_sdk_dynamodb::Client::new(&stack.aws)
        .update_item()
        .table_name(&stack.config.payments_table)
        .key(
            "subscriber",
            aws_sdk_dynamodb::types::AttributeValue::S(SUBSCRIBER.into()),
        )
        .key(
            "payment_id",
            aws_sdk_dynamodb::types::AttributeValue::S("order-old-record".into()),
        )
        .update_expression("REMOVE net, refunded, disputed, disputes_open, disputes_lost")
        .send()
        .await
        .expect("make it an old record");
    stack.refund(&intent, Some(300)).await;
    deliver(&stack, &intent, &[("m-old-refund", "charge.refunded")]).await;
    assert_eq!(sums(&stack, "order-old-record").await, (1, 2000, 300, 1700));
}
