//! The notifications credits owe, as the notifier and the operator see them: claiming one for
//! an attempt, recording the attempt (an audit row kept with it), listing, resending. The item
//! itself is written by the credit (`crate::ledger::outbox`).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DeadReason;
use crate::ledger::{
    AttemptOutcome, NotificationKind, NotificationStatus, OUTBOX_RETENTION_SECS as RETENTION_SECS,
    outbox_schema as schema,
};
use crate::support::dynamo::{self, ItemExt, ReadError};

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    pub id: String,
    pub subscriber: String,
    pub payment_id: String,
    pub payment_intent: String,
    /// What it tells: a credit, a refund, a refund's money back.
    pub kind: NotificationKind,
    /// The Stripe object a movement is keyed by (a refund, a dispute); none for a credit.
    pub source: Option<String>,
    /// What moved, in the currency's minor unit.
    pub amount: i64,
    pub currency: String,
    /// When the movement was recorded, epoch ms.
    pub credited_at: i64,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub first_attempt_at: Option<i64>,
    /// Attempts since the first of the current retry window (a resend starts a new one): the
    /// retry schedule is indexed by it.
    pub window_attempts: i64,
    /// Why it was dead-lettered; on a pending notification, why it is to be, the DLQ having
    /// refused it: the next run then only retries the move, never the endpoint.
    pub dead_reason: Option<String>,
    pub last_error: Option<String>,
    /// The exact bytes sent, fixed at the first attempt so every retry sends the same body.
    pub body: Option<String>,
}

/// One delivery attempt, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    pub id: String,
    pub attempt: i64,
    pub at: i64,
    pub endpoint: String,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
}

#[derive(Debug, thiserror::Error)]
#[error("the notifications table {table}: {action}: {detail}")]
pub struct StoreError {
    pub table: String,
    pub action: &'static str,
    pub detail: String,
}

/// What an attempt changes on the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(i64),
    DeadLettered,
    /// The subscriber's bundle names no endpoint: nobody to tell, settled without the DLQ.
    NotNotified,
}

impl Next {
    /// The notification's status after it.
    pub fn status(self) -> NotificationStatus {
        match self {
            Next::Delivered => NotificationStatus::Delivered,
            Next::RetryAt(_) => NotificationStatus::Pending,
            Next::DeadLettered => NotificationStatus::DeadLettered,
            Next::NotNotified => NotificationStatus::NotNotified,
        }
    }

    /// What the attempt's audit row calls it.
    pub fn outcome(self) -> AttemptOutcome {
        match self {
            Next::Delivered => AttemptOutcome::Delivered,
            Next::RetryAt(_) => AttemptOutcome::Retry,
            Next::DeadLettered => AttemptOutcome::DeadLettered,
            Next::NotNotified => AttemptOutcome::NotNotified,
        }
    }
}

/// How recording an attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The attempt row and the notification's new state, together.
    Both,
    /// Someone else changed the notification while this attempt ran (an operator's resend): the
    /// attempt row is kept, the notification left as they made it.
    AttemptOnly,
}

pub struct Notifications {
    client: Client,
    table: String,
}

