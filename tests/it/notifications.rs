//! The subscriber is told: a credit owes a `payment.credited` notification, written in the
//! credit's own transaction; the notifier signs it per Standard Webhooks, posts it to the
//! endpoint in the subscriber's bundle, retries on the schedule and dead-letters it with its
//! reason; every attempt is in the audit trail. Against moto and a local receiver; time is
//! passed to the notifier, so days of schedule take no waiting.

use payhook::ledger::Credit;
use payhook::notifications::Notification;
use payhook::notifications::{Notifier, RunSummary};
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::emulators;
use payhook_testkit::logs::Logs;
use payhook_testkit::proxy::Proxy;
use payhook_testkit::receiver::{Received, Receiver};
use payhook_testkit::stack::*;
use zeroize::Zeroizing;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// A notifier over the stack's tables, reading bundles from SSM under the stack's prefix.
struct Setup {
    notifier: Notifier,
    prefix: String,
    dlq: String,
}

async fn notifier(stack: &Stack, env: &[(&str, &str)]) -> Setup {
    let prefix = format!("/{}", stack.config.payments_table);
    let dlq = emulators::create_queue(&stack.aws, &format!("{}-ndlq", stack.config.payments_table))
        .await
        .expect("notification DLQ on moto");
    let config = payhook::ops::notifier_config(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
            .or_else(|| match k {
                "NOTIFICATIONS_TABLE" => Some(stack.config.notifications_table.clone()),
                "PAYMENTS_TABLE" => Some(stack.config.payments_table.clone()),
                "KEYSET_SECRET_ID" => Some(stack.config.keyset_secret_id.clone()),
                "SUBSCRIBER_PARAMETER_PREFIX" => Some(prefix.clone()),
                "NOTIFICATION_DLQ_URL" => Some(dlq.clone()),
                "PAYHOOK_MODE" => Some("test".into()),
                "NOTIFY_TIMEOUT_MS" => Some("2000".into()),
                _ => None,
            })
    })
    .expect("notifier config");
    Setup {
        notifier: Notifier::new(&config, &stack.aws, stack.keys.ring()).expect("notifier"),
        prefix,
        dlq,
    }
}

impl Setup {
    /// The same notifier reaching AWS through `aws` (a proxy in front of moto).
    async fn with_aws(&self, stack: &Stack, aws: &aws_config::SdkConfig) -> Notifier {
        let config = payhook::ops::notifier_config(|k| match k {
            "NOTIFICATIONS_TABLE" => Some(stack.config.notifications_table.clone()),
            "PAYMENTS_TABLE" => Some(stack.config.payments_table.clone()),
            "KEYSET_SECRET_ID" => Some(stack.config.keyset_secret_id.clone()),
            "SUBSCRIBER_PARAMETER_PREFIX" => Some(self.prefix.clone()),
            "NOTIFICATION_DLQ_URL" => Some(self.dlq.clone()),
            "PAYHOOK_MODE" => Some("test".into()),
            "NOTIFY_TIMEOUT_MS" => Some("2000".into()),
            _ => None,
        })
        .expect("notifier config");
        Notifier::new(&config, aws, stack.keys.ring()).expect("notifier")
    }

    /// The subscriber's bundle where the route and the notifier read it.
    async fn publish(&self, stack: &Stack, subscriber: &str, bundle: &str) {
        aws_sdk_ssm::Client::new(&stack.aws)
            .put_parameter()
            .name(format!("{}/{subscriber}/bundle", self.prefix))
            .value(bundle)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("put the bundle into SSM (moto)");
    }

    async fn list(
        &self,
        subscriber: &str,
    ) -> Vec<(Notification, Vec<payhook::notifications::Attempt>)> {
        self.notifier
            .store
            .list(Some(subscriber), None)
            .await
            .expect("list notifications")
    }

    /// Runs the notifier at each next attempt's time until nothing is pending; the times run.
    async fn run_until_settled(&self, subscriber: &str, start: i64) -> Vec<i64> {
        let mut at = start;
        let mut times = Vec::new();
        for _ in 0..30 {
            times.push(at);
            self.notifier.run_due(at, None).await;
            let pending: Vec<i64> = self
                .list(subscriber)
                .await
                .iter()
                .filter_map(|(n, _)| n.next_attempt_at)
                .collect();
            match pending.iter().min() {
                Some(next) => at = *next,
                None => return times,
            }
        }
        panic!("still pending after 30 runs: {times:?}");
    }

