//! What a subscriber receives: one body per movement of money on a record (`payment.credited`,
//! `payment.refunded`, `payment.refund_reversed`), and the Standard Webhooks secret it is
//! signed with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::store::Notification;
use crate::ledger::{NotificationKind, RecordTotals};
use crate::support::clock;

/// Every notification type subscribers receive.
pub const EVENT_TYPES: [NotificationKind; 3] = [
    NotificationKind::Credited,
    NotificationKind::Refunded,
    NotificationKind::RefundReversed,
];

/// A new signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes, base64.
pub fn generate_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    dryoc::rng::copy_randombytes(bytes.as_mut_slice());
    Zeroizing::new(format!("whsec_{}", B64.encode(bytes.as_slice())))
}

/// A secret the signer accepts: `whsec_` and at least 24 bytes of base64.
pub fn check_secret(secret: &str) -> Result<(), &'static str> {
    let b64 = secret
        .strip_prefix("whsec_")
        .ok_or("a notification secret starts with whsec_")?;
    match B64.decode(b64) {
        Ok(key) if key.len() >= 24 => Ok(()),
        Ok(_) => Err("a notification secret holds at least 24 bytes"),
        Err(_) => Err("a notification secret is whsec_ and base64"),
    }
}

/// The body subscribers receive, in the Standard Webhooks shape (`type`, `timestamp`, `data`):
/// what moved (`amount`), and the record's sums and state as they stood when it was first
/// sent (`record`; null if the record is gone).
pub fn body(n: &Notification, totals: Option<RecordTotals>) -> String {
    let at = clock::rfc3339((n.credited_at.max(0) / 1000) as u64);
    serde_json::json!({
        "type": n.kind.as_str(),
        "timestamp": at,
        "data": {
            "subscriber": n.subscriber,
            "payment_id": n.payment_id,
            "payment_intent": n.payment_intent,
            "source": n.source,
            "amount": n.amount,
            "currency": n.currency,
            "paid": totals.map(|t| t.paid),
            "credited_at": at,
            "record": totals.map(|t| serde_json::json!({
                "received": t.received,
                "refunded": t.refunded,
                "disputed": t.disputed,
                "net": t.net,
                "state": t.state(),
            })),
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_accepted_and_differ() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(check_secret(a.as_str()), Ok(()));
        assert!(standardwebhooks::Webhook::new(a.as_str()).is_ok());
    }

    #[test]
    fn weak_or_malformed_secrets_are_refused() {
        assert!(check_secret("sk_test_abc").is_err());
        assert!(check_secret("whsec_!!!").is_err());
        assert!(check_secret(&format!("whsec_{}", B64.encode([1u8; 8]))).is_err());
    }

    #[test]
    fn a_refund_body_names_its_refund_and_reports_the_record_after_it() {
        let n = Notification {
            id: "msg_re_1".into(),
            kind: NotificationKind::Refunded,
            source: Some("re_1".into()),
            amount: 400,
            ..super::super::store::fresh_notification()
        };
        let totals = RecordTotals {
            paid: 1,
            received: 1000,
            refunded: 400,
            net: 600,
            ..RecordTotals::default()
        };
        let sent: serde_json::Value = serde_json::from_str(&body(&n, Some(totals))).unwrap();
        assert_eq!(sent["type"], "payment.refunded");
        assert_eq!(sent["data"]["source"], "re_1");
        assert_eq!(sent["data"]["amount"], 400);
        assert_eq!(
            sent["data"]["record"],
            serde_json::json!({"received": 1000, "refunded": 400, "disputed": 0, "net": 600,
                "state": "partially_refunded"})
        );
        let all_back = RecordTotals {
            refunded: 1000,
            net: 0,
            ..totals
        };
        let sent: serde_json::Value = serde_json::from_str(&body(&n, Some(all_back))).unwrap();
        assert_eq!(sent["data"]["record"]["state"], "refunded");
        let credited = super::super::store::fresh_notification();
        let sent: serde_json::Value = serde_json::from_str(&body(&credited, None)).unwrap();
        assert_eq!(sent["type"], "payment.credited");
        assert_eq!(sent["data"]["source"], serde_json::Value::Null);
        assert_eq!(sent["data"]["record"], serde_json::Value::Null);
    }
}
