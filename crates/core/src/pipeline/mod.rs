//! One verified Stripe event applied, whoever brings it (a webhook delivery, or an event
//! Stripe's events API lists): the same mode as the key, already credited?, the PaymentIntent's
//! state as Stripe reports it now, the exactly-once ledger; what names no usable record is kept
//! as unapplied money.

mod assign;
mod decide;
mod error;
mod outcome;

use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};

pub use assign::{AssignKeptError, AssignedKept};
pub use error::ProcessError;
pub use outcome::{MovedBy, Notice, Outcome};

use crate::inbound::StripeEvent;
use crate::ledger::{
    Applied, Credit, CreditedBy, KnownCredits, Ledger, LedgerError, MovementOf, Recorded,
    Unapplied, UnappliedPayment,
};
use crate::mode::Mode;
use crate::stripe::StripeApi;
use crate::support::clock;
use crate::telemetry;
use decide::{Asked, Collected, Named};

/// The parts that decide an event, built once per execution environment and shared by every
/// message (and by the scheduled reconcile).
pub struct Pipeline {
    pub stripe: StripeApi,
    pub ledger: Ledger,
    /// PaymentIntents this environment has seen credited: a later delivery of one costs nothing.
    pub known_credits: KnownCredits,
    /// Where succeeded money that names no usable payment record is kept.
    pub unapplied: Unapplied,
    /// The deployment's Stripe mode: keys, events and PaymentIntents of the other are refused.
    pub mode: Mode,
    /// The duplicate shortcuts (memory, read before the lookup, one PaymentIntent's messages in
    /// turn). On in every deployment; off only where a bench measures what they save.
    pub duplicate_shortcuts: bool,
}

/// Whose event is applied, as their bundle and the deployment settle it.
#[derive(Clone, Copy)]
pub struct Account<'a> {
    pub subscriber: &'a str,
    pub api_key: &'a SecretString,
    /// The key's mode, already checked to be the deployment's.
    pub key_mode: Mode,
}

impl Pipeline {
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

    /// A refund or dispute event: the PaymentIntent's refunds or disputes as Stripe lists them
    /// now, each movement recorded once on the record its credit went to. A PaymentIntent not
    /// credited here is left to its credit, which records the movements it has by then.
    async fn apply_movements(
        &self,
        account: Account<'_>,
        event: &StripeEvent,
        intent_id: &str,
        by_what: MovedBy,
        delivery_id: &str,
        notice: &mut Notice<'_>,
    ) -> Result<Outcome, ProcessError> {
        let subscriber = account.subscriber;
        let by = match self.known_credits.get(subscriber, intent_id) {
            Some(known) => Some(known.by),
            None => self.ledger.credited_by(subscriber, intent_id).await?,
        };
        let Some(by) = by else {
            return self.before_its_credit(account, event, intent_id).await;
        };
        notice.payment_id = Some(by.payment_id.clone());
        let asked = Instant::now();
        let movements = match by_what {
            MovedBy::Refunds => self
                .stripe
                .refunds(account.api_key, intent_id)
                .await
                .map(|r| decide::refund_moves(&r)),
            MovedBy::Disputes => self
                .stripe
                .disputes(account.api_key, intent_id)
                .await
                .map(|d| decide::dispute_moves(&d)),
        };
        telemetry::stripe_lookup(asked.elapsed());
        let movements = movements?;
        let of = MovementOf {
            subscriber,
            payment_id: &by.payment_id,
            intent_id,
            currency: &by.currency,
            event_id: &event.id,
            event_type: &event.event_type,
            message_id: delivery_id,
        };
        let (mut recorded, mut known) = (0, 0);
        for movement in movements {
            // A movement already on the record costs a read, not a failed transaction; only a
            // shortcut, the entry's condition decides.
            let known_already = match self.duplicate_shortcuts {
                true => self.ledger.movement_recorded(&of, &movement).await?,
                false => None,
            };
            let done = match known_already {
                Some(done) => done,
                None => self.ledger.record_movement(&of, &movement).await?,
            };
            match done {
                Recorded::Now | Recorded::Earlier => {
                    if let Some(money) = decide::money(movement.kind) {
                        telemetry::moved(&by.currency, money, movement.amount);
                    }
                    recorded += 1;
                }
                Recorded::Already => known += 1,
            }
        }
        Ok(Outcome::Moved {
            by: by_what,
            recorded,
            known,
        })
    }

