//! A subscriber's notification endpoint on a local port: records every request it gets and
//! answers 500 to the first `fail_first`, then 200. Given the subscriber's secret, it checks
//! each signature with the Standard Webhooks library first, as a subscriber would, and answers
//! 400 to one that does not verify.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
    /// The signature checked with the secret it was given; `None` without one.
    pub verified: Option<bool>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hooks/payhook`
    pub url: String,
    fail_first: usize,
    secret: Option<String>,
    /// Sent with each failing answer as `Retry-After`.
    retry_after: Option<String>,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, fail_first, None)
    }

    /// On `listener`, checking signatures with `secret` when given.
    pub fn serve(listener: TcpListener, fail_first: usize, secret: Option<String>) -> Receiver {
        let url = format!(
            "http://{}/hooks/payhook",
            listener.local_addr().expect("addr")
        );
        let me = Receiver {
            url,
            fail_first,
            secret,
            retry_after: None,
            got: Arc::default(),
        };
        me.clone().accept(listener);
        me
    }

    /// The same receiver, its failing answers 503 with this `Retry-After` (seconds or a date).
    pub async fn start_asking_to_wait(fail_first: usize, retry_after: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/hooks/payhook",
            listener.local_addr().expect("addr")
        );
        let me = Receiver {
            url,
            fail_first,
            secret: None,
            retry_after: Some(retry_after.to_string()),
            got: Arc::default(),
        };
        me.clone().accept(listener);
        me
    }

    fn accept(self, listener: TcpListener) {
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = self.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let headers = req.headers().clone();
        let body = match req.into_body().collect().await {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
            Err(_) => String::new(),
        };
        let verified = self.secret.as_deref().map(|secret| {
            standardwebhooks::Webhook::new(secret)
                .and_then(|w| w.verify(body.as_bytes(), &headers))
                .is_ok()
        });
        let mut got = self.got.lock().unwrap_or_else(|e| e.into_inner());
        let status = if verified == Some(false) {
            StatusCode::BAD_REQUEST
        } else if got.len() < self.fail_first && self.retry_after.is_some() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if got.len() < self.fail_first {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        got.push(Received {
            path,
            headers,
            body,
            status: status.as_u16(),
            verified,
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        if let Some(wait) = self.retry_after.as_deref().filter(|_| !status.is_success())
            && let Ok(value) = hyper::header::HeaderValue::from_str(wait)
        {
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, value);
        }
        response
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
