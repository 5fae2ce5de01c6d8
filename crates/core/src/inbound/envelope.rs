//! SQS record -> [`Delivery`]: one webhook request as API Gateway queued it.
//!
//! The message body is the raw Stripe request body, byte for byte (the HMAC is computed over it);
//! everything else rides in message attributes, named in [`super::attributes`]. The SAM template
//! maps the same names, and a test keeps the two from drifting apart.

use aws_lambda_events::event::sqs::SqsMessage;

use super::attributes::{
    ATTR_RECEIVED_AT, ATTR_SEALED_BUNDLE, ATTR_SIGNATURE, ATTR_SUBSCRIBER, known_attribute,
};
use crate::ids;

/// The largest SQS message (1 MiB, the queues' `MaximumMessageSize` in the template; SQS's
/// default is 256 KiB): anything bigger did not come through our ingress.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// An SQS String attribute set by API Gateway is at most 8 KB in practice (the template keeps it so).
pub const MAX_ATTRIBUTE_BYTES: usize = 8 * 1024;
/// Stripe sends `t=` and one `v1=` (64 hex) per active signing secret, sometimes a `v0=`: a
/// few hundred characters. Anything far longer was not written by Stripe.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 1024;
/// How far in the future a receive time may be (clock differences between API Gateway's
/// hosts and ours); beyond it, the time was not written by API Gateway.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// One webhook delivery, borrowed from the SQS record it came in.
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    pub message_id: &'a str,
    /// The raw request body. Never re-encode it: the signature covers these exact bytes.
    pub body: &'a str,
    pub signature_header: &'a str,
    pub subscriber: &'a str,
    pub received_at_ms: i64,
    pub sealed_bundle: &'a str,
}

/// Prints sizes, not contents: the body is customer data and has no place in a log.
impl std::fmt::Debug for Delivery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message_id", &self.message_id)
            .field("subscriber", &self.subscriber)
            .field("received_at_ms", &self.received_at_ms)
            .field("body_bytes", &self.body.len())
            .field("sealed_bundle_bytes", &self.sealed_bundle.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("message has no body")]
    MissingBody,
    #[error("message body is {len} bytes, more than the {max} allowed")]
    BodyTooLarge { len: usize, max: usize },
    #[error("message attribute `{0}` is missing")]
    MissingAttribute(&'static str),
    #[error("message attribute `{attribute}` is malformed: {why}")]
    MalformedAttribute {
        attribute: &'static str,
        why: &'static str,
    },
    #[error("message attribute `{0}` is not one API Gateway's route or the consumer writes")]
    UnexpectedAttribute(String),
    #[error("message attribute `{attribute}` has data type {found:?}, the route writes {expected}")]
    WrongDataType {
        attribute: &'static str,
        found: String,
        expected: &'static str,
    },
}

impl<'a> Delivery<'a> {
    /// Reads a delivery out of an SQS record, refusing every shape API Gateway's route cannot
    /// produce. `message_id` is passed in because the batch layer has already insisted on it
    /// (it is what a failure is reported by); `now_ms` bounds the receive time.
    pub fn from_sqs(
        message_id: &'a str,
        msg: &'a SqsMessage,
        now_ms: i64,
    ) -> Result<Self, EnvelopeError> {
        let body = msg.body.as_deref().ok_or(EnvelopeError::MissingBody)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(EnvelopeError::BodyTooLarge {
                len: body.len(),
                max: MAX_BODY_BYTES,
            });
        }
        check_attribute_shapes(msg)?;
        let attr = |name: &'static str| -> Result<&'a str, EnvelopeError> {
            let value = msg
                .message_attributes
                .get(name)
                .and_then(|a| a.string_value.as_deref())
                .ok_or(EnvelopeError::MissingAttribute(name))?;
            if value.is_empty() {
                return Err(EnvelopeError::MissingAttribute(name));
            }
            if value.len() > MAX_ATTRIBUTE_BYTES {
                return Err(EnvelopeError::MalformedAttribute {
                    attribute: name,
                    why: "longer than 8 KB",
                });
            }
            Ok(value)
        };

