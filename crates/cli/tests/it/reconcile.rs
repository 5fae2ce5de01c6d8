use super::*;

/// Payments confirmed on localstripe whose webhooks never came (two of three): reconcile lists
/// the events Stripe raised and credits each once; the one that did arrive counts as already
/// credited; a second run over the same window changes nothing.
#[tokio::test]
async fn reconcile_credits_what_never_arrived_once_and_a_second_run_changes_nothing() {
    let stack = Stack::new().await;
    let since = now_ms() / 1000 - 1;
    let missed_1 = stack.intent("order-recon-1", 1700).await;
    let missed_2 = stack.intent("order-recon-2", 1800).await;
    let delivered = stack.intent("order-recon-3", 1900).await;
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            good(
                &stack,
                "m-recon-3",
                &sample_body("payment_intent.succeeded", &delivered),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    // Every event of the window exists before the first run lists it.
    let until = now_ms() / 1000;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let dir = temp_dir("reconcile");
    let bundle = dir.join("acme.bundle");
    std::fs::write(&bundle, &stack.bundle).unwrap();
    let bundle_arg = format!("@{}", bundle.display());
    let (since, until) = (since.to_string(), until.to_string());
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
        ("PAYHOOK_MODE", "test"),
        ("STRIPE_API_BASE", stripe.as_str()),
    ];
    let run = || {
        let out = payhook(
            &[
                "reconcile",
                "--subscriber",
                SUBSCRIBER,
                "--bundle",
                &bundle_arg,
                "--since",
                &since,
                "--until",
                &until,
            ],
            &env,
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let summary = String::from_utf8_lossy(&out.stdout).into_owned();
        // "reconcile done: N events, C credited, A already credited, …"
        let count = |what: &str| -> usize {
            summary
                .split(", ")
                .find_map(|part| {
                    part.trim_start_matches("reconcile done: ")
                        .strip_suffix(what)
                })
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {what:?} in {summary}"))
        };
        (count(" credited"), count(" already credited"), stderr)
    };

    let (credited, already, progress) = run();
    // Other tests share localstripe and may add events to the window: at least ours.
    assert!(credited >= 2, "{progress}");
    assert!(already >= 1, "the delivered one: {progress}");
    for (order, pi) in [
        ("order-recon-1", &missed_1),
        ("order-recon-2", &missed_2),
        ("order-recon-3", &delivered),
    ] {
        let record = stack.record(SUBSCRIBER, order).await.expect("credited");
        assert_eq!(record["paid"], 1, "{order}");
        assert_eq!(record["last_payment_intent"], pi.as_str());
    }
    assert!(
        progress.contains(&missed_1) && progress.contains("credited"),
        "progress names each event: {progress}"
    );
    // A credit made by hand owes the subscriber its notification, as a webhook's does.
    let owed = payhook::notifications::Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    );
    for (order, pi) in [("order-recon-1", &missed_1), ("order-recon-2", &missed_2)] {
        let listed = owed
            .list(Some(SUBSCRIBER), Some(order))
            .await
            .expect("notifications");
        assert_eq!(listed.len(), 1, "{order}: {listed:?}");
        assert_eq!(&listed[0].0.payment_intent, pi);
    }

    let (credited_again, already_again, _) = run();
    assert_eq!(credited_again, 0, "nothing is applied twice");
    assert_eq!(already_again, credited + already);
    for order in ["order-recon-1", "order-recon-2", "order-recon-3"] {
        assert_eq!(stack.record(SUBSCRIBER, order).await.unwrap()["paid"], 1);
    }
    let _ = std::fs::remove_dir_all(dir);
}
