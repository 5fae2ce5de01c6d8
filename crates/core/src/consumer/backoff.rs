//! Backoff for transient failures: push the message's next visibility out by a schedule indexed
//! by how often SQS has delivered it, so retries do not hammer a struggling Stripe.
//!
//! `ChangeMessageVisibility` on the message in hand, rather than re-sending it, keeps the
//! receive count (and so the redrive policy) intact and does not trip Lambda's recursive-loop
//! detection.

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;

/// SQS refuses a visibility timeout over 12 hours.
pub const MAX_DELAY_SECS: u32 = 43_200;
pub const DEFAULT_SCHEDULE_SECS: [u32; 4] = [30, 120, 600, 3600];

/// The delay before delivery number `receive_count + 1`: the schedule's entry for this
/// attempt, its last entry once attempts outrun it, capped at the SQS maximum.
pub fn delay_secs(schedule: &[u32], receive_count: u32) -> u32 {
    let index = (receive_count.max(1) - 1) as usize;
    schedule
        .get(index)
        .or(schedule.last())
        .copied()
        .unwrap_or(0)
        .min(MAX_DELAY_SECS)
}

pub struct Backoff {
    client: Client,
    queue_url: String,
    schedule: Vec<u32>,
}

/// Why a message's retry delay could not be set.
#[derive(Debug, thiserror::Error)]
pub enum DeferError {
    #[error("the message has no receipt handle")]
    NoReceiptHandle,
    #[error("ChangeMessageVisibility failed: {0}")]
    ChangeVisibility(String),
}

impl Backoff {
    pub fn new(client: Client, queue_url: String, schedule: Vec<u32>) -> Self {
        Backoff {
            client,
            queue_url,
            schedule,
        }
    }

    /// Hides the message for its backoff delay; returns the delay. A failure here is only
    /// logged by the caller: the message then comes back after the queue's own timeout.
    pub async fn defer(&self, msg: &SqsMessage) -> Result<u32, DeferError> {
        let receipt = msg
            .receipt_handle
            .as_deref()
            .ok_or(DeferError::NoReceiptHandle)?;
        let count = msg
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let delay = delay_secs(&self.schedule, count);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(delay as i32)
            .send()
            .await
            .map_err(|e| DeferError::ChangeVisibility(DisplayErrorContext(e).to_string()))?;
        Ok(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_by_receive_count() {
        let s = DEFAULT_SCHEDULE_SECS;
        assert_eq!(delay_secs(&s, 0), 30);
        assert_eq!(delay_secs(&s, 1), 30);
        assert_eq!(delay_secs(&s, 2), 120);
        assert_eq!(delay_secs(&s, 4), 3600);
        assert_eq!(delay_secs(&s, 40), 3600);
        assert_eq!(delay_secs(&[99_999], 1), MAX_DELAY_SECS);
        assert_eq!(delay_secs(&[], 3), 0);
    }
}
