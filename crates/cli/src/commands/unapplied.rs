//! `payhook unapplied list` and `payhook unapplied apply`: succeeded money that named no usable
//! payment record, and assigning it to one.

use payhook::ledger::{self, AssignError, Assigned, Ledger, Unapplied, UnappliedStatus};
use payhook::ops::{self, Config};

use crate::commands::Context;
use crate::failure::{Failure, Result};

/// Succeeded payments the consumer kept because they name no usable payment record (no
/// metadata.id, another currency than the record's, an id that cannot be a key). Configured
/// like the Lambda, from the environment (PAYMENTS_TABLE, IDEMPOTENCY_TABLE, UNAPPLIED_TABLE,
/// NOTIFICATIONS_TABLE).
#[derive(clap::Subcommand)]
pub enum Command {
    List(ListArgs),
    Apply(ApplyArgs),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let config = Config::from_env().map_err(|e| Failure::usage("the environment", e))?;
        let aws = context.aws().await;
        // Two tables: no key set, no Stripe client.
        let (unapplied, ledger) = (ops::unapplied(&config, &aws), ops::ledger(&config, &aws));
        match self {
            Command::List(args) => args.run(&unapplied, &ledger).await,
            Command::Apply(args) => args.run(&unapplied, &ledger).await,
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

/// Credit one kept payment to a payment record, through the same exactly-once ledger: applying
/// it twice, or a PaymentIntent credited since, changes nothing.
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
}

impl ApplyArgs {
    async fn run(self, unapplied: &Unapplied, ledger: &Ledger) -> Result<()> {
        let what = || format!("{}/{}", self.subscriber, self.intent);
        let delivery_id = format!("unapplied-apply-{}", payhook::support::clock::now_ms());
        let (assigned, item) = ledger::assign(
            unapplied,
            ledger,
            &self.subscriber,
            &self.intent,
            &self.payment_id,
            &delivery_id,
        )
        .await
        .map_err(|e| match e {
            AssignError::NotKept { .. } => Failure::usage(what(), "is not an unapplied payment")
                .hint("see `payhook unapplied list`"),
            e @ AssignError::AlreadyApplied { .. } => Failure::usage(what(), e),
            AssignError::Ledger(e) => Failure::failed(format!("crediting {}", what()), e),
        })?;
        match assigned {
            Assigned::Credited => println!(
                "credited {} {} to {}/{}",
                item.amount_received, item.currency, self.subscriber, self.payment_id
            ),
            Assigned::AlreadyCredited(by) => println!(
                "{} was already credited (to {}, by {}); nothing changed",
                self.intent, by.payment_id, by.message_id
            ),
        }
        Ok(())
    }
}
