//! A dispute's life on the record, each step once, whatever order and however often its events
//! come: against moto and the project's localstripe, which opens and closes disputes as Stripe
//! reports them (a withdrawal and, when won, a reinstatement among the dispute's balance
//! transactions: scripts/lib/localstripe_stripe_fields.py).

use payhook::notifications::Notifications;
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// A dispute event of `event_type` for `intent`, from the sample's body.
fn dispute_body(intent: &str, event_type: &str) -> String {
    let mut event: serde_json::Value =
        serde_json::from_str(&sample_body("charge.dispute.created", intent)).unwrap();
    event["type"] = event_type.into();
    serde_json::to_string(&event).unwrap()
}

async fn deliver(stack: &Stack, messages: &[(&str, String)]) {
    let records = messages
        .iter()
        .map(|(id, body)| good(stack, id, body).sqs())
        .collect();
    let r = stack
        .consumer
        .handle(sqs_event(records))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
}

/// (amount_received, disputed, net, disputes_open, disputes_lost)
async fn sums(stack: &Stack, payment_id: &str) -> (i64, i64, i64, i64, i64) {
    let record = stack
        .record(SUBSCRIBER, payment_id)
        .await
        .unwrap_or_else(|| panic!("record {payment_id}"));
    let n = |k: &str| record.get(k).and_then(|v| v.as_i64()).unwrap_or(-1);
    (
        n("amount_received"),
        n("disputed"),
        n("net"),
        n("disputes_open"),
        n("disputes_lost"),
    )
}

/// The notifications owed for a record, as (type, webhook-id), in id order.
async fn owed(stack: &Stack, payment_id: &str) -> Vec<(String, String)> {
    let mut listed: Vec<(String, String)> = Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    )
    .list(Some(SUBSCRIBER), Some(payment_id))
    .await
    .expect("notifications")
    .into_iter()
    .map(|(n, _)| (n.kind.as_str().to_string(), n.id))
    .collect();
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    listed
}

#[tokio::test]
async fn a_won_dispute_is_opened_withdrawn_reinstated_and_closed_once_each() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-disputed-won", 2000).await;
    deliver(
        &stack,
        &[("m-paid", sample_body("payment_intent.succeeded", &intent))],
    )
    .await;
    let dispute = stack.open_dispute(&intent).await;

    let (logs, _guard) = Logs::capture();
    deliver(
        &stack,
        &[(
            "m-dispute-created",
            dispute_body(&intent, "charge.dispute.created"),
        )],
    )
    .await;
    assert_eq!(
        sums(&stack, "order-disputed-won").await,
        (2000, 2000, 0, 1, 0),
        "opened, its amount withdrawn"
    );
    // Its other event, and the first one again: nothing more.
    deliver(
        &stack,
        &[
            (
                "m-funds-withdrawn",
                dispute_body(&intent, "charge.dispute.funds_withdrawn"),
            ),
            (
                "m-dispute-created-again",
                dispute_body(&intent, "charge.dispute.created"),
            ),
        ],
    )
    .await;
    stack.close_dispute(&dispute, true).await;
    deliver(
        &stack,
        &[(
            "m-dispute-closed",
            dispute_body(&intent, "charge.dispute.closed"),
        )],
    )
    .await;
    deliver(
        &stack,
        &[(
            "m-funds-reinstated",
            dispute_body(&intent, "charge.dispute.funds_reinstated"),
        )],
    )
    .await;
    assert_eq!(
        logs.outcomes(),
        [
            "disputed",
            "duplicate",
            "duplicate",
            "disputed",
            "duplicate"
        ]
    );
    assert_eq!(
        sums(&stack, "order-disputed-won").await,
        (2000, 0, 2000, 0, 0),
        "reinstated and won: the money is the merchant's again"
    );
    assert_eq!(
        owed(&stack, "order-disputed-won").await,
        [
            (
                "payment.dispute_opened".to_string(),
                format!("msg_{dispute}_opened")
            ),
            (
                "payment.dispute_funds_reinstated".to_string(),
                format!("msg_{dispute}_reinstated")
            ),
            (
                "payment.dispute_funds_withdrawn".to_string(),
                format!("msg_{dispute}_withdrawn")
            ),
            (
                "payment.dispute_won".to_string(),
                format!("msg_{dispute}_won")
            ),
            ("payment.credited".to_string(), format!("msg_{intent}")),
        ]
    );
}

/// A payment disputed and lost before payhook credited it (its webhook dead-lettered, then
/// redriven): the credit records the dispute with it, so the money that left is never reported
/// as kept, and the dispute's own events find it recorded.
#[tokio::test]
async fn a_dispute_lost_before_the_credit_is_recorded_by_the_credit() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-disputed-lost", 1500).await;
    let dispute = stack.open_dispute(&intent).await;
    stack.close_dispute(&dispute, false).await;

    let (logs, _guard) = Logs::capture();
    // Its event first, recent: retried, the credit may be committing.
    let early = good(
        &stack,
        "m-early-dispute",
        &dispute_body(&intent, "charge.dispute.closed"),
    )
    .sqs();
    let r = stack
        .consumer
        .handle(sqs_event(vec![early]))
        .await
        .expect("batch");
    assert_eq!(failed_ids(&r), ["m-early-dispute"]);
    assert_eq!(stack.record(SUBSCRIBER, "order-disputed-lost").await, None);
    deliver(
        &stack,
        &[(
            "m-late-paid",
            sample_body("payment_intent.succeeded", &intent),
        )],
    )
    .await;
    deliver(
        &stack,
        &[(
            "m-dispute-again",
            dispute_body(&intent, "charge.dispute.created"),
        )],
    )
    .await;
    assert_eq!(logs.outcomes(), ["retry", "credited", "duplicate"]);
    assert_eq!(
        sums(&stack, "order-disputed-lost").await,
        (1500, 1500, 0, 0, 1)
    );
    assert_eq!(
        owed(&stack, "order-disputed-lost").await,
        [("payment.credited".to_string(), format!("msg_{intent}"))],
        "one notification, the credit's, whose body reports the dispute"
    );
}

/// What a stranger would try: a dispute event of a real, disputed payment, signed with a
/// secret that is not the subscriber's. Nothing moves; it is refused with its reason.
#[tokio::test]
async fn a_forged_dispute_event_changes_nothing() {
    let stack = Stack::new().await;
    let intent = stack.intent("order-forged-dispute", 900).await;
    deliver(
        &stack,
        &[("m-paid-f", sample_body("payment_intent.succeeded", &intent))],
    )
    .await;
    stack.open_dispute(&intent).await;
    let body = dispute_body(&intent, "charge.dispute.created");
    let forged = Msg {
        secret: "whsec_not_the_subscribers",
        ..good(&stack, "m-forged-dispute", &body)
    };
    let r = stack
        .consumer
        .handle(sqs_event(vec![forged.sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert_eq!(
        sums(&stack, "order-forged-dispute").await,
        (900, 0, 900, 0, 0),
        "nothing moves on a forgery, even of a dispute Stripe opened"
    );
    assert_eq!(
        owed(&stack, "order-forged-dispute").await,
        [("payment.credited".to_string(), format!("msg_{intent}"))]
    );
    let refused = stack.dead_letters().await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].1["failure-reason"], "bad_signature");
}