    /// A refund or dispute event of a PaymentIntent not credited here. Kept as unapplied money:
    /// assigning it records what moved then. A recent event is retried, because its credit may
    /// be committing now, having read Stripe's refunds and disputes just before this one was
    /// made; an older one is acknowledged, the credit recording what moved whenever it comes.
    async fn before_its_credit(
        &self,
        account: Account<'_>,
        event: &StripeEvent,
        intent_id: &str,
    ) -> Result<Outcome, ProcessError> {
        if self
            .unapplied
            .get(account.subscriber, intent_id)
            .await?
            .is_some()
        {
            return Ok(Outcome::Ignored(
                "PaymentIntent kept as unapplied money: assigning it records what moved".into(),
            ));
        }
        let age = event
            .created
            .map(|created| clock::now_ms() / 1000 - created);
        if decide::worth_retrying_before_credit(age) {
            return Err(ProcessError::NotYetCredited {
                intent_id: intent_id.to_string(),
                event_type: event.event_type.clone(),
            });
        }
        Ok(Outcome::Ignored(
            "PaymentIntent not credited: its credit will record what moved".into(),
        ))
    }

    /// The key's mode, if it is the deployment's: checked before anything is done with the
    /// key, so a test key never credits a live deployment.
    pub fn key_mode(&self, api_key: &SecretString) -> Result<Mode, ProcessError> {
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
    pub async fn apply_event(
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
        let intent_id = match decide::asked(&event, key_mode, clock::now_ms() / 1000)? {
            Asked::Nothing(why) => return Ok(Outcome::Ignored(why)),
            Asked::LookUp(intent_id) => intent_id,
            Asked::Refunds(intent_id) => {
                notice.payment_intent = Some(intent_id.clone());
                return self
                    .apply_movements(
                        account,
                        &event,
                        &intent_id,
                        MovedBy::Refunds,
                        delivery_id,
                        notice,
                    )
                    .await;
            }
            Asked::Disputes(intent_id) => {
                notice.payment_intent = Some(intent_id.clone());
                return self
                    .apply_movements(
                        account,
                        &event,
                        &intent_id,
                        MovedBy::Disputes,
                        delivery_id,
                        notice,
                    )
                    .await;
            }
        };
        notice.payment_intent = Some(intent_id.clone());

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

        let intent = self.look_up(account, &intent_id).await?;
        let amount_received = match decide::collected(&intent, key_mode)? {
            Collected::Not(why) => return Ok(Outcome::Ignored(why)),
            Collected::Received(amount) => amount,
        };
        // A PaymentIntent that names no record itself (Checkout integrations name it on the
        // Session): the Session as Stripe holds it names it, whatever the event carried.
        let session = if decide::needs_session(&intent) {
            let asked = Instant::now();
            let session = self.stripe.checkout_session(api_key, &intent_id).await;
            telemetry::stripe_lookup(asked.elapsed());
            session?
        } else {
            None
        };
        let Named {
            payment_id,
            from_session,
        } = decide::named_payment(&intent, session.as_ref());
        notice.payment_id = payment_id.clone();
        // Refunded before its credit: the credit records them too, so what went back is
        // never credited as kept. Only then a second Stripe call.
        let movements = self.movements_if_any(account, &intent).await?;
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
                movements: &movements,
            })
            .await;
        let applied = match applied {
            Err(e @ (LedgerError::CurrencyMismatch { .. } | LedgerError::BadPaymentId(_))) => {
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
