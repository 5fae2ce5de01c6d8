//! Money that cannot be applied by itself is kept, not dead-lettered: a succeeded PaymentIntent
//! without a payment id, or in another currency than its record, lands in the unapplied table
//! with its reason and the delivery it came from. The Checkout Session that collected it, as
//! Stripe returns it (its metadata.id, then its client_reference_id), is asked first; the
//! event's copy of the Session names nothing.

use payhook_testkit::delivery::sqs_event;
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// A `checkout.session.completed` body for `intent_id` whose copy of the Session names these.
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

/// The stack's subscriber, as an operator's `--bundle` names them.
fn account(stack: &Stack) -> payhook::pipeline::Account<'static> {
    static KEY: std::sync::LazyLock<secrecy::SecretString> =
        std::sync::LazyLock::new(|| secrecy::SecretString::from(API_KEY));
    payhook::pipeline::Account {
        subscriber: SUBSCRIBER,
        api_key: &KEY,
        key_mode: stack.consumer.pipeline.key_mode(&KEY).expect("a test key"),
    }
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
    stack
        .checkout_session(
            &by_metadata,
            Some("order-session-meta"),
            Some("order-ref-ignored"),
        )
        .await;
    stack
        .checkout_session(&by_reference, None, Some("order-session-ref"))
        .await;
    // Any event of the payment finds its Session: the Session's own event, and a
    // payment_intent.succeeded that says nothing of Checkout.
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-s1",
                &sample_body("checkout.session.completed", &by_metadata),
            )
            .sqs(),
            good(
                &stack,
                "m-s2",
                &sample_body("payment_intent.succeeded", &by_reference),
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
    for never in ["order-ref-ignored", "order-1001"] {
        assert!(stack.record(SUBSCRIBER, never).await.is_none(), "{never}");
    }
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

/// What an attacker holding the subscriber's webhook secret would try: a Checkout event whose
/// copy of the Session names another customer's order. The record comes from Stripe's Session,
/// so the payment lands on its own order; a payment with no Session is kept, never credited to
/// the order the body names; and the genuine event then finds it credited.
#[tokio::test]
async fn a_signed_checkout_body_cannot_steer_a_payment_onto_another_record() {
    let stack = Stack::new().await;
    let real = stack.intent_with(None, 1500, "eur").await;
    stack
        .checkout_session(&real, Some("order-real"), None)
        .await;
    let sessionless = stack.intent_with(None, 1600, "eur").await;
    let steer = |intent: &str| session_body(intent, Some("order-victim"), Some("order-victim"));
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(&stack, "m-steer", &steer(&real)).sqs(),
            good(&stack, "m-steer-no-session", &steer(&sessionless)).sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert!(stack.record(SUBSCRIBER, "order-victim").await.is_none());
    let record = stack
        .record(SUBSCRIBER, "order-real")
        .await
        .expect("credited");
    assert_eq!(
        (record["paid"].clone(), record["amount_received"].clone()),
        (1.into(), 1500.into())
    );
    let kept = stack
        .consumer
        .pipeline
        .unapplied
        .list(Some(SUBSCRIBER))
        .await
        .expect("list");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].payment_intent, sessionless);
    assert_eq!(kept[0].reason, "no_payment_id");
    assert_eq!(kept[0].payment_id, None);
}

/// A PaymentIntent whose own event named no record is kept as unapplied money; when its
/// Checkout Session then names the record, the payment is credited there and the kept row says
/// so, so that nobody assigns it by hand as well.
#[tokio::test]
async fn kept_money_that_a_checkout_session_later_credits_is_marked_applied() {
    let stack = Stack::new().await;
    let intent = stack.intent_with(None, 1300, "eur").await;
    let kept = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-pi-first",
                &sample_body("payment_intent.succeeded", &intent),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&kept).is_empty());
    let before = stack
        .consumer
        .pipeline
        .unapplied
        .list(Some(SUBSCRIBER))
        .await
        .expect("list");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        before[0].status,
        payhook::ledger::UnappliedStatus::Unapplied
    );

    stack
        .checkout_session(&intent, Some("order-late-session"), None)
        .await;
    let credited = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-session-later",
                &sample_body("checkout.session.completed", &intent),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&credited).is_empty());
    let record = stack
        .record(SUBSCRIBER, "order-late-session")
        .await
        .expect("credited to the Session's record");
    assert_eq!(
        (record["paid"].clone(), record["amount_received"].clone()),
        (1.into(), 1300.into())
    );
    let after = stack
        .consumer
        .pipeline
        .unapplied
        .list(Some(SUBSCRIBER))
        .await
        .expect("list");
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].status, payhook::ledger::UnappliedStatus::Applied);
    assert_eq!(
        after[0].applied_payment_id.as_deref(),
        Some("order-late-session")
    );
}

