//! Stripe event body -> what to do about it.
//!
//! Only the event's id, type and the PaymentIntent it points at are read from the payload;
//! whether money moved is decided later from Stripe's current state of that PaymentIntent,
//! because events arrive late, twice and out of order.

use serde::Deserialize;
use serde_json::Value;

use crate::sealed::describe_json_error;

/// The event types that can mean "a payment succeeded".
pub const HANDLED_TYPES: [&str; 3] = [
    "payment_intent.succeeded",
    "charge.succeeded",
    "checkout.session.completed",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Look this PaymentIntent up and credit it if it succeeded.
    LookUp { intent_id: String },
    /// Acknowledge without effect.
    Ignore { why: &'static str },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("body is not a Stripe event ({0})")]
    NotAnEvent(String),
    #[error("{event_type} event {event_id} has {why}")]
    BadObject {
        event_id: String,
        event_type: String,
        why: &'static str,
    },
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: Value,
}

pub fn parse(body: &str) -> Result<StripeEvent, EventError> {
    let raw: RawEvent =
        serde_json::from_str(body).map_err(|e| EventError::NotAnEvent(describe_json_error(&e)))?;
    if !raw.id.starts_with("evt_") || raw.id.len() > 255 {
        return Err(EventError::NotAnEvent("id is not an evt_ id".into()));
    }
    let bad = |why| EventError::BadObject {
        event_id: raw.id.clone(),
        event_type: raw.event_type.clone(),
        why,
    };
    let object = &raw.data.object;
    let action = match raw.event_type.as_str() {
        "payment_intent.succeeded" => {
            if object.get("object").and_then(Value::as_str) != Some("payment_intent") {
                return Err(bad("a data.object that is not a payment_intent"));
            }
            match object.get("id").and_then(Value::as_str) {
                Some(id) => Action::LookUp {
                    intent_id: checked_intent_id(id)
                        .ok_or_else(|| bad("a malformed PaymentIntent id"))?,
                },
                None => return Err(bad("no data.object.id")),
            }
        }
        "charge.succeeded" | "checkout.session.completed" => {
            // Webhooks send ids unexpanded, but an expanded object is read the same way.
            let pi = object.get("payment_intent");
            let id = pi
                .and_then(Value::as_str)
                .or_else(|| pi.and_then(|p| p.get("id")).and_then(Value::as_str));
            match (pi, id) {
                (None | Some(Value::Null), _) => Action::Ignore {
                    // e.g. a subscription-mode Checkout Session, or a charge made without one:
                    // nothing we credit.
                    why: "no PaymentIntent on the object",
                },
                (Some(_), Some(id)) => Action::LookUp {
                    intent_id: checked_intent_id(id)
                        .ok_or_else(|| bad("a malformed PaymentIntent id"))?,
                },
                (Some(_), None) => {
                    return Err(bad("a payment_intent that is neither an id nor an object"));
                }
            }
        }
        _ => Action::Ignore {
            why: "event type not handled",
        },
    };
    Ok(StripeEvent {
        id: raw.id,
        event_type: raw.event_type,
        action,
    })
}

/// The id goes into a Stripe API path: only `pi_` followed by plain characters may pass.
fn checked_intent_id(id: &str) -> Option<String> {
    let rest = id.strip_prefix("pi_")?;
    (!rest.is_empty()
        && id.len() <= 255
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    .then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, object: &str) -> String {
        format!(r#"{{"id":"evt_1","object":"event","type":"{kind}","data":{{"object":{object}}}}}"#)
    }

    #[test]
    fn each_handled_type_yields_its_payment_intent() {
        for (kind, object) in [
            (
                "payment_intent.succeeded",
                r#"{"id":"pi_123","object":"payment_intent"}"#,
            ),
            (
                "charge.succeeded",
                r#"{"id":"ch_1","object":"charge","payment_intent":"pi_123"}"#,
            ),
            (
                "checkout.session.completed",
                r#"{"id":"cs_1","object":"checkout.session","payment_intent":"pi_123"}"#,
            ),
            (
                "charge.succeeded",
                r#"{"id":"ch_1","payment_intent":{"id":"pi_123","object":"payment_intent"}}"#,
            ),
        ] {
            let e = parse(&event(kind, object)).unwrap();
            assert_eq!(e.id, "evt_1");
            assert_eq!(e.event_type, kind);
            assert_eq!(
                e.action,
                Action::LookUp {
                    intent_id: "pi_123".into()
                },
                "{kind}"
            );
        }
    }

    #[test]
    fn other_types_and_intentless_objects_are_ignored() {
        for (kind, object) in [
            ("customer.created", r#"{"id":"cus_1"}"#),
            (
                "payment_intent.payment_failed",
                r#"{"id":"pi_1","object":"payment_intent"}"#,
            ),
            (
                "checkout.session.completed",
                r#"{"id":"cs_1","payment_intent":null}"#,
            ),
            ("charge.succeeded", r#"{"id":"ch_1"}"#),
        ] {
            assert!(
                matches!(
                    parse(&event(kind, object)).unwrap().action,
                    Action::Ignore { .. }
                ),
                "{kind} {object}"
            );
        }
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"id":"evt_1","type":"charge.succeeded"}"#,
            r#"{"id":"x_1","type":"charge.succeeded","data":{"object":{}}}"#,
            r#"{"id":7,"type":"charge.succeeded","data":{"object":{}}}"#,
        ] {
            assert!(
                matches!(parse(body), Err(EventError::NotAnEvent(_))),
                "{body:?}"
            );
        }
        for object in [
            r#"{"id":"pi_1","object":"charge"}"#,
            r#"{"object":"payment_intent"}"#,
            r#"{"id":"pi_../../customers","object":"payment_intent"}"#,
            r#"{"id":"ch_1","object":"payment_intent"}"#,
        ] {
            assert!(
                matches!(
                    parse(&event("payment_intent.succeeded", object)),
                    Err(EventError::BadObject { .. })
                ),
                "{object}"
            );
        }
        assert!(matches!(
            parse(&event("charge.succeeded", r#"{"payment_intent":42}"#)),
            Err(EventError::BadObject { .. })
        ));
    }
}
