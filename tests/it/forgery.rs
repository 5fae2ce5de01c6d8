//! The forgery matrix: what an attacker who can put messages on the webhook queue (any
//! principal with `sqs:SendMessage`), or who controls a `Stripe-Signature` header, would try.
//! Each attempt is refused with its own reason, dead-lettered, credits nothing, and leaves no
//! secret in the logs.

use payhook::secrets::IssuerKey;
use payhook_testkit::delivery::{send_routed, sqs_event};
use payhook_testkit::emulators;
use payhook_testkit::localstripe::create_succeeded_intent;
use payhook_testkit::logs::Logs;
use payhook_testkit::poller;
use payhook_testkit::route::{RouteMapping, RoutedAttribute};
use payhook_testkit::stack::*;

const ATTACKER_WHSEC: &str = "whsec_attacker_own_secret";
const ATTACKER_KEY: &str = "sk_test_attacker_own_key";

/// The dead letters' (source message id, reason), sorted.
async fn dead_letter_reasons(stack: &Stack) -> Vec<(String, String)> {
    let mut reasons: Vec<(String, String)> = stack
        .dead_letters()
        .await
        .into_iter()
        .map(|(_, a)| (a["source-message-id"].clone(), a["failure-reason"].clone()))
        .collect();
    reasons.sort();
    reasons
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// Every secret in play, the attacker's and the subscriber's: none may appear in a log line.
fn assert_no_secret_in(logs: &str, stack: &Stack, more: &[&str]) {
    let keyset: serde_json::Value = serde_json::from_str(&stack.keys.keyset_json).unwrap();
    let private_key = keyset["keys"][0]["secret_key"]
        .as_str()
        .unwrap()
        .to_string();
    let issuer_seed = serde_json::from_str::<serde_json::Value>(
        &stack.keys.issuer.to_json().unwrap(),
    )
    .unwrap()["seed"]
        .as_str()
        .unwrap()
        .to_string();
    for secret in [
        WHSEC,
        API_KEY,
        ATTACKER_WHSEC,
        ATTACKER_KEY,
        &private_key,
        &issuer_seed,
    ]
    .into_iter()
    .chain(more.iter().copied())
    {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret:.12}…"
        );
    }
}

