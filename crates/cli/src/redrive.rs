//! The operator's side of the dead-letter queue: look without consuming, and redrive safely.
//! (Moving a failed message *into* the queue is the consumer's `payhook::consumer`.)
//!
//! Redrive sends a copy to the main queue first and deletes the dead letter after, so a crash in
//! between can only duplicate a delivery (which the ledger absorbs), never lose one. moto does
//! not implement `StartMessageMoveTask`, and the filtered redrive needs to read each message
//! anyway, so this is receive -> send -> delete.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use serde::Serialize;

use payhook::inbound::{
    ATTR_CLASS, ATTR_DETAIL, ATTR_FAILED_AT, ATTR_REASON, ATTR_SEALED_BUNDLE, ATTR_SUBSCRIBER,
    FAILURE_DESCRIPTION,
};
use payhook::reason::Reason;

use crate::failure::{Failure, Result};

/// A dead letter as an operator sees it. The body is kept for redrive, never printed.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub subscriber: Option<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub reason: Option<String>,
    pub class: Option<String>,
    pub detail: Option<String>,
    /// How often the dead-letter queue has handed it out, this look included.
    pub attempts: u32,
    /// First failure, epoch ms (the consumer's `failed-at`, else when it entered the DLQ).
    pub first_seen_ms: Option<i64>,
    /// When it entered this queue, epoch ms (SQS's `SentTimestamp`).
    #[serde(skip)]
    sent_ms: Option<i64>,
    #[serde(skip)]
    body: String,
    #[serde(skip)]
    attributes: HashMap<String, MessageAttributeValue>,
    #[serde(skip)]
    receipt_handle: String,
}

fn err<E, R>(action: &'static str, queue_url: &str) -> impl FnOnce(SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let queue_url = queue_url.to_string();
    move |e| Failure::aws(format!("{action} on {queue_url}"), &e)
}

impl DeadLetter {
    fn from_message(m: &Message) -> Option<Self> {
        let message_id = m.message_id()?.to_string();
        let receipt_handle = m.receipt_handle()?.to_string();
        let attributes = m.message_attributes().cloned().unwrap_or_default();
        let text = |name: &str| {
            attributes
                .get(name)
                .and_then(|a| a.string_value())
                .map(str::to_string)
        };
        let system = m.attributes();
        let sys = |name: MessageSystemAttributeName| system.and_then(|a| a.get(&name)).cloned();
        // The body is Stripe's; shown only through its id and type, read leniently.
        let body = m.body().unwrap_or_default().to_string();
        let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        Some(DeadLetter {
            subscriber: text(ATTR_SUBSCRIBER),
            event_id: field("id"),
            event_type: field("type"),
            reason: text(ATTR_REASON),
            class: text(ATTR_CLASS),
            detail: text(ATTR_DETAIL),
            attempts: sys(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            first_seen_ms: text(ATTR_FAILED_AT)
                .or_else(|| sys(MessageSystemAttributeName::SentTimestamp))
                .and_then(|v| v.parse().ok()),
            sent_ms: sys(MessageSystemAttributeName::SentTimestamp).and_then(|v| v.parse().ok()),
            message_id,
            body,
            attributes,
            receipt_handle,
        })
    }
}

/// Receives every message currently visible, keeping each hidden for `hide_secs` so one pass
/// sees each once; stops after two empty long polls in a row.
async fn receive_all(
    sqs: &Client,
    queue_url: &str,
    hide_secs: i32,
    limit: usize,
) -> Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    let mut empty_polls = 0;
    while out.len() < limit && empty_polls < 2 {
        let letters = receive_batch(sqs, queue_url, hide_secs).await?;
        if letters.is_empty() {
            empty_polls += 1;
            continue;
        }
        empty_polls = 0;
        out.extend(letters);
    }
    Ok(out)
}

