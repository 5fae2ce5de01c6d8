//! Sealed bundles: a subscriber's secrets, sealed to the consumer's X25519 public key.
//!
//! Wire form (the `sealed-bundle` attribute): `<key id>.<base64 of crypto_box_seal(plaintext)>`.
//! The key id names which of the consumer's private keys opens it, so keys can be rotated: the
//! key set holds the old and the new key until every bundle is resealed.
//!
//! Plaintext, JSON: `{"v":1,"subscriber":"…","webhook_secrets":["whsec_…",…],"stripe_api_key":"sk_…"}`.
//!
//! A sealed box is anonymous: anyone holding the public key can make one, so opening proves only
//! that the bundle was made for us, not by whom. That is why the opened subscriber must equal the
//! message's `subscriber` attribute, and why bundles come from operator configuration, never
//! from the HTTP caller.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use dryoc::classic::crypto_box::{crypto_box_keypair, crypto_box_seal, crypto_box_seal_open};
use dryoc::classic::crypto_core::crypto_scalarmult_base;
use dryoc::constants::CRYPTO_BOX_SEALBYTES;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The plaintext versions this consumer understands.
pub const BUNDLE_VERSION: u32 = 1;
/// The key set versions this consumer understands.
pub const KEYSET_VERSION: u32 = 1;
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
    #[error("opened bundle is not valid JSON of the expected shape ({0})")]
    BadPlaintext(String),
    #[error("opened bundle has version {0}, this consumer understands version 1")]
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
    #[error("key set has version {0}, this consumer understands version 1")]
    UnsupportedVersion(u32),
    #[error("key set holds no keys")]
    Empty,
    #[error("key {0:?}: secret_key is not 32 bytes of base64")]
    BadKey(String),
    #[error("key id {0:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    BadKeyId(String),
    #[error("key id {0:?} appears twice")]
    DuplicateKeyId(String),
}

/// A subscriber's opened secrets. Every secret is zeroized on drop and redacted in `Debug`.
#[derive(Debug)]
pub struct Bundle {
    pub key_id: String,
    pub subscriber: String,
    pub webhook_secrets: Vec<SecretString>,
    pub stripe_api_key: SecretString,
}

impl Bundle {
    /// The sealed-box check that matters: the bundle was made for the message's subscriber.
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

/// The consumer's private keys by key id, as stored in Secrets Manager.
pub struct KeySet {
    keys: BTreeMap<String, KeyPair>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The Secrets Manager document: `{"version":1,"keys":[{"kid":"…","secret_key":"<base64>"}]}`.
#[derive(Serialize, Deserialize)]
pub struct KeySetDocument {
    pub version: u32,
    pub keys: Vec<KeyDocument>,
}

#[derive(Serialize, Deserialize)]
pub struct KeyDocument {
    pub kid: String,
    /// Base64 of the 32-byte X25519 secret key.
    #[serde(serialize_with = "serialize_exposed")]
    pub secret_key: SecretString,
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
        Ok(KeySet { keys })
    }

