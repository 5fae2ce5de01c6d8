//! Sealed bundles: a subscriber's secrets, signed by an operator issuer key and sealed to the
//! consumer's X25519 public key.
//!
//! Wire form (the `sealed-bundle` attribute): `<key id>.<base64 of crypto_box_seal(signed)>`,
//! standard base64 with padding. The key id names which of the consumer's private keys opens
//! it, so keys can be rotated: the key set holds the old and the new key until every bundle is
//! resealed.
//!
//! `signed` is libsodium's combined `crypto_sign` output: the 64-byte Ed25519 signature of the
//! payload, then the payload. The payload is UTF-8 JSON:
//! `{"v":2,"issuer":"<issuer key id>","subscriber":"…","webhook_secrets":["whsec_…",…],"stripe_api_key":"sk_…"}`,
//! and optionally `"notify":{"url":"https://…","secret":"whsec_…"}`: where the subscriber is told
//! of each credit, and the Standard Webhooks secret those notifications are signed with.
//!
//! A sealed box is anonymous: anyone holding the consumer's public key can make one, so opening
//! proves only that the bundle was made *for* us. The issuer signature proves it was made *by*
//! the operator: the key set lists the issuers' public keys (their private keys never reach the
//! consumer), and a bundle whose signature does not verify under the issuer it names is
//! refused. The opened subscriber must still equal the message's `subscriber` attribute.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use dryoc::classic::crypto_box::{crypto_box_keypair, crypto_box_seal, crypto_box_seal_open};
use dryoc::classic::crypto_core::crypto_scalarmult_base;
use dryoc::classic::crypto_sign::crypto_sign_verify_detached;
use dryoc::constants::{CRYPTO_BOX_SEALBYTES, CRYPTO_SIGN_BYTES};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zeroize::Zeroizing;

use crate::issuer::IssuerKey;

/// The payload version this consumer understands: signed by an issuer.
pub const BUNDLE_VERSION: u32 = 2;
/// The key set version this consumer understands: private keys plus trusted issuers.
pub const KEYSET_VERSION: u32 = 2;
const MAX_KEY_ID_LEN: usize = 32;
/// Bundles ride in an 8 KB message attribute; a larger one did not come from us.
pub const MAX_SEALED_LEN: usize = 8 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("sealed bundle is malformed: {0}")]
    Malformed(&'static str),
    #[error("sealed bundle names key id {0:?}, which the consumer's key set does not hold")]
    UnknownKey(String),
    #[error("sealed bundle does not open with key {0:?} (not sealed to it, or tampered with)")]
    CannotOpen(String),
    #[error(
        "opened bundle carries no issuer signature: only bundles signed by an operator issuer key are accepted"
    )]
    Unsigned,
    #[error("opened bundle names issuer {0:?}, which the consumer's key set does not trust")]
    UnknownIssuer(String),
    #[error("opened bundle's signature does not verify under issuer {0:?}")]
    BadIssuerSignature(String),
    #[error("opened bundle is not valid JSON of the expected shape ({0})")]
    BadPlaintext(String),
    #[error("opened bundle has version {0}, this consumer understands version 2")]
    UnsupportedVersion(u32),
    #[error("opened bundle holds no webhook signing secret")]
    NoWebhookSecret,
    #[error("bundle belongs to subscriber {bundle:?} but the message names {message:?}")]
    SubscriberMismatch { bundle: String, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("key set is not valid JSON of the expected shape ({0})")]
    BadJson(String),
    #[error(
        "key set has version {0}, this consumer understands version 2 (which lists the issuer \
         keys bundles must be signed by: `payhook keygen --issuer-kid … --add-to` adds one)"
    )]
    UnsupportedVersion(u32),
    #[error("key set holds no keys")]
    Empty,
    #[error("key set trusts no issuer key, so no bundle could be accepted")]
    NoIssuer,
    #[error("key {0:?}: secret_key is not 32 bytes of base64")]
    BadKey(String),
    #[error("issuer {0:?}: public_key is not 32 bytes of base64")]
    BadIssuerKey(String),
    #[error("key id {0:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    BadKeyId(String),
    #[error("key id {0:?} appears twice")]
    DuplicateKeyId(String),
}