        let subscriber = attr(ATTR_SUBSCRIBER)?;
        if !ids::is_valid_subscriber(subscriber) {
            return Err(EnvelopeError::MalformedAttribute {
                attribute: ATTR_SUBSCRIBER,
                why: "must be 1-64 characters of A-Z a-z 0-9 _ -",
            });
        }
        let signature_header = attr(ATTR_SIGNATURE)?;
        check_signature_header(signature_header)?;
        let received_at_ms = parse_received_at(attr(ATTR_RECEIVED_AT)?, now_ms)?;
        let sealed_bundle = attr(ATTR_SEALED_BUNDLE)?;

        Ok(Delivery {
            message_id,
            body,
            signature_header,
            subscriber,
            received_at_ms,
            sealed_bundle,
        })
    }

    /// The receive time in whole seconds, the unit of Stripe's `t=`.
    pub fn received_at_secs(&self) -> i64 {
        self.received_at_ms.div_euclid(1000)
    }
}

/// Names and data types: only what the route or the consumer writes, and never a binary value.
fn check_attribute_shapes(msg: &SqsMessage) -> Result<(), EnvelopeError> {
    for (name, value) in &msg.message_attributes {
        let Some((attribute, expected)) = known_attribute(name) else {
            // SQS limits names to 256 characters of A-Z a-z 0-9 _ - .; keep the error short.
            return Err(EnvelopeError::UnexpectedAttribute(
                name.chars().take(64).collect(),
            ));
        };
        let found = value.data_type.as_deref().unwrap_or_default();
        if found != expected || value.binary_value.is_some() {
            return Err(EnvelopeError::WrongDataType {
                attribute,
                found: found.chars().take(64).collect(),
                expected,
            });
        }
    }
    Ok(())
}

/// Stripe's alphabet: `t=`, `v0=`, `v1=`, decimal digits, lowercase hex, commas. Checked before
/// anything else reads the header, so a crafted value (quotes, braces, another attribute's
/// JSON) is refused as malformed however it got in.
fn check_signature_header(header: &str) -> Result<(), EnvelopeError> {
    let malformed = |why| EnvelopeError::MalformedAttribute {
        attribute: ATTR_SIGNATURE,
        why,
    };
    if header.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(malformed("longer than 1024 characters"));
    }
    if !header
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b't' | b'v' | b'=' | b','))
    {
        return Err(malformed(
            "has characters outside Stripe's (t= v0= v1= digits, lowercase hex, commas)",
        ));
    }
    Ok(())
}

/// Below this a receive time is epoch seconds (until the year 5138), at or above it epoch
/// milliseconds (from 1973): the two units cannot be confused for any time API Gateway writes.
pub const SECONDS_BELOW: i64 = 100_000_000_000;

