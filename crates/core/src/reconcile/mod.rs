//! Reconcile: credit what Stripe says succeeded, from its events API, whether or not a webhook
//! ever reached the queue (a misconfigured endpoint, API Gateway failing, Stripe giving up after
//! three days and disabling the endpoint). Stripe lists the last 30 days of events.
//!
//! Each listed event goes through the same steps as a delivery after its signature check (the
//! events API is authenticated by the subscriber's own key, so what it lists is Stripe's): the
//! same mode, already credited?, the PaymentIntent's current state, the exactly-once ledger.
//! Already credited counts as such, so a run can be repeated at any time, as often as wanted.

mod plan;
mod scheduled;

use std::time::Instant;

use secrecy::SecretString;

pub use plan::OVERLAP_SECS;
pub use scheduled::{Reconciler, SETTLE_SECS, Schedule, SubscriberRun, scheduled};

use crate::inbound::{self, HANDLED_TYPES};
use crate::pipeline::ProcessError;
use crate::pipeline::{Account, MovedBy, Notice, Outcome, Pipeline};
use crate::reason::Reason;
use crate::secrets::Bundle;
use crate::stripe::{EventQuery, StripeApiError};
use crate::support::clock;

/// Which events: created in `[since, until]`, epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: i64,
    pub until: Option<i64>,
}

/// What a run did, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub events: usize,
    pub credited: usize,
    pub already_credited: usize,
    /// Refund events whose movements were recorded now.
    pub refunded: usize,
    /// Dispute events whose movements were recorded now.
    pub disputed: usize,
    pub ignored: usize,
    /// Succeeded payments that cannot be credited by themselves (no payment id, another
    /// currency): kept in the unapplied table like a delivery's; or no amount received.
    pub unapplied: usize,
    /// Events that failed (Stripe or DynamoDB unavailable, or a refusal such as no
    /// `amount_received`): the next run tries them again.
    pub failed: usize,
    /// Of those, the ones that may succeed by waiting (Stripe or DynamoDB unavailable): a
    /// scheduled run does not move its checkpoint past them.
    pub failed_for_now: usize,
    /// The run reached its deadline before the window's end: what it did stands, the rest is
    /// the next run's.
    pub cut: bool,
}

impl Summary {
    /// Adds another run's counts; cut if either was.
    pub fn add(&mut self, other: &Summary) {
        self.events += other.events;
        self.credited += other.credited;
        self.already_credited += other.already_credited;
        self.refunded += other.refunded;
        self.disputed += other.disputed;
        self.ignored += other.ignored;
        self.unapplied += other.unapplied;
        self.failed += other.failed;
        self.failed_for_now += other.failed_for_now;
        self.cut |= other.cut;
    }
}

/// What became of one listed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileOutcome {
    Credited,
    /// Credited before (by its webhook, or an earlier run); for a refund event, every
    /// movement recorded before.
    AlreadyCredited,
    /// A refund event whose movements were recorded now.
    Refunded,
    /// A dispute event whose movements were recorded now.
    Disputed,
    Ignored,
    /// Succeeded, but names no usable payment record: kept as unapplied money.
    Unapplied,
    /// Not applied; its reason says why, and the next run tries it again.
    Failed,
}

impl ReconcileOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credited => "credited",
            Self::AlreadyCredited => "already_credited",
            Self::Refunded => "refunded",
            Self::Disputed => "disputed",
            Self::Ignored => "ignored",
            Self::Unapplied => "unapplied",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ReconcileOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One listed event and what became of it.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub event_id: String,
    pub event_type: String,
    pub payment_intent: Option<String>,
    pub payment_id: Option<String>,
    pub outcome: ReconcileOutcome,
    pub reason: Option<Reason>,
    pub detail: Option<String>,
    /// A failure that may succeed by waiting.
    pub for_now: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("subscriber {subscriber}: {source}")]
    Key {
        subscriber: String,
        source: ProcessError,
    },
    #[error("subscriber {subscriber}: listing events failed: {source}")]
    Listing {
        subscriber: String,
        source: StripeApiError,
    },
    /// The scheduled run reads the subscriber's bundle from SSM first.
    #[error(transparent)]
    Bundle(#[from] crate::secrets::BundleParameterError),
}

