//! `payhook dev local`: the consumer polling a local queue, as Lambda's event source mapping
//! would run it.

use payhook::config::Config;
use payhook_testkit::poller;

use crate::commands::Context;
use crate::failure::{Failure, Result};

/// Run the consumer against a queue like Lambda's event source mapping: batches of 10, failed
/// messages left for redelivery after their visibility timeout (and moved to the DLQ by the
/// queue's redrive policy). Configured like the Lambda, from the environment (PAYMENTS_TABLE,
/// IDEMPOTENCY_TABLE, KEYSET_SECRET_ID, …). scripts/local.sh brings up the whole local stack
/// and runs this.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    queue_url: String,
    /// Stop after this many empty polls in a row (default: run until Ctrl-C).
    #[arg(long)]
    until_idle: Option<u32>,
    /// Long-poll wait per receive, seconds.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(0..=20))]
    wait_secs: i32,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        payhook::setup::init_tracing();
        let config = Config::from_env().map_err(|e| Failure::usage("the environment", e))?;
        let aws = context.aws().await;
        let consumer = payhook::setup::consumer(&config, &aws)
            .await
            .map_err(|e| Failure::failed("starting the consumer", e))?;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        eprintln!(
            "consuming {} (payments table {}, DLQ {}); Ctrl-C stops",
            self.queue_url,
            config.payments_table,
            config
                .dead_letter_queue_url
                .as_deref()
                .unwrap_or("via redrive policy")
        );
        let mut idle = 0;
        loop {
            let polled = tokio::select! {
                polled = poller::poll_once(&sqs, &self.queue_url, &consumer, self.wait_secs) => {
                    polled.map_err(|e| Failure::failed("polling the queue", e))?
                }
                _ = tokio::signal::ctrl_c() => break,
            };
            if polled.received == 0 {
                idle += 1;
                if self.until_idle.is_some_and(|n| idle >= n) {
                    break;
                }
            } else {
                idle = 0;
                eprintln!(
                    "batch: {} received, {} done, {} left for redelivery",
                    polled.received, polled.deleted, polled.failed
                );
            }
        }
        Ok(())
    }
}
