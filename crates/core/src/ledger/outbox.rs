//! The notification a credit owes its subscriber, written by the credit's own DynamoDB
//! transaction (a transactional outbox): whatever happens to the process after the commit, the
//! item is there, due at once, and the scheduled notifier finds it through the sparse `due`
//! index. Only the ledger writes it; `crate::notifications` drains it.
//!
//! One table, partitioned by subscriber: the notification under sort key `<id>`, each attempt
//! under `<id>#<attempt number>`. The id (`msg_<PaymentIntent id>`, the `webhook-id` header) is
//! the same on every attempt and every resend, so a receiver deduplicates on it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::Credit;

/// Table layout, shared with the template, the CLI and the tests.
pub mod schema {
    /// Partition key.
    pub const SUBSCRIBER: &str = "subscriber";
    /// Sort key: `<id>` for the notification, `<id>#<attempt>` for an attempt.
    pub const SK: &str = "sk";
    /// The sparse index of notifications waiting for an attempt: present only while pending.
    pub const DUE_INDEX: &str = "due";
    pub const DUE: &str = "due";
    pub const DUE_VALUE: &str = "pending";
    pub const NEXT_ATTEMPT_AT: &str = "next_attempt_at";
    /// TTL, epoch seconds.
    pub const EXPIRES_AT: &str = "expires_at";
}

/// How long notifications and their attempts are kept: past the 90 days a dispute can need.
pub const RETENTION_SECS: i64 = 100 * 86_400;

/// The `webhook-id` of a PaymentIntent's notification.
pub fn notification_id(intent_id: &str) -> String {
    format!("msg_{intent_id}")
}

/// The notification item a credit writes in its transaction: due now.
pub fn pending_item(credit: &Credit<'_>, now_ms: i64) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: i64| AttributeValue::N(v.to_string());
    HashMap::from([
        (schema::SUBSCRIBER.into(), s(credit.subscriber)),
        (schema::SK.into(), s(&notification_id(credit.intent_id))),
        ("id".into(), s(&notification_id(credit.intent_id))),
        ("payment_id".into(), s(credit.payment_id)),
        ("payment_intent".into(), s(credit.intent_id)),
        ("amount".into(), n(credit.amount_received)),
        ("currency".into(), s(credit.currency)),
        ("event_id".into(), s(credit.event_id)),
        ("credited_at".into(), n(now_ms)),
        ("status".into(), s("pending")),
        ("attempts".into(), n(0)),
        (schema::DUE.into(), s(schema::DUE_VALUE)),
        (schema::NEXT_ATTEMPT_AT.into(), n(now_ms)),
        (schema::EXPIRES_AT.into(), n(now_ms / 1000 + RETENTION_SECS)),
    ])
}
