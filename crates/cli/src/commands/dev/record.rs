//! `payhook dev record`: one payment record as JSON.

use payhook_testkit::emulators;

use crate::commands::Context;
use crate::failure::{Failure, Result};

/// Print one payment record as JSON.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "payhook-payments")]
    table: String,
    #[arg(long)]
    subscriber: String,
    #[arg(long)]
    payment_id: String,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let what = || format!("payment record {}/{}", self.subscriber, self.payment_id);
        let record = emulators::payment_record(
            &context.aws().await,
            &self.table,
            &self.subscriber,
            &self.payment_id,
        )
        .await
        .map_err(|e| Failure::failed(format!("reading {} from {}", what(), self.table), e))?
        .ok_or_else(|| Failure::failed(what(), format!("is not in {}", self.table)))?;
        // Keys in order, whatever map the JSON library was built with.
        let sorted: std::collections::BTreeMap<_, _> = record.into_iter().collect();
        let json = serde_json::to_string_pretty(&sorted)
            .map_err(|e| Failure::failed("encoding the record", e))?;
        println!("{json}");
        Ok(())
    }
}
