//! The SQS-fed Lambda: a batch in, each message through the pipeline concurrently (a FIFO
//! group's in order), permanent failures moved to the dead-letter or rejected queue, transient
//! ones pushed out by the backoff schedule, the partial batch response out.

mod backoff;
mod batch;
mod dead_letters;
mod message;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::pipeline::Pipeline;
use crate::secrets::{BundleCache, KeyRing};
use crate::telemetry;

pub use backoff::{Backoff, DEFAULT_SCHEDULE_SECS, MAX_DELAY_SECS, delay_secs};
pub use batch::{ItemResult, MissingMessageId, message_group, run};
pub use dead_letters::{DeadLetterError, DeadLetters};

/// Everything a warm invocation reuses: the pipeline, the keys, the opened bundles, the queues.
pub struct Consumer {
    /// What decides each verified event.
    pub pipeline: Pipeline,
    /// The key set, kept current (a rotation reaches a warm function on its own).
    pub keys: KeyRing,
    /// Bundles opened by this environment.
    pub bundles: BundleCache,
    /// `None`: permanent failures are reported failed and reach the DLQ by the redrive policy.
    pub dead_letters: Option<DeadLetters>,
    /// `None`: a transient failure comes back after the queue's visibility timeout.
    pub backoff: Option<Backoff>,
    pub tolerance_secs: u64,
    /// Messages of a batch processed at once (FIFO groups still one after another).
    pub concurrency: usize,
}

impl Consumer {
    /// A batch in, the failed message ids out, with no time limit (tests, the local poller).
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, MissingMessageId> {
        self.handle_until(event, None, None).await
    }

    /// The Lambda handler: no message is started after `deadline`, so the invocation always
    /// returns its partial batch response before the function timeout. Every notice carries
    /// the invocation's `request_id`.
    pub async fn handle_until(
        &self,
        event: SqsEvent,
        deadline: Option<std::time::Instant>,
        request_id: Option<&str>,
    ) -> Result<SqsBatchResponse, MissingMessageId> {
        telemetry::batch(event.records.len());
        let same_effect = |msg| {
            self.pipeline
                .duplicate_shortcuts
                .then(|| message::same_payment_intent(msg))
                .flatten()
        };
        run(
            &event,
            deadline,
            self.concurrency,
            same_effect,
            |id, msg| self.handle_message(id, msg, request_id),
        )
        .await
    }
}
