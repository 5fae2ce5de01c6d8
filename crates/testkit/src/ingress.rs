//! A local stand-in for the deployed API Gateway route: `POST /stripe/<subscriber>` puts the
//! raw body on the queue with the attributes `template.yaml`'s integration maps (the
//! `Stripe-Signature` header, the request time, the subscriber and its sealed bundle from local
//! configuration), read from the template itself, so the two cannot drift. Real Stripe
//! webhooks (`stripe listen --forward-to`) and localstripe's own reach the local stack this way.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use aws_config::SdkConfig;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::BoxError;
use crate::delivery::send_routed;
use crate::route::RouteMapping;

/// API Gateway's HTTP API payload limit.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

struct Route {
    aws: SdkConfig,
    queue_url: String,
    mapping: RouteMapping,
    /// Subscriber -> sealed bundle: the routes the template would create.
    bundles: HashMap<String, String>,
}

pub struct Ingress {
    /// `http://127.0.0.1:PORT/`; deliveries go to `<url>stripe/<subscriber>`.
    pub url: String,
}

impl Ingress {
    /// Listens on `127.0.0.1:port` (0: any free port) with the repository's template's mapping.
    pub async fn start(
        aws: SdkConfig,
        queue_url: &str,
        bundles: HashMap<String, String>,
        port: u16,
    ) -> Result<Ingress, BoxError> {
        Self::start_with(
            RouteMapping::from_repo_template()?,
            aws,
            queue_url,
            bundles,
            port,
        )
        .await
    }

    /// The same with a given template's mapping.
    pub async fn start_with(
        mapping: RouteMapping,
        aws: SdkConfig,
        queue_url: &str,
        bundles: HashMap<String, String>,
        port: u16,
    ) -> Result<Ingress, BoxError> {
        let route = Arc::new(Route {
            aws,
            queue_url: queue_url.to_string(),
            mapping,
            bundles,
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let url = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let route = route.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let route = route.clone();
                        async move { Ok::<_, Infallible>(route.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Ingress { url })
    }
}

/// API Gateway's own error bodies.
fn answer(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

impl Route {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let not_found = || answer(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#);
        // The template creates `POST /stripe/<id>` per configured subscriber, nothing else.
        let Some(subscriber) = req
            .uri()
            .path()
            .strip_prefix("/stripe/")
            .map(str::to_string)
        else {
            return not_found();
        };
        let Some(bundle) = self
            .bundles
            .get(&subscriber)
            .filter(|_| req.method() == Method::POST)
        else {
            return not_found();
        };
        // Repeated headers are joined with commas, as API Gateway joins them; a header that is
        // not valid text cannot be spliced into the attributes' JSON.
        let signature: Option<String> = {
            let values: Vec<&str> = req
                .headers()
                .get_all("stripe-signature")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        // What an HTTP API's `$context.requestTimeEpoch` holds: whole epoch seconds.
        let request_time_epoch = payhook::support::clock::now_ms().div_euclid(1000);
        let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return answer(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    r#"{"message":"Request Entity Too Large"}"#,
                );
            }
        };
        // AWS does not document what the mapping does without the header; Stripe always sends
        // it. Refused here, and nothing is queued.
        let Some(signature) = signature else {
            return answer(StatusCode::BAD_REQUEST, r#"{"message":"Bad Request"}"#);
        };
        let internal = || {
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"Internal Server Error"}"#,
            )
        };
        // An SQS message body is text.
        let Ok(body) = std::str::from_utf8(&body) else {
            return internal();
        };
        let Ok(attributes) =
            self.mapping
                .render(&subscriber, &signature, request_time_epoch, bundle)
        else {
            return internal();
        };
        match send_routed(&self.aws, &self.queue_url, body, &attributes, &subscriber).await {
            Ok(id) => answer(
                StatusCode::OK,
                &serde_json::json!({ "MessageId": id }).to_string(),
            ),
            Err(_) => internal(),
        }
    }
}
