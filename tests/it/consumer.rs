//! The real handler against moto (DynamoDB, SQS, Secrets Manager) and localstripe.

use payhook::ops::SetupError;
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::logs::Logs;
use payhook_testkit::proxy::Proxy;
use payhook_testkit::stack::*;
use std::time::Duration;

#[tokio::test]
async fn credits_a_payment_once_and_says_so_in_one_notice() {
    let stack = Stack::new().await;
    let pi = stack.intent("order-1", 2000).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let (logs, _guard) = Logs::capture();

    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-1", &body).sqs()]))
        .await
        .expect("batch");

    assert!(failed_ids(&r).is_empty(), "{r:?}");
    let record = stack
        .record(SUBSCRIBER, "order-1")
        .await
        .expect("record created");
    assert_eq!(record["paid"], 1);
    assert_eq!(record["amount_received"], 2000);
    assert_eq!(record["currency"], "eur");
    assert_eq!(record["last_payment_intent"], pi.as_str());
    assert_eq!(record["last_event_id"], "evt_3SampleEvent0000001");

    let notices = logs.notices();
    assert_eq!(notices.len(), 1, "{}", logs.text());
    let n = &notices[0];
    assert_eq!(n["outcome"], "credited");
    assert_eq!(n["message_id"], "m-1");
    assert_eq!(n["subscriber"], SUBSCRIBER);
    assert_eq!(n["event_id"], "evt_3SampleEvent0000001");
    assert_eq!(n["event_type"], "payment_intent.succeeded");
    assert_eq!(n["payment_intent"], pi.as_str());
    assert_eq!(n["payment_id"], "order-1");
    assert!(n["duration_ms"].is_u64());
    assert_eq!(n["level"], "INFO");
}

