//! One message through the pipeline, and the Lambda entry point over a batch.
//!
//! envelope -> open bundle (issuer signature) -> same subscriber? -> key of the deployment's
//! mode? -> signature -> event (same mode) -> Stripe lookup (same mode) -> ledger, then one
//! structured notice per message saying what happened.

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use secrecy::{ExposeSecret, SecretString};

use crate::backoff::Backoff;
use crate::batch::{self, ItemResult, MissingMessageId};
use crate::bundle_cache::BundleCache;
use crate::clock;
use crate::dead_lettering::DeadLetters;
use crate::envelope::Delivery;
use crate::error::{FailureClass, ProcessError, Reason};
use crate::event::{self, Action, StripeEvent};
use crate::keyring::KeyRing;
use crate::known_credits::KnownCredits;
use crate::ledger::{self, Applied, Credit, CreditedBy, Ledger};
use crate::mode::Mode;
use crate::signature;
use crate::stripe_api::StripeApi;
use crate::telemetry;
use crate::unapplied::{Unapplied, UnappliedPayment};

/// Everything a warm invocation reuses: keys, HTTP and SDK clients.
pub struct Consumer {
    pub keys: KeyRing,
    pub bundles: BundleCache,
    pub stripe: StripeApi,
    pub ledger: Ledger,
    /// PaymentIntents this environment has seen credited: a later delivery of one costs nothing.
    pub known_credits: KnownCredits,
    /// Where succeeded money that names no usable payment record is kept.
    pub unapplied: Unapplied,
    /// The duplicate shortcuts (memory, read before the lookup, one PaymentIntent's messages in
    /// turn). On in every deployment; off only where a bench measures what they save.
    pub duplicate_shortcuts: bool,
    /// `None`: permanent failures are reported failed and reach the DLQ by the redrive policy.
    pub dead_letters: Option<DeadLetters>,
    /// `None`: a transient failure comes back after the queue's visibility timeout.
    pub backoff: Option<Backoff>,
    pub tolerance_secs: u64,
    /// The deployment's Stripe mode: keys, events and PaymentIntents of the other are refused.
    pub mode: Mode,
    /// Messages of a batch processed at once (FIFO groups still one after another).
    pub concurrency: usize,
}

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
pub(crate) struct Notice<'a> {
    pub subscriber: Option<&'a str>,
    /// When API Gateway received the delivery, epoch ms: what `payhook stack check` reads to
    /// see that the route's receive time is read as AWS writes it.
    pub received_at_ms: Option<i64>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub payment_intent: Option<String>,
    pub payment_id: Option<String>,
}

/// The subscriber and PaymentIntent a message names, read without verifying anything: used
/// only to run messages for one PaymentIntent one after another. A forged body can at worst
/// make its message wait for another; everything it says is checked before it is acted on.
fn same_payment_intent(msg: &SqsMessage) -> Option<String> {
    let subscriber = msg
        .message_attributes
        .get(crate::envelope::ATTR_SUBSCRIBER)?
        .string_value
        .as_deref()?;
    match event::parse(msg.body.as_deref()?).ok()?.action {
        Action::LookUp { intent_id } => Some(format!("{subscriber}#{intent_id}")),
        Action::Ignore { .. } => None,
    }
}

/// Whose event is applied, as their bundle and the deployment settle it.
#[derive(Clone, Copy)]
pub(crate) struct Account<'a> {
    pub subscriber: &'a str,
    pub api_key: &'a SecretString,
    /// The key's mode, already checked to be the deployment's.
    pub key_mode: Mode,
}

impl Consumer {
    /// A batch in, the failed message ids out, with no time limit (tests, the local poller).
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, MissingMessageId> {
        self.handle_until(event, None, None).await
    }

    /// The Lambda handler: no message is started after `deadline`, so the invocation always
    /// returns its partial batch response before the function timeout. Every notice carries
    /// the invocation's `request_id`.
    pub async fn handle_until(
        &self,
        event: SqsEvent,
        deadline: Option<std::time::Instant>,
        request_id: Option<&str>,
    ) -> Result<SqsBatchResponse, MissingMessageId> {
        telemetry::batch(event.records.len());
        let same_effect = |msg| {
            self.duplicate_shortcuts
                .then(|| same_payment_intent(msg))
                .flatten()
        };
        batch::run(
            &event,
            deadline,
            self.concurrency,
            same_effect,
            |id, msg| self.handle_message(id, msg, request_id),
        )
        .await
    }

