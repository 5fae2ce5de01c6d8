//! `payhook open`: what a sealed bundle holds, secrets masked.

use std::path::PathBuf;

use payhook::secrets::KeySet;
use secrecy::ExposeSecret;

use crate::failure::{Failure, Result};
use crate::input::{mask, read_file, value_or_file};

/// Show what a sealed bundle holds and which issuer signed it, secrets masked: a debugging aid
/// that needs the private key set.
#[derive(clap::Args)]
pub struct Args {
    /// The sealed bundle, or @FILE.
    #[arg(long)]
    bundle: String,
    /// The key set JSON file (as keygen wrote it).
    #[arg(long)]
    keyset: PathBuf,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let json = read_file("--keyset", &self.keyset)?;
        let keys = KeySet::from_json(&json)
            .map_err(|e| Failure::usage(format!("--keyset {}", self.keyset.display()), e))?;
        let bundle = keys
            .open(&value_or_file("--bundle", &self.bundle)?)
            .map_err(|e| Failure::usage("--bundle", e))?;
        println!("subscriber:      {}", bundle.subscriber);
        println!("key id:          {}", bundle.key_id);
        println!(
            "signed by:       issuer {} (signature verified)",
            bundle.issuer
        );
        for s in &bundle.webhook_secrets {
            println!("webhook secret:  {}", mask(s.expose_secret()));
        }
        println!(
            "stripe api key:  {}",
            mask(bundle.stripe_api_key.expose_secret())
        );
        match &bundle.notify {
            Some(n) => {
                println!(
                    "notify endpoint: {}",
                    payhook::support::redact::display_url(&n.url)
                );
                println!("notify secret:   {}", mask(n.secret.expose_secret()));
            }
            None => println!("notify endpoint: none (no notifications)"),
        }
        Ok(())
    }
}
