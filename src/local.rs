//! Local stand-ins for what the SAM template creates, and deliveries shaped as API Gateway
//! queues them: shared by the `payhook` CLI, the demo and the integration tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

use crate::envelope::{ATTR_RECEIVED_AT, ATTR_SEALED_BUNDLE, ATTR_SIGNATURE, ATTR_SUBSCRIBER};
use crate::ledger::schema;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The region the emulators are addressed in.
pub const LOCAL_REGION: &str = "us-east-1";

/// SDK configuration for an emulator at `endpoint`, with throwaway static credentials.
pub async fn aws_config_for(endpoint: &str) -> SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "local");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(LOCAL_REGION))
        .credentials_provider(creds)
        .timeout_config(crate::setup::timeouts())
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Creates the payments and idempotency tables as the template does (on-demand).
pub async fn create_tables(
    aws: &SdkConfig,
    payments_table: &str,
    idempotency_table: &str,
) -> Result<(), BoxError> {
    let db = aws_sdk_dynamodb::Client::new(aws);
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    db.create_table()
        .table_name(payments_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(schema::SUBSCRIBER)?)
        .attribute_definitions(attr(schema::PAYMENT_ID)?)
        .key_schema(key(schema::SUBSCRIBER, KeyType::Hash)?)
        .key_schema(key(schema::PAYMENT_ID, KeyType::Range)?)
        .send()
        .await?;
    db.create_table()
        .table_name(idempotency_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(schema::IDEMPOTENCY_KEY)?)
        .key_schema(key(schema::IDEMPOTENCY_KEY, KeyType::Hash)?)
        .send()
        .await?;
    Ok(())
}

/// A new key pair as a one-key key set: the public key to seal bundles to, and the key set
/// document the consumer loads.
pub fn new_keyset(kid: &str) -> Result<([u8; 32], String), BoxError> {
    let (public, key) = crate::sealed::generate_key(kid)?;
    let json = serde_json::to_string(&crate::sealed::KeySetDocument {
        version: 1,
        keys: vec![key],
    })?;
    Ok((public, json))
}

/// Stores a key set document as a Secrets Manager secret; returns its ARN.
pub async fn put_keyset_secret(
    aws: &SdkConfig,
    name: &str,
    json: &str,
) -> Result<String, BoxError> {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let out = sm
        .create_secret()
        .name(name)
        .secret_string(json)
        .send()
        .await?;
    Ok(out.arn().unwrap_or(name).to_string())
}

/// Creates a queue; returns its URL.
pub async fn create_queue(aws: &SdkConfig, name: &str) -> Result<String, BoxError> {
    create_queue_with(aws, name, Vec::new()).await
}

/// Creates the webhook queue with a redrive policy to `dlq_url`, as the template does, with a
/// visibility timeout of its own (short locally, so retries are seen soon); returns its URL.
pub async fn create_queue_with_dlq(
    aws: &SdkConfig,
    name: &str,
    dlq_url: &str,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
) -> Result<String, BoxError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(aws);
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("the dead-letter queue has no ARN")?;
    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    create_queue_with(
        aws,
        name,
        vec![
            (QueueAttributeName::RedrivePolicy, policy.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_secs.to_string(),
            ),
        ],
    )
    .await
}

/// CreateQueue with `attributes`, plus FIFO with content-based deduplication when the name
/// ends in `.fifo` (as SQS requires of FIFO queue names); returns the URL.
async fn create_queue_with(
    aws: &SdkConfig,
    name: &str,
    mut attributes: Vec<(aws_sdk_sqs::types::QueueAttributeName, String)>,
) -> Result<String, BoxError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    if name.ends_with(".fifo") {
        attributes.push((QueueAttributeName::FifoQueue, "true".into()));
        attributes.push((QueueAttributeName::ContentBasedDeduplication, "true".into()));
    }
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut req = sqs.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        req = req.attributes(attribute, value);
    }
    let out = req.send().await?;
    out.queue_url()
        .map(str::to_string)
        .ok_or_else(|| "CreateQueue returned no URL".into())
}

/// Puts one delivery on a queue as API Gateway's SQS integration would; returns the message id.
pub async fn send_delivery(
    aws: &SdkConfig,
    queue_url: &str,
    spec: &DeliverySpec<'_>,
) -> Result<String, BoxError> {
    use aws_sdk_sqs::types::MessageAttributeValue;
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut req = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(spec.body);
    for (name, value) in spec.attributes() {
        let data_type = if name == ATTR_RECEIVED_AT {
            "Number"
        } else {
            "String"
        };
        req = req.message_attributes(
            name,
            MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()?,
        );
    }
    if queue_url.ends_with(".fifo") {
        req = req.message_group_id(spec.subscriber);
    }
    let out = req.send().await?;
    Ok(out.message_id().unwrap_or_default().to_string())
}

