//! `payhook dev provision`: what the template creates, on the local emulator.

use std::path::PathBuf;

use payhook::secrets::KeySet;
use payhook_testkit::emulators;

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::input::{read_file, value_or_file};

/// The template's default SubscriberParameterPrefix.
const PARAMETER_PREFIX: &str = "/payhook/subscribers";

/// Create the tables, the key set secret and the dead-letter queue on a local emulator.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "payhook-payments")]
    payments_table: String,
    #[arg(long, default_value = "payhook-idempotency")]
    idempotency_table: String,
    #[arg(long, default_value = "payhook-unapplied")]
    unapplied_table: String,
    #[arg(long, default_value = "payhook-notifications")]
    notifications_table: String,
    #[arg(long, default_value = "payhook-notifications-dlq")]
    notification_dlq: String,
    /// SUBSCRIBER=@FILE, repeatable: a subscriber's sealed bundle, stored as the SSM parameter
    /// `/payhook/subscribers/<id>/bundle` as on a deployed stack (the scheduled reconcile and
    /// the notifier read it there).
    #[arg(long = "bundle", value_name = "SUBSCRIBER=@FILE")]
    bundles: Vec<String>,
    #[arg(long, default_value = "payhook-consumer-keys")]
    secret_name: String,
    /// Key set JSON file to store in the secret.
    #[arg(long)]
    keyset: PathBuf,
    #[arg(long, default_value = "payhook-webhooks-dlq")]
    dlq: String,
    /// Where deliveries strangers can cause go (bad or expired signature, malformed envelope).
    #[arg(long, default_value = "payhook-webhooks-rejected")]
    rejected_queue: String,
    /// The webhook queue (a name ending .fifo makes both queues FIFO).
    #[arg(long, default_value = "payhook-webhooks")]
    queue: String,
    /// Deliveries before SQS moves a failing message to the DLQ.
    #[arg(long, default_value_t = 3)]
    max_receive_count: u32,
    /// Seconds a received message stays hidden (short locally, so retries show soon).
    #[arg(long, default_value_t = 10)]
    visibility_timeout: u32,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let json = read_file("--keyset", &self.keyset)?;
        KeySet::from_json(&json)
            .map_err(|e| Failure::usage(format!("--keyset {}", self.keyset.display()), e))?;
        let aws = context.aws().await;
        // The SDK's own Display is only "service error"; the causes say which and why.
        let failed = |what: &str| {
            let what = what.to_string();
            move |e: payhook_testkit::BoxError| {
                Failure::failed(what, payhook::support::text::with_causes(e.as_ref()))
            }
        };
        let tables = emulators::Tables {
            payments: &self.payments_table,
            idempotency: &self.idempotency_table,
            unapplied: &self.unapplied_table,
        };
        emulators::create_tables(&aws, &tables)
            .await
            .map_err(failed("creating the tables"))?;
        let arn = emulators::put_keyset_secret(&aws, &self.secret_name, &json)
            .await
            .map_err(failed("creating the key set secret"))?;
        emulators::create_notifications_table(&aws, &self.notifications_table)
            .await
            .map_err(failed("creating the notifications table"))?;
        let notification_dlq_url = emulators::create_queue(&aws, &self.notification_dlq)
            .await
            .map_err(failed("creating the notification dead-letter queue"))?;
        let ssm = aws_sdk_ssm::Client::new(&aws);
        for entry in &self.bundles {
            let (subscriber, bundle) = entry.split_once('=').ok_or_else(|| {
                Failure::usage(format!("--bundle {entry:.40}"), "expected SUBSCRIBER=@FILE")
            })?;
            let name = format!("{PARAMETER_PREFIX}/{subscriber}/bundle");
            ssm.put_parameter()
                .name(&name)
                .value(value_or_file("--bundle", bundle)?)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send()
                .await
                .map_err(|e| {
                    Failure::failed(
                        format!("storing {name}"),
                        aws_sdk_ssm::error::DisplayErrorContext(e),
                    )
                })?;
        }
        let dlq_url = emulators::create_queue(&aws, &self.dlq)
            .await
            .map_err(failed("creating the dead-letter queue"))?;
        let rejected_url = emulators::create_queue(&aws, &self.rejected_queue)
            .await
            .map_err(failed("creating the rejected queue"))?;
        let queue_url = emulators::create_queue_with_dlq(
            &aws,
            &self.queue,
            &dlq_url,
            self.max_receive_count,
            self.visibility_timeout,
        )
        .await
        .map_err(failed("creating the webhook queue"))?;
        println!("PAYMENTS_TABLE={}", self.payments_table);
        println!("IDEMPOTENCY_TABLE={}", self.idempotency_table);
        println!("UNAPPLIED_TABLE={}", self.unapplied_table);
        println!("NOTIFICATIONS_TABLE={}", self.notifications_table);
        println!("NOTIFICATION_DLQ_URL={notification_dlq_url}");
        println!("SUBSCRIBER_PARAMETER_PREFIX={PARAMETER_PREFIX}");
        println!("KEYSET_SECRET_ID={arn}");
        println!("DEAD_LETTER_QUEUE_URL={dlq_url}");
        println!("REJECTED_QUEUE_URL={rejected_url}");
        println!("QUEUE_URL={queue_url}");
        // localstripe and the demo keys are test mode.
        println!("PAYHOOK_MODE=test");
        Ok(())
    }
}
