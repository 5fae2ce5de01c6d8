//! `payhook keyset`: the consumer's key set where the functions read it, the Secrets Manager
//! secret, edited in place: no private key set file is written, and a warm function takes the
//! new version on its own (a bundle naming a key or issuer it lacks, or five minutes).

use std::path::PathBuf;

use payhook::secrets::{self, IssuerKey, KeySetDocument, Removed};

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::input::{read_file, write_private};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Store a key set file (from `payhook keygen --out`) as the secret's value: the first
    /// deployment's step. The file is checked to load first.
    Put {
        #[command(flatten)]
        secret: SecretArg,
        /// The key set JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// The key ids and trusted issuers, with their public keys (never a private one).
    Show {
        #[command(flatten)]
        secret: SecretArg,
    },
    /// Generate a new consumer key inside the secret; prints its public key to seal to.
    AddKey {
        #[command(flatten)]
        secret: SecretArg,
        /// The new key's id, 1-32 of A-Z a-z 0-9 _ - (e.g. the month: 2027-05).
        #[arg(long)]
        kid: String,
    },
    /// Generate a new issuer key: its private half goes to --issuer-out (mode 0600, the
    /// operator's), its public half is trusted by the key set in the secret.
    AddIssuer {
        #[command(flatten)]
        secret: SecretArg,
        #[arg(long)]
        issuer_kid: String,
        #[arg(long)]
        issuer_out: PathBuf,
    },
    /// Remove a consumer key or an issuer. Bundles sealed to that key, or signed by that
    /// issuer, are refused from then on (within five minutes by a warm function).
    Remove {
        #[command(flatten)]
        secret: SecretArg,
        #[arg(long)]
        kid: String,
    },
}

#[derive(clap::Args)]
pub struct SecretArg {
    /// The key set secret: the stack's ConsumerKeysSecretArn output.
    #[arg(long, env = "KEYSET_SECRET_ID")]
    secret_id: String,
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let client = aws_sdk_secretsmanager::Client::new(&context.aws().await);
        let read = |id: &str| {
            let (client, id) = (client.clone(), id.to_string());
            async move {
                secrets::read_document(&client, &id)
                    .await
                    .map_err(|e| Failure::failed("reading the key set", e))
            }
        };
        let write = |id: &str, doc: KeySetDocument| {
            let (client, id) = (client.clone(), id.to_string());
            async move {
                let version = secrets::write_document(&client, &id, &doc)
                    .await
                    .map_err(|e| Failure::failed("storing the key set", e))?;
                eprintln!("key set stored in {id} (version {version})");
                Ok::<_, Failure>(())
            }
        };
        match self {
            Command::Put { secret, file } => {
                let what = || format!("--file {}", file.display());
                let doc: KeySetDocument = serde_json::from_str(&read_file("--file", &file)?)
                    .map_err(|e| Failure::usage(what(), e))?;
                write(&secret.secret_id, doc).await?;
                show(&read(&secret.secret_id).await?);
            }
            Command::Show { secret } => show(&read(&secret.secret_id).await?),
            Command::AddKey { secret, kid } => {
                let mut doc = read(&secret.secret_id).await?;
                let public = doc.add_key(&kid).map_err(|e| Failure::usage("--kid", e))?;
                write(&secret.secret_id, doc).await?;
                println!(
                    "kid={kid} public_key={}",
                    payhook::secrets::encode_public_key(&public)
                );
            }
            Command::AddIssuer {
                secret,
                issuer_kid,
                issuer_out,
            } => {
                let issuer = IssuerKey::generate(&issuer_kid)
                    .map_err(|e| Failure::usage("--issuer-kid", e))?;
                let mut doc = read(&secret.secret_id).await?;
                doc.add_issuer(issuer.trust())
                    .map_err(|e| Failure::usage("--issuer-kid", e))?;
                let private = issuer
                    .to_json()
                    .map_err(|e| Failure::failed("encoding the issuer key", e))?;
                // The private half first: a trusted issuer whose key was never kept is useless.
                write_private(&issuer_out, &private)?;
                eprintln!("issuer private key written to {}", issuer_out.display());
                write(&secret.secret_id, doc).await?;
                println!(
                    "issuer={issuer_kid} issuer_public_key={}",
                    payhook::secrets::encode_public_key(&issuer.public_key())
                );
            }
            Command::Remove { secret, kid } => {
                let mut doc = read(&secret.secret_id).await?;
                let removed = doc.remove(&kid).map_err(|e| Failure::usage("--kid", e))?;
                write(&secret.secret_id, doc).await?;
                let what = match removed {
                    Removed::Key => "consumer key",
                    Removed::Issuer => "issuer",
                };
                println!("removed {what} {kid}");
            }
        }
        Ok(())
    }
}

/// Public halves only.
fn show(doc: &KeySetDocument) {
    for key in &doc.keys {
        let public = payhook::secrets::public_key_of(key)
            .map(|p| payhook::secrets::encode_public_key(&p))
            .unwrap_or_else(|| "(unreadable)".into());
        println!("key    {} public_key={public}", key.kid);
    }
    for issuer in &doc.issuers {
        println!("issuer {} public_key={}", issuer.kid, issuer.public_key);
    }
}
