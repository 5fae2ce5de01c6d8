//! Stripe webhook signatures: `Stripe-Signature: t=<unix secs>,v1=<hex hmac>[,v1=…][,v0=…]`.
//!
//! The MAC is HMAC-SHA256 keyed with the whole `whsec_…` string over `"{t}.{raw body}"`
//! (<https://docs.stripe.com/webhooks#verify-manually>). We verify it ourselves rather than with
//! async-stripe's helper because that keeps only the last `v1` (several arrive during a secret
//! roll) and measures its fixed 300 s window against the processing clock; here the window is
//! measured against the time API Gateway received the request, so a message that waited in the
//! queue or the DLQ still verifies. This module never reads the clock itself.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's own libraries default to five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// A real header is ~100 bytes per signature; refuse to parse novels.
const MAX_HEADER_LEN: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("no v1 signature matches any webhook secret of the subscriber")]
    Mismatch,
    #[error(
        "signature timestamp {signed_at} is {skew_secs} s away from the receive time {received_at} (tolerance {tolerance_secs} s)"
    )]
    OutsideTolerance {
        signed_at: i64,
        received_at: i64,
        skew_secs: u64,
        tolerance_secs: u64,
    },
}

/// A parsed header: the timestamp and every `v1` candidate. Other schemes (`v0`) are ignored,
/// as Stripe's libraries do; a `v1` that is not 32 bytes of hex can never match and is dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub v1: Vec<[u8; 32]>,
}

impl SignatureHeader {
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(SignatureError::Malformed("longer than 4096 bytes"));
        }
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for part in header.split(',') {
            let Some((key, value)) = part.trim().split_once('=') else {
                return Err(SignatureError::Malformed("an element is not key=value"));
            };
            match key {
                "t" => {
                    if timestamp.is_some() {
                        return Err(SignatureError::Malformed("more than one t="));
                    }
                    let t: i64 = value
                        .parse()
                        .map_err(|_| SignatureError::Malformed("t= is not a whole number"))?;
                    timestamp = Some(t);
                }
                "v1" => {
                    let mut sig = [0u8; 32];
                    if hex::decode_to_slice(value, &mut sig).is_ok() {
                        v1.push(sig);
                    }
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed("no t= timestamp"))?;
        if v1.is_empty() {
            return Err(SignatureError::NoV1Signature);
        }
        Ok(SignatureHeader { timestamp, v1 })
    }
}

/// Verifies `header` over `body` with any of `secrets`, and that the signing time lies within
/// `tolerance_secs` of `received_at_secs` (either side: a timestamp far in the future of the
/// receive time is as suspect as an old one). Returns the signing timestamp.
///
/// The MAC is checked before the time, so "expired" is only ever said of a genuine signature.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[SecretString],
    received_at_secs: i64,
    tolerance_secs: u64,
) -> Result<i64, SignatureError> {
    let parsed = SignatureHeader::parse(header)?;
    let t = parsed.timestamp.to_string();
    let matched = secrets.iter().any(|secret| {
        let mac = signed_payload_mac(secret.expose_secret(), &t, body);
        // verify_slice compares in constant time.
        parsed
            .v1
            .iter()
            .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let skew_secs = received_at_secs.abs_diff(parsed.timestamp);
    if skew_secs > tolerance_secs {
        return Err(SignatureError::OutsideTolerance {
            signed_at: parsed.timestamp,
            received_at: received_at_secs,
            skew_secs,
            tolerance_secs,
        });
    }
    Ok(parsed.timestamp)
}

/// Builds a `Stripe-Signature` header as Stripe would: for the CLI, sample events and tests.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = signed_payload_mac(secret, &timestamp.to_string(), body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn signed_payload_mac(secret: &str, t: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    /// Known answer, computed independently with
    /// `printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test_secret`.
    #[test]
    fn matches_an_independent_hmac() {
        assert_eq!(
            sign(SECRET, 1_700_000_000, br#"{"id":"evt_1"}"#),
            "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a"
        );
    }

    #[test]
    fn accepts_its_own_signature() {
        let h = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(
            verify(&h, BODY, &secrets(&[SECRET]), 1_700_000_000, 300),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn any_v1_may_match_during_a_secret_roll() {
        let old = sign("whsec_old", 1_700_000_000, BODY);
        let new = sign("whsec_new", 1_700_000_000, BODY);
        let header = format!(
            "{new},v1={},v0=deadbeef",
            &old[old.find("v1=").unwrap() + 3..]
        );
        // The matching v1 is the first, the last, or in the middle: each must be found.
        for secret in ["whsec_old", "whsec_new"] {
            assert!(verify(&header, BODY, &secrets(&[secret]), 1_700_000_000, 300).is_ok());
        }
        // Several subscriber secrets, the right one last.
        assert!(
            verify(
                &old,
                BODY,
                &secrets(&["whsec_x", "whsec_old"]),
                1_700_000_000,
                300
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_a_changed_body_or_secret() {
        let h = sign(SECRET, 1_700_000_000, BODY);
        let mut changed = BODY.to_vec();
        changed[3] ^= 1;
        assert_eq!(
            verify(&h, &changed, &secrets(&[SECRET]), 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, BODY, &secrets(&["whsec_other"]), 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, BODY, &[], 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn re_encoding_the_body_breaks_it() {
        let h = sign(SECRET, 1_700_000_000, BODY);
        let reencoded =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(BODY).unwrap())
                .unwrap();
        assert_eq!(
            verify(&h, &reencoded, &secrets(&[SECRET]), 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tolerance_is_measured_from_the_receive_time() {
        let t = 1_700_000_000;
        let h = sign(SECRET, t, BODY);
        let s = secrets(&[SECRET]);
        // Received 300 s after signing: still fine, whatever the wall clock says now.
        assert!(verify(&h, BODY, &s, t + 300, 300).is_ok());
        assert!(matches!(
            verify(&h, BODY, &s, t + 301, 300),
            Err(SignatureError::OutsideTolerance { skew_secs: 301, .. })
        ));
        // Signed "in the future" of its receipt.
        assert!(matches!(
            verify(&h, BODY, &s, t - 301, 300),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        assert!(verify(&h, BODY, &s, t + 3600, 3600).is_ok());
    }

    #[test]
    fn forged_signature_is_a_mismatch_not_expired() {
        let h = format!("t=1,v1={}", "ab".repeat(32));
        assert_eq!(
            verify(&h, BODY, &secrets(&[SECRET]), 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers() {
        let s = secrets(&[SECRET]);
        for (header, want) in [
            ("", SignatureError::Malformed("an element is not key=value")),
            ("v1=00", SignatureError::Malformed("no t= timestamp")),
            (
                "t=abc,v1=00",
                SignatureError::Malformed("t= is not a whole number"),
            ),
            (
                "t=1,t=2,v1=00",
                SignatureError::Malformed("more than one t="),
            ),
            ("t=1", SignatureError::NoV1Signature),
            ("t=1,v0=abcd", SignatureError::NoV1Signature),
            ("t=1,v1=zz", SignatureError::NoV1Signature),
        ] {
            assert_eq!(verify(header, BODY, &s, 1, 300), Err(want), "{header:?}");
        }
        let long = format!("t=1,{}", "v1=00,".repeat(1000));
        assert_eq!(
            SignatureHeader::parse(&long),
            Err(SignatureError::Malformed("longer than 4096 bytes"))
        );
    }
}
