//! SqsEvent -> SqsBatchResponse: each message's outcome is its own.
//!
//! Only failed message ids are reported (`ReportBatchItemFailures`), so one bad message never
//! makes the others run again. On a FIFO queue, once a message of a group fails, every later
//! message of that group in the batch is reported failed unprocessed, or it would overtake the
//! one that failed.

use std::collections::HashSet;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// What the batch needs to know of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemResult {
    /// Finished with: applied, duplicate, ignored, or moved to the dead-letter queue.
    Done,
    /// Leave it on the queue: SQS delivers it again after its visibility timeout.
    Retry,
}

/// Lambda reads an empty or missing item identifier as "the whole batch failed", and we could
/// not name the message anyway: refuse the batch before touching any of it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "SQS record #{index} has no messageId, so its failure could not be reported; retrying the whole batch"
)]
pub struct MissingMessageId {
    pub index: usize,
}

/// The group a FIFO message belongs to; standard queues have none.
pub fn message_group(msg: &SqsMessage) -> Option<&str> {
    msg.attributes.get("MessageGroupId").map(String::as_str)
}

/// Processes each record in turn. Once `deadline` has passed, the records not yet started are
/// reported failed unprocessed: SQS redelivers them, where an invocation killed by its timeout
/// would have made the whole batch run again.
pub async fn run<'a, F, Fut>(
    event: &'a SqsEvent,
    deadline: Option<std::time::Instant>,
    mut process: F,
) -> Result<SqsBatchResponse, MissingMessageId>
where
    F: FnMut(&'a str, &'a SqsMessage) -> Fut,
    Fut: Future<Output = ItemResult>,
{
    let mut records = Vec::with_capacity(event.records.len());
    for (index, msg) in event.records.iter().enumerate() {
        match msg.message_id.as_deref() {
            Some(id) if !id.is_empty() => records.push((id, msg)),
            _ => return Err(MissingMessageId { index }),
        }
    }

    let mut failed = Vec::new();
    let mut failed_groups: HashSet<&str> = HashSet::new();
    for (id, msg) in records {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            tracing::warn!(
                message_id = id,
                outcome = "deferred",
                "out of time in this invocation; left for redelivery"
            );
            failed.push(id);
            continue;
        }
        let group = message_group(msg);
        if let Some(g) = group.filter(|g| failed_groups.contains(g)) {
            tracing::warn!(
                message_id = id,
                message_group = g,
                outcome = "deferred",
                "an earlier message of this FIFO group failed; keeping order"
            );
            failed.push(id);
            continue;
        }
        if process(id, msg).await == ItemResult::Retry {
            failed.push(id);
            if let Some(g) = group {
                failed_groups.insert(g);
            }
        }
    }

    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id.to_string();
            f
        })
        .collect();
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: Option<&str>, group: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = id.map(str::to_string);
        m.body = Some(id.unwrap_or("none").to_string());
        if let Some(g) = group {
            m.attributes.insert("MessageGroupId".into(), g.into());
        }
        m
    }

    fn event(msgs: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = msgs;
        e
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn reports_only_the_failed_messages() {
        let e = event(vec![
            msg(Some("a"), None),
            msg(Some("b"), None),
            msg(Some("c"), None),
        ]);
        let mut seen = Vec::new();
        let r = run(&e, None, |id, _| {
            seen.push(id);
            async move {
                if id == "b" {
                    ItemResult::Retry
                } else {
                    ItemResult::Done
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(failed_ids(&r), ["b"]);
        assert_eq!(seen, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn fifo_group_stops_at_its_first_failure_others_go_on() {
        let e = event(vec![
            msg(Some("g1-1"), Some("g1")),
            msg(Some("g2-1"), Some("g2")),
            msg(Some("g1-2"), Some("g1")),
            msg(Some("g2-2"), Some("g2")),
            msg(Some("g1-3"), Some("g1")),
        ]);
        let mut seen = Vec::new();
        let r = run(&e, None, |id, _| {
            seen.push(id);
            async move {
                if id == "g1-1" {
                    ItemResult::Retry
                } else {
                    ItemResult::Done
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(failed_ids(&r), ["g1-1", "g1-2", "g1-3"]);
        assert_eq!(seen, ["g1-1", "g2-1", "g2-2"]);
    }

    #[tokio::test]
    async fn past_the_deadline_the_rest_is_left_for_redelivery() {
        let e = event(vec![
            msg(Some("a"), None),
            msg(Some("b"), None),
            msg(Some("c"), None),
        ]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(50);
        let mut seen = Vec::new();
        let r = run(&e, Some(deadline), |id, _| {
            seen.push(id);
            async move {
                // The first message uses up the time.
                if id == "a" {
                    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
                }
                ItemResult::Done
            }
        })
        .await
        .unwrap();
        assert_eq!(seen, ["a"]);
        assert_eq!(failed_ids(&r), ["b", "c"]);
    }

    #[tokio::test]
    async fn a_record_without_id_fails_the_batch_before_any_work() {
        for bad in [None, Some("")] {
            let e = event(vec![msg(Some("a"), None), msg(bad, None)]);
            let mut calls = 0;
            let r = run(&e, None, |_, _| {
                calls += 1;
                async { ItemResult::Done }
            })
            .await;
            assert_eq!(r, Err(MissingMessageId { index: 1 }));
            assert_eq!(calls, 0);
        }
    }
}