/// Makes messages visible again at once: looking must not delay their redelivery or redrive.
async fn release(sqs: &Client, queue_url: &str, letters: &[DeadLetter]) -> Result<()> {
    for l in letters {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(&l.receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(err("ChangeMessageVisibility", queue_url))?;
    }
    Ok(())
}

/// Lists up to `limit` dead letters without consuming them: each is hidden for at most
/// `hide_secs` while the list is made, then made visible again.
pub async fn list(
    sqs: &Client,
    dlq_url: &str,
    limit: usize,
    hide_secs: i32,
) -> Result<Vec<DeadLetter>> {
    let letters = receive_all(sqs, dlq_url, hide_secs, limit).await?;
    release(sqs, dlq_url, &letters).await?;
    Ok(letters)
}

/// Which dead letters to move; every given criterion must match. Empty: all of them.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub subscriber: Option<String>,
    pub event_type: Option<String>,
    pub reason: Option<Reason>,
    pub message_ids: HashSet<String>,
}

impl Filter {
    pub fn matches(&self, l: &DeadLetter) -> bool {
        let eq = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        eq(&self.subscriber, &l.subscriber)
            && eq(&self.event_type, &l.event_type)
            && self
                .reason
                .is_none_or(|r| l.reason.as_deref() == Some(r.as_str()))
            && (self.message_ids.is_empty() || self.message_ids.contains(&l.message_id))
    }
}

/// Where a redrive stands, handed to the caller after each move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub moved: usize,
    /// Dead letters the filter selected so far.
    pub selected: usize,
    /// Dead letters the filter left where they are.
    pub skipped: usize,
    /// Messages received from the dead-letter queue so far.
    pub received: usize,
}

/// How long a received dead letter stays hidden; the ones the filter leaves are hidden again
/// every half of it while the redrive runs, and shown again when it ends.
const HIDE_SECS: i32 = 60;

/// Moves the dead letters `filter` selects to `queue_url`, streaming: ten at a time are
/// received, filtered, sent and deleted, so memory holds one batch of bodies and, for the
/// letters the filter leaves, only their ids and receipt handles (kept hidden, so that one pass
/// sees each once, and shown again at the end). After each message is sent and before its dead
/// letter is deleted, `step` is told the progress and may stop the redrive (which then leaves
/// that message in both queues, as a crash there would).
///
/// `rebundle` maps a subscriber to a corrected sealed bundle: their dead letters go back with it
/// in place of the one they carried (a wrong `whsec_`, a rolled Stripe key, a key removed too
/// early). The caller checks that each opens and names its subscriber.
pub async fn redrive(
    sqs: &Client,
    dlq_url: &str,
    queue_url: &str,
    filter: &Filter,
    rebundle: &HashMap<String, String>,
    mut step: impl FnMut(Progress, &DeadLetter) -> ControlFlow<()>,
) -> Result<Progress> {
    let mut progress = Progress::default();
    // A letter that entered the queue after the run began is one it moved that failed again
    // (the consumer dead-letters it as a new message): it waits for the next run instead of
    // going round again. Compared with SQS's clock: a skew of a few seconds can let a letter
    // that fails at once go round for those seconds, never more.
    let started_ms = payhook::support::clock::now_ms();
    // Left by the filter (or new since the run began): id -> latest receipt handle.
    let mut left: HashMap<String, String> = HashMap::new();
    let mut hidden_at = std::time::Instant::now();
    // Reads with nothing in them, and reads with only letters seen already (whose hiding ran
    // out); the run ends after a few of either.
    let (mut empty_polls, mut stale_polls) = (0, 0);
    while empty_polls < 2 && stale_polls < 5 {
        if hidden_at.elapsed().as_secs() >= (HIDE_SECS / 2) as u64 {
            set_visibility(sqs, dlq_url, left.values(), HIDE_SECS).await?;
            hidden_at = std::time::Instant::now();
        }
        let batch = receive_batch(sqs, dlq_url, HIDE_SECS).await?;
        let before = progress.received;
        progress.received += batch.len();
        let mut fresh = Vec::new();
        for letter in batch {
            match left.get_mut(&letter.message_id) {
                // One the filter left whose hiding ran out: seen already.
                Some(handle) => *handle = letter.receipt_handle,
                None => fresh.push(letter),
            }
        }
        if fresh.is_empty() {
            if progress.received == before {
                empty_polls += 1;
            } else {
                stale_polls += 1;
            }
            continue;
        }
        (empty_polls, stale_polls) = (0, 0);
        let (selected, others): (Vec<_>, Vec<_>) = fresh
            .into_iter()
            .partition(|l| filter.matches(l) && l.sent_ms.is_none_or(|at| at < started_ms));
        progress.skipped += others.len();
        left.extend(others.into_iter().map(|l| (l.message_id, l.receipt_handle)));
        progress.selected += selected.len();
        let mut moved = Vec::new();
        for (i, letter) in selected.iter().enumerate() {
            send_back(sqs, queue_url, letter, rebundle).await?;
            progress.moved += 1;
            if step(progress, letter).is_break() {
                // This one stays in both queues, as a crash would leave it; the rest of the
                // batch, and what the filter left, are shown again for the next redrive.
                delete_batch(sqs, dlq_url, &moved).await?;
                set_visibility(
                    sqs,
                    dlq_url,
                    selected[i..].iter().map(|l| &l.receipt_handle),
                    0,
                )
                .await?;
                set_visibility(sqs, dlq_url, left.values(), 0).await?;
                return Ok(progress);
            }
            moved.push(letter);
        }
        delete_batch(sqs, dlq_url, &moved).await?;
    }
    set_visibility(sqs, dlq_url, left.values(), 0).await?;
    Ok(progress)
}