/// Lists the subscriber's events of the handled types in `window` (every page) and applies
/// each through `pipeline`; `progress` hears of each as it is done. At `stop_at`, if given, it
/// stops before the next event and says so (`Summary::cut`). What changed or failed is logged
/// with `request_id` (the Lambda invocation's, when the scheduled function runs it).
pub async fn reconcile(
    pipeline: &Pipeline,
    bundle: &Bundle,
    window: Window,
    stop_at: Option<Instant>,
    request_id: Option<&str>,
    mut progress: impl FnMut(&Reconciled),
) -> Result<Summary, ReconcileError> {
    let subscriber = bundle.subscriber.as_str();
    let key = &bundle.stripe_api_key;
    let key_mode = pipeline
        .key_mode(key)
        .map_err(|source| ReconcileError::Key {
            subscriber: subscriber.to_string(),
            source,
        })?;
    // The ledger records this as the crediting delivery; per run, so that a later run
    // finding the credit reads it as already credited, not as its own lost answer.
    let run = format!("reconcile-{}", clock::now_ms());
    let mut summary = Summary::default();
    let out_of_time = || stop_at.is_some_and(|at| Instant::now() >= at);
    for event_type in HANDLED_TYPES {
        let mut after: Option<String> = None;
        loop {
            if out_of_time() {
                summary.cut = true;
                return Ok(summary);
            }
            let page = pipeline
                .stripe
                .events(
                    key,
                    &EventQuery {
                        event_type,
                        since: window.since,
                        until: window.until,
                        starting_after: after.as_deref(),
                    },
                )
                .await
                .map_err(|source| ReconcileError::Listing {
                    subscriber: subscriber.to_string(),
                    source,
                })?;
            for raw in &page.data {
                if out_of_time() {
                    summary.cut = true;
                    return Ok(summary);
                }
                let done =
                    reconcile_one(pipeline, subscriber, key, key_mode, raw.get(), &run).await;
                summary.events += 1;
                match done.outcome {
                    ReconcileOutcome::Credited => summary.credited += 1,
                    ReconcileOutcome::AlreadyCredited => summary.already_credited += 1,
                    ReconcileOutcome::Refunded => summary.refunded += 1,
                    ReconcileOutcome::Disputed => summary.disputed += 1,
                    ReconcileOutcome::Ignored => summary.ignored += 1,
                    ReconcileOutcome::Unapplied => summary.unapplied += 1,
                    ReconcileOutcome::Failed => summary.failed += 1,
                }
                if done.for_now {
                    summary.failed_for_now += 1;
                }
                notice(request_id, subscriber, &done);
                progress(&done);
                after = Some(done.event_id);
            }
            if !page.has_more || page.data.is_empty() {
                break;
            }
        }
    }
    Ok(summary)
}

async fn reconcile_one(
    pipeline: &Pipeline,
    subscriber: &str,
    key: &SecretString,
    key_mode: crate::mode::Mode,
    raw: &str,
    run: &str,
) -> Reconciled {
    let mut notice = Notice::default();
    let result = match inbound::parse_event(raw) {
        Ok(event) => {
            let delivery_id = format!("{run}:{}", event.id);
            pipeline
                .apply_event(
                    Account {
                        subscriber,
                        api_key: key,
                        key_mode,
                    },
                    event,
                    &delivery_id,
                    &mut notice,
                )
                .await
        }
        Err(e) => Err(ProcessError::Event(e)),
    };
    let for_now = result
        .as_ref()
        .is_err_and(|e| e.class() == crate::reason::FailureClass::Transient);
    let (outcome, reason, detail) = match result {
        Ok(Outcome::Credited { .. }) => (ReconcileOutcome::Credited, None, None),
        Ok(Outcome::Duplicate(_)) => (ReconcileOutcome::AlreadyCredited, None, None),
        Ok(Outcome::Moved {
            by: MovedBy::Refunds,
            recorded,
            ..
        }) if recorded > 0 => (ReconcileOutcome::Refunded, None, None),
        Ok(Outcome::Moved {
            by: MovedBy::Disputes,
            recorded,
            ..
        }) if recorded > 0 => (ReconcileOutcome::Disputed, None, None),
        Ok(Outcome::Moved { .. }) => (ReconcileOutcome::AlreadyCredited, None, None),
        Ok(Outcome::Ignored(why)) => (ReconcileOutcome::Ignored, None, Some(why)),
        Ok(Outcome::Unapplied { reason, detail }) => {
            (ReconcileOutcome::Unapplied, Some(reason), Some(detail))
        }
        Err(e) => (
            ReconcileOutcome::Failed,
            Some(e.reason()),
            Some(e.to_string()),
        ),
    };
    Reconciled {
        // A listed event always has its id; keep the page moving if one did not parse.
        event_id: notice
            .event_id
            .or_else(|| raw_event_id(raw))
            .unwrap_or_default(),
        event_type: notice.event_type.unwrap_or_default(),
        payment_intent: notice.payment_intent,
        payment_id: notice.payment_id,
        outcome,
        reason,
        detail,
        for_now,
    }
}

fn raw_event_id(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_str::<IdOnly>(raw).ok().map(|e| e.id)
}

/// One JSON line per event the run changed something for or failed on, as the consumer logs
/// one per message; what was already credited or is ignored counts in the run's summary only,
/// so an hourly run over a busy subscriber does not log every event it reads again.
fn notice(request_id: Option<&str>, subscriber: &str, r: &Reconciled) {
    if matches!(
        r.outcome,
        ReconcileOutcome::AlreadyCredited | ReconcileOutcome::Ignored
    ) {
        return;
    }
    let reason = r.reason.map(Reason::as_str);
    tracing::info!(
        request_id,
        source = "reconcile",
        subscriber,
        event_id = r.event_id.as_str(),
        event_type = r.event_type.as_str(),
        payment_intent = r.payment_intent.as_deref(),
        payment_id = r.payment_id.as_deref(),
        outcome = r.outcome.as_str(),
        reason,
        detail = r.detail.as_deref(),
        "reconciled"
    );
}