    async fn dead_letters(
        &self,
        stack: &Stack,
    ) -> Vec<(String, std::collections::HashMap<String, String>)> {
        emulators::read_queue(&stack.aws, &self.dlq)
            .await
            .expect("read the notification DLQ")
    }
}

/// A local receiver answering 500 to its first `fail_first` requests, a new notification
/// secret, and acme's bundle notifying that receiver with it.
async fn endpoint(stack: &Stack, fail_first: usize) -> (Receiver, Zeroizing<String>, String) {
    let receiver = Receiver::start(fail_first).await;
    let secret = payhook::notifications::generate_secret();
    let bundle = stack
        .keys
        .seal_notifying(SUBSCRIBER, &[WHSEC], API_KEY, &receiver.url, &secret);
    (receiver, secret, bundle)
}

/// A `payment_intent.succeeded` of `pi` delivered with `bundle` and handled: credited.
async fn deliver(stack: &Stack, bundle: &str, message_id: &str, pi: &str) {
    let body = sample_body("payment_intent.succeeded", pi);
    let msg = Msg {
        bundle,
        ..good(stack, message_id, &body)
    };
    let r = stack
        .consumer
        .handle(sqs_event(vec![msg.sqs()]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{message_id} was not handled");
}

/// Verified as a subscriber would: the Standard Webhooks library, their secret, the headers.
fn verify(secret: &str, r: &Received) -> Result<(), standardwebhooks::WebhookError> {
    standardwebhooks::Webhook::new(secret)?.verify(r.body.as_bytes(), &r.headers)
}

#[tokio::test]
async fn a_credit_is_notified_signed_and_retried_until_the_receiver_takes_it() {
    let (logs, _guard) = Logs::capture();
    let stack = Stack::new().await;
    let receiver = Receiver::start(2).await;
    let secret = payhook::notifications::generate_secret();
    // An endpoint with a token in its query, as some receivers authenticate callers.
    let endpoint = format!("{}?token=s3cret-token", receiver.url);
    let bundle = stack
        .keys
        .seal_notifying(SUBSCRIBER, &[WHSEC], API_KEY, &endpoint, &secret);
    let setup = notifier(&stack, &[]).await;
    setup.publish(&stack, SUBSCRIBER, &bundle).await;

    let pi = stack.intent("order-notify-1", 4200).await;
    let deliveries = [
        ("m-pi", sample_body("payment_intent.succeeded", &pi)),
        ("m-charge", sample_body("charge.succeeded", &pi)),
    ];
    for (id, body) in &deliveries {
        let msg = Msg {
            bundle: &bundle,
            ..good(&stack, id, body)
        };
        let r = stack
            .consumer
            .handle(sqs_event(vec![msg.sqs()]))
            .await
            .expect("batch");
        assert!(failed_ids(&r).is_empty());
    }
    // Two deliveries of one PaymentIntent: one credit, one notification owed.
    let owed = setup.list(SUBSCRIBER).await;
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(owed[0].0.status.as_str(), "pending");
    assert!(
        receiver.received().is_empty(),
        "the consumer itself calls no endpoint"
    );

    let t0 = now_ms();
    assert_eq!(
        setup.notifier.run_due(t0, None).await,
        RunSummary {
            retrying: 1,
            ..RunSummary::default()
        }
    );
    // Not due again before its retry time.
    assert_eq!(
        setup.notifier.run_due(t0 + 9 * MIN, None).await,
        RunSummary::default()
    );
    assert_eq!(receiver.received().len(), 1);
    let times = setup.run_until_settled(SUBSCRIBER, t0 + 10 * MIN).await;
    // +10 min, then +1 h: the third attempt is taken.
    assert_eq!(times, [t0 + 10 * MIN, t0 + 70 * MIN], "{}", logs.text());
    assert_eq!(
        setup.notifier.run_due(t0 + 30 * 24 * HOUR, None).await,
        RunSummary::default()
    );

    let got = receiver.received();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for r in &got {
        verify(&secret, r)
            .unwrap_or_else(|e| panic!("a Standard Webhooks verifier refuses it: {e}"));
        assert_eq!(
            r.header("webhook-id"),
            format!("msg_{pi}"),
            "the same id on every retry"
        );
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.body, got[0].body, "every retry sends the same body");
    }
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("JSON body");
    assert_eq!(body["type"], "payment.credited");
    let data = &body["data"];
    assert_eq!(data["subscriber"], SUBSCRIBER);
    assert_eq!(data["payment_id"], "order-notify-1");
    assert_eq!(data["payment_intent"], pi.as_str());
    assert_eq!(data["amount"], 4200);
    assert_eq!(data["currency"], "eur");
    assert_eq!(data["paid"], 1);

    // A second, independent implementation agrees: the Python Standard Webhooks library
    // verifies each request, and refuses a changed byte and another secret.
    let checked = payhook_testkit::python::run(
        r#"
import json, sys
from standardwebhooks import Webhook
i = json.load(sys.stdin)
def ok(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
        return True
    except Exception:
        return False
out = []
for r in i["requests"]:
    out.append([ok(i["secret"], r["body"], r["headers"]),
                ok(i["secret"], r["body"].replace("4200", "9200"), r["headers"]),
                ok(i["other"], r["body"], r["headers"])])
print(json.dumps(out))
"#,
        &serde_json::json!({
            "secret": secret.as_str(),
            "other": payhook::notifications::generate_secret().as_str(),
            "requests": got.iter().map(|r| serde_json::json!({
                "body": r.body,
                "headers": {
                    "webhook-id": r.header("webhook-id"),
                    "webhook-timestamp": r.header("webhook-timestamp"),
                    "webhook-signature": r.header("webhook-signature"),
                },
            })).collect::<Vec<_>>(),
        }),
    )
    .expect("the Python Standard Webhooks library");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&checked).expect("JSON"),
        serde_json::json!([
            [true, false, false],
            [true, false, false],
            [true, false, false]
        ])
    );

    // An attacker without the secret, or one who changes a byte, is refused by the verifier.
    let other = payhook::notifications::generate_secret();
    assert!(verify(&other, &got[2]).is_err());
    let mut tampered = got[2].clone();
    tampered.body = tampered.body.replace("4200", "9200");
    assert!(verify(&secret, &tampered).is_err());

    // The audit trail: one row per attempt, as the receiver saw them.
    let listed = setup
        .notifier
        .store
        .list(Some(SUBSCRIBER), Some("order-notify-1"))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    let (n, attempts) = &listed[0];
    assert_eq!(n.status.as_str(), "delivered");
    assert_eq!(n.attempts, 3);
    assert_eq!(n.next_attempt_at, None);
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [Some(500), Some(500), Some(200)]
    );
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "retry", "delivered"]
    );
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.at - t0) / 1000)
            .collect::<Vec<_>>(),
        [0, 600, 4200],
        "the attempts' times, on the notifier's clock"
    );
    // The audit trail names the endpoint without its query's token.
    assert!(
        attempts.iter().all(|a| a.endpoint == receiver.url),
        "{attempts:?}"
    );
    assert_eq!(
        logs.notices()
            .iter()
            .filter(|l| l["source"] == "notifier" && l["notification_id"] == format!("msg_{pi}"))
            .count(),
        3,
        "one notice per attempt: {}",
        logs.text()
    );
}

