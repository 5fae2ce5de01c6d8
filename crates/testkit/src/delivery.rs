//! Webhook deliveries shaped as API Gateway's SQS integration queues them, and as Lambda's
//! event source mapping hands them to the consumer.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use payhook::inbound::{
    ATTR_RECEIVED_AT, ATTR_SEALED_BUNDLE, ATTR_SIGNATURE, ATTR_SUBSCRIBER, known_attribute,
};

use crate::BoxError;
use crate::emulators::LOCAL_REGION;
use crate::route::RoutedAttribute;

/// The account id moto gives every resource.
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

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

    /// The delivery as Lambda hands it over from the webhook queue.
    pub fn sqs_message(&self) -> SqsMessage {
        let attributes = self
            .attributes()
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    lambda_attribute(data_type(name), Some(&value)),
                )
            })
            .collect();
        lambda_record(
            "payhook-webhooks",
            self.message_id,
            &format!("receipt-{}", self.message_id),
            self.body,
            attributes,
            HashMap::new(),
        )
    }
}

/// The data type API Gateway's mapping gives each attribute (the consumer's own list).
fn data_type(attribute: &str) -> &'static str {
    known_attribute(attribute).map_or("String", |(_, t)| t)
}

/// Hands `messages` to the consumer in batches of ten, as Lambda's event source mapping
/// would; what a batch reports failed comes back in a later batch, as SQS redelivers it.
/// Returns the number of invocations.
pub async fn handle_until_done(
    consumer: &payhook::consumer::Consumer,
    mut queue: Vec<SqsMessage>,
) -> usize {
    let mut invocations = 0;
    while !queue.is_empty() {
        let rest = queue.split_off(queue.len().min(10));
        let batch = std::mem::replace(&mut queue, rest);
        let r = consumer
            .handle(sqs_event(batch.clone()))
            .await
            .expect("batch");
        invocations += 1;
        let failed: Vec<&str> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        queue.extend(
            batch
                .into_iter()
                .filter(|m| failed.contains(&m.message_id.as_deref().unwrap_or_default())),
        );
    }
    invocations
}

pub fn sqs_event(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}

/// Puts one delivery on a queue as API Gateway's SQS integration would; returns the message id.
pub async fn send_delivery(
    aws: &SdkConfig,
    queue_url: &str,
    spec: &DeliverySpec<'_>,
) -> Result<String, BoxError> {
    let attributes: Vec<RoutedAttribute> = spec
        .attributes()
        .into_iter()
        .map(|(name, value)| RoutedAttribute {
            name: name.to_string(),
            data_type: data_type(name).to_string(),
            value,
        })
        .collect();
    send_routed(aws, queue_url, spec.body, &attributes, spec.subscriber).await
}

/// Puts a body with these attributes on a queue (in `group` if it is FIFO), as API Gateway's
/// SQS-SendMessage integration does; returns the message id.
pub async fn send_routed(
    aws: &SdkConfig,
    queue_url: &str,
    body: &str,
    attributes: &[RoutedAttribute],
    group: &str,
) -> Result<String, BoxError> {
    use aws_sdk_sqs::types::MessageAttributeValue;
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut req = sqs.send_message().queue_url(queue_url).message_body(body);
    for a in attributes {
        req = req.message_attributes(
            &a.name,
            MessageAttributeValue::builder()
                .data_type(&a.data_type)
                .string_value(&a.value)
                .build()?,
        );
    }
    if queue_url.ends_with(".fifo") {
        req = req.message_group_id(group);
    }
    let out = req.send().await?;
    Ok(out.message_id().unwrap_or_default().to_string())
}

/// A Lambda SQS record for a message received from the queue named `queue_name`: the one
/// builder both the ready-made deliveries and the local poller use.
pub fn lambda_record(
    queue_name: &str,
    message_id: &str,
    receipt_handle: &str,
    body: &str,
    message_attributes: HashMap<String, SqsMessageAttribute>,
    attributes: HashMap<String, String>,
) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(message_id.to_string());
    m.receipt_handle = Some(receipt_handle.to_string());
    m.body = Some(body.to_string());
    m.event_source = Some("aws:sqs".into());
    m.aws_region = Some(LOCAL_REGION.into());
    m.event_source_arn = Some(format!(
        "arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{queue_name}"
    ));
    m.message_attributes = message_attributes;
    m.attributes = attributes;
    m
}

/// An SQS message attribute as Lambda shows it.
pub fn lambda_attribute(data_type: &str, value: Option<&str>) -> SqsMessageAttribute {
    let mut a = SqsMessageAttribute::default();
    a.data_type = Some(data_type.to_string());
    a.string_value = value.map(str::to_string);
    a
}
