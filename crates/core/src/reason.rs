//! The closed set of reasons a message fails with, and whether trying again can help: the
//! codes in notices, metrics and the dead-letter queue's `failure-reason` attribute.

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
    NotYetCredited => "not_yet_credited",
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
