//! The pipeline's decisions, apart from its I/O: what an event asks for, which payment record a
//! PaymentIntent names, and whether what Stripe reports can be credited. Pure, so each rule
//! has its own tests.

use crate::inbound::{Action, MAX_EVENT_AGE_SECS, StripeEvent};
use crate::ledger::{self, Movement, MovementKind};
use crate::mode::Mode;
use crate::stripe::{CheckoutSessionView, DisputeView, PaymentIntentView, RefundView};
use crate::telemetry;

use super::ProcessError;

/// What a verified event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Asked {
    /// Acknowledge without effect, for this reason.
    Nothing(String),
    /// Look this PaymentIntent up.
    LookUp(String),
    /// Read this PaymentIntent's refunds.
    Refunds(String),
    /// Read this PaymentIntent's disputes.
    Disputes(String),
}

/// An event of the key's mode, not older than any legitimate path brings, and what it asks.
pub(super) fn asked(
    event: &StripeEvent,
    key_mode: Mode,
    now_secs: i64,
) -> Result<Asked, ProcessError> {
    if event.livemode.map(Mode::of_livemode) != Some(key_mode) {
        return Err(ProcessError::EventMode {
            event_id: event.id.clone(),
            livemode: event.livemode,
            key: key_mode,
        });
    }
    let asked = match &event.action {
        Action::Ignore { why } => return Ok(Asked::Nothing(why.to_string())),
        Action::LookUp { intent_id } => Asked::LookUp(intent_id.clone()),
        Action::Refunds { intent_id } => Asked::Refunds(intent_id.clone()),
        Action::Disputes { intent_id } => Asked::Disputes(intent_id.clone()),
    };
    if let Some(created) = event.created {
        let age = now_secs.saturating_sub(created);
        if age > MAX_EVENT_AGE_SECS {
            return Err(ProcessError::StaleEvent {
                event_id: event.id.clone(),
                age_days: age / 86_400,
            });
        }
    }
    Ok(asked)
}

/// The movements Stripe's refunds make, as it reports them now: money out for every refund
/// that took it from the balance, money back for every one that then failed or was canceled.
/// A refund canceled before it took anything moves nothing.
pub(super) fn refund_moves(refunds: &[RefundView]) -> Vec<Movement> {
    let mut moves = Vec::new();
    for refund in refunds.iter().filter(|r| r.took_money() && r.amount > 0) {
        let movement = |kind| Movement {
            kind,
            source_id: refund.id.clone(),
            amount: refund.amount,
        };
        moves.push(movement(MovementKind::Refund));
        if refund.gave_money_back() {
            moves.push(movement(MovementKind::RefundReversed));
        }
    }
    moves
}

/// The movements Stripe's disputes make, as it reports them now: each dispute opened; whether
/// its balance transactions withdrew and reinstated funds (negative and positive amounts); and
/// how it closed. The amount recorded is the dispute's own, in the charge's currency: balance
/// transactions are in the account's settlement currency, which may be another. An inquiry that closed without becoming a chargeback (`warning_closed`) counts as
/// won: the customer's bank took nothing.
pub(super) fn dispute_moves(disputes: &[DisputeView]) -> Vec<Movement> {
    let mut moves = Vec::new();
    for dispute in disputes {
        let movement = |kind, amount| Movement {
            kind,
            source_id: dispute.id.clone(),
            amount,
        };
        moves.push(movement(MovementKind::DisputeOpened, dispute.amount));
        let moved = |sign: i64| {
            dispute
                .balance_transactions
                .iter()
                .any(|t| t.amount.signum() == sign)
        };
        if moved(-1) {
            moves.push(movement(MovementKind::DisputeWithdrawn, dispute.amount));
        }
        if moved(1) {
            moves.push(movement(MovementKind::DisputeReinstated, dispute.amount));
        }
        match dispute.status.as_str() {
            "won" | "warning_closed" => {
                moves.push(movement(MovementKind::DisputeWon, dispute.amount))
            }
            "lost" => moves.push(movement(MovementKind::DisputeLost, dispute.amount)),
            _ => {}
        }
    }
    moves
}

/// How long after it was created a refund or dispute event of a PaymentIntent not credited here
/// is retried: far longer than a credit takes to commit after its lookup, short enough that a
/// refund of a payment never credited here (made before the subscriber joined) stops soon.
pub const RETRY_BEFORE_CREDIT_SECS: i64 = 15 * 60;

