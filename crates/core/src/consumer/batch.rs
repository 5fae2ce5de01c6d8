//! SqsEvent -> SqsBatchResponse: each message's outcome is its own.
//!
//! Only failed message ids are reported (`ReportBatchItemFailures`), so one bad message never
//! makes the others run again. Messages are processed concurrently (bounded), except that
//! - a FIFO group's messages go one after another, and once one of them fails every later
//!   message of that group in the batch is reported failed unprocessed, or it would overtake the
//!   one that failed;
//! - messages with the same effect (on a standard queue: the same PaymentIntent) go one after
//!   another, so the later ones find the first one's credit instead of racing it into a
//!   transaction conflict.

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};

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

/// Which messages must not run at the same time.
#[derive(Debug, Hash, PartialEq, Eq)]
enum Chain<'a> {
    FifoGroup(&'a str),
    SameEffect(String),
}

/// Processes the records, up to `concurrency` at a time: each FIFO group in order, one after
/// another within the group; on a standard queue, messages for which `same_effect` gives the
/// same key one after another, every other message on its own. Once `deadline` has passed,
/// records not yet started are reported failed unprocessed: SQS redelivers them, where an
/// invocation killed by its timeout would have made the whole batch run again.
pub async fn run<'a, F, Fut, K>(
    event: &'a SqsEvent,
    deadline: Option<Instant>,
    concurrency: usize,
    same_effect: K,
    process: F,
) -> Result<SqsBatchResponse, MissingMessageId>
where
    F: Fn(&'a str, &'a SqsMessage) -> Fut,
    Fut: Future<Output = ItemResult>,
    K: Fn(&'a SqsMessage) -> Option<String>,
{
    let mut chains: Vec<Vec<(&str, &SqsMessage)>> = Vec::new();
    let mut chain_index: HashMap<Chain, usize> = HashMap::new();
    let alone = event.records.len() < 2;
    for (index, msg) in event.records.iter().enumerate() {
        let id = match msg.message_id.as_deref() {
            Some(id) if !id.is_empty() => id,
            _ => return Err(MissingMessageId { index }),
        };
        let key = match message_group(msg) {
            Some(group) => Some(Chain::FifoGroup(group)),
            // A batch of one has nothing to order against: skip working out its key.
            None if alone => None,
            None => same_effect(msg).map(Chain::SameEffect),
        };
        match key {
            Some(key) => {
                let chain = *chain_index.entry(key).or_insert_with(|| {
                    chains.push(Vec::new());
                    chains.len() - 1
                });
                chains[chain].push((id, msg));
            }
            None => chains.push(vec![(id, msg)]),
        }
    }

    let process = &process;
    let failed: Vec<&str> = stream::iter(chains)
        .map(|chain| async move {
            let mut failed = Vec::new();
            for (id, msg) in chain {
                if let Some(group) = message_group(msg).filter(|_| !failed.is_empty()) {
                    tracing::warn!(
                        message_id = id,
                        message_group = group,
                        outcome = "deferred",
                        "an earlier message of this FIFO group failed; keeping order"
                    );
                    failed.push(id);
                } else if deadline.is_some_and(|d| Instant::now() >= d) {
                    tracing::warn!(
                        message_id = id,
                        outcome = "deferred",
                        "out of time in this invocation; left for redelivery"
                    );
                    failed.push(id);
                } else if process(id, msg).await == ItemResult::Retry {
                    failed.push(id);
                }
            }
            failed
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();

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

    fn no_key(_: &SqsMessage) -> Option<String> {
        None
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<&str> {
        let mut ids: Vec<&str> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn reports_only_the_failed_messages() {
        let e = event(vec![
            msg(Some("a"), None),
            msg(Some("b"), None),
            msg(Some("c"), None),
        ]);
        let seen = std::sync::Mutex::new(Vec::new());
        let r = run(&e, None, 1, no_key, |id, _| {
            seen.lock().unwrap().push(id);
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
        assert_eq!(seen.into_inner().unwrap(), ["a", "b", "c"]);
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
        let seen = std::sync::Mutex::new(Vec::new());
        let r = run(&e, None, 1, no_key, |id, _| {
            seen.lock().unwrap().push(id);
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
        assert_eq!(seen.into_inner().unwrap(), ["g1-1", "g2-1", "g2-2"]);
    }

    #[tokio::test]
    async fn past_the_deadline_the_rest_is_left_for_redelivery() {
        let e = event(vec![
            msg(Some("a"), None),
            msg(Some("b"), None),
            msg(Some("c"), None),
        ]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(50);
        let seen = std::sync::Mutex::new(Vec::new());
        let r = run(&e, Some(deadline), 1, no_key, |id, _| {
            seen.lock().unwrap().push(id);
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
        assert_eq!(seen.into_inner().unwrap(), ["a"]);
        assert_eq!(failed_ids(&r), ["b", "c"]);
    }

    /// Ten messages that each wait 50 ms finish together, not one after another; a FIFO group's
    /// messages still run strictly in order.
    #[tokio::test]
    async fn standard_messages_run_concurrently_fifo_groups_in_order() {
        let e = event((0..10).map(|i| msg(Some(&format!("s{i}")), None)).collect());
        let running = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        let r = run(&e, None, 10, no_key, |_, _| {
            let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            let running = &running;
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                ItemResult::Done
            }
        })
        .await
        .unwrap();
        assert!(failed_ids(&r).is_empty());
        assert_eq!(peak.into_inner(), 10, "all ten in flight at once");

        let e = event(
            (0..5)
                .map(|i| msg(Some(&format!("g{i}")), Some("g")))
                .collect(),
        );
        let order = std::sync::Mutex::new(Vec::new());
        let running = std::sync::atomic::AtomicUsize::new(0);
        run(&e, None, 10, no_key, |id, _| {
            assert_eq!(
                running.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                0,
                "one at a time"
            );
            let (order, running) = (&order, &running);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                order.lock().unwrap().push(id);
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                ItemResult::Done
            }
        })
        .await
        .unwrap();
        assert_eq!(order.into_inner().unwrap(), ["g0", "g1", "g2", "g3", "g4"]);
    }

    /// Messages with the same effect run one after another, in batch order; the others keep
    /// running concurrently with them.
    #[tokio::test]
    async fn messages_with_the_same_effect_run_one_after_another() {
        let e = event(
            ["pi_a-1", "pi_b-1", "pi_a-2", "lone", "pi_a-3", "pi_b-2"]
                .map(|id| msg(Some(id), None))
                .to_vec(),
        );
        let key = |m: &SqsMessage| {
            let id = m.message_id.as_deref()?;
            id.starts_with("pi_").then(|| id[..4].to_string())
        };
        let running: std::sync::Mutex<Vec<&str>> = Default::default();
        let peak = std::sync::atomic::AtomicUsize::new(0);
        let order = std::sync::Mutex::new(Vec::new());
        run(&e, None, 10, key, |id, _| {
            let (running, peak, order) = (&running, &peak, &order);
            async move {
                {
                    let mut now = running.lock().unwrap();
                    assert!(
                        !now.iter()
                            .any(|other| other[..4] == id[..4] && id.starts_with("pi_")),
                        "{id} ran alongside {now:?}"
                    );
                    now.push(id);
                    peak.fetch_max(now.len(), std::sync::atomic::Ordering::SeqCst);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                running.lock().unwrap().retain(|r| *r != id);
                order.lock().unwrap().push(id);
                ItemResult::Done
            }
        })
        .await
        .unwrap();
        assert_eq!(peak.into_inner(), 3, "pi_a, pi_b and lone at once");
        let order = order.into_inner().unwrap();
        let pos = |id| order.iter().position(|o| *o == id).unwrap();
        assert!(pos("pi_a-1") < pos("pi_a-2") && pos("pi_a-2") < pos("pi_a-3"));
        assert!(pos("pi_b-1") < pos("pi_b-2"));
    }

    #[tokio::test]
    async fn a_record_without_id_fails_the_batch_before_any_work() {
        for bad in [None, Some("")] {
            let e = event(vec![msg(Some("a"), None), msg(bad, None)]);
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let r = run(&e, None, 4, no_key, |_, _| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { ItemResult::Done }
            })
            .await;
            assert_eq!(r, Err(MissingMessageId { index: 1 }));
            assert_eq!(calls.into_inner(), 0);
        }
    }
}
