//! Duplicates are cheap and the ledger says what it did: counted by proxies in front of
//! localstripe and moto, not by the consumer's own logs.

use payhook::ledger::Credit;
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::fake_stripe::FakeStripe;
use payhook_testkit::logs::Logs;
use payhook_testkit::proxy::Proxy;
use payhook_testkit::stack::*;
use std::time::Duration;

const GET_INTENT: &str = "GET /v1/payment_intents";
const TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";
const GET_ITEM: &str = "DynamoDB_20120810.GetItem";
/// Every DynamoDB call that writes.
const WRITES: [&str; 4] = [
    TRANSACT,
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.BatchWriteItem",
];

fn writes(aws: &Proxy) -> usize {
    WRITES.iter().map(|w| aws.requests(w)).sum()
}

/// A payment's three events, one of them delivered twice, in one batch: one Stripe call and one
/// transaction. Then, in a fresh execution environment with nothing remembered, a later
/// delivery costs one consistent read, no Stripe call and no write, and names who credited.
#[tokio::test]
async fn duplicates_cost_no_stripe_call_and_no_write() {
    let (stack, stripe, aws) = Stack::counted().await;
    let pi = stack.intent("order-dup-1", 1500).await;
    let intent_body = sample_body("payment_intent.succeeded", &pi);
    let charge_body = sample_body("charge.succeeded", &pi);
    let session_body = sample_body("checkout.session.completed", &pi);

    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(&stack, "m-1", &intent_body).sqs(),
            good(&stack, "m-2", &charge_body).sqs(),
            good(&stack, "m-3", &intent_body).sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    assert_eq!(
        stripe.requests(GET_INTENT),
        1,
        "{:?}",
        stripe.request_counts()
    );
    assert_eq!(aws.requests(TRANSACT), 1, "{:?}", aws.request_counts());
    let mut outcomes = logs.outcomes();
    outcomes.sort();
    assert_eq!(outcomes, ["credited", "duplicate", "duplicate"]);

    let fresh = stack.second_consumer().await;
    let (reads, writes_before) = (aws.requests(GET_ITEM), writes(&aws));
    let r = fresh
        .handle(sqs_event(vec![good(&stack, "m-4", &session_body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    assert_eq!(
        stripe.requests(GET_INTENT),
        1,
        "no Stripe call for a duplicate"
    );
    assert_eq!(writes(&aws), writes_before, "no write for a duplicate");
    assert_eq!(aws.requests(GET_ITEM), reads + 1, "one consistent read");
    let last = logs.notices().pop().expect("a notice");
    assert_eq!(last["outcome"], "duplicate");
    assert_eq!(last["credited_by_message"], "m-1", "{last}");
    assert_eq!(
        last["credited_by_event"], "evt_3SampleEvent0000001",
        "{last}"
    );
    assert_eq!(last["payment_id"], "order-dup-1");

    let record = stack
        .record(SUBSCRIBER, "order-dup-1")
        .await
        .expect("record");
    assert_eq!(record["paid"], 1);
    assert_eq!(record["amount_received"], 1500);
}

/// A commit whose answer was lost (the transaction went through, the consumer never heard):
/// the redelivery of that same message is the credit's notice, not a duplicate; any other
/// delivery is a duplicate naming it. Neither calls Stripe.
#[tokio::test]
async fn the_redelivery_of_a_message_whose_commit_answer_was_lost_is_its_credit() {
    let stripe = Proxy::start(&required_env("STRIPE_API_BASE"), Duration::ZERO)
        .await
        .expect("Stripe proxy");
    let stack = Stack::with(Options {
        stripe_base: Some(stripe.url.clone()),
        ..Options::default()
    })
    .await;
    let pi = stack.intent("order-lost-1", 800).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let committed = stack
        .consumer
        .pipeline
        .ledger
        .apply(&Credit {
            subscriber: SUBSCRIBER,
            payment_id: "order-lost-1",
            intent_id: &pi,
            amount_received: 800,
            currency: "eur",
            event_id: "evt_3SampleEvent0000001",
            event_type: "payment_intent.succeeded",
            message_id: "m-lost",
            movements: &[],
        })
        .await;
    assert_eq!(committed, Ok(payhook::ledger::Applied::Credited));

    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-lost", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let r = stack
        .second_consumer()
        .await
        .handle(sqs_event(vec![good(&stack, "m-other", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let notices = logs.notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0]["outcome"], "credited");
    assert_eq!(notices[0]["recovered"], true);
    assert_eq!(notices[1]["outcome"], "duplicate");
    assert_eq!(notices[1]["credited_by_message"], "m-lost");
    assert_eq!(stripe.requests(GET_INTENT), 0);
    let record = stack
        .record(SUBSCRIBER, "order-lost-1")
        .await
        .expect("record");
    assert_eq!(record["paid"], 1);
}

/// Stripe always states what was collected; a succeeded PaymentIntent without it is refused,
/// never credited with its `amount`.
#[tokio::test]
async fn a_succeeded_payment_intent_without_amount_received_is_refused() {
    let fake = FakeStripe::start().await;
    fake.add_raw_intent(
        "pi_NoAmountReceived1",
        serde_json::json!({
            "id": "pi_NoAmountReceived1", "object": "payment_intent", "amount": 1234,
            "currency": "eur", "status": "succeeded", "livemode": false,
            "metadata": {"id": "order-no-amount"},
        }),
    );
    let stack = Stack::with(Options {
        stripe_base: Some(fake.base.clone()),
        ..Options::default()
    })
    .await;
    let body = sample_body("payment_intent.succeeded", "pi_NoAmountReceived1");
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-no-amount", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].1["failure-reason"], "missing_amount_received");
    assert!(letters[0].1["failure-detail"].contains("pi_NoAmountReceived1"));
    assert!(stack.record(SUBSCRIBER, "order-no-amount").await.is_none());
}

/// The same lost answer with the shortcuts off, so the transaction itself must tell: DynamoDB
/// (moto) cancels the claim and hands back the item it found (`CancellationReasons` with
/// `ReturnValuesOnConditionCheckFailure`), and the ledger reads in it whether this message or
/// another one committed. Both reach the transaction, as the proxy counts.
#[tokio::test]
async fn without_the_shortcuts_the_cancelled_claim_tells_a_lost_answer_from_another_credit() {
    let (mut stack, stripe, aws) = Stack::counted().await;
    stack.consumer.pipeline.duplicate_shortcuts = false;
    let pi = stack.intent("order-lost-2", 900).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let committed = stack
        .consumer
        .pipeline
        .ledger
        .apply(&Credit {
            subscriber: SUBSCRIBER,
            payment_id: "order-lost-2",
            intent_id: &pi,
            amount_received: 900,
            currency: "eur",
            event_id: "evt_3SampleEvent0000001",
            event_type: "payment_intent.succeeded",
            message_id: "m-lost-2",
            movements: &[],
        })
        .await;
    assert_eq!(committed, Ok(payhook::ledger::Applied::Credited));
    let transactions = aws.requests(TRANSACT);
    let (logs, _guard) = Logs::capture();
    for id in ["m-lost-2", "m-other-2"] {
        let r = stack
            .consumer
            .handle(sqs_event(vec![good(&stack, id, &body).sqs()]))
            .await
            .expect("batch");
        assert!(failed_ids(&r).is_empty());
    }
    assert_eq!(
        aws.requests(TRANSACT) - transactions,
        2,
        "both reached the claim"
    );
    assert_eq!(aws.requests(GET_ITEM), 0, "no shortcut read");
    assert_eq!(
        stripe.requests(GET_INTENT),
        2,
        "no shortcut: each looked Stripe up"
    );
    let notices = logs.notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0]["outcome"], "credited");
    assert_eq!(notices[0]["recovered"], true);
    assert_eq!(notices[1]["outcome"], "duplicate");
    assert_eq!(notices[1]["credited_by_message"], "m-lost-2");
    assert_eq!(
        stack
            .record(SUBSCRIBER, "order-lost-2")
            .await
            .expect("record")["paid"],
        1
    );
}
