//! Why a credit did not apply, and what each DynamoDB failure means for the message: transient
//! (the message comes back), or permanent (a validation error, another currency).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;

use super::{Applied, Credit, MAX_ATTEMPTS, credited_by};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    /// A refund of a credited PaymentIntent found no record of its credit's currency: the
    /// record was deleted or changed by hand.
    #[error(
        "refund of {intent_id}: payment {payment_id} has no record in {currency}, which its credit made"
    )]
    NoRecordFor {
        payment_id: String,
        intent_id: String,
        currency: String,
    },
    /// DynamoDB will refuse this request every time (a validation error).
    #[error("DynamoDB refused the credit for {intent_id}: {code}: {message}")]
    Refused {
        intent_id: String,
        code: String,
        message: String,
    },
    /// The transaction was cancelled for a conflict with a concurrent transaction on the same
    /// items, or throttled inside the transaction: retried in place, still there after
    /// [`MAX_ATTEMPTS`].
    #[error("DynamoDB cancelled the credit for {intent_id} {MAX_ATTEMPTS} times: {detail}")]
    Conflict { intent_id: String, detail: String },
    /// The table's capacity: the SDK has already retried it with its own backoff.
    #[error("DynamoDB is throttling the credit for {intent_id}: {detail}")]
    Busy { intent_id: String, detail: String },
    /// The table or the permissions are not what the function needs; fixing the deployment
    /// makes the same message succeed.
    #[error("DynamoDB cannot be used for {intent_id}: {code}: {message}")]
    Misconfigured {
        intent_id: String,
        code: String,
        message: String,
    },
    /// The commit may or may not have happened (no answer, or an internal error): the retry
    /// reads the item back and tells.
    #[error("DynamoDB's answer for {intent_id} was lost, the commit may have happened: {detail}")]
    OutcomeUnknown { intent_id: String, detail: String },
    /// The request did not reach DynamoDB.
    #[error("DynamoDB is unreachable for {intent_id}: {detail}")]
    Unavailable { intent_id: String, detail: String },
}

impl LedgerError {
    /// Whether the message should come back later; a validation error or a currency mismatch
    /// will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. }
                | Self::Busy { .. }
                | Self::Misconfigured { .. }
                | Self::OutcomeUnknown { .. }
                | Self::Unavailable { .. }
        )
    }

    /// The SDK retries throttling and 5xx answers itself, but not a cancelled transaction.
    pub(super) fn retries_in_place(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

pub(super) fn refused(intent_id: &str, code: &str, message: String) -> LedgerError {
    LedgerError::Refused {
        intent_id: intent_id.to_string(),
        code: code.to_string(),
        message,
    }
}

/// What a failed `TransactWriteItems` means. Item 0 is the idempotency claim, item 1 the
/// payment record's update.
pub fn classify_transaction<R>(
    credit: &Credit<'_>,
    error: SdkError<TransactWriteItemsError, R>,
) -> Result<Applied, LedgerError>
where
    R: std::fmt::Debug,
{
    let cancel = cancellation(credit.intent_id, error)?;
    let reasons = cancel.cancellation_reasons();
    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
    if code(0) == "ConditionalCheckFailed" {
        let by = reasons
            .first()
            .and_then(|r| r.item())
            .map(credited_by)
            .unwrap_or_else(|| credited_by(&HashMap::new()));
        return Ok(if by.message_id == credit.message_id {
            Applied::CreditedEarlier
        } else {
            Applied::Duplicate(by)
        });
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
    Err(unexplained(credit.intent_id, reasons))
}

/// The cancellation of a cancelled transaction; any other failure, classified.
pub(super) fn cancellation<R>(
    intent_id: &str,
    error: SdkError<TransactWriteItemsError, R>,
) -> Result<TransactionCanceledException, LedgerError>
where
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => match service.into_err() {
            TransactWriteItemsError::TransactionCanceledException(cancel) => Ok(cancel),
            other => Err(classify_code(intent_id, &other)),
        },
        other => Err(classify_other(intent_id, other)),
    }
}

/// A cancellation that no item's own condition explains: a request DynamoDB refuses, or
/// (TransactionConflict, ThrottlingError, ProvisionedThroughputExceeded) another transaction
/// or the table's capacity, both of which clear.
pub(super) fn unexplained(intent_id: &str, reasons: &[CancellationReason]) -> LedgerError {
    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
    let codes: Vec<&str> = (0..reasons.len().max(2)).map(code).collect();
    let detail = format!("transaction cancelled: {}", codes.join(", "));
    if codes.contains(&"ValidationError") {
        return refused(intent_id, "ValidationError", detail);
    }
    LedgerError::Conflict {
        intent_id: intent_id.to_string(),
        detail,
    }
}

/// A service error other than a cancelled transaction, by its code.
fn classify_code(intent_id: &str, error: &impl ProvideErrorMetadata) -> LedgerError {
    let code = error.code().unwrap_or("Unknown").to_string();
    let message = error.message().unwrap_or_default().to_string();
    let intent_id = intent_id.to_string();
    match code.as_str() {
        "ValidationException" | "SerializationException" => LedgerError::Refused {
            intent_id,
            code,
            message,
        },
        "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TransactionInProgressException" => LedgerError::Busy {
            intent_id,
            detail: format!("{code}: {message}"),
        },
        "AccessDeniedException"
        | "ResourceNotFoundException"
        | "UnrecognizedClientException"
        | "MissingAuthenticationTokenException" => LedgerError::Misconfigured {
            intent_id,
            code,
            message,
        },
        // InternalServerError and anything unknown: DynamoDB documents that a transaction
        // answered with a 500 may have been applied.
        _ => LedgerError::OutcomeUnknown {
            intent_id,
            detail: format!("{code}: {message}"),
        },
    }
}

/// Any failure of a DynamoDB call that is not a cancelled transaction.
pub(crate) fn classify_other<E, R>(intent_id: &str, error: SdkError<E, R>) -> LedgerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &error {
        SdkError::ServiceError(service) => classify_code(intent_id, service.err()),
        // The request left, no answer came: it may have been applied.
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => LedgerError::OutcomeUnknown {
            intent_id: intent_id.to_string(),
            detail: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
        },
        // No credentials or region: the deployment, not the message, needs fixing.
        SdkError::ConstructionFailure(_) => LedgerError::Misconfigured {
            intent_id: intent_id.to_string(),
            code: "ConstructionFailure".into(),
            message: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
        },
        _ => LedgerError::Unavailable {
            intent_id: intent_id.to_string(),
            detail: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
        },
    }
}
