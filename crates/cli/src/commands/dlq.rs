//! `payhook dlq list` and `payhook dlq redrive`.

use std::ops::ControlFlow;

use payhook::clock;
use payhook::error::Reason;

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::redrive::{self, Filter};

#[derive(clap::Subcommand)]
pub enum Command {
    List(ListArgs),
    Redrive(RedriveArgs),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let sqs = aws_sdk_sqs::Client::new(&context.aws().await);
        match self {
            Command::List(args) => args.run(&sqs).await,
            Command::Redrive(args) => args.run(&sqs).await,
        }
    }
}

/// List dead letters: message id, subscriber, event, failure reason, attempts, first seen.
/// Looking receives each message and makes it visible again at once; while the list is being
/// made (up to --hide-secs) they are hidden, which delays a redrive or another look.
#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    dlq_url: String,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..=300))]
    hide_secs: i32,
}

impl ListArgs {
    async fn run(self, sqs: &aws_sdk_sqs::Client) -> Result<()> {
        let letters = redrive::list(sqs, &self.dlq_url, self.limit, self.hide_secs).await?;
        if self.json {
            for l in &letters {
                let line = serde_json::to_string(l)
                    .map_err(|e| Failure::failed("encoding a dead letter", e))?;
                println!("{line}");
            }
            return Ok(());
        }
        println!(
            "{:<38} {:<12} {:<28} {:<26} {:<26} {:>8}  first seen",
            "message id", "subscriber", "event type", "event id", "reason", "attempts"
        );
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        for l in &letters {
            println!(
                "{:<38} {:<12} {:<28} {:<26} {:<26} {:>8}  {}",
                l.message_id,
                dash(&l.subscriber),
                dash(&l.event_type),
                dash(&l.event_id),
                dash(&l.reason),
                l.attempts,
                l.first_seen_ms
                    .map(|ms| clock::rfc3339((ms / 1000) as u64))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        eprintln!("{} dead letter(s)", letters.len());
        Ok(())
    }
}

/// Move dead letters back to the webhook queue: all, or those matching every filter given.
/// Each is sent first and deleted after, so an interruption can only duplicate a delivery,
/// which the consumer counts once; never lose one.
#[derive(clap::Args)]
pub struct RedriveArgs {
    #[arg(long)]
    dlq_url: String,
    #[arg(long)]
    queue_url: String,
    #[arg(long)]
    subscriber: Option<String>,
    #[arg(long)]
    event_type: Option<String>,
    /// A failure reason the consumer writes.
    #[arg(long)]
    reason: Option<ReasonArg>,
    /// Dead-letter message ids (repeatable).
    #[arg(long = "id")]
    ids: Vec<String>,
}

impl RedriveArgs {
    async fn run(self, sqs: &aws_sdk_sqs::Client) -> Result<()> {
        let filter = Filter {
            subscriber: self.subscriber,
            event_type: self.event_type,
            reason: self.reason.map(|r| r.0),
            message_ids: self.ids.into_iter().collect(),
        };
        let done = redrive::redrive(sqs, &self.dlq_url, &self.queue_url, &filter, |p, letter| {
            eprintln!(
                "moved {}/{}  {} ({})",
                p.moved,
                p.selected,
                letter.message_id,
                letter.reason.as_deref().unwrap_or("no reason")
            );
            ControlFlow::Continue(())
        })
        .await?;
        println!(
            "redrive done: {} moved to the queue, {} left in the dead-letter queue by the filter",
            done.moved, done.skipped
        );
        Ok(())
    }
}

/// The consumer's [`Reason`]s as clap values: a typo is a usage error listing the real ones.
#[derive(Debug, Clone, Copy)]
pub struct ReasonArg(pub Reason);

const REASON_ARGS: [ReasonArg; Reason::ALL.len()] = {
    let mut out = [ReasonArg(Reason::ALL[0]); Reason::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = ReasonArg(Reason::ALL[i]);
        i += 1;
    }
    out
};

impl clap::ValueEnum for ReasonArg {
    fn value_variants<'a>() -> &'a [Self] {
        &REASON_ARGS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.as_str()))
    }
}
