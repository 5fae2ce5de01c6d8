//! A subscriber's sealed bundle where the stack keeps it: the SSM parameter
//! `<prefix>/<subscriber>/bundle`, the same one the webhook route resolves at deploy time. The
//! scheduled functions read it at run time, so they use the bundle in force now.

use aws_sdk_ssm::error::DisplayErrorContext;

use crate::secrets::Bundle;
use crate::secrets::KeyRing;

/// Why a subscriber's bundle parameter could not be used; each names the parameter.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BundleParameterError {
    #[error("reading {name}: {detail}")]
    Read { name: String, detail: String },
    #[error("{name} has no value")]
    Empty { name: String },
    /// It does not open with the key set, or it is another subscriber's.
    #[error("{name}: {detail}")]
    Unusable { name: String, detail: String },
}

/// Reads, opens and checks the subscriber's bundle.
pub async fn read(
    ssm: &aws_sdk_ssm::Client,
    keys: &KeyRing,
    prefix: &str,
    subscriber: &str,
) -> Result<Bundle, BundleParameterError> {
    let name = format!("{prefix}/{subscriber}/bundle");
    let sealed = ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(|e| BundleParameterError::Read {
            name: name.clone(),
            detail: DisplayErrorContext(e).to_string(),
        })?
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| BundleParameterError::Empty { name: name.clone() })?;
    let unusable = |detail: String| BundleParameterError::Unusable {
        name: name.clone(),
        detail,
    };
    let bundle = keys
        .open(sealed.trim())
        .await
        .map_err(|e| unusable(e.to_string()))?;
    bundle
        .ensure_subscriber(subscriber)
        .map_err(|e| unusable(e.to_string()))?;
    Ok(bundle)
}