    async fn handle_message(
        &self,
        message_id: &str,
        msg: &SqsMessage,
        request_id: Option<&str>,
    ) -> ItemResult {
        let started = Instant::now();
        let mut notice = Notice::default();
        let result = self.process(message_id, msg, &mut notice).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        // A message refused before its body was verified names no event; the id its body
        // claims (unverified, for finding the message, never acted on) says which it was.
        let claimed_event_id = match (&result, &notice.event_id) {
            (Err(_), None) => msg.body.as_deref().and_then(event::claimed_id),
            _ => None,
        };
        let claimed_event_id = claimed_event_id.as_deref();
        let Notice {
            subscriber,
            received_at_ms,
            event_id,
            event_type,
            payment_intent,
            payment_id,
        } = notice;
        // One notice per message, and its metrics: the outcome, and the reason where it has one.
        macro_rules! notice {
            ($level:ident, $outcome:expr, $reason:expr; $($rest:tt)*) => {
                telemetry::message($outcome, $reason);
                tracing::$level!(
                    request_id,
                    message_id,
                    subscriber,
                    received_at_ms,
                    event_id,
                    claimed_event_id,
                    event_type,
                    payment_intent,
                    payment_id,
                    outcome = $outcome,
                    duration_ms,
                    $($rest)*
                )
            };
        }
        let error = match result {
            Ok(Outcome::Credited { recovered: false }) => {
                notice!(info, "credited", None; "payment credited");
                return ItemResult::Done;
            }
            Ok(Outcome::Credited { recovered: true }) => {
                notice!(
                    info,
                    "credited", None;
                    recovered = true,
                    "payment credited (by this message's earlier attempt, whose answer was lost)"
                );
                return ItemResult::Done;
            }
            Ok(Outcome::Duplicate(by)) => {
                notice!(
                    info,
                    "duplicate", None;
                    credited_by_event = by.event_id.as_str(),
                    credited_by_message = by.message_id.as_str(),
                    "PaymentIntent already credited; nothing changed"
                );
                return ItemResult::Done;
            }
            Ok(Outcome::Unapplied { reason, detail }) => {
                notice!(
                    warn,
                    "unapplied", Some(reason);
                    reason = reason.as_str(),
                    error = detail.as_str(),
                    "succeeded, but names no usable payment record: kept as unapplied money"
                );
                return ItemResult::Done;
            }
            Ok(Outcome::Ignored(why)) => {
                notice!(
                    info,
                    "ignored", None;
                    reason = why.as_str(),
                    "acknowledged without effect"
                );
                return ItemResult::Done;
            }
            Err(e) => e,
        };
        let reason_code = error.reason();
        let reason = reason_code.as_str();
        let class = error.class().as_str();
        let detail = error.to_string();
        match (error.class(), &self.dead_letters) {
            (FailureClass::Transient, _) => {
                let retry_in_secs = match &self.backoff {
                    Some(backoff) => match backoff.defer(msg).await {
                        Ok(delay) => Some(delay),
                        Err(e) => {
                            tracing::warn!(
                                message_id,
                                error = e.as_str(),
                                "could not set the retry delay; the queue's visibility timeout applies"
                            );
                            None
                        }
                    },
                    None => None,
                };
                notice!(
                    warn,
                    "retry", Some(reason_code);
                    reason,
                    class,
                    error = detail.as_str(),
                    retry_in_secs,
                    "will be retried"
                );
                ItemResult::Retry
            }
            (FailureClass::Permanent, Some(dlq)) => match dlq.send(message_id, msg, &error).await {
                Ok(()) if dlq.queue_for(&error) != dlq.dead_letter_queue_url() => {
                    notice!(
                        warn,
                        "dead_lettered", Some(reason_code);
                        reason,
                        class,
                        error = detail.as_str(),
                        "refused (what anyone can post to a webhook URL): moved to the rejected queue"
                    );
                    ItemResult::Done
                }
                Ok(()) => {
                    notice!(
                        error,
                        "dead_lettered", Some(reason_code);
                        reason,
                        class,
                        error = detail.as_str(),
                        "moved to the dead-letter queue"
                    );
                    ItemResult::Done
                }
                Err(dlq_error) => {
                    notice!(
                        error,
                        "failed", Some(reason_code);
                        reason,
                        class,
                        error = detail.as_str(),
                        dead_letter_error = dlq_error.to_string().as_str(),
                        "could not dead-letter; left on the queue"
                    );
                    ItemResult::Retry
                }
            },
            (FailureClass::Permanent, None) => {
                notice!(
                    error,
                    "failed", Some(reason_code);
                    reason,
                    class,
                    error = detail.as_str(),
                    "permanent failure; the redrive policy will dead-letter it"
                );
                ItemResult::Retry
            }
        }
    }

