//! `payhook dlq list` and `payhook dlq redrive`.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

use payhook::reason::Reason;
use payhook::secrets::KeySet;

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::input::{read_file, value_or_file};
use crate::redrive::{self, Filter};

#[derive(clap::Subcommand)]
pub enum Command {
    List(ListArgs),
    Redrive(RedriveArgs),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let aws = context.aws().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        match self {
            Command::List(args) => args.run(&sqs).await,
            Command::Redrive(args) => args.run(&aws, &sqs).await,
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
                    .map(|ms| payhook::support::clock::rfc3339((ms / 1000) as u64))
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
    /// SUBSCRIBER=@FILE (or =BUNDLE): send that subscriber's dead letters back with this
    /// corrected bundle instead of the one they carry (repeatable). Each is opened with the key
    /// set first and must be signed by a trusted issuer for that subscriber.
    #[arg(long, value_name = "SUBSCRIBER=@FILE")]
    rebundle: Vec<String>,
    /// The key set JSON file that opens the corrected bundles. Without it, the key set is read
    /// from the secret --keyset-secret-id (or KEYSET_SECRET_ID) names.
    #[arg(long, conflicts_with = "keyset_secret_id")]
    keyset: Option<PathBuf>,
    /// The consumer's key set secret (name or ARN).
    #[arg(long, env = "KEYSET_SECRET_ID")]
    keyset_secret_id: Option<String>,
}

impl RedriveArgs {
    async fn run(self, aws: &aws_config::SdkConfig, sqs: &aws_sdk_sqs::Client) -> Result<()> {
        let rebundle = self.corrected_bundles(aws).await?;
        let filter = Filter {
            subscriber: self.subscriber,
            event_type: self.event_type,
            reason: self.reason.map(|r| r.0),
            message_ids: self.ids.into_iter().collect(),
        };
        let done = redrive::redrive(
            sqs,
            &self.dlq_url,
            &self.queue_url,
            &filter,
            &rebundle,
            |p, letter| {
                // Every move while they are few, then one line per hundred.
                if p.moved <= 20 || p.moved % 100 == 0 {
                    eprintln!(
                        "moved {} of {} selected ({} read, {} left by the filter)  {} ({})",
                        p.moved,
                        p.selected,
                        p.received,
                        p.skipped,
                        letter.message_id,
                        letter.reason.as_deref().unwrap_or("no reason")
                    );
                }
                ControlFlow::Continue(())
            },
        )
        .await?;
        println!(
            "redrive done: {} moved to the queue, {} left in the dead-letter queue by the filter",
            done.moved, done.skipped
        );
        Ok(())
    }
}

impl RedriveArgs {
    /// Each `--rebundle`, opened with the key set: it must verify and name its subscriber, or
    /// nothing is moved.
    async fn corrected_bundles(
        &self,
        aws: &aws_config::SdkConfig,
    ) -> Result<HashMap<String, String>> {
        if self.rebundle.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = match (&self.keyset, &self.keyset_secret_id) {
            (Some(path), _) => KeySet::from_json(&read_file("--keyset", path)?)
                .map_err(|e| Failure::usage(format!("--keyset {}", path.display()), e))?,
            (None, Some(secret_id)) => {
                let secrets = aws_sdk_secretsmanager::Client::new(aws);
                payhook::secrets::load_keyset(&secrets, secret_id)
                    .await
                    .map_err(|e| Failure::failed("reading the key set", e))?
            }
            (None, None) => {
                return Err(Failure::usage(
                    "--rebundle",
                    "needs the key set to check the corrected bundle",
                )
                .hint("pass --keyset FILE or --keyset-secret-id (KEYSET_SECRET_ID)"));
            }
        };
        let mut out = HashMap::new();
        for arg in &self.rebundle {
            let (subscriber, bundle) = arg.split_once('=').ok_or_else(|| {
                Failure::usage(format!("--rebundle {arg:.40}"), "expected SUBSCRIBER=@FILE")
            })?;
            let bundle = value_or_file("--rebundle", bundle)?;
            let what = || format!("--rebundle {subscriber}");
            let opened = keys.open(&bundle).map_err(|e| Failure::usage(what(), e))?;
            opened
                .ensure_subscriber(subscriber)
                .map_err(|e| Failure::usage(what(), e))?;
            eprintln!(
                "{subscriber}: corrected bundle opens with key {} and is signed by issuer {}",
                opened.key_id, opened.issuer
            );
            out.insert(subscriber.to_string(), bundle);
        }
        Ok(out)
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