    /// The public key to seal to, by key id.
    pub fn public_key(&self, kid: &str) -> Option<[u8; 32]> {
        self.keys.get(kid).map(|k| k.public)
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Opens a bundle in wire form. Does not check the subscriber: see [`Bundle::ensure_subscriber`].
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
        let mut plaintext = Zeroizing::new(vec![0u8; ciphertext.len() - CRYPTO_BOX_SEALBYTES]);
        crypto_box_seal_open(&mut plaintext, &ciphertext, &key.public, &key.secret)
            .map_err(|_| BundleError::CannotOpen(kid.to_string()))?;
        parse_plaintext(kid, &plaintext)
    }
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaintextV1 {
    #[allow(dead_code)]
    v: u32,
    subscriber: String,
    webhook_secrets: Vec<SecretString>,
    stripe_api_key: SecretString,
}

fn parse_plaintext(kid: &str, plaintext: &[u8]) -> Result<Bundle, BundleError> {
    let version: VersionOnly = serde_json::from_slice(plaintext)
        .map_err(|e| BundleError::BadPlaintext(describe_json_error(&e)))?;
    if version.v != BUNDLE_VERSION {
        return Err(BundleError::UnsupportedVersion(version.v));
    }
    let p: PlaintextV1 = serde_json::from_slice(plaintext)
        .map_err(|e| BundleError::BadPlaintext(describe_json_error(&e)))?;
    if p.webhook_secrets.is_empty() {
        return Err(BundleError::NoWebhookSecret);
    }
    Ok(Bundle {
        key_id: kid.to_string(),
        subscriber: p.subscriber,
        webhook_secrets: p.webhook_secrets,
        stripe_api_key: p.stripe_api_key,
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
#[derive(Serialize)]
pub struct BundlePlaintext<'a> {
    pub v: u32,
    pub subscriber: &'a str,
    pub webhook_secrets: &'a [&'a str],
    pub stripe_api_key: &'a str,
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

/// Seals a bundle to `public_key` and returns it in wire form. Same output format as libsodium's
/// `crypto_box_seal`, so any libsodium binding can produce bundles too.
pub fn seal(
    public_key: &[u8; 32],
    kid: &str,
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
    let plaintext =
        Zeroizing::new(serde_json::to_vec(bundle).map_err(|e| SealError::Crypto(e.to_string()))?);
    let mut ciphertext = vec![0u8; plaintext.len() + CRYPTO_BOX_SEALBYTES];
    crypto_box_seal(&mut ciphertext, &plaintext, public_key)
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

    fn keyset_with(kids: &[&str]) -> (KeySet, Vec<[u8; 32]>) {
        let mut publics = Vec::new();
        let mut keys = Vec::new();
        for kid in kids {
            let (public, doc) = generate_key(kid).unwrap();
            publics.push(public);
            keys.push(doc);
        }
        let json = serde_json::to_string(&KeySetDocument { version: 1, keys }).unwrap();
        (KeySet::from_json(&json).unwrap(), publics)
    }

    fn plaintext<'a>(subscriber: &'a str, secrets: &'a [&'a str]) -> BundlePlaintext<'a> {
        BundlePlaintext {
            v: 1,
            subscriber,
            webhook_secrets: secrets,
            stripe_api_key: "sk_test_123",
        }
    }

    #[test]
    fn seal_then_open_round_trips() {
        let (keys, publics) = keyset_with(&["k1"]);
        let sealed = seal(
            &publics[0],
            "k1",
            &plaintext("acme", &["whsec_a", "whsec_b"]),
        )
        .unwrap();
        let b = keys.open(&sealed).unwrap();
        assert_eq!(b.subscriber, "acme");
        assert_eq!(b.key_id, "k1");
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
        let (keys, publics) = keyset_with(&["k1"]);
        let sealed = seal(&publics[0], "k1", &plaintext("acme", &["whsec_a"])).unwrap();
        let b = keys.open(&sealed).unwrap();
        let shown = format!("{b:?} {keys:?}");
        assert!(!shown.contains("whsec_a"), "{shown}");
        assert!(!shown.contains("sk_test_123"), "{shown}");
        assert!(shown.contains("acme") && shown.contains("k1"), "{shown}");
    }

    #[test]
    fn rotation_opens_bundles_sealed_to_either_key() {
        let (keys, publics) = keyset_with(&["old", "new"]);
        for (kid, public) in [("old", publics[0]), ("new", publics[1])] {
            let sealed = seal(&public, kid, &plaintext("acme", &["whsec_a"])).unwrap();
            assert_eq!(keys.open(&sealed).unwrap().key_id, kid);
        }
    }

