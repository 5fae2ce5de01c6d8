//! Money that moves on a credited payment, each movement once: a refund made, a refund that
//! failed and gave its money back, a dispute opened, its funds withdrawn or reinstated, the
//! dispute won or lost. An entry per movement, keyed by Stripe's own object (the refund or the
//! dispute) and the movement's kind, is put on condition that it does not exist, in
//! one transaction with the record's sums and the notification it owes. Entries are immutable
//! and the sums are additions, so replays, redeliveries and any order of arrival give the same
//! record.
//!
//! Movements made before the credit are recorded by the credit itself, in its transaction (see
//! `Credit::movements`): the credit's entry and theirs commit together.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use backon::Retryable;

use super::error::{cancellation, classify_other, refused, unexplained};
use super::outbox::{NotificationKind, Owed, pending_item};
use super::{Ledger, LedgerError, schema};
use crate::support::clock;
use crate::support::dynamo::ItemExt;

/// What moved. Each kind is keyed by the Stripe object that makes it happen once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    /// A refund took its amount from the balance (keyed by the refund).
    Refund,
    /// A refund failed or was canceled after it took its amount, which came back (the refund).
    RefundReversed,
    /// A customer disputed the payment (the dispute); no money moves by itself.
    DisputeOpened,
    /// The dispute's amount was withdrawn (the dispute: Stripe makes at most one withdrawal and
    /// one reinstatement per dispute, "zero, one, or two balance transactions").
    DisputeWithdrawn,
    /// The dispute's funds were reinstated (the dispute).
    DisputeReinstated,
    /// The dispute closed in the merchant's favour (the dispute).
    DisputeWon,
    /// The dispute closed in the customer's favour (the dispute).
    DisputeLost,
}

impl MovementKind {
    /// The entry's kind, as the ledger's table spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Refund => "refund",
            MovementKind::RefundReversed => "refund_reversed",
            MovementKind::DisputeOpened => "dispute_opened",
            MovementKind::DisputeWithdrawn => "dispute_withdrawn",
            MovementKind::DisputeReinstated => "dispute_reinstated",
            MovementKind::DisputeWon => "dispute_won",
            MovementKind::DisputeLost => "dispute_lost",
        }
    }
}

/// What movements do to a record's sums, in the currency's minor unit (counts for disputes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deltas {
    pub refunded: i64,
    pub disputed: i64,
    pub disputes_open: i64,
    pub disputes_lost: i64,
}

impl Deltas {
    /// Their effect on `net`: what left the balance.
    pub fn net(&self) -> i64 {
        -(self.refunded + self.disputed)
    }

    pub fn sum<'a>(movements: impl IntoIterator<Item = &'a Movement>) -> Deltas {
        movements
            .into_iter()
            .map(Movement::deltas)
            .fold(Deltas::default(), |a, b| Deltas {
                refunded: a.refunded + b.refunded,
                disputed: a.disputed + b.disputed,
                disputes_open: a.disputes_open + b.disputes_open,
                disputes_lost: a.disputes_lost + b.disputes_lost,
            })
    }
}

/// One movement on a credited payment, recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub kind: MovementKind,
    /// The Stripe object that keys it: a refund or a dispute.
    pub source_id: String,
    /// Positive, in the currency's minor unit: what moved (for an opened, won or lost dispute,
    /// the amount disputed).
    pub amount: i64,
}

impl Movement {
    pub fn deltas(&self) -> Deltas {
        let a = self.amount;
        match self.kind {
            MovementKind::Refund => Deltas {
                refunded: a,
                ..Deltas::default()
            },
            MovementKind::RefundReversed => Deltas {
                refunded: -a,
                ..Deltas::default()
            },
            MovementKind::DisputeWithdrawn => Deltas {
                disputed: a,
                ..Deltas::default()
            },
            MovementKind::DisputeReinstated => Deltas {
                disputed: -a,
                ..Deltas::default()
            },
            MovementKind::DisputeOpened => Deltas {
                disputes_open: 1,
                ..Deltas::default()
            },
            MovementKind::DisputeWon => Deltas {
                disputes_open: -1,
                ..Deltas::default()
            },
            MovementKind::DisputeLost => Deltas {
                disputes_open: -1,
                disputes_lost: 1,
                ..Deltas::default()
            },
        }
    }

