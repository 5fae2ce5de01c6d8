//! The scheduled reconcile, as its Lambda handler runs it: bundles from SSM (moto), events from
//! localstripe, credits in DynamoDB (moto); one subscriber's broken configuration does not stop
//! the others.

use payhook::reconcile;
use payhook_testkit::localstripe::PrivateLocalstripe;
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// Puts the stack's bundle where the scheduled run reads it (SSM in moto); the prefix.
async fn publish_bundle(stack: &Stack) -> String {
    let prefix = format!("/{}", stack.config.payments_table);
    aws_sdk_ssm::Client::new(&stack.aws)
        .put_parameter()
        .name(format!("{prefix}/{SUBSCRIBER}/bundle"))
        .value(&stack.bundle)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put the bundle into SSM (moto)");
    prefix
}

#[tokio::test]
async fn the_scheduled_run_credits_every_subscribers_missed_payments_once() {
    // Its own localstripe: the events API lists only this test's payments.
    let localstripe = PrivateLocalstripe::start().await.expect("localstripe");
    let stack = Stack::with(Options {
        localstripe: Some(localstripe.base.clone()),
        ..Options::default()
    })
    .await;
    let prefix = publish_bundle(&stack).await;
    let missed = stack.intent("order-sched-1", 2100).await;
    let schedule = payhook::ops::schedule(|k| match k {
        // "nobody" has no bundle parameter.
        "SUBSCRIBERS" => Some(format!("{SUBSCRIBER},nobody")),
        "SUBSCRIBER_PARAMETER_PREFIX" => Some(prefix.clone()),
        "RECONCILE_WINDOW_HOURS" => Some("1".into()),
        _ => None,
    })
    .expect("schedule");
    // As if the tick came the settling time after the payment; every event up to then exists
    // before the first run lists them.
    let tick = now_ms() / 1000 + reconcile::SETTLE_SECS;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let reconciler = payhook::ops::reconciler(&stack.config, schedule, &stack.aws)
        .await
        .expect("the reconciler starts");
    let (logs, _guard) = Logs::capture();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let runs = reconcile::scheduled(&reconciler, tick, deadline, Some("req-tick")).await;
    assert_eq!(runs.len(), 2);
    let acme = runs[0].result.as_ref().expect("acme reconciled");
    assert_eq!(
        (
            acme.events,
            acme.credited,
            acme.already_credited,
            acme.failed
        ),
        (1, 1, 0, 0),
        "the one payment_intent.succeeded localstripe recorded: {acme:?}"
    );
    assert_eq!(acme.failed, 0, "{acme:?}");
    let nobody = runs[1].result.as_ref().expect_err("no bundle for nobody");
    assert!(
        matches!(
            nobody,
            payhook::reconcile::ReconcileError::Bundle(
                payhook::secrets::BundleParameterError::Read { name, .. }
            ) if name.ends_with("/nobody/bundle")
        ),
        "{nobody}"
    );
    let record = stack
        .record(SUBSCRIBER, "order-sched-1")
        .await
        .expect("credited");
    assert_eq!(record["paid"], 1);
    assert_eq!(record["last_payment_intent"], missed.as_str());
    // A credit by reconcile owes the subscriber its notification, as a webhook's does.
    let owed = payhook::notifications::Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    )
    .list(Some(SUBSCRIBER), Some("order-sched-1"))
    .await
    .expect("list notifications");
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(owed[0].0.payment_intent, missed);
    assert_eq!(owed[0].0.status.as_str(), "pending");
    let text = logs.text();
    assert!(text.contains("\"outcome\":\"reconciled\""), "{text}");
    let notices: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|n: &serde_json::Value| n["source"] == "reconcile")
        .collect();
    // One per listed event, one per subscriber.
    assert_eq!(notices.len(), 3, "{text}");
    assert!(
        notices.iter().all(|n| n["request_id"] == "req-tick"),
        "every notice carries the invocation's request id: {text}"
    );
    assert!(text.contains("\"outcome\":\"reconcile_failed\""), "{text}");

    // The next tick finds it credited.
    let again = reconcile::scheduled(&reconciler, tick, deadline, None).await;
    // acme's run moved its checkpoint; nobody, never reconciled, now goes first.
    assert_eq!(again[0].subscriber, "nobody");
    let acme_again = again[1].result.as_ref().expect("acme");
    assert_eq!(
        (
            acme_again.events,
            acme_again.credited,
            acme_again.already_credited
        ),
        (1, 0, 1),
        "{acme_again:?}"
    );
    assert_eq!(
        stack.record(SUBSCRIBER, "order-sched-1").await.unwrap()["paid"],
        1
    );
}

