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
    /// The notification's kind (`payment.credited`, …); absent on items written before there
    /// was more than one, which are credits.
    pub const TYPE: &str = "type";
}

/// A notification's `status`, as the table spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Waiting for an attempt (on the `due` index).
    Pending,
    Delivered,
    /// In the notification DLQ with its reason.
    DeadLettered,
    /// The subscriber's bundle names no endpoint: settled without a request.
    NotNotified,
}

/// What one attempt came to, as its audit row spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; due again later (also when the move to the DLQ failed).
    Retry,
    DeadLettered,
    NotNotified,
}

macro_rules! spelled {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &[$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),*
                }
            }

            pub fn parse(text: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(NotificationStatus {
    Pending => "pending",
    Delivered => "delivered",
    DeadLettered => "dead_lettered",
    NotNotified => "not_notified",
});

/// What a notification tells its subscriber: one kind per movement of money on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum NotificationKind {
    /// A PaymentIntent credited the record (with any refunds it already had).
    #[serde(rename = "payment.credited")]
    Credited,
    /// A refund took money back from a credited payment.
    #[serde(rename = "payment.refunded")]
    Refunded,
    /// A refund failed (or was canceled) and its money came back.
    #[serde(rename = "payment.refund_reversed")]
    RefundReversed,
    #[serde(rename = "payment.dispute_opened")]
    DisputeOpened,
    #[serde(rename = "payment.dispute_funds_withdrawn")]
    DisputeFundsWithdrawn,
    #[serde(rename = "payment.dispute_funds_reinstated")]
    DisputeFundsReinstated,
    #[serde(rename = "payment.dispute_won")]
    DisputeWon,
    #[serde(rename = "payment.dispute_lost")]
    DisputeLost,
}

spelled!(NotificationKind {
    Credited => "payment.credited",
    Refunded => "payment.refunded",
    RefundReversed => "payment.refund_reversed",
    DisputeOpened => "payment.dispute_opened",
    DisputeFundsWithdrawn => "payment.dispute_funds_withdrawn",
    DisputeFundsReinstated => "payment.dispute_funds_reinstated",
    DisputeWon => "payment.dispute_won",
    DisputeLost => "payment.dispute_lost",
});

spelled!(AttemptOutcome {
    Delivered => "delivered",
    Retry => "retry",
    DeadLettered => "dead_lettered",
    NotNotified => "not_notified",
});

/// How long notifications and their attempts are kept: past the 90 days a dispute can need.
pub const RETENTION_SECS: i64 = 100 * 86_400;

/// The `webhook-id` of a PaymentIntent's credit notification.
pub fn notification_id(intent_id: &str) -> String {
    format!("msg_{intent_id}")
}

/// A notification a movement owes, as its transaction writes it.
#[derive(Debug, Clone)]
pub struct Owed<'a> {
    pub subscriber: &'a str,
    /// The `webhook-id`: one per movement, the same on every attempt and resend.
    pub id: String,
    pub kind: NotificationKind,
    pub payment_id: &'a str,
    pub payment_intent: &'a str,
    /// The Stripe object a movement is keyed by (a refund, a dispute); none for a credit.
    pub source: Option<&'a str>,
    /// What moved, in the currency's minor unit.
    pub amount: i64,
    pub currency: &'a str,
    pub event_id: &'a str,
}

impl<'a> Owed<'a> {
    /// The credit's notification.
    pub fn credit(credit: &Credit<'a>) -> Owed<'a> {
        Owed {
            subscriber: credit.subscriber,
            id: notification_id(credit.intent_id),
            kind: NotificationKind::Credited,
            payment_id: credit.payment_id,
            payment_intent: credit.intent_id,
            source: None,
            amount: credit.amount_received,
            currency: credit.currency,
            event_id: credit.event_id,
        }
    }
}

/// The notification item a movement writes in its transaction: due now.
pub fn pending_item(owed: &Owed<'_>, now_ms: i64) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: i64| AttributeValue::N(v.to_string());
    let mut item = HashMap::from([
        (schema::SUBSCRIBER.into(), s(owed.subscriber)),
        (schema::SK.into(), s(&owed.id)),
        ("id".into(), s(&owed.id)),
        (schema::TYPE.into(), s(owed.kind.as_str())),
        ("payment_id".into(), s(owed.payment_id)),
        ("payment_intent".into(), s(owed.payment_intent)),
        ("amount".into(), n(owed.amount)),
        ("currency".into(), s(owed.currency)),
        ("event_id".into(), s(owed.event_id)),
        ("credited_at".into(), n(now_ms)),
        ("status".into(), s(NotificationStatus::Pending.as_str())),
        ("attempts".into(), n(0)),
        (schema::DUE.into(), s(schema::DUE_VALUE)),
        (schema::NEXT_ATTEMPT_AT.into(), n(now_ms)),
        (schema::EXPIRES_AT.into(), n(now_ms / 1000 + RETENTION_SECS)),
    ]);
    if let Some(source) = owed.source {
        item.insert("source".into(), s(source));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_and_outcome_reads_back_as_written_and_as_serde_spells_it() {
        for status in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::parse(status.as_str()), Some(*status));
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::from(status.as_str()))
            );
        }
        for outcome in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(*outcome));
            assert_eq!(
                serde_json::to_value(outcome).ok(),
                Some(serde_json::Value::from(outcome.as_str()))
            );
        }
        assert_eq!(NotificationStatus::parse("credited"), None);
    }
}
