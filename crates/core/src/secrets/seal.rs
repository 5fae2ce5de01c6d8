//! The operator's side of a bundle: the subscriber's secrets signed with the issuer key and
//! sealed to the consumer's public key (`payhook seal`; the functions never seal).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use dryoc::classic::crypto_box::crypto_box_seal;
use dryoc::constants::CRYPTO_BOX_SEALBYTES;
use serde::Serialize;
use zeroize::Zeroizing;

use super::bundle::BUNDLE_VERSION;
use super::issuer::IssuerKey;
use super::keyset::SealError;

/// What an operator seals for a subscriber.
pub struct BundlePlaintext<'a> {
    pub subscriber: &'a str,
    pub webhook_secrets: &'a [&'a str],
    pub stripe_api_key: &'a str,
    pub notify: Option<NotifyConfig<'a>>,
}

/// A notification endpoint as sealed.
#[derive(Clone, Copy, Serialize)]
pub struct NotifyConfig<'a> {
    pub url: &'a str,
    pub secret: &'a str,
}

impl fmt::Debug for NotifyConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("url", &crate::support::redact::display_url(self.url))
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// The payload as signed: the plaintext, its version and the issuer's key id.
#[derive(Serialize)]
struct SignedPayload<'a> {
    v: u32,
    issuer: &'a str,
    subscriber: &'a str,
    webhook_secrets: &'a [&'a str],
    stripe_api_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notify: Option<NotifyConfig<'a>>,
}

/// Signs a bundle with `issuer`, seals it to `public_key` and returns it in wire form. The
/// output is libsodium's `crypto_sign` inside `crypto_box_seal`, so any libsodium binding can
/// produce bundles too (README: Bundle format).
pub fn seal(
    public_key: &[u8; 32],
    kid: &str,
    issuer: &IssuerKey,
    bundle: &BundlePlaintext<'_>,
) -> Result<String, SealError> {
    if !crate::ids::is_valid_key_id(kid) {
        return Err(SealError::BadKeyId(kid.to_string()));
    }
    if !crate::ids::is_valid_subscriber(bundle.subscriber) {
        return Err(SealError::BadSubscriber(bundle.subscriber.to_string()));
    }
    if bundle.webhook_secrets.is_empty() {
        return Err(SealError::NoWebhookSecret);
    }
    let payload = Zeroizing::new(
        serde_json::to_vec(&SignedPayload {
            v: BUNDLE_VERSION,
            issuer: issuer.kid(),
            subscriber: bundle.subscriber,
            webhook_secrets: bundle.webhook_secrets,
            stripe_api_key: bundle.stripe_api_key,
            notify: bundle.notify,
        })
        .map_err(|e| SealError::Crypto(e.to_string()))?,
    );
    let signed = issuer.sign(&payload)?;
    seal_raw(public_key, kid, &signed)
}

/// `<kid>.<base64 of crypto_box_seal(plaintext)>`, whatever the plaintext: [`seal`]'s last step,
/// and how the tests make the bundles an attacker could make.
pub fn seal_raw(public_key: &[u8; 32], kid: &str, plaintext: &[u8]) -> Result<String, SealError> {
    let mut ciphertext = vec![0u8; plaintext.len() + CRYPTO_BOX_SEALBYTES];
    crypto_box_seal(&mut ciphertext, plaintext, public_key)
        .map_err(|e| SealError::Crypto(e.to_string()))?;
    Ok(format!("{kid}.{}", B64.encode(ciphertext)))
}
