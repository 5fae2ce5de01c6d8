//! `payhook dev local`: the consumer polling a local queue, as Lambda's event source mapping
//! would run it.

use payhook::ops::Config;
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
    /// Hand each batch to a Lambda runtime emulator's invoke URL instead of running the
    /// consumer here, e.g. `cargo lambda watch`'s
    /// http://127.0.0.1:9000/2015-03-31/functions/consumer/invocations.
    #[arg(long)]
    invoke_url: Option<String>,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let aws = context.aws().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let consumer = match &self.invoke_url {
            Some(url) => {
                eprintln!("consuming {} through {url}; Ctrl-C stops", self.queue_url);
                None
            }
            None => {
                payhook::ops::init_tracing();
                let config =
                    Config::from_env().map_err(|e| Failure::usage("the environment", e))?;
                let consumer = payhook::ops::consumer(&config, &aws)
                    .await
                    .map_err(|e| Failure::failed("starting the consumer", e))?;
                eprintln!(
                    "consuming {} (payments table {}, DLQ {}); Ctrl-C stops",
                    self.queue_url,
                    config.payments_table,
                    config
                        .dead_letter_queue_url
                        .as_deref()
                        .unwrap_or("via redrive policy")
                );
                Some(consumer)
            }
        };
        let mut idle = 0;
        loop {
            let round =
                poller::poll_once_with(&sqs, &self.queue_url, self.wait_secs, |event| async {
                    match (&consumer, &self.invoke_url) {
                        (Some(consumer), _) => consumer.handle(event).await.ok(),
                        (None, Some(url)) => poller::invoke_over_http(url, &event).await,
                        (None, None) => None,
                    }
                });
            let polled = tokio::select! {
                polled = round => polled.map_err(|e| Failure::failed("polling the queue", e))?,
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
