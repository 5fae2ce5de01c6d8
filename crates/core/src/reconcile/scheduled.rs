//! The scheduled reconcile: every configured subscriber, each from where its last complete run
//! got to, under the invocation's deadline, each given a share of it.

use std::time::Instant;

use crate::pipeline::Pipeline;
use crate::secrets::KeyRing;

use super::plan;
use super::{ReconcileError, Summary, Window, reconcile};

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

/// The scheduled reconcile: every configured subscriber, bundles read from SSM, each from
/// where its last complete run got to (less [`plan::OVERLAP_SECS`]; the last `window_hours` on
/// its first run) up to [`SETTLE_SECS`] ago. The subscriber waiting longest goes first, and each
/// turn gets an equal share of the time left before `deadline`: a turn cut short keeps its
/// checkpoint and goes first next time. A turn that read its window to the end with nothing
/// failed moves the checkpoint. One subscriber's failure does not stop the others; each ends
/// in one summary notice.
pub async fn scheduled(
    reconciler: &Reconciler,
    now_secs: i64,
    deadline: Instant,
    request_id: Option<&str>,
) -> Vec<SubscriberRun> {
    let schedule = &reconciler.schedule;
    let ledger = &reconciler.pipeline.ledger;
    let until = now_secs - SETTLE_SECS;
    let mut checkpoints = Vec::new();
    for subscriber in &schedule.subscribers {
        let checkpoint = match ledger.reconciled_until(subscriber).await {
            Ok(c) => c,
            Err(e) => {
                // Read from the whole window then: slower, never a gap.
                tracing::warn!(request_id, source = "reconcile", subscriber = subscriber.as_str(),
                    error = %e, "could not read where the last run got to; reading the whole window");
                None
            }
        };
        checkpoints.push((subscriber.clone(), checkpoint));
    }
    let turns = plan::order(checkpoints);
    let mut runs = Vec::new();
    for (i, (subscriber, checkpoint)) in turns.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let stop_at = Instant::now() + plan::share(left, turns.len() - i);
        let window = plan::window(*checkpoint, until, schedule.window_hours);
        let turn = scheduled_one(reconciler, subscriber, window, stop_at, request_id).await;
        let reached = turn.as_ref().ok().and_then(|(_, reached)| *reached);
        let result = turn.map(|(summary, _)| summary);
        let mut advanced = false;
        if let Some(reached) = reached {
            match ledger.set_reconciled_until(subscriber, reached).await {
                Ok(()) => advanced = true,
                Err(e) => tracing::warn!(request_id, source = "reconcile",
                    subscriber = subscriber.as_str(), error = %e,
                    "could not record where this run got to; the next one reads it again"),
            }
        }
        match &result {
            Ok(s) => tracing::info!(
                request_id,
                source = "reconcile",
                subscriber = subscriber.as_str(),
                outcome = "reconciled",
                since = window.since,
                until,
                cut = s.cut,
                checkpoint_moved = advanced,
                reached,
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

/// One subscriber's turn: its window slice by slice, oldest first, until the window's end or
/// `stop_at`. Returns what it did and how far it read without a failure that waiting may fix,
/// from the window's start: where the checkpoint may move to.
async fn scheduled_one(
    reconciler: &Reconciler,
    subscriber: &str,
    window: Window,
    stop_at: Instant,
    request_id: Option<&str>,
) -> Result<(Summary, Option<i64>), ReconcileError> {
    let bundle = crate::secrets::read_bundle_parameter(
        &reconciler.ssm,
        &reconciler.keys,
        &reconciler.schedule.parameter_prefix,
        subscriber,
    )
    .await?;
    let mut total = Summary::default();
    let mut reached = None;
    let mut contiguous = true;
    for slice in plan::slices(window) {
        let s = reconcile(
            &reconciler.pipeline,
            &bundle,
            slice,
            Some(stop_at),
            request_id,
            |_| {},
        )
        .await?;
        total.add(&s);
        if s.cut {
            break;
        }
        contiguous &= s.failed_for_now == 0;
        if contiguous {
            reached = slice.until;
        }
    }
    Ok((total, reached))
}

/// The scheduled function's parts: the pipeline, the key set the bundles open with, SSM where
/// the bundles are, and the schedule.
pub struct Reconciler {
    pub pipeline: Pipeline,
    pub keys: KeyRing,
    pub ssm: aws_sdk_ssm::Client,
    pub schedule: Schedule,
}