impl Notifications {
    pub fn new(client: Client, table: String) -> Self {
        Notifications { client, table }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether a conditional update applied: false when its condition did not hold.
    fn applied_if<T>(
        &self,
        action: &'static str,
        result: Result<T, SdkError<UpdateItemError, HttpResponse>>,
    ) -> Result<bool, StoreError> {
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail(action, DisplayErrorContext(e).to_string())),
        }
    }

    fn fail(&self, action: &'static str, detail: String) -> StoreError {
        StoreError {
            table: self.table.clone(),
            action,
            detail,
        }
    }

    /// Notifications whose next attempt is at or before `now_ms`, oldest first.
    pub async fn due(&self, now_ms: i64, limit: i32) -> Result<Vec<Notification>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::DUE_INDEX)
            .key_condition_expression("#due = :pending AND #next <= :now")
            .expression_attribute_names("#due", schema::DUE)
            .expression_attribute_names("#next", schema::NEXT_ATTEMPT_AT)
            .expression_attribute_values(":pending", AttributeValue::S(schema::DUE_VALUE.into()))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| self.fail("Query due", DisplayErrorContext(e).to_string()))?;
        Ok(out.items().iter().filter_map(notification).collect())
    }

    /// Takes a due notification for one attempt: its next attempt moves `lease_ms` out, on
    /// condition that nobody else took it since it was read, so overlapping runs do not both
    /// send it. `body` is stored on the first attempt. False: another run has it.
    pub async fn claim(
        &self,
        n: &Notification,
        lease_until_ms: i64,
        body: &str,
    ) -> Result<bool, StoreError> {
        let Some(seen) = n.next_attempt_at else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::SUBSCRIBER, AttributeValue::S(n.subscriber.clone()))
            .key(schema::SK, AttributeValue::S(n.id.clone()))
            .update_expression("SET #next = :lease, body = if_not_exists(body, :body)")
            .condition_expression("#next = :seen AND #due = :pending")
            .expression_attribute_names("#next", schema::NEXT_ATTEMPT_AT)
            .expression_attribute_names("#due", schema::DUE)
            .expression_attribute_values(":lease", AttributeValue::N(lease_until_ms.to_string()))
            .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
            .expression_attribute_values(":pending", AttributeValue::S(schema::DUE_VALUE.into()))
            .expression_attribute_values(":body", AttributeValue::S(body.to_string()))
            .send()
            .await;
        self.applied_if("UpdateItem claim", result)
    }

    /// Keeps the attempt in the audit trail and moves the notification on, in one transaction,
    /// on condition that this run still holds the notification's lease (`lease_until_ms`, as
    /// [`Self::claim`] set it). If it does not, the attempt row is still written: an attempt
    /// that was made is never left out of the trail. `dead_reason`: why it is (to be)
    /// dead-lettered.
    pub async fn record(
        &self,
        n: &Notification,
        attempt: &Attempt,
        next: Next,
        lease_until_ms: i64,
        dead_reason: Option<DeadReason>,
    ) -> Result<Recorded, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let row = attempt_row(n, attempt);
        let put_row = Put::builder()
            .table_name(&self.table)
            .set_item(Some(row.clone()))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", schema::SK)
            .build()
            .map_err(|e| self.fail("PutItem attempt", e.to_string()))?;
        let moved_on = moved_on(&self.table, n, attempt, next, lease_until_ms, dead_reason)
            .build()
            .map_err(|e| self.fail("UpdateItem", e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_row).build())
            .transact_items(TransactWriteItem::builder().update(moved_on).build())
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Recorded::Both),
            Err(e) if !lease_lost(&e) => {
                return Err(self.fail(
                    "TransactWriteItems attempt",
                    DisplayErrorContext(e).to_string(),
                ));
            }
            Err(_) => {}
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(row))
            .send()
            .await
            .map_err(|e| self.fail("PutItem attempt", DisplayErrorContext(e).to_string()))?;
        Ok(Recorded::AttemptOnly)
    }

    /// Makes a notification due now with a fresh retry window and schedule, whatever its state:
    /// an operator's resend. Its id and body stay, so the receiver can tell it is the same one.
    /// An attempt running meanwhile loses its lease: its row is kept, the resend stands.
    pub async fn resend(
        &self,
        subscriber: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::SUBSCRIBER, AttributeValue::S(subscriber.into()))
            .key(schema::SK, AttributeValue::S(id.into()))
            .update_expression(
                "SET #st = :pending, #due = :pending, #next = :now, window_attempts = :zero \
                 REMOVE first_attempt_at, dead_reason",
            )
            // A notification, never one of its attempt rows.
            .condition_expression(
                "attribute_exists(payment_intent) AND attribute_not_exists(attempt)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#due", schema::DUE)
            .expression_attribute_names("#next", schema::NEXT_ATTEMPT_AT)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":pending", AttributeValue::S(schema::DUE_VALUE.into()))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .send()
            .await;
        self.applied_if("UpdateItem resend", result)
    }

    /// A subscriber's notifications (every subscriber's without one), each with its
    /// attempts, optionally only those of one payment id.
    pub async fn list(
        &self,
        subscriber: Option<&str>,
        payment_id: Option<&str>,
    ) -> Result<Vec<(Notification, Vec<Attempt>)>, StoreError> {
        let items = dynamo::read(&self.client, &self.table, schema::SUBSCRIBER, subscriber)
            .await
            .map_err(|e| match e {
                ReadError::Query(e) => self.fail("Query", DisplayErrorContext(e).to_string()),
                ReadError::Scan(e) => self.fail("Scan", DisplayErrorContext(e).to_string()),
            })?;
        let wanted = |item: &HashMap<String, AttributeValue>| {
            payment_id.is_none_or(|p| item.text("payment_id").as_deref() == Some(p))
        };
        let mut out: Vec<(Notification, Vec<Attempt>)> = items
            .iter()
            .filter(|i| wanted(i))
            .filter_map(notification)
            .map(|n| (n, Vec::new()))
            .collect();
        for item in items.iter().filter(|i| wanted(i)) {
            let subscriber = item.text(schema::SUBSCRIBER);
            if let Some(a) = attempt(item)
                && let Some((_, attempts)) = out.iter_mut().find(|(n, _)| {
                    n.id == a.id && Some(n.subscriber.as_str()) == subscriber.as_deref()
                })
            {
                attempts.push(a);
            }
        }
        for (_, attempts) in &mut out {
            attempts.sort_by_key(|a| a.attempt);
        }
        out.sort_by_key(|(n, _)| n.credited_at);
        Ok(out)
    }
}

