//! Reconcile: credit what Stripe says succeeded, from its events API, whether or not a webhook
//! ever reached the queue (a misconfigured endpoint, API Gateway failing, Stripe giving up after
//! three days and disabling the endpoint). Stripe lists the last 30 days of events.
//!
//! Each listed event goes through the same steps as a delivery after its signature check (the
//! events API is authenticated by the subscriber's own key, so what it lists is Stripe's): the
//! same mode, already credited?, the PaymentIntent's current state, the exactly-once ledger.
//! Already credited counts as such, so a run can be repeated at any time, as often as wanted.

use secrecy::SecretString;

use crate::inbound::{self, HANDLED_TYPES};
use crate::pipeline::ProcessError;
use crate::pipeline::{Account, MovedBy, Notice, Outcome, Pipeline};
use crate::reason::Reason;
use crate::secrets::Bundle;
use crate::secrets::KeyRing;
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
    /// Events that failed for now (Stripe or DynamoDB unavailable): the next run tries again.
    pub failed: usize,
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
/// each through `pipeline`; `progress` hears of each as it is done. Each event's notice carries
/// `request_id` (the Lambda invocation's, when the scheduled function runs it).
pub async fn reconcile(
    pipeline: &Pipeline,
    bundle: &Bundle,
    window: Window,
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
    for event_type in HANDLED_TYPES {
        let mut after: Option<String> = None;
        loop {
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
    }
}

fn raw_event_id(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_str::<IdOnly>(raw).ok().map(|e| e.id)
}

/// One JSON line per reconciled event, as the consumer logs one per message.
fn notice(request_id: Option<&str>, subscriber: &str, r: &Reconciled) {
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

/// The scheduled run's own settings, read from the environment by `crate::ops::schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// `SUBSCRIBERS`: comma-separated ids, the template's `Subscribers`.
    pub subscribers: Vec<String>,
    /// `SUBSCRIBER_PARAMETER_PREFIX`: each bundle is the SSM parameter `<prefix>/<id>/bundle`,
    /// the same one the webhook route resolves.
    pub parameter_prefix: String,
    /// `RECONCILE_WINDOW_HOURS`: how far back each run looks (default 72, Stripe's 3 days of
    /// webhook retries; at most 720, the 30 days Stripe keeps events).
    pub window_hours: u32,
}

/// Events newer than this are left to their webhooks, which are normally still on their way.
pub const SETTLE_SECS: i64 = 300;

/// One subscriber's scheduled run.
#[derive(Debug)]
pub struct SubscriberRun {
    pub subscriber: String,
    pub result: Result<Summary, ReconcileError>,
}

/// The scheduled reconcile: every configured subscriber, bundles read from SSM, over the last
/// `window_hours` up to [`SETTLE_SECS`] ago. One subscriber's failure does not stop the others;
/// each ends in one notice.
pub async fn scheduled(
    reconciler: &Reconciler,
    now_secs: i64,
    request_id: Option<&str>,
) -> Vec<SubscriberRun> {
    let schedule = &reconciler.schedule;
    let window = Window {
        since: now_secs - i64::from(schedule.window_hours) * 3600,
        until: Some(now_secs - SETTLE_SECS),
    };
    let mut runs = Vec::new();
    for subscriber in &schedule.subscribers {
        let result = scheduled_one(reconciler, subscriber, window, request_id).await;
        match &result {
            Ok(s) => tracing::info!(
                request_id,
                source = "reconcile",
                subscriber = subscriber.as_str(),
                outcome = "reconciled",
                events = s.events,
                credited = s.credited,
                already_credited = s.already_credited,
                refunded = s.refunded,
                disputed = s.disputed,
                ignored = s.ignored,
                unapplied = s.unapplied,
                failed = s.failed,
                "scheduled reconcile done"
            ),
            Err(e) => tracing::error!(
                request_id,
                source = "reconcile",
                subscriber = subscriber.as_str(),
                outcome = "reconcile_failed",
                error = %e,
                "scheduled reconcile failed for this subscriber"
            ),
        }
        runs.push(SubscriberRun {
            subscriber: subscriber.clone(),
            result,
        });
    }
    runs
}

async fn scheduled_one(
    reconciler: &Reconciler,
    subscriber: &str,
    window: Window,
    request_id: Option<&str>,
) -> Result<Summary, ReconcileError> {
    let bundle = crate::secrets::read_bundle_parameter(
        &reconciler.ssm,
        &reconciler.keys,
        &reconciler.schedule.parameter_prefix,
        subscriber,
    )
    .await?;
    reconcile(&reconciler.pipeline, &bundle, window, request_id, |_| {}).await
}

/// The scheduled function's parts: the pipeline, the key set the bundles open with, SSM where
/// the bundles are, and the schedule.
pub struct Reconciler {
    pub pipeline: Pipeline,
    pub keys: KeyRing,
    pub ssm: aws_sdk_ssm::Client,
    pub schedule: Schedule,
}
