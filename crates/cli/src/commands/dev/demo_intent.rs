//! `payhook dev demo-intent`: a succeeded PaymentIntent on localstripe.

use payhook_testkit::localstripe;

use crate::failure::{Failure, Result};
use crate::input::env_secret;

/// Create a succeeded PaymentIntent on a local fake Stripe (localstripe) and print its id. The
/// API key comes from PAYHOOK_STRIPE_API_KEY.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "STRIPE_API_BASE")]
    stripe_base: String,
    /// Goes into metadata.id: the payment record it credits.
    #[arg(long)]
    payment_id: String,
    #[arg(long, default_value_t = 2000)]
    amount: i64,
    #[arg(long, default_value = "eur")]
    currency: String,
}

impl Args {
    pub async fn run(self) -> Result<()> {
        let key = env_secret("PAYHOOK_STRIPE_API_KEY")?;
        let id = localstripe::create_succeeded_intent(
            &self.stripe_base,
            &key,
            &self.payment_id,
            self.amount,
            &self.currency,
        )
        .await
        .map_err(|e| {
            Failure::failed(
                format!("creating a PaymentIntent on {}", self.stripe_base),
                e,
            )
        })?;
        println!("{id}");
        Ok(())
    }
}