/// The receive time in epoch milliseconds, whichever unit the route wrote. AWS documents
/// `$context.requestTimeEpoch` in milliseconds for REST APIs and gives no unit for HTTP APIs,
/// whose mapping writes seconds by every account found (README: AWS behaviours relied on).
pub fn parse_received_at(raw: &str, now_ms: i64) -> Result<i64, EnvelopeError> {
    let malformed = |why| EnvelopeError::MalformedAttribute {
        attribute: ATTR_RECEIVED_AT,
        why,
    };
    let value: i64 = raw
        .trim()
        .parse()
        .map_err(|_| malformed("not a whole number of epoch seconds or milliseconds"))?;
    // 2001-09-09 .. 5138 in seconds, 2001-09-09 .. 2286-11-20 in milliseconds.
    let ms = match value {
        1_000_000_000..SECONDS_BELOW => value * 1000,
        1_000_000_000_000..10_000_000_000_000 => value,
        _ => {
            return Err(malformed(
                "not epoch seconds or milliseconds (out of range)",
            ));
        }
    };
    if ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(malformed("more than 5 minutes in the future"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::*;
    use aws_lambda_events::event::sqs::SqsMessageAttribute;

    const NOW_MS: i64 = 1_764_000_001_000;

    /// An attribute with the data type the route gives `name`.
    fn attr_for(name: &str, v: &str) -> SqsMessageAttribute {
        typed(known_attribute(name).map_or("String", |(_, t)| t), v)
    }

    fn typed(data_type: &str, v: &str) -> SqsMessageAttribute {
        let mut a = SqsMessageAttribute::default();
        a.string_value = Some(v.to_string());
        a.data_type = Some(data_type.to_string());
        a
    }

    fn from_sqs(m: &SqsMessage) -> Result<Delivery<'_>, EnvelopeError> {
        Delivery::from_sqs("m-1", m, NOW_MS)
    }

    fn message() -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some("m-1".into());
        m.body = Some("{\"id\":\"evt_1\"}".into());
        for (k, v) in [
            (ATTR_SUBSCRIBER, "acme"),
            (ATTR_SIGNATURE, "t=1,v1=00"),
            (ATTR_RECEIVED_AT, "1764000000123"),
            (ATTR_SEALED_BUNDLE, "k1.AAAA"),
        ] {
            m.message_attributes.insert(k.to_string(), attr_for(k, v));
        }
        m
    }

    #[test]
    fn reads_every_field() {
        let m = message();
        let d = from_sqs(&m).unwrap();
        assert_eq!(d.body, "{\"id\":\"evt_1\"}");
        assert_eq!(d.subscriber, "acme");
        assert_eq!(d.signature_header, "t=1,v1=00");
        assert_eq!(d.received_at_ms, 1_764_000_000_123);
        assert_eq!(d.received_at_secs(), 1_764_000_000);
        assert_eq!(d.sealed_bundle, "k1.AAAA");
    }

    #[test]
    fn each_missing_attribute_is_named() {
        for name in [
            ATTR_SUBSCRIBER,
            ATTR_SIGNATURE,
            ATTR_RECEIVED_AT,
            ATTR_SEALED_BUNDLE,
        ] {
            let mut m = message();
            m.message_attributes.remove(name);
            assert_eq!(
                from_sqs(&m).unwrap_err(),
                EnvelopeError::MissingAttribute(name)
            );
            m.message_attributes
                .insert(name.to_string(), attr_for(name, ""));
            assert_eq!(
                from_sqs(&m).unwrap_err(),
                EnvelopeError::MissingAttribute(name)
            );
        }
    }

    #[test]
    fn received_at_is_read_in_seconds_or_milliseconds_by_magnitude() {
        // An HTTP API writes seconds, a REST API (and our tools) milliseconds: one instant.
        for (raw, ms) in [
            ("1764000000", 1_764_000_000_000),
            ("1764000000123", 1_764_000_000_123),
            (" 1764000000 ", 1_764_000_000_000),
            ("1000000000", 1_000_000_000_000),
            ("99999999999", 99_999_999_999_000),
            ("1000000000000", 1_000_000_000_000),
        ] {
            assert_eq!(parse_received_at(raw, i64::MAX - 1), Ok(ms), "{raw:?}");
        }
    }

    #[test]
    fn received_at_outside_both_units_is_refused() {
        // Between the ranges (1e11..1e12) neither unit names a time API Gateway could write.
        for bad in [
            "soon",
            "-5",
            "1.5e12",
            "",
            "999999999",
            "100000000000",
            "999999999999",
            "10000000000000",
            "1764000000.5",
        ] {
            let mut m = message();
            m.message_attributes
                .insert(ATTR_RECEIVED_AT.into(), attr_for(ATTR_RECEIVED_AT, bad));
            let err = from_sqs(&m).unwrap_err();
            assert!(
                err.to_string().contains(ATTR_RECEIVED_AT),
                "{bad:?} gave {err}"
            );
        }
    }

    #[test]
    fn subscriber_may_not_smuggle_key_separators() {
        for bad in ["a#b", "a b", "ä", &"x".repeat(65)] {
            let mut m = message();
            m.message_attributes
                .insert(ATTR_SUBSCRIBER.into(), attr_for(ATTR_SUBSCRIBER, bad));
            assert!(matches!(
                from_sqs(&m),
                Err(EnvelopeError::MalformedAttribute {
                    attribute: ATTR_SUBSCRIBER,
                    ..
                })
            ));
        }
    }

    #[test]
    fn missing_and_oversized_bodies_are_rejected() {
        let mut m = message();
        m.body = None;
        assert_eq!(from_sqs(&m).unwrap_err(), EnvelopeError::MissingBody);
        m.body = Some("x".repeat(MAX_BODY_BYTES + 1));
        assert!(matches!(
            from_sqs(&m),
            Err(EnvelopeError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn a_signature_header_outside_stripes_alphabet_is_malformed() {
        let good = format!("t=1764000000,v1={},v0={}", "ab".repeat(32), "0f".repeat(32));
        for ok in [good.as_str(), "t=1,v1=00"] {
            let mut m = message();
            m.message_attributes
                .insert(ATTR_SIGNATURE.into(), attr_for(ATTR_SIGNATURE, ok));
            assert!(from_sqs(&m).is_ok(), "{ok}");
        }
        let long = format!("t=1,{}", "v1=00,".repeat(200));
        for bad in [
            "t=1,v1=00\\",
            r#"t=1,v1=00","subscriber":{"StringValue":"globex"}"#,
            "t=1, v1=00",
            "t=1,v1=00\n",
            "t=1,v1=AB",
            "t=1,v1=00;x",
            "t=1,v1=00\u{0}",
            long.as_str(),
        ] {
            let mut m = message();
            m.message_attributes
                .insert(ATTR_SIGNATURE.into(), attr_for(ATTR_SIGNATURE, bad));
            assert!(
                matches!(
                    from_sqs(&m),
                    Err(EnvelopeError::MalformedAttribute {
                        attribute: ATTR_SIGNATURE,
                        ..
                    })
                ),
                "{bad:.40}"
            );
        }
    }

    #[test]
    fn attributes_the_route_does_not_write_are_refused_by_name() {
        for name in ["Subscriber", "x-extra", "stripe_signature", "received-at "] {
            let mut m = message();
            m.message_attributes
                .insert(name.to_string(), typed("String", "v"));
            assert_eq!(
                from_sqs(&m).unwrap_err(),
                EnvelopeError::UnexpectedAttribute(name.to_string())
            );
        }
        // What the consumer adds when it dead-letters a message may come back on a redrive.
        let mut m = message();
        for (name, _) in &KNOWN_ATTRIBUTES[4..] {
            m.message_attributes
                .insert(name.to_string(), attr_for(name, "x"));
        }
        assert!(from_sqs(&m).is_ok());
    }

    #[test]
    fn data_types_are_the_routes_and_binary_values_are_refused() {
        for (name, data_type) in [
            (ATTR_SUBSCRIBER, "Number"),
            (ATTR_SIGNATURE, "String.custom"),
            (ATTR_RECEIVED_AT, "String"),
            (ATTR_SEALED_BUNDLE, "Binary"),
        ] {
            let mut m = message();
            let value = m.message_attributes[name].string_value.clone().unwrap();
            m.message_attributes
                .insert(name.to_string(), typed(data_type, &value));
            assert!(
                matches!(
                    from_sqs(&m),
                    Err(EnvelopeError::WrongDataType { attribute, .. }) if attribute == name
                ),
                "{name} as {data_type}"
            );
        }
        let mut m = message();
        if let Some(a) = m.message_attributes.get_mut(ATTR_SUBSCRIBER) {
            let mut binary = aws_lambda_events::encodings::Base64Data::default();
            binary.extend_from_slice(&[1, 2, 3]);
            a.binary_value = Some(binary);
        }
        assert!(matches!(
            from_sqs(&m),
            Err(EnvelopeError::WrongDataType {
                attribute: ATTR_SUBSCRIBER,
                ..
            })
        ));
    }

    #[test]
    fn a_receive_time_in_the_future_is_refused_beyond_the_skew() {
        for (received_at, ok) in [
            (NOW_MS + MAX_CLOCK_SKEW_MS, true),
            (NOW_MS + MAX_CLOCK_SKEW_MS + 1, false),
            (NOW_MS + 86_400_000, false),
            // In seconds, the same bound.
            ((NOW_MS + MAX_CLOCK_SKEW_MS) / 1000, true),
            ((NOW_MS + MAX_CLOCK_SKEW_MS) / 1000 + 1, false),
        ] {
            let mut m = message();
            m.message_attributes.insert(
                ATTR_RECEIVED_AT.into(),
                attr_for(ATTR_RECEIVED_AT, &received_at.to_string()),
            );
            assert_eq!(from_sqs(&m).is_ok(), ok, "{received_at}");
        }
    }
}
