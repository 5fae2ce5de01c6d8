//! Delivers the due `payment.credited` notifications: signed per Standard Webhooks with the
//! subscriber's secret from their bundle, POSTed to their endpoint, each attempt kept in the
//! audit trail, failures retried on the schedule and dead-lettered with their reason once the
//! retry window has passed.
//!
//! Runs on a schedule (every minute in the template) over the notifications table's `due`
//! index, so it needs nothing from the consumer but the item the credit's transaction wrote.
//! Bundles are read from the same SSM parameters the webhook route uses: the endpoint and
//! secret in force now are used, also for a notification owed since before a reseal.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageAttributeValue;
use futures_util::stream::{self, StreamExt};
use secrecy::ExposeSecret;

use super::settle::{self, DeadReason, Decided, Schedule, Step, Target};
use super::{Answer, Outbound, OutboundError};
use super::{Attempt, Next, Notification, Notifications, Recorded, StoreError};
use crate::ledger::{AttemptOutcome, RecordTotals};
use crate::mode::Mode;
use crate::secrets::{BundleParameterError, KeyRing};
use crate::support::clock;

/// +10 min, +1 h, +3 h, +1 day after each failed attempt, the last repeating: daily.
pub const DEFAULT_RETRY_SECS: [u64; 4] = [600, 3_600, 10_800, 86_400];
/// The longest wait between attempts that may be configured: 30 days.
pub const MAX_RETRY_SECS: u64 = 30 * 86_400;
/// No attempt later than this after the first: then the notification is dead-lettered.
pub const DEFAULT_GIVE_UP_SECS: u64 = 7 * 86_400;
/// A taken notification is not taken again by an overlapping run for this long; far more than
/// one attempt's timeout.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Due notifications read per query.
const PAGE: i32 = 25;
/// Attempts in flight at once.
pub const CONCURRENCY: usize = 8;

/// The notifier's settings, read from the environment by `crate::ops::notifier_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierConfig {
    /// `PAYHOOK_MODE`: a live notifier calls only https endpoints at public addresses.
    pub mode: Mode,
    pub notifications_table: String,
    /// `PAYMENTS_TABLE`: read for the record's paid count.
    pub payments_table: String,
    pub keyset_secret_id: String,
    /// `SUBSCRIBER_PARAMETER_PREFIX`: bundles are `<prefix>/<id>/bundle`.
    pub parameter_prefix: String,
    /// `NOTIFICATION_DLQ_URL`: where notifications that could not be delivered go, with their
    /// reason.
    pub dead_letter_queue_url: String,
    /// Only https to public addresses: in live mode, and whenever running in Lambda, where
    /// loopback and link-local reach the runtime API and the instance metadata.
    pub public_https_only: bool,
    /// `NOTIFY_RETRY_SECS`: delays after each failed attempt, comma-separated; the last repeats.
    pub retry_secs: Vec<u64>,
    /// `NOTIFY_GIVE_UP_SECS`: how long after the first attempt retries go on.
    pub give_up_secs: u64,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// `PAYHOOK_AWS_ENDPOINT_URL`: local emulators only.
    pub aws_endpoint_url: Option<String>,
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead_lettered: usize,
    /// The subscriber's bundle names no endpoint: settled without a request.
    pub not_notified: usize,
    /// Due when this run read them, but claimed by an overlapping run first: left to it.
    pub taken: usize,
    /// Could not be attempted, recorded or moved to the DLQ this run (DynamoDB or SQS
    /// trouble); still due.
    pub failed: usize,
}

/// How one notification's turn in a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Settled(Next),
    /// To be dead-lettered, but the DLQ refused it: stays due, and the run fails so it alarms.
    DeadLetterFailed,
    /// Another run holds it.
    Taken,
}

pub struct Notifier {
    pub store: Notifications,
    dynamodb: aws_sdk_dynamodb::Client,
    payments_table: String,
    keys: KeyRing,
    ssm: aws_sdk_ssm::Client,
    parameter_prefix: String,
    sqs: aws_sdk_sqs::Client,
    dead_letter_queue_url: String,
    outbound: Outbound,
    retry_secs: Vec<u64>,
    give_up_ms: i64,
}

