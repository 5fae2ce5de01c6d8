//! The ready-to-invoke events in events/sqs/ (made by scripts/make-sample-events.sh with
//! `payhook event`) must be what they say: sealed to the demo key set, signed with the demo
//! subscriber's secret (the forged one not), and of the event type their name gives.

use aws_lambda_events::event::sqs::SqsEvent;
use payhook::inbound::{self, Action, Delivery, SignatureError};
use payhook::secrets::KeySet;
use payhook_testkit::repo_path;

fn read(path: &str) -> String {
    let full = repo_path(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

fn check(name: &str) -> (Result<i64, SignatureError>, payhook::inbound::StripeEvent) {
    let keys = KeySet::from_json(&read("events/demo-keyset.json")).expect("demo key set");
    let sqs: SqsEvent = serde_json::from_str(&read(&format!("events/sqs/{name}.json")))
        .unwrap_or_else(|e| panic!("{name}: not an SQS event: {e}"));
    assert_eq!(sqs.records.len(), 1, "{name}");
    let msg = &sqs.records[0];
    let id = msg.message_id.as_deref().expect("message id");
    let delivery = Delivery::from_sqs(id, msg, payhook::support::clock::now_ms())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let bundle = keys
        .open(delivery.sealed_bundle)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    bundle
        .ensure_subscriber(delivery.subscriber)
        .expect("bundle is the subscriber's");
    let verified = payhook::inbound::verify_stripe_signature(
        delivery.signature_header,
        delivery.body.as_bytes(),
        &bundle.webhook_secrets,
        delivery.received_at_secs(),
        inbound::DEFAULT_TOLERANCE_SECS,
    );
    let parsed =
        payhook::inbound::parse_event(delivery.body).unwrap_or_else(|e| panic!("{name}: {e}"));
    (verified, parsed)
}

#[test]
fn each_supported_type_verifies_and_names_its_payment_intent() {
    for (name, event_type) in [
        ("payment_intent.succeeded", "payment_intent.succeeded"),
        ("charge.succeeded", "charge.succeeded"),
        ("checkout.session.completed", "checkout.session.completed"),
        ("duplicate", "payment_intent.succeeded"),
    ] {
        let (verified, parsed) = check(name);
        assert!(verified.is_ok(), "{name}: {verified:?}");
        assert_eq!(parsed.event_type, event_type);
        assert!(matches!(parsed.action, Action::LookUp { .. }), "{name}");
    }
}

#[test]
fn the_ignored_sample_verifies_and_is_ignored() {
    let (verified, parsed) = check("ignored");
    assert!(verified.is_ok(), "{verified:?}");
    assert!(matches!(parsed.action, Action::Ignore { .. }));
}

#[test]
fn the_forged_sample_does_not_verify() {
    let (verified, _) = check("forged");
    assert_eq!(verified, Err(SignatureError::Mismatch));
}
