use super::*;

/// Dead letters from a key rotation gone wrong: bundles sealed to a key the consumer did not
/// have yet. Listing leaves them in place; an interrupted redrive, then a full one, moves them
/// back; the consumer with the new key set credits each payment once.
#[tokio::test]
async fn dlq_list_then_interrupted_and_filtered_redrive_lose_nothing() {
    let mut stack = Stack::new().await;
    stack.rereading_keys_every_time().await;
    let dlq_url = stack.config.dead_letter_queue_url.clone().expect("DLQ");
    let queue_url = emulators::create_queue_with_dlq(
        &stack.aws,
        &format!("{}-q", stack.config.payments_table),
        &dlq_url,
        5,
        1,
    )
    .await
    .expect("queue");
    let (new_public, new_key) = payhook::secrets::generate_key("it-key-2").unwrap();
    let new_bundle = stack
        .keys
        .seal_to(&new_public, "it-key-2", SUBSCRIBER, &[WHSEC], API_KEY);
    let p1 = stack.intent("order-dlq-1", 1100).await;
    let p2 = stack.intent("order-dlq-2", 2200).await;
    let b1 = sample_body("payment_intent.succeeded", &p1);
    let b2 = sample_body("charge.succeeded", &p2);
    let forged_body = sample_body("payment_intent.succeeded", &p1);
    let unknown_key = |id, body| Msg {
        bundle: &new_bundle,
        ..good(&stack, id, body)
    };
    let forged = Msg {
        secret: "whsec_attacker",
        ..good(&stack, "m-forged", &forged_body)
    };
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            unknown_key("m-1", &b1).sqs(),
            unknown_key("m-2", &b2).sqs(),
            forged.sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());

    // List twice: looking consumes nothing.
    for _ in 0..2 {
        let out = ok(&["dlq", "list", "--dlq-url", &dlq_url, "--json"], &[]);
        let mut reasons: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json line")["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            ["bad_signature", "unopenable_bundle", "unopenable_bundle"]
        );
    }
    let table = ok(&["dlq", "list", "--dlq-url", &dlq_url], &[]);
    assert!(
        table.contains("unopenable_bundle") && table.contains("payment_intent.succeeded"),
        "{table}"
    );

    // The fix: the new key joins the key set, and a fresh consumer (cold start) reads it.
    let doc = serde_json::to_value(&payhook::secrets::KeySetDocument {
        version: payhook::secrets::KEYSET_VERSION,
        keys: vec![new_key],
        issuers: Vec::new(),
    })
    .unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&stack.aws);
    let old = sm
        .get_secret_value()
        .secret_id(&stack.config.keyset_secret_id)
        .send()
        .await
        .unwrap();
    let mut merged: serde_json::Value = serde_json::from_str(old.secret_string().unwrap()).unwrap();
    merged["keys"]
        .as_array_mut()
        .unwrap()
        .extend(doc["keys"].as_array().unwrap().iter().cloned());
    sm.put_secret_value()
        .secret_id(&stack.config.keyset_secret_id)
        .secret_string(merged.to_string())
        .send()
        .await
        .unwrap();
    let fixed = stack.second_consumer().await;

    // A redrive that stops right after its first send, as a crash there would.
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let filter = redrive::Filter {
        reason: Some(Reason::UnopenableBundle),
        ..redrive::Filter::default()
    };
    let partial = redrive::redrive(
        &sqs,
        &dlq_url,
        &queue_url,
        &filter,
        &HashMap::new(),
        |_, _| ControlFlow::Break(()),
    )
    .await
    .unwrap();
    assert_eq!((partial.moved, partial.selected), (1, 2));
    assert_eq!(
        redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap().len(),
        3,
        "nothing deleted yet"
    );

    let out = ok(
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            &dlq_url,
            "--queue-url",
            &queue_url,
            "--reason",
            "unopenable_bundle",
        ],
        &[],
    );
    assert!(out.contains("2 moved") && out.contains("1 left"), "{out}");
    let rest = redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].reason.as_deref(), Some("bad_signature"));

    // Three messages on the queue (one duplicated by the interruption): each payment once.
    let (logs, _guard) = Logs::capture();
    let mut handled = 0;
    for _ in 0..10 {
        let polled = poller::poll_once(&sqs, &queue_url, &fixed, 1)
            .await
            .unwrap();
        handled += polled.deleted;
        if polled.received == 0 && handled >= 3 {
            break;
        }
    }
    assert_eq!(handled, 3, "{}", logs.text());
    let mut outcomes = logs.outcomes();
    outcomes.sort();
    assert_eq!(outcomes, ["credited", "credited", "duplicate"]);
    assert_eq!(
        stack.record(SUBSCRIBER, "order-dlq-1").await.unwrap()["paid"],
        1
    );
    assert_eq!(
        stack.record(SUBSCRIBER, "order-dlq-2").await.unwrap()["paid"],
        1
    );
}