    /// Keeps a succeeded payment that cannot be credited by itself; the message is then done.
    async fn keep_unapplied(&self, p: UnappliedPayment<'_>) -> Result<Outcome, ProcessError> {
        self.unapplied.keep(&p).await?;
        Ok(Outcome::Unapplied {
            reason: p.reason,
            detail: p.detail.to_string(),
        })
    }

    /// Who credited this PaymentIntent, if this environment or the ledger knows: a duplicate,
    /// or, when it was this very message whose answer was lost, the credit itself.
    async fn already_credited(
        &self,
        subscriber: &str,
        intent_id: &str,
        message_id: &str,
    ) -> Result<Option<(CreditedBy, Outcome)>, ProcessError> {
        let (by, noticed) = match self.known_credits.get(subscriber, intent_id) {
            Some(known) => (known.by, known.noticed),
            None => match self.ledger.credited_by(subscriber, intent_id).await? {
                Some(by) => (by, false),
                None => return Ok(None),
            },
        };
        // This very message committed the credit and no notice has said so: this is it.
        let recovered = by.message_id == message_id && !noticed;
        self.known_credits
            .remember(subscriber, intent_id, by.clone(), noticed || recovered);
        let outcome = if recovered {
            // The attempt that committed it never reported it.
            telemetry::credited(&by.currency, by.amount);
            Outcome::Credited { recovered: true }
        } else {
            Outcome::Duplicate(by.clone())
        };
        Ok(Some((by, outcome)))
    }

