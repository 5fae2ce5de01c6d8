//! What became of a message, and what was learnt of it on the way (its notice's fields).

use crate::ledger::CreditedBy;
use crate::reason::Reason;

/// How a message ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `recovered`: an earlier attempt of this message committed the credit and its answer was
    /// lost; this is the credit's notice.
    Credited {
        recovered: bool,
    },
    /// Another delivery credited this PaymentIntent.
    Duplicate(CreditedBy),
    /// A refund or dispute event of a credited PaymentIntent: `recorded` movements recorded now
    /// (refunds made or given back; disputes opened, funds withdrawn or reinstated, closed),
    /// `known` recorded before.
    Moved {
        by: MovedBy,
        recorded: usize,
        known: usize,
    },
    Ignored(String),
    /// Succeeded, but names no usable payment record: kept in the unapplied table for an
    /// operator to assign.
    Unapplied {
        reason: Reason,
        detail: String,
    },
}

/// What we learnt about a message on the way, for its notice, whatever the outcome.
#[derive(Debug, Default)]
pub struct Notice<'a> {
    pub subscriber: Option<&'a str>,
    /// When API Gateway received the delivery, epoch ms: what `payhook stack check` reads to
    /// see that the route's receive time is read as AWS writes it.
    pub received_at_ms: Option<i64>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub payment_intent: Option<String>,
    pub payment_id: Option<String>,
}

/// Which of Stripe's objects moved money on a credited payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovedBy {
    Refunds,
    Disputes,
}

impl MovedBy {
    /// The notice's outcome when something was recorded.
    pub fn outcome(self) -> &'static str {
        match self {
            MovedBy::Refunds => "refunded",
            MovedBy::Disputes => "disputed",
        }
    }
}