/// The payment record, as a map of attribute name to a plain JSON value; `None` if absent.
pub async fn payment_record(
    aws: &SdkConfig,
    payments_table: &str,
    subscriber: &str,
    payment_id: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, BoxError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let db = aws_sdk_dynamodb::Client::new(aws);
    let out = db
        .get_item()
        .table_name(payments_table)
        .key(schema::SUBSCRIBER, AttributeValue::S(subscriber.into()))
        .key(schema::PAYMENT_ID, AttributeValue::S(payment_id.into()))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item().map(|item| {
        item.iter()
            .map(|(k, v)| {
                let json = match v {
                    AttributeValue::S(s) => serde_json::Value::String(s.clone()),
                    AttributeValue::N(n) => n
                        .parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| serde_json::Value::String(n.clone())),
                    AttributeValue::Bool(b) => serde_json::Value::Bool(*b),
                    other => serde_json::Value::String(format!("{other:?}")),
                };
                (k.clone(), json)
            })
            .collect()
    }))
}

/// One webhook delivery as the consumer receives it from SQS.
pub struct DeliverySpec<'a> {
    pub message_id: &'a str,
    pub body: &'a str,
    pub subscriber: &'a str,
    pub signature_header: &'a str,
    pub received_at_ms: i64,
    pub sealed_bundle: &'a str,
}

impl DeliverySpec<'_> {
    /// The attributes API Gateway sets, by name.
    pub fn attributes(&self) -> [(&'static str, String); 4] {
        [
            (ATTR_SUBSCRIBER, self.subscriber.to_string()),
            (ATTR_SIGNATURE, self.signature_header.to_string()),
            (ATTR_RECEIVED_AT, self.received_at_ms.to_string()),
            (ATTR_SEALED_BUNDLE, self.sealed_bundle.to_string()),
        ]
    }

    pub fn sqs_message(&self) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(self.message_id.to_string());
        m.receipt_handle = Some(format!("receipt-{}", self.message_id));
        m.body = Some(self.body.to_string());
        m.event_source = Some("aws:sqs".into());
        m.aws_region = Some(LOCAL_REGION.into());
        m.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:payhook-webhooks".into());
        let mut attrs = HashMap::new();
        for (name, value) in self.attributes() {
            let mut a = SqsMessageAttribute::default();
            a.data_type = Some(
                if name == ATTR_RECEIVED_AT {
                    "Number"
                } else {
                    "String"
                }
                .into(),
            );
            a.string_value = Some(value);
            attrs.insert(name.to_string(), a);
        }
        m.message_attributes = attrs;
        m
    }
}

pub fn sqs_event(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}

/// Creates and confirms a card PaymentIntent on localstripe, so its status is `succeeded`;
/// returns its id. `payment_id` goes into `metadata.id`.
pub async fn create_succeeded_intent(
    stripe_base: &str,
    api_key: &str,
    payment_id: &str,
    amount: i64,
    currency: &str,
) -> Result<String, BoxError> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: String,
        status: String,
    }
    // from_url panics on a bad URL; say what is wrong instead.
    url::Url::parse(stripe_base)
        .map_err(|e| format!("bad Stripe base URL {stripe_base:?}: {e}"))?;
    let client = stripe::Client::from_url(stripe_base, api_key);
    let amount = amount.to_string();
    let params: std::collections::BTreeMap<&str, &str> = [
        ("amount", amount.as_str()),
        ("currency", currency),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("metadata[id]", payment_id),
    ]
    .into();
    let created: Created = client.post_form("payment_intents", params).await?;
    if created.status != "succeeded" {
        return Err(format!(
            "PaymentIntent {} is {}, not succeeded",
            created.id, created.status
        )
        .into());
    }
    Ok(created.id)
}

/// A TCP proxy on a local port in front of an HTTP service: it waits `delay` before passing on
/// each chunk the client sends (one chunk is one request here), so every call pays it, and
/// counts the connections it accepts. Latency for the benches, connection reuse for the tests.
pub struct Proxy {
    /// Base URL to use instead of the service's.
    pub url: String,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(upstream_url: &str, delay: Duration) -> Result<Proxy, BoxError> {
        let upstream = url::Url::parse(upstream_url)?;
        let upstream = format!(
            "{}:{}",
            upstream.host_str().ok_or("upstream URL has no host")?,
            upstream
                .port_or_known_default()
                .ok_or("upstream URL has no port")?
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, upstream.clone(), delay));
            }
        });
        Ok(Proxy { url, accepted })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn forward(client: tokio::net::TcpStream, upstream: String, delay: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tokio::time::sleep(delay).await;
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        // Pass the client's close on, so the service sees the connection end.
        let _ = sw.shutdown().await;
    };
    let down = tokio::io::copy(&mut sr, &mut cw);
    let _ = tokio::join!(up, down);
}
