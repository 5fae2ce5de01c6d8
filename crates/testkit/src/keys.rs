//! Keys for a test or a bench: a consumer key set, the issuer it trusts, and bundles sealed
//! the way `payhook seal` seals them.

use payhook::secrets::IssuerKey;
use payhook::secrets::KeyRing;
use payhook::secrets::{BundlePlaintext, KeySet, KeySetDocument};

pub struct TestKeys {
    /// The consumer key's id.
    pub kid: String,
    /// The consumer key's public half, what bundles are sealed to.
    pub public: [u8; 32],
    /// The operator's signing key, trusted by the key set.
    pub issuer: IssuerKey,
    /// The key set document, as stored in Secrets Manager.
    pub keyset_json: String,
}

impl TestKeys {
    /// A new consumer key `kid` and a new issuer `<kid>-issuer` it trusts.
    pub fn new(kid: &str) -> TestKeys {
        let issuer = IssuerKey::generate(&format!("{kid}-issuer")).expect("issuer key id");
        let (public, doc) = KeySetDocument::generate(kid, issuer.trust()).expect("consumer key id");
        TestKeys {
            kid: kid.to_string(),
            public,
            issuer,
            keyset_json: doc.to_json().expect("key set JSON"),
        }
    }

    pub fn key_set(&self) -> KeySet {
        KeySet::from_json(&self.keyset_json).expect("a key set this kit made")
    }

    /// The key set as a function holds it, never re-read.
    pub fn ring(&self) -> KeyRing {
        KeyRing::fixed(self.key_set())
    }

    /// A bundle for `subscriber`, signed by the issuer and sealed to the consumer key.
    pub fn seal(&self, subscriber: &str, secrets: &[&str], api_key: &str) -> String {
        self.seal_to(&self.public, &self.kid, subscriber, secrets, api_key)
    }

    /// A bundle whose subscriber is notified at `url`, signed with `secret`.
    pub fn seal_notifying(
        &self,
        subscriber: &str,
        secrets: &[&str],
        api_key: &str,
        url: &str,
        secret: &str,
    ) -> String {
        payhook::secrets::seal(
            &self.public,
            &self.kid,
            &self.issuer,
            &BundlePlaintext {
                subscriber,
                webhook_secrets: secrets,
                stripe_api_key: api_key,
                notify: Some(payhook::secrets::NotifyConfig { url, secret }),
            },
        )
        .expect("seal")
    }

    /// The same, sealed to another consumer key (a rotation's new key, say).
    pub fn seal_to(
        &self,
        public: &[u8; 32],
        kid: &str,
        subscriber: &str,
        secrets: &[&str],
        api_key: &str,
    ) -> String {
        payhook::secrets::seal(
            public,
            kid,
            &self.issuer,
            &BundlePlaintext {
                subscriber,
                webhook_secrets: secrets,
                stripe_api_key: api_key,
                notify: None,
            },
        )
        .expect("seal")
    }
}