    async fn process<'m>(
        &self,
        message_id: &'m str,
        msg: &'m SqsMessage,
        notice: &mut Notice<'m>,
    ) -> Result<Outcome, ProcessError> {
        let delivery = Delivery::from_sqs(message_id, msg, clock::now_ms())?;
        notice.subscriber = Some(delivery.subscriber);
        notice.received_at_ms = Some(delivery.received_at_ms);

        let bundle = self
            .keys
            .open_cached(&self.bundles, delivery.sealed_bundle)
            .await?;
        bundle.ensure_subscriber(delivery.subscriber)?;
        let key_mode = self.key_mode(&bundle.stripe_api_key)?;
        signature::verify(
            delivery.signature_header,
            delivery.body.as_bytes(),
            &bundle.webhook_secrets,
            delivery.received_at_secs(),
            self.tolerance_secs,
        )?;

        // Only a verified body is read.
        let event = event::parse(delivery.body)?;
        self.apply_event(
            Account {
                subscriber: delivery.subscriber,
                api_key: &bundle.stripe_api_key,
                key_mode,
            },
            event,
            message_id,
            notice,
        )
        .await
    }

    /// The key's mode, if it is the deployment's: checked before anything is done with the
    /// key, so a test key never credits a live deployment.
    pub(crate) fn key_mode(&self, api_key: &SecretString) -> Result<Mode, ProcessError> {
        let key = Mode::of_key(api_key.expose_secret());
        key.filter(|m| *m == self.mode)
            .ok_or(ProcessError::KeyMode {
                key,
                deployment: self.mode,
            })
    }

    /// A verified event of `subscriber` (a delivery's body, or one Stripe's events API listed)
    /// applied: same mode as the key, already credited?, Stripe's current state, the ledger.
    /// `delivery_id` is what the ledger records as the crediting delivery.
    pub(crate) async fn apply_event(
        &self,
        account: Account<'_>,
        event: StripeEvent,
        delivery_id: &str,
        notice: &mut Notice<'_>,
    ) -> Result<Outcome, ProcessError> {
        let Account {
            subscriber,
            api_key,
            key_mode,
        } = account;
        let message_id = delivery_id;
        notice.event_id = Some(event.id.clone());
        notice.event_type = Some(event.event_type.clone());
        if event.livemode.map(Mode::of_livemode) != Some(key_mode) {
            return Err(ProcessError::EventMode {
                event_id: event.id,
                livemode: event.livemode,
                key: key_mode,
            });
        }
        let intent_id = match event.action {
            Action::Ignore { why } => return Ok(Outcome::Ignored(why.to_string())),
            Action::LookUp { intent_id } => intent_id,
        };
        notice.payment_intent = Some(intent_id.clone());
        if let Some(created) = event.created {
            let age = clock::now_ms() / 1000 - created;
            if age > event::MAX_EVENT_AGE_SECS {
                return Err(ProcessError::StaleEvent {
                    event_id: event.id,
                    age_days: age / 86_400,
                });
            }
        }

        // Duplicates are cheap: what is known credited costs no Stripe call and no write. Only
        // a shortcut; the conditional transaction below alone decides a credit.
        if self.duplicate_shortcuts
            && let Some((by, outcome)) = self
                .already_credited(subscriber, &intent_id, message_id)
                .await?
        {
            notice.payment_id = Some(by.payment_id);
            return Ok(outcome);
        }

        let asked = Instant::now();
        let intent = self.stripe.payment_intent(api_key, &intent_id).await;
        telemetry::stripe_lookup(asked.elapsed());
        let intent = intent?;
        if intent.livemode.map(Mode::of_livemode) != Some(key_mode) {
            return Err(ProcessError::IntentMode {
                intent_id,
                livemode: intent.livemode,
                key: key_mode,
            });
        }
        // The PaymentIntent's own metadata.id first, then what a Checkout Session names: the
        // first that can be a record key.
        let own_id = intent
            .metadata
            .get("id")
            .filter(|id| ledger::is_valid_payment_id(id));
        let from_session = own_id.is_none();
        let payment_id = own_id
            .or_else(|| {
                event
                    .fallback_payment_ids
                    .iter()
                    .find(|id| ledger::is_valid_payment_id(id))
            })
            .or(intent.metadata.get("id"))
            .cloned();
        notice.payment_id = payment_id.clone();
        if !intent.succeeded() {
            return Ok(Outcome::Ignored(format!(
                "PaymentIntent status is {}, not succeeded",
                intent.status
            )));
        }
        // What was collected, as Stripe states it; never a guess from `amount`.
        let amount_received =
            intent
                .amount_received
                .ok_or_else(|| ProcessError::MissingAmountReceived {
                    intent_id: intent_id.clone(),
                })?;
        let unapplied = |error: ProcessError| UnappliedPayment {
            subscriber,
            intent_id: &intent_id,
            reason: error.reason(),
            detail: "",
            amount_received,
            currency: &intent.currency,
            payment_id: None,
            event_id: &event.id,
            event_type: &event.event_type,
            delivery_id: message_id,
        };
        let Some(payment_id) = payment_id else {
            let error = ProcessError::NoPaymentId {
                intent_id: intent_id.clone(),
            };
            let detail = error.to_string();
            return self
                .keep_unapplied(UnappliedPayment {
                    detail: &detail,
                    ..unapplied(error)
                })
                .await;
        };

        let applied = self
            .ledger
            .apply(&Credit {
                subscriber,
                payment_id: &payment_id,
                intent_id: &intent_id,
                amount_received,
                currency: &intent.currency,
                event_id: &event.id,
                event_type: &event.event_type,
                message_id,
            })
            .await;
        let applied = match applied {
            Err(
                e @ (crate::ledger::LedgerError::CurrencyMismatch { .. }
                | crate::ledger::LedgerError::BadPaymentId(_)),
            ) => {
                let error = ProcessError::Ledger(e);
                let detail = error.to_string();
                return self
                    .keep_unapplied(UnappliedPayment {
                        detail: &detail,
                        payment_id: Some(&payment_id),
                        ..unapplied(error)
                    })
                    .await;
            }
            other => other?,
        };
        let credited_by = |by: CreditedBy, noticed: bool| {
            self.known_credits
                .remember(subscriber, &intent_id, by, noticed);
        };
        let recovered = match applied {
            Applied::Duplicate(by) => {
                credited_by(by.clone(), false);
                return Ok(Outcome::Duplicate(by));
            }
            Applied::CreditedEarlier => true,
            Applied::Credited => false,
        };
        telemetry::credited(&intent.currency, amount_received);
        if from_session {
            // An earlier event of this PaymentIntent may have kept it as unapplied; say it is
            // credited now, so it is not assigned by hand too. Also on a recovered credit: the
            // attempt that committed it may have failed here, and the mark is idempotent.
            self.unapplied
                .mark_applied_if_kept(subscriber, &intent_id, &payment_id)
                .await?;
        }
        credited_by(
            CreditedBy {
                event_id: event.id.clone(),
                message_id: message_id.to_string(),
                payment_id,
                amount: amount_received,
                currency: intent.currency.clone(),
            },
            true,
        );
        Ok(Outcome::Credited { recovered })
    }
}
