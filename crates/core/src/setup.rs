//! Builds a [`Consumer`] (and the notifier) from configuration: done once per cold start, shared by the Lambda
//! binary, the local runner and the tests.

use aws_config::SdkConfig;

use crate::backoff::Backoff;
use crate::bundle_cache::BundleCache;
use crate::config::Config;
use crate::dead_lettering::DeadLetters;
use crate::handler::Consumer;
use crate::keyring::KeyRing;
use crate::keystore::KeyStoreError;
use crate::ledger::Ledger;
use crate::notifier::{Notifier, NotifierConfig};
use crate::outbound::OutboundSetupError;
use crate::stripe_api::{StripeApi, StripeSetupError};
use crate::unapplied::Unapplied;

/// Why the consumer could not be built; the function then fails to start and messages wait.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    #[error(transparent)]
    Stripe(#[from] StripeSetupError),
    #[error(transparent)]
    Outbound(#[from] OutboundSetupError),
}

/// Every AWS call gives up after this, well under the 30 s function timeout, so a hung call
/// becomes a transient failure the batch can report instead of a timed-out invocation.
pub const AWS_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(AWS_OPERATION_TIMEOUT)
        .connect_timeout(std::time::Duration::from_secs(2))
        .build()
}

/// Loads the AWS configuration the usual way; `endpoint` (or `AWS_ENDPOINT_URL`) points every
/// client at a local emulator.
pub async fn aws_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts());
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

pub async fn consumer(config: &Config, aws: &SdkConfig) -> Result<Consumer, SetupError> {
    // Loading the system's trusted roots for the Stripe client is a few milliseconds of CPU:
    // done on another thread, it overlaps the key set's round trip to Secrets Manager instead
    // of adding to the cold start.
    let stripe = tokio::task::spawn_blocking({
        let (base, timeout) = (config.stripe_api_base.clone(), config.stripe_timeout);
        move || StripeApi::new(&base, timeout)
    });
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    let keys = KeyRing::load(secrets, &config.keyset_secret_id).await?;
    let stripe = stripe
        .await
        .map_err(|e| StripeSetupError(format!("building the client failed: {e}")))??;
    Ok(Consumer {
        keys,
        bundles: BundleCache::default(),
        known_credits: Default::default(),
        unapplied: Unapplied::new(
            aws_sdk_dynamodb::Client::new(aws),
            config.unapplied_table.clone(),
        ),
        duplicate_shortcuts: true,
        stripe,
        ledger: Ledger::new(
            aws_sdk_dynamodb::Client::new(aws),
            config.payments_table.clone(),
            config.idempotency_table.clone(),
            config.idempotency_ttl,
        )
        .with_notifications(config.notifications_table.clone()),
        dead_letters: config.dead_letter_queue_url.clone().map(|url| {
            DeadLetters::new(aws_sdk_sqs::Client::new(aws), url)
                .with_rejected(config.rejected_queue_url.clone())
        }),
        backoff: config.webhook_queue_url.clone().map(|url| {
            Backoff::new(
                aws_sdk_sqs::Client::new(aws),
                url,
                config.retry_backoff_secs.clone(),
            )
        }),
        tolerance_secs: config.tolerance_secs,
        mode: config.mode,
        concurrency: config.concurrency,
    })
}

/// The notifier, with the key set it opens bundles with: the Lambda binary's and `payhook dev
/// notify`'s.
pub async fn notifier(config: &NotifierConfig, aws: &SdkConfig) -> Result<Notifier, SetupError> {
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    let keys = KeyRing::load(secrets, &config.keyset_secret_id).await?;
    Ok(Notifier::new(config, aws, keys)?)
}

/// JSON lines on stdout, as CloudWatch Logs expects; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}
