//! Refunds on the record, each movement once: money out when a refund is made, money back when
//! it fails. An entry per refund and direction (`refund`, `refund_reversed`), keyed by
//! Stripe's own refund id, is put on condition that it does not exist, in one transaction
//! with the record's `refunded` and `net` and the notification it owes. Replays, redeliveries
//! and any order of arrival record the same movements; the record's sums are additions, so
//! they come out the same in any order too.
//!
//! A refund made before the credit is recorded by the credit itself, in its transaction (see
//! `Credit::refunds`): the credit's entry and its refunds' entries commit together.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use backon::Retryable;

use super::error::{classify_code, classify_other, refused};
use super::outbox::{NotificationKind, Owed, pending_item};
use super::{Ledger, LedgerError, schema};
use crate::support::clock;
use crate::support::dynamo::ItemExt;

/// Which way a refund moved money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundDirection {
    /// Made: its amount left the balance.
    Out,
    /// Failed or canceled after it was made: its amount came back.
    Back,
}

/// One refund's movement of money, recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundMove {
    pub refund_id: String,
    /// Positive, in the currency's minor unit.
    pub amount: i64,
    pub direction: RefundDirection,
}

impl RefundMove {
    /// The entry's kind, as the ledger's table spells it.
    pub fn kind(&self) -> &'static str {
        match self.direction {
            RefundDirection::Out => "refund",
            RefundDirection::Back => "refund_reversed",
        }
    }

    /// Its effect on the record's `refunded`.
    pub fn refunded_delta(&self) -> i64 {
        match self.direction {
            RefundDirection::Out => self.amount,
            RefundDirection::Back => -self.amount,
        }
    }

    /// The `webhook-id` of the notification it owes.
    pub fn notification_id(&self) -> String {
        match self.direction {
            RefundDirection::Out => format!("msg_{}", self.refund_id),
            RefundDirection::Back => format!("msg_{}_reversed", self.refund_id),
        }
    }

    fn notification_kind(&self) -> NotificationKind {
        match self.direction {
            RefundDirection::Out => NotificationKind::Refunded,
            RefundDirection::Back => NotificationKind::RefundReversed,
        }
    }
}

/// The credited payment a refund belongs to, and the delivery that brings it.
#[derive(Debug, Clone)]
pub struct RefundOf<'a> {
    pub subscriber: &'a str,
    /// The record the PaymentIntent was credited to (the ledger's word, not the event's).
    pub payment_id: &'a str,
    pub intent_id: &'a str,
    pub currency: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub message_id: &'a str,
}

/// What recording one movement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundRecorded {
    /// Recorded by this call.
    Now,
    /// This same message recorded it on an earlier attempt whose answer was lost.
    Earlier,
    /// Another delivery recorded it; nothing changed.
    Already,
}

/// The key of one movement's ledger item: `<subscriber>#<PaymentIntent>#<kind>#<refund id>`.
fn entry_key(of: &RefundOf<'_>, movement: &RefundMove) -> String {
    format!(
        "{}#{}#{}#{}",
        of.subscriber,
        of.intent_id,
        movement.kind(),
        movement.refund_id
    )
}

/// The ledger item of one movement.
pub(super) fn entry_put(
    table: &str,
    of: &RefundOf<'_>,
    movement: &RefundMove,
    now: Duration,
) -> Result<Put, LedgerError> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: i64| AttributeValue::N(v.to_string());
    Put::builder()
        .table_name(table)
        .item(schema::IDEMPOTENCY_KEY, s(&entry_key(of, movement)))
        .item("kind", s(movement.kind()))
        .item("subscriber", s(of.subscriber))
        .item("payment_id", s(of.payment_id))
        .item("payment_intent", s(of.intent_id))
        .item("refund", s(&movement.refund_id))
        .item("amount", n(movement.amount))
        .item("currency", s(of.currency))
        .item(schema::EVENT_ID, s(of.event_id))
        .item(schema::MESSAGE_ID, s(of.message_id))
        .item("event_type", s(of.event_type))
        .item("applied_at", s(&clock::rfc3339(now.as_secs())))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", schema::IDEMPOTENCY_KEY)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| refused(of.intent_id, "BuildError", e.to_string()))
}