#[tokio::test]
async fn after_the_last_retry_the_notification_is_dead_lettered_with_its_reason() {
    let stack = Stack::new().await;
    let (receiver, _, bundle) = endpoint(&stack, usize::MAX).await;
    // The schedule compressed: +1 min, then every 2 min, for 5 min.
    let setup = notifier(
        &stack,
        &[
            ("NOTIFY_RETRY_SECS", "60,120"),
            ("NOTIFY_GIVE_UP_SECS", "300"),
        ],
    )
    .await;
    setup.publish(&stack, SUBSCRIBER, &bundle).await;
    let pi = stack.intent("order-notify-dead", 990).await;
    deliver(&stack, &bundle, "m-dead", &pi).await;

    let t0 = now_ms();
    let times = setup.run_until_settled(SUBSCRIBER, t0).await;
    assert_eq!(times, [t0, t0 + MIN, t0 + 3 * MIN, t0 + 5 * MIN]);
    assert_eq!(receiver.received().len(), 4);
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.header("webhook-id") == format!("msg_{pi}"))
    );

    let dead = setup.dead_letters(&stack).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (body, attrs) = &dead[0];
    assert_eq!(attrs["reason"], "retries_exhausted");
    assert_eq!(attrs["notification-id"], format!("msg_{pi}"));
    assert_eq!(attrs["subscriber"], SUBSCRIBER);
    assert!(attrs["error"].contains("HTTP 500"), "{attrs:?}");
    assert_eq!(
        body,
        &receiver.received()[0].body,
        "the DLQ keeps what was to be sent"
    );

    let (n, attempts) = &setup.list(SUBSCRIBER).await[0];
    assert_eq!(n.status.as_str(), "dead_lettered");
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "retry", "retry", "dead_lettered"]
    );

    // An operator's resend makes it due again, same id, fresh window.
    let later = t0 + 10 * MIN;
    assert!(
        setup
            .notifier
            .store
            .resend(SUBSCRIBER, &n.id, later)
            .await
            .expect("resend")
    );
    assert_eq!(setup.notifier.run_due(later, None).await.retrying, 1);
    assert_eq!(receiver.received().len(), 5);
    // A fresh schedule too: the first retry of the new window is the schedule's first wait.
    let (n, attempts) = &setup.list(SUBSCRIBER).await[0];
    assert_eq!(n.status.as_str(), "pending");
    assert_eq!(n.next_attempt_at.map(|at| (at - later) / 1000), Some(60));
    assert_eq!(attempts.len(), 5, "the earlier window's rows are kept");
    // An attempt row is not a notification: resending one changes nothing.
    let row = format!("{}#0001", n.id);
    assert!(
        !setup
            .notifier
            .store
            .resend(SUBSCRIBER, &row, later)
            .await
            .expect("resend")
    );
    assert_eq!(setup.list(SUBSCRIBER).await[0].1.len(), 5);
    assert_eq!(
        receiver.received()[4].header("webhook-id"),
        format!("msg_{pi}")
    );
}

