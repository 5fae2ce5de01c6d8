//! The consumer's private key set in Secrets Manager: read by the functions (at cold start and
//! by the [`crate::secrets::KeyRing`] after), edited by the operator's `payhook keyset`.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::secrets::{KeySet, KeySetDocument, KeySetError};

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("could not read secret {secret_id}: {detail}")]
    Unreadable { secret_id: String, detail: String },
    #[error("secret {0} has no SecretString")]
    NotAString(String),
    #[error("secret {secret_id} is not a usable key set: {source}")]
    BadKeySet {
        secret_id: String,
        source: KeySetError,
    },
    #[error("could not write secret {secret_id}: {detail}")]
    Unwritable { secret_id: String, detail: String },
}

pub async fn load_keyset(client: &Client, secret_id: &str) -> Result<KeySet, KeyStoreError> {
    let json = read_secret(client, secret_id).await?;
    KeySet::from_json(&json).map_err(|source| KeyStoreError::BadKeySet {
        secret_id: secret_id.to_string(),
        source,
    })
}

/// The key set document as stored, to edit; it must load as a key set.
pub async fn read_document(
    client: &Client,
    secret_id: &str,
) -> Result<KeySetDocument, KeyStoreError> {
    let json = read_secret(client, secret_id).await?;
    let bad = |source| KeyStoreError::BadKeySet {
        secret_id: secret_id.to_string(),
        source,
    };
    KeySet::from_json(&json).map_err(bad)?;
    serde_json::from_str(&json).map_err(|e| {
        bad(KeySetError::BadJson(
            crate::support::text::describe_json_error(&e),
        ))
    })
}

/// Stores `doc` as the secret's new current version, once it loads as a key set: a document
/// the functions could not load never reaches them. Returns the new version's id.
pub async fn write_document(
    client: &Client,
    secret_id: &str,
    doc: &KeySetDocument,
) -> Result<String, KeyStoreError> {
    let bad = |source| KeyStoreError::BadKeySet {
        secret_id: secret_id.to_string(),
        source,
    };
    let json = doc
        .to_json()
        .map_err(|e| bad(KeySetError::BadJson(e.to_string())))?;
    KeySet::from_json(&json).map_err(bad)?;
    let out = client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(json)
        .send()
        .await
        .map_err(|e| KeyStoreError::Unwritable {
            secret_id: secret_id.to_string(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    Ok(out.version_id().unwrap_or_default().to_string())
}

async fn read_secret(client: &Client, secret_id: &str) -> Result<String, KeyStoreError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| KeyStoreError::Unreadable {
            secret_id: secret_id.to_string(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| KeyStoreError::NotAString(secret_id.to_string()))
}