/// The issue's attack and its variants, on a test-mode deployment: the attacker has only the
/// consumer's public key, their own webhook secret and their own test-mode Stripe account.
#[tokio::test]
async fn forged_bundles_mixed_modes_and_injected_headers_are_refused() {
    let stack = Stack::new().await;
    let target = "order-forge-1001";
    // The attacker's own PaymentIntent, naming the subscriber's order.
    let pi = create_succeeded_intent(&stack.stripe_base, ATTACKER_KEY, target, 5000, "eur")
        .await
        .expect("attacker's PaymentIntent on localstripe");
    let body = sample_body("payment_intent.succeeded", &pi);
    let (public, kid) = (stack.keys.public, stack.keys.kid.as_str());

    let v1_payload = serde_json::json!({
        "v": 1, "subscriber": SUBSCRIBER,
        "webhook_secrets": [ATTACKER_WHSEC], "stripe_api_key": ATTACKER_KEY,
    })
    .to_string();
    let v2_payload = |issuer: &str| {
        serde_json::json!({
            "v": 2, "issuer": issuer, "subscriber": SUBSCRIBER,
            "webhook_secrets": [ATTACKER_WHSEC], "stripe_api_key": ATTACKER_KEY,
        })
        .to_string()
    };
    let mallory = IssuerKey::generate("mallory").unwrap();
    let sign_and_seal = |issuer: &IssuerKey, payload: &str| {
        let signed = issuer.sign(payload.as_bytes()).unwrap();
        payhook::secrets::seal_raw(&public, kid, &signed).unwrap()
    };
    let unsigned = payhook::secrets::seal_raw(&public, kid, v1_payload.as_bytes()).unwrap();
    let unsigned_v2 =
        payhook::secrets::seal_raw(&public, kid, v2_payload("it-key-issuer").as_bytes()).unwrap();
    let unknown_issuer = sign_and_seal(&mallory, &v2_payload("mallory"));
    let claims_trusted = sign_and_seal(&mallory, &v2_payload(stack.keys.issuer.kid()));
    // A genuine bundle, but another subscriber's, replayed on acme's route.
    let globex = stack.seal("globex", &[ATTACKER_WHSEC], ATTACKER_KEY);

    let live_body = body.replace("\"livemode\": false", "\"livemode\": true");
    // A genuine event captured long ago, replayed with a receive time to match its signature:
    // older than the ledger remembers credits, it would otherwise credit again.
    let long_ago = now_ms() / 1000 - 61 * 86_400;
    let mut old_event: serde_json::Value = serde_json::from_str(&body).unwrap();
    old_event["created"] = serde_json::json!(long_ago);
    let old_body = serde_json::to_string_pretty(&old_event).unwrap();
    assert_ne!(live_body, body, "the sample body carries livemode");
    let now = now_ms();
    let base = Msg {
        id: "",
        body: &body,
        subscriber: SUBSCRIBER,
        bundle: &stack.bundle,
        secret: ATTACKER_WHSEC,
        signed_at: now / 1000 - 1,
        received_at_ms: now,
    };
    let mut injected = Msg {
        id: "m-injected-header",
        secret: WHSEC,
        ..base
    }
    .sqs();
    if let Some(a) = injected.message_attributes.get_mut("stripe-signature") {
        let header = a.string_value.clone().unwrap_or_default();
        a.string_value = Some(format!(
            r#"{header}","subscriber":{{"DataType":"String","StringValue":"globex"}}"#
        ));
    }

    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            Msg {
                id: "m-unsigned",
                bundle: &unsigned,
                ..base
            }
            .sqs(),
            Msg {
                id: "m-unsigned-v2",
                bundle: &unsigned_v2,
                ..base
            }
            .sqs(),
            Msg {
                id: "m-unknown-issuer",
                bundle: &unknown_issuer,
                ..base
            }
            .sqs(),
            Msg {
                id: "m-claims-trusted-issuer",
                bundle: &claims_trusted,
                ..base
            }
            .sqs(),
            Msg {
                id: "m-other-subscribers-bundle",
                bundle: &globex,
                ..base
            }
            .sqs(),
            // The subscriber's genuine bundle and secret, but a live event on a test account.
            Msg {
                id: "m-live-event",
                body: &live_body,
                secret: WHSEC,
                ..base
            }
            .sqs(),
            injected,
            Msg {
                id: "m-replayed",
                body: &old_body,
                secret: WHSEC,
                signed_at: long_ago,
                received_at_ms: (long_ago + 1) * 1000,
                ..base
            }
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(
        failed_ids(&r).is_empty(),
        "all dead-lettered, none left to retry: {r:?}"
    );

    assert_eq!(
        dead_letter_reasons(&stack).await,
        pairs(&[
            ("m-unsigned", "unsigned_bundle"),
            ("m-unsigned-v2", "unsigned_bundle"),
            ("m-unknown-issuer", "unknown_issuer"),
            ("m-claims-trusted-issuer", "bad_bundle_signature"),
            ("m-other-subscribers-bundle", "foreign_bundle"),
            ("m-live-event", "event_mode_mismatch"),
            ("m-injected-header", "malformed_envelope"),
            ("m-replayed", "stale_event"),
        ])
    );
    assert!(
        stack.record(SUBSCRIBER, target).await.is_none(),
        "nothing credited"
    );
    // Nor is any subscriber owed a notification: none is written without a credit.
    let owed = payhook::notifications::Notifications::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.config.notifications_table.clone(),
    )
    .list(None, None)
    .await
    .expect("list notifications");
    assert!(owed.is_empty(), "{owed:?}");
    let text = logs.text();
    assert_eq!(
        logs.outcomes()
            .iter()
            .filter(|o| *o == "dead_lettered")
            .count(),
        8,
        "{text}"
    );
    assert_no_secret_in(&text, &stack, &[]);
}

