//! What went wrong with one message, from any stage, with its class and reason.

use crate::inbound::{EnvelopeError, EventError, SignatureError};
use crate::ledger::LedgerError;
use crate::mode::{self, Mode};
use crate::reason::{FailureClass, Reason};
use crate::secrets::{BundleError, OpenError};
use crate::stripe::StripeApiError;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle names a key or issuer the loaded key set lacks and the set could not be
    /// re-read for it yet.
    #[error("{0}")]
    KeySetNotRechecked(String),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    #[error("PaymentIntent {intent_id} has no metadata.id naming its payment record")]
    NoPaymentId { intent_id: String },
    #[error(
        "PaymentIntent {intent_id} has succeeded but carries no amount_received: what was collected is unknown, so nothing is credited"
    )]
    MissingAmountReceived { intent_id: String },
    #[error(
        "event {event_id} was created {age_days} days ago, older than any delivery, resend or reconcile brings (60 days): a replay"
    )]
    StaleEvent { event_id: String, age_days: i64 },
    #[error(
        "subscriber's Stripe key is {}, this deployment runs in {deployment} mode",
        key.map_or("not a sk_/rk_ live or test key", |m| if m == Mode::Live { "a live key" } else { "a test key" })
    )]
    KeyMode { key: Option<Mode>, deployment: Mode },
    #[error("event {event_id} has livemode {}, the subscriber's key is {key}", mode::describe(*livemode))]
    EventMode {
        event_id: String,
        livemode: Option<bool>,
        key: Mode,
    },
    #[error("PaymentIntent {intent_id} has livemode {}, the subscriber's key is {key}", mode::describe(*livemode))]
    IntentMode {
        intent_id: String,
        livemode: Option<bool>,
        key: Mode,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(
        "PaymentIntent {intent_id} is not credited here yet and its {event_type} event is recent: retried, as its credit may be committing now"
    )]
    NotYetCredited {
        intent_id: String,
        event_type: String,
    },
}

impl From<OpenError> for ProcessError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Bundle(e) => ProcessError::Bundle(e),
            e @ OpenError::NotRechecked(..) => ProcessError::KeySetNotRechecked(e.to_string()),
        }
    }
}

impl ProcessError {
    pub fn class(&self) -> FailureClass {
        let transient = match self {
            ProcessError::KeySetNotRechecked(_) | ProcessError::NotYetCredited { .. } => true,
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
    pub fn reason(&self) -> Reason {
        match self {
            ProcessError::Envelope(_) => Reason::MalformedEnvelope,
            ProcessError::Bundle(BundleError::SubscriberMismatch { .. }) => Reason::ForeignBundle,
            ProcessError::Bundle(BundleError::UnsupportedVersion(_)) => {
                Reason::UnsupportedBundleVersion
            }
            ProcessError::Bundle(BundleError::Unsigned) => Reason::UnsignedBundle,
            ProcessError::Bundle(BundleError::UnknownIssuer(_)) => Reason::UnknownIssuer,
            ProcessError::Bundle(BundleError::BadIssuerSignature(_)) => Reason::BadBundleSignature,
            ProcessError::Bundle(_) => Reason::UnopenableBundle,
            ProcessError::KeySetNotRechecked(_) => Reason::KeySetNotRechecked,
            ProcessError::Signature(SignatureError::OutsideTolerance { .. }) => {
                Reason::ExpiredSignature
            }
            ProcessError::Signature(_) => Reason::BadSignature,
            ProcessError::Event(_) => Reason::MalformedBody,
            ProcessError::Stripe(StripeApiError::NotFound(_)) => Reason::PaymentIntentNotFound,
            ProcessError::Stripe(StripeApiError::Rejected { .. }) => Reason::StripeRejected,
            ProcessError::Stripe(_) => Reason::StripeUnavailable,
            ProcessError::NoPaymentId { .. } => Reason::NoPaymentId,
            ProcessError::MissingAmountReceived { .. } => Reason::MissingAmountReceived,
            ProcessError::StaleEvent { .. } => Reason::StaleEvent,
            ProcessError::KeyMode { .. } => Reason::KeyModeMismatch,
            ProcessError::EventMode { .. } => Reason::EventModeMismatch,
            ProcessError::IntentMode { .. } => Reason::IntentModeMismatch,
            ProcessError::Ledger(LedgerError::CurrencyMismatch { .. }) => Reason::CurrencyMismatch,
            ProcessError::Ledger(LedgerError::BadPaymentId(_)) => Reason::BadPaymentId,
            ProcessError::Ledger(LedgerError::Refused { .. } | LedgerError::NoRecordFor { .. }) => {
                Reason::LedgerRefused
            }
            ProcessError::Ledger(LedgerError::Conflict { .. } | LedgerError::Busy { .. }) => {
                Reason::LedgerBusy
            }
            ProcessError::Ledger(LedgerError::Misconfigured { .. }) => Reason::LedgerMisconfigured,
            ProcessError::Ledger(LedgerError::OutcomeUnknown { .. }) => {
                Reason::LedgerOutcomeUnknown
            }
            ProcessError::Ledger(LedgerError::Unavailable { .. }) => Reason::LedgerUnavailable,
            ProcessError::NotYetCredited { .. } => Reason::NotYetCredited,
        }
    }
}