    #[test]
    fn wrong_key_unknown_key_and_tampering_are_told_apart() {
        let (keys, _) = keyset_with(&["k1"]);
        let (_, other_publics) = keyset_with(&["k1"]);
        let foreign = seal(&other_publics[0], "k1", &plaintext("acme", &["whsec_a"])).unwrap();
        assert_eq!(
            keys.open(&foreign).unwrap_err(),
            BundleError::CannotOpen("k1".into())
        );

        let unknown = foreign.replacen("k1", "k9", 1);
        assert_eq!(
            keys.open(&unknown).unwrap_err(),
            BundleError::UnknownKey("k9".into())
        );

        let (keys, publics) = keyset_with(&["k1"]);
        let sealed = seal(&publics[0], "k1", &plaintext("acme", &["whsec_a"])).unwrap();
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("k1.{}", B64.encode(raw));
        assert_eq!(
            keys.open(&tampered).unwrap_err(),
            BundleError::CannotOpen("k1".into())
        );
    }

    #[test]
    fn malformed_wire_forms() {
        let (keys, _) = keyset_with(&["k1"]);
        for bad in [
            "",
            "nodot",
            "k1.***",
            "k1.AAAA",
            "bad id.AAAA",
            &"k".repeat(9000),
        ] {
            assert!(
                matches!(keys.open(bad), Err(BundleError::Malformed(_))),
                "{bad:.20}"
            );
        }
    }

    #[test]
    fn plaintext_versions_and_shapes() {
        let (keys, publics) = keyset_with(&["k1"]);
        let raw_seal = |json: &str| {
            let mut c = vec![0u8; json.len() + CRYPTO_BOX_SEALBYTES];
            crypto_box_seal(&mut c, json.as_bytes(), &publics[0]).unwrap();
            format!("k1.{}", B64.encode(c))
        };
        assert_eq!(
            keys.open(&raw_seal(r#"{"v":2,"anything":true}"#))
                .unwrap_err(),
            BundleError::UnsupportedVersion(2)
        );
        assert_eq!(
            keys.open(&raw_seal(
                r#"{"v":1,"subscriber":"a","webhook_secrets":[],"stripe_api_key":"sk_x"}"#
            ))
            .unwrap_err(),
            BundleError::NoWebhookSecret
        );
        // The error must not echo the secret that had the wrong type.
        let err = keys
            .open(&raw_seal(
                r#"{"v":1,"subscriber":"a","webhook_secrets":"whsec_leak","stripe_api_key":"sk_x"}"#,
            ))
            .unwrap_err();
        assert!(matches!(err, BundleError::BadPlaintext(_)));
        assert!(!err.to_string().contains("whsec_leak"), "{err}");
        assert!(matches!(
            keys.open(&raw_seal("not json")).unwrap_err(),
            BundleError::BadPlaintext(_)
        ));
    }

    #[test]
    fn key_set_rejects_bad_documents() {
        for (json, want) in [
            ("{", "not valid JSON"),
            (r#"{"version":2,"keys":[]}"#, "version 2"),
            (r#"{"version":1,"keys":[]}"#, "no keys"),
            (
                r#"{"version":1,"keys":[{"kid":"k1","secret_key":"AAAA"}]}"#,
                "not 32 bytes",
            ),
            (
                r#"{"version":1,"keys":[{"kid":"k 1","secret_key":"AAAA"}]}"#,
                "must be 1-32",
            ),
        ] {
            let err = KeySet::from_json(json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
        let (_, doc) = generate_key("k1").unwrap();
        let key = doc.secret_key.expose_secret().to_string();
        let twice = format!(
            r#"{{"version":1,"keys":[{{"kid":"k1","secret_key":"{key}"}},{{"kid":"k1","secret_key":"{key}"}}]}}"#
        );
        assert!(matches!(
            KeySet::from_json(&twice),
            Err(KeySetError::DuplicateKeyId(_))
        ));
    }

    /// A bundle sealed by real libsodium (PyNaCl's `SealedBox`), not by dryoc: see
    /// `scripts/make-libsodium-fixture.py`, which wrote the fixture.
    #[test]
    fn opens_a_bundle_sealed_by_libsodium() {
        #[derive(Deserialize)]
        struct Fixture {
            keyset: serde_json::Value,
            public_key: String,
            sealed_bundle: String,
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
