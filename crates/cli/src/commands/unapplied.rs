//! `payhook unapplied list` and `payhook unapplied apply`: succeeded money that named no usable
//! payment record, and assigning it to one.

use payhook::config::Config;
use payhook::ledger::{Applied, Credit};
use payhook::unapplied::UnappliedItem;

use crate::commands::Context;
use crate::failure::{Failure, Result};

/// Succeeded payments the consumer kept because they name no usable payment record (no
/// metadata.id, another currency than the record's, an id that cannot be a key). Configured
/// like the Lambda, from the environment (PAYMENTS_TABLE, IDEMPOTENCY_TABLE, UNAPPLIED_TABLE,
/// KEYSET_SECRET_ID).
#[derive(clap::Subcommand)]
pub enum Command {
    List(ListArgs),
    Apply(ApplyArgs),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let config = Config::from_env().map_err(|e| Failure::usage("the environment", e))?;
        let consumer = payhook::setup::consumer(&config, &context.aws().await)
            .await
            .map_err(|e| Failure::failed("starting the consumer", e))?;
        match self {
            Command::List(args) => args.run(&consumer).await,
            Command::Apply(args) => args.run(&consumer).await,
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
    async fn run(self, consumer: &payhook::handler::Consumer) -> Result<()> {
        let mut items = consumer
            .unapplied
            .list(self.subscriber.as_deref())
            .await
            .map_err(|e| Failure::failed("listing unapplied payments", e))?;
        // A later event may have credited it by itself (a Checkout Session naming the payment
        // after the PaymentIntent's own event did not): the ledger says so.
        for i in items.iter_mut().filter(|i| i.status == "unapplied") {
            if let Some(by) = consumer
                .ledger
                .credited_by(&i.subscriber, &i.payment_intent)
                .await
                .map_err(|e| Failure::failed("reading the ledger", e))?
            {
                i.status = "credited".into();
                i.applied_payment_id = Some(by.payment_id);
            }
        }
        if self.json {
            for i in &items {
                let line = serde_json::to_string(i)
                    .map_err(|e| Failure::failed("encoding an unapplied payment", e))?;
                println!("{line}");
            }
            return Ok(());
        }
        println!(
            "{:<12} {:<28} {:<10} {:>10} {:<4} {:<18} {:<24} event",
            "subscriber", "payment intent", "status", "amount", "cur", "reason", "payment id"
        );
        for i in &items {
            println!(
                "{:<12} {:<28} {:<10} {:>10} {:<4} {:<18} {:<24} {}",
                i.subscriber,
                i.payment_intent,
                i.status,
                i.amount_received,
                i.currency,
                i.reason,
                i.applied_payment_id
                    .as_deref()
                    .or(i.payment_id.as_deref())
                    .unwrap_or("-"),
                i.event_id,
            );
        }
        eprintln!("{} unapplied payment(s)", items.len());
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
    async fn run(self, consumer: &payhook::handler::Consumer) -> Result<()> {
        let what = || format!("{}/{}", self.subscriber, self.intent);
        let item: UnappliedItem = consumer
            .unapplied
            .get(&self.subscriber, &self.intent)
            .await
            .map_err(|e| Failure::failed(format!("reading {}", what()), e))?
            .ok_or_else(|| {
                Failure::usage(what(), "is not an unapplied payment")
                    .hint("see `payhook unapplied list`")
            })?;
        if item.status != "unapplied" {
            return Err(Failure::usage(
                what(),
                format!(
                    "is already {} (to {})",
                    item.status,
                    item.applied_payment_id.as_deref().unwrap_or("-")
                ),
            ));
        }
        let delivery_id = format!("unapplied-apply-{}", payhook::clock::now_ms());
        let applied = consumer
            .ledger
            .apply(&Credit {
                subscriber: &self.subscriber,
                payment_id: &self.payment_id,
                intent_id: &self.intent,
                amount_received: item.amount_received,
                currency: &item.currency,
                event_id: &item.event_id,
                event_type: &item.event_type,
                message_id: &delivery_id,
            })
            .await
            .map_err(|e| Failure::failed(format!("crediting {}", what()), e))?;
        let credited_to = match &applied {
            Applied::Duplicate(by) => by.payment_id.as_str(),
            _ => self.payment_id.as_str(),
        };
        consumer
            .unapplied
            .mark_applied(&self.subscriber, &self.intent, credited_to)
            .await
            .map_err(|e| Failure::failed(format!("marking {} applied", what()), e))?;
        match applied {
            Applied::Credited | Applied::CreditedEarlier => println!(
                "credited {} {} to {}/{}",
                item.amount_received, item.currency, self.subscriber, self.payment_id
            ),
            Applied::Duplicate(by) => println!(
                "{} was already credited (to {}, by {}); nothing changed",
                self.intent, by.payment_id, by.message_id
            ),
        }
        Ok(())
    }
}
