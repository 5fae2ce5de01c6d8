//! Money that cannot be applied by itself: a succeeded PaymentIntent that names no payment
//! record (normal for Invoices, Subscriptions, Payment Links, Dashboard payments), names one
//! kept in another currency, or names one that cannot be a record key. It is kept durably, with
//! its reason and the delivery it came from, until an operator assigns it to a payment
//! (`payhook unapplied apply`), which credits it through the same exactly-once ledger.
//!
//! One item per (subscriber, PaymentIntent): the first delivery's record stands, later ones of
//! the same PaymentIntent find it.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Applied, Credit, CreditedBy, Ledger, LedgerError, classify_other};
use crate::reason::Reason;
use crate::support::clock;
use crate::support::dynamo::{self, Item, ItemExt, ReadError};

/// Table layout, shared with the template and the tests.
pub mod schema {
    /// Partition key.
    pub const SUBSCRIBER: &str = "subscriber";
    /// Sort key: the PaymentIntent id.
    pub const PAYMENT_INTENT: &str = "payment_intent";
    /// `unapplied`, then `applied` once an operator assigned it.
    pub const STATUS: &str = "status";
}

/// A succeeded payment that could not be credited, as the consumer found it.
#[derive(Debug, Clone)]
pub struct UnappliedPayment<'a> {
    pub subscriber: &'a str,
    pub intent_id: &'a str,
    pub reason: Reason,
    pub detail: &'a str,
    pub amount_received: i64,
    pub currency: &'a str,
    /// The payment id the PaymentIntent named, if it named one.
    pub payment_id: Option<&'a str>,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The SQS message id, or the reconcile run's delivery id.
    pub delivery_id: &'a str,
}

/// Where a kept payment stands, as the table spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnappliedStatus {
    /// Kept, waiting for an operator (or for a later event naming its record).
    Unapplied,
    /// Assigned to a payment record and credited.
    Applied,
}

impl UnappliedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unapplied => "unapplied",
            Self::Applied => "applied",
        }
    }

    /// The status an item holds; anything unknown reads as unapplied, so it stays in view.
    fn parse(s: &str) -> Self {
        if s == Self::Applied.as_str() {
            Self::Applied
        } else {
            Self::Unapplied
        }
    }
}

/// A kept item, as an operator reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnappliedItem {
    pub subscriber: String,
    pub payment_intent: String,
    pub status: UnappliedStatus,
    pub reason: String,
    pub detail: String,
    pub amount_received: i64,
    pub currency: String,
    pub payment_id: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub delivery_id: String,
    pub recorded_at: String,
    pub applied_payment_id: Option<String>,
    pub applied_at: Option<String>,
}

pub struct Unapplied {
    client: Client,
    table: String,
}

impl Unapplied {
    pub fn new(client: Client, table: String) -> Self {
        Unapplied { client, table }
    }

    /// Keeps the payment, unless an earlier delivery of the same PaymentIntent already did.
    pub async fn keep(&self, p: &UnappliedPayment<'_>) -> Result<(), LedgerError> {
        let s = |v: &str| AttributeValue::S(v.to_string());
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(schema::SUBSCRIBER, s(p.subscriber))
            .item(schema::PAYMENT_INTENT, s(p.intent_id))
            .item(schema::STATUS, s(UnappliedStatus::Unapplied.as_str()))
            .item("reason", s(p.reason.as_str()))
            .item("detail", s(p.detail))
            .item(
                "amount_received",
                AttributeValue::N(p.amount_received.to_string()),
            )
            .item("currency", s(p.currency))
            .item("event_id", s(p.event_id))
            .item("event_type", s(p.event_type))
            .item("delivery_id", s(p.delivery_id))
            .item(
                "recorded_at",
                s(&clock::rfc3339((clock::now_ms() / 1000).max(0) as u64)),
            )
            .condition_expression("attribute_not_exists(#pi)")
            .expression_attribute_names("#pi", schema::PAYMENT_INTENT);
        if let Some(payment_id) = p.payment_id {
            put = put.item("payment_id", s(payment_id));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(classify_other(p.intent_id, e)),
        }
    }

    /// Every kept item, or one subscriber's.
    pub async fn list(&self, subscriber: Option<&str>) -> Result<Vec<UnappliedItem>, LedgerError> {
        let what = "the unapplied list";
        let items = dynamo::read(&self.client, &self.table, schema::SUBSCRIBER, subscriber)
            .await
            .map_err(|e| match e {
                ReadError::Query(e) => classify_other(what, e),
                ReadError::Scan(e) => classify_other(what, e),
            })?;
        Ok(items.iter().map(item).collect())
    }