impl Notifier {
    pub fn new(
        config: &NotifierConfig,
        aws: &aws_config::SdkConfig,
        keys: KeyRing,
    ) -> Result<Self, crate::notifications::OutboundSetupError> {
        let policy = if config.public_https_only {
            crate::notifications::Policy::PublicHttpsOnly
        } else {
            crate::notifications::Policy::Any
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        Ok(Notifier {
            store: Notifications::new(dynamodb.clone(), config.notifications_table.clone()),
            dynamodb,
            payments_table: config.payments_table.clone(),
            keys,
            ssm: aws_sdk_ssm::Client::new(aws),
            parameter_prefix: config.parameter_prefix.clone(),
            sqs: aws_sdk_sqs::Client::new(aws),
            dead_letter_queue_url: config.dead_letter_queue_url.clone(),
            outbound: Outbound::new(policy, config.connect_timeout, config.timeout)?,
            retry_secs: config.retry_secs.clone(),
            give_up_ms: config.give_up_secs as i64 * 1000,
        })
    }

    /// Attempts every notification due at `now_ms` once. `now_ms` decides what is due and
    /// when the next attempt is; the signature's timestamp is the real time of sending.
    pub async fn run_due(&self, now_ms: i64, request_id: Option<&str>) -> RunSummary {
        self.run_due_until(now_ms, None, request_id).await
    }

    /// The same, starting no attempt after `deadline`: what is left stays due for the next
    /// run, instead of being cut off mid-attempt by the function timeout with no audit row.
    /// Up to [`CONCURRENCY`] attempts at once, so one slow endpoint does not hold the others.
    pub async fn run_due_until(
        &self,
        now_ms: i64,
        deadline: Option<Instant>,
        request_id: Option<&str>,
    ) -> RunSummary {
        let mut summary = RunSummary::default();
        let started = Instant::now();
        let mut targets: HashMap<String, Result<Option<Target>, BundleParameterError>> =
            HashMap::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        while deadline.is_none_or(|d| Instant::now() < d) {
            let due = match self.store.due(now_ms, PAGE).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(request_id, source = "notifier", error = %e, "cannot read due notifications");
                    summary.failed += 1;
                    break;
                }
            };
            let fresh: Vec<Notification> = due
                .into_iter()
                .filter(|n| seen.insert((n.subscriber.clone(), n.id.clone())))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for n in &fresh {
                if !targets.contains_key(&n.subscriber) {
                    let target = self.target(&n.subscriber).await;
                    targets.insert(n.subscriber.clone(), target);
                }
            }
            let targets = &targets;
            let results: Vec<(Notification, Option<Result<Ran, StoreError>>)> = stream::iter(fresh)
                .map(|n| async move {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return (n, None);
                    }
                    let target = targets.get(&n.subscriber);
                    // The audit row says when the request went out, on `now_ms`'s clock.
                    let at_ms = now_ms + started.elapsed().as_millis() as i64;
                    let result = self
                        .attempt(
                            &n,
                            target.and_then(|t| t.as_ref().ok()).map(Option::as_ref),
                            target
                                .and_then(|t| t.as_ref().err())
                                .map(ToString::to_string),
                            now_ms,
                            at_ms,
                            request_id,
                        )
                        .await;
                    (n, Some(result))
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (n, result) in results {
                match result {
                    None => {}
                    Some(Ok(Ran::Taken)) => summary.taken += 1,
                    Some(Ok(Ran::Settled(Next::Delivered))) => summary.delivered += 1,
                    Some(Ok(Ran::Settled(Next::RetryAt(_)))) => summary.retrying += 1,
                    Some(Ok(Ran::Settled(Next::DeadLettered))) => summary.dead_lettered += 1,
                    Some(Ok(Ran::Settled(Next::NotNotified))) => summary.not_notified += 1,
                    Some(Ok(Ran::DeadLetterFailed)) => summary.failed += 1,
                    Some(Err(e)) => {
                        tracing::error!(
                            request_id,
                            source = "notifier",
                            subscriber = n.subscriber.as_str(),
                            notification_id = n.id.as_str(),
                            error = %e,
                            "notification not settled this run; it stays due"
                        );
                        summary.failed += 1;
                    }
                }
            }
        }
        summary
    }

    /// The subscriber's current endpoint, from their bundle in SSM: `Ok(None)` when it has
    /// none, `Err` when the bundle cannot be read or opened (retried: an operator can fix it).
    async fn target(&self, subscriber: &str) -> Result<Option<Target>, BundleParameterError> {
        let bundle = crate::secrets::read_bundle_parameter(
            &self.ssm,
            &self.keys,
            &self.parameter_prefix,
            subscriber,
        )
        .await?;
        Ok(bundle.notify.map(|notify| Target {
            signer: crate::notifications::check_secret(notify.secret.expose_secret())
                .map_err(str::to_string)
                .and_then(|()| {
                    standardwebhooks::Webhook::new(notify.secret.expose_secret())
                        .map_err(|e| e.to_string())
                }),
            url: notify.url,
        }))
    }

    /// The record's sums, read once when the body is first built.
    async fn totals(&self, n: &Notification) -> Result<Option<RecordTotals>, StoreError> {
        crate::ledger::record_totals(
            &self.dynamodb,
            &self.payments_table,
            &n.subscriber,
            &n.payment_id,
        )
        .await
        .map_err(|e| StoreError {
            table: self.payments_table.clone(),
            action: "GetItem record",
            detail: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        })
    }

