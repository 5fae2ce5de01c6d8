//! The fault suite: faults injected between the consumer and its dependencies. For each, the
//! delivery is retried or dead-lettered as classified; then the fault heals, SQS redelivers what
//! was left, and the invariant is checked: every delivery is either applied exactly once or sits
//! in the DLQ with its reason.

use std::time::Duration;

use payhook::consumer::{Consumer, DeadLetters};
use payhook::ledger::Ledger;
use payhook::pipeline::Pipeline;
use payhook::stripe::StripeApi;
use payhook_testkit::delivery::{self, sqs_event};
use payhook_testkit::emulators;
use payhook_testkit::fake_stripe::{FakeStripe, Fault};
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// What a scenario expects of the first delivery, before the fault heals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Retry(&'static str),
    DeadLetter(&'static str),
    /// Reported failed because not even the DLQ could take it.
    FailedStays,
}

#[tokio::test]
async fn every_fault_ends_applied_once_or_dead_lettered_with_its_reason() {
    let stripe = FakeStripe::start().await;
    let stack = Stack::with(Options {
        stripe_base: Some(stripe.base.clone()),
        env: vec![("STRIPE_TIMEOUT_MS", "500".into())],
        ..Options::default()
    })
    .await;
    let dead_aws = emulators::aws_config_for(&payhook_testkit::closed_port_url()).await;
    // The same consumer with one dependency unreachable: its ledger on `ledger_aws`, its DLQ (if
    // any) behind `dead_letters`.
    let with = |ledger_aws: &aws_config::SdkConfig, dead_letters: Option<DeadLetters>| Consumer {
        pipeline: Pipeline {
            stripe: StripeApi::new(&stripe.base, Duration::from_millis(500))
                .expect("stripe client"),
            ledger: Ledger::new(
                aws_sdk_dynamodb::Client::new(ledger_aws),
                stack.config.payments_table.clone(),
                stack.config.idempotency_table.clone(),
                stack.config.notifications_table.clone(),
            ),
            known_credits: Default::default(),
            unapplied: payhook::ledger::Unapplied::new(
                aws_sdk_dynamodb::Client::new(ledger_aws),
                stack.config.unapplied_table.clone(),
            ),
            mode: stack.config.mode,
            duplicate_shortcuts: true,
        },
        keys: stack.keys.ring(),
        bundles: Default::default(),
        dead_letters,
        backoff: None,
        tolerance_secs: 300,
        concurrency: 10,
    };
    // Its duplicate check's read would fail first: off, so the lookup is made and only the
    // credit's write is lost (the crash-between-lookup-and-write case).
    let mut dynamo_down = with(&dead_aws, None);
    dynamo_down.pipeline.duplicate_shortcuts = false;
    let dlq_down = with(
        &stack.aws,
        Some(DeadLetters::new(
            aws_sdk_sqs::Client::new(&dead_aws),
            format!(
                "{}/000000000000/nowhere",
                payhook_testkit::closed_port_url()
            ),
        )),
    );

    struct Scenario {
        name: &'static str,
        fault: Fault,
        consumer: u8, // 0 normal, 1 DynamoDB down, 2 DLQ down
        intent_exists: bool,
        forged: bool,
        expect: Expect,
    }
    let scenarios = [
        Scenario {
            name: "Stripe 500",
            fault: Fault::Status(500),
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("stripe_unavailable"),
        },
        Scenario {
            name: "Stripe 503",
            fault: Fault::Status(503),
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("stripe_unavailable"),
        },
        Scenario {
            name: "Stripe 429",
            fault: Fault::Status(429),
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("stripe_unavailable"),
        },
        Scenario {
            name: "Stripe slow",
            fault: Fault::Slow,
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("stripe_unavailable"),
        },
        Scenario {
            name: "Stripe garbage",
            fault: Fault::Garbage,
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("stripe_unavailable"),
        },
        Scenario {
            name: "Stripe hangs up",
            fault: Fault::Hangup,
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("stripe_unavailable"),
        },
        Scenario {
            name: "Stripe 401 (revoked key)",
            fault: Fault::Status(401),
            consumer: 0,
            intent_exists: true,
            forged: false,
            expect: Expect::DeadLetter("stripe_rejected"),
        },
        Scenario {
            name: "PaymentIntent missing",
            fault: Fault::Healthy,
            consumer: 0,
            intent_exists: false,
            forged: false,
            expect: Expect::DeadLetter("payment_intent_not_found"),
        },
        Scenario {
            name: "DynamoDB unreachable",
            fault: Fault::Healthy,
            consumer: 1,
            intent_exists: true,
            forged: false,
            expect: Expect::Retry("ledger_unavailable"),
        },
        Scenario {
            name: "forged, DLQ reachable",
            fault: Fault::Healthy,
            consumer: 0,
            intent_exists: true,
            forged: true,
            expect: Expect::DeadLetter("bad_signature"),
        },
        Scenario {
            name: "forged, DLQ unreachable",
            fault: Fault::Healthy,
            consumer: 2,
            intent_exists: true,
            forged: true,
            expect: Expect::FailedStays,
        },
    ];

    let mut checks = 0;
    for (n, sc) in scenarios.iter().enumerate() {
        let pi = format!("pi_fault{n}x");
        let payment_id = format!("order-fault-{n}");
        if sc.intent_exists {
            stripe.add_intent(&pi, &payment_id);
        }
        let body = sample_body("payment_intent.succeeded", &pi);
        let id = format!("m-fault-{n}");
        let msg = if sc.forged {
            Msg {
                secret: "whsec_attacker",
                ..good(&stack, &id, &body)
            }
        } else {
            good(&stack, &id, &body)
        };
        let consumer = [&stack.consumer, &dynamo_down, &dlq_down][sc.consumer as usize];

        stripe.set(sc.fault);
        let (logs, guard) = Logs::capture();
        let r = consumer
            .handle(sqs_event(vec![msg.sqs()]))
            .await
            .expect("batch");
        drop(guard);
        let notice = logs.notices().pop().unwrap_or_default();
        match sc.expect {
            Expect::Retry(reason) => {
                assert_eq!(
                    failed_ids(&r),
                    std::slice::from_ref(&id),
                    "{}: reported failed",
                    sc.name
                );
                assert_eq!(
                    (
                        notice["outcome"].as_str(),
                        notice["reason"].as_str(),
                        notice["class"].as_str()
                    ),
                    (Some("retry"), Some(reason), Some("transient")),
                    "{}: {notice}",
                    sc.name
                );
            }
            Expect::DeadLetter(reason) => {
                assert!(failed_ids(&r).is_empty(), "{}: done", sc.name);
                assert_eq!(
                    (notice["outcome"].as_str(), notice["reason"].as_str()),
                    (Some("dead_lettered"), Some(reason)),
                    "{}: {notice}",
                    sc.name
                );
            }
            Expect::FailedStays => {
                assert_eq!(
                    failed_ids(&r),
                    std::slice::from_ref(&id),
                    "{}: left on the queue",
                    sc.name
                );
                assert_eq!(notice["outcome"], "failed", "{}: {notice}", sc.name);
            }
        }
        checks += 1;
        assert!(
            stack.record(SUBSCRIBER, &payment_id).await.is_none(),
            "{}: nothing applied during the fault",
            sc.name
        );
        checks += 1;
        if sc.consumer == 1 {
            assert_eq!(
                stripe.lookups(&pi),
                1,
                "{}: Stripe was asked, then the write was lost",
                sc.name
            );
            checks += 1;
        }

        // The fault heals; SQS redelivers whatever was reported failed, to a healthy consumer.
        stripe.set(Fault::Healthy);
        if !failed_ids(&r).is_empty() {
            let mut again = msg.sqs();
            again
                .attributes
                .insert("ApproximateReceiveCount".into(), "2".into());
            let r = stack
                .consumer
                .handle(sqs_event(vec![again]))
                .await
                .expect("batch");
            assert!(
                failed_ids(&r).is_empty(),
                "{}: redelivery finishes",
                sc.name
            );
        }

        // The invariant: applied exactly once, or in the DLQ with its reason. Never both,
        // never neither.
        let record = stack.record(SUBSCRIBER, &payment_id).await;
        let letters = stack.dead_letters().await;
        let mine: Vec<_> = letters
            .iter()
            .filter(|(_, a)| a.get("source-message-id") == Some(&id))
            .collect();
        match (&record, mine.as_slice()) {
            (Some(r), []) => assert_eq!(r["paid"], 1, "{}: applied exactly once", sc.name),
            (None, [(_, attrs)]) => {
                let reason = attrs
                    .get("failure-reason")
                    .map(String::as_str)
                    .unwrap_or_default();
                assert!(!reason.is_empty(), "{}: dead letter has a reason", sc.name);
                if let Expect::DeadLetter(want) = sc.expect {
                    assert_eq!(reason, want, "{}", sc.name);
                }
            }
            other => panic!(
                "{}: invariant broken: record {:?}, dead letters {}",
                sc.name,
                other.0,
                other.1.len()
            ),
        }
        checks += 1;
        // Stripe's or SQS's late redelivery of an applied payment changes nothing. (A dead
        // letter's redelivery is a redrive: it applies once the cause is gone, as it should.)
        if record.is_some() {
            let late = stack
                .consumer
                .handle(sqs_event(vec![msg.sqs()]))
                .await
                .expect("batch");
            assert!(failed_ids(&late).is_empty());
            let after = stack.record(SUBSCRIBER, &payment_id).await.expect("record");
            assert_eq!(
                after["paid"], 1,
                "{}: late redelivery counted once",
                sc.name
            );
            checks += 1;
        }
    }
    println!(
        "fault suite: {} scenarios, {checks} invariant checks passed",
        scenarios.len()
    );
    let applied = scenarios
        .iter()
        .filter(|s| matches!(s.expect, Expect::Retry(_)))
        .count();
    let lost_writes = scenarios.iter().filter(|s| s.consumer == 1).count();
    assert_eq!(checks, scenarios.len() * 3 + applied + lost_writes);
}