#[tokio::test]
async fn a_crash_right_after_the_credit_still_notifies() {
    let stack = Stack::new().await;
    let (receiver, secret, bundle) = endpoint(&stack, 0).await;
    let setup = notifier(&stack, &[]).await;
    setup.publish(&stack, SUBSCRIBER, &bundle).await;
    let pi = stack.intent("order-crash-1", 1500).await;

    // What an attempt leaves when the process dies right after the commit: the transaction,
    // nothing else (the consumer writes nothing after it that a notification depends on).
    stack
        .consumer
        .pipeline
        .ledger
        .apply(&Credit {
            subscriber: SUBSCRIBER,
            payment_id: "order-crash-1",
            intent_id: &pi,
            amount_received: 1500,
            currency: "eur",
            event_id: "evt_crash",
            event_type: "payment_intent.succeeded",
            message_id: "m-crash",
            movements: &[],
        })
        .await
        .expect("the credit commits");
    // SQS redelivers the same message: recognised as this message's own credit, not a second.
    deliver(&stack, &bundle, "m-crash", &pi).await;
    assert_eq!(
        stack
            .record(SUBSCRIBER, "order-crash-1")
            .await
            .expect("record")["paid"],
        1
    );

    let summary = setup.notifier.run_due(now_ms(), None).await;
    assert_eq!(
        summary,
        RunSummary {
            delivered: 1,
            ..RunSummary::default()
        }
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    verify(&secret, &got[0]).expect("verifies");
    assert_eq!(got[0].header("webhook-id"), format!("msg_{pi}"));

    // A credit that does not commit owes nothing: a currency mismatch cancels the whole
    // transaction, notification included.
    let refused = stack
        .consumer
        .pipeline
        .ledger
        .apply(&Credit {
            subscriber: SUBSCRIBER,
            payment_id: "order-crash-1",
            intent_id: "pi_otherCurrency",
            amount_received: 10,
            currency: "usd",
            event_id: "evt_usd",
            event_type: "payment_intent.succeeded",
            message_id: "m-usd",
            movements: &[],
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(setup.list(SUBSCRIBER).await.len(), 1);
}

#[tokio::test]
async fn a_live_notifier_calls_only_https_endpoints_at_public_addresses() {
    let stack = Stack::new().await;
    let receiver = Receiver::start(0).await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port")
        .to_string();
    let setup = notifier(&stack, &[("PAYHOOK_MODE", "live")]).await;
    let secret = payhook::notifications::generate_secret();
    // What an attacker holding a bundle of their own would point the notifier at.
    let targets = [
        receiver.url.clone(),
        format!("https://127.0.0.1:{port}/hooks/payhook"),
        format!("https://localhost:{port}/"),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        "https://[::ffff:127.0.0.1]/".to_string(),
        "https://10.0.0.1/".to_string(),
        "https://2130706433/".to_string(),
    ];
    for (i, url) in targets.iter().enumerate() {
        let subscriber = format!("evil{i}");
        let bundle = stack
            .keys
            .seal_notifying(&subscriber, &[WHSEC], API_KEY, url, &secret);
        setup.publish(&stack, &subscriber, &bundle).await;
        stack
            .consumer
            .pipeline
            .ledger
            .apply(&Credit {
                subscriber: &subscriber,
                payment_id: "order-evil",
                intent_id: &format!("pi_evil{i}"),
                amount_received: 100,
                currency: "eur",
                event_id: "evt_evil",
                event_type: "payment_intent.succeeded",
                message_id: "m-evil",
                movements: &[],
            })
            .await
            .expect("credit");
    }
    let summary = setup.notifier.run_due(now_ms(), None).await;
    assert_eq!(summary.dead_lettered, targets.len(), "{summary:?}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the local receiver"
    );
    let dead = setup.dead_letters(&stack).await;
    assert_eq!(dead.len(), targets.len());
    assert!(
        dead.iter()
            .all(|(_, a)| a["reason"] == "endpoint_not_allowed"),
        "{dead:?}"
    );
}

#[tokio::test]
async fn a_subscriber_without_an_endpoint_is_not_notified() {
    let stack = Stack::new().await;
    let setup = notifier(&stack, &[]).await;
    let pi = stack.intent("order-quiet-1", 300).await;
    deliver(&stack, &stack.bundle, "m-quiet", &pi).await;
    assert_eq!(
        stack
            .record(SUBSCRIBER, "order-quiet-1")
            .await
            .expect("record")["paid"],
        1
    );
    // Owed, as every credit is; the notifier finds no endpoint in the bundle and settles it
    // without a request and without the DLQ.
    setup.publish(&stack, SUBSCRIBER, &stack.bundle).await;
    let summary = setup.notifier.run_due(now_ms(), None).await;
    assert_eq!(
        summary,
        RunSummary {
            not_notified: 1,
            ..RunSummary::default()
        }
    );
    let listed = setup.list(SUBSCRIBER).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.status.as_str(), "not_notified");
    assert_eq!(listed[0].0.next_attempt_at, None);
    assert!(setup.dead_letters(&stack).await.is_empty());
    assert_eq!(
        setup.notifier.run_due(now_ms(), None).await,
        RunSummary::default()
    );
}

#[tokio::test]
async fn when_the_dlq_refuses_only_the_move_is_retried_and_the_run_fails() {
    let stack = Stack::new().await;
    let (receiver, _, bundle) = endpoint(&stack, usize::MAX).await;
    let missing_dlq = format!(
        "{}/000000000000/no-such-queue",
        required_env("AWS_ENDPOINT_URL")
    );
    let broken = notifier(
        &stack,
        &[
            ("NOTIFY_RETRY_SECS", "60"),
            ("NOTIFY_GIVE_UP_SECS", "60"),
            ("NOTIFICATION_DLQ_URL", &missing_dlq),
        ],
    )
    .await;
    broken.publish(&stack, SUBSCRIBER, &bundle).await;
    let pi = stack.intent("order-notify-nodlq", 700).await;
    deliver(&stack, &bundle, "m-nodlq", &pi).await;

    let t0 = now_ms();
    assert_eq!(broken.notifier.run_due(t0, None).await.retrying, 1);
    // The window closes at the second attempt, and the DLQ refuses: the run fails (so the
    // notifier alarms) and the notification stays due, with its reason kept.
    let s = broken.notifier.run_due(t0 + MIN, None).await;
    assert_eq!(s.failed, 1, "{s:?}");
    assert_eq!(receiver.received().len(), 2);
    let (n, _) = &broken.list(SUBSCRIBER).await[0];
    assert_eq!(n.status.as_str(), "pending");
    assert_eq!(n.dead_reason.as_deref(), Some("retries_exhausted"));
    let due = n.next_attempt_at.expect("still due");

    // Once the DLQ takes it, only the move happens: no third request to the endpoint.
    let fixed = notifier(
        &stack,
        &[("NOTIFY_RETRY_SECS", "60"), ("NOTIFY_GIVE_UP_SECS", "60")],
    )
    .await;
    let s = fixed.notifier.run_due(due, None).await;
    assert_eq!(s.dead_lettered, 1, "{s:?}");
    assert_eq!(
        receiver.received().len(),
        2,
        "the endpoint is not called again"
    );
    let dead = fixed.dead_letters(&stack).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["reason"], "retries_exhausted");
    let (n, attempts) = &fixed.list(SUBSCRIBER).await[0];
    assert_eq!(n.status.as_str(), "dead_lettered");
    assert_eq!(n.dead_reason.as_deref(), Some("retries_exhausted"));
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "retry", "dead_lettered"]
    );
}