/// Stripe's events API answers 100 events a page; a window with more is read to its end
/// (`has_more`, `starting_after` the last one read), every event applied once.
#[tokio::test]
async fn a_window_of_more_events_than_one_page_is_read_to_its_end() {
    const PAYMENTS: i64 = 101;
    let localstripe = PrivateLocalstripe::start().await.expect("localstripe");
    let stack = Stack::with(Options {
        localstripe: Some(localstripe.base.clone()),
        ..Options::default()
    })
    .await;
    let since = now_ms() / 1000 - 60;
    for n in 0..PAYMENTS {
        stack.intent(&format!("order-page-{n}"), 100 + n).await;
    }
    let bundle = stack
        .consumer
        .keys
        .open(&stack.bundle)
        .await
        .expect("the stack's bundle opens");
    let mut seen = std::collections::BTreeSet::new();
    let summary = reconcile::reconcile(
        &stack.consumer.pipeline,
        &bundle,
        reconcile::Window { since, until: None },
        None,
        None,
        |r| {
            assert!(seen.insert(r.event_id.clone()), "{} read twice", r.event_id);
        },
    )
    .await
    .expect("reconciled");
    assert_eq!(
        (summary.events, summary.credited, summary.failed),
        (PAYMENTS as usize, PAYMENTS as usize, 0),
        "{summary:?}"
    );
    for n in [0, PAYMENTS / 2, PAYMENTS - 1] {
        let record = stack
            .record(SUBSCRIBER, &format!("order-page-{n}"))
            .await
            .unwrap_or_else(|| panic!("order-page-{n} credited"));
        assert_eq!(record["paid"], 1);
        assert_eq!(record["amount_received"], 100 + n);
    }
}

#[test]
fn the_schedule_reads_its_variables_and_names_what_is_wrong() {
    let schedule =
        payhook::ops::schedule(|k| (k == "SUBSCRIBERS").then(|| "acme, globex-eu".into()))
            .expect("defaults");
    assert_eq!(schedule.subscribers, ["acme", "globex-eu"]);
    assert_eq!(schedule.parameter_prefix, "/payhook/subscribers");
    assert_eq!(schedule.window_hours, 72);
    for (name, value) in [("SUBSCRIBERS", "a#b"), ("RECONCILE_WINDOW_HOURS", "0")] {
        let err = payhook::ops::schedule(|k| match k {
            "SUBSCRIBERS" if name != "SUBSCRIBERS" => Some("acme".into()),
            k if k == name => Some(value.into()),
            _ => None,
        })
        .expect_err(name)
        .to_string();
        assert!(err.contains(name), "{err}");
    }
}

/// Refunds and disputes whose webhooks never arrived are recorded by the reconcile, once: the
/// run lists their events like a payment's, and a second run changes nothing.
#[tokio::test]
async fn the_reconcile_records_missed_refunds_and_disputes_once() {
    let localstripe = PrivateLocalstripe::start().await.expect("localstripe");
    let stack = Stack::with(Options {
        localstripe: Some(localstripe.base.clone()),
        ..Options::default()
    })
    .await;
    let since = now_ms() / 1000 - 60;
    let refunded = stack.intent("order-missed-refund", 1000).await;
    let disputed = stack.intent("order-missed-dispute", 1000).await;
    let batch = [("m-paid-r", &refunded), ("m-paid-d", &disputed)]
        .iter()
        .map(|(id, pi)| good(&stack, id, &sample_body("payment_intent.succeeded", pi)).sqs())
        .collect();
    let r = stack
        .consumer
        .handle(payhook_testkit::delivery::sqs_event(batch))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    // Their refund's and dispute's webhooks never come.
    stack.refund(&refunded, Some(300)).await;
    let dispute = stack.open_dispute(&disputed).await;
    stack.close_dispute(&dispute, false).await;

    let bundle = stack
        .consumer
        .keys
        .open(&stack.bundle)
        .await
        .expect("the stack's bundle opens");
    let run = || {
        reconcile::reconcile(
            &stack.consumer.pipeline,
            &bundle,
            reconcile::Window { since, until: None },
            None,
            None,
            |_| {},
        )
    };
    let first = run().await.expect("reconciled");
    assert_eq!(
        (first.credited, first.refunded, first.disputed, first.failed),
        (0, 1, 1, 0),
        "{first:?}"
    );
    let second = run().await.expect("reconciled again");
    assert_eq!(
        (
            second.credited,
            second.refunded,
            second.disputed,
            second.failed
        ),
        (0, 0, 0, 0),
        "{second:?}"
    );
    assert_eq!(second.events, first.events);
    let n = |record: &serde_json::Map<String, serde_json::Value>, k: &str| {
        record.get(k).and_then(|v| v.as_i64())
    };
    let r = stack
        .record(SUBSCRIBER, "order-missed-refund")
        .await
        .expect("record");
    assert_eq!((n(&r, "refunded"), n(&r, "net")), (Some(300), Some(700)));
    let d = stack
        .record(SUBSCRIBER, "order-missed-dispute")
        .await
        .expect("record");
    assert_eq!(
        (
            n(&d, "disputed"),
            n(&d, "net"),
            n(&d, "disputes_open"),
            n(&d, "disputes_lost")
        ),
        (Some(1000), Some(0), Some(0), Some(1))
    );
}

