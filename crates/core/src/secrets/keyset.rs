//! The consumer's key set: its X25519 private keys and the issuers whose signatures it trusts,
//! by key id, as stored in Secrets Manager; the document operators edit; new key pairs.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use dryoc::classic::crypto_box::crypto_box_keypair;
use dryoc::classic::crypto_core::crypto_scalarmult_base;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zeroize::Zeroizing;

use crate::support::text::describe_json_error;

/// The key set version this consumer understands: private keys plus trusted issuers.
pub const KEYSET_VERSION: u32 = 2;
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

pub(super) struct KeyPair {
    pub(super) public: [u8; 32],
    pub(super) secret: Zeroizing<[u8; 32]>,
}

/// The consumer's private keys and the issuers it trusts, by key id, as stored in Secrets
/// Manager.
pub struct KeySet {
    pub(super) keys: BTreeMap<String, KeyPair>,
    pub(super) issuers: BTreeMap<String, [u8; 32]>,
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
            if !crate::ids::is_valid_key_id(&key.kid) {
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
            if !crate::ids::is_valid_key_id(&issuer.kid) {
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

/// A fresh key pair: (public key, key set document entry).
pub fn generate_key(kid: &str) -> Result<([u8; 32], KeyDocument), SealError> {
    if !crate::ids::is_valid_key_id(kid) {
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