impl Ledger {
    /// Whether the movement is on the record already, by a strongly consistent read of its
    /// entry: a redelivered refund event then writes nothing. Only a shortcut; the entry's
    /// condition in `record_refund` alone decides.
    pub async fn refund_recorded(
        &self,
        of: &RefundOf<'_>,
        movement: &RefundMove,
    ) -> Result<Option<RefundRecorded>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.idempotency_table)
            .key(
                schema::IDEMPOTENCY_KEY,
                AttributeValue::S(entry_key(of, movement)),
            )
            .consistent_read(true)
            .projection_expression("#m")
            .expression_attribute_names("#m", schema::MESSAGE_ID)
            .send()
            .await
            .map_err(|e| classify_other(of.intent_id, e))?;
        Ok(out.item().map(|item| {
            if item.text(schema::MESSAGE_ID).as_deref() == Some(of.message_id) {
                RefundRecorded::Earlier
            } else {
                RefundRecorded::Already
            }
        }))
    }

    /// Records one refund movement of a credited payment, once: its entry, the record's
    /// `refunded` and `net`, and its notification, together. Conflicts are retried here.
    pub async fn record_refund(
        &self,
        of: &RefundOf<'_>,
        movement: &RefundMove,
    ) -> Result<RefundRecorded, LedgerError> {
        (|| self.transact_refund(of, movement))
            .retry(self.retry)
            .when(LedgerError::retries_in_place)
            .await
    }

    async fn transact_refund(
        &self,
        of: &RefundOf<'_>,
        movement: &RefundMove,
    ) -> Result<RefundRecorded, LedgerError> {
        let now = Duration::from_millis(clock::now_ms().max(0) as u64);
        let s = |v: &str| AttributeValue::S(v.to_string());
        let n = |v: i64| AttributeValue::N(v.to_string());
        let entry = entry_put(&self.idempotency_table, of, movement, now)?;
        let delta = movement.refunded_delta();
        // The record exists (its PaymentIntent was credited to it) and keeps its currency.
        let record = Update::builder()
            .table_name(&self.payments_table)
            .key(schema::SUBSCRIBER, s(of.subscriber))
            .key(schema::PAYMENT_ID, s(of.payment_id))
            .update_expression(
                "ADD #refunded :delta, #net :minus SET updated_at = :now, last_event_id = :evt",
            )
            .condition_expression("currency = :currency")
            .expression_attribute_names("#refunded", schema::REFUNDED)
            .expression_attribute_names("#net", schema::NET)
            .expression_attribute_values(":delta", n(delta))
            .expression_attribute_values(":minus", n(-delta))
            .expression_attribute_values(":now", s(&clock::rfc3339(now.as_secs())))
            .expression_attribute_values(":evt", s(of.event_id))
            .expression_attribute_values(":currency", s(of.currency))
            .build()
            .map_err(|e| refused(of.intent_id, "BuildError", e.to_string()))?;
        let owed = Owed {
            subscriber: of.subscriber,
            id: movement.notification_id(),
            kind: movement.notification_kind(),
            payment_id: of.payment_id,
            payment_intent: of.intent_id,
            refund: Some(&movement.refund_id),
            amount: movement.amount,
            currency: of.currency,
            event_id: of.event_id,
        };
        let notification = Put::builder()
            .table_name(&self.notifications_table)
            .set_item(Some(pending_item(&owed, now.as_millis() as i64)))
            .build()
            .map_err(|e| refused(of.intent_id, "BuildError", e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(entry).build())
            .transact_items(TransactWriteItem::builder().update(record).build())
            .transact_items(TransactWriteItem::builder().put(notification).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(RefundRecorded::Now),
            Err(e) => classify_refund_transaction(of, e),
        }
    }
}

/// What a failed refund transaction means. Item 0 is the entry, item 1 the record.
fn classify_refund_transaction<R>(
    of: &RefundOf<'_>,
    error: SdkError<TransactWriteItemsError, R>,
) -> Result<RefundRecorded, LedgerError>
where
    R: std::fmt::Debug,
{
    let cancel = match error {
        SdkError::ServiceError(service) => match service.into_err() {
            TransactWriteItemsError::TransactionCanceledException(cancel) => cancel,
            other => return Err(classify_code(of.intent_id, &other)),
        },
        other => return Err(classify_other(of.intent_id, other)),
    };
    let reasons = cancel.cancellation_reasons();
    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
    if code(0) == "ConditionalCheckFailed" {
        let by = reasons
            .first()
            .and_then(|r| r.item())
            .and_then(|item| item.text(schema::MESSAGE_ID));
        return Ok(if by.as_deref() == Some(of.message_id) {
            RefundRecorded::Earlier
        } else {
            RefundRecorded::Already
        });
    }
    if code(1) == "ConditionalCheckFailed" {
        return Err(LedgerError::NoRecordFor {
            payment_id: of.payment_id.to_string(),
            intent_id: of.intent_id.to_string(),
            currency: of.currency.to_string(),
        });
    }
    let codes: Vec<&str> = (0..reasons.len().max(2)).map(code).collect();
    let detail = format!("transaction cancelled: {}", codes.join(", "));
    if codes.contains(&"ValidationError") {
        return Err(refused(of.intent_id, "ValidationError", detail));
    }
    Err(LedgerError::Conflict {
        intent_id: of.intent_id.to_string(),
        detail,
    })
}
