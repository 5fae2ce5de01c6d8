use super::*;

/// A payment kept as unapplied (its PaymentIntent names no record) is listed and assigned by
/// the operator, through the exactly-once ledger: a second assignment changes nothing.
#[tokio::test]
async fn unapplied_money_is_listed_and_applied_once() {
    let stack = Stack::new().await;
    let pi = stack.intent_with(None, 3300, "eur").await;
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            good(
                &stack,
                "m-unapplied",
                &sample_body("payment_intent.succeeded", &pi),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let stripe = required_env("STRIPE_API_BASE");
    let env = [
        ("PAYMENTS_TABLE", stack.config.payments_table.as_str()),
        ("IDEMPOTENCY_TABLE", stack.config.idempotency_table.as_str()),
        ("UNAPPLIED_TABLE", stack.config.unapplied_table.as_str()),
        (
            "NOTIFICATIONS_TABLE",
            stack.config.notifications_table.as_str(),
        ),
        ("KEYSET_SECRET_ID", stack.config.keyset_secret_id.as_str()),
        ("STRIPE_API_BASE", stripe.as_str()),
        ("PAYHOOK_MODE", "test"),
    ];
    // Without the notifications table, a credit by hand would go untold: refused up front.
    let untold = payhook(
        &[
            "unapplied",
            "apply",
            "--subscriber",
            SUBSCRIBER,
            "--intent",
            &pi,
            "--payment-id",
            "x",
            "--bundle",
            &stack.bundle,
        ],
        &env[..3],
    );
    assert_eq!(untold.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&untold.stderr).contains("NOTIFICATIONS_TABLE"),
        "{}",
        String::from_utf8_lossy(&untold.stderr)
    );
    let listed = ok(&["unapplied", "list", "--subscriber", SUBSCRIBER], &env);
    assert!(
        listed.contains(&pi) && listed.contains("no_payment_id"),
        "{listed}"
    );
    assert!(
        listed.contains("3300") && listed.contains("unapplied"),
        "{listed}"
    );

    let apply = [
        "unapplied",
        "apply",
        "--subscriber",
        SUBSCRIBER,
        "--intent",
        &pi,
        "--payment-id",
        "order-assigned-1",
        "--bundle",
        &stack.bundle,
    ];
    let out = ok(&apply, &env);
    assert!(
        out.contains("credited 3300 eur to acme/order-assigned-1"),
        "{out}"
    );
    let owed = payhook::notifications::Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    )
    .list(Some(SUBSCRIBER), Some("order-assigned-1"))
    .await
    .expect("notifications");
    assert_eq!(
        owed.len(),
        1,
        "the credit by hand owes its notification: {owed:?}"
    );
    assert_eq!(owed[0].0.amount, 3300);
    let again = payhook(&apply, &env);
    assert_eq!(again.status.code(), Some(2), "applied once only");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("is already applied (to order-assigned-1)"),
        "{err}"
    );
    let record = stack
        .record(SUBSCRIBER, "order-assigned-1")
        .await
        .expect("record");
    assert_eq!(record["paid"], 1);
    assert_eq!(record["amount_received"], 3300);

    let json = ok(&["unapplied", "list", "--json"], &env);
    let item: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(item["status"], "applied");
    assert_eq!(item["applied_payment_id"], "order-assigned-1");
    let missing = payhook(
        &[
            "unapplied",
            "apply",
            "--subscriber",
            SUBSCRIBER,
            "--intent",
            "pi_Nope",
            "--payment-id",
            "x",
            "--bundle",
            &stack.bundle,
        ],
        &env,
    );
    assert_eq!(missing.status.code(), Some(2));
}
