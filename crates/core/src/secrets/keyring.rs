//! The key set a warm function opens bundles with, kept current without a redeploy.
//!
//! A Lambda execution environment lives for hours and loads the key set once at cold start, so
//! a rotation (a new consumer key, a new issuer, a key or issuer removed) would otherwise reach
//! it only when Lambda happens to start a new environment. The ring re-reads the Secrets
//! Manager secret:
//! - when a bundle names a key id or an issuer the loaded set lacks (a bundle sealed to a key
//!   added since), at most once per [`RELOAD_COOLDOWN`], so a stream of bundles with made-up
//!   key ids costs one `GetSecretValue` per cooldown, not one per message. Such a bundle is
//!   refused for good only once a re-read made for it (or after it) still lacks the key;
//!   until then it is [`OpenError::NotRechecked`], a transient failure, so a second rotation
//!   within the cooldown loses no message;
//! - when the loaded copy is older than [`MAX_AGE`], so a removed key or issuer stops opening
//!   bundles within that bound.
//!
//! A re-read that fails keeps the loaded set (and is retried after the cooldown): a Secrets
//! Manager outage must not stop a working consumer.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::secrets::BundleCache;
use crate::secrets::KeyStoreError;
use crate::secrets::{Bundle, BundleError, KeySet};

/// Oldest a warm function's copy of the key set gets before it is re-read.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// Least time between two re-reads asked for by unknown key ids or issuers.
pub const RELOAD_COOLDOWN: Duration = Duration::from_secs(30);

/// Why a bundle did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle names a key id or issuer the loaded key set lacks, and the set could not be
    /// re-read for it now: worth trying again.
    #[error("{0}; the key set could not be re-read for it now ({1})")]
    NotRechecked(BundleError, &'static str),
}

pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
    source: Option<Source>,
}

struct Source {
    secrets: aws_sdk_secretsmanager::Client,
    secret_id: String,
    max_age: Duration,
    cooldown: Duration,
    timing: tokio::sync::Mutex<Timing>,
}

struct Timing {
    loaded_at: Instant,
    /// The last read, successful or not: a failing read is not retried before the cooldown.
    last_attempt: Instant,
    /// The last read an unknown key id or issuer asked for.
    last_unknown: Option<Instant>,
}

/// Whether the key set handed back reflects the secret as it is now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checked {
    /// Read for this ask, or by another caller after the ask's snapshot.
    Now,
    /// Not read: within the cooldown, or the read failed (the reason).
    Not(&'static str),
}

/// Why a re-read is asked for.
#[derive(Clone, Copy)]
enum Ask {
    /// The loaded copy may be older than the maximum age.
    Age,
    /// A bundle named a key id or issuer the loaded copy lacks.
    Unknown,
}

impl KeyRing {
    /// A key set that is never re-read (tests, and the CLI with a key set file).
    pub fn fixed(keys: KeySet) -> KeyRing {
        KeyRing {
            current: RwLock::new(Arc::new(keys)),
            source: None,
        }
    }

