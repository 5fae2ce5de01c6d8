//! The Lambda function: SQS batches of Stripe webhooks in, partial batch failures out.

use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use payhook::ops::{self, Config};
use payhook::support::deadline;
use payhook::telemetry;

/// Stop starting messages this long before the function timeout: one message's worst case
/// must fit (the duplicate check's read, the Stripe timeout, the transaction, then a write to
/// the DLQ, the retry delay or the unapplied table: 5 + 8 + 5 + 5 s with the template's
/// settings), or the timeout would make the whole batch run again.
const SAFETY_MARGIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Error> {
    ops::init_tracing();
    let metrics = telemetry::install()?;
    telemetry::cold_start();
    let config = Config::from_env()?;
    let aws = ops::aws_config(config.aws_endpoint_url.as_deref()).await;
    // Built once per cold start: keys, SDK clients and Stripe connection pools are reused.
    let consumer = ops::consumer(&config, &aws).await?;
    let consumer = &consumer;
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let deadline = deadline::start_no_message_after(
                event.context.deadline,
                payhook::support::clock::now_ms().max(0) as u64,
                Instant::now(),
                SAFETY_MARGIN,
            );
            let request_id = event.context.request_id;
            let response = consumer
                .handle_until(event.payload, deadline, Some(&request_id))
                .await;
            // The invocation's metrics, as EMF documents on stdout: CloudWatch Logs makes
            // metrics of them.
            telemetry::flush_to_stdout(metrics, &request_id);
            response.map_err(Error::from)
        },
    ))
    .await
}