    async fn attempt(
        &self,
        n: &Notification,
        target: Option<Option<&Target>>,
        bundle_error: Option<String>,
        now_ms: i64,
        at_ms: i64,
        request_id: Option<&str>,
    ) -> Result<Ran, StoreError> {
        let body = match &n.body {
            Some(body) => body.clone(),
            None => crate::notifications::body(n, self.totals(n).await?),
        };
        let lease = now_ms + LEASE_MS;
        if !self.store.claim(n, lease, &body).await? {
            // Another run took it between our read and now.
            return Ok(Ran::Taken);
        }
        let number = n.attempts + 1;
        let mut attempt = Attempt {
            id: n.id.clone(),
            attempt: number,
            at: at_ms,
            endpoint: String::new(),
            status: None,
            latency_ms: 0,
            error: None,
            outcome: AttemptOutcome::Retry,
        };
        let mut retry_after_secs = None;
        let result = match settle::first_step(n, target, bundle_error.as_deref()) {
            Step::Settled(failed) => Err(failed),
            Step::Send { url, signer } => {
                attempt.endpoint = crate::support::redact::display_url(url);
                let (sent, latency) = self.send(n, signer, url, &body).await;
                attempt.latency_ms = latency.as_millis() as i64;
                attempt.status = sent.as_ref().ok().map(|a| a.status);
                retry_after_secs = sent.as_ref().ok().and_then(|a| a.retry_after_secs);
                settle::answered(sent.as_ref().map(|a| a.status))
            }
        };
        let schedule = Schedule {
            retry_secs: &self.retry_secs,
            give_up_ms: self.give_up_ms,
        };
        let Decided {
            next,
            reason,
            error,
        } = settle::decided(result, retry_after_secs, n, now_ms, at_ms, &schedule);
        attempt.error = error;
        // Dead only once it is in the DLQ; until then the decision is kept on the notification
        // and the next run retries the move alone.
        let (next, dlq_failed) = match (next, reason) {
            (Next::DeadLettered, Some(reason)) => {
                match self
                    .dead_letter(n, &body, reason, attempt.error.as_deref())
                    .await
                {
                    Ok(()) => (Next::DeadLettered, false),
                    Err(e) => {
                        attempt.error = Some(format!(
                            "{}; moving it to the DLQ failed: {e}",
                            attempt.error.as_deref().unwrap_or_default()
                        ));
                        (Next::RetryAt(now_ms + LEASE_MS), true)
                    }
                }
            }
            (next, _) => (next, false),
        };
        attempt.outcome = next.outcome();
        // The notice first: if recording fails, the log still has the attempt.
        tracing::info!(
            request_id,
            source = "notifier",
            outcome = attempt.outcome.as_str(),
            subscriber = n.subscriber.as_str(),
            notification_id = n.id.as_str(),
            payment_id = n.payment_id.as_str(),
            attempt = number,
            status = attempt.status,
            latency_ms = attempt.latency_ms,
            reason = reason.map(DeadReason::as_str),
            error = attempt.error.as_deref(),
            next_attempt_at = match next {
                Next::RetryAt(at) => Some(clock::rfc3339((at / 1000) as u64)),
                _ => None,
            },
            "notification attempt"
        );
        let recorded = self.store.record(n, &attempt, next, lease, reason).await?;
        if recorded == Recorded::AttemptOnly {
            tracing::warn!(
                request_id,
                source = "notifier",
                notification_id = n.id.as_str(),
                "the notification was changed during this attempt (a resend); its row is kept"
            );
        }
        Ok(if dlq_failed {
            Ran::DeadLetterFailed
        } else {
            Ran::Settled(next)
        })
    }

    /// Signs and posts; the HTTP status, or why there was none, and how long it took.
    async fn send(
        &self,
        n: &Notification,
        signer: &standardwebhooks::Webhook,
        url: &str,
        body: &str,
    ) -> (Result<Answer, OutboundError>, Duration) {
        let timestamp = clock::now_ms() / 1000;
        let signature = match signer.sign(&n.id, timestamp, body.as_bytes()) {
            Ok(s) => s,
            // The body is our own JSON, always UTF-8.
            Err(e) => {
                return (
                    Err(OutboundError::Transport {
                        detail: format!("signing: {e}"),
                    }),
                    Duration::ZERO,
                );
            }
        };
        let headers = [
            (standardwebhooks::HEADER_WEBHOOK_ID, n.id.clone()),
            (
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                timestamp.to_string(),
            ),
            (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature),
        ];
        let started = Instant::now();
        let result = self
            .outbound
            .post(url, &headers, body.as_bytes().to_vec())
            .await;
        (result, started.elapsed())
    }

    async fn dead_letter(
        &self,
        n: &Notification,
        body: &str,
        reason: DeadReason,
        error: Option<&str>,
    ) -> Result<(), String> {
        let url = &self.dead_letter_queue_url;
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| e.to_string())
        };
        let mut send = self
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_attributes("subscriber", attr(&n.subscriber)?)
            .message_attributes("notification-id", attr(&n.id)?)
            .message_attributes("payment-id", attr(&n.payment_id)?)
            .message_attributes("reason", attr(reason.as_str())?);
        if let Some(error) = error.filter(|e| !e.is_empty()) {
            let short: String = error.chars().take(1000).collect();
            send = send.message_attributes("error", attr(&short)?);
        }
        send.send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}
