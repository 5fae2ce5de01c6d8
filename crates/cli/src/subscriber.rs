//! What a command that acts for one subscriber against Stripe needs: the pipeline, and the
//! subscriber's bundle opened with the deployment's key set and checked to be theirs.

use payhook::ops::Config;
use payhook::pipeline::Pipeline;
use payhook::secrets::Bundle;

use crate::failure::{Failure, Result};
use crate::input::value_or_file;

/// The pipeline (no queue clients: nothing is sent to a queue) and `subscriber`'s bundle from
/// `--bundle` (a value or @FILE, as stored in SSM).
pub async fn pipeline_and_bundle(
    config: &Config,
    aws: &aws_config::SdkConfig,
    subscriber: &str,
    bundle: &str,
) -> Result<(Pipeline, Bundle)> {
    let (pipeline, keys) = tokio::join!(
        payhook::ops::pipeline(config, aws),
        payhook::ops::key_ring(&config.keyset_secret_id, aws)
    );
    let pipeline = pipeline.map_err(|e| Failure::failed("starting the pipeline", e))?;
    let keys = keys.map_err(|e| Failure::failed("reading the key set", e))?;
    let what = || format!("--bundle for {subscriber}");
    let bundle = keys
        .open(&value_or_file("--bundle", bundle)?)
        .await
        .map_err(|e| Failure::usage(what(), e))?;
    bundle
        .ensure_subscriber(subscriber)
        .map_err(|e| Failure::usage(what(), e))?;
    Ok((pipeline, bundle))
}
