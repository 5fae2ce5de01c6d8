//! A subscriber's sealed bundle where the stack keeps it: the SSM parameter
//! `<prefix>/<subscriber>/bundle`, the same one the webhook route resolves at deploy time. The
//! scheduled functions read it at run time, so they use the bundle in force now.

use aws_sdk_ssm::error::DisplayErrorContext;

use crate::secrets::Bundle;
use crate::secrets::KeyRing;

/// Reads, opens and checks the subscriber's bundle; the error names the parameter and why.
pub async fn read(
    ssm: &aws_sdk_ssm::Client,
    keys: &KeyRing,
    prefix: &str,
    subscriber: &str,
) -> Result<Bundle, String> {
    let name = format!("{prefix}/{subscriber}/bundle");
    let sealed = ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(|e| format!("reading {name}: {}", DisplayErrorContext(e)))?
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| format!("{name} has no value"))?;
    let bundle = keys
        .open(sealed.trim())
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    bundle
        .ensure_subscriber(subscriber)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(bundle)
}
