//! One message of a batch: its envelope read, its bundle opened, its signature verified, its
//! event applied by the pipeline, and its one notice (and metrics) written; a failure becomes
//! its outcome: a retry with backoff, or a dead letter with its reason.

use std::time::Instant;

use aws_lambda_events::event::sqs::SqsMessage;

use super::{Consumer, ItemResult};
use crate::inbound::{self, Action, Delivery};
use crate::pipeline::{Account, Notice, Outcome, ProcessError};
use crate::reason::FailureClass;
use crate::support::clock;
use crate::telemetry;

/// The subscriber and PaymentIntent a message names, read without verifying anything: used
/// only to run messages for one PaymentIntent one after another. A forged body can at worst
/// make its message wait for another; everything it says is checked before it is acted on.
pub(super) fn same_payment_intent(msg: &SqsMessage) -> Option<String> {
    let subscriber = msg
        .message_attributes
        .get(inbound::ATTR_SUBSCRIBER)?
        .string_value
        .as_deref()?;
    match inbound::parse_event(msg.body.as_deref()?).ok()?.action {
        Action::LookUp { intent_id }
        | Action::Refunds { intent_id }
        | Action::Disputes { intent_id } => Some(format!("{subscriber}#{intent_id}")),
        Action::Ignore { .. } => None,
    }
}

/// What became of a message that failed.
#[derive(Debug, PartialEq, Eq)]
enum Disposal {
    /// Transient: left on the queue, visible again after this delay (or the queue's timeout).
    Retry { retry_in_secs: Option<u32> },
    /// Refused as what anyone can post: in the rejected queue, deleted from this one.
    Rejected,
    /// In the dead-letter queue with its reason, deleted from this one.
    DeadLettered,
    /// Permanent, but the dead-letter send failed: left on the queue, never deleted unsent.
    NotDeadLettered(String),
    /// Permanent, and no dead-letter queue is configured: the queue's redrive policy moves it.
    LeftToRedrivePolicy,
}

impl Disposal {
    fn item_result(&self) -> ItemResult {
        match self {
            Disposal::Rejected | Disposal::DeadLettered => ItemResult::Done,
            Disposal::Retry { .. }
            | Disposal::NotDeadLettered(_)
            | Disposal::LeftToRedrivePolicy => ItemResult::Retry,
        }
    }
}

impl Consumer {
    pub(super) async fn handle_message(
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
            (Err(_), None) => msg.body.as_deref().and_then(inbound::claimed_event_id),
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
            ($level:ident, $outcome:expr, $reason:expr; $($rest:tt)*) => {{
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
            }};
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
            Ok(Outcome::Moved {
                by,
                recorded,
                known,
            }) if recorded > 0 => {
                notice!(
                    info,
                    by.outcome(), None;
                    movements_recorded = recorded,
                    movements_known = known,
                    "money movements recorded on the payment record"
                );
                return ItemResult::Done;
            }
            Ok(Outcome::Moved { known, .. }) => {
                notice!(
                    info,
                    "duplicate", None;
                    movements_known = known,
                    "every movement already recorded; nothing changed"
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
        let disposal = self.dispose(message_id, msg, &error).await;
        match &disposal {
            Disposal::Retry { retry_in_secs } => notice!(
                warn,
                "retry", Some(reason_code);
                reason,
                class,
                error = detail.as_str(),
                retry_in_secs,
                "will be retried"
            ),
            Disposal::Rejected => notice!(
                warn,
                "dead_lettered", Some(reason_code);
                reason,
                class,
                error = detail.as_str(),
                "refused (what anyone can post to a webhook URL): moved to the rejected queue"
            ),
            Disposal::DeadLettered => notice!(
                error,
                "dead_lettered", Some(reason_code);
                reason,
                class,
                error = detail.as_str(),
                "moved to the dead-letter queue"
            ),
            Disposal::NotDeadLettered(dead_letter_error) => notice!(
                error,
                "failed", Some(reason_code);
                reason,
                class,
                error = detail.as_str(),
                dead_letter_error = dead_letter_error.as_str(),
                "could not dead-letter; left on the queue"
            ),
            Disposal::LeftToRedrivePolicy => notice!(
                error,
                "failed", Some(reason_code);
                reason,
                class,
                error = detail.as_str(),
                "permanent failure; the redrive policy will dead-letter it"
            ),
        }
        disposal.item_result()
    }

    /// What becomes of a failed message: a transient failure is retried after its backoff; a
    /// permanent one is sent to the queue for its reason, and only then deleted.
    async fn dispose(&self, message_id: &str, msg: &SqsMessage, error: &ProcessError) -> Disposal {
        match (error.class(), &self.dead_letters) {
            (FailureClass::Transient, _) => {
                let Some(backoff) = &self.backoff else {
                    return Disposal::Retry {
                        retry_in_secs: None,
                    };
                };
                let retry_in_secs = match backoff.defer(msg).await {
                    Ok(delay) => Some(delay),
                    Err(e) => {
                        tracing::warn!(
                            message_id,
                            error = %e,
                            "could not set the retry delay; the queue's visibility timeout applies"
                        );
                        None
                    }
                };
                Disposal::Retry { retry_in_secs }
            }
            (FailureClass::Permanent, Some(dlq)) => match dlq.send(message_id, msg, error).await {
                Ok(()) if dlq.queue_for(error) != dlq.dead_letter_queue_url() => Disposal::Rejected,
                Ok(()) => Disposal::DeadLettered,
                Err(dlq_error) => Disposal::NotDeadLettered(dlq_error.to_string()),
            },
            (FailureClass::Permanent, None) => Disposal::LeftToRedrivePolicy,
        }
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
        let key_mode = self.pipeline.key_mode(&bundle.stripe_api_key)?;
        inbound::verify_stripe_signature(
            delivery.signature_header,
            delivery.body.as_bytes(),
            &bundle.webhook_secrets,
            delivery.received_at_secs(),
            self.tolerance_secs,
        )?;

        // Only a verified body is read.
        let event = inbound::parse_event(delivery.body)?;
        self.pipeline
            .apply_event(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_leaves_the_queue_only_once_it_is_in_another() {
        assert_eq!(Disposal::DeadLettered.item_result(), ItemResult::Done);
        assert_eq!(Disposal::Rejected.item_result(), ItemResult::Done);
        for kept in [
            Disposal::Retry {
                retry_in_secs: Some(30),
            },
            Disposal::NotDeadLettered("throttled".into()),
            Disposal::LeftToRedrivePolicy,
        ] {
            assert_eq!(kept.item_result(), ItemResult::Retry, "{kept:?}");
        }
    }
}
