//! `payhook dev stripe-webhook`: make localstripe post its events to a URL, signed.

use payhook_testkit::localstripe;

use crate::failure::{Failure, Result};
use crate::input::env_secret;

/// Register a webhook endpoint with localstripe (its own configuration API): its events are
/// then posted to --url, signed with PAYHOOK_WEBHOOK_SECRET as Stripe signs them.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "STRIPE_API_BASE")]
    stripe_base: String,
    /// Where to post, e.g. the local ingress's http://127.0.0.1:8787/stripe/acme.
    #[arg(long)]
    url: String,
    /// A name for the registration (registering the same name again replaces it).
    #[arg(long, default_value = "payhook")]
    id: String,
    /// Only these event types (repeatable; default: all).
    #[arg(long = "event")]
    events: Vec<String>,
}

impl Args {
    pub async fn run(self) -> Result<()> {
        let secret = env_secret("PAYHOOK_WEBHOOK_SECRET")?;
        let events: Vec<&str> = self.events.iter().map(String::as_str).collect();
        localstripe::register_webhook(&self.stripe_base, &self.id, &self.url, &secret, &events)
            .await
            .map_err(|e| {
                Failure::failed(format!("registering {} with localstripe", self.url), e)
            })?;
        println!("localstripe posts its events to {}", self.url);
        Ok(())
    }
}