/// The scheduled run reads each subscriber from where its last complete run got to: a run cut
/// by its deadline moves nothing and records nothing; a reconciler started afresh (as after a
/// crash) reads the checkpoint from DynamoDB; the complete run credits every payment once and
/// moves it; the next run reads only what is newer than it, less the overlap.
#[tokio::test]
async fn the_scheduled_run_resumes_from_its_checkpoint_after_a_cut_or_a_crash() {
    let localstripe = PrivateLocalstripe::start().await.expect("localstripe");
    let stack = Stack::with(Options {
        localstripe: Some(localstripe.base.clone()),
        ..Options::default()
    })
    .await;
    let prefix = publish_bundle(&stack).await;
    for n in 0..5 {
        stack.intent(&format!("order-resume-{n}"), 500 + n).await;
    }
    let reconciler = || async {
        let schedule = payhook::ops::schedule(|k| match k {
            "SUBSCRIBERS" => Some(SUBSCRIBER.into()),
            "SUBSCRIBER_PARAMETER_PREFIX" => Some(prefix.clone()),
            "RECONCILE_WINDOW_HOURS" => Some("1".into()),
            _ => None,
        })
        .expect("schedule");
        payhook::ops::reconciler(&stack.config, schedule, &stack.aws)
            .await
            .expect("the reconciler starts")
    };
    let ledger = &stack.consumer.pipeline.ledger;
    // A tick whose settled window ends past the overlap after the payments, so that the run
    // after the complete one has nothing left to read.
    let tick = now_ms() / 1000 + reconcile::SETTLE_SECS + reconcile::OVERLAP_SECS + 5;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let far = || std::time::Instant::now() + std::time::Duration::from_secs(600);

    let first = reconciler().await;
    let cut = reconcile::scheduled(&first, tick, std::time::Instant::now(), None).await;
    let cut = cut[0].result.as_ref().expect("ran");
    assert!(cut.cut && cut.credited == 0, "{cut:?}");
    assert_eq!(ledger.reconciled_until(SUBSCRIBER).await.unwrap(), None);
    drop(first);

    let (logs, _guard) = Logs::capture();
    let restarted = reconciler().await;
    let complete = reconcile::scheduled(&restarted, tick, far(), None).await;
    let complete = complete[0].result.as_ref().expect("ran");
    assert_eq!(
        (complete.cut, complete.credited, complete.failed),
        (false, 5, 0),
        "{complete:?}"
    );
    assert_eq!(
        ledger.reconciled_until(SUBSCRIBER).await.unwrap(),
        Some(tick - reconcile::SETTLE_SECS)
    );
    // The summary, and one line per credit: the events it only read again are not logged.
    let notices: Vec<serde_json::Value> = logs
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|n: &serde_json::Value| n["source"] == "reconcile")
        .collect();
    assert_eq!(notices.len(), 6, "{}", logs.text());
    assert_eq!(notices[5]["checkpoint_moved"], true);

    let next = reconciler().await;
    let later = reconcile::scheduled(&next, tick + 60, far(), None).await;
    let later = later[0].result.as_ref().expect("ran");
    assert_eq!(
        (later.events, later.credited),
        (0, 0),
        "only what is newer than the checkpoint, less the overlap: {later:?}"
    );
    for n in 0..5 {
        let record = stack
            .record(SUBSCRIBER, &format!("order-resume-{n}"))
            .await
            .expect("credited");
        assert_eq!(record["paid"], 1, "order-resume-{n} once");
    }
}