    /// The `webhook-id` of the notification it owes.
    pub fn notification_id(&self) -> String {
        match self.kind {
            MovementKind::Refund => format!("msg_{}", self.source_id),
            MovementKind::RefundReversed => format!("msg_{}_reversed", self.source_id),
            MovementKind::DisputeWithdrawn => format!("msg_{}_withdrawn", self.source_id),
            MovementKind::DisputeReinstated => format!("msg_{}_reinstated", self.source_id),
            MovementKind::DisputeOpened => format!("msg_{}_opened", self.source_id),
            MovementKind::DisputeWon => format!("msg_{}_won", self.source_id),
            MovementKind::DisputeLost => format!("msg_{}_lost", self.source_id),
        }
    }

    fn notification_kind(&self) -> NotificationKind {
        match self.kind {
            MovementKind::Refund => NotificationKind::Refunded,
            MovementKind::RefundReversed => NotificationKind::RefundReversed,
            MovementKind::DisputeOpened => NotificationKind::DisputeOpened,
            MovementKind::DisputeWithdrawn => NotificationKind::DisputeFundsWithdrawn,
            MovementKind::DisputeReinstated => NotificationKind::DisputeFundsReinstated,
            MovementKind::DisputeWon => NotificationKind::DisputeWon,
            MovementKind::DisputeLost => NotificationKind::DisputeLost,
        }
    }
}

/// The credited payment a movement belongs to, and the delivery that brings it.
#[derive(Debug, Clone)]
pub struct MovementOf<'a> {
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
pub enum Recorded {
    /// Recorded by this call.
    Now,
    /// This same message recorded it on an earlier attempt whose answer was lost.
    Earlier,
    /// Another delivery recorded it; nothing changed.
    Already,
}

/// The key of one movement's ledger item: `<subscriber>#<PaymentIntent>#<kind>#<refund id>`.
fn entry_key(of: &MovementOf<'_>, movement: &Movement) -> String {
    format!(
        "{}#{}#{}#{}",
        of.subscriber,
        of.intent_id,
        movement.kind.as_str(),
        movement.source_id
    )
}

/// The ledger item of one movement.
pub(super) fn entry_put(
    table: &str,
    of: &MovementOf<'_>,
    movement: &Movement,
    now: Duration,
) -> Result<Put, LedgerError> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: i64| AttributeValue::N(v.to_string());
    Put::builder()
        .table_name(table)
        .item(schema::IDEMPOTENCY_KEY, s(&entry_key(of, movement)))
        .item("kind", s(movement.kind.as_str()))
        .item("subscriber", s(of.subscriber))
        .item("payment_id", s(of.payment_id))
        .item("payment_intent", s(of.intent_id))
        .item("source", s(&movement.source_id))
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
    pub async fn movement_recorded(
        &self,
        of: &MovementOf<'_>,
        movement: &Movement,
    ) -> Result<Option<Recorded>, LedgerError> {
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
                Recorded::Earlier
            } else {
                Recorded::Already
            }
        }))
    }

    /// Records one refund movement of a credited payment, once: its entry, the record's
    /// `refunded` and `net`, and its notification, together. Conflicts are retried here.
    pub async fn record_movement(
        &self,
        of: &MovementOf<'_>,
        movement: &Movement,
    ) -> Result<Recorded, LedgerError> {
        (|| self.transact_movement(of, movement))
            .retry(self.retry)
            .when(LedgerError::retries_in_place)
            .await
    }

    async fn transact_movement(
        &self,
        of: &MovementOf<'_>,
        movement: &Movement,
    ) -> Result<Recorded, LedgerError> {
        let now = Duration::from_millis(clock::now_ms().max(0) as u64);
        let s = |v: &str| AttributeValue::S(v.to_string());
        let entry = entry_put(&self.idempotency_table, of, movement, now)?;
        let deltas = movement.deltas();
        // The record exists (its PaymentIntent was credited to it) and keeps its currency.
        // A record credited before `net` was kept starts it from what it received.
        let record = sums_update(&self.payments_table, of, deltas, 0)?
            .update_expression(
                "ADD #refunded :refunded, #disputed :disputed, #open :open, #lost :lost \
                 SET #net = if_not_exists(#net, #received) + :net, updated_at = :now, \
                 last_event_id = :evt",
            )
            .expression_attribute_names("#received", schema::AMOUNT_RECEIVED)
            .condition_expression("currency = :currency")
            .expression_attribute_values(":currency", s(of.currency))
            .build()
            .map_err(|e| refused(of.intent_id, "BuildError", e.to_string()))?;
        let owed = Owed {
            subscriber: of.subscriber,
            id: movement.notification_id(),
            kind: movement.notification_kind(),
            payment_id: of.payment_id,
            payment_intent: of.intent_id,
            source: Some(&movement.source_id),
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
            Ok(_) => Ok(Recorded::Now),
            Err(e) => classify_movement_transaction(of, e),
        }
    }
}

