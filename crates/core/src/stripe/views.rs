//! What payhook reads of Stripe's objects, and no more.

use std::collections::HashMap;

use serde::Deserialize;

/// What we read of a PaymentIntent. Stripe always sends `amount_received`; it is optional here
/// only so that its absence is refused with its own reason instead of a parse error.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PaymentIntentView {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    /// Stripe's `livemode` (absent: `None`, which matches no key's mode).
    #[serde(default)]
    pub livemode: Option<bool>,
    /// The charge that collected it, expanded in the same request: whether anything of it has
    /// been refunded is known without a second call.
    #[serde(default)]
    pub latest_charge: Option<ChargeView>,
}

impl PaymentIntentView {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }

    /// Whether Stripe reports any of its money refunded (then its refunds are read).
    pub fn has_refunds(&self) -> bool {
        self.latest_charge
            .as_ref()
            .is_some_and(|c| c.amount_refunded > 0)
    }

    /// Whether Stripe reports its charge disputed (then its disputes are read).
    pub fn has_disputes(&self) -> bool {
        self.latest_charge.as_ref().is_some_and(|c| c.disputed)
    }
}

/// What we read of the PaymentIntent's latest charge.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ChargeView {
    pub id: String,
    /// Stripe's `amount_refunded`: refunded so far, in the currency's minor unit.
    #[serde(default)]
    pub amount_refunded: i64,
    /// Stripe's `disputed`: "Whether the charge has been disputed" ("The Charge object").
    #[serde(default)]
    pub disputed: bool,
}

/// What we read of a refund. A refund takes its money from the balance when it is made
/// (`balance_transaction`) and, if it later fails, gives it back (`failure_balance_transaction`,
/// "the adjustment made on your account balance that reverses the initial balance
/// transaction": Stripe API reference, "The Refund object").
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RefundView {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub balance_transaction: Option<serde_json::Value>,
    #[serde(default)]
    pub failure_balance_transaction: Option<serde_json::Value>,
}

impl RefundView {
    /// Its money left the balance: a balance transaction exists (an expanded one or its id).
    pub fn took_money(&self) -> bool {
        self.balance_transaction
            .as_ref()
            .is_some_and(|v| !v.is_null())
    }

    /// Its money came back: it failed after taking it (a reversing balance transaction), or it
    /// was canceled.
    pub fn gave_money_back(&self) -> bool {
        self.failure_balance_transaction
            .as_ref()
            .is_some_and(|v| !v.is_null())
            || self.status.as_deref() == Some("canceled")
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RefundPage {
    pub data: Vec<RefundView>,
    #[serde(default)]
    pub has_more: bool,
}

/// The most refunds read for one PaymentIntent: far more than any payment has, and few enough
/// for their entries (two each at most) and its disputes' to fit one DynamoDB transaction
/// (100 items) with the credit's three.
pub const MAX_REFUNDS: usize = 40;
/// The most disputes read for one PaymentIntent: a charge is disputed once at most, and a
/// PaymentIntent's failed charges cannot be; four entries each at most.
pub const MAX_DISPUTES: usize = 4;

/// What we read of a dispute: its status and the balance transactions that moved its money,
/// "zero, one, or two balance transactions that show funds withdrawn and reinstated to your
/// Stripe account as a result of this dispute" ("The Dispute object").
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DisputeView {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub balance_transactions: Vec<BalanceTransactionView>,
}

/// A balance transaction of a dispute: negative when funds were withdrawn, positive when
/// reinstated.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct BalanceTransactionView {
    pub id: String,
    pub amount: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct DisputePage {
    pub data: Vec<DisputeView>,
    #[serde(default)]
    pub has_more: bool,
}

/// What we read of a Checkout Session: the record it names, as Stripe holds it ("The Checkout
/// Session object": `metadata`, `client_reference_id`, `payment_intent`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckoutSessionView {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SessionPage {
    pub data: Vec<CheckoutSessionView>,
}

/// Which events to list.
#[derive(Debug, Clone, Copy)]
pub struct EventQuery<'a> {
    pub event_type: &'a str,
    pub since: i64,
    pub until: Option<i64>,
    pub starting_after: Option<&'a str>,
}

/// A page of `/v1/events`: each event kept as raw JSON, read by [`crate::inbound::parse`] like
/// a webhook body.
#[derive(Debug, Deserialize)]
pub struct EventPage {
    pub data: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_reads_what_it_needs_and_leaves_amount_received_absent_when_it_is() {
        let real = r#"{"id":"pi_1","amount":2000,"amount_received":1500,"currency":"eur",
            "status":"succeeded","metadata":{"id":"order-1"},"livemode":true,
            "payment_method_types":["card"],
            "latest_charge":{"id":"ch_1","object":"charge","amount_refunded":500}}"#;
        let v: PaymentIntentView = serde_json::from_str(real).unwrap();
        assert!(v.succeeded());
        assert_eq!(v.amount_received, Some(1500));
        assert_eq!(v.livemode, Some(true));
        assert_eq!(v.metadata.get("id").map(String::as_str), Some("order-1"));
        assert!(v.has_refunds(), "the expanded charge has 500 refunded");

        let without = r#"{"id":"pi_1","amount":2000,"currency":"usd","status":"succeeded"}"#;
        let v: PaymentIntentView = serde_json::from_str(without).unwrap();
        assert_eq!(v.amount_received, None, "no fallback to amount");
        assert_eq!(v.livemode, None);
        assert!(!v.has_refunds(), "no charge, nothing refunded");
    }
}
