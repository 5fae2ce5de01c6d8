//! `payhook unapplied list` and `payhook unapplied apply`: succeeded money that named no usable
//! payment record, and assigning it to one.

use payhook::ledger::{self, AssignError, Assigned, Ledger, Unapplied, UnappliedStatus};
use payhook::ops::{self, Config};
use payhook::pipeline::{Account, AssignKeptError};

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::subscriber::pipeline_and_bundle;

/// Succeeded payments the consumer kept because they name no usable payment record (no
/// metadata.id, another currency than the record's, an id that cannot be a key). Configured
/// like the Lambda, from the environment (PAYMENTS_TABLE, IDEMPOTENCY_TABLE, UNAPPLIED_TABLE,
/// NOTIFICATIONS_TABLE; for apply also KEYSET_SECRET_ID and PAYHOOK_MODE, to ask Stripe).
#[derive(clap::Subcommand)]
pub enum Command {
    List(ListArgs),
    Apply(ApplyArgs),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let config = Config::from_env().map_err(|e| Failure::usage("the environment", e))?;
        let aws = context.aws().await;
        match self {
            // Two tables: no key set, no Stripe client.
            Command::List(args) => {
                args.run(&ops::unapplied(&config, &aws), &ops::ledger(&config, &aws))
                    .await
            }
            Command::Apply(args) => args.run(&config, &aws).await,
        }
    }
}

/// List kept payments, with whether each has been applied since.
#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    subscriber: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

impl ListArgs {
    async fn run(self, unapplied: &Unapplied, ledger: &Ledger) -> Result<()> {
        let kept = ledger::kept_payments(unapplied, ledger, self.subscriber.as_deref())
            .await
            .map_err(|e| Failure::failed("listing unapplied payments", e))?;
        if self.json {
            for k in &kept {
                let mut line = serde_json::to_value(&k.item)
                    .map_err(|e| Failure::failed("encoding an unapplied payment", e))?;
                line["credited_since_by"] =
                    serde_json::json!(k.credited_since.as_ref().map(|by| {
                        serde_json::json!({"payment_id": by.payment_id, "event_id": by.event_id})
                    }));
                println!("{line}");
            }
            return Ok(());
        }
        println!(
            "{:<12} {:<28} {:<10} {:>10} {:<4} {:<18} {:<24} event",
            "subscriber", "payment intent", "status", "amount", "cur", "reason", "payment id"
        );
        for k in &kept {
            let i = &k.item;
            // A later event may have credited it by itself (a Checkout Session naming the
            // record after the PaymentIntent's own event did not): shown as such.
            let (status, record) = match (&k.credited_since, i.status) {
                (Some(by), UnappliedStatus::Unapplied) => {
                    ("credited", Some(by.payment_id.as_str()))
                }
                _ => (
                    i.status.as_str(),
                    i.applied_payment_id.as_deref().or(i.payment_id.as_deref()),
                ),
            };
            println!(
                "{:<12} {:<28} {:<10} {:>10} {:<4} {:<18} {:<24} {}",
                i.subscriber,
                i.payment_intent,
                status,
                i.amount_received,
                i.currency,
                i.reason,
                record.unwrap_or("-"),
                i.event_id,
            );
        }
        eprintln!("{} unapplied payment(s)", kept.len());
        Ok(())
    }
}

/// Credit one kept payment to a payment record, as Stripe reports it now (the amount it
/// received, the refunds made since), through the same exactly-once ledger: applying it twice,
/// or a PaymentIntent credited since, changes nothing; one refunded in full, or no longer
/// collected, is refused.
#[derive(clap::Args)]
pub struct ApplyArgs {
    #[arg(long)]
    subscriber: String,
    /// The PaymentIntent, as `unapplied list` shows it.
    #[arg(long)]
    intent: String,
    /// The payment record to credit.
    #[arg(long)]
    payment_id: String,
    /// The subscriber's sealed bundle, or @FILE (as stored in SSM): its Stripe key asks Stripe.
    #[arg(long)]
    bundle: String,
}

impl ApplyArgs {
    async fn run(self, config: &Config, aws: &aws_config::SdkConfig) -> Result<()> {
        let (pipeline, bundle) =
            pipeline_and_bundle(config, aws, &self.subscriber, &self.bundle).await?;
        let key_mode = pipeline
            .key_mode(&bundle.stripe_api_key)
            .map_err(|e| Failure::usage(format!("--bundle for {}", self.subscriber), e))?;
        let what = || format!("{}/{}", self.subscriber, self.intent);
        let delivery_id = format!("unapplied-apply-{}", payhook::support::clock::now_ms());
        let done = pipeline
            .assign_kept(
                Account {
                    subscriber: &self.subscriber,
                    api_key: &bundle.stripe_api_key,
                    key_mode,
                },
                &self.intent,
                &self.payment_id,
                &delivery_id,
            )
            .await
            .map_err(|e| match e {
                AssignKeptError::Kept(AssignError::NotKept { .. }) => {
                    Failure::usage(what(), "is not an unapplied payment")
                        .hint("see `payhook unapplied list`")
                }
                AssignKeptError::Kept(e @ AssignError::AlreadyApplied { .. }) => {
                    Failure::usage(what(), e)
                }
                e @ (AssignKeptError::Refunded { .. } | AssignKeptError::NotCollected { .. }) => {
                    Failure::usage(what(), e)
                }
                e => Failure::failed(format!("crediting {}", what()), e),
            })?;
        match done.assigned {
            Assigned::Credited => println!(
                "credited {} {} to {}/{}{}",
                done.received,
                done.currency,
                self.subscriber,
                self.payment_id,
                if done.refunded > 0 {
                    format!(
                        " with {} refunded since (net {})",
                        done.refunded,
                        done.received - done.refunded
                    )
                } else {
                    String::new()
                }
            ),
            Assigned::AlreadyCredited(by) => println!(
                "{} was already credited (to {}, by {}); nothing changed",
                self.intent, by.payment_id, by.message_id
            ),
        }
        Ok(())
    }
}
