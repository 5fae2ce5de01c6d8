//! A signed webhook delivery built from a sample Stripe event: shared by `dev event` and
//! `dev send`.

use std::path::PathBuf;

use payhook_testkit::SAMPLE_INTENT_ID;
use payhook_testkit::delivery::DeliverySpec;

use crate::failure::{Failure, Result};
use crate::input::{env_secret, read_file, value_or_file};

#[derive(clap::Args)]
pub struct DeliveryArgs {
    /// A Stripe event body, e.g. events/stripe/payment_intent.succeeded.json.
    #[arg(long)]
    body: PathBuf,
    #[arg(long)]
    pub subscriber: String,
    /// The subscriber's sealed bundle, or @FILE to read it from a file.
    #[arg(long)]
    bundle: String,
    /// Replace the samples' placeholder PaymentIntent id with this one.
    #[arg(long)]
    payment_intent: Option<String>,
    /// Receive time, epoch ms (default: now). Stripe's t= is set 1 s before it.
    #[arg(long)]
    received_at_ms: Option<i64>,
    /// Sign with a wrong secret, to see a forged delivery rejected. Otherwise the signing
    /// secret comes from PAYHOOK_WEBHOOK_SECRET.
    #[arg(long)]
    forge: bool,
}

/// A built delivery: the body as it will be sent and its signature header.
pub struct Built {
    pub body: String,
    pub header: String,
    pub received_at_ms: i64,
    pub bundle: String,
    pub event_id: String,
}

impl Built {
    pub fn spec<'a>(&'a self, message_id: &'a str, subscriber: &'a str) -> DeliverySpec<'a> {
        DeliverySpec {
            message_id,
            body: &self.body,
            subscriber,
            signature_header: &self.header,
            received_at_ms: self.received_at_ms,
            sealed_bundle: &self.bundle,
        }
    }
}

impl DeliveryArgs {
    pub fn build(&self) -> Result<Built> {
        let mut body = read_file("--body", &self.body)?;
        if let Some(pi) = &self.payment_intent {
            body = body.replace(SAMPLE_INTENT_ID, pi);
        }
        let event = payhook::inbound::parse_event(&body).map_err(|e| {
            Failure::usage(
                format!("--body {}", self.body.display()),
                format!("is not a usable Stripe event: {e}"),
            )
        })?;
        let bundle = value_or_file("--bundle", &self.bundle)?;
        let secret = if self.forge {
            "whsec_forged".to_string()
        } else {
            env_secret("PAYHOOK_WEBHOOK_SECRET")?
        };
        let received_at_ms = self
            .received_at_ms
            .unwrap_or_else(payhook::support::clock::now_ms);
        // As sent: created a moment before it was received (the samples' own dates are old).
        if let Ok(mut json) = serde_json::from_str::<serde_json::Value>(&body)
            && json.get("created").is_some()
        {
            json["created"] = serde_json::json!(received_at_ms / 1000 - 1);
            body = serde_json::to_string_pretty(&json)
                .map_err(|e| Failure::failed("encoding the event", e))?;
        }
        let header = payhook::inbound::sign_stripe_signature(
            &secret,
            received_at_ms / 1000 - 1,
            body.as_bytes(),
        );
        Ok(Built {
            body,
            header,
            received_at_ms,
            bundle,
            event_id: event.id,
        })
    }
}