/// Whether such an event, `age` seconds old (unknown: not retried), is worth another try.
pub(super) fn worth_retrying_before_credit(age: Option<i64>) -> bool {
    age.is_some_and(|age| age < RETRY_BEFORE_CREDIT_SECS)
}

/// The money a movement moves, as the metrics count it: none for a dispute opened, won or
/// lost by itself.
pub(super) fn money(kind: MovementKind) -> Option<telemetry::Money> {
    match kind {
        MovementKind::Refund => Some(telemetry::Money::Refunded),
        MovementKind::RefundReversed => Some(telemetry::Money::RefundReversed),
        MovementKind::DisputeWithdrawn => Some(telemetry::Money::Disputed),
        MovementKind::DisputeReinstated => Some(telemetry::Money::DisputeReinstated),
        MovementKind::DisputeOpened | MovementKind::DisputeWon | MovementKind::DisputeLost => None,
    }
}

/// The payment record a PaymentIntent names: its own `metadata.id` first, then what the
/// Checkout Session that collected it names as Stripe returns it (its `metadata.id`, its
/// `client_reference_id`): the first that can be a record key, else the PaymentIntent's own id
/// as it is (the ledger then refuses it by name). Never the event's copy of the Session: whoever
/// could sign an event could steer a real payment onto another record. The flag says whether
/// the name came from the Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Named {
    pub payment_id: Option<String>,
    pub from_session: bool,
}

/// Whether the PaymentIntent names no usable record itself, so its Checkout Session is asked.
pub(super) fn needs_session(intent: &PaymentIntentView) -> bool {
    !intent
        .metadata
        .get("id")
        .is_some_and(|id| ledger::is_valid_payment_id(id))
}

pub(super) fn named_payment(
    intent: &PaymentIntentView,
    session: Option<&CheckoutSessionView>,
) -> Named {
    let own = intent.metadata.get("id");
    let own_usable = own.filter(|id| ledger::is_valid_payment_id(id));
    let from_session = session.and_then(|s| {
        [s.metadata.get("id"), s.client_reference_id.as_ref()]
            .into_iter()
            .flatten()
            .find(|id| ledger::is_valid_payment_id(id))
    });
    let payment_id = own_usable.or(from_session).or(own).cloned();
    Named {
        payment_id,
        from_session: own_usable.is_none() && from_session.is_some(),
    }
}

/// What Stripe reports, as far as a credit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Collected {
    /// Not (yet) succeeded: nothing to credit, for this reason.
    Not(String),
    /// Succeeded, this much received (minor units).
    Received(i64),
}