/// Kept money whose PaymentIntent the ledger has credited since (an event that named a record
/// by itself, its mark on the kept row lost): the operator sees who credited it, and assigning
/// it elsewhere changes no record; the row is marked with the record that has the money.
#[tokio::test]
async fn assigning_kept_money_that_was_credited_since_changes_nothing() {
    use payhook::ledger::{Assigned, Credit, kept_payments};
    let stack = Stack::new().await;
    let intent = stack.intent_with(None, 1400, "eur").await;
    let kept = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-kept",
                &sample_body("payment_intent.succeeded", &intent),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&kept).is_empty());
    let pipeline = &stack.consumer.pipeline;
    pipeline
        .ledger
        .apply(&Credit {
            subscriber: SUBSCRIBER,
            payment_id: "order-credited-since",
            intent_id: &intent,
            amount_received: 1400,
            currency: "eur",
            event_id: "evt_later",
            event_type: "checkout.session.completed",
            message_id: "m-later",
            movements: &[],
        })
        .await
        .expect("credited by a later event");

    let seen = kept_payments(&pipeline.unapplied, &pipeline.ledger, Some(SUBSCRIBER))
        .await
        .expect("kept payments");
    assert_eq!(seen.len(), 1);
    let since = seen[0]
        .credited_since
        .as_ref()
        .expect("the ledger's credit");
    assert_eq!(since.payment_id, "order-credited-since");

    let done = pipeline
        .assign_kept(
            account(&stack),
            &intent,
            "order-chosen-by-hand",
            "operator-1",
        )
        .await
        .expect("assign");
    match done.assigned {
        Assigned::AlreadyCredited(by) => assert_eq!(by.payment_id, "order-credited-since"),
        other => panic!("credited twice: {other:?}"),
    }
    assert!(
        stack
            .record(SUBSCRIBER, "order-chosen-by-hand")
            .await
            .is_none(),
        "no second credit"
    );
    assert_eq!(
        stack
            .record(SUBSCRIBER, "order-credited-since")
            .await
            .expect("record")["paid"],
        1
    );
    let row = stack
        .consumer
        .pipeline
        .unapplied
        .list(Some(SUBSCRIBER))
        .await
        .expect("list");
    assert_eq!(row[0].status, payhook::ledger::UnappliedStatus::Applied);
    assert_eq!(
        row[0].applied_payment_id.as_deref(),
        Some("order-credited-since")
    );
}

/// Kept money is assigned as Stripe reports it when the operator assigns it: refunded in full
/// since it was kept, it is refused and nothing is credited; refunded in part, it is credited
/// with its refund on the record, so the record's net is what the merchant kept.
#[tokio::test]
async fn assigning_kept_money_asks_stripe_and_refuses_what_went_back() {
    use payhook::pipeline::AssignKeptError;
    let stack = Stack::new().await;
    let all_back = stack.intent_with(None, 1000, "eur").await;
    let part_back = stack.intent_with(None, 2000, "eur").await;
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-kept-1",
                &sample_body("payment_intent.succeeded", &all_back),
            )
            .sqs(),
            good(
                &stack,
                "m-kept-2",
                &sample_body("payment_intent.succeeded", &part_back),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    stack.refund(&all_back, None).await;
    let refund = stack.refund(&part_back, Some(500)).await;
    let pipeline = &stack.consumer.pipeline;

    let refused = pipeline
        .assign_kept(account(&stack), &all_back, "order-all-back", "operator-1")
        .await
        .expect_err("refunded in full");
    assert!(
        matches!(
            &refused,
            AssignKeptError::Refunded {
                received: 1000,
                refunded: 1000,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(stack.record(SUBSCRIBER, "order-all-back").await.is_none());

    let done = pipeline
        .assign_kept(account(&stack), &part_back, "order-part-back", "operator-2")
        .await
        .expect("assign");
    assert_eq!((done.received, done.refunded), (2000, 500));
    let record = stack
        .record(SUBSCRIBER, "order-part-back")
        .await
        .expect("record");
    let n = |k: &str| record.get(k).and_then(|v| v.as_i64());
    assert_eq!(
        (n("paid"), n("amount_received"), n("refunded"), n("net")),
        (Some(1), Some(2000), Some(500), Some(1500))
    );
    // The refund's own event, later, finds it recorded with the credit.
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(
                &stack,
                "m-refund-late",
                &sample_body("charge.refunded", &part_back),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let record = stack
        .record(SUBSCRIBER, "order-part-back")
        .await
        .expect("record");
    assert_eq!(
        record.get("refunded").and_then(|v| v.as_i64()),
        Some(500),
        "{refund} once"
    );
    // Still kept, not applied: the operator can see it and decide.
    let rows = pipeline
        .unapplied
        .list(Some(SUBSCRIBER))
        .await
        .expect("list");
    let row = rows
        .iter()
        .find(|r| r.payment_intent == all_back)
        .expect("kept row");
    assert_eq!(row.status, payhook::ledger::UnappliedStatus::Unapplied);
}