    /// Loads the key set from the secret; a failure here is a cold start that fails.
    pub async fn load(
        secrets: aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<KeyRing, KeyStoreError> {
        Self::load_with(secrets, secret_id, MAX_AGE, RELOAD_COOLDOWN).await
    }

    /// The same, with the re-read bounds given (tests shorten them).
    pub async fn load_with(
        secrets: aws_sdk_secretsmanager::Client,
        secret_id: &str,
        max_age: Duration,
        cooldown: Duration,
    ) -> Result<KeyRing, KeyStoreError> {
        let keys = super::keystore::load_keyset(&secrets, secret_id).await?;
        let now = Instant::now();
        Ok(KeyRing {
            current: RwLock::new(Arc::new(keys)),
            source: Some(Source {
                secrets,
                secret_id: secret_id.to_string(),
                max_age,
                cooldown,
                timing: tokio::sync::Mutex::new(Timing {
                    loaded_at: now,
                    last_attempt: now,
                    last_unknown: None,
                }),
            }),
        })
    }

    /// The key set loaded now.
    pub fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Opens a bundle through `cache` with the current key set, re-reading the set first if
    /// it is older than the maximum age, and once more if the bundle names a key id or issuer
    /// the set lacks.
    pub async fn open_cached(
        &self,
        cache: &BundleCache,
        sealed: &str,
    ) -> Result<Arc<Bundle>, OpenError> {
        let (keys, _) = self.reload_if(Ask::Age).await;
        match cache.open(&keys, sealed) {
            Err(BundleError::UnknownKey(_) | BundleError::UnknownIssuer(_)) => {
                let (reloaded, checked) = self.reload_if(Ask::Unknown).await;
                rechecked(cache.open(&reloaded, sealed), checked)
            }
            opened => Ok(opened?),
        }
    }

    /// The same without a cache (the scheduled functions open a few bundles per run).
    pub async fn open(&self, sealed: &str) -> Result<Bundle, OpenError> {
        let (keys, _) = self.reload_if(Ask::Age).await;
        match keys.open(sealed) {
            Err(BundleError::UnknownKey(_) | BundleError::UnknownIssuer(_)) => {
                let (reloaded, checked) = self.reload_if(Ask::Unknown).await;
                rechecked(reloaded.open(sealed), checked)
            }
            opened => Ok(opened?),
        }
    }

    /// Re-reads the secret if `ask` calls for it now, and returns the key set to use. Callers
    /// that waited while another re-read ran use its result instead of reading again.
    async fn reload_if(&self, ask: Ask) -> (Arc<KeySet>, Checked) {
        let seen = self.current();
        let Some(source) = &self.source else {
            return (seen, Checked::Now);
        };
        if let Ask::Age = ask {
            // The common case, without waiting on the lock: fresh enough.
            if let Ok(timing) = source.timing.try_lock()
                && timing.loaded_at.elapsed() < source.max_age
            {
                return (seen, Checked::Now);
            }
        }
        let mut timing = source.timing.lock().await;
        let now = self.current();
        if now.fingerprint() != seen.fingerprint() {
            return (now, Checked::Now);
        }
        let due = match ask {
            Ask::Age => {
                timing.loaded_at.elapsed() >= source.max_age
                    && timing.last_attempt.elapsed() >= source.cooldown
            }
            Ask::Unknown => timing
                .last_unknown
                .is_none_or(|at| at.elapsed() >= source.cooldown),
        };
        if !due {
            return (
                now,
                Checked::Not("it was re-read less than the cooldown ago"),
            );
        }
        timing.last_attempt = Instant::now();
        if let Ask::Unknown = ask {
            timing.last_unknown = Some(timing.last_attempt);
        }
        match super::keystore::load_keyset(&source.secrets, &source.secret_id).await {
            Ok(keys) => {
                timing.loaded_at = Instant::now();
                let keys = Arc::new(keys);
                if keys.fingerprint() != now.fingerprint() {
                    tracing::info!(
                        key_ids = ?keys.key_ids().collect::<Vec<_>>(),
                        issuers = ?keys.issuer_ids().collect::<Vec<_>>(),
                        "key set re-read: a new version is in use"
                    );
                }
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&keys);
                (keys, Checked::Now)
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "could not re-read the key set; the loaded one stays in use"
                );
                (now, Checked::Not("reading the secret failed"))
            }
        }
    }
}

/// A bundle still naming an unknown key or issuer is refused for good only if the key set was
/// read for it.
fn rechecked<T>(opened: Result<T, BundleError>, checked: Checked) -> Result<T, OpenError> {
    match (opened, checked) {
        (
            Err(e @ (BundleError::UnknownKey(_) | BundleError::UnknownIssuer(_))),
            Checked::Not(why),
        ) => Err(OpenError::NotRechecked(e, why)),
        (opened, _) => Ok(opened?),
    }
}