/// A subscriber's opened secrets. Every secret is zeroized on drop and redacted in `Debug`.
#[derive(Debug)]
pub struct Bundle {
    /// The consumer key that opened it.
    pub key_id: String,
    /// The issuer key that signed it.
    pub issuer: String,
    pub subscriber: String,
    pub webhook_secrets: Vec<SecretString>,
    pub stripe_api_key: SecretString,
    /// Where credits are notified; `None`: the subscriber gets no notifications.
    pub notify: Option<NotifyTarget>,
}

/// A subscriber's notification endpoint and its signing secret. Checked when a notification is
/// sent, not when the bundle opens: a bad endpoint must not stop a payment from crediting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTarget {
    pub url: String,
    pub secret: SecretString,
}

impl Bundle {
    /// The bundle was made for the message's subscriber: a signed bundle of one subscriber
    /// replayed on another's route is refused here.
    pub fn ensure_subscriber(&self, message_subscriber: &str) -> Result<(), BundleError> {
        if self.subscriber == message_subscriber {
            Ok(())
        } else {
            Err(BundleError::SubscriberMismatch {
                bundle: self.subscriber.clone(),
                message: message_subscriber.to_string(),
            })
        }
    }
}

struct KeyPair {
    public: [u8; 32],
    secret: Zeroizing<[u8; 32]>,
}

/// The consumer's private keys and the issuers it trusts, by key id, as stored in Secrets
/// Manager.
pub struct KeySet {
    keys: BTreeMap<String, KeyPair>,
    issuers: BTreeMap<String, [u8; 32]>,
    /// SHA-256 of the document it was read from: two loads of one secret version are the same
    /// key set, and a bundle opened under one stays valid under the other.
    fingerprint: [u8; 32],
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The Secrets Manager document:
/// `{"version":2,"keys":[{"kid":"…","secret_key":"<base64>"}],"issuers":[{"kid":"…","public_key":"<base64>"}]}`.
#[derive(Serialize, Deserialize)]
pub struct KeySetDocument {
    pub version: u32,
    pub keys: Vec<KeyDocument>,
    #[serde(default)]
    pub issuers: Vec<IssuerDocument>,
}

impl KeySetDocument {
    /// A key set of one new consumer key, trusting `issuer`; returns the public key to seal to.
    pub fn generate(kid: &str, issuer: IssuerDocument) -> Result<([u8; 32], Self), SealError> {
        let (public, key) = generate_key(kid)?;
        Ok((
            public,
            KeySetDocument {
                version: KEYSET_VERSION,
                keys: vec![key],
                issuers: vec![issuer],
            },
        ))
    }

    pub fn to_json(&self) -> Result<String, SealError> {
        serde_json::to_string_pretty(self).map_err(|e| SealError::Crypto(e.to_string()))
    }

    /// Whether a consumer key or an issuer already has this id (the two share one namespace,
    /// so an operator's `--kid` names one thing).
    fn holds(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid) || self.issuers.iter().any(|i| i.kid == kid)
    }

    /// Adds a new consumer key: bundles sealed to it open once the set is stored. Returns the
    /// public key to seal to.
    pub fn add_key(&mut self, kid: &str) -> Result<[u8; 32], KeySetEditError> {
        if self.holds(kid) {
            return Err(KeySetEditError::Taken(kid.to_string()));
        }
        let (public, key) = generate_key(kid).map_err(KeySetEditError::Seal)?;
        // A version 1 key set predates issuers: editing it writes the current version.
        self.version = KEYSET_VERSION;
        self.keys.push(key);
        Ok(public)
    }

    /// Trusts a new issuer: bundles it signs open once the set is stored.
    pub fn add_issuer(&mut self, issuer: IssuerDocument) -> Result<(), KeySetEditError> {
        if self.holds(&issuer.kid) {
            return Err(KeySetEditError::Taken(issuer.kid));
        }
        self.version = KEYSET_VERSION;
        self.issuers.push(issuer);
        Ok(())
    }

    /// Removes a consumer key or an issuer; refuses to remove the last of either, which would
    /// leave a key set no function can load.
    pub fn remove(&mut self, kid: &str) -> Result<Removed, KeySetEditError> {
        if let Some(at) = self.keys.iter().position(|k| k.kid == kid) {
            if self.keys.len() == 1 {
                return Err(KeySetEditError::Last("consumer key", kid.to_string()));
            }
            self.keys.remove(at);
            return Ok(Removed::Key);
        }
        if let Some(at) = self.issuers.iter().position(|i| i.kid == kid) {
            if self.issuers.len() == 1 {
                return Err(KeySetEditError::Last("issuer", kid.to_string()));
            }
            self.issuers.remove(at);
            return Ok(Removed::Issuer);
        }
        Err(KeySetEditError::NotHeld(kid.to_string()))
    }
}