/// An attempt's audit row. The time makes its key unique even where two overlapping attempts
/// read the same attempt count: no row ever overwrites another.
fn attempt_row(n: &Notification, attempt: &Attempt) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let num = |v: i64| AttributeValue::N(v.to_string());
    let mut row = HashMap::from([
        (schema::SUBSCRIBER.to_string(), s(&n.subscriber)),
        (
            schema::SK.to_string(),
            s(&format!("{}#{:04}-{}", n.id, attempt.attempt, attempt.at)),
        ),
        ("id".into(), s(&n.id)),
        ("payment_id".into(), s(&n.payment_id)),
        ("attempt".into(), num(attempt.attempt)),
        ("at".into(), num(attempt.at)),
        ("endpoint".into(), s(&attempt.endpoint)),
        ("latency_ms".into(), num(attempt.latency_ms)),
        ("outcome".into(), s(attempt.outcome.as_str())),
        (
            schema::EXPIRES_AT.into(),
            num(attempt.at / 1000 + RETENTION_SECS),
        ),
    ]);
    if let Some(status) = attempt.status {
        row.insert("status".into(), num(i64::from(status)));
    }
    if let Some(error) = &attempt.error {
        row.insert("error".into(), s(error));
    }
    row
}

/// The notification moved on by an attempt, on condition that the lease is still this run's:
/// due again (on the `due` index) for a retry, off the index once settled; the dead reason
/// kept until it is in the DLQ.
fn moved_on(
    table: &str,
    n: &Notification,
    attempt: &Attempt,
    next: Next,
    lease_until_ms: i64,
    dead_reason: Option<DeadReason>,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let num = |v: i64| AttributeValue::N(v.to_string());
    let mut set = vec![
        "#st = :st",
        "attempts = :n",
        "window_attempts = :w",
        "last_attempt_at = :at",
        "first_attempt_at = if_not_exists(first_attempt_at, :at)",
        "last_error = :err",
        "#exp = :exp",
    ];
    let mut remove = Vec::new();
    match next {
        Next::RetryAt(_) => set.extend(["#next = :next", "#due = :pending"]),
        Next::Delivered | Next::DeadLettered | Next::NotNotified => {
            remove.extend(["#due", "#next"])
        }
    }
    match dead_reason {
        Some(_) => set.push("dead_reason = :reason"),
        None => remove.push("dead_reason"),
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let mut update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .key(schema::SUBSCRIBER, s(&n.subscriber))
        .key(schema::SK, s(&n.id))
        .update_expression(expression)
        .condition_expression("#next = :lease")
        .expression_attribute_names("#st", "status")
        .expression_attribute_names("#exp", schema::EXPIRES_AT)
        .expression_attribute_names("#next", schema::NEXT_ATTEMPT_AT)
        .expression_attribute_names("#due", schema::DUE)
        .expression_attribute_values(":st", s(next.status().as_str()))
        .expression_attribute_values(":n", num(attempt.attempt))
        .expression_attribute_values(":w", num(n.window_attempts + 1))
        .expression_attribute_values(":at", num(attempt.at))
        .expression_attribute_values(":err", s(attempt.error.as_deref().unwrap_or_default()))
        .expression_attribute_values(":exp", num(attempt.at / 1000 + RETENTION_SECS))
        .expression_attribute_values(":lease", num(lease_until_ms));
    if let Next::RetryAt(at) = next {
        update = update
            .expression_attribute_values(":next", num(at))
            .expression_attribute_values(":pending", s(schema::DUE_VALUE));
    }
    if let Some(reason) = dead_reason {
        update = update.expression_attribute_values(":reason", s(reason.as_str()));
    }
    update
}

/// Whether the transaction failed because the lease was no longer this run's (its second item's
/// condition), rather than for a reason worth reporting.
fn lease_lost<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .get(1)
            .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}