#[test]
fn a_redrive_reason_the_consumer_never_writes_is_a_usage_error() {
    let closed = payhook_testkit::closed_port_url();
    let (dlq, queue) = (
        format!("{closed}/000000000000/dlq"),
        format!("{closed}/000000000000/q"),
    );
    let out = payhook(
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            &dlq,
            "--queue-url",
            &queue,
            "--reason",
            "bad_signatur",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad_signatur"), "{stderr}");
    for reason in Reason::ALL {
        assert!(
            stderr.contains(reason.as_str()),
            "{reason} not offered: {stderr}"
        );
    }
}

#[test]
fn without_aws_credentials_dlq_list_says_so_in_one_line() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_payhook"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(var);
    }
    // A closed local port: nothing leaves this machine, whatever the SDK tries.
    let closed = payhook_testkit::closed_port_url();
    let dlq = format!("{closed}/000000000000/dlq");
    let out = cmd
        .args(["dlq", "list", "--endpoint", &closed, "--dlq-url", &dlq])
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run payhook");
    assert_eq!(out.status.code(), Some(1), "a failed command exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("payhook: ReceiveMessage on "), "{line}");
    assert!(line.contains("no AWS credentials were found"), "{line}");
    assert!(
        line.contains("AWS_PROFILE"),
        "says how to provide them: {line}"
    );
    assert!(line.len() < 400, "{} characters: {line}", line.len());
}