/// Up to ten dead letters, hidden for `hide_secs`; one long poll.
async fn receive_batch(sqs: &Client, queue_url: &str, hide_secs: i32) -> Result<Vec<DeadLetter>> {
    let got = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .visibility_timeout(hide_secs)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(err("ReceiveMessage", queue_url))?;
    Ok(got
        .messages()
        .iter()
        .filter_map(DeadLetter::from_message)
        .collect())
}

/// Sends a dead letter back to the queue it failed from, without the failure's description
/// (`failed-at` stays: the next dead-lettering keeps the first failure's time).
async fn send_back(
    sqs: &Client,
    queue_url: &str,
    letter: &DeadLetter,
    rebundle: &HashMap<String, String>,
) -> Result<()> {
    let mut attributes: HashMap<String, MessageAttributeValue> = letter
        .attributes
        .iter()
        .filter(|(k, _)| !FAILURE_DESCRIPTION.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(bundle) = letter.subscriber.as_ref().and_then(|s| rebundle.get(s)) {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(bundle)
            .build()
            .map_err(|e| Failure::failed("building the sealed-bundle attribute", e))?;
        attributes.insert(ATTR_SEALED_BUNDLE.to_string(), value);
    }
    let mut send = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(&letter.body)
        .set_message_attributes(Some(attributes));
    if queue_url.ends_with(".fifo") {
        send = send
            .message_group_id(letter.subscriber.as_deref().unwrap_or("redriven"))
            // Same id if a crashed redrive sends it again: SQS drops the second copy.
            .message_deduplication_id(format!("redrive-{}", letter.message_id));
    }
    send.send().await.map_err(err("SendMessage", queue_url))?;
    Ok(())
}

/// Deletes moved dead letters, ten per call; one that fails to go stays in the dead-letter
/// queue and a later redrive sends it again (a duplicate the ledger absorbs).
async fn delete_batch(sqs: &Client, queue_url: &str, letters: &[&DeadLetter]) -> Result<()> {
    for chunk in letters.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, l)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&l.receipt_handle)
                    .build()
                    .map_err(|e| Failure::failed("building a delete", e))
            })
            .collect::<Result<Vec<_>>>()?;
        if entries.is_empty() {
            continue;
        }
        let out = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(err("DeleteMessageBatch", queue_url))?;
        if let Some(failed) = out.failed().first() {
            return Err(Failure::failed(
                format!("DeleteMessageBatch on {queue_url}"),
                format!(
                    "{} of {} not deleted: {} (sent already; a later redrive sends it again)",
                    out.failed().len(),
                    chunk.len(),
                    failed.message().unwrap_or(failed.code())
                ),
            ));
        }
    }
    Ok(())
}

/// Sets the visibility of messages by receipt handle, ten per call.
async fn set_visibility<'a>(
    sqs: &Client,
    queue_url: &str,
    handles: impl Iterator<Item = &'a String>,
    secs: i32,
) -> Result<()> {
    let handles: Vec<&String> = handles.collect();
    for chunk in handles.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h.as_str())
                    .visibility_timeout(secs)
                    .build()
                    .map_err(|e| Failure::failed("building a visibility change", e))
            })
            .collect::<Result<Vec<_>>>()?;
        sqs.change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(err("ChangeMessageVisibilityBatch", queue_url))?;
    }
    Ok(())
}
