//! `payhook dev notify`: one pass of the notifier against the local stack.

use crate::commands::Context;
use crate::failure::{Failure, Result};

/// Attempt every due payment.credited notification once, as the deployed notifier does each
/// minute; configured the same way, from the environment (NOTIFICATIONS_TABLE, PAYMENTS_TABLE,
/// KEYSET_SECRET_ID, NOTIFICATION_DLQ_URL, PAYHOOK_MODE, SUBSCRIBER_PARAMETER_PREFIX).
#[derive(clap::Args)]
pub struct Args {
    /// Run as if this many seconds later, to reach retries due then (600: the first retry).
    #[arg(long, default_value_t = 0)]
    later_secs: i64,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let config = payhook::ops::notifier_config_from_env()
            .map_err(|e| Failure::usage("the environment", e))?;
        let aws = context.aws().await;
        let notifier = payhook::ops::notifier(&config, &aws)
            .await
            .map_err(|e| Failure::failed("starting the notifier", e))?;
        let now = payhook::support::clock::now_ms() + self.later_secs * 1000;
        let s = notifier.run_due(now, None).await;
        println!(
            "delivered {}, retrying {}, dead-lettered {}, failed {}",
            s.delivered, s.retrying, s.dead_lettered, s.failed
        );
        if s.failed > 0 {
            return Err(Failure::failed(
                "the notifier",
                format!(
                    "{} notifications could not be attempted or recorded",
                    s.failed
                ),
            ));
        }
        Ok(())
    }
}
