//! Opened bundles, cached for the life of the execution environment.
//!
//! Every message of a subscriber carries the same sealed bundle, and opening it costs an X25519
//! scalar multiplication; the cache makes the warm path a hash lookup. It is keyed by the exact
//! sealed text, so only a byte-identical bundle hits, and bounded (least recently used goes
//! first). An entry counts only under the key set that opened it: after a key set reload that
//! removed a key or an issuer, its bundles are opened (and refused) again. An evicted bundle's secrets are zeroized when its last user lets go of it
//! (`SecretString` zeroizes on drop). Failures are not cached: bundles come from operator
//! configuration, so there is no stream of bad ones to absorb.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::secrets::{Bundle, BundleError, KeySet};

pub const DEFAULT_CAPACITY: usize = 1024;

/// An opened bundle and the fingerprint of the key set that opened it.
type Entry = ([u8; 32], Arc<Bundle>);

pub struct BundleCache {
    opened: Mutex<LruCache<Box<str>, Entry>>,
}

impl BundleCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        BundleCache {
            opened: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn open(&self, keys: &KeySet, sealed: &str) -> Result<Arc<Bundle>, BundleError> {
        let fingerprint = keys.fingerprint();
        if let Some((opened_by, hit)) = self.lock().get(sealed)
            && *opened_by == fingerprint
        {
            return Ok(Arc::clone(hit));
        }
        // Opened outside the lock: concurrent first openings may both do the work, and the
        // second insert simply replaces the first.
        let bundle = Arc::new(keys.open(sealed)?);
        self.lock()
            .put(sealed.into(), (fingerprint, Arc::clone(&bundle)));
        Ok(bundle)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Box<str>, Entry>> {
        // A panic elsewhere while holding the lock leaves a usable cache.
        self.opened.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for BundleCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::IssuerKey;
    use crate::secrets::{BundlePlaintext, KeySetDocument};

    fn setup() -> (KeySet, [u8; 32]) {
        let (public, doc) = KeySetDocument::generate("k", ISSUER.trust()).unwrap();
        (KeySet::from_json(&doc.to_json().unwrap()).unwrap(), public)
    }

    static ISSUER: std::sync::LazyLock<IssuerKey> =
        std::sync::LazyLock::new(|| IssuerKey::generate("op").unwrap());

    fn seal(public: &[u8; 32], subscriber: &str) -> String {
        crate::secrets::seal(
            public,
            "k",
            &ISSUER,
            &BundlePlaintext {
                subscriber,
                webhook_secrets: &["whsec_a"],
                stripe_api_key: "sk_test_a",
                notify: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn the_second_open_is_the_same_bundle() {
        let (keys, public) = setup();
        let cache = BundleCache::new(4);
        let wire = seal(&public, "acme");
        let a = cache.open(&keys, &wire).unwrap();
        let b = cache.open(&keys, &wire).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn bounded_least_recently_used_goes_first() {
        let (keys, public) = setup();
        let cache = BundleCache::new(2);
        let (x, y, z) = (seal(&public, "x"), seal(&public, "y"), seal(&public, "z"));
        let first_x = cache.open(&keys, &x).unwrap();
        cache.open(&keys, &y).unwrap();
        cache.open(&keys, &x).unwrap(); // x is now the most recent
        cache.open(&keys, &z).unwrap(); // evicts y
        assert_eq!(cache.len(), 2);
        assert!(Arc::ptr_eq(&first_x, &cache.open(&keys, &x).unwrap()));
        // y was evicted: opening it again makes a new bundle.
        let y_again = cache.open(&keys, &y).unwrap();
        assert_eq!(y_again.subscriber, "y");
    }

    #[test]
    fn a_bundle_opened_under_one_key_set_is_checked_again_under_another() {
        let (public, doc) = KeySetDocument::generate("k", ISSUER.trust()).unwrap();
        let json = doc.to_json().unwrap();
        let keys = KeySet::from_json(&json).unwrap();
        let cache = BundleCache::new(4);
        let wire = seal(&public, "acme");
        let first = cache.open(&keys, &wire).unwrap();
        // The same document read again: the cached bundle stands.
        let reread = KeySet::from_json(&json).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.open(&reread, &wire).unwrap()));
        // The same consumer key, but the issuer that signed the bundle is no longer trusted.
        let mut edited: serde_json::Value = serde_json::from_str(&json).unwrap();
        edited["issuers"] = serde_json::json!([IssuerKey::generate("op-2").unwrap().trust()]);
        let without_issuer = KeySet::from_json(&edited.to_string()).unwrap();
        assert!(matches!(
            cache.open(&without_issuer, &wire),
            Err(BundleError::UnknownIssuer(_))
        ));
    }

    #[test]
    fn failures_are_not_cached() {
        let (keys, _) = setup();
        let cache = BundleCache::new(2);
        assert!(cache.open(&keys, "k.AAAA").is_err());
        assert!(cache.is_empty());
    }
}
