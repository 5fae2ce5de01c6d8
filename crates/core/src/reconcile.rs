//! Reconcile: credit what Stripe says succeeded, from its events API, whether or not a webhook
//! ever reached the queue (a misconfigured endpoint, API Gateway failing, Stripe giving up after
//! three days and disabling the endpoint). Stripe lists the last 30 days of events.
//!
//! Each listed event goes through the same steps as a delivery after its signature check (the
//! events API is authenticated by the subscriber's own key, so what it lists is Stripe's): the
//! same mode, already credited?, the PaymentIntent's current state, the exactly-once ledger.
//! Already credited counts as such, so a run can be repeated at any time, as often as wanted.

use secrecy::SecretString;

use crate::clock;
use crate::error::{ProcessError, Reason};
use crate::event::{self, HANDLED_TYPES};
use crate::handler::{Consumer, Notice, Outcome};
use crate::sealed::Bundle;
use crate::stripe_api::{EventQuery, StripeApiError};

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
    pub ignored: usize,
    /// Succeeded payments that cannot be credited automatically (no payment id, another
    /// currency, no amount received): Stripe keeps them, the run names them.
    pub unapplied: usize,
    /// Events that failed for now (Stripe or DynamoDB unavailable): the next run tries again.
    pub failed: usize,
}

/// One listed event and what became of it.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub event_id: String,
    pub event_type: String,
    pub payment_intent: Option<String>,
    pub payment_id: Option<String>,
    /// `credited`, `already_credited`, `ignored`, `unapplied` or `failed`.
    pub outcome: &'static str,
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
}

/// Whether a failure means the money is there but cannot be applied by itself.
fn is_unapplied(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::NoPaymentId
            | Reason::CurrencyMismatch
            | Reason::BadPaymentId
            | Reason::MissingAmountReceived
    )
}

impl Consumer {
    /// Lists the subscriber's events of the handled types in `window` (every page) and applies
    /// each; `progress` hears of each as it is done.
    pub async fn reconcile(
        &self,
        bundle: &Bundle,
        window: Window,
        mut progress: impl FnMut(&Reconciled),
    ) -> Result<Summary, ReconcileError> {
        let subscriber = bundle.subscriber.as_str();
        let key = &bundle.stripe_api_key;
        let key_mode = self.key_mode(key).map_err(|source| ReconcileError::Key {
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
                let page = self
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
                    let done = self
                        .reconcile_one(subscriber, key, key_mode, raw.get(), &run)
                        .await;
                    summary.events += 1;
                    match done.outcome {
                        "credited" => summary.credited += 1,
                        "already_credited" => summary.already_credited += 1,
                        "ignored" => summary.ignored += 1,
                        "unapplied" => summary.unapplied += 1,
                        _ => summary.failed += 1,
                    }
                    notice(subscriber, &done);
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
        &self,
        subscriber: &str,
        key: &SecretString,
        key_mode: crate::mode::Mode,
        raw: &str,
        run: &str,
    ) -> Reconciled {
        let mut notice = Notice::default();
        let result = match event::parse(raw) {
            Ok(event) => {
                let delivery_id = format!("{run}:{}", event.id);
                self.apply_event(subscriber, key, key_mode, event, &delivery_id, &mut notice)
                    .await
            }
            Err(e) => Err(ProcessError::Event(e)),
        };
        let (outcome, reason, detail) = match result {
            Ok(Outcome::Credited { .. }) => ("credited", None, None),
            Ok(Outcome::Duplicate(_)) => ("already_credited", None, None),
            Ok(Outcome::Ignored(why)) => ("ignored", None, Some(why)),
            Err(e) => {
                let reason = e.reason();
                let outcome = if is_unapplied(reason) {
                    "unapplied"
                } else {
                    "failed"
                };
                (outcome, Some(reason), Some(e.to_string()))
            }
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
}

fn raw_event_id(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_str::<IdOnly>(raw).ok().map(|e| e.id)
}

/// One JSON line per reconciled event, as the consumer logs one per message.
fn notice(subscriber: &str, r: &Reconciled) {
    let reason = r.reason.map(Reason::as_str);
    tracing::info!(
        source = "reconcile",
        subscriber,
        event_id = r.event_id.as_str(),
        event_type = r.event_type.as_str(),
        payment_intent = r.payment_intent.as_deref(),
        payment_id = r.payment_id.as_deref(),
        outcome = r.outcome,
        reason,
        detail = r.detail.as_deref(),
        "reconciled"
    );
}