/// The PaymentIntent as Stripe reports it now: of the key's mode, succeeded, and what was
/// collected as Stripe states it (never a guess from `amount`).
pub(super) fn collected(
    intent: &PaymentIntentView,
    key_mode: Mode,
) -> Result<Collected, ProcessError> {
    if intent.livemode.map(Mode::of_livemode) != Some(key_mode) {
        return Err(ProcessError::IntentMode {
            intent_id: intent.id.clone(),
            livemode: intent.livemode,
            key: key_mode,
        });
    }
    if !intent.succeeded() {
        return Ok(Collected::Not(format!(
            "PaymentIntent status is {}, not succeeded",
            intent.status
        )));
    }
    intent
        .amount_received
        .map(Collected::Received)
        .ok_or_else(|| ProcessError::MissingAmountReceived {
            intent_id: intent.id.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    const NOW: i64 = 1_795_000_000;

    fn event(livemode: Option<bool>, action: Action, created: Option<i64>) -> StripeEvent {
        StripeEvent {
            id: "evt_1".into(),
            event_type: "payment_intent.succeeded".into(),
            livemode,
            created,
            action,
        }
    }

    fn look_up() -> Action {
        Action::LookUp {
            intent_id: "pi_1".into(),
        }
    }

    fn intent(
        status: &str,
        livemode: Option<bool>,
        received: Option<i64>,
        id: Option<&str>,
    ) -> PaymentIntentView {
        PaymentIntentView {
            id: "pi_1".into(),
            status: status.into(),
            amount: 1000,
            amount_received: received,
            currency: "eur".into(),
            metadata: id
                .map(|i| [("id".to_string(), i.to_string())].into())
                .unwrap_or_default(),
            livemode,
            latest_charge: None,
        }
    }

    #[test]
    fn an_event_of_the_keys_mode_asks_for_its_payment_intent() {
        let e = event(Some(false), look_up(), Some(NOW - 60));
        assert_eq!(
            asked(&e, Mode::Test, NOW).unwrap(),
            Asked::LookUp("pi_1".into())
        );
        let ignored = event(
            Some(false),
            Action::Ignore {
                why: "event type not handled",
            },
            None,
        );
        assert_eq!(
            asked(&ignored, Mode::Test, NOW).unwrap(),
            Asked::Nothing("event type not handled".into())
        );
    }

    #[test]
    fn an_event_of_the_other_mode_or_of_no_mode_is_refused_before_anything_else() {
        for livemode in [Some(true), None] {
            let e = event(livemode, look_up(), Some(NOW));
            let err = asked(&e, Mode::Test, NOW).unwrap_err();
            assert_eq!(err.reason(), Reason::EventModeMismatch, "{livemode:?}");
        }
        // Even an ignored type: its mode is checked first.
        let e = event(Some(true), Action::Ignore { why: "x" }, None);
        assert!(asked(&e, Mode::Test, NOW).is_err());
    }

    #[test]
    fn an_event_older_than_sixty_days_is_a_replay() {
        let at_limit = event(Some(false), look_up(), Some(NOW - MAX_EVENT_AGE_SECS));
        assert!(asked(&at_limit, Mode::Test, NOW).is_ok());
        let older = event(Some(false), look_up(), Some(NOW - MAX_EVENT_AGE_SECS - 1));
        assert_eq!(
            asked(&older, Mode::Test, NOW).unwrap_err().reason(),
            Reason::StaleEvent
        );
    }

    fn session(metadata_id: Option<&str>, reference: Option<&str>) -> CheckoutSessionView {
        CheckoutSessionView {
            id: "cs_1".into(),
            payment_intent: Some("pi_1".into()),
            metadata: metadata_id
                .map(|i| [("id".to_string(), i.to_string())].into())
                .unwrap_or_default(),
            client_reference_id: reference.map(str::to_string),
        }
    }

    #[test]
    fn the_payment_intents_own_id_first_then_the_sessions() {
        let long = "x".repeat(300);
        let s = session(Some(&long), Some("order-from-session"));
        let own = intent("succeeded", Some(false), Some(1), Some("order-1"));
        assert!(!needs_session(&own));
        assert_eq!(
            named_payment(&own, Some(&s)),
            Named {
                payment_id: Some("order-1".into()),
                from_session: false
            }
        );
        let none = intent("succeeded", Some(false), Some(1), None);
        assert!(needs_session(&none));
        assert_eq!(
            named_payment(&none, Some(&s)),
            Named {
                payment_id: Some("order-from-session".into()),
                from_session: true
            },
            "an unusable Session metadata.id gives way to its client_reference_id"
        );
        assert_eq!(
            named_payment(&none, Some(&session(Some("order-m"), Some("order-c")))).payment_id,
            Some("order-m".into())
        );
        // An unusable own id gives way to a usable Session one, and stands when there is none.
        let unusable = intent("succeeded", Some(false), Some(1), Some(&long));
        assert!(needs_session(&unusable));
        assert_eq!(
            named_payment(&unusable, Some(&s)).payment_id.as_deref(),
            Some("order-from-session")
        );
        assert_eq!(
            named_payment(&unusable, None),
            Named {
                payment_id: Some(long),
                from_session: false
            }
        );
        assert_eq!(named_payment(&none, None).payment_id, None);
        assert_eq!(
            named_payment(&none, Some(&session(None, None))).payment_id,
            None
        );
    }

    #[test]
    fn only_a_succeeded_payment_intent_of_the_keys_mode_with_amount_received_is_collected() {
        assert_eq!(
            collected(
                &intent("succeeded", Some(false), Some(900), None),
                Mode::Test
            )
            .unwrap(),
            Collected::Received(900)
        );
        assert_eq!(
            collected(&intent("processing", Some(false), None, None), Mode::Test).unwrap(),
            Collected::Not("PaymentIntent status is processing, not succeeded".into())
        );
        assert_eq!(
            collected(&intent("succeeded", Some(false), None, None), Mode::Test)
                .unwrap_err()
                .reason(),
            Reason::MissingAmountReceived
        );
        assert_eq!(
            collected(
                &intent("succeeded", Some(true), Some(900), None),
                Mode::Test
            )
            .unwrap_err()
            .reason(),
            Reason::IntentModeMismatch
        );
    }

    fn refund(id: &str, amount: i64, status: &str, took: bool, back: bool) -> RefundView {
        RefundView {
            id: id.into(),
            amount,
            currency: "eur".into(),
            status: Some(status.into()),
            payment_intent: Some("pi_1".into()),
            balance_transaction: took.then(|| serde_json::json!("txn_1")),
            failure_balance_transaction: back.then(|| serde_json::json!("txn_2")),
        }
    }

    fn moved(kind: MovementKind, id: &str, amount: i64) -> Movement {
        Movement {
            kind,
            source_id: id.into(),
            amount,
        }
    }

    #[test]
    fn each_refund_moves_money_out_once_and_back_once_if_it_failed() {
        let moves = refund_moves(&[
            refund("re_made", 300, "succeeded", true, false),
            refund("re_failed", 200, "failed", true, true),
            refund("re_canceled_first", 100, "canceled", false, false),
            refund("re_pending", 50, "pending", true, false),
        ]);
        assert_eq!(
            moves,
            vec![
                moved(MovementKind::Refund, "re_made", 300),
                moved(MovementKind::Refund, "re_failed", 200),
                moved(MovementKind::RefundReversed, "re_failed", 200),
                moved(MovementKind::Refund, "re_pending", 50),
            ]
        );
        let deltas = ledger::Deltas::sum(&moves);
        assert_eq!(deltas.refunded, 350, "the failed one gave its money back");
        assert_eq!(deltas.net(), -350);
    }

    fn dispute(id: &str, status: &str, transactions: &[i64]) -> DisputeView {
        DisputeView {
            id: id.into(),
            amount: 1000,
            currency: "eur".into(),
            status: status.into(),
            payment_intent: Some("pi_1".into()),
            balance_transactions: transactions
                .iter()
                .enumerate()
                .map(|(i, amount)| crate::stripe::BalanceTransactionView {
                    id: format!("txn_{i}"),
                    amount: *amount,
                })
                .collect(),
        }
    }

    #[test]
    fn a_disputes_life_is_opened_withdrawn_reinstated_and_closed_once_each() {
        let open = dispute_moves(&[dispute("du_1", "needs_response", &[-1000])]);
        assert_eq!(
            open,
            vec![
                moved(MovementKind::DisputeOpened, "du_1", 1000),
                moved(MovementKind::DisputeWithdrawn, "du_1", 1000),
            ]
        );
        let won = dispute_moves(&[dispute("du_1", "won", &[-1000, 1000])]);
        assert_eq!(won[..2], open[..]);
        assert_eq!(
            won[2..],
            [
                moved(MovementKind::DisputeReinstated, "du_1", 1000),
                moved(MovementKind::DisputeWon, "du_1", 1000),
            ]
        );
        let after_won = ledger::Deltas::sum(&won);
        assert_eq!(
            (
                after_won.disputed,
                after_won.disputes_open,
                after_won.disputes_lost
            ),
            (0, 0, 0)
        );
        let lost = ledger::Deltas::sum(&dispute_moves(&[dispute("du_2", "lost", &[-1000])]));
        assert_eq!(
            (
                lost.disputed,
                lost.net(),
                lost.disputes_open,
                lost.disputes_lost
            ),
            (1000, -1000, 0, 1)
        );
        // Balance transactions in another settlement currency: the dispute's own amount counts.
        let settled_elsewhere = dispute_moves(&[dispute("du_4", "lost", &[-1187])]);
        assert_eq!(ledger::Deltas::sum(&settled_elsewhere).disputed, 1000);
        // An inquiry that closed without a chargeback: nothing withdrawn, closed as won.
        let inquiry =
            ledger::Deltas::sum(&dispute_moves(&[dispute("du_3", "warning_closed", &[])]));
        assert_eq!(inquiry, ledger::Deltas::default());
    }

    #[test]
    fn a_refund_event_asks_for_the_refunds_of_its_payment_intent() {
        let e = event(
            Some(false),
            Action::Refunds {
                intent_id: "pi_1".into(),
            },
            Some(NOW),
        );
        assert_eq!(
            asked(&e, Mode::Test, NOW).unwrap(),
            Asked::Refunds("pi_1".into())
        );
    }
}
