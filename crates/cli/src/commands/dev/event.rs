//! `payhook dev event`: a signed SQS event for `cargo lambda invoke --data-file`.

use payhook_testkit::delivery::sqs_event;

use super::delivery::DeliveryArgs;
use crate::failure::{Failure, Result};

/// Build a signed SQS event (for `cargo lambda invoke --data-file` / `sam local invoke -e`)
/// from a Stripe event body, and print it.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    delivery: DeliveryArgs,
    /// The SQS message id (default: derived from the event id and the receive time).
    #[arg(long)]
    message_id: Option<String>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let built = self.delivery.build()?;
        let message_id = self
            .message_id
            .unwrap_or_else(|| format!("{}-{}", built.event_id, built.received_at_ms));
        let message = built
            .spec(&message_id, &self.delivery.subscriber)
            .sqs_message();
        let json = serde_json::to_string_pretty(&sqs_event(vec![message]))
            .map_err(|e| Failure::failed("encoding the SQS event", e))?;
        println!("{json}");
        Ok(())
    }
}
