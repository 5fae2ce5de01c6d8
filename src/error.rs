//! The crate error for one message: what went wrong, whether trying again can help, and a
//! short stable reason code for logs and the dead-letter queue.

use crate::envelope::EnvelopeError;
use crate::event::EventError;
use crate::ledger::LedgerError;
use crate::sealed::BundleError;
use crate::signature::SignatureError;
use crate::stripe_api::StripeApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// May succeed later: the message is retried (SQS redelivers it).
    Transient,
    /// Will fail the same way every time: the message goes to the dead-letter queue.
    Permanent,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::Permanent => "permanent",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    #[error("PaymentIntent {intent_id} has no metadata.id naming its payment record")]
    NoPaymentId { intent_id: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl ProcessError {
    pub fn class(&self) -> FailureClass {
        let transient = match self {
            ProcessError::Stripe(e) => e.is_transient(),
            ProcessError::Ledger(e) => e.is_transient(),
            _ => false,
        };
        if transient {
            FailureClass::Transient
        } else {
            FailureClass::Permanent
        }
    }

    /// A short, stable code: what an operator filters the dead-letter queue by.
    pub fn reason(&self) -> &'static str {
        match self {
            ProcessError::Envelope(_) => "malformed_envelope",
            ProcessError::Bundle(BundleError::SubscriberMismatch { .. }) => "foreign_bundle",
            ProcessError::Bundle(BundleError::UnsupportedVersion(_)) => {
                "unsupported_bundle_version"
            }
            ProcessError::Bundle(_) => "unopenable_bundle",
            ProcessError::Signature(SignatureError::OutsideTolerance { .. }) => "expired_signature",
            ProcessError::Signature(_) => "bad_signature",
            ProcessError::Event(_) => "malformed_body",
            ProcessError::Stripe(StripeApiError::NotFound(_)) => "payment_intent_not_found",
            ProcessError::Stripe(StripeApiError::Rejected { .. }) => "stripe_rejected",
            ProcessError::Stripe(_) => "stripe_unavailable",
            ProcessError::NoPaymentId { .. } => "no_payment_id",
            ProcessError::Ledger(LedgerError::CurrencyMismatch { .. }) => "currency_mismatch",
            ProcessError::Ledger(LedgerError::BadPaymentId(_)) => "bad_payment_id",
            ProcessError::Ledger(LedgerError::Refused { .. }) => "ledger_refused",
            ProcessError::Ledger(LedgerError::Unavailable { .. }) => "ledger_unavailable",
        }
    }
}
