//! The exactly-once credit: one DynamoDB transaction per PaymentIntent.
//!
//! The transaction puts an idempotency item keyed by (subscriber, PaymentIntent) on condition
//! that it does not exist, and in the same breath increments the payment record. Either both
//! happen or neither, so there is no "in progress" state to recover from: a crash before the
//! commit leaves nothing behind and the redelivery applies; a crash after it finds the item and
//! is a duplicate. Keying on the PaymentIntent (not the event or the SQS message) is what makes
//! `charge.succeeded`, `payment_intent.succeeded` and every redelivery of either count once.
//!
//! Payment records are keyed by (subscriber, payment id) so one tenant's `metadata.id` can never
//! touch another tenant's record. A missing record is created by the first credit (see README).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use crate::clock;

/// Longest `metadata.id` we accept: DynamoDB sort keys allow 1 KB, and ids are short in practice.
pub const MAX_PAYMENT_ID_LEN: usize = 256;

/// Table layout, shared with the template, the CLI and the tests.
pub mod schema {
    /// Payments table: partition key.
    pub const SUBSCRIBER: &str = "subscriber";
    /// Payments table: sort key, the PaymentIntent's `metadata.id`.
    pub const PAYMENT_ID: &str = "payment_id";
    /// Idempotency table: partition key, `<subscriber>#<PaymentIntent id>`.
    pub const IDEMPOTENCY_KEY: &str = "pk";
    /// Idempotency table: TTL attribute, epoch seconds.
    pub const EXPIRES_AT: &str = "expires_at";
}

/// One PaymentIntent's effect on the ledger.
#[derive(Debug, Clone)]
pub struct Credit<'a> {
    pub subscriber: &'a str,
    pub payment_id: &'a str,
    pub intent_id: &'a str,
    pub amount_received: i64,
    pub currency: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The payment record was incremented by this call.
    Credited,
    /// This PaymentIntent had already been credited; nothing changed.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "payment {payment_id} is recorded in {recorded}, PaymentIntent {intent_id} is in {currency}: not mixing currencies"
    )]
    CurrencyMismatch {
        payment_id: String,
        intent_id: String,
        currency: String,
        recorded: String,
    },
    #[error("payment id {0:?} is empty or longer than 256 bytes")]
    BadPaymentId(String),
    #[error("DynamoDB refused the credit for {intent_id}: {code}: {message}")]
    Refused {
        intent_id: String,
        code: String,
        message: String,
    },
    #[error("DynamoDB is unavailable for {intent_id}: {detail}")]
    Unavailable { intent_id: String, detail: String },
}

impl LedgerError {
    /// Throttling, conflicts with a concurrent transaction, service and network errors pass;
    /// a validation error or a currency mismatch will not.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

pub struct Ledger {
    client: Client,
    payments_table: String,
    idempotency_table: String,
    idempotency_ttl: Duration,
}

impl Ledger {
    pub fn new(
        client: Client,
        payments_table: String,
        idempotency_table: String,
        idempotency_ttl: Duration,
    ) -> Self {
        Ledger {
            client,
            payments_table,
            idempotency_table,
            idempotency_ttl,
        }
    }