/// What [`KeySetDocument::remove`] took out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Key,
    Issuer,
}

#[derive(Debug, thiserror::Error)]
pub enum KeySetEditError {
    #[error("the key set already holds key id {0:?}")]
    Taken(String),
    #[error("the key set holds no consumer key or issuer {0:?}")]
    NotHeld(String),
    #[error("{1:?} is the key set's last {0}; add its successor first")]
    Last(&'static str, String),
    #[error(transparent)]
    Seal(SealError),
}

#[derive(Serialize, Deserialize)]
pub struct KeyDocument {
    pub kid: String,
    /// Base64 of the 32-byte X25519 secret key.
    #[serde(serialize_with = "serialize_exposed")]
    pub secret_key: SecretString,
}

/// A trusted issuer: the public half of an operator's Ed25519 signing key.
#[derive(Serialize, Deserialize, Clone)]
pub struct IssuerDocument {
    pub kid: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// Writing a key set (keygen) is the one place a private key is meant to leave the process.
fn serialize_exposed<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

impl KeySet {
    pub fn from_json(json: &str) -> Result<Self, KeySetError> {
        let doc: KeySetDocument = serde_json::from_str(json)
            .map_err(|e| KeySetError::BadJson(describe_json_error(&e)))?;
        if doc.version != KEYSET_VERSION {
            return Err(KeySetError::UnsupportedVersion(doc.version));
        }
        if doc.keys.is_empty() {
            return Err(KeySetError::Empty);
        }
        if doc.issuers.is_empty() {
            return Err(KeySetError::NoIssuer);
        }
        let mut keys = BTreeMap::new();
        for key in doc.keys {
            if !is_valid_key_id(&key.kid) {
                return Err(KeySetError::BadKeyId(key.kid));
            }
            let raw = Zeroizing::new(
                B64.decode(key.secret_key.expose_secret())
                    .map_err(|_| KeySetError::BadKey(key.kid.clone()))?,
            );
            let mut secret = Zeroizing::new([0u8; 32]);
            if raw.len() != 32 {
                return Err(KeySetError::BadKey(key.kid));
            }
            secret.copy_from_slice(&raw);
            let mut public = [0u8; 32];
            crypto_scalarmult_base(&mut public, &secret);
            if keys
                .insert(key.kid.clone(), KeyPair { public, secret })
                .is_some()
            {
                return Err(KeySetError::DuplicateKeyId(key.kid));
            }
        }
        let mut issuers = BTreeMap::new();
        for issuer in doc.issuers {
            if !is_valid_key_id(&issuer.kid) {
                return Err(KeySetError::BadKeyId(issuer.kid));
            }
            let public = decode_public_key(&issuer.public_key)
                .ok_or_else(|| KeySetError::BadIssuerKey(issuer.kid.clone()))?;
            if issuers.insert(issuer.kid.clone(), public).is_some() {
                return Err(KeySetError::DuplicateKeyId(issuer.kid));
            }
        }
        let fingerprint = sha2::Sha256::digest(json.as_bytes()).into();
        Ok(KeySet {
            keys,
            issuers,
            fingerprint,
        })
    }

    /// Identifies the document this key set was read from.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The public key to seal to, by key id.
    pub fn public_key(&self, kid: &str) -> Option<[u8; 32]> {
        self.keys.get(kid).map(|k| k.public)
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn issuer_ids(&self) -> impl Iterator<Item = &str> {
        self.issuers.keys().map(String::as_str)
    }

    /// Opens a bundle in wire form and checks its issuer signature. Does not check the
    /// subscriber: see [`Bundle::ensure_subscriber`].
    pub fn open(&self, sealed: &str) -> Result<Bundle, BundleError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(BundleError::Malformed("longer than 8 KB"));
        }
        let (kid, b64) = sealed
            .split_once('.')
            .ok_or(BundleError::Malformed("expected <key id>.<base64>"))?;
        if !is_valid_key_id(kid) {
            return Err(BundleError::Malformed(
                "key id is not 1-32 of A-Z a-z 0-9 _ -",
            ));
        }
        let ciphertext = B64
            .decode(b64)
            .map_err(|_| BundleError::Malformed("sealed box is not valid base64"))?;
        if ciphertext.len() <= CRYPTO_BOX_SEALBYTES {
            return Err(BundleError::Malformed("sealed box is too short"));
        }
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| BundleError::UnknownKey(kid.to_string()))?;
        let mut opened = Zeroizing::new(vec![0u8; ciphertext.len() - CRYPTO_BOX_SEALBYTES]);
        crypto_box_seal_open(&mut opened, &ciphertext, &key.public, &key.secret)
            .map_err(|_| BundleError::CannotOpen(kid.to_string()))?;
        let payload = self.verify_issuer(&opened)?;
        parse_payload(kid, payload)
    }

