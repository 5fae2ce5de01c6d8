//! The SQS message attributes a delivery may carry, by name and data type: the four API
//! Gateway's route writes (the template maps the same names; a test keeps them in step) and
//! the five the consumer adds when it dead-letters a message.

/// Tenant id: which subscriber's Stripe account sent this.
pub const ATTR_SUBSCRIBER: &str = "subscriber";
/// The `Stripe-Signature` request header, verbatim.
pub const ATTR_SIGNATURE: &str = "stripe-signature";
/// When API Gateway received the request (`$context.requestTimeEpoch`): epoch seconds as an
/// HTTP API writes it, or epoch milliseconds (a REST API, the consumer's own tools).
pub const ATTR_RECEIVED_AT: &str = "received-at";
/// The subscriber's sealed secrets: `<key id>.<base64 sealed box>` (see `sealed.rs`).
pub const ATTR_SEALED_BUNDLE: &str = "sealed-bundle";

/// Why a message was dead-lettered: its reason code, class and detail, when it first failed
/// (kept across redrives) and the SQS message id it had.
pub const ATTR_REASON: &str = "failure-reason";
pub const ATTR_CLASS: &str = "failure-class";
pub const ATTR_DETAIL: &str = "failure-detail";
pub const ATTR_FAILED_AT: &str = "failed-at";
pub const ATTR_SOURCE_MESSAGE_ID: &str = "source-message-id";
/// The attributes that describe the last failure: a redrive strips them. `failed-at` is kept
/// apart, so the first failure's time survives a redrive and a second failure.
pub const FAILURE_DESCRIPTION: [&str; 4] =
    [ATTR_REASON, ATTR_CLASS, ATTR_DETAIL, ATTR_SOURCE_MESSAGE_ID];
/// The attributes a message may carry, with the data type each must have: the four API
/// Gateway's route writes, and the ones the consumer adds when it dead-letters a message
/// (they come back when the SQS console's redrive moves a dead letter as it is). SQS attribute
/// names are case-sensitive, so `Subscriber` is not `subscriber`: anything else is refused.
pub const KNOWN_ATTRIBUTES: [(&str, &str); 9] = [
    (ATTR_SUBSCRIBER, "String"),
    (ATTR_SIGNATURE, "String"),
    (ATTR_RECEIVED_AT, "Number"),
    (ATTR_SEALED_BUNDLE, "String"),
    (ATTR_REASON, "String"),
    (ATTR_CLASS, "String"),
    (ATTR_DETAIL, "String"),
    (ATTR_FAILED_AT, "String"),
    (ATTR_SOURCE_MESSAGE_ID, "String"),
];

/// A known attribute's name, as the constant, and the data type it must have.
pub fn known_attribute(name: &str) -> Option<(&'static str, &'static str)> {
    KNOWN_ATTRIBUTES
        .iter()
        .find(|(known, _)| *known == name)
        .copied()
}
