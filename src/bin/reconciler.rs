//! The scheduled reconcile: on each tick (EventBridge), every configured subscriber's payment
//! events of the last hours, from Stripe's events API, through the exactly-once ledger.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use payhook::ops::{self, Config};
use payhook::reconcile;
use payhook::support::clock;

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
            let runs =
                reconcile::scheduled(reconciler, clock::now_ms() / 1000, Some(&request_id)).await;
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