/// The notification in an item, `None` for an attempt's item (or one whose status this
/// version does not know, which only a newer writer can have put there).
fn notification(item: &HashMap<String, AttributeValue>) -> Option<Notification> {
    let id = item.text("id")?;
    if item.text(schema::SK)? != id {
        return None;
    }
    Some(Notification {
        subscriber: item.text(schema::SUBSCRIBER)?,
        payment_id: item.text("payment_id").unwrap_or_default(),
        payment_intent: item.text("payment_intent").unwrap_or_default(),
        kind: match item.text(schema::TYPE) {
            None => NotificationKind::Credited,
            Some(kind) => NotificationKind::parse(&kind)?,
        },
        source: item.text("source"),
        amount: item.number("amount").unwrap_or_default(),
        currency: item.text("currency").unwrap_or_default(),
        credited_at: item.number("credited_at").unwrap_or_default(),
        status: NotificationStatus::parse(&item.text("status")?)?,
        attempts: item.number("attempts").unwrap_or_default(),
        next_attempt_at: item
            .number(schema::NEXT_ATTEMPT_AT)
            .filter(|_| item.text(schema::DUE).is_some()),
        first_attempt_at: item.number("first_attempt_at"),
        window_attempts: item.number("window_attempts").unwrap_or_default(),
        dead_reason: item.text("dead_reason"),
        last_error: item.text("last_error").filter(|e| !e.is_empty()),
        body: item.text("body"),
        id,
    })
}

fn attempt(item: &HashMap<String, AttributeValue>) -> Option<Attempt> {
    let id = item.text("id")?;
    if item.text(schema::SK)? == id {
        return None;
    }
    Some(Attempt {
        attempt: item.number("attempt")?,
        at: item.number("at").unwrap_or_default(),
        endpoint: item.text("endpoint").unwrap_or_default(),
        status: item.number("status").and_then(|s| u16::try_from(s).ok()),
        latency_ms: item.number("latency_ms").unwrap_or_default(),
        error: item.text("error"),
        outcome: AttemptOutcome::parse(&item.text("outcome")?)?,
        id,
    })
}

/// A notification as the credit writes it: due, never attempted.
#[cfg(test)]
pub(super) fn fresh_notification() -> Notification {
    Notification {
        id: "msg_pi_1".into(),
        subscriber: "acme".into(),
        payment_id: "order-1".into(),
        payment_intent: "pi_1".into(),
        kind: NotificationKind::Credited,
        source: None,
        amount: 1000,
        currency: "eur".into(),
        credited_at: 1_795_000_000_000,
        status: NotificationStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(1_795_000_000_000),
        first_attempt_at: None,
        window_attempts: 0,
        dead_reason: None,
        last_error: None,
        body: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> Notification {
        Notification {
            attempts: 2,
            next_attempt_at: Some(5),
            first_attempt_at: Some(1),
            window_attempts: 2,
            ..fresh_notification()
        }
    }

    fn made(outcome: AttemptOutcome) -> Attempt {
        Attempt {
            id: "msg_pi_1".into(),
            attempt: 3,
            at: 1_795_000_000_123,
            endpoint: "https://example.com/hook".into(),
            status: Some(503),
            latency_ms: 12,
            error: Some("HTTP 503".into()),
            outcome,
        }
    }

    #[test]
    fn a_retry_stays_on_the_due_index_and_a_settled_one_leaves_it() {
        let retry = moved_on(
            "t",
            &n(),
            &made(AttemptOutcome::Retry),
            Next::RetryAt(9),
            7,
            None,
        )
        .build()
        .expect("complete");
        assert!(retry.update_expression().contains("#due = :pending"));
        assert!(retry.update_expression().ends_with("REMOVE dead_reason"));
        assert_eq!(
            retry
                .expression_attribute_values()
                .and_then(|v| v.get(":st")),
            Some(&AttributeValue::S("pending".into()))
        );
        let dead = moved_on(
            "t",
            &n(),
            &made(AttemptOutcome::DeadLettered),
            Next::DeadLettered,
            7,
            Some(DeadReason::RetriesExhausted),
        )
        .build()
        .expect("complete");
        assert!(dead.update_expression().contains("REMOVE #due, #next"));
        assert!(dead.update_expression().contains("dead_reason = :reason"));
        let values = dead.expression_attribute_values().expect("values");
        assert_eq!(
            values.get(":reason"),
            Some(&AttributeValue::S("retries_exhausted".into()))
        );
        assert_eq!(values.get(":lease"), Some(&AttributeValue::N("7".into())));
        assert_eq!(dead.condition_expression(), Some("#next = :lease"));
    }

    #[test]
    fn attempt_rows_read_back_as_written_and_never_share_a_key() {
        let first = made(AttemptOutcome::Retry);
        let row = attempt_row(&n(), &first);
        assert_eq!(super::attempt(&row), Some(first.clone()));
        assert_eq!(notification(&row), None, "a row is not a notification");
        let mut overlapping = first.clone();
        overlapping.at += 1;
        assert_ne!(
            row.get(schema::SK),
            attempt_row(&n(), &overlapping).get(schema::SK)
        );
    }
}