    pub async fn get(
        &self,
        subscriber: &str,
        intent_id: &str,
    ) -> Result<Option<UnappliedItem>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(subscriber, intent_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify_other(intent_id, e))?;
        Ok(out.item().map(item))
    }

    /// Marks a kept payment credited to `payment_id`, if one is kept for this PaymentIntent;
    /// nothing when none is.
    pub async fn mark_applied_if_kept(
        &self,
        subscriber: &str,
        intent_id: &str,
        payment_id: &str,
    ) -> Result<(), LedgerError> {
        match self.mark(subscriber, intent_id, payment_id, true).await {
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            other => other.map_err(|e| classify_other(intent_id, e)),
        }
    }

    /// Records that the payment was assigned to `payment_id` and credited.
    pub async fn mark_applied(
        &self,
        subscriber: &str,
        intent_id: &str,
        payment_id: &str,
    ) -> Result<(), LedgerError> {
        self.mark(subscriber, intent_id, payment_id, false)
            .await
            .map_err(|e| classify_other(intent_id, e))
    }

    async fn mark(
        &self,
        subscriber: &str,
        intent_id: &str,
        payment_id: &str,
        only_if_kept: bool,
    ) -> Result<(), SdkError<UpdateItemError, HttpResponse>> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(subscriber, intent_id)))
            .update_expression("SET #st = :applied, applied_payment_id = :p, applied_at = :now")
            .expression_attribute_names("#st", schema::STATUS)
            .expression_attribute_values(
                ":applied",
                AttributeValue::S(UnappliedStatus::Applied.as_str().into()),
            )
            .expression_attribute_values(":p", AttributeValue::S(payment_id.to_string()))
            .expression_attribute_values(
                ":now",
                AttributeValue::S(clock::rfc3339((clock::now_ms() / 1000).max(0) as u64)),
            );
        if only_if_kept {
            update = update
                .condition_expression("attribute_exists(#pi)")
                .expression_attribute_names("#pi", schema::PAYMENT_INTENT);
        }
        update.send().await.map(|_| ())
    }
}

/// An item's key: (subscriber, PaymentIntent).
fn key(subscriber: &str, intent_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            schema::SUBSCRIBER.to_string(),
            AttributeValue::S(subscriber.to_string()),
        ),
        (
            schema::PAYMENT_INTENT.to_string(),
            AttributeValue::S(intent_id.to_string()),
        ),
    ])
}

fn item(i: &Item) -> UnappliedItem {
    let text = |k: &str| i.text(k);
    UnappliedItem {
        subscriber: text(schema::SUBSCRIBER).unwrap_or_default(),
        payment_intent: text(schema::PAYMENT_INTENT).unwrap_or_default(),
        status: UnappliedStatus::parse(&text(schema::STATUS).unwrap_or_default()),
        reason: text("reason").unwrap_or_default(),
        detail: text("detail").unwrap_or_default(),
        amount_received: i.number("amount_received").unwrap_or_default(),
        currency: text("currency").unwrap_or_default(),
        payment_id: text("payment_id"),
        event_id: text("event_id").unwrap_or_default(),
        event_type: text("event_type").unwrap_or_default(),
        delivery_id: text("delivery_id").unwrap_or_default(),
        recorded_at: text("recorded_at").unwrap_or_default(),
        applied_payment_id: text("applied_payment_id"),
        applied_at: text("applied_at"),
    }
}

/// A kept payment as an operator sees it: the item, and who credited its PaymentIntent since,
/// when the ledger says so (a later event named its record by itself).
#[derive(Debug, Clone)]
pub struct KeptPayment {
    pub item: UnappliedItem,
    pub credited_since: Option<CreditedBy>,
}

/// The kept payments of one subscriber or all, each with what the ledger says since.
pub async fn kept_payments(
    unapplied: &Unapplied,
    ledger: &Ledger,
    subscriber: Option<&str>,
) -> Result<Vec<KeptPayment>, LedgerError> {
    let mut out = Vec::new();
    for item in unapplied.list(subscriber).await? {
        let credited_since = match item.status {
            UnappliedStatus::Unapplied => {
                ledger
                    .credited_by(&item.subscriber, &item.payment_intent)
                    .await?
            }
            UnappliedStatus::Applied => None,
        };
        out.push(KeptPayment {
            item,
            credited_since,
        });
    }
    Ok(out)
}

/// What assigning a kept payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// Credited to the record named, now (or by this same assignment's earlier attempt).
    Credited,
    /// Its PaymentIntent was credited already (by the event that credited it, named here);
    /// nothing changed, and the item is marked with that record.
    AlreadyCredited(CreditedBy),
}

#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error("{subscriber}/{intent_id} is not an unapplied payment")]
    NotKept {
        subscriber: String,
        intent_id: String,
    },
    #[error("{subscriber}/{intent_id} is already applied (to {to})")]
    AlreadyApplied {
        subscriber: String,
        intent_id: String,
        to: String,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The kept payment, if it is still to be assigned: never kept, or applied already, is
/// refused.
pub async fn kept_to_assign(
    unapplied: &Unapplied,
    subscriber: &str,
    intent_id: &str,
) -> Result<UnappliedItem, AssignError> {
    let item = unapplied
        .get(subscriber, intent_id)
        .await?
        .ok_or_else(|| AssignError::NotKept {
            subscriber: subscriber.to_string(),
            intent_id: intent_id.to_string(),
        })?;
    if item.status == UnappliedStatus::Applied {
        return Err(AssignError::AlreadyApplied {
            subscriber: subscriber.to_string(),
            intent_id: intent_id.to_string(),
            to: item
                .applied_payment_id
                .clone()
                .unwrap_or_else(|| "-".into()),
        });
    }
    Ok(item)
}

/// Credits a kept payment through the exactly-once ledger (what `credit` says is what Stripe
/// reports now), then marks it applied: a second assignment is refused, and a PaymentIntent
/// credited since, however long ago, changes nothing (the ledger never forgets a credit).
pub async fn assign(
    unapplied: &Unapplied,
    ledger: &Ledger,
    credit: &Credit<'_>,
) -> Result<Assigned, AssignError> {
    let applied = ledger.apply(credit).await?;
    let (assigned, credited_to) = match applied {
        Applied::Duplicate(by) => {
            let to = by.payment_id.clone();
            (Assigned::AlreadyCredited(by), to)
        }
        Applied::Credited | Applied::CreditedEarlier => {
            (Assigned::Credited, credit.payment_id.to_string())
        }
    };
    unapplied
        .mark_applied(credit.subscriber, credit.intent_id, &credited_to)
        .await?;
    Ok(assigned)
}
