//! Money that cannot be applied by itself is kept, not dead-lettered: a succeeded PaymentIntent
//! without a payment id, or in another currency than its record, lands in the unapplied table
//! with its reason and the delivery it came from. A Checkout Session's own metadata.id, then
//! its client_reference_id, are tried first.

use payhook_testkit::delivery::sqs_event;
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// A `checkout.session.completed` body for `intent_id`, its Session carrying `fields`.
fn session_body(
    intent_id: &str,
    metadata_id: Option<&str>,
    client_reference_id: Option<&str>,
) -> String {
    let mut body: serde_json::Value =
        serde_json::from_str(&sample_body("checkout.session.completed", intent_id)).unwrap();
    let session = &mut body["data"]["object"];
    session["metadata"] = match metadata_id {
        Some(id) => serde_json::json!({ "id": id }),
        None => serde_json::json!({}),
    };
    session["client_reference_id"] = serde_json::json!(client_reference_id);
    serde_json::to_string_pretty(&body).unwrap()
}

#[tokio::test]
async fn a_payment_without_a_usable_record_is_kept_with_its_reason_and_delivery() {
    let stack = Stack::new().await;
    let no_id = stack.intent_with(None, 2500, "eur").await;
    let paid_eur = stack.intent("order-eur-1", 1000).await;
    let in_usd = stack.intent_with(Some("order-eur-1"), 700, "usd").await;
    let body_no_id = sample_body("payment_intent.succeeded", &no_id);

    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(&stack, "m-no-id", &body_no_id).sqs(),
            good(
                &stack,
                "m-eur",
                &sample_body("payment_intent.succeeded", &paid_eur),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    // Another currency than the record's, and a redelivery of the first one.
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(&stack, "m-usd", &sample_body("charge.succeeded", &in_usd)).sqs(),
            good(&stack, "m-no-id-again", &body_no_id).sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());

    assert!(
        stack.dead_letters().await.is_empty(),
        "kept, not dead-lettered"
    );
    let mut outcomes = logs.outcomes();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["credited", "unapplied", "unapplied", "unapplied"]
    );
    let record = stack
        .record(SUBSCRIBER, "order-eur-1")
        .await
        .expect("record");
    assert_eq!(
        (record["paid"].clone(), record["currency"].clone()),
        (1.into(), "eur".into())
    );

    let mut kept = stack
        .consumer
        .pipeline
        .unapplied
        .list(Some(SUBSCRIBER))
        .await
        .expect("list");
    kept.sort_by(|a, b| a.reason.cmp(&b.reason));
    assert_eq!(kept.len(), 2, "{kept:?}");
    let (mismatch, missing) = (&kept[0], &kept[1]);
    assert_eq!(missing.reason, "no_payment_id");
    assert_eq!(missing.payment_intent, no_id);
    assert_eq!(
        (missing.amount_received, missing.currency.as_str()),
        (2500, "eur")
    );
    assert_eq!(
        missing.delivery_id, "m-no-id",
        "the first delivery's record stands"
    );
    assert_eq!(missing.status, payhook::ledger::UnappliedStatus::Unapplied);
    assert_eq!(mismatch.reason, "currency_mismatch");
    assert_eq!(mismatch.payment_id.as_deref(), Some("order-eur-1"));
    assert_eq!(
        (mismatch.amount_received, mismatch.currency.as_str()),
        (700, "usd")
    );
    assert_eq!(mismatch.event_type, "charge.succeeded");
}

#[tokio::test]
async fn a_checkout_session_names_the_payment_when_its_payment_intent_does_not() {
    let stack = Stack::new().await;
    let by_metadata = stack.intent_with(None, 1100, "eur").await;
    let by_reference = stack.intent_with(None, 1200, "eur").await;
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-s1",
                &session_body(
                    &by_metadata,
                    Some("order-session-meta"),
                    Some("order-ref-ignored"),
                ),
            )
            .sqs(),
            good(
                &stack,
                "m-s2",
                &session_body(&by_reference, None, Some("order-session-ref")),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert_eq!(
        stack
            .record(SUBSCRIBER, "order-session-meta")
            .await
            .unwrap()["paid"],
        1
    );
    assert_eq!(
        stack.record(SUBSCRIBER, "order-session-ref").await.unwrap()["paid"],
        1
    );
    assert!(
        stack
            .record(SUBSCRIBER, "order-ref-ignored")
            .await
            .is_none()
    );
    assert!(
        stack
            .consumer
            .pipeline
            .unapplied
            .list(None)
            .await
            .unwrap()
            .is_empty()
    );
}
