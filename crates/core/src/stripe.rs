//! Fetches a PaymentIntent from the Stripe API with the subscriber's own key.
//!
//! One GET through one pooled HTTP client for every subscriber (the key is a per-request
//! header), so a warm execution environment keeps its connections to Stripe open across
//! messages and invocations. async-stripe's client cannot do that: it builds hyper with
//! `pool_max_idle_per_host(0)` (0.41 and 1.0.0-rc.10 alike), a TCP and TLS handshake per call,
//! with no way to hand it a client of our own. It still creates intents in `local.rs`.
//! We read a narrow view of the PaymentIntent: the full model insists on fields that some API
//! versions (and localstripe) leave out.

use std::collections::HashMap;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The API version our view was written against, sent on every request so that a change of
/// the account's default version cannot change what we read.
pub const STRIPE_VERSION: &str = "2023-10-16";
/// A PaymentIntent is a few KB; anything far larger is not one.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Kept well below the idle timeouts of Stripe's and common load balancers' keep-alive (60 s
/// and more), so we seldom pick a connection the other end is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What we read of a PaymentIntent. Stripe always sends `amount_received`; it is optional here
/// only so that its absence is refused with its own reason instead of a parse error.
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
    /// Stripe's `livemode` (absent: `None`, which matches no key's mode).
    #[serde(default)]
    pub livemode: Option<bool>,
    /// The charge that collected it, expanded in the same request: whether anything of it has
    /// been refunded is known without a second call.
    #[serde(default)]
    pub latest_charge: Option<ChargeView>,
}

impl PaymentIntentView {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }

    /// Whether Stripe reports any of its money refunded (then its refunds are read).
    pub fn has_refunds(&self) -> bool {
        self.latest_charge
            .as_ref()
            .is_some_and(|c| c.amount_refunded > 0)
    }
}

/// What we read of the PaymentIntent's latest charge.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ChargeView {
    pub id: String,
    /// Stripe's `amount_refunded`: refunded so far, in the currency's minor unit.
    #[serde(default)]
    pub amount_refunded: i64,
}

/// What we read of a refund. A refund takes its money from the balance when it is made
/// (`balance_transaction`) and, if it later fails, gives it back (`failure_balance_transaction`,
/// "the adjustment made on your account balance that reverses the initial balance
/// transaction": Stripe API reference, "The Refund object").
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RefundView {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub balance_transaction: Option<serde_json::Value>,
    #[serde(default)]
    pub failure_balance_transaction: Option<serde_json::Value>,
}

impl RefundView {
    /// Its money left the balance: a balance transaction exists (an expanded one or its id).
    pub fn took_money(&self) -> bool {
        self.balance_transaction
            .as_ref()
            .is_some_and(|v| !v.is_null())
    }

    /// Its money came back: it failed after taking it (a reversing balance transaction), or it
    /// was canceled.
    pub fn gave_money_back(&self) -> bool {
        self.failure_balance_transaction
            .as_ref()
            .is_some_and(|v| !v.is_null())
            || self.status.as_deref() == Some("canceled")
    }
}

#[derive(Debug, Deserialize)]
struct RefundPage {
    data: Vec<RefundView>,
    #[serde(default)]
    has_more: bool,
}