    /// Splits `signature || payload` and checks the signature under the issuer the payload
    /// names. The name is read before the signature is checked only to pick the key: a payload
    /// naming an issuer it was not signed by fails verification under that issuer's key.
    fn verify_issuer<'b>(&self, opened: &'b [u8]) -> Result<&'b [u8], BundleError> {
        // An unsigned (version 1) bundle is plain JSON. Ed25519 signatures are binary, so a
        // signed one practically never parses as JSON; this only names the failure.
        if serde_json::from_slice::<serde::de::IgnoredAny>(opened).is_ok() {
            return Err(BundleError::Unsigned);
        }
        if opened.len() <= CRYPTO_SIGN_BYTES {
            return Err(BundleError::Unsigned);
        }
        let (signature, payload) = opened.split_at(CRYPTO_SIGN_BYTES);
        let header: PayloadHeader = serde_json::from_slice(payload)
            .map_err(|e| BundleError::BadPlaintext(describe_json_error(&e)))?;
        if header.v != BUNDLE_VERSION {
            return Err(BundleError::UnsupportedVersion(header.v));
        }
        let issuer = header.issuer.unwrap_or_default();
        let public = self
            .issuers
            .get(&issuer)
            .ok_or_else(|| BundleError::UnknownIssuer(truncated(&issuer)))?;
        let signature: &[u8; CRYPTO_SIGN_BYTES] = signature
            .try_into()
            .map_err(|_| BundleError::Malformed("signature is not 64 bytes"))?;
        crypto_sign_verify_detached(signature, payload, public)
            .map_err(|_| BundleError::BadIssuerSignature(issuer))?;
        Ok(payload)
    }
}

/// An attacker chooses the issuer name; keep what goes into errors and logs short.
fn truncated(s: &str) -> String {
    s.chars().take(MAX_KEY_ID_LEN).collect()
}

#[derive(Deserialize)]
struct PayloadHeader {
    v: u32,
    issuer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[allow(dead_code)]
    v: u32,
    issuer: String,
    subscriber: String,
    webhook_secrets: Vec<SecretString>,
    stripe_api_key: SecretString,
    #[serde(default)]
    notify: Option<NotifyTarget>,
}

fn parse_payload(kid: &str, payload: &[u8]) -> Result<Bundle, BundleError> {
    let p: Payload = serde_json::from_slice(payload)
        .map_err(|e| BundleError::BadPlaintext(describe_json_error(&e)))?;
    if p.webhook_secrets.is_empty() {
        return Err(BundleError::NoWebhookSecret);
    }
    Ok(Bundle {
        key_id: kid.to_string(),
        issuer: p.issuer,
        subscriber: p.subscriber,
        webhook_secrets: p.webhook_secrets,
        stripe_api_key: p.stripe_api_key,
        notify: p.notify,
    })
}

/// serde_json's messages can quote the offending value, which here may be a secret: keep only
/// the kind of error and where it is.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong or missing field",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

