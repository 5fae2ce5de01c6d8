//! `payhook dev send`: a signed delivery put on a queue as API Gateway would.

use payhook_testkit::delivery::send_delivery;

use super::delivery::DeliveryArgs;
use crate::commands::Context;
use crate::failure::{Failure, Result};

/// Sign a Stripe event body and put it on a queue as API Gateway would.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    delivery: DeliveryArgs,
    /// The webhook queue's URL.
    #[arg(long)]
    queue_url: String,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let built = self.delivery.build()?;
        let spec = built.spec("", &self.delivery.subscriber);
        let id = send_delivery(&context.aws().await, &self.queue_url, &spec)
            .await
            .map_err(|e| Failure::failed(format!("SendMessage to {}", self.queue_url), e))?;
        println!("sent {} as message {id}", built.event_id);
        Ok(())
    }
}
