//! One pooled HTTPS client to Stripe's API: a GET within the timeout, sent once more on a fresh
//! connection when a pooled one turns out closed, and Stripe's answer classified.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The API version our views were written against, sent on every request so that a change of
/// the account's default version cannot change what we read.
pub const STRIPE_VERSION: &str = "2023-10-16";
/// A PaymentIntent is a few KB; anything far larger is not one.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Kept well below the idle timeouts of Stripe's and common load balancers' keep-alive (60 s
/// and more), so we seldom pick a connection the other end is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A failed Stripe request; `target` names what was asked for (a PaymentIntent id, or an event
/// listing).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StripeApiError {
    #[error("{0} does not exist for this subscriber's Stripe key")]
    NotFound(String),
    #[error("Stripe rejected the request for {target} with HTTP {status}: {message}")]
    Rejected {
        target: String,
        status: u16,
        message: String,
    },
    #[error("Stripe is unavailable for {target}: HTTP {status}")]
    Unavailable { target: String, status: u16 },
    #[error("could not reach Stripe for {target}: {detail}")]
    Transport { target: String, detail: String },
    #[error("Stripe did not answer for {target} within {timeout_ms} ms")]
    Timeout { target: String, timeout_ms: u128 },
    #[error("Stripe's answer for {target} was not what was asked for: {detail}")]
    BadResponse { target: String, detail: String },
}

impl StripeApiError {
    /// Whether trying again later may succeed: rate limits, server errors, network trouble and
    /// answers we could not read. A missing intent, a revoked key or a refused request will not
    /// change by waiting.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::NotFound(_) | Self::Rejected { .. })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up HTTPS to Stripe: {0}")]
pub struct StripeSetupError(pub(crate) String);

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub struct StripeApi {
    base_url: url::Url,
    timeout: Duration,
    http: HttpClient,
}

impl StripeApi {
    /// `base_url` is the API root (`https://api.stripe.com/` or localstripe's); the system's
    /// trusted roots are loaded here, once per execution environment.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, StripeSetupError> {
        let base_url = url::Url::parse(base_url)
            .map_err(|e| StripeSetupError(format!("base URL {base_url:?}: {e}")))?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| StripeSetupError(format!("no trusted roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        Ok(StripeApi {
            base_url,
            timeout,
            http,
        })
    }

    /// A GET of `path` under the API root, within the timeout, sent once more on a fresh
    /// connection if a pooled one turns out closed.
    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        api_key: &SecretString,
        path: &str,
        target: &str,
    ) -> Result<T, StripeApiError> {
        let lookup = async {
            match self.get(api_key, path, target).await {
                // A pooled connection the other end closed while we were frozen or idle fails
                // before any answer; a GET is safe to send again on a fresh one.
                Err(StripeApiError::Transport { .. }) => self.get(api_key, path, target).await,
                other => other,
            }
        };
        let body = match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => {
                return Err(StripeApiError::Timeout {
                    target: target.to_string(),
                    timeout_ms: self.timeout.as_millis(),
                });
            }
            Ok(result) => result?,
        };
        serde_json::from_slice(&body).map_err(|e| StripeApiError::BadResponse {
            target: target.to_string(),
            detail: crate::support::text::describe_json_error(&e),
        })
    }

    async fn get(
        &self,
        api_key: &SecretString,
        path: &str,
        target: &str,
    ) -> Result<Bytes, StripeApiError> {
        let transport = |detail: String| StripeApiError::Transport {
            target: target.to_string(),
            detail,
        };
        let url = self
            .base_url
            .join(path)
            .map_err(|e| transport(format!("bad URL: {e}")))?;
        let request = hyper::Request::get(url.as_str())
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", api_key.expose_secret()),
            )
            .header("Stripe-Version", STRIPE_VERSION)
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .body(Empty::new())
            // The only input is the key: say so without echoing it.
            .map_err(|_| transport("the API key is not a valid header value".into()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| transport(crate::support::text::with_causes(&e)))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| transport(format!("reading the answer: {e}")))?
            .to_bytes();
        classify(target, status, body)
    }
}

const USER_AGENT: &str = concat!("payhook/", env!("CARGO_PKG_VERSION"));

