//! The scheduled notifier: on each tick (EventBridge), every due `payment.credited`
//! notification is signed, posted to its subscriber's endpoint and recorded.

use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use payhook::ops;
use payhook::support::deadline;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ops::init_tracing();
    let config = ops::notifier_config_from_env()?;
    let aws = ops::aws_config(config.aws_endpoint_url.as_deref()).await;
    let notifier = ops::notifier(&config, &aws).await?;
    let notifier = &notifier;
    run(service_fn(
        move |tick: LambdaEvent<serde_json::Value>| async move {
            let request_id = tick.context.request_id;
            // Attempts still running at the timeout would leave no audit row: start none in
            // the last 30 s (one attempt's timeout is 10 s).
            let deadline = deadline::start_no_message_after(
                tick.context.deadline,
                payhook::support::clock::now_ms().max(0) as u64,
                Instant::now(),
                Duration::from_secs(30),
            );
            let summary = notifier
                .run_due_until(
                    payhook::support::clock::now_ms(),
                    deadline,
                    Some(&request_id),
                )
                .await;
            tracing::info!(
                request_id = request_id.as_str(),
                source = "notifier",
                delivered = summary.delivered,
                retrying = summary.retrying,
                dead_lettered = summary.dead_lettered,
                failed = summary.failed,
                "notifier run done"
            );
            // An error makes the run show in the function's Errors metric and alarm; the
            // notifications it could not handle stay due for the next tick.
            if summary.failed > 0 {
                Err(Error::from(format!(
                    "{} notifications could not be attempted or recorded",
                    summary.failed
                )))
            } else {
                Ok(serde_json::json!({
                    "delivered": summary.delivered,
                    "retrying": summary.retrying,
                    "dead_lettered": summary.dead_lettered,
                }))
            }
        },
    ))
    .await
}