#[tokio::test]
async fn three_event_types_and_redeliveries_of_one_payment_count_once() {
    let stack = Stack::new().await;
    let pi = stack.intent("order-2", 1500).await;
    let charge = sample_body("charge.succeeded", &pi);
    let intent = sample_body("payment_intent.succeeded", &pi);
    let checkout = sample_body("checkout.session.completed", &pi);
    let (logs, _guard) = Logs::capture();

    // Stripe's retry of the charge event is a new request, so a new SQS message id.
    let first = sqs_event(vec![
        good(&stack, "m-charge", &charge).sqs(),
        good(&stack, "m-intent", &intent).sqs(),
        good(&stack, "m-checkout", &checkout).sqs(),
        good(&stack, "m-charge-retry", &charge).sqs(),
    ]);
    let r = stack.consumer.handle(first).await.expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    // SQS redelivers the whole lot (e.g. a visibility timeout ran out).
    let again = sqs_event(vec![
        good(&stack, "m-charge", &charge).sqs(),
        good(&stack, "m-intent", &intent).sqs(),
    ]);
    let r = stack.consumer.handle(again).await.expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");

    let record = stack.record(SUBSCRIBER, "order-2").await.expect("record");
    assert_eq!(record["paid"], 1);
    assert_eq!(record["amount_received"], 1500);
    assert_eq!(
        logs.outcomes(),
        [
            "credited",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
}

#[tokio::test]
async fn two_payment_intents_for_one_record_count_twice() {
    let stack = Stack::new().await;
    let first = stack.intent("order-3", 1000).await;
    let second = stack.intent("order-3", 2500).await;
    let a = sample_body("payment_intent.succeeded", &first);
    let b = sample_body("charge.succeeded", &second);
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(&stack, "m-a", &a).sqs(),
            good(&stack, "m-b", &b).sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    let record = stack.record(SUBSCRIBER, "order-3").await.expect("record");
    assert_eq!(record["paid"], 2);
    assert_eq!(record["amount_received"], 3500);
    // The two ran concurrently: either may have been credited last.
    let last = record["last_payment_intent"].as_str().unwrap_or_default();
    assert!(last == first || last == second, "{record:?}");
}

#[tokio::test]
async fn subscribers_never_touch_each_others_records() {
    let stack = Stack::new().await;
    let pi_acme = stack.intent("order-4", 1000).await;
    let pi_globex = stack.intent("order-4", 700).await;
    let globex_bundle = stack.seal("globex", &["whsec_globex"], "sk_test_globex");
    let acme_body = sample_body("payment_intent.succeeded", &pi_acme);
    let globex_body = sample_body("payment_intent.succeeded", &pi_globex);
    let now = now_ms();
    let globex = Msg {
        id: "m-globex",
        body: &globex_body,
        subscriber: "globex",
        bundle: &globex_bundle,
        secret: "whsec_globex",
        signed_at: now / 1000,
        received_at_ms: now,
    };
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            good(&stack, "m-acme", &acme_body).sqs(),
            globex.sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    assert_eq!(
        stack.record(SUBSCRIBER, "order-4").await.expect("acme")["amount_received"],
        1000
    );
    assert_eq!(
        stack.record("globex", "order-4").await.expect("globex")["amount_received"],
        700
    );
}

#[tokio::test]
async fn permanent_failures_go_to_the_dlq_with_their_reason_and_change_nothing() {
    let stack = Stack::new().await;
    let pi = stack.intent("order-5", 2000).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let missing_pi = sample_body("payment_intent.succeeded", "pi_DoesNotExist000");
    let malformed = r#"{"id":"evt_broken","type":"payment_intent.succeeded","data":"#;
    let foreign_bundle = stack.seal("mallory", &[WHSEC], API_KEY);
    let now = now_ms();
    let base = good(&stack, "", &body);

    let forged = Msg {
        id: "m-forged",
        secret: "whsec_attacker",
        ..base
    };
    let foreign = Msg {
        id: "m-foreign",
        bundle: &foreign_bundle,
        ..base
    };
    let expired = Msg {
        id: "m-expired",
        signed_at: now / 1000 - 301,
        received_at_ms: now,
        ..base
    };
    let bad_body = Msg {
        id: "m-malformed",
        body: malformed,
        ..base
    };
    let not_found = Msg {
        id: "m-not-found",
        body: &missing_pi,
        ..base
    };
    let unopenable = Msg {
        id: "m-unopenable",
        bundle: "it-key.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ..base
    };
    let mut no_signature = base.sqs();
    no_signature.message_id = Some("m-no-signature".into());
    no_signature.message_attributes.remove("stripe-signature");

    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            forged.sqs(),
            foreign.sqs(),
            expired.sqs(),
            bad_body.sqs(),
            not_found.sqs(),
            unopenable.sqs(),
            no_signature,
            Msg {
                id: "m-good",
                ..base
            }
            .sqs(),
        ]))
        .await
        .expect("batch");

    // Every bad message was dead-lettered, so none is left for SQS to retry.
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    let record = stack
        .record(SUBSCRIBER, "order-5")
        .await
        .expect("the good one applied");
    assert_eq!(record["paid"], 1);

    let mut reasons: Vec<(String, String, String)> = stack
        .dead_letters()
        .await
        .into_iter()
        .map(|(_, a)| {
            (
                a["source-message-id"].clone(),
                a["failure-reason"].clone(),
                a["failure-class"].clone(),
            )
        })
        .collect();
    reasons.sort();
    let want = [
        ("m-expired", "expired_signature"),
        ("m-foreign", "foreign_bundle"),
        ("m-forged", "bad_signature"),
        ("m-malformed", "malformed_body"),
        ("m-no-signature", "malformed_envelope"),
        ("m-not-found", "payment_intent_not_found"),
        ("m-unopenable", "unopenable_bundle"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(id, reason)| (id.to_string(), reason.to_string(), "permanent".to_string()))
        .collect();
    assert_eq!(reasons, want);

    let outcomes = logs.outcomes();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "dead_lettered").count(),
        7,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "credited").count(),
        1,
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_dead_letter_keeps_the_original_bytes_and_says_why() {
    let stack = Stack::new().await;
    let body = sample_body("payment_intent.succeeded", "pi_DoesNotExist001");
    let msg = good(&stack, "m-1", &body);
    let before = now_ms();
    let r = stack
        .consumer
        .handle(sqs_event(vec![msg.sqs()]))
        .await
        .expect("batch");
    let after = now_ms();
    assert!(failed_ids(&r).is_empty());
    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 1);
    let (dl_body, attrs) = &letters[0];
    assert_eq!(
        dl_body, &body,
        "body must survive byte for byte so a redrive verifies"
    );
    for name in [
        "subscriber",
        "stripe-signature",
        "received-at",
        "sealed-bundle",
    ] {
        assert_eq!(
            &attrs[name],
            msg.sqs().message_attributes[name]
                .string_value
                .as_ref()
                .unwrap()
        );
    }
    assert!(
        attrs["failure-detail"].contains("pi_DoesNotExist001"),
        "{attrs:?}"
    );
    let failed_at: i64 = attrs["failed-at"].parse().expect("epoch ms");
    assert!(
        (before..=after).contains(&failed_at),
        "failed-at is when it failed"
    );
}

