//! A fresh, isolated slice of the local stack per test: its own tables, secret, DLQ and keys on
//! the shared moto and localstripe that `scripts/test.sh` started.

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use payhook::consumer::Consumer;
use payhook::ops::Config;

pub use payhook::support::clock::now_ms;

use crate::delivery::DeliverySpec;
use crate::keys::TestKeys;
use crate::proxy::Proxy;
use crate::{SAMPLE_INTENT_ID, emulators, localstripe, repo_path};
use std::time::Duration;

pub const SUBSCRIBER: &str = "acme";
pub const WHSEC: &str = "whsec_it_current";
pub const API_KEY: &str = "sk_test_it_acme";

pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts moto and localstripe")
    })
}

/// A name no other test (or test process) uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        now_ms(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Stack {
    pub aws: SdkConfig,
    /// What the consumer reaches AWS with (moto, or a proxy in front of it).
    pub consumer_aws: SdkConfig,
    pub stripe_base: String,
    pub config: Config,
    pub consumer: Consumer,
    /// The consumer's key set (stored in the stack's secret) and the issuer it trusts.
    pub keys: TestKeys,
    /// The acme bundle with the right secrets.
    pub bundle: String,
}

pub struct Options {
    pub with_dlq: bool,
    pub stripe_base: Option<String>,
    /// Further consumer environment, e.g. STRIPE_TIMEOUT_MS or RETRY_BACKOFF_SECS.
    pub env: Vec<(&'static str, String)>,
    /// Where the consumer reaches AWS, e.g. a counting proxy in front of moto (default: moto).
    pub consumer_aws_endpoint: Option<String>,
    /// A localstripe of the test's own (`PrivateLocalstripe`): the stack's PaymentIntents are
    /// made there and the consumer asks it (unless `stripe_base` says otherwise).
    pub localstripe: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            with_dlq: true,
            stripe_base: None,
            env: Vec::new(),
            consumer_aws_endpoint: None,
            localstripe: None,
        }
    }
}

