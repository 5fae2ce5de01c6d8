//! Builds what each binary runs from its configuration, once per cold start: the consumer, the
//! reconciler, the notifier, and the pipeline and key ring they share. The Lambda binaries, the
//! CLI and the tests all build them here.

use aws_config::SdkConfig;

use crate::consumer::{Backoff, Consumer, DeadLetters};
use crate::ledger::{Ledger, Unapplied};
use crate::notifications::{Notifier, NotifierConfig, OutboundSetupError};
use crate::ops::Config;
use crate::pipeline::Pipeline;
use crate::reconcile::{Reconciler, Schedule};
use crate::secrets::{BundleCache, KeyRing, KeyStoreError};
use crate::stripe::{StripeApi, StripeSetupError};

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

/// What decides events: the Stripe client, the ledger (with the notifications its credits owe)
/// and the unapplied store. Loading the system's trusted roots for the Stripe client is a few
/// milliseconds of CPU, done on another thread so it overlaps the key set's round trip.
pub async fn pipeline(config: &Config, aws: &SdkConfig) -> Result<Pipeline, SetupError> {
    let stripe = tokio::task::spawn_blocking({
        let (base, timeout) = (config.stripe_api_base.clone(), config.stripe_timeout);
        move || StripeApi::new(&base, timeout)
    })
    .await
    .map_err(|e| StripeSetupError(format!("building the client failed: {e}")))??;
    Ok(Pipeline {
        stripe,
        ledger: ledger(config, aws),
        known_credits: Default::default(),
        unapplied: unapplied(config, aws),
        mode: config.mode,
        duplicate_shortcuts: true,
    })
}

/// The ledger alone (the operator's commands that credit or read credits).
pub fn ledger(config: &Config, aws: &SdkConfig) -> Ledger {
    Ledger::new(
        aws_sdk_dynamodb::Client::new(aws),
        config.payments_table.clone(),
        config.idempotency_table.clone(),
        config.notifications_table.clone(),
    )
}

/// The unapplied store alone.
pub fn unapplied(config: &Config, aws: &SdkConfig) -> Unapplied {
    Unapplied::new(
        aws_sdk_dynamodb::Client::new(aws),
        config.unapplied_table.clone(),
    )
}

/// The key set from its secret, kept current.
pub async fn key_ring(secret_id: &str, aws: &SdkConfig) -> Result<KeyRing, SetupError> {
    Ok(KeyRing::load(aws_sdk_secretsmanager::Client::new(aws), secret_id).await?)
}

/// The SQS-fed consumer: the pipeline, the key ring, the queues it writes to.
pub async fn consumer(config: &Config, aws: &SdkConfig) -> Result<Consumer, SetupError> {
    let (pipeline, keys) = tokio::join!(
        pipeline(config, aws),
        key_ring(&config.keyset_secret_id, aws)
    );
    Ok(Consumer {
        pipeline: pipeline?,
        keys: keys?,
        bundles: BundleCache::default(),
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
        concurrency: config.concurrency,
    })
}

/// The scheduled reconcile: the pipeline, the key ring, SSM where the bundles are. No queue
/// clients: it writes to none.
pub async fn reconciler(
    config: &Config,
    schedule: Schedule,
    aws: &SdkConfig,
) -> Result<Reconciler, SetupError> {
    let (pipeline, keys) = tokio::join!(
        pipeline(config, aws),
        key_ring(&config.keyset_secret_id, aws)
    );
    Ok(Reconciler {
        pipeline: pipeline?,
        keys: keys?,
        ssm: aws_sdk_ssm::Client::new(aws),
        schedule,
    })
}

/// The notifier, with the key set it opens bundles with: the Lambda binary's and `payhook dev
/// notify`'s.
pub async fn notifier(config: &NotifierConfig, aws: &SdkConfig) -> Result<Notifier, SetupError> {
    let keys = key_ring(&config.keyset_secret_id, aws).await?;
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