/// A dead letter redriven and failing again keeps the time it first failed (operators sort
/// and age dead letters by it), while its reason and detail are the new failure's.
#[tokio::test]
async fn a_redriven_dead_letter_that_fails_again_keeps_its_first_failure_time() {
    let stack = Stack::new().await;
    let body = sample_body("payment_intent.succeeded", "pi_DoesNotExist002");
    let mut redriven = good(&stack, "m-again", &body).sqs();
    // As `payhook dlq redrive` sends it back: the first failure's time kept, its description
    // stripped.
    redriven.message_attributes.insert(
        "failed-at".into(),
        payhook_testkit::delivery::lambda_attribute("String", Some("1795000000000")),
    );
    let r = stack
        .consumer
        .handle(sqs_event(vec![redriven]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].1["failed-at"], "1795000000000");
    assert_eq!(letters[0].1["failure-reason"], "payment_intent_not_found");
}

/// `checkout.session.async_payment_succeeded` (a Session paid by a method that settles later)
/// is handled: parsed, delivered, credited from the PaymentIntent Stripe reports.
#[tokio::test]
async fn an_async_checkout_payment_that_succeeds_is_credited() {
    let stack = Stack::new().await;
    let pi = stack.intent("order-async-1", 3100).await;
    let mut event: serde_json::Value =
        serde_json::from_str(&sample_body("checkout.session.completed", &pi)).unwrap();
    event["type"] = "checkout.session.async_payment_succeeded".into();
    let body = serde_json::to_string_pretty(&event).unwrap();
    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-async", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let notices = logs.notices();
    let notice = &notices[0];
    assert_eq!(notice["outcome"], "credited", "{notice}");
    assert_eq!(
        notice["event_type"],
        "checkout.session.async_payment_succeeded"
    );
    assert_eq!(
        stack
            .record(SUBSCRIBER, "order-async-1")
            .await
            .expect("record")["amount_received"],
        3100
    );
}

/// A `metadata.id` that cannot be a record key (over 256 bytes) keeps the money as unapplied,
/// with its own reason, and credits nothing.
#[tokio::test]
async fn a_payment_id_that_cannot_be_a_key_is_kept_as_unapplied_money() {
    let stack = Stack::new().await;
    let long_id = "x".repeat(300);
    let pi = stack.intent(&long_id, 1200).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-long-id", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let notices = logs.notices();
    let notice = &notices[0];
    assert_eq!(
        (notice["outcome"].as_str(), notice["reason"].as_str()),
        (Some("unapplied"), Some("bad_payment_id")),
        "{notice}"
    );
    let kept = stack
        .consumer
        .pipeline
        .unapplied
        .get(SUBSCRIBER, &pi)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.reason, "bad_payment_id");
    assert!(stack.dead_letters().await.is_empty());
}