/// A subscriber's bundle held a wrong `whsec_`: every delivery was dead-lettered as a bad
/// signature. A redrive with the corrected bundle (checked against the key set first) sends
/// them back with it, and each payment is credited exactly once. A corrected bundle that names
/// another subscriber, or that no trusted issuer signed, moves nothing.
#[tokio::test]
async fn redrive_with_a_corrected_bundle_credits_what_the_old_one_dead_lettered() {
    let stack = Stack::new().await;
    let dlq_url = stack.config.dead_letter_queue_url.clone().expect("DLQ");
    let queue_url = emulators::create_queue_with_dlq(
        &stack.aws,
        &format!("{}-q", stack.config.payments_table),
        &dlq_url,
        5,
        1,
    )
    .await
    .expect("queue");
    let wrong = stack.seal(SUBSCRIBER, &["whsec_mistyped"], API_KEY);
    let p1 = stack.intent("order-rebundle-1", 1300).await;
    let p2 = stack.intent("order-rebundle-2", 1400).await;
    let (b1, b2) = (
        sample_body("payment_intent.succeeded", &p1),
        sample_body("charge.succeeded", &p2),
    );
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            Msg {
                bundle: &wrong,
                ..good(&stack, "m-wrong-1", &b1)
            }
            .sqs(),
            Msg {
                bundle: &wrong,
                ..good(&stack, "m-wrong-2", &b2)
            }
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let letters = redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.reason.as_deref() == Some("bad_signature"))
    );

    let dir = temp_dir("rebundle");
    let write = |name: &str, bundle: &str| {
        let path = dir.join(name);
        std::fs::write(&path, bundle).unwrap();
        format!("{SUBSCRIBER}=@{}", path.display())
    };
    let env = [("KEYSET_SECRET_ID", stack.config.keyset_secret_id.as_str())];
    let redrive_with = |rebundle: &str| {
        payhook(
            &[
                "dlq",
                "redrive",
                "--dlq-url",
                &dlq_url,
                "--queue-url",
                &queue_url,
                "--rebundle",
                rebundle,
            ],
            &env,
        )
    };
    // Refused before anything moves: another subscriber's bundle, an unsigned one.
    let globex = write("globex.bundle", &stack.seal("globex", &[WHSEC], API_KEY));
    let unsigned = write(
        "unsigned.bundle",
        &payhook::secrets::seal_raw(&stack.keys.public, &stack.keys.kid, b"{\"v\":1}").unwrap(),
    );
    for bad in [&globex, &unsigned] {
        let out = redrive_with(bad);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--rebundle acme"), "{err}");
    }
    assert_eq!(
        redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap().len(),
        2
    );

    let corrected = write("acme.bundle", &stack.bundle);
    let out = redrive_with(&corrected);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 moved"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("signed by issuer it-key-issuer"));

    let (logs, _guard) = Logs::capture();
    let mut handled = 0;
    for _ in 0..10 {
        let polled = poller::poll_once(&sqs, &queue_url, &stack.consumer, 1)
            .await
            .unwrap();
        handled += polled.deleted;
        if polled.received == 0 && handled >= 2 {
            break;
        }
    }
    assert_eq!(handled, 2, "{}", logs.text());
    assert_eq!(logs.outcomes(), ["credited", "credited"]);
    for order in ["order-rebundle-1", "order-rebundle-2"] {
        assert_eq!(stack.record(SUBSCRIBER, order).await.unwrap()["paid"], 1);
    }
    assert!(
        redrive::list(&sqs, &dlq_url, 100, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh dead-letter queue and a queue to redrive into, on moto, named after `prefix`.
async fn two_queues(prefix: &str) -> (aws_sdk_sqs::Client, String, String) {
    let aws = emulators::aws_config_for(&required_env("AWS_ENDPOINT_URL")).await;
    let name = format!("{prefix}-{}", payhook::support::clock::now_ms());
    let dlq_url = emulators::create_queue(&aws, &format!("{name}-dlq"))
        .await
        .expect("dlq");
    let queue_url = emulators::create_queue(&aws, &format!("{name}-q"))
        .await
        .expect("queue");
    (aws_sdk_sqs::Client::new(&aws), dlq_url, queue_url)
}

/// A dead-letter queue of thousands, two subscribers' letters mixed: the redrive streams it
/// ten at a time, filtering as it reads, moves each selected letter once and leaves the others
/// in place and visible again when it ends; a second run finds nothing more to move.
#[tokio::test]
async fn a_redrive_of_thousands_streams_and_moves_each_selected_letter_once() {
    const LETTERS: usize = 1000;
    let (sqs, dlq_url, queue_url) = two_queues("bulk").await;
    let attr = |v: &str| {
        aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    };
    for chunk in (0..LETTERS).collect::<Vec<_>>().chunks(10) {
        let entries = chunk
            .iter()
            .map(|n| {
                let subscriber = if n % 4 == 0 { "other" } else { "acme" };
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message_body(format!(
                        r#"{{"id":"evt_bulk{n}","type":"payment_intent.succeeded"}}"#
                    ))
                    .message_attributes("subscriber", attr(subscriber))
                    .message_attributes("failure-reason", attr("stripe_unavailable"))
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(&dlq_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("fill the DLQ");
        assert!(sent.failed().is_empty());
    }
    let filter = redrive::Filter {
        subscriber: Some("acme".into()),
        ..redrive::Filter::default()
    };
    let mut reported = 0;
    let done = redrive::redrive(
        &sqs,
        &dlq_url,
        &queue_url,
        &filter,
        &HashMap::new(),
        |p, _| {
            reported = p.moved;
            ControlFlow::Continue(())
        },
    )
    .await
    .expect("redrive");
    assert_eq!(
        (done.moved, done.selected, done.skipped),
        (750, 750, 250),
        "{done:?}"
    );
    assert_eq!(reported, 750);
    let count = |url: &str| {
        let sqs = sqs.clone();
        let url = url.to_string();
        async move {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .expect("queue attributes");
            attrs
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        }
    };
    assert_eq!(
        count(&queue_url).await,
        750,
        "each selected letter sent once"
    );
    assert_eq!(
        count(&dlq_url).await,
        250,
        "the others stay, visible again at once"
    );
    let again = redrive::redrive(
        &sqs,
        &dlq_url,
        &queue_url,
        &filter,
        &HashMap::new(),
        |_, _| ControlFlow::Continue(()),
    )
    .await
    .expect("second redrive");
    assert_eq!((again.moved, again.skipped), (0, 250), "{again:?}");
    assert_eq!(count(&queue_url).await, 750);
}

/// Each of the redrive's filters on its own, through the command: `--event-type`, then `--id`,
/// each moving exactly what it names and leaving the rest.
#[tokio::test]
async fn each_redrive_filter_alone_moves_only_what_it_names() {
    let (sqs, dlq_url, queue_url) = two_queues("filters").await;
    let mut ids = Vec::new();
    for (n, event_type) in [
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.succeeded",
        "charge.refunded",
    ]
    .iter()
    .enumerate()
    {
        let sent = sqs
            .send_message()
            .queue_url(&dlq_url)
            .message_body(format!(r#"{{"id":"evt_filter{n}","type":"{event_type}"}}"#))
            .message_attributes(
                "subscriber",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("acme")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("send");
        ids.push(sent.message_id().unwrap_or_default().to_string());
    }
    let redrive = |extra: &[&str]| {
        let mut args = vec![
            "dlq",
            "redrive",
            "--dlq-url",
            &dlq_url,
            "--queue-url",
            &queue_url,
        ];
        args.extend_from_slice(extra);
        ok(&args, &[])
    };
    let out = redrive(&["--event-type", "charge.succeeded"]);
    assert!(out.contains("2 moved") && out.contains("2 left"), "{out}");
    let out = redrive(&["--id", &ids[3]]);
    assert!(out.contains("1 moved") && out.contains("1 left"), "{out}");
    let left = redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id, ids[0]);
    let moved = redrive::list(&sqs, &queue_url, 100, 5).await.unwrap();
    let mut moved_types: Vec<String> = moved.iter().filter_map(|l| l.event_type.clone()).collect();
    moved_types.sort();
    assert_eq!(
        moved_types,
        ["charge.refunded", "charge.succeeded", "charge.succeeded"]
    );
}

/// A letter that fails again at once comes back to the dead-letter queue as a new message:
/// the run that moved it leaves the new one for the next run instead of going round with it.
/// Here the letters are sent straight back into the queue they came from, the quickest way
/// round there is.
#[tokio::test]
async fn a_letter_that_comes_straight_back_is_moved_once_per_run() {
    let (sqs, dlq_url, _) = two_queues("roundtrip").await;
    for n in 0..3 {
        sqs.send_message()
            .queue_url(&dlq_url)
            .message_body(format!(
                r#"{{"id":"evt_round{n}","type":"charge.succeeded"}}"#
            ))
            .send()
            .await
            .expect("send");
    }
    // SentTimestamp has millisecond resolution: the run begins after the letters were sent.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        redrive::redrive(
            &sqs,
            &dlq_url,
            &dlq_url,
            &redrive::Filter::default(),
            &HashMap::new(),
            |_, _| ControlFlow::Continue(()),
        ),
    )
    .await
    .expect("the run ends")
    .expect("redrive");
    assert_eq!((done.moved, done.skipped), (3, 3), "{done:?}");
    assert_eq!(
        redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap().len(),
        3
    );
}
