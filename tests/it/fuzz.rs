//! Bounded property-based fuzzing of everything that parses outside input: whatever arrives,
//! each parser returns a value or a typed error; it never panics, and it never accepts more
//! than its caps. Cases per property: PROPTEST_CASES (default here 512; CI keeps the default).

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use base64::Engine;
use payhook::inbound::{Delivery, SignatureHeader};
use payhook::secrets::{BundlePlaintext, KeySet};
use payhook_testkit::keys::TestKeys;
use proptest::prelude::*;
use secrecy::SecretString;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(512);
    ProptestConfig::with_cases(cases)
}

static KEYS: std::sync::LazyLock<TestKeys> = std::sync::LazyLock::new(|| TestKeys::new("fz"));

fn keyset() -> (KeySet, [u8; 32]) {
    (KEYS.key_set(), KEYS.public)
}

const NOW_MS: i64 = 1_764_000_000_000;

/// Strings that look a little like what arrives, and a lot like what should not.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        "[tv01=,a-f0-9 ]{0,200}",
        "[A-Za-z0-9_.+/=-]{0,300}",
        proptest::collection::vec(any::<char>(), 0..100).prop_map(|v| v.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn envelope_never_panics(
        body in proptest::option::of(text()),
        attrs in proptest::collection::vec((prop_oneof![
            Just(payhook::inbound::ATTR_SUBSCRIBER.to_string()),
            Just(payhook::inbound::ATTR_SIGNATURE.to_string()),
            Just(payhook::inbound::ATTR_RECEIVED_AT.to_string()),
            Just(payhook::inbound::ATTR_SEALED_BUNDLE.to_string()),
            text(),
        ], proptest::option::of(text()), prop_oneof![Just("String".to_string()), Just("Number".to_string()), text()]), 0..6),
    ) {
        let mut m = SqsMessage::default();
        m.body = body;
        for (name, value, data_type) in attrs {
            let mut a = SqsMessageAttribute::default();
            a.string_value = value;
            a.data_type = Some(data_type);
            m.message_attributes.insert(name, a);
        }
        if let Ok(d) = Delivery::from_sqs("m", &m, NOW_MS) {
            prop_assert!(d.body.len() <= payhook::inbound::MAX_BODY_BYTES);
            prop_assert!(payhook::ids::is_valid_subscriber(d.subscriber));
            prop_assert!(d.received_at_ms >= 1_000_000_000_000);
            prop_assert!(d.received_at_ms <= NOW_MS + payhook::inbound::MAX_CLOCK_SKEW_MS);
            prop_assert!(d.signature_header.bytes().all(|b| b"0123456789abcdeftv=,".contains(&b)));
            for name in m.message_attributes.keys() {
                prop_assert!(payhook::inbound::KNOWN_ATTRIBUTES.iter().any(|(known, _)| known == name));
            }
        }
    }

    #[test]
    fn signature_parser_and_verifier_never_panic(header in text(), body in text(), now in any::<i64>()) {
        let _ = SignatureHeader::parse(&header);
        let _ = payhook::inbound::verify_stripe_signature(&header, body.as_bytes(), &[SecretString::from("whsec_x")], now, 300);
    }

    #[test]
    fn a_signature_verifies_only_for_its_own_body(body in text(), other in text(), t in 1_000_000_000i64..3_000_000_000) {
        let header = payhook::inbound::sign_stripe_signature("whsec_fuzz", t, body.as_bytes());
        let secrets = [SecretString::from("whsec_fuzz")];
        prop_assert_eq!(payhook::inbound::verify_stripe_signature(&header, body.as_bytes(), &secrets, t, 300), Ok(t));
        if other != body {
            prop_assert!(payhook::inbound::verify_stripe_signature(&header, other.as_bytes(), &secrets, t, 300).is_err());
        }
    }

    #[test]
    fn bundle_opener_never_panics_on_wire_text(wire in text()) {
        let (keys, _) = keyset();
        let _ = keys.open(&wire);
    }

    #[test]
    fn bundle_opener_never_panics_on_ciphertext(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (keys, _) = keyset();
        let wire = format!("fz.{}", base64::engine::general_purpose::STANDARD.encode(&bytes));
        prop_assert!(keys.open(&wire).is_err(), "random bytes never open");
    }

    #[test]
    fn bundle_opener_never_panics_on_sealed_plaintext(plaintext in text()) {
        let (keys, public) = keyset();
        let wire = payhook::secrets::seal_raw(&public, "fz", plaintext.as_bytes()).unwrap();
        prop_assert!(keys.open(&wire).is_err(), "an unsigned plaintext never opens");
    }

    #[test]
    fn bundle_opener_never_panics_on_signed_payloads(payload in text()) {
        let (keys, public) = keyset();
        let signed = KEYS.issuer.sign(payload.as_bytes()).unwrap();
        let _ = keys.open(&payhook::secrets::seal_raw(&public, "fz", &signed).unwrap());
    }

    #[test]
    fn sealed_bundles_round_trip(subscriber in "[A-Za-z0-9_-]{1,64}", secrets in proptest::collection::vec("whsec_[A-Za-z0-9]{1,40}", 1..4), key in "sk_test_[A-Za-z0-9]{1,60}") {
        let (keys, public) = keyset();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let wire = payhook::secrets::seal(&public, "fz", &KEYS.issuer, &BundlePlaintext { subscriber: &subscriber, webhook_secrets: &refs, stripe_api_key: &key, notify: None }).unwrap();
        let b = keys.open(&wire).unwrap();
        prop_assert_eq!(b.subscriber, subscriber);
        prop_assert_eq!(b.webhook_secrets.len(), secrets.len());
    }

    #[test]
    fn event_parser_never_panics(body in text()) {
        let _ = payhook::inbound::parse_event(&body);
    }

    #[test]
    fn event_parser_never_panics_on_json_shapes(
        id in text(), kind in prop_oneof![Just("payment_intent.succeeded".to_string()), Just("charge.succeeded".to_string()), Just("checkout.session.completed".to_string()), Just("charge.refunded".to_string()), Just("refund.failed".to_string()), text()],
        object in prop_oneof![Just(serde_json::Value::Null), text().prop_map(serde_json::Value::String), any::<i64>().prop_map(serde_json::Value::from)],
        pi in prop_oneof![Just(serde_json::Value::Null), text().prop_map(serde_json::Value::String), any::<bool>().prop_map(serde_json::Value::Bool)],
    ) {
        let kind_of_object = match kind.as_str() {
            "charge.refunded" => "charge",
            "refund.failed" => "refund",
            _ => "payment_intent",
        };
        let body = serde_json::json!({"id": format!("evt_{id}"), "type": kind, "data": {"object": {"id": object, "object": kind_of_object, "payment_intent": pi}}});
        if let Ok(e) = payhook::inbound::parse_event(&body.to_string())
            && let payhook::inbound::Action::LookUp { intent_id } | payhook::inbound::Action::Refunds { intent_id } = e.action
        {
            prop_assert!(intent_id.starts_with("pi_"));
            prop_assert!(intent_id[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        }
    }

    /// The borrowing parser against the straightforward reading of the same body through a
    /// `serde_json::Value` (how it was written before): same action for every shape.
    #[test]
    fn event_parser_agrees_with_a_value_reading(
        kind in prop_oneof![Just("payment_intent.succeeded"), Just("charge.succeeded"), Just("checkout.session.completed"), Just("customer.created")],
        id in proptest::option::of(json_shape()),
        object in proptest::option::of(prop_oneof![Just(serde_json::json!("payment_intent")), Just(serde_json::json!("charge")), json_shape()]),
        pi in proptest::option::of(prop_oneof![json_shape(), json_shape().prop_map(|id| serde_json::json!({"id": id, "object": "payment_intent"}))]),
    ) {
        let mut fields = serde_json::Map::new();
        for (name, value) in [("id", id), ("object", object), ("payment_intent", pi)] {
            if let Some(v) = value {
                fields.insert(name.into(), v);
            }
        }
        fields.insert("metadata".into(), serde_json::json!({"id": "pi_metadata", "payment_intent": "pi_nested"}));
        let object = serde_json::Value::Object(fields);
        let body = serde_json::json!({"id": "evt_1", "type": kind, "data": {"object": object}});
        let got = match payhook::inbound::parse_event(&body.to_string()) {
            Ok(e) => match e.action {
                payhook::inbound::Action::LookUp { intent_id } => Ok(Some(intent_id)),
                payhook::inbound::Action::Ignore { .. } => Ok(None),
                // No refund or dispute type is drawn here.
                payhook::inbound::Action::Refunds { intent_id } => Ok(Some(format!("refunds of {intent_id}"))),
                payhook::inbound::Action::Disputes { intent_id } => Ok(Some(format!("disputes of {intent_id}"))),
            },
            Err(_) => Err(()),
        };
        prop_assert_eq!(got, value_reading(kind, &object), "{}", body);
    }
}

/// JSON values an id field might hold, well-formed or not.
fn json_shape() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        "pi_[A-Za-z0-9_]{1,24}".prop_map(serde_json::Value::from),
        "(pi|ch|cs)_[ -~]{0,12}".prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
    ]
}

/// Ok(Some(id)): look it up; Ok(None): ignore; Err: a bad object.
fn value_reading(kind: &str, object: &serde_json::Value) -> Result<Option<String>, ()> {
    use serde_json::Value;
    match kind {
        "payment_intent.succeeded" => {
            if object.get("object").and_then(Value::as_str) != Some("payment_intent") {
                return Err(());
            }
            let id = object.get("id").and_then(Value::as_str).ok_or(())?;
            payhook::inbound::checked_intent_id(id.to_string())
                .map(Some)
                .ok_or(())
        }
        "charge.succeeded" | "checkout.session.completed" => match object.get("payment_intent") {
            None | Some(Value::Null) => Ok(None),
            Some(pi) => {
                let id = pi
                    .as_str()
                    .or_else(|| pi.get("id").and_then(Value::as_str))
                    .ok_or(())?;
                payhook::inbound::checked_intent_id(id.to_string())
                    .map(Some)
                    .ok_or(())
            }
        },
        _ => Ok(None),
    }
}
