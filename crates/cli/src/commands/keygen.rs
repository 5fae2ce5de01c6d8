//! `payhook keygen`: the consumer's X25519 key pair, or one more key for a rotation.

use std::path::PathBuf;

use payhook::sealed::{self, KeySet, KeySetDocument};

use crate::failure::{Failure, Result};
use crate::input::{read_file, write_private};

/// Make a new X25519 key pair: prints the public key, writes the private key set JSON (the
/// document the consumer reads from Secrets Manager) to --out.
#[derive(clap::Args)]
pub struct Args {
    /// Key id, 1-32 of A-Z a-z 0-9 _ - (e.g. the month it was made: 2026-11).
    #[arg(long)]
    kid: String,
    /// Where to write the key set JSON (mode 0600). With --add-to, the file to extend.
    #[arg(long, conflicts_with = "add_to")]
    out: Option<PathBuf>,
    /// Append the new key to this existing key set file (for rotation).
    #[arg(long)]
    add_to: Option<PathBuf>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let (public, key) =
            sealed::generate_key(&self.kid).map_err(|e| Failure::usage("--kid", e))?;
        let (path, doc) = match (self.add_to, self.out) {
            (Some(path), _) => {
                let existing = read_file("--add-to", &path)?;
                let what = || format!("--add-to {}", path.display());
                // Refuse to extend a broken file.
                KeySet::from_json(&existing).map_err(|e| Failure::usage(what(), e))?;
                let mut doc: KeySetDocument =
                    serde_json::from_str(&existing).map_err(|e| Failure::usage(what(), e))?;
                if doc.keys.iter().any(|k| k.kid == self.kid) {
                    return Err(Failure::usage(
                        what(),
                        format!("already holds key id {:?}", self.kid),
                    )
                    .hint("choose a new --kid"));
                }
                doc.keys.push(key);
                (Some(path), doc)
            }
            (None, out) => (
                out,
                KeySetDocument {
                    version: sealed::KEYSET_VERSION,
                    keys: vec![key],
                },
            ),
        };
        let json = serde_json::to_string_pretty(&doc)
            .map_err(|e| Failure::failed("encoding the key set", e))?;
        match path {
            Some(path) => {
                write_private(&path, &json)?;
                eprintln!("private key set written to {}", path.display());
            }
            None => println!("{json}"),
        }
        println!(
            "kid={} public_key={}",
            self.kid,
            sealed::encode_public_key(&public)
        );
        Ok(())
    }
}
