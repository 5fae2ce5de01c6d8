//! What a subscriber receives: the `payment.credited` body, and the Standard Webhooks secret
//! it is signed with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::store::Notification;
use crate::support::clock;

/// The notification type subscribers receive.
pub const EVENT_TYPE: &str = "payment.credited";

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

/// The body subscribers receive, in the Standard Webhooks shape (`type`, `timestamp`, `data`).
pub fn body(n: &Notification, paid: Option<i64>) -> String {
    let credited_at = clock::rfc3339((n.credited_at.max(0) / 1000) as u64);
    serde_json::json!({
        "type": EVENT_TYPE,
        "timestamp": credited_at,
        "data": {
            "subscriber": n.subscriber,
            "payment_id": n.payment_id,
            "payment_intent": n.payment_intent,
            "amount": n.amount,
            "currency": n.currency,
            "paid": paid,
            "credited_at": credited_at,
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
}
