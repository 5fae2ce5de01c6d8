//! What the SAM template creates, made on the local emulators (moto): tables, key set secret,
//! queues with a redrive policy; and reading a payment record back.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use payhook::ledger::schema;
use payhook::ledger::unapplied_schema as unapplied;

use crate::BoxError;

/// The region the emulators are addressed in.
pub const LOCAL_REGION: &str = "us-east-1";

/// SDK configuration for an emulator at `endpoint`, with throwaway static credentials.
pub async fn aws_config_for(endpoint: &str) -> SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "local");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(LOCAL_REGION))
        .credentials_provider(creds)
        .timeout_config(payhook::ops::timeouts())
        .endpoint_url(endpoint)
        .load()
        .await
}

fn attr(
    name: &str,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, aws_sdk_dynamodb::error::BuildError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, aws_sdk_dynamodb::error::BuildError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
}

/// The tables the template creates, by name.
pub struct Tables<'a> {
    pub payments: &'a str,
    pub idempotency: &'a str,
    pub unapplied: &'a str,
}

/// Creates the payments, idempotency and unapplied tables as the template does (on-demand).
pub async fn create_tables(aws: &SdkConfig, tables: &Tables<'_>) -> Result<(), BoxError> {
    let db = aws_sdk_dynamodb::Client::new(aws);
    let attr = |name: &str| attr(name, ScalarAttributeType::S);
    db.create_table()
        .table_name(tables.payments)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(schema::SUBSCRIBER)?)
        .attribute_definitions(attr(schema::PAYMENT_ID)?)
        .key_schema(key(schema::SUBSCRIBER, KeyType::Hash)?)
        .key_schema(key(schema::PAYMENT_ID, KeyType::Range)?)
        .send()
        .await?;
    db.create_table()
        .table_name(tables.idempotency)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(schema::IDEMPOTENCY_KEY)?)
        .key_schema(key(schema::IDEMPOTENCY_KEY, KeyType::Hash)?)
        .send()
        .await?;
    db.create_table()
        .table_name(tables.unapplied)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(unapplied::SUBSCRIBER)?)
        .attribute_definitions(attr(unapplied::PAYMENT_INTENT)?)
        .key_schema(key(unapplied::SUBSCRIBER, KeyType::Hash)?)
        .key_schema(key(unapplied::PAYMENT_INTENT, KeyType::Range)?)
        .send()
        .await?;
    Ok(())
}

/// Creates the notifications table as the template does: subscriber + sk, with the sparse
/// `due` index the notifier queries.
pub async fn create_notifications_table(aws: &SdkConfig, name: &str) -> Result<(), BoxError> {
    use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType};
    use payhook::ledger::outbox_schema as n;
    let db = aws_sdk_dynamodb::Client::new(aws);
    db.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(n::SUBSCRIBER, ScalarAttributeType::S)?)
        .attribute_definitions(attr(n::SK, ScalarAttributeType::S)?)
        .attribute_definitions(attr(n::DUE, ScalarAttributeType::S)?)
        .attribute_definitions(attr(n::NEXT_ATTEMPT_AT, ScalarAttributeType::N)?)
        .key_schema(key(n::SUBSCRIBER, KeyType::Hash)?)
        .key_schema(key(n::SK, KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(n::DUE_INDEX)
                .key_schema(key(n::DUE, KeyType::Hash)?)
                .key_schema(key(n::NEXT_ATTEMPT_AT, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// Every message in a queue, as (body, attributes by name), each hidden for a minute once
/// read so a message is read once.
pub async fn read_queue(
    aws: &SdkConfig,
    url: &str,
) -> Result<Vec<(String, std::collections::HashMap<String, String>)>, BoxError> {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(60)
            .send()
            .await?;
        let messages = got.messages();
        if messages.is_empty() {
            return Ok(out);
        }
        for m in messages {
            let attrs = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            out.push((m.body().unwrap_or_default().to_string(), attrs));
        }
    }
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
    // As the template sets it: SQS's default is 256 KiB (moto's is 1 MiB), so say it.
    attributes.push((QueueAttributeName::MaximumMessageSize, "1048576".into()));
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