impl Stack {
    pub async fn new() -> Stack {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Stack {
        crate::logs::install_global();
        let endpoint = required_env("AWS_ENDPOINT_URL");
        let stripe_base = options
            .localstripe
            .clone()
            .unwrap_or_else(|| required_env("STRIPE_API_BASE"));
        let aws = emulators::aws_config_for(&endpoint).await;
        let id = unique("it");
        let payments = format!("{id}-payments");
        let idempotency = format!("{id}-idempotency");
        let unapplied = format!("{id}-unapplied");
        emulators::create_tables(
            &aws,
            &emulators::Tables {
                payments: &payments,
                idempotency: &idempotency,
                unapplied: &unapplied,
            },
        )
        .await
        .expect("create tables on moto");
        let notifications = format!("{id}-notifications");
        emulators::create_notifications_table(&aws, &notifications)
            .await
            .expect("create the notifications table on moto");

        let keys = TestKeys::new("it-key");
        let secret_arn =
            emulators::put_keyset_secret(&aws, &format!("{id}-keys"), &keys.keyset_json)
                .await
                .expect("create secret on moto");
        let dlq_url = if options.with_dlq {
            Some(
                emulators::create_queue(&aws, &format!("{id}-dlq"))
                    .await
                    .expect("create DLQ on moto"),
            )
        } else {
            None
        };

        let config = Config::from_lookup(|k| match k {
            "PAYMENTS_TABLE" => Some(payments.clone()),
            "IDEMPOTENCY_TABLE" => Some(idempotency.clone()),
            "UNAPPLIED_TABLE" => Some(unapplied.clone()),
            "NOTIFICATIONS_TABLE" => Some(notifications.clone()),
            "KEYSET_SECRET_ID" => Some(secret_arn.clone()),
            "DEAD_LETTER_QUEUE_URL" => dlq_url.clone(),
            "STRIPE_API_BASE" => Some(
                options
                    .stripe_base
                    .clone()
                    .unwrap_or_else(|| stripe_base.clone()),
            ),
            other => options
                .env
                .iter()
                .find(|(k, _)| *k == other)
                .map(|(_, v)| v.clone())
                .or_else(|| match other {
                    "STRIPE_TIMEOUT_MS" => Some("3000".into()),
                    // localstripe and the keys here are test mode.
                    "PAYHOOK_MODE" => Some("test".into()),
                    _ => None,
                }),
        })
        .expect("config");
        let consumer_aws = match &options.consumer_aws_endpoint {
            Some(endpoint) => emulators::aws_config_for(endpoint).await,
            None => aws.clone(),
        };
        let consumer = payhook::ops::consumer(&config, &consumer_aws)
            .await
            .expect("consumer loads its keys from Secrets Manager");
        let bundle = keys.seal(SUBSCRIBER, &[WHSEC], API_KEY);
        Stack {
            aws,
            consumer_aws,
            stripe_base,
            config,
            consumer,
            keys,
            bundle,
        }
    }

    /// A stack whose consumer reaches localstripe and moto through counting proxies, which
    /// are returned beside it (Stripe's, then AWS's): calls counted outside the consumer.
    pub async fn counted() -> (Stack, Proxy, Proxy) {
        let stripe = Proxy::start(&required_env("STRIPE_API_BASE"), Duration::ZERO)
            .await
            .expect("Stripe proxy");
        let aws = Proxy::start(&required_env("AWS_ENDPOINT_URL"), Duration::ZERO)
            .await
            .expect("AWS proxy");
        let stack = Stack::with(Options {
            stripe_base: Some(stripe.url.clone()),
            consumer_aws_endpoint: Some(aws.url.clone()),
            ..Options::default()
        })
        .await;
        (stack, stripe, aws)
    }

    /// Makes the consumer re-read its key set for every bundle naming a key or issuer it
    /// lacks, without the cooldown: for tests that make dead letters of unknown keys in
    /// bulk (the cooldown turns all but the first of a burst into retries).
    pub async fn rereading_keys_every_time(&mut self) {
        self.consumer.keys = payhook::secrets::KeyRing::load_with(
            aws_sdk_secretsmanager::Client::new(&self.consumer_aws),
            &self.config.keyset_secret_id,
            payhook::secrets::KEYSET_MAX_AGE,
            Duration::ZERO,
        )
        .await
        .expect("key ring");
    }

    /// Another consumer over the same tables, keys and queues (a second Lambda instance).
    pub async fn second_consumer(&self) -> Consumer {
        payhook::ops::consumer(&self.config, &self.consumer_aws)
            .await
            .expect("second consumer")
    }

    pub fn seal(&self, subscriber: &str, secrets: &[&str], api_key: &str) -> String {
        self.keys.seal(subscriber, secrets, api_key)
    }

    /// A succeeded PaymentIntent on localstripe whose metadata.id is `payment_id`.
    pub async fn intent(&self, payment_id: &str, amount: i64) -> String {
        self.intent_with(Some(payment_id), amount, "eur").await
    }

    /// A succeeded PaymentIntent with `metadata.id` only if given, in `currency`.
    pub async fn intent_with(
        &self,
        payment_id: Option<&str>,
        amount: i64,
        currency: &str,
    ) -> String {
        localstripe::create_succeeded(&self.stripe_base, API_KEY, payment_id, amount, currency)
            .await
            .expect("create PaymentIntent on localstripe")
    }

    /// A PaymentIntent for `amount` with manual capture, `capture` of it captured.
    pub async fn intent_captured(&self, payment_id: &str, amount: i64, capture: i64) -> String {
        localstripe::create_captured(&self.stripe_base, API_KEY, payment_id, amount, capture)
            .await
            .expect("capture a PaymentIntent on localstripe")
    }

    /// Refunds `amount` (all without one) of a PaymentIntent on the stack's localstripe.
    pub async fn refund(&self, intent_id: &str, amount: Option<i64>) -> String {
        localstripe::refund(&self.stripe_base, API_KEY, intent_id, amount)
            .await
            .expect("refund on localstripe")
    }

    /// The completed Checkout Session of a succeeded PaymentIntent, naming its record as a
    /// Checkout integration does.
    pub async fn checkout_session(
        &self,
        intent_id: &str,
        metadata_id: Option<&str>,
        client_reference_id: Option<&str>,
    ) -> String {
        localstripe::checkout_session(
            &self.stripe_base,
            intent_id,
            metadata_id,
            client_reference_id,
        )
        .await
        .expect("Checkout Session on localstripe")
    }

    /// Opens a dispute on the PaymentIntent's charge, its amount withdrawn.
    pub async fn open_dispute(&self, intent_id: &str) -> String {
        localstripe::open_dispute(&self.stripe_base, intent_id)
            .await
            .expect("open a dispute on localstripe")
    }

    /// Closes a dispute, won (funds reinstated) or lost.
    pub async fn close_dispute(&self, dispute_id: &str, won: bool) {
        localstripe::close_dispute(&self.stripe_base, dispute_id, won)
            .await
            .expect("close a dispute on localstripe")
    }

    /// Makes a refund fail after it was made: its money comes back.
    pub async fn fail_refund(&self, refund_id: &str) {
        localstripe::fail_refund(&self.stripe_base, refund_id)
            .await
            .expect("fail the refund on localstripe")
    }

    pub async fn record(
        &self,
        subscriber: &str,
        payment_id: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        emulators::payment_record(
            &self.aws,
            &self.config.payments_table,
            subscriber,
            payment_id,
        )
        .await
        .expect("read payment record")
    }

    /// Every message in the DLQ, as (body, attributes by name).
    pub async fn dead_letters(&self) -> Vec<(String, std::collections::HashMap<String, String>)> {
        match &self.config.dead_letter_queue_url {
            Some(url) => emulators::read_queue(&self.aws, url)
                .await
                .expect("receive from the DLQ"),
            None => Vec::new(),
        }
    }
}

/// A sample body from `events/stripe/`, pointed at `intent_id`, created now (the samples' own
/// dates would make them older than the consumer accepts).
pub fn sample_body(event_type: &str, intent_id: &str) -> String {
    let path = repo_path(&format!("events/stripe/{event_type}.json"));
    let body = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace(SAMPLE_INTENT_ID, intent_id);
    created_now(&body)
}

/// The event with its `created` set to now (Stripe sends events as they are created).
pub fn created_now(body: &str) -> String {
    let mut event: serde_json::Value = serde_json::from_str(body).expect("a JSON event");
    event["created"] = serde_json::json!(now_ms() / 1000);
    serde_json::to_string_pretty(&event).expect("JSON")
}

/// A delivery as API Gateway queues it, signed with `secret` at `signed_at` (seconds) and
/// received at `received_at_ms`.
pub struct Msg<'a> {
    pub id: &'a str,
    pub body: &'a str,
    pub subscriber: &'a str,
    pub bundle: &'a str,
    pub secret: &'a str,
    pub signed_at: i64,
    pub received_at_ms: i64,
}

impl Msg<'_> {
    pub fn sqs(&self) -> SqsMessage {
        let header = payhook::inbound::sign_stripe_signature(
            self.secret,
            self.signed_at,
            self.body.as_bytes(),
        );
        DeliverySpec {
            message_id: self.id,
            body: self.body,
            subscriber: self.subscriber,
            signature_header: &header,
            received_at_ms: self.received_at_ms,
            sealed_bundle: self.bundle,
        }
        .sqs_message()
    }
}

/// A good acme delivery of `body`, signed a second before it was received just now.
pub fn good<'a>(stack: &'a Stack, id: &'a str, body: &'a str) -> Msg<'a> {
    let received_at_ms = now_ms();
    Msg {
        id,
        body,
        subscriber: SUBSCRIBER,
        bundle: &stack.bundle,
        secret: WHSEC,
        signed_at: received_at_ms / 1000 - 1,
        received_at_ms,
    }
}

pub fn failed_ids(r: &SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}