/// A transient failure pushes the message's next visibility out by the schedule, through SQS.
#[tokio::test]
async fn a_transient_failure_backs_off_through_the_queue() {
    let stripe = FakeStripe::start().await;
    let probe = Stack::new().await;
    let dlq = probe.config.dead_letter_queue_url.clone().expect("dlq");
    let queue = emulators::create_queue_with_dlq(
        &probe.aws,
        &format!("{}-backoff", probe.config.payments_table),
        &dlq,
        10,
        30,
    )
    .await
    .expect("queue");
    let stack = Stack::with(Options {
        stripe_base: Some(stripe.base.clone()),
        env: vec![
            ("STRIPE_TIMEOUT_MS", "500".into()),
            ("WEBHOOK_QUEUE_URL", queue.clone()),
            ("RETRY_BACKOFF_SECS", "2,600".into()),
        ],
        ..Options::default()
    })
    .await;
    stripe.add_intent("pi_backoff1", "order-backoff");
    stripe.set(Fault::Status(503));
    let body = sample_body("payment_intent.succeeded", "pi_backoff1");
    let m = good(&stack, "unused", &body);
    let header = payhook::inbound::sign_stripe_signature(WHSEC, m.signed_at, body.as_bytes());
    delivery::send_delivery(
        &stack.aws,
        &queue,
        &delivery::DeliverySpec {
            message_id: "",
            body: &body,
            subscriber: SUBSCRIBER,
            signature_header: &header,
            received_at_ms: m.received_at_ms,
            sealed_bundle: &stack.bundle,
        },
    )
    .await
    .expect("send");

    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let (logs, _guard) = Logs::capture();
    let polled = payhook_testkit::poller::poll_once(&sqs, &queue, &stack.consumer, 2)
        .await
        .expect("poll");
    assert_eq!((polled.received, polled.failed), (1, 1));
    let n = logs.notices().pop().unwrap_or_default();
    assert_eq!(
        (n["outcome"].as_str(), n["retry_in_secs"].as_u64()),
        (Some("retry"), Some(2)),
        "{n}"
    );

    // Hidden for the first delay (2 s), not the queue's 30 s: it comes back as delivery 2, and
    // the second failure's delay is the schedule's next entry.
    let early = payhook_testkit::poller::poll_once(&sqs, &queue, &stack.consumer, 0)
        .await
        .expect("poll");
    assert_eq!(early.received, 0, "backed off, not visible at once");
    let mut second = payhook_testkit::poller::Polled::default();
    for _ in 0..8 {
        second = payhook_testkit::poller::poll_once(&sqs, &queue, &stack.consumer, 1)
            .await
            .expect("poll");
        if second.received > 0 {
            break;
        }
    }
    assert_eq!(second.received, 1, "visible again after the backoff");
    let n = logs.notices().pop().unwrap_or_default();
    assert_eq!(n["retry_in_secs"].as_u64(), Some(600), "{n}");
}

