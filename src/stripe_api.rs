//! Fetches a PaymentIntent from the Stripe API with the subscriber's own key.
//!
//! async-stripe's generated `PaymentIntent` insists on fields that some API versions (and
//! localstripe) leave out, so we fetch a narrow view of the fields we use through its client,
//! which still brings auth, the pinned API version header and the request strategy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stripe::StripeError;

/// Subscribers are operator-configured, so this only guards against a leak of clients if keys
/// were rotated many times in one execution environment.
const MAX_CACHED_CLIENTS: usize = 256;

/// What we read of a PaymentIntent. `amount_received` is optional because not every API
/// version or emulator sends it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PaymentIntentView {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

impl PaymentIntentView {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }

    /// What was actually collected; for a succeeded intent without the field, its amount.
    pub fn amount_received(&self) -> i64 {
        self.amount_received.unwrap_or(self.amount)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StripeApiError {
    #[error("PaymentIntent {0} does not exist for this subscriber's Stripe key")]
    NotFound(String),
    #[error("Stripe rejected the request for {intent_id} with HTTP {status}: {message}")]
    Rejected {
        intent_id: String,
        status: u16,
        message: String,
    },
    #[error("Stripe is unavailable for {intent_id}: HTTP {status}")]
    Unavailable { intent_id: String, status: u16 },
    #[error("could not reach Stripe for {intent_id}: {detail}")]
    Transport { intent_id: String, detail: String },
    #[error("Stripe did not answer for {intent_id} within {timeout_ms} ms")]
    Timeout { intent_id: String, timeout_ms: u128 },
    #[error("Stripe's answer for {intent_id} was not a PaymentIntent: {detail}")]
    BadResponse { intent_id: String, detail: String },
}

impl StripeApiError {
    /// Whether trying again later may succeed: rate limits, server errors, network trouble and
    /// answers we could not read. A missing intent, a revoked key or a refused request will not
    /// change by waiting.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::NotFound(_) | Self::Rejected { .. })
    }
}

pub struct StripeApi {
    base_url: String,
    timeout: Duration,
    /// One client per API key: each owns its connection pool, which warm invocations reuse.
    clients: Mutex<HashMap<[u8; 32], stripe::Client>>,
}

impl StripeApi {
    /// `base_url` must already be validated (`stripe::Client::from_url` panics on a bad one);
    /// `Config` does that.
    pub fn new(base_url: String, timeout: Duration) -> Self {
        StripeApi {
            base_url,
            timeout,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, api_key: &SecretString) -> stripe::Client {
        let fingerprint: [u8; 32] = Sha256::digest(api_key.expose_secret().as_bytes()).into();
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if clients.len() >= MAX_CACHED_CLIENTS && !clients.contains_key(&fingerprint) {
            clients.clear();
        }
        clients
            .entry(fingerprint)
            .or_insert_with(|| {
                stripe::Client::from_url(self.base_url.as_str(), api_key.expose_secret())
            })
            .clone()
    }

    pub async fn payment_intent(
        &self,
        api_key: &SecretString,
        intent_id: &str,
    ) -> Result<PaymentIntentView, StripeApiError> {
        let client = self.client(api_key);
        let request = client.get::<PaymentIntentView>(&format!("payment_intents/{intent_id}"));
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Err(StripeApiError::Timeout {
                intent_id: intent_id.to_string(),
                timeout_ms: self.timeout.as_millis(),
            }),
            Ok(Ok(view)) if view.id == intent_id => Ok(view),
            Ok(Ok(view)) => Err(StripeApiError::BadResponse {
                intent_id: intent_id.to_string(),
                detail: format!("answer is for {}", view.id),
            }),
            Ok(Err(e)) => Err(classify(intent_id, e)),
        }
    }
}

fn classify(intent_id: &str, e: StripeError) -> StripeApiError {
    let intent_id = intent_id.to_string();
    match e {
        StripeError::Stripe(req) => match req.http_status {
            404 => StripeApiError::NotFound(intent_id),
            429 | 500..=599 => StripeApiError::Unavailable {
                intent_id,
                status: req.http_status,
            },
            // 408/409 are "try again" too; everything else in 4xx is a verdict.
            408 | 409 => StripeApiError::Unavailable {
                intent_id,
                status: req.http_status,
            },
            status => StripeApiError::Rejected {
                intent_id,
                status,
                message: req.message.unwrap_or_default(),
            },
        },
        StripeError::Timeout => StripeApiError::Timeout {
            intent_id,
            timeout_ms: 0,
        },
        StripeError::ClientError(detail) => StripeApiError::Transport { intent_id, detail },
        other => StripeApiError::BadResponse {
            intent_id,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_reads_localstripe_and_stripe_shapes() {
        let local = r#"{"id":"pi_1","object":"payment_intent","amount":2000,"currency":"usd",
            "status":"succeeded","metadata":{"id":"order-1"},"charges":{"data":[]}}"#;
        let v: PaymentIntentView = serde_json::from_str(local).unwrap();
        assert!(v.succeeded());
        assert_eq!(v.amount_received(), 2000);
        assert_eq!(v.metadata.get("id").map(String::as_str), Some("order-1"));

        let real = r#"{"id":"pi_1","amount":2000,"amount_received":1500,"currency":"eur",
            "status":"processing","metadata":{},"payment_method_types":["card"]}"#;
        let v: PaymentIntentView = serde_json::from_str(real).unwrap();
        assert!(!v.succeeded());
        assert_eq!(v.amount_received(), 1500);
    }

    fn request_error(status: u16) -> StripeError {
        let mut e: stripe::RequestError =
            serde_json::from_str(r#"{"type":"api_error","message":"boom"}"#).unwrap();
        e.http_status = status;
        StripeError::Stripe(e)
    }

    #[test]
    fn classification() {
        for (status, transient) in [
            (404, false),
            (401, false),
            (400, false),
            (403, false),
            (429, true),
            (500, true),
            (503, true),
            (409, true),
        ] {
            assert_eq!(
                classify("pi_1", request_error(status)).is_transient(),
                transient,
                "HTTP {status}"
            );
        }
        assert!(classify("pi_1", StripeError::Timeout).is_transient());
        assert!(classify("pi_1", StripeError::ClientError("reset".into())).is_transient());
        assert_eq!(
            classify("pi_1", request_error(404)),
            StripeApiError::NotFound("pi_1".into())
        );
    }
}