/// Stripe's error body: `{"error": {"type": ..., "message": ...}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

fn classify(target: &str, status: u16, body: Bytes) -> Result<Bytes, StripeApiError> {
    let target = target.to_string();
    match status {
        200..=299 => Ok(body),
        404 => Err(StripeApiError::NotFound(target)),
        // 408/409 are "try again" too; everything else in 4xx is a verdict.
        408 | 409 | 429 | 500..=599 => Err(StripeApiError::Unavailable { target, status }),
        _ => Err(StripeApiError::Rejected {
            target,
            status,
            message: serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.error.message)
                .unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let error = br#"{"error":{"type":"api_error","message":"boom"}}"#;
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
            let e = classify("pi_1", status, Bytes::from_static(error)).unwrap_err();
            assert_eq!(e.is_transient(), transient, "HTTP {status}");
        }
        assert_eq!(
            classify("pi_1", 404, Bytes::from_static(error)),
            Err(StripeApiError::NotFound("pi_1".into()))
        );
        assert_eq!(
            classify("pi_1", 401, Bytes::from_static(error)),
            Err(StripeApiError::Rejected {
                target: "pi_1".into(),
                status: 401,
                message: "boom".into()
            })
        );
        // An answer that is not an error body is still the verdict its status gives.
        assert!(matches!(
            classify("pi_1", 400, Bytes::from_static(b"<html>")),
            Err(StripeApiError::Rejected { message, .. }) if message.is_empty()
        ));
    }

    /// An answer we cannot read is worth another try.
    #[tokio::test]
    async fn an_unreadable_answer_is_a_transient_bad_response() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\n<html>",
                    )
                    .await;
            }
        });
        let api = StripeApi::new(&base, Duration::from_secs(5)).unwrap();
        let e = api
            .payment_intent(&SecretString::from("sk_test_x"), "pi_1")
            .await
            .unwrap_err();
        assert!(matches!(e, StripeApiError::BadResponse { .. }), "{e:?}");
        assert!(e.is_transient());
    }

    /// A kept-alive connection the other end closed (idle, or the environment was frozen)
    /// fails before any answer: the GET goes once more, on a new connection, and succeeds.
    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_sent_once_more_on_a_new_one() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let (accepted, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, r, h) = (accepted.clone(), requests.clone(), heads.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let first = a.fetch_add(1, Ordering::SeqCst) == 0;
                let mut buf = [0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n > 0 {
                    r.fetch_add(1, Ordering::SeqCst);
                    h.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).to_lowercase());
                }
                if first {
                    // Closed with the request unanswered.
                    continue;
                }
                let body = br#"{"id":"pi_1","status":"succeeded","amount":100,"currency":"eur","metadata":{},"livemode":false}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body).await;
            }
        });
        let api = StripeApi::new(&base, Duration::from_secs(5)).unwrap();
        let intent = api
            .payment_intent(&SecretString::from("sk_test_x"), "pi_1")
            .await
            .expect("the second try answers");
        assert!(intent.succeeded());
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
        assert_eq!(requests.load(Ordering::SeqCst), 2, "the GET sent twice");
        // What Stripe is told: the subscriber's key, the API version the view is written
        // for, who asks.
        let head = heads.lock().unwrap()[1].clone();
        assert!(
            head.starts_with("get /v1/payment_intents/pi_1?expand%5b%5d=latest_charge "),
            "{head}"
        );
        assert!(
            head.contains("authorization: bearer sk_test_x\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!(
                "stripe-version: {}\r\n",
                STRIPE_VERSION.to_lowercase()
            )),
            "{head}"
        );
        assert!(head.contains("user-agent: payhook/"), "{head}");
    }

    #[test]
    fn a_refused_connection_is_a_transport_error_and_says_why() {
        // A port nobody listens on: bound, then let go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let api =
            StripeApi::new(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(api.payment_intent(&SecretString::from("sk_test_x"), "pi_1"))
            .unwrap_err();
        assert!(
            matches!(&e, StripeApiError::Transport { detail, .. } if detail.contains("refused")),
            "{e:?}"
        );
        assert!(e.is_transient());
    }
}
