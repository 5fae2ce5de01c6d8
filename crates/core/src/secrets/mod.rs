//! Keys and bundles: the consumer's key set (in Secrets Manager) and the copy a warm function
//! keeps current, sealed bundles opened and checked (issuer signature, subscriber), the
//! operator's issuer key and sealing, and a subscriber's bundle read from SSM.
//!
//! Invariant: the only code that touches dryoc and key material. Within the folder imports
//! run keyset ← issuer ← seal, keyset ← bundle ← cache ← keyring ← parameter, keystore ← keyring.

mod bundle;
mod cache;
mod issuer;
mod keyring;
mod keyset;
mod keystore;
mod parameter;
mod seal;

pub use bundle::{BUNDLE_VERSION, Bundle, BundleError, MAX_SEALED_LEN, NotifyTarget};
pub use cache::{BundleCache, DEFAULT_CAPACITY as BUNDLE_CACHE_CAPACITY};
pub use issuer::{IssuerKey, IssuerKeyError};
pub use keyring::{KeyRing, MAX_AGE as KEYSET_MAX_AGE, OpenError, RELOAD_COOLDOWN};
pub use keyset::{
    IssuerDocument, KEYSET_VERSION, KeyDocument, KeySet, KeySetDocument, KeySetEditError,
    KeySetError, Removed, SealError, decode_public_key, encode_public_key, generate_key,
    public_key_of,
};
pub use keystore::{KeyStoreError, load_keyset, read_document, write_document};
pub use parameter::{BundleParameterError, read as read_bundle_parameter};
pub use seal::{BundlePlaintext, NotifyConfig, seal, seal_raw};
