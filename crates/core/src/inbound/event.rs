//! Stripe event body -> what to do about it.
//!
//! Only the event's id, type and the PaymentIntent it points at are read from the payload;
//! whether money moved is decided later from Stripe's current state of that PaymentIntent,
//! because events arrive late, twice and out of order.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::support::text::describe_json_error;

/// The event types that can mean "a payment succeeded".
pub const CREDIT_TYPES: [&str; 4] = [
    "payment_intent.succeeded",
    "charge.succeeded",
    "checkout.session.completed",
    // A Checkout Session paid by a method that settles later (bank debits) completes first
    // unpaid, and this event follows when the money has arrived.
    "checkout.session.async_payment_succeeded",
];

/// The event types that can mean "money went back, or came back from a failed refund": each
/// makes the consumer read the PaymentIntent's refunds as Stripe lists them now. Stripe sends
/// `charge.refunded` for every refund, full or partial, `refund.created`/`refund.updated` as a
/// refund is made and changes, `refund.failed` when one fails and its money returns, and
/// `charge.refund.updated` to accounts on API versions before `refund.updated` existed (Stripe
/// API reference, "Types of events").
pub const REFUND_TYPES: [&str; 5] = [
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
];

/// The event types of a dispute's life: each makes the consumer read the PaymentIntent's
/// disputes as Stripe lists them now. Stripe sends `charge.dispute.created` when a customer
/// disputes a charge, `funds_withdrawn` and `funds_reinstated` as the balance moves,
/// `updated` and `closed` as its status changes (won, lost); the object is the dispute, with
/// its `payment_intent` (Stripe API reference, "Types of events", "The Dispute object").
pub const DISPUTE_TYPES: [&str; 5] = [
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
];

/// Every event type the consumer acts on: what a subscriber enables on their endpoint, and
/// what the reconcile lists.
pub const HANDLED_TYPES: [&str; 14] = [
    CREDIT_TYPES[0],
    CREDIT_TYPES[1],
    CREDIT_TYPES[2],
    CREDIT_TYPES[3],
    REFUND_TYPES[0],
    REFUND_TYPES[1],
    REFUND_TYPES[2],
    REFUND_TYPES[3],
    REFUND_TYPES[4],
    DISPUTE_TYPES[0],
    DISPUTE_TYPES[1],
    DISPUTE_TYPES[2],
    DISPUTE_TYPES[3],
    DISPUTE_TYPES[4],
];

/// Events older than this are refused (`stale_event`). Every legitimate way an event reaches us
/// is younger: Stripe's retries (3 days), a resend from the dashboard (30 days, Stripe's event
/// retention) then up to 14 days in the DLQ, reconcile (30 days). The ledger remembers every
/// credit for good, so a replay cannot credit twice; this refuses what no legitimate path
/// brings before it costs a Stripe call.
pub const MAX_EVENT_AGE_SECS: i64 = 60 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    /// Stripe's `livemode`: whether the event comes from live or test mode (absent: `None`).
    pub livemode: Option<bool>,
    /// When Stripe created the event, epoch seconds.
    pub created: Option<i64>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Look this PaymentIntent up and credit it if it succeeded.
    LookUp { intent_id: String },
    /// Read this PaymentIntent's refunds and record each movement not yet recorded.
    Refunds { intent_id: String },
    /// Read this PaymentIntent's disputes and record each movement not yet recorded.
    Disputes { intent_id: String },
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

// Borrowed from the body and skipping everything else: the body is 3-6 KB, of which we read three
// fields, and building a `serde_json::Value` of it cost more than the HMAC over it.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(default)]
    livemode: Option<bool>,
    #[serde(default)]
    created: Option<i64>,
    #[serde(borrow)]
    data: RawData<'a>,
}

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    object: RawObject<'a>,
}

/// The fields we may read, kept unparsed: an event type we ignore must not fail on their shape.
#[derive(Deserialize)]
struct RawObject<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
    #[serde(default, borrow)]
    payment_intent: Option<&'a RawValue>,
}

/// An expanded object in place of an id.
#[derive(Deserialize)]
struct Expanded<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
}