    pub async fn apply(&self, credit: &Credit<'_>) -> Result<Applied, LedgerError> {
        if credit.payment_id.is_empty() || credit.payment_id.len() > MAX_PAYMENT_ID_LEN {
            return Err(LedgerError::BadPaymentId(credit.payment_id.to_string()));
        }
        let now = Duration::from_millis(clock::now_ms().max(0) as u64);
        let now_s = AttributeValue::S(clock::rfc3339(now.as_secs()));
        let s = |v: &str| AttributeValue::S(v.to_string());
        let n = |v: i64| AttributeValue::N(v.to_string());

        let claim = Put::builder()
            .table_name(&self.idempotency_table)
            .item(
                schema::IDEMPOTENCY_KEY,
                s(&format!("{}#{}", credit.subscriber, credit.intent_id)),
            )
            .item("subscriber", s(credit.subscriber))
            .item("payment_id", s(credit.payment_id))
            .item("payment_intent", s(credit.intent_id))
            .item("event_id", s(credit.event_id))
            .item("event_type", s(credit.event_type))
            .item("amount", n(credit.amount_received))
            .item("currency", s(credit.currency))
            .item("applied_at", now_s.clone())
            .item(
                schema::EXPIRES_AT,
                n((now + self.idempotency_ttl).as_secs() as i64),
            )
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", schema::IDEMPOTENCY_KEY)
            .build()
            .map_err(|e| self.refused(credit, "BuildError", e.to_string()))?;

        let increment = Update::builder()
            .table_name(&self.payments_table)
            .key(schema::SUBSCRIBER, s(credit.subscriber))
            .key(schema::PAYMENT_ID, s(credit.payment_id))
            .update_expression(
                "ADD paid :one, amount_received :amount \
                 SET currency = :currency, last_payment_intent = :pi, last_event_id = :evt, \
                 updated_at = :now, first_paid_at = if_not_exists(first_paid_at, :now)",
            )
            .condition_expression("attribute_not_exists(currency) OR currency = :currency")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":amount", n(credit.amount_received))
            .expression_attribute_values(":currency", s(credit.currency))
            .expression_attribute_values(":pi", s(credit.intent_id))
            .expression_attribute_values(":evt", s(credit.event_id))
            .expression_attribute_values(":now", now_s)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(|e| self.refused(credit, "BuildError", e.to_string()))?;

        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().update(increment).build())
            .send()
            .await;

        match result {
            Ok(_) => Ok(Applied::Credited),
            Err(SdkError::ServiceError(service)) => {
                let err = service.into_err();
                if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(ref cancel) = err {
                    let reasons = cancel.cancellation_reasons();
                    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
                    if code(0) == "ConditionalCheckFailed" {
                        return Ok(Applied::Duplicate);
                    }
                    if code(1) == "ConditionalCheckFailed" {
                        let recorded = reasons
                            .get(1)
                            .and_then(|r| r.item())
                            .and_then(|item| item.get("currency"))
                            .and_then(|v| v.as_s().ok())
                            .cloned()
                            .unwrap_or_else(|| "another currency".into());
                        return Err(LedgerError::CurrencyMismatch {
                            payment_id: credit.payment_id.to_string(),
                            intent_id: credit.intent_id.to_string(),
                            currency: credit.currency.to_string(),
                            recorded,
                        });
                    }
                    // TransactionConflict, ThrottlingError, ProvisionedThroughputExceeded…
                    let codes: Vec<&str> = (0..reasons.len().max(2)).map(code).collect();
                    return Err(LedgerError::Unavailable {
                        intent_id: credit.intent_id.to_string(),
                        detail: format!("transaction cancelled: {}", codes.join(", ")),
                    });
                }
                let code = err.code().unwrap_or("Unknown").to_string();
                let message = err.message().unwrap_or_default().to_string();
                if code == "ValidationException" {
                    Err(self.refused(credit, &code, message))
                } else {
                    Err(LedgerError::Unavailable {
                        intent_id: credit.intent_id.to_string(),
                        detail: format!("{code}: {message}"),
                    })
                }
            }
            // Timeouts, dispatch and response errors: the commit may or may not have happened,
            // and the retry will tell (it is a duplicate if it did).
            Err(other) => Err(LedgerError::Unavailable {
                intent_id: credit.intent_id.to_string(),
                detail: aws_sdk_dynamodb::error::DisplayErrorContext(other).to_string(),
            }),
        }
    }

    fn refused(&self, credit: &Credit<'_>, code: &str, message: String) -> LedgerError {
        LedgerError::Refused {
            intent_id: credit.intent_id.to_string(),
            code: code.to_string(),
            message,
        }
    }
}
