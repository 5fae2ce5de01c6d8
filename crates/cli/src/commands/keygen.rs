//! `payhook keygen`: the consumer's X25519 key pair and the operator's issuer key pair, for a
//! new key set or one more key of either kind in a rotation.

use std::path::PathBuf;

use payhook::secrets::IssuerKey;
use payhook::secrets::{KeySet, KeySetDocument};

use crate::failure::{Failure, Result};
use crate::input::{read_file, write_private};

/// Make keys. A new key set (--out) needs both a consumer key (--kid) and an issuer key
/// (--issuer-kid, its private half written to --issuer-out and kept by the operator, never by
/// the consumer). With --add-to, either kind is added to an existing key set for a rotation.
/// Prints the public keys.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["kid", "issuer_kid"])))]
pub struct Args {
    /// Consumer key id, 1-32 of A-Z a-z 0-9 _ - (e.g. the month it was made: 2026-11).
    #[arg(long)]
    kid: Option<String>,
    /// Issuer key id: a new signing key whose public half the key set trusts.
    #[arg(long, requires = "issuer_out")]
    issuer_kid: Option<String>,
    /// Where to write the issuer's private key (mode 0600). Keep it offline or in a secret of
    /// its own: whoever holds it can issue bundles.
    #[arg(long, requires = "issuer_kid")]
    issuer_out: Option<PathBuf>,
    /// Where to write the new key set JSON (mode 0600): the document for Secrets Manager.
    #[arg(long, conflicts_with = "add_to", required_unless_present = "add_to")]
    out: Option<PathBuf>,
    /// Add the new key(s) to this existing key set file instead.
    #[arg(long)]
    add_to: Option<PathBuf>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let issuer = match &self.issuer_kid {
            Some(kid) => {
                Some(IssuerKey::generate(kid).map_err(|e| Failure::usage("--issuer-kid", e))?)
            }
            None => None,
        };
        let (consumer_public, consumer_key) = match &self.kid {
            Some(kid) => {
                let (public, key) =
                    payhook::secrets::generate_key(kid).map_err(|e| Failure::usage("--kid", e))?;
                (Some(public), Some(key))
            }
            None => (None, None),
        };
        let (path, doc) = match (&self.add_to, &self.out) {
            (Some(path), _) => {
                let existing = read_file("--add-to", path)?;
                let what = || format!("--add-to {}", path.display());
                let mut doc: KeySetDocument =
                    serde_json::from_str(&existing).map_err(|e| Failure::usage(what(), e))?;
                let taken = |kid: &str| {
                    doc.keys.iter().any(|k| k.kid == kid)
                        || doc.issuers.iter().any(|i| i.kid == kid)
                };
                for kid in [&self.kid, &self.issuer_kid].into_iter().flatten() {
                    if taken(kid) {
                        return Err(Failure::usage(
                            what(),
                            format!("already holds key id {kid:?}"),
                        )
                        .hint("choose a new key id"));
                    }
                }
                // A version 1 key set predates issuers: adding one upgrades it.
                doc.version = payhook::secrets::KEYSET_VERSION;
                doc.keys.extend(consumer_key);
                doc.issuers.extend(issuer.as_ref().map(IssuerKey::trust));
                (path.clone(), doc)
            }
            (None, Some(path)) => {
                let (Some(key), Some(issuer)) = (consumer_key, &issuer) else {
                    return Err(Failure::usage(
                        "--out",
                        "a new key set needs a consumer key and an issuer key",
                    )
                    .hint("pass both --kid and --issuer-kid (with --issuer-out)"));
                };
                let doc = KeySetDocument {
                    version: payhook::secrets::KEYSET_VERSION,
                    keys: vec![key],
                    issuers: vec![issuer.trust()],
                };
                (path.clone(), doc)
            }
            (None, None) => return Err(Failure::usage("keygen", "needs --out or --add-to")),
        };
        let json = doc
            .to_json()
            .map_err(|e| Failure::failed("encoding the key set", e))?;
        // Refuse to write a key set the consumer would not load.
        KeySet::from_json(&json)
            .map_err(|e| Failure::usage(format!("the key set for {}", path.display()), e))?;
        if let (Some(issuer), Some(issuer_out)) = (&issuer, &self.issuer_out) {
            let private = issuer
                .to_json()
                .map_err(|e| Failure::failed("encoding the issuer key", e))?;
            write_private(issuer_out, &private)?;
            eprintln!("issuer private key written to {}", issuer_out.display());
        }
        write_private(&path, &json)?;
        eprintln!("private key set written to {}", path.display());
        if let (Some(kid), Some(public)) = (&self.kid, &consumer_public) {
            println!(
                "kid={kid} public_key={}",
                payhook::secrets::encode_public_key(public)
            );
        }
        if let Some(issuer) = &issuer {
            println!(
                "issuer={} issuer_public_key={}",
                issuer.kid(),
                payhook::secrets::encode_public_key(&issuer.public_key())
            );
        }
        Ok(())
    }
}
