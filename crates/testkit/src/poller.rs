//! A local stand-in for Lambda's SQS event source mapping: long-poll a batch, hand it to the
//! consumer, delete what succeeded, leave the reported failures for SQS to redeliver after
//! their visibility timeout (and to move to the DLQ after the queue's maxReceiveCount).

use std::collections::{HashMap, HashSet};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};

use payhook::consumer::Consumer;

use crate::delivery::{lambda_attribute, lambda_record, sqs_event};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{action} on {queue_url}: {detail}")]
pub struct PollError {
    pub action: &'static str,
    pub queue_url: String,
    pub detail: String,
}

/// One receive -> handle -> delete round, as the event source mapping does it, with the
/// consumer in this process.
pub async fn poll_once(
    sqs: &Client,
    queue_url: &str,
    consumer: &Consumer,
    wait_secs: i32,
) -> Result<Polled, PollError> {
    poll_up_to(sqs, queue_url, consumer, wait_secs, MAX_BATCH).await
}

/// The largest batch SQS returns, and the event source mapping's default `BatchSize`.
pub const MAX_BATCH: i32 = 10;

/// One round receiving at most `batch_size` messages, as a mapping with that `BatchSize`:
/// it receives no more than it hands to one invocation.
pub async fn poll_up_to(
    sqs: &Client,
    queue_url: &str,
    consumer: &Consumer,
    wait_secs: i32,
    batch_size: i32,
) -> Result<Polled, PollError> {
    poll_batch_with(sqs, queue_url, wait_secs, batch_size, |event| async move {
        consumer.handle(event).await.ok()
    })
    .await
}

/// The same round, the batch handed to `invoke`; `None` means the invocation failed as a whole
/// (Lambda then leaves every message for redelivery).
pub async fn poll_once_with<F, Fut>(
    sqs: &Client,
    queue_url: &str,
    wait_secs: i32,
    invoke: F,
) -> Result<Polled, PollError>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = Option<SqsBatchResponse>>,
{
    poll_batch_with(sqs, queue_url, wait_secs, MAX_BATCH, invoke).await
}

/// The same round, at most `batch_size` messages.
pub async fn poll_batch_with<F, Fut>(
    sqs: &Client,
    queue_url: &str,
    wait_secs: i32,
    batch_size: i32,
    invoke: F,
) -> Result<Polled, PollError>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = Option<SqsBatchResponse>>,
{
    let fail = |action: &'static str, detail: String| PollError {
        action,
        queue_url: queue_url.to_string(),
        detail,
    };
    let got = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(batch_size)
        .wait_time_seconds(wait_secs)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| fail("ReceiveMessage", DisplayErrorContext(e).to_string()))?;
    let messages = got.messages();
    if messages.is_empty() {
        return Ok(Polled::default());
    }
    let records: Vec<SqsMessage> = messages.iter().map(|m| to_lambda(queue_url, m)).collect();
    let receipts: HashMap<String, String> = messages
        .iter()
        .filter_map(|m| Some((m.message_id()?.to_string(), m.receipt_handle()?.to_string())))
        .collect();
    let failed: HashSet<String> = match invoke(sqs_event(records)).await {
        Some(response) => response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        // The whole batch failed: Lambda would leave every message for redelivery.
        None => receipts.keys().cloned().collect(),
    };
    let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
        .iter()
        .filter(|(id, _)| !failed.contains(*id))
        .enumerate()
        .filter_map(|(i, (_, receipt))| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .receipt_handle(receipt)
                .build()
                .ok()
        })
        .collect();
    let deleted = entries.len();
    if !entries.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| fail("DeleteMessageBatch", DisplayErrorContext(e).to_string()))?;
    }
    Ok(Polled {
        received: messages.len(),
        deleted,
        failed: failed.len(),
    })
}

/// An SQS API message in the shape Lambda delivers it.
fn to_lambda(queue_url: &str, m: &Message) -> SqsMessage {
    let queue_name = queue_url.rsplit('/').next().unwrap_or_default();
    let message_attributes = m
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(k, v)| (k.clone(), lambda_attribute(v.data_type(), v.string_value())))
                .collect()
        })
        .unwrap_or_default();
    let attributes = m
        .attributes()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    lambda_record(
        queue_name,
        m.message_id().unwrap_or_default(),
        m.receipt_handle().unwrap_or_default(),
        m.body().unwrap_or_default(),
        message_attributes,
        attributes,
    )
}

/// Hands a batch to a Lambda runtime emulator's invoke API (`cargo lambda watch`:
/// `POST <url>` = `/2015-03-31/functions/<name>/invocations`), as the event source mapping hands
/// it to the function; the function's partial batch response comes back.
pub async fn invoke_over_http(url: &str, event: &SqsEvent) -> Option<SqsBatchResponse> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let body = serde_json::to_vec(event).ok()?;
    let request = hyper::Request::post(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .ok()?;
    let response = client.request(request).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&bytes).ok()
}
