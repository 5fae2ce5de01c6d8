//! Reads the consumer's private key set from Secrets Manager, once per cold start.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::sealed::{KeySet, KeySetError};

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
}

pub async fn load_keyset(client: &Client, secret_id: &str) -> Result<KeySet, KeyStoreError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| KeyStoreError::Unreadable {
            secret_id: secret_id.to_string(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    let json = out
        .secret_string()
        .ok_or_else(|| KeyStoreError::NotAString(secret_id.to_string()))?;
    KeySet::from_json(json).map_err(|source| KeyStoreError::BadKeySet {
        secret_id: secret_id.to_string(),
        source,
    })
}
