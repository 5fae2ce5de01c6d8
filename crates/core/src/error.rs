//! The crate error for one message: what went wrong, whether trying again can help, and a
//! short stable reason code for logs and the dead-letter queue.

use crate::envelope::EnvelopeError;
use crate::event::EventError;
use crate::ledger::LedgerError;
use crate::mode::{self, Mode};
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
            ProcessError::Signature(SignatureError::OutsideTolerance { .. }) => {
                Reason::ExpiredSignature
            }
            ProcessError::Signature(_) => Reason::BadSignature,
            ProcessError::Event(_) => Reason::MalformedBody,
            ProcessError::Stripe(StripeApiError::NotFound(_)) => Reason::PaymentIntentNotFound,
            ProcessError::Stripe(StripeApiError::Rejected { .. }) => Reason::StripeRejected,
            ProcessError::Stripe(_) => Reason::StripeUnavailable,
            ProcessError::NoPaymentId { .. } => Reason::NoPaymentId,
            ProcessError::KeyMode { .. } => Reason::KeyModeMismatch,
            ProcessError::EventMode { .. } => Reason::EventModeMismatch,
            ProcessError::IntentMode { .. } => Reason::IntentModeMismatch,
            ProcessError::Ledger(LedgerError::CurrencyMismatch { .. }) => Reason::CurrencyMismatch,
            ProcessError::Ledger(LedgerError::BadPaymentId(_)) => Reason::BadPaymentId,
            ProcessError::Ledger(LedgerError::Refused { .. }) => Reason::LedgerRefused,
            ProcessError::Ledger(LedgerError::Unavailable { .. }) => Reason::LedgerUnavailable,
        }
    }
}

/// Why a message failed: the closed set of codes the consumer writes to its notices and to the
/// dead-letter queue's `failure-reason` attribute, and that `payhook dlq redrive --reason` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    MalformedEnvelope,
    ForeignBundle,
    UnsupportedBundleVersion,
    UnopenableBundle,
    UnsignedBundle,
    UnknownIssuer,
    BadBundleSignature,
    KeyModeMismatch,
    EventModeMismatch,
    IntentModeMismatch,
    ExpiredSignature,
    BadSignature,
    MalformedBody,
    PaymentIntentNotFound,
    StripeRejected,
    StripeUnavailable,
    NoPaymentId,
    CurrencyMismatch,
    BadPaymentId,
    LedgerRefused,
    LedgerUnavailable,
}

impl Reason {
    pub const ALL: [Reason; 21] = [
        Reason::MalformedEnvelope,
        Reason::ForeignBundle,
        Reason::UnsupportedBundleVersion,
        Reason::UnopenableBundle,
        Reason::UnsignedBundle,
        Reason::UnknownIssuer,
        Reason::BadBundleSignature,
        Reason::KeyModeMismatch,
        Reason::EventModeMismatch,
        Reason::IntentModeMismatch,
        Reason::ExpiredSignature,
        Reason::BadSignature,
        Reason::MalformedBody,
        Reason::PaymentIntentNotFound,
        Reason::StripeRejected,
        Reason::StripeUnavailable,
        Reason::NoPaymentId,
        Reason::CurrencyMismatch,
        Reason::BadPaymentId,
        Reason::LedgerRefused,
        Reason::LedgerUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedEnvelope => "malformed_envelope",
            Reason::ForeignBundle => "foreign_bundle",
            Reason::UnsupportedBundleVersion => "unsupported_bundle_version",
            Reason::UnopenableBundle => "unopenable_bundle",
            Reason::UnsignedBundle => "unsigned_bundle",
            Reason::UnknownIssuer => "unknown_issuer",
            Reason::BadBundleSignature => "bad_bundle_signature",
            Reason::KeyModeMismatch => "key_mode_mismatch",
            Reason::EventModeMismatch => "event_mode_mismatch",
            Reason::IntentModeMismatch => "intent_mode_mismatch",
            Reason::ExpiredSignature => "expired_signature",
            Reason::BadSignature => "bad_signature",
            Reason::MalformedBody => "malformed_body",
            Reason::PaymentIntentNotFound => "payment_intent_not_found",
            Reason::StripeRejected => "stripe_rejected",
            Reason::StripeUnavailable => "stripe_unavailable",
            Reason::NoPaymentId => "no_payment_id",
            Reason::CurrencyMismatch => "currency_mismatch",
            Reason::BadPaymentId => "bad_payment_id",
            Reason::LedgerRefused => "ledger_refused",
            Reason::LedgerUnavailable => "ledger_unavailable",
        }
    }

    /// The reason a dead letter's `failure-reason` attribute names, if it is one of ours.
    pub fn parse(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_code_and_codes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert!(seen.insert(r.as_str()), "{r} twice");
        }
        assert_eq!(Reason::parse("bad_signatur"), None);
    }
}