/// A bundle of a payload version this consumer does not know, signed by the trusted issuer,
/// is refused by name.
#[tokio::test]
async fn a_bundle_of_an_unknown_version_is_dead_lettered_by_name() {
    let stack = Stack::new().await;
    let payload = serde_json::json!({
        "v": 3, "issuer": stack.keys.issuer.kid(), "subscriber": SUBSCRIBER,
        "webhook_secrets": [WHSEC], "stripe_api_key": API_KEY,
    })
    .to_string();
    let signed = stack.keys.issuer.sign(payload.as_bytes()).unwrap();
    let v3 = payhook::secrets::seal_raw(&stack.keys.public, &stack.keys.kid, &signed).unwrap();
    let pi = stack.intent("order-v3", 500).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            Msg {
                bundle: &v3,
                ..good(&stack, "m-v3", &body)
            }
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let letters = stack.dead_letters().await;
    assert_eq!(letters[0].1["failure-reason"], "unsupported_bundle_version");
    assert!(stack.record(SUBSCRIBER, "order-v3").await.is_none());
}

#[tokio::test]
async fn without_a_dlq_url_permanent_failures_are_reported_failed_alone() {
    let stack = Stack::with(Options {
        with_dlq: false,
        ..Options::default()
    })
    .await;
    let pi = stack.intent("order-6", 2000).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let base = good(&stack, "m-good", &body);
    let forged = Msg {
        id: "m-forged",
        secret: "whsec_attacker",
        ..base
    };
    let r = stack
        .consumer
        .handle(sqs_event(vec![forged.sqs(), base.sqs()]))
        .await
        .expect("batch");
    assert_eq!(failed_ids(&r), ["m-forged"]);
    assert_eq!(
        stack.record(SUBSCRIBER, "order-6").await.expect("record")["paid"],
        1
    );
}

#[tokio::test]
async fn stripe_unreachable_is_transient_retried_and_not_dead_lettered() {
    // A port nothing listens on: connection refused.
    let stack = Stack::with(Options {
        stripe_base: Some(format!("{}/", payhook_testkit::closed_port_url())),
        ..Options::default()
    })
    .await;
    let body = sample_body("payment_intent.succeeded", "pi_Unreachable0001");
    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-1", &body).sqs()]))
        .await
        .expect("batch");
    assert_eq!(failed_ids(&r), ["m-1"]);
    assert!(stack.dead_letters().await.is_empty());
    let notices = logs.notices();
    assert_eq!(notices[0]["outcome"], "retry");
    assert_eq!(notices[0]["class"], "transient");
    assert_eq!(notices[0]["reason"], "stripe_unavailable");
}

/// A message redriven days later verifies against the time API Gateway received it, in either
/// unit the route may write: milliseconds (a REST API, our tools) or seconds (an HTTP API).
#[tokio::test]
async fn a_message_redriven_days_later_still_verifies_in_either_unit() {
    let stack = Stack::new().await;
    let three_days_ago = now_ms() - 3 * 86_400_000;
    let mut messages = Vec::new();
    let mut bodies = Vec::new();
    for (payment, in_seconds) in [("order-7", false), ("order-7s", true)] {
        let pi = stack.intent(payment, 2000).await;
        bodies.push((
            payment,
            in_seconds,
            sample_body("payment_intent.succeeded", &pi),
        ));
    }
    for (payment, in_seconds, body) in &bodies {
        let mut msg = Msg {
            signed_at: three_days_ago / 1000 - 2,
            received_at_ms: three_days_ago,
            ..good(&stack, payment, body)
        }
        .sqs();
        if *in_seconds {
            let received_at = msg
                .message_attributes
                .get_mut("received-at")
                .expect("the route writes it");
            received_at.string_value = Some((three_days_ago / 1000).to_string());
        }
        messages.push(msg);
    }
    let r = stack
        .consumer
        .handle(sqs_event(messages))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    assert!(stack.dead_letters().await.is_empty());
    for payment in ["order-7", "order-7s"] {
        assert_eq!(
            stack.record(SUBSCRIBER, payment).await.expect("record")["paid"],
            1,
            "{payment}"
        );
    }
}

