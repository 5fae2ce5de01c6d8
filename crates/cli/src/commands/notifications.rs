//! `payhook notifications list` and `payhook notifications resend`: the payment.credited
//! notifications owed to subscribers, every attempt at delivering them, and sending one again.

use payhook::notifications::{Attempt, Notification, Notifications};

use crate::commands::Context;
use crate::failure::{Failure, Result};

/// The notifications table is NOTIFICATIONS_TABLE (the stack output NotificationsTableName).
#[derive(clap::Subcommand)]
pub enum Command {
    List(ListArgs),
    Resend(ResendArgs),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        let table = std::env::var("NOTIFICATIONS_TABLE")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Failure::usage("NOTIFICATIONS_TABLE", "is not set")
                    .hint("export the stack output NotificationsTableName as NOTIFICATIONS_TABLE")
            })?;
        let store = Notifications::new(aws_sdk_dynamodb::Client::new(&context.aws().await), table);
        match self {
            Command::List(args) => args.run(&store).await,
            Command::Resend(args) => args.run(&store).await,
        }
    }
}

/// Notifications with their attempts (time, endpoint, HTTP status, latency, error), oldest
/// credit first.
#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    subscriber: Option<String>,
    /// Only the notifications of this payment record (its metadata.id).
    #[arg(long)]
    payment: Option<String>,
    /// One JSON object per notification and line, attempts included, instead of a table.
    #[arg(long)]
    json: bool,
}

impl ListArgs {
    async fn run(self, store: &Notifications) -> Result<()> {
        let listed = store
            .list(self.subscriber.as_deref(), self.payment.as_deref())
            .await
            .map_err(|e| Failure::failed("listing notifications", e))?;
        if self.json {
            for (n, attempts) in &listed {
                let line = serde_json::to_string(&serde_json::json!({
                    "notification": n,
                    "attempts": attempts,
                }))
                .map_err(|e| Failure::failed("encoding a notification", e))?;
                println!("{line}");
            }
            return Ok(());
        }
        for (n, attempts) in &listed {
            print_notification(n);
            for a in attempts {
                print_attempt(a);
            }
        }
        eprintln!("{} notification(s)", listed.len());
        Ok(())
    }
}

fn when(ms: i64) -> String {
    payhook::support::clock::rfc3339((ms.max(0) / 1000) as u64)
}

fn print_notification(n: &Notification) {
    let next = n
        .next_attempt_at
        .map(|at| format!(", next attempt {}", when(at)))
        .unwrap_or_default();
    let reason = n
        .dead_reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    println!(
        "{} {} {} {} {} {} credited {}: {}{reason} after {} attempt(s){next}",
        n.subscriber,
        n.id,
        n.payment_id,
        n.payment_intent,
        n.amount,
        n.currency,
        when(n.credited_at),
        n.status,
        n.attempts,
    );
}

fn print_attempt(a: &Attempt) {
    println!(
        "    #{} {} {} -> {} in {} ms{} [{}]",
        a.attempt,
        when(a.at),
        if a.endpoint.is_empty() {
            "-"
        } else {
            &a.endpoint
        },
        a.status
            .map(|s| format!("HTTP {s}"))
            .unwrap_or_else(|| "no answer".into()),
        a.latency_ms,
        a.error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        a.outcome,
    );
}

/// Make a notification due now, with a fresh 7-day retry window, whatever its state
/// (delivered, dead-lettered, waiting): the notifier sends it within a minute, with the same
/// webhook-id and body, to the endpoint in the subscriber's bundle now.
#[derive(clap::Args)]
pub struct ResendArgs {
    #[arg(long)]
    subscriber: String,
    /// The notification id (msg_<PaymentIntent id>), as `notifications list` shows it.
    #[arg(long, required_unless_present = "payment", conflicts_with = "payment")]
    id: Option<String>,
    /// Every notification of this payment record instead.
    #[arg(long)]
    payment: Option<String>,
}

impl ResendArgs {
    async fn run(self, store: &Notifications) -> Result<()> {
        let ids: Vec<String> = match (&self.id, &self.payment) {
            // An attempt row's key is `<id>#…`: only a notification is resent.
            (Some(id), _) if id.contains('#') => {
                return Err(Failure::usage(
                    format!("--id {id}"),
                    "names an attempt, not a notification",
                )
                .hint("pass the notification id, msg_<PaymentIntent id>"));
            }
            (Some(id), _) => vec![id.clone()],
            (None, payment) => store
                .list(Some(&self.subscriber), payment.as_deref())
                .await
                .map_err(|e| Failure::failed("listing notifications", e))?
                .into_iter()
                .map(|(n, _)| n.id)
                .collect(),
        };
        if ids.is_empty() {
            return Err(Failure::usage(
                format!("--payment for {}", self.subscriber),
                "names no notification",
            )
            .hint("see `payhook notifications list --subscriber …`"));
        }
        let now = payhook::support::clock::now_ms();
        for id in &ids {
            let found = store
                .resend(&self.subscriber, id, now)
                .await
                .map_err(|e| Failure::failed(format!("resending {id}"), e))?;
            if !found {
                return Err(Failure::usage(
                    format!("{}/{id}", self.subscriber),
                    "is not a notification",
                )
                .hint("see `payhook notifications list`"));
            }
            println!(
                "{} {id}: due again; the notifier sends it within a minute",
                self.subscriber
            );
        }
        Ok(())
    }
}
