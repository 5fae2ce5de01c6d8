//! The Lambda function: SQS batches of Stripe webhooks in, partial batch failures out.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use payhook::{config::Config, setup};

#[tokio::main]
async fn main() -> Result<(), Error> {
    setup::init_tracing();
    let config = Config::from_env()?;
    let aws = setup::aws_config(None).await;
    // Built once per cold start: keys, SDK clients and Stripe connection pools are reused.
    let consumer = setup::consumer(&config, &aws).await?;
    let consumer = &consumer;
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            consumer.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
