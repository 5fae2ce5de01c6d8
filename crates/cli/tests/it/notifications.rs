use super::*;

/// `notifications list` shows a credit's notification with every attempt; `resend` makes a
/// delivered one due again, and the notifier sends it with the same webhook-id.
#[tokio::test]
async fn notifications_are_listed_with_their_attempts_and_resent() {
    use payhook::notifications::Notifier;
    let stack = Stack::new().await;
    let receiver = payhook_testkit::receiver::Receiver::start(1).await;
    let secret = payhook::notifications::generate_secret();
    let bundle = stack
        .keys
        .seal_notifying(SUBSCRIBER, &[WHSEC], API_KEY, &receiver.url, &secret);
    let prefix = format!("/{}", stack.config.payments_table);
    aws_sdk_ssm::Client::new(&stack.aws)
        .put_parameter()
        .name(format!("{prefix}/{SUBSCRIBER}/bundle"))
        .value(&bundle)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("bundle into SSM");
    let pi = stack.intent("order-cli-notify", 2500).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let msg = Msg {
        bundle: &bundle,
        ..good(&stack, "m-cli-notify", &body)
    };
    stack
        .consumer
        .handle(delivery::sqs_event(vec![msg.sqs()]))
        .await
        .expect("batch");
    let table = stack.config.notifications_table.clone();
    let dlq = emulators::create_queue(&stack.aws, &format!("{table}-dlq"))
        .await
        .expect("notification DLQ");
    let config = payhook::ops::notifier_config(|k| match k {
        "NOTIFICATION_DLQ_URL" => Some(dlq.clone()),
        "NOTIFICATIONS_TABLE" => Some(table.clone()),
        "PAYMENTS_TABLE" => Some(stack.config.payments_table.clone()),
        "KEYSET_SECRET_ID" => Some(stack.config.keyset_secret_id.clone()),
        "SUBSCRIBER_PARAMETER_PREFIX" => Some(prefix.clone()),
        "PAYHOOK_MODE" => Some("test".into()),
        _ => None,
    })
    .unwrap();
    let notifier = Notifier::new(&config, &stack.aws, stack.keys.ring()).unwrap();
    let t0 = now_ms();
    notifier.run_due(t0, None).await;
    notifier.run_due(t0 + 10 * 60_000, None).await;
    assert_eq!(receiver.received().len(), 2);

    let env = [("NOTIFICATIONS_TABLE", table.as_str())];
    let listed = ok(
        &[
            "notifications",
            "list",
            "--subscriber",
            SUBSCRIBER,
            "--payment",
            "order-cli-notify",
        ],
        &env,
    );
    assert!(
        listed.contains(&format!("msg_{pi}")) && listed.contains("delivered after 2 attempt(s)"),
        "{listed}"
    );
    assert!(
        listed.contains("#1") && listed.contains("HTTP 500") && listed.contains("[retry]"),
        "{listed}"
    );
    assert!(
        listed.contains("#2") && listed.contains("HTTP 200") && listed.contains("[delivered]"),
        "{listed}"
    );
    assert!(listed.contains(&receiver.url), "{listed}");
    let json = ok(&["notifications", "list", "--json"], &env);
    let line: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(line["notification"]["status"], "delivered");
    assert_eq!(line["attempts"].as_array().map(Vec::len), Some(2));
    let none = ok(
        &["notifications", "list", "--payment", "order-nobody"],
        &env,
    );
    assert!(none.is_empty(), "{none}");

    let out = ok(
        &[
            "notifications",
            "resend",
            "--subscriber",
            SUBSCRIBER,
            "--payment",
            "order-cli-notify",
        ],
        &env,
    );
    assert!(out.contains("due again"), "{out}");
    notifier.run_due(now_ms(), None).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].header("webhook-id"), format!("msg_{pi}"));
    assert_eq!(got[2].body, got[0].body);
    let unknown = payhook(
        &[
            "notifications",
            "resend",
            "--subscriber",
            SUBSCRIBER,
            "--id",
            "msg_nope",
        ],
        &env,
    );
    assert_eq!(unknown.status.code(), Some(2));
    let no_table = payhook(&["notifications", "list"], &[]);
    assert_eq!(no_table.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_table.stderr).contains("NOTIFICATIONS_TABLE"));
}