/// A live deployment: a genuine, issuer-signed bundle holding a test key is refused before any
/// Stripe call, and a live key whose PaymentIntent turns out to be test money is refused
/// after the lookup.
#[tokio::test]
async fn a_live_deployment_never_credits_test_money() {
    let stack = Stack::with(Options {
        env: vec![("PAYHOOK_MODE", "live".into())],
        ..Options::default()
    })
    .await;
    let live_key = "sk_live_it_acme";
    // localstripe takes any sk_ key; its PaymentIntents are all livemode false.
    let pi = create_succeeded_intent(&stack.stripe_base, live_key, "order-live-1", 700, "eur")
        .await
        .expect("PaymentIntent on localstripe");
    let body = sample_body("payment_intent.succeeded", &pi);
    let live_event = body.replace("\"livemode\": false", "\"livemode\": true");
    let live_bundle = stack.seal(SUBSCRIBER, &[WHSEC], live_key);

    let (logs, _guard) = Logs::capture();
    let r = stack
        .consumer
        .handle(sqs_event(vec![
            // stack.bundle holds the test key API_KEY.
            good(&stack, "m-test-key", &body).sqs(),
            Msg {
                id: "m-test-intent",
                body: &live_event,
                bundle: &live_bundle,
                ..good(&stack, "", &live_event)
            }
            .sqs(),
            Msg {
                id: "m-test-event",
                body: &body,
                bundle: &live_bundle,
                ..good(&stack, "", &body)
            }
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    assert_eq!(
        dead_letter_reasons(&stack).await,
        pairs(&[
            ("m-test-key", "key_mode_mismatch"),
            ("m-test-intent", "intent_mode_mismatch"),
            ("m-test-event", "event_mode_mismatch"),
        ])
    );
    assert!(stack.record(SUBSCRIBER, "order-live-1").await.is_none());
    assert_no_secret_in(&logs.text(), &stack, &[live_key]);
}

/// The route as template.yaml maps it, spliced the way API Gateway splices a header into the
/// MessageAttributes JSON, sent through moto's SQS and consumed by the local event source
/// mapping. What the route produces for Stripe's own header is credited; every way a crafted
/// header can come out of the splice is refused by name, and credits nothing.
#[tokio::test]
async fn the_routes_own_mapping_is_accepted_and_injected_headers_are_refused() {
    let stack = Stack::new().await;
    let route = RouteMapping::from_repo_template().expect("the template's mapping");
    let queue = emulators::create_queue(&stack.aws, &format!("{}-q", stack.config.payments_table))
        .await
        .expect("queue");
    let pi = stack.intent("order-route-1", 900).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let now = now_ms();
    let header = payhook::inbound::sign_stripe_signature(WHSEC, now / 1000 - 1, body.as_bytes());

    let genuine = route
        .render(SUBSCRIBER, &header, now / 1000, &stack.bundle)
        .expect("Stripe's header splices into JSON");
    send_routed(&stack.aws, &queue, &body, &genuine, SUBSCRIBER)
        .await
        .expect("send");

    // (what the header carries, the reason it ends with)
    let injections = [
        // A second subscriber attribute after the route's own: the last key wins, so the
        // message names globex while carrying acme's bundle.
        (
            format!(r#"{header}"}},"subscriber":{{"DataType":"String","StringValue":"globex"#),
            "foreign_bundle",
        ),
        // An attribute the route never writes.
        (
            format!(r#"{header}"}},"x-extra":{{"DataType":"String","StringValue":"1"#),
            "malformed_envelope",
        ),
        // Characters outside Stripe's alphabet that still leave valid JSON.
        (format!(r#"{header}\u0022"#), "malformed_envelope"),
        (format!("{header} ,v1=00"), "malformed_envelope"),
    ];
    let mut sent = 0;
    for (injected, _) in &injections {
        match route.render(SUBSCRIBER, injected, now / 1000, &stack.bundle) {
            Ok(attrs) => {
                send_routed(&stack.aws, &queue, &body, &attrs, SUBSCRIBER)
                    .await
                    .expect("send");
                sent += 1;
            }
            // Not JSON after the splice: API Gateway cannot send it on.
            Err(e) => assert!(e.to_string().contains("not JSON"), "{e}"),
        }
    }
    assert_eq!(
        sent,
        injections.len(),
        "each injection still splices into JSON"
    );

    // Shapes SQS itself accepts from a sender who bypasses the route: a custom data type, and a
    // name differing only in case (SQS names are case-sensitive, so both reach the consumer).
    let mut custom_type = genuine.clone();
    for a in custom_type
        .iter_mut()
        .filter(|a| a.name == "stripe-signature")
    {
        a.data_type = "String.stripe".into();
    }
    let mut cased_twin = genuine.clone();
    cased_twin.push(RoutedAttribute {
        name: "Subscriber".into(),
        data_type: "String".into(),
        value: "globex".into(),
    });
    for attrs in [&custom_type, &cased_twin] {
        send_routed(&stack.aws, &queue, &body, attrs, SUBSCRIBER)
            .await
            .expect("moto accepts the shape");
    }
    let expected = 1 + injections.len() + 2;

    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let (logs, _guard) = Logs::capture();
    let mut handled = 0;
    for _ in 0..10 {
        let polled = poller::poll_once(&sqs, &queue, &stack.consumer, 1)
            .await
            .expect("poll");
        handled += polled.deleted;
        if handled >= expected {
            break;
        }
    }
    assert_eq!(handled, expected, "every message was handled");
    let record = stack
        .record(SUBSCRIBER, "order-route-1")
        .await
        .expect("credited");
    assert_eq!(record["paid"], 1);
    let mut reasons: Vec<String> = dead_letter_reasons(&stack)
        .await
        .into_iter()
        .map(|(_, reason)| reason)
        .collect();
    reasons.sort();
    let mut want: Vec<&str> = injections.iter().map(|(_, reason)| *reason).collect();
    want.extend(["malformed_envelope", "malformed_envelope"]);
    want.sort();
    assert_eq!(reasons, want, "{}", logs.text());
    let text = logs.text();
    assert!(
        text.contains("x-extra"),
        "the unexpected attribute is named: {text}"
    );
    assert!(
        text.contains("stripe-signature"),
        "the malformed header is named: {text}"
    );
    assert!(
        text.contains("String.stripe"),
        "the wrong data type is named: {text}"
    );
    assert!(
        text.contains("`Subscriber`"),
        "the cased twin is named: {text}"
    );
}
