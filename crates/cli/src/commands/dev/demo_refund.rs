//! `payhook dev demo-refund`: a refund of a PaymentIntent on localstripe.

use payhook_testkit::localstripe;

use crate::failure::{Failure, Result};
use crate::input::env_secret;

/// Refund part (or all, without --amount) of a PaymentIntent on a local fake Stripe
/// (localstripe), which then sends `refund.created` and `charge.refunded` as Stripe does; print
/// the refund's id. The API key comes from PAYHOOK_STRIPE_API_KEY.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "STRIPE_API_BASE")]
    stripe_base: String,
    #[arg(long)]
    payment_intent: String,
    /// In the currency's minor unit.
    #[arg(long)]
    amount: Option<i64>,
}

impl Args {
    pub async fn run(self) -> Result<()> {
        let key = env_secret("PAYHOOK_STRIPE_API_KEY")?;
        let id = localstripe::refund(&self.stripe_base, &key, &self.payment_intent, self.amount)
            .await
            .map_err(|e| {
                Failure::failed(
                    format!("refunding {} on {}", self.payment_intent, self.stripe_base),
                    e,
                )
            })?;
        println!("{id}");
        Ok(())
    }
}