/// Two scheduled runs overlapping. A proxy in front of DynamoDB holds each run's read of the
/// due index until both have asked, so both see all six notifications due: each is claimed by
/// exactly one run (the other finds it taken), sent once, with one attempt row.
#[tokio::test]
async fn two_notifiers_at_once_send_a_notification_once() {
    let stack = Stack::new().await;
    let (receiver, _, bundle) = endpoint(&stack, 0).await;
    let (a, mut b) = (notifier(&stack, &[]).await, notifier(&stack, &[]).await);
    a.publish(&stack, SUBSCRIBER, &bundle).await;
    for i in 0..6 {
        let pi = stack.intent(&format!("order-twice-{i}"), 100 + i).await;
        deliver(&stack, &bundle, &format!("m-twice-{i}"), &pi).await;
    }
    let proxy = Proxy::start_holding(
        &required_env("AWS_ENDPOINT_URL"),
        "DynamoDB_20120810.Query",
        2,
    )
    .await
    .expect("AWS proxy");
    let proxied = emulators::aws_config_for(&proxy.url).await;
    let a = Setup {
        notifier: a.with_aws(&stack, &proxied).await,
        ..a
    };
    b.notifier = b.with_aws(&stack, &proxied).await;
    let now = now_ms();
    let (x, y) = tokio::join!(a.notifier.run_due(now, None), b.notifier.run_due(now, None));
    assert_eq!(x.delivered + y.delivered, 6, "{x:?} {y:?}");
    assert_eq!(
        x.taken + y.taken,
        6,
        "each notification was due for both runs and taken by one: {x:?} {y:?}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 6);
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no notification sent twice");
    // Read back past the proxy, which holds every Query for a partner.
    let store = payhook::notifications::Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    );
    let listed = store.list(Some(SUBSCRIBER), None).await.expect("list");
    assert_eq!(listed.len(), 6);
    for (n, attempts) in listed {
        assert_eq!(
            (n.status.as_str(), attempts.len()),
            ("delivered", 1),
            "{n:?}"
        );
    }
}

