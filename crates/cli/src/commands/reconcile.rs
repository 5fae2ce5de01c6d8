//! `payhook reconcile`: credit a subscriber's payments from Stripe's events API, whether or not
//! their webhooks arrived.

use payhook::ops::Config;
use payhook::reconcile::{self, Window};

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::subscriber::pipeline_and_bundle;

/// List the subscriber's payment events in a time window from Stripe (all pages) and apply
/// each through the same lookup and exactly-once ledger as the consumer: already credited
/// counts as such, so it is safe to run at any time, as often as wanted. Configured like the
/// Lambda, from the environment (PAYMENTS_TABLE, IDEMPOTENCY_TABLE, UNAPPLIED_TABLE,
/// NOTIFICATIONS_TABLE, KEYSET_SECRET_ID, PAYHOOK_MODE, …); the bundle opens with that key set,
/// and each credit writes the notification it owes.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    subscriber: String,
    /// The subscriber's sealed bundle, or @FILE (as stored in SSM).
    #[arg(long)]
    bundle: String,
    /// Events created at or after this time: RFC 3339 (2026-11-20T00:00:00Z) or epoch seconds.
    /// Stripe lists the last 30 days.
    #[arg(long, value_parser = parse_time)]
    since: i64,
    /// Events created at or before this time (default: now).
    #[arg(long, value_parser = parse_time)]
    until: Option<i64>,
}

/// RFC 3339 or epoch seconds.
fn parse_time(s: &str) -> std::result::Result<i64, String> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime)
        .map(|t| t.secs())
        .map_err(|_| format!("{s:?} is neither RFC 3339 (2026-11-20T00:00:00Z) nor epoch seconds"))
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let config = Config::from_env().map_err(|e| Failure::usage("the environment", e))?;
        let aws = context.aws().await;
        let (pipeline, bundle) =
            pipeline_and_bundle(&config, &aws, &self.subscriber, &self.bundle).await?;
        let window = Window {
            since: self.since,
            until: self.until,
        };
        eprintln!(
            "reconciling {} from {}{} ({} mode)",
            self.subscriber,
            payhook::support::clock::rfc3339(self.since.max(0) as u64),
            self.until
                .map(|u| format!(" to {}", payhook::support::clock::rfc3339(u.max(0) as u64)))
                .unwrap_or_default(),
            config.mode,
        );
        let summary = reconcile::reconcile(&pipeline, &bundle, window, None, None, |r| {
            eprintln!(
                "{:<16} {:<28} {:<28} {:<24} {}{}",
                r.outcome,
                r.event_id,
                r.event_type,
                r.payment_intent.as_deref().unwrap_or("-"),
                r.payment_id.as_deref().unwrap_or("-"),
                r.reason.map(|x| format!("  ({x})")).unwrap_or_default(),
            )
        })
        .await
        .map_err(|e| Failure::failed("reconcile", e))?;
        println!(
            "reconcile done: {} events, {} credited, {} already credited, {} refunded, {} disputed, {} ignored, {} unapplied, {} failed",
            summary.events,
            summary.credited,
            summary.already_credited,
            summary.refunded,
            summary.disputed,
            summary.ignored,
            summary.unapplied,
            summary.failed
        );
        if summary.failed > 0 {
            return Err(Failure::failed(
                "reconcile",
                format!("{} event(s) failed for now", summary.failed),
            )
            .hint("run it again: what is credited is not credited twice"));
        }
        Ok(())
    }
}
