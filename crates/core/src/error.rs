//! The crate error for one message: what went wrong, whether trying again can help, and a
//! short stable reason code for logs and the dead-letter queue.

use crate::envelope::EnvelopeError;
use crate::event::EventError;
use crate::keyring::OpenError;
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
            ProcessError::KeySetNotRechecked(_) => true,
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
            ProcessError::Ledger(LedgerError::Refused { .. }) => Reason::LedgerRefused,
            ProcessError::Ledger(LedgerError::Conflict { .. } | LedgerError::Busy { .. }) => {
                Reason::LedgerBusy
            }
            ProcessError::Ledger(LedgerError::Misconfigured { .. }) => Reason::LedgerMisconfigured,
            ProcessError::Ledger(LedgerError::OutcomeUnknown { .. }) => {
                Reason::LedgerOutcomeUnknown
            }
            ProcessError::Ledger(LedgerError::Unavailable { .. }) => Reason::LedgerUnavailable,
        }
    }
}

/// Declares [`Reason`] once: each variant with its code, in the order operators read them.
macro_rules! reasons {
    ($($variant:ident => $code:literal,)*) => {
        /// Why a message failed: the closed set of codes the consumer writes to its notices and
        /// to the dead-letter queue's `failure-reason` attribute, and that
        /// `payhook dlq redrive --reason` takes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($variant,)*
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)*
                }
            }
        }
    };
}

reasons! {
    MalformedEnvelope => "malformed_envelope",
    UnopenableBundle => "unopenable_bundle",
    KeySetNotRechecked => "keyset_not_rechecked",
    UnsupportedBundleVersion => "unsupported_bundle_version",
    UnsignedBundle => "unsigned_bundle",
    UnknownIssuer => "unknown_issuer",
    BadBundleSignature => "bad_bundle_signature",
    ForeignBundle => "foreign_bundle",
    KeyModeMismatch => "key_mode_mismatch",
    BadSignature => "bad_signature",
    ExpiredSignature => "expired_signature",
    MalformedBody => "malformed_body",
    StaleEvent => "stale_event",
    EventModeMismatch => "event_mode_mismatch",
    PaymentIntentNotFound => "payment_intent_not_found",
    StripeRejected => "stripe_rejected",
    StripeUnavailable => "stripe_unavailable",
    IntentModeMismatch => "intent_mode_mismatch",
    MissingAmountReceived => "missing_amount_received",
    NoPaymentId => "no_payment_id",
    CurrencyMismatch => "currency_mismatch",
    BadPaymentId => "bad_payment_id",
    LedgerRefused => "ledger_refused",
    LedgerBusy => "ledger_busy",
    LedgerMisconfigured => "ledger_misconfigured",
    LedgerOutcomeUnknown => "ledger_outcome_unknown",
    LedgerUnavailable => "ledger_unavailable",
}

impl Reason {
    /// Failures anyone who can post to a webhook URL can cause (a wrong or replayed
    /// signature, a crafted header): kept apart from the dead letters an operator must act on.
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Reason::BadSignature | Reason::ExpiredSignature | Reason::MalformedEnvelope
        )
    }

    /// The reason a dead letter's `failure-reason` attribute names, if it is one of ours.
    pub fn parse(code: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == code)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error and its causes, `: `-joined. hyper's client errors say only "client error
/// (Connect)"; their causes say what happened.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_code_and_codes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for &r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert!(seen.insert(r.as_str()), "{r} twice");
        }
        assert_eq!(Reason::parse("bad_signatur"), None);
    }
}