#[tokio::test]
async fn a_payment_intent_that_has_not_succeeded_is_ignored_and_not_credited() {
    let stack = Stack::new().await;
    // Created but not confirmed: requires_confirmation.
    let client = stripe::Client::from_url(stack.stripe_base.as_str(), API_KEY);
    #[derive(serde::Deserialize)]
    struct Created {
        id: String,
    }
    let params: std::collections::BTreeMap<&str, &str> = [
        ("amount", "999"),
        ("currency", "eur"),
        ("payment_method", "pm_card_visa"),
        ("metadata[id]", "order-8"),
    ]
    .into();
    let created: Created = client
        .post_form("payment_intents", params)
        .await
        .expect("create");
    let body = sample_body("payment_intent.succeeded", &created.id);
    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-1", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert!(stack.record(SUBSCRIBER, "order-8").await.is_none());
    let n = &logs.notices()[0];
    assert_eq!(n["outcome"], "ignored");
    assert!(
        n["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("requires_confirmation"),
        "{n}"
    );
}

#[tokio::test]
async fn unhandled_event_types_are_acknowledged_not_failed() {
    let stack = Stack::new().await;
    let body = sample_body("customer.created", "unused");
    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![good(&stack, "m-1", &body).sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    assert!(stack.dead_letters().await.is_empty());
    let n = &logs.notices()[0];
    assert_eq!(n["outcome"], "ignored");
    assert_eq!(n["event_type"], "customer.created");
}

/// Two consumers (two Lambda environments) take two events of one payment at once. A proxy in
/// front of DynamoDB holds each TransactWriteItems until both have arrived, so both really
/// reach the conditional write together: one credits, the other is a duplicate naming the
/// winner's message, and DynamoDB (moto, serialized as DynamoDB is) saw both transactions.
#[tokio::test]
async fn two_consumers_racing_on_one_payment_intent_credit_once() {
    let aws = Proxy::start_holding(
        &required_env("AWS_ENDPOINT_URL"),
        "DynamoDB_20120810.TransactWriteItems",
        2,
    )
    .await
    .expect("AWS proxy");
    let stack = Stack::with(Options {
        consumer_aws_endpoint: Some(aws.url.clone()),
        ..Options::default()
    })
    .await;
    let other = stack.second_consumer().await;
    let pi = stack.intent("order-9", 2000).await;
    let charge = sample_body("charge.succeeded", &pi);
    let intent = sample_body("payment_intent.succeeded", &pi);
    let (logs, _guard) = Logs::capture();
    let (a, b) = tokio::join!(
        stack
            .consumer
            .handle(sqs_event(vec![good(&stack, "m-a", &charge).sqs()])),
        other.handle(sqs_event(vec![good(&stack, "m-b", &intent).sqs()])),
    );
    assert!(failed_ids(&a.expect("batch")).is_empty());
    assert!(failed_ids(&b.expect("batch")).is_empty());
    assert_eq!(
        aws.requests("DynamoDB_20120810.TransactWriteItems"),
        2,
        "both consumers reached the transaction"
    );
    let notices = logs.notices();
    let by_outcome = |o: &str| -> Vec<&serde_json::Value> {
        notices.iter().filter(|n| n["outcome"] == o).collect()
    };
    let (credited, duplicate) = (by_outcome("credited"), by_outcome("duplicate"));
    assert_eq!((credited.len(), duplicate.len()), (1, 1), "{notices:?}");
    assert_eq!(
        duplicate[0]["credited_by_message"], credited[0]["message_id"],
        "the loser names the winner"
    );
    assert_ne!(duplicate[0]["message_id"], credited[0]["message_id"]);
    let record = stack.record(SUBSCRIBER, "order-9").await;
    assert_eq!(record.map(|r| r["paid"].clone()), Some(1.into()));
}

#[tokio::test]
async fn no_secret_reaches_the_logs_on_any_path() {
    let stack = Stack::new().await;
    let down = Stack::with(Options {
        stripe_base: Some(format!("{}/", payhook_testkit::closed_port_url())),
        ..Options::default()
    })
    .await;
    let pi = stack.intent("order-10", 2000).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let base = good(&stack, "m-ok", &body);
    let foreign = stack.seal("mallory", &[WHSEC], API_KEY);
    let mut no_bundle = Msg {
        id: "m-no-bundle",
        ..base
    }
    .sqs();
    no_bundle.message_attributes.remove("sealed-bundle");
    let (logs, _guard) = Logs::capture();
    let _ = stack
        .consumer
        .handle(sqs_event(vec![
            base.sqs(), // credited
            Msg {
                id: "m-dup",
                ..base
            }
            .sqs(), // duplicate
            Msg {
                id: "m-forged",
                secret: "whsec_attacker",
                ..base
            }
            .sqs(), // bad signature
            Msg {
                id: "m-expired",
                signed_at: 1,
                ..base
            }
            .sqs(), // expired
            Msg {
                id: "m-foreign",
                bundle: &foreign,
                ..base
            }
            .sqs(), // foreign bundle
            Msg {
                id: "m-garbled",
                bundle: "it-key.QUJD",
                ..base
            }
            .sqs(), // unopenable
            no_bundle,  // malformed envelope
            Msg {
                id: "m-body",
                body: "{\"id\":\"evt_x\"}",
                ..base
            }
            .sqs(), // malformed body
        ]))
        .await
        .expect("batch");
    let down_body = sample_body("payment_intent.succeeded", "pi_Down0001");
    let _ = down
        .consumer
        .handle(sqs_event(vec![
            good(&down, "m-transient", &down_body).sqs(),
        ])) // transient
        .await
        .expect("batch");
    let text = logs.text();
    let mut outcomes = logs.outcomes();
    outcomes.sort();
    outcomes.dedup();
    assert_eq!(
        outcomes,
        ["credited", "dead_lettered", "duplicate", "retry"],
        "{text}"
    );
    let private_keys: Vec<String> = [&stack.keys.keyset_json, &down.keys.keyset_json]
        .iter()
        .map(|j| {
            serde_json::from_str::<serde_json::Value>(j).unwrap()["keys"][0]["secret_key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut forbidden = vec![
        WHSEC,
        API_KEY,
        "sk_test",
        "whsec_",
        stack.bundle.as_str(),
        down.bundle.as_str(),
        foreign.as_str(),
    ];
    forbidden.extend(private_keys.iter().map(String::as_str));
    for secret in forbidden {
        assert!(!text.contains(secret), "log leaks {secret:.12}: {text}");
    }
    // Nor the body: customer data stays out of logs.
    assert!(!text.contains("jenny.rosen@example.com"));
}

#[tokio::test]
async fn warm_invocations_reuse_the_connection_to_stripe() {
    // Counts the consumer's connections to localstripe; intents are created around it.
    let proxy = Proxy::start(&required_env("STRIPE_API_BASE"), Duration::ZERO)
        .await
        .expect("proxy");
    let stack = Stack::with(Options {
        stripe_base: Some(proxy.url.clone()),
        ..Options::default()
    })
    .await;
    for i in 0..3 {
        let payment = format!("order-reuse-{i}");
        let pi = stack.intent(&payment, 100).await;
        let body = sample_body("payment_intent.succeeded", &pi);
        let r = stack
            .consumer
            .handle(sqs_event(vec![
                good(&stack, &format!("m-{i}"), &body).sqs(),
            ]))
            .await
            .expect("batch");
        assert!(failed_ids(&r).is_empty(), "{r:?}");
        assert_eq!(
            stack.record(SUBSCRIBER, &payment).await.expect("record")["paid"],
            1
        );
    }
    // One connection for three invocations: no TCP (in production, TLS) handshake per message.
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn an_unusable_stripe_base_url_stops_setup_and_says_why() {
    let stack = Stack::new().await;
    let mut config = stack.config.clone();
    config.stripe_api_base = "stripe.example/v1".into();
    let err = payhook::ops::consumer(&config, &stack.aws)
        .await
        .err()
        .expect("setup must refuse a base URL without a scheme");
    assert!(matches!(err, SetupError::Stripe(_)), "{err}");
    assert!(err.to_string().contains("stripe.example/v1"), "{err}");
}

/// A key set secret the functions cannot use stops the cold start, naming the secret: the
/// function then fails every invocation (ConsumerErrorsAlarm) instead of dead-lettering.
#[tokio::test]
async fn an_unusable_key_set_stops_the_cold_start_and_names_the_secret() {
    let stack = Stack::new().await;
    for (value, why) in [
        ("not json", "not valid JSON"),
        (r#"{"version":2,"keys":[],"issuers":[]}"#, "holds no keys"),
    ] {
        aws_sdk_secretsmanager::Client::new(&stack.aws)
            .put_secret_value()
            .secret_id(&stack.config.keyset_secret_id)
            .secret_string(value)
            .send()
            .await
            .expect("put on moto");
        let err = payhook::ops::consumer(&stack.config, &stack.aws)
            .await
            .err()
            .expect("the cold start fails");
        assert!(matches!(err, SetupError::KeyStore(_)), "{err}");
        assert!(
            err.to_string().contains(&stack.config.keyset_secret_id)
                && err.to_string().contains(why),
            "{err}"
        );
    }
}

/// What a stranger can post to a webhook URL (a wrong or expired signature, a crafted header)
/// goes to the rejected queue; the DLQ keeps only what waits for an operator, so its depth
/// can alarm (template: DeadLetterQueueDepthAlarm).
#[tokio::test]
async fn strangers_deliveries_go_to_the_rejected_queue_and_the_dlq_keeps_the_rest() {
    let aws = payhook_testkit::emulators::aws_config_for(&required_env("AWS_ENDPOINT_URL")).await;
    let rejected = payhook_testkit::emulators::create_queue(&aws, &unique("rejected"))
        .await
        .expect("queue");
    let stack = Stack::with(Options {
        env: vec![("REJECTED_QUEUE_URL", rejected.clone())],
        ..Options::default()
    })
    .await;
    let pi = stack.intent("order-rej", 2000).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let missing_pi = sample_body("payment_intent.succeeded", "pi_DoesNotExist001");
    let foreign_bundle = stack.seal("mallory", &[WHSEC], API_KEY);
    let now = now_ms();
    let base = good(&stack, "", &body);
    let mut no_signature = base.sqs();
    no_signature.message_id = Some("m-no-signature".into());
    no_signature.message_attributes.remove("stripe-signature");
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            Msg {
                id: "m-forged",
                secret: "whsec_attacker",
                ..base
            }
            .sqs(),
            Msg {
                id: "m-expired",
                signed_at: now / 1000 - 301,
                ..base
            }
            .sqs(),
            no_signature,
            Msg {
                id: "m-foreign",
                bundle: &foreign_bundle,
                ..base
            }
            .sqs(),
            Msg {
                id: "m-not-found",
                body: &missing_pi,
                ..base
            }
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    let by_source = |messages: Vec<(String, std::collections::HashMap<String, String>)>| {
        let mut v: Vec<(String, String)> = messages
            .into_iter()
            .map(|(_, a)| (a["source-message-id"].clone(), a["failure-reason"].clone()))
            .collect();
        v.sort();
        v
    };
    let strangers = by_source(
        payhook_testkit::emulators::read_queue(&stack.aws, &rejected)
            .await
            .expect("read the rejected queue"),
    );
    assert_eq!(
        strangers,
        [
            ("m-expired".to_string(), "expired_signature".to_string()),
            ("m-forged".into(), "bad_signature".into()),
            ("m-no-signature".into(), "malformed_envelope".into()),
        ]
    );
    assert_eq!(
        by_source(stack.dead_letters().await),
        [
            ("m-foreign".to_string(), "foreign_bundle".to_string()),
            ("m-not-found".into(), "payment_intent_not_found".into()),
        ]
    );
}
