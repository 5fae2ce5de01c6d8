//! SQS record -> [`Delivery`]: one webhook request as API Gateway queued it.
//!
//! The message body is the raw Stripe request body, byte for byte (the HMAC is computed over it);
//! everything else rides in message attributes, named by the constants below. The SAM template
//! maps the same names, and a test keeps the two from drifting apart.

use aws_lambda_events::event::sqs::SqsMessage;

/// Tenant id: which subscriber's Stripe account sent this.
pub const ATTR_SUBSCRIBER: &str = "subscriber";
/// The `Stripe-Signature` request header, verbatim.
pub const ATTR_SIGNATURE: &str = "stripe-signature";
/// When API Gateway received the request, epoch milliseconds (`$context.requestTimeEpoch`).
pub const ATTR_RECEIVED_AT: &str = "received-at";
/// The subscriber's sealed secrets: `<key id>.<base64 sealed box>` (see `sealed.rs`).
pub const ATTR_SEALED_BUNDLE: &str = "sealed-bundle";

/// SQS refuses larger messages, so anything bigger did not come through our ingress.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// An SQS String attribute set by API Gateway is at most 8 KB in practice (the template keeps it so).
pub const MAX_ATTRIBUTE_BYTES: usize = 8 * 1024;
/// Subscriber ids are used in DynamoDB keys and log lines; keep them short and plain.
pub const MAX_SUBSCRIBER_LEN: usize = 64;

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
}

impl<'a> Delivery<'a> {
    /// Reads a delivery out of an SQS record. `message_id` is passed in because the batch layer
    /// has already insisted on it (it is what a failure is reported by).
    pub fn from_sqs(message_id: &'a str, msg: &'a SqsMessage) -> Result<Self, EnvelopeError> {
        let body = msg.body.as_deref().ok_or(EnvelopeError::MissingBody)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(EnvelopeError::BodyTooLarge {
                len: body.len(),
                max: MAX_BODY_BYTES,
            });
        }
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
        if !is_valid_subscriber(subscriber) {
            return Err(EnvelopeError::MalformedAttribute {
                attribute: ATTR_SUBSCRIBER,
                why: "must be 1-64 characters of A-Z a-z 0-9 _ -",
            });
        }
        let signature_header = attr(ATTR_SIGNATURE)?;
        let received_at_ms = parse_received_at(attr(ATTR_RECEIVED_AT)?)?;
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

/// Subscriber ids go into DynamoDB keys joined with `#`, so they may not contain it.
pub fn is_valid_subscriber(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SUBSCRIBER_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_received_at(raw: &str) -> Result<i64, EnvelopeError> {
    let malformed = |why| EnvelopeError::MalformedAttribute {
        attribute: ATTR_RECEIVED_AT,
        why,
    };
    let ms: i64 = raw
        .trim()
        .parse()
        .map_err(|_| malformed("not a whole number of epoch milliseconds"))?;
    // 2001-09-09 .. 2286-11-20 in ms: catches seconds passed where milliseconds are expected.
    if !(1_000_000_000_000..10_000_000_000_000).contains(&ms) {
        return Err(malformed("not epoch milliseconds (out of range)"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessageAttribute;

    fn attr(v: &str) -> SqsMessageAttribute {
        let mut a = SqsMessageAttribute::default();
        a.string_value = Some(v.to_string());
        a.data_type = Some("String".to_string());
        a
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
            m.message_attributes.insert(k.to_string(), attr(v));
        }
        m
    }

    #[test]
    fn reads_every_field() {
        let m = message();
        let d = Delivery::from_sqs("m-1", &m).unwrap();
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
                Delivery::from_sqs("m-1", &m).unwrap_err(),
                EnvelopeError::MissingAttribute(name)
            );
            m.message_attributes.insert(name.to_string(), attr(""));
            assert_eq!(
                Delivery::from_sqs("m-1", &m).unwrap_err(),
                EnvelopeError::MissingAttribute(name)
            );
        }
    }

    #[test]
    fn received_at_must_be_epoch_milliseconds() {
        for bad in ["soon", "1764000000", "-5", "1.5e12", ""] {
            let mut m = message();
            m.message_attributes
                .insert(ATTR_RECEIVED_AT.into(), attr(bad));
            let err = Delivery::from_sqs("m-1", &m).unwrap_err();
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
                .insert(ATTR_SUBSCRIBER.into(), attr(bad));
            assert!(matches!(
                Delivery::from_sqs("m-1", &m),
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
        assert_eq!(
            Delivery::from_sqs("m-1", &m).unwrap_err(),
            EnvelopeError::MissingBody
        );
        m.body = Some("x".repeat(MAX_BODY_BYTES + 1));
        assert!(matches!(
            Delivery::from_sqs("m-1", &m),
            Err(EnvelopeError::BodyTooLarge { .. })
        ));
    }
}