/// The record's sums moved by `deltas` (and `net` by `received`, which a credit adds): the
/// update both a movement's and a credit's transaction make, its condition left to each.
pub(super) fn sums_update(
    table: &str,
    of: &MovementOf<'_>,
    deltas: Deltas,
    received: i64,
) -> Result<aws_sdk_dynamodb::types::builders::UpdateBuilder, LedgerError> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: i64| AttributeValue::N(v.to_string());
    let now = clock::rfc3339((clock::now_ms().max(0) / 1000) as u64);
    Ok(Update::builder()
        .table_name(table)
        .key(schema::SUBSCRIBER, s(of.subscriber))
        .key(schema::PAYMENT_ID, s(of.payment_id))
        .update_expression(
            "ADD #refunded :refunded, #disputed :disputed, #net :net, #open :open, #lost :lost \
             SET updated_at = :now, last_event_id = :evt",
        )
        .expression_attribute_names("#refunded", schema::REFUNDED)
        .expression_attribute_names("#disputed", schema::DISPUTED)
        .expression_attribute_names("#net", schema::NET)
        .expression_attribute_names("#open", schema::DISPUTES_OPEN)
        .expression_attribute_names("#lost", schema::DISPUTES_LOST)
        .expression_attribute_values(":refunded", n(deltas.refunded))
        .expression_attribute_values(":disputed", n(deltas.disputed))
        .expression_attribute_values(":net", n(received + deltas.net()))
        .expression_attribute_values(":open", n(deltas.disputes_open))
        .expression_attribute_values(":lost", n(deltas.disputes_lost))
        .expression_attribute_values(":now", s(&now))
        .expression_attribute_values(":evt", s(of.event_id)))
}

/// What a failed movement transaction means. Item 0 is the entry, item 1 the record.
fn classify_movement_transaction<R>(
    of: &MovementOf<'_>,
    error: SdkError<TransactWriteItemsError, R>,
) -> Result<Recorded, LedgerError>
where
    R: std::fmt::Debug,
{
    let cancel = cancellation(of.intent_id, error)?;
    let reasons = cancel.cancellation_reasons();
    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
    if code(0) == "ConditionalCheckFailed" {
        let by = reasons
            .first()
            .and_then(|r| r.item())
            .and_then(|item| item.text(schema::MESSAGE_ID));
        return Ok(if by.as_deref() == Some(of.message_id) {
            Recorded::Earlier
        } else {
            Recorded::Already
        });
    }
    if code(1) == "ConditionalCheckFailed" {
        return Err(LedgerError::NoRecordFor {
            payment_id: of.payment_id.to_string(),
            intent_id: of.intent_id.to_string(),
            currency: of.currency.to_string(),
        });
    }
    Err(unexplained(of.intent_id, reasons))
}