/// Puts deliveries on a queue (group = subscriber on FIFO) and returns their event ids' PIs.
async fn enqueue(
    stack: &Stack,
    queue: &str,
    subscriber: &str,
    bundle: &str,
    secret: &str,
    intents: &[&str],
) {
    for pi in intents {
        let body = sample_body("payment_intent.succeeded", pi);
        let now = now_ms();
        let header = payhook::inbound::sign_stripe_signature(secret, now / 1000, body.as_bytes());
        delivery::send_delivery(
            &stack.aws,
            queue,
            &delivery::DeliverySpec {
                message_id: "",
                body: &body,
                subscriber,
                signature_header: &header,
                received_at_ms: now,
                sealed_bundle: bundle,
            },
        )
        .await
        .expect("send");
    }
}

/// One failing message of a FIFO group holds back the rest of its group in the batch, not other
/// groups; on a standard queue nothing is held back. Then the fault heals and all apply in order.
#[tokio::test]
async fn fifo_groups_keep_their_order_standard_queues_do_not_wait() {
    for fifo in [true, false] {
        let stripe = FakeStripe::start().await;
        let stack = Stack::with(Options {
            stripe_base: Some(stripe.base.clone()),
            env: vec![("STRIPE_TIMEOUT_MS", "500".into())],
            ..Options::default()
        })
        .await;
        let dlq = stack.config.dead_letter_queue_url.clone().expect("dlq");
        let suffix = if fifo { ".fifo" } else { "" };
        let name = format!("{}-order", stack.config.payments_table);
        let dlq_for_queue = if fifo {
            emulators::create_queue(&stack.aws, &format!("{name}-dlq.fifo"))
                .await
                .expect("fifo dlq")
        } else {
            dlq
        };
        let queue = emulators::create_queue_with_dlq(
            &stack.aws,
            &format!("{name}{suffix}"),
            &dlq_for_queue,
            10,
            1,
        )
        .await
        .expect("queue");
        let tag = if fifo { "f" } else { "s" };
        let acme: Vec<String> = (1..=3).map(|i| format!("pi_{tag}acme{i}")).collect();
        let globex_pi = format!("pi_{tag}globex1");
        for (i, pi) in acme.iter().enumerate() {
            stripe.add_intent(pi, &format!("order-{tag}-{i}"));
        }
        stripe.add_intent(&globex_pi, &format!("order-{tag}-globex"));
        stripe.make_unavailable(&acme[0]);
        let globex_bundle = stack.seal("globex", &["whsec_globex"], API_KEY);
        let acme_refs: Vec<&str> = acme.iter().map(String::as_str).collect();
        enqueue(&stack, &queue, SUBSCRIBER, &stack.bundle, WHSEC, &acme_refs).await;
        enqueue(
            &stack,
            &queue,
            "globex",
            &globex_bundle,
            "whsec_globex",
            &[&globex_pi],
        )
        .await;

        let sqs = aws_sdk_sqs::Client::new(&stack.aws);
        let (logs, guard) = Logs::capture();
        let polled = payhook_testkit::poller::poll_once(&sqs, &queue, &stack.consumer, 1)
            .await
            .expect("poll");
        drop(guard);
        assert_eq!(polled.received, 4, "fifo={fifo}");
        let by_pi = |pi: &str| {
            logs.notices()
                .into_iter()
                .filter(|n| n["payment_intent"] == pi)
                .map(|n| n["outcome"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(by_pi(&acme[0]), ["retry"], "fifo={fifo}");
        assert_eq!(
            by_pi(&globex_pi),
            ["credited"],
            "fifo={fifo}: other groups go on"
        );
        if fifo {
            // Held back unprocessed: no notice with a PaymentIntent, a "deferred" line each.
            assert!(
                by_pi(&acme[1]).is_empty() && by_pi(&acme[2]).is_empty(),
                "{}",
                logs.text()
            );
            assert_eq!(
                logs.text().matches("\"outcome\":\"deferred\"").count(),
                2,
                "{}",
                logs.text()
            );
            assert_eq!(polled.failed, 3);
            assert!(
                stack
                    .record(SUBSCRIBER, &format!("order-{tag}-1"))
                    .await
                    .is_none()
            );
        } else {
            assert_eq!(by_pi(&acme[1]), ["credited"]);
            assert_eq!(by_pi(&acme[2]), ["credited"]);
            assert_eq!(polled.failed, 1);
        }

        // Healed: everything left is redelivered and applied; each payment exactly once.
        stripe.restore_all();
        for _ in 0..10 {
            let p = payhook_testkit::poller::poll_once(&sqs, &queue, &stack.consumer, 1)
                .await
                .expect("poll");
            if p.received == 0
                && stack
                    .record(SUBSCRIBER, &format!("order-{tag}-0"))
                    .await
                    .is_some()
            {
                break;
            }
        }
        for i in 0..3 {
            let r = stack.record(SUBSCRIBER, &format!("order-{tag}-{i}")).await;
            assert_eq!(
                r.map(|r| r["paid"].clone()),
                Some(1.into()),
                "fifo={fifo} order-{tag}-{i}"
            );
        }
        assert_eq!(
            stack
                .record("globex", &format!("order-{tag}-globex"))
                .await
                .expect("globex")["paid"],
            1
        );
    }
}

/// On a FIFO queue SQS delivers none of a group's messages while one is in flight, so a
/// failing payment's backoff holds its whole subscriber. What the consumer controls, checked
/// here: each retry asks only the short FIFO delay, the payment is dead-lettered after
/// MaxReceiveCount receives, and every other payment ends credited or dead-lettered. The hold is then at
/// most the sum of those delays plus each attempt's processing (README: FIFO). moto does not
/// block a group while a message is in flight (it delivered a later message of the group
/// meanwhile), so elapsed time here would understate SQS's hold: the requested delays are
/// asserted instead.
#[tokio::test]
async fn a_failing_payment_holds_a_fifo_subscriber_only_for_its_short_backoff() {
    let stripe = FakeStripe::start().await;
    let stack = Stack::with(Options {
        stripe_base: Some(stripe.base.clone()),
        env: vec![("STRIPE_TIMEOUT_MS", "500".into())],
        ..Options::default()
    })
    .await;
    let name = format!("{}-hold", stack.config.payments_table);
    let dlq = emulators::create_queue(&stack.aws, &format!("{name}-dlq.fifo"))
        .await
        .expect("fifo dlq");
    // One receive each: a message received behind the failing one and deferred would have
    // used up its only receive, so the test fails if a deferral happens at all.
    let max_receives = 1;
    let queue = emulators::create_queue_with_dlq(
        &stack.aws,
        &format!("{name}.fifo"),
        &dlq,
        max_receives,
        1,
    )
    .await
    .expect("fifo queue");
    let schedule = vec![1u32; max_receives as usize];
    let mut config = stack.config.clone();
    config.webhook_queue_url = Some(queue.clone());
    config.retry_backoff_secs = schedule.clone();
    let consumer = payhook::ops::consumer(&config, &stack.aws)
        .await
        .expect("consumer");

    let intents = ["pi_holdFailing1", "pi_holdNext2", "pi_holdNext3"];
    for (i, pi) in intents.iter().enumerate() {
        stripe.add_intent(pi, &format!("order-hold-{i}"));
    }
    stripe.make_unavailable(intents[0]);
    enqueue(&stack, &queue, SUBSCRIBER, &stack.bundle, WHSEC, &intents).await;

    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let (logs, _guard) = Logs::capture();
    let credited = |logs: &Logs| {
        logs.notices()
            .iter()
            .filter(|n| n["outcome"] == "credited")
            .count()
    };
    let dead_letters = || async {
        use aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages as Count;
        sqs.get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(Count)
            .send()
            .await
            .expect("DLQ attributes")
            .attributes()
            .and_then(|a| a.get(&Count).cloned())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    // The template reads a FIFO queue one message at a time (template::fifo_…); moto does not
    // block a group while its head is in flight, so the later payments run during its backoff
    // here, where SQS would run them after it.
    for _ in 0..40 {
        payhook_testkit::poller::poll_up_to(&sqs, &queue, &consumer, 1, 1)
            .await
            .expect("poll");
        if credited(&logs) + dead_letters().await == intents.len() {
            break;
        }
    }
    for pi in &intents[1..] {
        assert_eq!(
            logs.notices()
                .iter()
                .filter(|n| n["payment_intent"] == *pi && n["outcome"] == "credited")
                .count(),
            1,
            "{pi} is credited once, its receives not used up behind the failing one: {}",
            logs.text()
        );
    }
    assert_eq!(
        dead_letters().await,
        1,
        "only the failing payment waits in the DLQ"
    );
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .send()
        .await
        .expect("read the DLQ");
    let body = dead
        .messages()
        .first()
        .and_then(|m| m.body())
        .unwrap_or_default();
    assert!(body.contains(intents[0]), "the DLQ holds {body}");
    assert!(
        !logs
            .notices()
            .iter()
            .any(|n| n["payment_intent"] == intents[0] && n["outcome"] == "credited"),
        "{}",
        logs.text()
    );
    let retries: Vec<u64> = logs
        .notices()
        .iter()
        .filter(|n| n["payment_intent"] == intents[0] && n["outcome"] == "retry")
        .map(|n| n["retry_in_secs"].as_u64().expect("a retry says when"))
        .collect();
    assert!(
        !retries.is_empty() && retries.len() <= max_receives as usize,
        "{}",
        logs.text()
    );
    assert!(
        retries.iter().all(|d| *d == 1),
        "the FIFO schedule: {retries:?}"
    );
}
