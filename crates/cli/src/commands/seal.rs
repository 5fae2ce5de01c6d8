//! `payhook seal`: a subscriber's secrets sealed to the consumer's public key.

use payhook::sealed::{self, BundlePlaintext};

use crate::failure::{Failure, Result};
use crate::input::env_secret;

/// Seal a subscriber's secrets to the consumer's public key; prints the sealed bundle.
/// Secrets come from PAYHOOK_WEBHOOK_SECRETS (comma-separated whsec_… values) and
/// PAYHOOK_STRIPE_API_KEY.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    subscriber: String,
    /// The consumer's public key (base64), as keygen printed it.
    #[arg(long)]
    public_key: String,
    /// The key id of that public key.
    #[arg(long)]
    kid: String,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let public = sealed::decode_public_key(&self.public_key).ok_or_else(|| {
            Failure::usage("--public-key", "is not 32 bytes of base64")
                .hint("pass the public_key= value keygen printed")
        })?;
        let secrets = env_secret("PAYHOOK_WEBHOOK_SECRETS")?;
        let secrets: Vec<&str> = secrets.split(',').map(str::trim).collect();
        if let Some(bad) = secrets.iter().find(|s| !s.starts_with("whsec_")) {
            return Err(Failure::usage(
                "PAYHOOK_WEBHOOK_SECRETS",
                format!(
                    "every secret starts with whsec_ (one starts with {:?})",
                    bad.chars().take(6).collect::<String>()
                ),
            ));
        }
        let api_key = env_secret("PAYHOOK_STRIPE_API_KEY")?;
        let bundle = sealed::seal(
            &public,
            &self.kid,
            &BundlePlaintext {
                v: sealed::BUNDLE_VERSION,
                subscriber: &self.subscriber,
                webhook_secrets: &secrets,
                stripe_api_key: &api_key,
            },
        )
        .map_err(|e| Failure::usage("sealing the bundle", e))?;
        println!("{bundle}");
        Ok(())
    }
}
