//! The scheduled reconcile: on each tick (EventBridge), every configured subscriber's payment
//! events of the last hours, from Stripe's events API, through the exactly-once ledger.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use payhook::ops::{self, Config};
use payhook::reconcile;
use payhook::support::clock;
use std::time::{Duration, Instant};

/// Kept back from the invocation's time for the summaries and the answer.
const DEADLINE_MARGIN_MS: i64 = 30_000;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ops::init_tracing();
    let config = Config::from_env()?;
    let schedule = ops::schedule_from_env()?;
    let aws = ops::aws_config(config.aws_endpoint_url.as_deref()).await;
    // Built once per cold start: the pipeline, the key ring and the SSM client are reused.
    let reconciler = ops::reconciler(&config, schedule, &aws).await?;
    let reconciler = &reconciler;
    run(service_fn(
        move |tick: LambdaEvent<serde_json::Value>| async move {
            let request_id = tick.context.request_id;
            // The invocation's deadline (epoch ms), less a margin to log and answer in: past
            // it the run stops between events and the next tick resumes from the last slice it
            // finished.
            let left_ms =
                (tick.context.deadline as i64 - clock::now_ms() - DEADLINE_MARGIN_MS).max(0);
            let deadline = Instant::now() + Duration::from_millis(left_ms as u64);
            let runs = reconcile::scheduled(
                reconciler,
                clock::now_ms() / 1000,
                deadline,
                Some(&request_id),
            )
            .await;
            let failed: Vec<&str> = runs
                .iter()
                .filter(|r| r.result.is_err() || r.result.as_ref().is_ok_and(|s| s.failed > 0))
                .map(|r| r.subscriber.as_str())
                .collect();
            // An error makes the run show in the function's Errors metric and alarm.
            if failed.is_empty() {
                Ok(serde_json::json!({ "subscribers": runs.len() }))
            } else {
                Err(Error::from(format!(
                    "reconcile failed for {}",
                    failed.join(", ")
                )))
            }
        },
    ))
    .await
}
