//! Kept money assigned by an operator to a payment record, on what Stripe reports now: the
//! amount and currency Stripe received, the refunds it has made since, and nothing if the
//! PaymentIntent is no longer collected or was refunded in full. The ledger credits it once,
//! however old the kept row.

use std::time::Instant;

use crate::ledger::{self, AssignError, Assigned, Credit, UnappliedItem};
use crate::stripe::PaymentIntentView;
use crate::telemetry;

use super::decide::{self, Collected};
use super::{Account, Pipeline, ProcessError};

/// Why kept money was not assigned.
#[derive(Debug, thiserror::Error)]
pub enum AssignKeptError {
    #[error(transparent)]
    Kept(#[from] AssignError),
    /// Stripe could not be asked, or answered for another mode or without `amount_received`.
    #[error(transparent)]
    Stripe(#[from] ProcessError),
    #[error("{intent_id} is not collected now ({why}): nothing to credit")]
    NotCollected { intent_id: String, why: String },
    #[error(
        "{intent_id} went back in full since it was kept ({refunded} of {received} {currency} refunded, the rest disputed): nothing is left to credit"
    )]
    Refunded {
        intent_id: String,
        received: i64,
        refunded: i64,
        currency: String,
    },
}

/// What an assignment credited, as Stripe reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedKept {
    pub assigned: Assigned,
    pub kept: UnappliedItem,
    pub received: i64,
    pub refunded: i64,
    pub currency: String,
}

impl Pipeline {
    /// Assigns the subscriber's kept PaymentIntent to `payment_id`, asking Stripe first.
    pub async fn assign_kept(
        &self,
        account: Account<'_>,
        intent_id: &str,
        payment_id: &str,
        delivery_id: &str,
    ) -> Result<AssignedKept, AssignKeptError> {
        let kept = ledger::kept_to_assign(&self.unapplied, account.subscriber, intent_id).await?;
        let intent = self.look_up(account, intent_id).await?;
        let received = match decide::collected(&intent, account.key_mode)? {
            Collected::Not(why) => {
                return Err(AssignKeptError::NotCollected {
                    intent_id: intent_id.to_string(),
                    why,
                });
            }
            Collected::Received(amount) => amount,
        };
        let movements = self.movements_if_any(account, &intent).await?;
        let deltas = ledger::Deltas::sum(&movements);
        let refunded = deltas.refunded;
        if received + deltas.net() <= 0 {
            return Err(AssignKeptError::Refunded {
                intent_id: intent_id.to_string(),
                received,
                refunded,
                currency: intent.currency,
            });
        }
        let assigned = ledger::assign(
            &self.unapplied,
            &self.ledger,
            &Credit {
                subscriber: account.subscriber,
                payment_id,
                intent_id,
                amount_received: received,
                currency: &intent.currency,
                event_id: &kept.event_id,
                event_type: &kept.event_type,
                message_id: delivery_id,
                movements: &movements,
            },
        )
        .await?;
        Ok(AssignedKept {
            assigned,
            kept,
            received,
            refunded,
            currency: intent.currency,
        })
    }

    /// The PaymentIntent as Stripe reports it now.
    pub(super) async fn look_up(
        &self,
        account: Account<'_>,
        intent_id: &str,
    ) -> Result<PaymentIntentView, ProcessError> {
        let asked = Instant::now();
        let intent = self.stripe.payment_intent(account.api_key, intent_id).await;
        telemetry::stripe_lookup(asked.elapsed());
        Ok(intent?)
    }

    /// The movements of its refunds and disputes, each read only when its charge reports any:
    /// a payment with neither costs no call here.
    pub(super) async fn movements_if_any(
        &self,
        account: Account<'_>,
        intent: &PaymentIntentView,
    ) -> Result<Vec<ledger::Movement>, ProcessError> {
        let mut movements = Vec::new();
        if intent.has_refunds() {
            let asked = Instant::now();
            let refunds = self.stripe.refunds(account.api_key, &intent.id).await;
            telemetry::stripe_lookup(asked.elapsed());
            movements.extend(decide::refund_moves(&refunds?));
        }
        if intent.has_disputes() {
            let asked = Instant::now();
            let disputes = self.stripe.disputes(account.api_key, &intent.id).await;
            telemetry::stripe_lookup(asked.elapsed());
            movements.extend(decide::dispute_moves(&disputes?));
        }
        Ok(movements)
    }
}
