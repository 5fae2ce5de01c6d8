//! The operator's issuer key: an Ed25519 (libsodium `crypto_sign`) key pair whose signature on
//! a bundle is what makes the consumer accept it. The private half stays with the operator
//! (offline, or a secret of its own); the consumer's key set lists only public halves.
//!
//! File form: `{"kid":"<issuer key id>","seed":"<base64 of the 32-byte seed>"}`. The seed is
//! what libsodium's `crypto_sign_seed_keypair` and PyNaCl's `SigningKey(seed)` take.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use dryoc::classic::crypto_sign::{crypto_sign, crypto_sign_seed_keypair};
use dryoc::constants::CRYPTO_SIGN_BYTES;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keyset::{IssuerDocument, SealError, encode_public_key};
use crate::ids::is_valid_key_id;

pub struct IssuerKey {
    kid: String,
    seed: Zeroizing<[u8; 32]>,
    secret: Zeroizing<[u8; 64]>,
    public: [u8; 32],
}

/// Prints the key id only.
impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerKeyError {
    #[error("issuer key is not JSON of the form {{\"kid\":…,\"seed\":…}} ({0})")]
    BadJson(String),
    #[error("issuer key id {0:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    BadKeyId(String),
    #[error("issuer key {0:?}: seed is not 32 bytes of base64")]
    BadSeed(String),
}

#[derive(Serialize, Deserialize)]
struct IssuerKeyFile {
    kid: String,
    #[serde(serialize_with = "expose")]
    seed: SecretString,
}

fn expose<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

impl IssuerKey {
    /// A new random issuer key.
    pub fn generate(kid: &str) -> Result<IssuerKey, SealError> {
        if !is_valid_key_id(kid) {
            return Err(SealError::BadKeyId(kid.to_string()));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        dryoc::rng::copy_randombytes(seed.as_mut());
        Ok(IssuerKey::from_seed(kid, seed))
    }

    fn from_seed(kid: &str, seed: Zeroizing<[u8; 32]>) -> IssuerKey {
        let (public, secret) = crypto_sign_seed_keypair(&seed);
        IssuerKey {
            kid: kid.to_string(),
            seed,
            secret: Zeroizing::new(secret),
            public,
        }
    }

    pub fn from_json(json: &str) -> Result<IssuerKey, IssuerKeyError> {
        let file: IssuerKeyFile = serde_json::from_str(json)
            .map_err(|e| IssuerKeyError::BadJson(crate::support::text::describe_json_error(&e)))?;
        if !is_valid_key_id(&file.kid) {
            return Err(IssuerKeyError::BadKeyId(file.kid));
        }
        let raw = Zeroizing::new(
            B64.decode(file.seed.expose_secret().trim())
                .map_err(|_| IssuerKeyError::BadSeed(file.kid.clone()))?,
        );
        let mut seed = Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(IssuerKeyError::BadSeed(file.kid));
        }
        seed.copy_from_slice(&raw);
        Ok(IssuerKey::from_seed(&file.kid, seed))
    }

    /// The private file form: the one place the seed leaves the process.
    pub fn to_json(&self) -> Result<String, SealError> {
        let file = IssuerKeyFile {
            kid: self.kid.clone(),
            seed: SecretString::from(B64.encode(*self.seed)),
        };
        serde_json::to_string_pretty(&file).map_err(|e| SealError::Crypto(e.to_string()))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The key set entry that makes the consumer trust this issuer.
    pub fn trust(&self) -> IssuerDocument {
        IssuerDocument {
            kid: self.kid.clone(),
            public_key: encode_public_key(&self.public),
        }
    }

    /// libsodium's combined form: signature, then `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut signed = Zeroizing::new(vec![0u8; message.len() + CRYPTO_SIGN_BYTES]);
        crypto_sign(&mut signed, message, &self.secret)
            .map_err(|e| SealError::Crypto(e.to_string()))?;
        Ok(signed)
    }
}