/// The field's value if it is a JSON string (absent and `null` are `None`).
fn string(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?;
    if !raw.get().starts_with('"') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

fn expanded_id(raw: &RawValue) -> Option<String> {
    if !raw.get().starts_with('{') {
        return None;
    }
    string(serde_json::from_str::<Expanded>(raw.get()).ok()?.id)
}

/// The `id` a body claims, read without trusting it (for a refused message's notice only):
/// an event id's alphabet and length, or nothing.
pub fn claimed_id(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Claimed<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
    }
    let id = serde_json::from_str::<Claimed<'_>>(body).ok()?.id;
    (id.starts_with("evt_")
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    .then(|| id.into_owned())
}

pub fn parse(body: &str) -> Result<StripeEvent, EventError> {
    let raw: RawEvent =
        serde_json::from_str(body).map_err(|e| EventError::NotAnEvent(describe_json_error(&e)))?;
    if !raw.id.starts_with("evt_") || raw.id.len() > 255 {
        return Err(EventError::NotAnEvent("id is not an evt_ id".into()));
    }
    let bad = |why| EventError::BadObject {
        event_id: raw.id.to_string(),
        event_type: raw.event_type.to_string(),
        why,
    };
    let object = &raw.data.object;
    let action = match &*raw.event_type {
        "payment_intent.succeeded" => {
            if string(object.object).as_deref() != Some("payment_intent") {
                return Err(bad("a data.object that is not a payment_intent"));
            }
            match string(object.id) {
                Some(id) => Action::LookUp {
                    intent_id: checked_intent_id(id)
                        .ok_or_else(|| bad("a malformed PaymentIntent id"))?,
                },
                None => return Err(bad("no data.object.id")),
            }
        }
        "charge.succeeded"
        | "checkout.session.completed"
        | "checkout.session.async_payment_succeeded" => match object.payment_intent {
            // e.g. a subscription-mode Checkout Session, or a charge made without one: nothing
            // we credit.
            None => Action::Ignore {
                why: "no PaymentIntent on the object",
            },
            // Webhooks send ids unexpanded, but an expanded object is read the same way.
            Some(pi) => match string(Some(pi)).or_else(|| expanded_id(pi)) {
                Some(id) => Action::LookUp {
                    intent_id: checked_intent_id(id)
                        .ok_or_else(|| bad("a malformed PaymentIntent id"))?,
                },
                None => return Err(bad("a payment_intent that is neither an id nor an object")),
            },
        },
        kind if REFUND_TYPES.contains(&kind) || DISPUTE_TYPES.contains(&kind) => {
            let expected = if kind == "charge.refunded" {
                "charge"
            } else if DISPUTE_TYPES.contains(&kind) {
                "dispute"
            } else {
                "refund"
            };
            if string(object.object).as_deref() != Some(expected) {
                return Err(bad("a data.object of another kind than the event type's"));
            }
            match object.payment_intent {
                // A refund of a charge made without a PaymentIntent: nothing we credited.
                None => Action::Ignore {
                    why: "no PaymentIntent on the object",
                },
                Some(pi) => match string(Some(pi)).or_else(|| expanded_id(pi)) {
                    Some(id) => {
                        let intent_id = checked_intent_id(id)
                            .ok_or_else(|| bad("a malformed PaymentIntent id"))?;
                        if expected == "dispute" {
                            Action::Disputes { intent_id }
                        } else {
                            Action::Refunds { intent_id }
                        }
                    }
                    None => {
                        return Err(bad("a payment_intent that is neither an id nor an object"));
                    }
                },
            }
        }
        _ => Action::Ignore {
            why: "event type not handled",
        },
    };
    Ok(StripeEvent {
        id: raw.id.into_owned(),
        event_type: raw.event_type.into_owned(),
        livemode: raw.livemode,
        created: raw.created,
        action,
    })
}

/// The id goes into a Stripe API path: only `pi_` followed by plain characters may pass.
pub fn checked_intent_id(id: String) -> Option<String> {
    let rest = id.strip_prefix("pi_")?;
    let plain = !rest.is_empty()
        && id.len() <= 255
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_id_is_read_only_if_it_looks_like_an_event_id() {
        assert_eq!(
            claimed_id(r#"{"id":"evt_1Abc","type":"x"}"#).as_deref(),
            Some("evt_1Abc")
        );
        for body in [
            r#"{"id":"cus_1"}"#,
            r#"{"id":"evt_\"quoted\""}"#,
            r#"{"id":"evt_ space"}"#,
            r#"{"id":7}"#,
            "not json",
        ] {
            assert_eq!(claimed_id(body), None, "{body}");
        }
        assert_eq!(
            claimed_id(&format!(r#"{{"id":"evt_{}"}}"#, "a".repeat(300))),
            None
        );
    }

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
    fn escaped_strings_are_read_as_json_strings() {
        let e = parse(&event(
            "payment_intent.succeeded",
            r#"{"id":"pi_\u0031x","object":"payment\u005fintent"}"#,
        ))
        .unwrap();
        assert_eq!(
            e.action,
            Action::LookUp {
                intent_id: "pi_1x".into()
            }
        );
    }

    #[test]
    fn only_top_level_fields_of_the_object_are_read() {
        // A nested object's "id"/"payment_intent" must not stand in for the object's own.
        let e = parse(&event(
            "charge.succeeded",
            r#"{"id":"ch_1","refunds":{"data":[{"payment_intent":"pi_nested"}]},"payment_intent":"pi_own","metadata":{"id":"pi_meta"}}"#,
        ))
        .unwrap();
        assert_eq!(
            e.action,
            Action::LookUp {
                intent_id: "pi_own".into()
            }
        );
        assert!(matches!(
            parse(&event(
                "payment_intent.succeeded",
                r#"{"object":"payment_intent","metadata":{"id":"pi_1"}}"#
            )),
            Err(EventError::BadObject {
                why: "no data.object.id",
                ..
            })
        ));
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
            // Unread shapes of an ignored type do not matter.
            (
                "customer.created",
                r#"{"id":5,"object":[1],"payment_intent":{"id":false}}"#,
            ),
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
            r#"{"id":"evt_1","type":"customer.created","data":{"object":"cus_1"}}"#,
            r#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{"payment_intent":"pi_1","payment_intent":"pi_2"}}}"#,
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
        for object in [
            r#"{"payment_intent":42}"#,
            r#"{"payment_intent":{"id":42}}"#,
            r#"{"payment_intent":{"object":"payment_intent"}}"#,
        ] {
            assert!(
                matches!(
                    parse(&event("charge.succeeded", object)),
                    Err(EventError::BadObject { .. })
                ),
                "{object}"
            );
        }
    }
}