pub fn is_valid_key_id(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KEY_ID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

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
            .field("url", &crate::outbound::display_url(self.url))
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

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("key id {0:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    BadKeyId(String),
    #[error("subscriber id {0:?} must be 1-64 characters of A-Z a-z 0-9 _ -")]
    BadSubscriber(String),
    #[error("at least one webhook signing secret is needed")]
    NoWebhookSecret,
    #[error("sealing failed: {0}")]
    Crypto(String),
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
    if !is_valid_key_id(kid) {
        return Err(SealError::BadKeyId(kid.to_string()));
    }
    if !crate::envelope::is_valid_subscriber(bundle.subscriber) {
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

/// A fresh key pair: (public key, key set document entry).
pub fn generate_key(kid: &str) -> Result<([u8; 32], KeyDocument), SealError> {
    if !is_valid_key_id(kid) {
        return Err(SealError::BadKeyId(kid.to_string()));
    }
    let (public, secret) = crypto_box_keypair();
    let secret = Zeroizing::new(secret);
    Ok((
        public,
        KeyDocument {
            kid: kid.to_string(),
            secret_key: SecretString::from(B64.encode(*secret)),
        },
    ))
}

/// The public half of a key set entry, to seal to; `None` if its secret is not 32 bytes.
pub fn public_key_of(key: &KeyDocument) -> Option<[u8; 32]> {
    let raw = Zeroizing::new(B64.decode(key.secret_key.expose_secret()).ok()?);
    let secret: Zeroizing<[u8; 32]> = Zeroizing::new(raw.as_slice().try_into().ok()?);
    let mut public = [0u8; 32];
    crypto_scalarmult_base(&mut public, &secret);
    Some(public)
}

/// Base64 of a public key, the form operators pass around.
pub fn encode_public_key(public: &[u8; 32]) -> String {
    B64.encode(public)
}

pub fn decode_public_key(b64: &str) -> Option<[u8; 32]> {
    B64.decode(b64.trim()).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys {
        set: KeySet,
        publics: Vec<[u8; 32]>,
        issuer: IssuerKey,
    }

    /// A key set with consumer keys `kids`, trusting one issuer, `op`.
    fn keyset_with(kids: &[&str]) -> Keys {
        let issuer = IssuerKey::generate("op").unwrap();
        let mut publics = Vec::new();
        let mut keys = Vec::new();
        for kid in kids {
            let (public, doc) = generate_key(kid).unwrap();
            publics.push(public);
            keys.push(doc);
        }
        let json = serde_json::to_string(&KeySetDocument {
            version: KEYSET_VERSION,
            keys,
            issuers: vec![issuer.trust()],
        })
        .unwrap();
        Keys {
            set: KeySet::from_json(&json).unwrap(),
            publics,
            issuer,
        }
    }

    fn plaintext<'a>(subscriber: &'a str, secrets: &'a [&'a str]) -> BundlePlaintext<'a> {
        BundlePlaintext {
            subscriber,
            webhook_secrets: secrets,
            stripe_api_key: "sk_test_123",
            notify: None,
        }
    }

    /// Signs `payload` with `issuer` and seals it to key `k1`, bypassing [`seal`]'s checks.
    fn sign_and_seal(k: &Keys, issuer: &IssuerKey, payload: &str) -> String {
        let signed = issuer.sign(payload.as_bytes()).unwrap();
        seal_raw(&k.publics[0], "k1", &signed).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_names_the_issuer() {
        let k = keyset_with(&["k1"]);
        let sealed = seal(
            &k.publics[0],
            "k1",
            &k.issuer,
            &plaintext("acme", &["whsec_a", "whsec_b"]),
        )
        .unwrap();
        let b = k.set.open(&sealed).unwrap();
        assert_eq!(b.subscriber, "acme");
        assert_eq!(b.key_id, "k1");
        assert_eq!(b.issuer, "op");
        assert_eq!(b.webhook_secrets.len(), 2);
        assert_eq!(b.webhook_secrets[1].expose_secret(), "whsec_b");
        assert_eq!(b.stripe_api_key.expose_secret(), "sk_test_123");
        assert!(b.ensure_subscriber("acme").is_ok());
        assert_eq!(
            b.ensure_subscriber("other"),
            Err(BundleError::SubscriberMismatch {
                bundle: "acme".into(),
                message: "other".into()
            })
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let k = keyset_with(&["k1"]);
        let sealed = seal(
            &k.publics[0],
            "k1",
            &k.issuer,
            &plaintext("acme", &["whsec_a"]),
        )
        .unwrap();
        let b = k.set.open(&sealed).unwrap();
        let shown = format!("{b:?} {:?} {:?}", k.set, k.issuer);
        assert!(!shown.contains("whsec_a"), "{shown}");
        assert!(!shown.contains("sk_test_123"), "{shown}");
        assert!(shown.contains("acme") && shown.contains("k1"), "{shown}");
    }

    #[test]
    fn rotation_opens_bundles_sealed_to_either_key() {
        let k = keyset_with(&["old", "new"]);
        for (kid, public) in [("old", k.publics[0]), ("new", k.publics[1])] {
            let sealed = seal(&public, kid, &k.issuer, &plaintext("acme", &["whsec_a"])).unwrap();
            assert_eq!(k.set.open(&sealed).unwrap().key_id, kid);
        }
    }

    #[test]
    fn wrong_key_unknown_key_and_tampering_are_told_apart() {
        let k = keyset_with(&["k1"]);
        let other = keyset_with(&["k1"]);
        let foreign = seal(
            &other.publics[0],
            "k1",
            &k.issuer,
            &plaintext("acme", &["whsec_a"]),
        )
        .unwrap();
        assert_eq!(
            k.set.open(&foreign).unwrap_err(),
            BundleError::CannotOpen("k1".into())
        );

        let unknown = foreign.replacen("k1", "k9", 1);
        assert_eq!(
            k.set.open(&unknown).unwrap_err(),
            BundleError::UnknownKey("k9".into())
        );

        let sealed = seal(
            &k.publics[0],
            "k1",
            &k.issuer,
            &plaintext("acme", &["whsec_a"]),
        )
        .unwrap();
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("k1.{}", B64.encode(raw));
        assert_eq!(
            k.set.open(&tampered).unwrap_err(),
            BundleError::CannotOpen("k1".into())
        );
    }

    /// What anyone holding the consumer's public key can make: each is refused, with its own
    /// error.
    #[test]
    fn bundles_not_signed_by_a_trusted_issuer_are_refused() {
        let k = keyset_with(&["k1"]);
        let good = r#"{"v":2,"issuer":"op","subscriber":"acme","webhook_secrets":["whsec_a"],"stripe_api_key":"sk_test_1"}"#;
        assert!(k.set.open(&sign_and_seal(&k, &k.issuer, good)).is_ok());

        // Unsigned: the old format, or the new payload without a signature.
        let v1 = r#"{"v":1,"subscriber":"acme","webhook_secrets":["whsec_a"],"stripe_api_key":"sk_test_1"}"#;
        for unsigned in [v1, good, "{}", "x"] {
            assert_eq!(
                k.set
                    .open(&seal_raw(&k.publics[0], "k1", unsigned.as_bytes()).unwrap())
                    .unwrap_err(),
                BundleError::Unsigned,
                "{unsigned}"
            );
        }

        // Signed by a key the key set does not trust, under a name it does not know or under
        // the trusted issuer's own name.
        let stranger = IssuerKey::generate("mallory").unwrap();
        let claims_mallory = good.replace(r#""issuer":"op""#, r#""issuer":"mallory""#);
        assert_eq!(
            k.set
                .open(&sign_and_seal(&k, &stranger, &claims_mallory))
                .unwrap_err(),
            BundleError::UnknownIssuer("mallory".into())
        );
        assert_eq!(
            k.set.open(&sign_and_seal(&k, &stranger, good)).unwrap_err(),
            BundleError::BadIssuerSignature("op".into())
        );
        let no_issuer = good.replace(r#""issuer":"op","#, "");
        assert_eq!(
            k.set
                .open(&sign_and_seal(&k, &k.issuer, &no_issuer))
                .unwrap_err(),
            BundleError::UnknownIssuer(String::new())
        );

        // The trusted issuer's signature over other bytes: the subscriber swapped after signing.
        let signed = k.issuer.sign(good.as_bytes()).unwrap();
        let mut swapped = signed.to_vec();
        let at = swapped.len() - good.len() + good.find("acme").unwrap();
        swapped[at..at + 4].copy_from_slice(b"evil");
        assert_eq!(
            k.set
                .open(&seal_raw(&k.publics[0], "k1", &swapped).unwrap())
                .unwrap_err(),
            BundleError::BadIssuerSignature("op".into())
        );
    }

    #[test]
    fn malformed_wire_forms() {
        let k = keyset_with(&["k1"]);
        for bad in [
            "",
            "nodot",
            "k1.***",
            "k1.AAAA",
            "bad id.AAAA",
            &"k".repeat(9000),
        ] {
            assert!(
                matches!(k.set.open(bad), Err(BundleError::Malformed(_))),
                "{bad:.20}"
            );
        }
    }

    #[test]
    fn payload_versions_and_shapes() {
        let k = keyset_with(&["k1"]);
        let open = |payload: &str| k.set.open(&sign_and_seal(&k, &k.issuer, payload));
        assert_eq!(
            open(r#"{"v":3,"issuer":"op","anything":true}"#).unwrap_err(),
            BundleError::UnsupportedVersion(3)
        );
        assert_eq!(
            open(r#"{"v":2,"issuer":"op","subscriber":"a","webhook_secrets":[],"stripe_api_key":"sk_x"}"#)
                .unwrap_err(),
            BundleError::NoWebhookSecret
        );
        // The error must not echo the secret that had the wrong type.
        let err = open(
            r#"{"v":2,"issuer":"op","subscriber":"a","webhook_secrets":"whsec_leak","stripe_api_key":"sk_x"}"#,
        )
        .unwrap_err();
        assert!(matches!(err, BundleError::BadPlaintext(_)));
        assert!(!err.to_string().contains("whsec_leak"), "{err}");
        assert!(matches!(
            open("not json").unwrap_err(),
            BundleError::BadPlaintext(_)
        ));
    }

    #[test]
    fn key_set_rejects_bad_documents() {
        let (_, doc) = generate_key("k1").unwrap();
        let key = doc.secret_key.expose_secret().to_string();
        let issuer = IssuerKey::generate("op").unwrap().trust().public_key;
        for (json, want) in [
            ("{".to_string(), "not valid JSON"),
            (
                format!(r#"{{"version":1,"keys":[{{"kid":"k1","secret_key":"{key}"}}]}}"#),
                "version 1",
            ),
            (r#"{"version":2,"keys":[]}"#.to_string(), "no keys"),
            (
                format!(r#"{{"version":2,"keys":[{{"kid":"k1","secret_key":"{key}"}}]}}"#),
                "no issuer",
            ),
            (
                format!(
                    r#"{{"version":2,"keys":[{{"kid":"k1","secret_key":"AAAA"}}],"issuers":[{{"kid":"op","public_key":"{issuer}"}}]}}"#
                ),
                "not 32 bytes",
            ),
            (
                format!(
                    r#"{{"version":2,"keys":[{{"kid":"k 1","secret_key":"{key}"}}],"issuers":[{{"kid":"op","public_key":"{issuer}"}}]}}"#
                ),
                "must be 1-32",
            ),
            (
                format!(
                    r#"{{"version":2,"keys":[{{"kid":"k1","secret_key":"{key}"}}],"issuers":[{{"kid":"op","public_key":"AAAA"}}]}}"#
                ),
                "issuer \"op\": public_key is not 32 bytes",
            ),
        ] {
            let err = KeySet::from_json(&json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
        let twice = format!(
            r#"{{"version":2,"keys":[{{"kid":"k1","secret_key":"{key}"}},{{"kid":"k1","secret_key":"{key}"}}],"issuers":[{{"kid":"op","public_key":"{issuer}"}}]}}"#
        );
        assert!(matches!(
            KeySet::from_json(&twice),
            Err(KeySetError::DuplicateKeyId(_))
        ));
    }

    /// A bundle signed and sealed by real libsodium (PyNaCl's `SigningKey` and `SealedBox`),
    /// not by dryoc: see `scripts/make-libsodium-fixture.py`, which wrote the fixture.
    #[test]
    fn opens_and_verifies_a_bundle_made_by_libsodium() {
        #[derive(Deserialize)]
        struct Fixture {
            keyset: serde_json::Value,
            public_key: String,
            sealed_bundle: String,
            issuer: String,
            subscriber: String,
            webhook_secrets: Vec<String>,
            stripe_api_key: String,
        }
        let f: Fixture =
            serde_json::from_str(include_str!("../tests/fixtures/libsodium-sealed.json")).unwrap();
        let keys = KeySet::from_json(&f.keyset.to_string()).unwrap();
        let kid = f.sealed_bundle.split('.').next().unwrap();
        assert_eq!(
            keys.public_key(kid).map(|k| encode_public_key(&k)),
            Some(f.public_key)
        );
        let b = keys.open(&f.sealed_bundle).unwrap();
        assert_eq!(b.issuer, f.issuer);
        assert_eq!(b.subscriber, f.subscriber);
        let secrets: Vec<&str> = b
            .webhook_secrets
            .iter()
            .map(|s| s.expose_secret())
            .collect();
        assert_eq!(secrets, f.webhook_secrets);
        assert_eq!(b.stripe_api_key.expose_secret(), f.stripe_api_key);
    }
}
