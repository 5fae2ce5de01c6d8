//! Telling subscribers: the notifications credits owe (`crate::ledger::outbox` writes them),
//! signed per Standard Webhooks, posted to the subscriber's endpoint on a retry schedule, every
//! attempt kept as an audit row, dead-lettered with a reason when they cannot be delivered.

mod message;
mod notifier;
mod outbound;
mod settle;
mod store;

pub use message::{EVENT_TYPES, body, check_secret, generate_secret};
pub use notifier::{
    CONCURRENCY, DEFAULT_GIVE_UP_SECS, DEFAULT_RETRY_SECS, MAX_RETRY_SECS, Notifier,
    NotifierConfig, RunSummary,
};
pub use outbound::{Answer, Outbound, OutboundError, OutboundSetupError, Policy, is_public};
pub use settle::DeadReason;
pub use store::{Attempt, Next, Notification, Notifications, Recorded, StoreError};