/// A receiver that answers 503 with `Retry-After: 7200` is tried again in two hours, not on the
/// schedule's ten minutes; one asking for longer than the schedule's longest delay gets that.
#[tokio::test]
async fn a_receivers_retry_after_is_honoured_within_the_schedule() {
    let stack = Stack::new().await;
    let receiver = Receiver::start_asking_to_wait(1, "7200").await;
    let secret = payhook::notifications::generate_secret();
    let bundle = stack
        .keys
        .seal_notifying(SUBSCRIBER, &[WHSEC], API_KEY, &receiver.url, &secret);
    let setup = notifier(&stack, &[]).await;
    setup.publish(&stack, SUBSCRIBER, &bundle).await;
    let pi = stack.intent("order-retry-after", 1500).await;
    deliver(&stack, &bundle, "m-retry-after", &pi).await;

    let t0 = now_ms();
    setup.notifier.run_due(t0, None).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, 503);
    let n = &setup.list(SUBSCRIBER).await[0].0;
    assert_eq!(
        n.next_attempt_at.map(|at| (at - t0) / 1000),
        Some(7200),
        "two hours, as the receiver asked"
    );
    // Due again then, and taken.
    setup.notifier.run_due(t0 + 7_200_000, None).await;
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(
        setup.list(SUBSCRIBER).await[0].0.status.as_str(),
        "delivered"
    );
}
