//! `payhook dev receiver`: a subscriber's notification endpoint on a local port.

use std::time::Duration;

use payhook_testkit::receiver::Receiver;

use crate::failure::{Failure, Result};
use crate::input::env_secret;

/// Receive payment.credited notifications as a subscriber would: each signature checked with
/// the Standard Webhooks library and the secret in PAYHOOK_NOTIFY_SECRET (400 if it does not
/// verify), the first --fail-first answered 500 to show a retry, then 200. Prints one JSON line
/// per request: its webhook headers, whether it verified, the answer and the body (parsed, and
/// raw).
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 8788)]
    port: u16,
    #[arg(long, default_value_t = 0)]
    fail_first: usize,
}

impl Args {
    pub async fn run(self) -> Result<()> {
        let secret = env_secret("PAYHOOK_NOTIFY_SECRET")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|e| Failure::failed(format!("listening on 127.0.0.1:{}", self.port), e))?;
        let receiver = Receiver::serve(listener, self.fail_first, Some(secret));
        eprintln!("payhook: receiving notifications at {}", receiver.url);
        let mut shown = 0;
        loop {
            let got = receiver.received();
            for r in &got[shown..] {
                let line = serde_json::json!({
                    "webhook_id": r.header("webhook-id"),
                    "webhook_timestamp": r.header("webhook-timestamp"),
                    "verified": r.verified,
                    "answered": r.status,
                    "webhook_signature": r.header("webhook-signature"),
                    "body": serde_json::from_str::<serde_json::Value>(&r.body)
                        .unwrap_or_else(|_| r.body.clone().into()),
                    // The exact bytes, for checking the signature with another library.
                    "raw_body": r.body,
                });
                println!("{line}");
            }
            shown = got.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