/// The most refunds read for one PaymentIntent: far more than any payment has, and few enough
/// for their entries to fit one DynamoDB transaction with the credit.
pub const MAX_REFUNDS: usize = 90;

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

    pub async fn payment_intent(
        &self,
        api_key: &SecretString,
        intent_id: &str,
    ) -> Result<PaymentIntentView, StripeApiError> {
        // intent_id is checked to be `pi_` and plain characters (event.rs): it cannot leave
        // the path.
        // The latest charge expanded: its `amount_refunded` says whether refunds exist, in this
        // one request.
        let view: PaymentIntentView = self
            .get_json(
                api_key,
                &format!("v1/payment_intents/{intent_id}?expand%5B%5D=latest_charge"),
                intent_id,
            )
            .await?;
        if view.id != intent_id {
            return Err(StripeApiError::BadResponse {
                target: intent_id.to_string(),
                detail: format!("answer is for {}", view.id),
            });
        }
        Ok(view)
    }

    /// Every refund of the PaymentIntent as Stripe lists them now (`GET /v1/refunds` filtered by
    /// `payment_intent`, every page), each checked to be of this PaymentIntent.
    pub async fn refunds(
        &self,
        api_key: &SecretString,
        intent_id: &str,
    ) -> Result<Vec<RefundView>, StripeApiError> {
        let target = format!("{intent_id} refunds");
        let mut refunds: Vec<RefundView> = Vec::new();
        loop {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("payment_intent", intent_id)
                .append_pair("limit", "100");
            if let Some(last) = refunds.last() {
                query.append_pair("starting_after", &last.id);
            }
            let page: RefundPage = self
                .get_json(api_key, &format!("v1/refunds?{}", query.finish()), &target)
                .await?;
            let more = page.has_more && !page.data.is_empty();
            refunds.extend(page.data);
            if let Some(other) = refunds.iter().find(|r| {
                r.payment_intent
                    .as_deref()
                    .is_some_and(|pi| pi != intent_id)
            }) {
                return Err(StripeApiError::BadResponse {
                    target,
                    detail: format!("refund {} is of another PaymentIntent", other.id),
                });
            }
            if refunds.len() > MAX_REFUNDS {
                return Err(StripeApiError::BadResponse {
                    target,
                    detail: format!("more than {MAX_REFUNDS} refunds"),
                });
            }
            if !more {
                return Ok(refunds);
            }
        }
    }

    /// One page (up to 100, newest first) of the subscriber's events of `event_type` created in
    /// `[since, until]` (epoch seconds), after `starting_after` if given. Stripe keeps events for
    /// 30 days.
    pub async fn events(
        &self,
        api_key: &SecretString,
        query: &EventQuery<'_>,
    ) -> Result<EventPage, StripeApiError> {
        let mut path = url::form_urlencoded::Serializer::new(String::new());
        path.append_pair("type", query.event_type)
            .append_pair("created[gte]", &query.since.to_string())
            .append_pair("limit", "100");
        if let Some(until) = query.until {
            path.append_pair("created[lte]", &until.to_string());
        }
        if let Some(after) = query.starting_after {
            path.append_pair("starting_after", after);
        }
        let target = format!("{} events", query.event_type);
        self.get_json(api_key, &format!("v1/events?{}", path.finish()), &target)
            .await
    }

    /// A GET of `path` under the API root, within the timeout, sent once more on a fresh
    /// connection if a pooled one turns out closed.
    async fn get_json<T: serde::de::DeserializeOwned>(
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

/// Which events to list.
#[derive(Debug, Clone, Copy)]
pub struct EventQuery<'a> {
    pub event_type: &'a str,
    pub since: i64,
    pub until: Option<i64>,
    pub starting_after: Option<&'a str>,
}

/// A page of `/v1/events`: each event kept as raw JSON, read by [`crate::inbound::parse`] like
/// a webhook body.
#[derive(Debug, Deserialize)]
pub struct EventPage {
    pub data: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub has_more: bool,
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
    fn view_reads_what_it_needs_and_leaves_amount_received_absent_when_it_is() {
        let real = r#"{"id":"pi_1","amount":2000,"amount_received":1500,"currency":"eur",
            "status":"succeeded","metadata":{"id":"order-1"},"livemode":true,
            "payment_method_types":["card"],
            "latest_charge":{"id":"ch_1","object":"charge","amount_refunded":500}}"#;
        let v: PaymentIntentView = serde_json::from_str(real).unwrap();
        assert!(v.succeeded());
        assert_eq!(v.amount_received, Some(1500));
        assert_eq!(v.livemode, Some(true));
        assert_eq!(v.metadata.get("id").map(String::as_str), Some("order-1"));
        assert!(v.has_refunds(), "the expanded charge has 500 refunded");

        let without = r#"{"id":"pi_1","amount":2000,"currency":"usd","status":"succeeded"}"#;
        let v: PaymentIntentView = serde_json::from_str(without).unwrap();
        assert_eq!(v.amount_received, None, "no fallback to amount");
        assert_eq!(v.livemode, None);
        assert!(!v.has_refunds(), "no charge, nothing refunded");
    }

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
