//! A delaying, counting TCP proxy in front of an emulator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::BoxError;

/// A TCP proxy on a local port in front of an HTTP service: it waits `delay` before passing on
/// each chunk the client sends (one chunk is one request here), so every call pays it, and
/// counts the connections it accepts and the requests it passes on, by kind. Latency for the
/// benches, connection reuse and call counts for the tests.
pub struct Proxy {
    /// Base URL to use instead of the service's.
    pub url: String,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<HashMap<String, usize>>>,
}

/// Requests of one kind held back until `count` of them have arrived, then passed on together
/// (a rendezvous): how a test makes two callers reach the service at once, or gives up after
/// `timeout` and passes on what it has.
#[derive(Clone)]
struct Hold {
    kind: String,
    barrier: Arc<tokio::sync::Barrier>,
    timeout: Duration,
}

impl Proxy {
    pub async fn start(upstream_url: &str, delay: Duration) -> Result<Proxy, BoxError> {
        Self::start_with(upstream_url, delay, None).await
    }

    /// A proxy that holds requests of `kind` until `count` of them are in, so they reach the
    /// service together (after at most 10 s, whatever has arrived goes on).
    pub async fn start_holding(
        upstream_url: &str,
        kind: &str,
        count: usize,
    ) -> Result<Proxy, BoxError> {
        let hold = Hold {
            kind: kind.to_string(),
            barrier: Arc::new(tokio::sync::Barrier::new(count)),
            timeout: Duration::from_secs(10),
        };
        Self::start_with(upstream_url, Duration::ZERO, Some(hold)).await
    }

    async fn start_with(
        upstream_url: &str,
        delay: Duration,
        hold: Option<Hold>,
    ) -> Result<Proxy, BoxError> {
        let upstream = url::Url::parse(upstream_url)?;
        let upstream = format!(
            "{}:{}",
            upstream.host_str().ok_or("upstream URL has no host")?,
            upstream
                .port_or_known_default()
                .ok_or("upstream URL has no port")?
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(HashMap::new()));
        let (counter, kinds) = (accepted.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(
                    client,
                    upstream.clone(),
                    delay,
                    kinds.clone(),
                    hold.clone(),
                ));
            }
        });
        Ok(Proxy {
            url,
            accepted,
            requests,
        })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Requests passed on so far of this kind: an AWS JSON-protocol operation by its
    /// `X-Amz-Target` (`DynamoDB_20120810.TransactWriteItems`), anything else as its method and
    /// first two path segments (`GET /v1/payment_intents`).
    pub fn requests(&self, kind: &str) -> usize {
        self.lock().get(kind).copied().unwrap_or(0)
    }

    /// Every kind seen, with its count.
    pub fn request_counts(&self) -> HashMap<String, usize> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The kind of the request a chunk starts, if it starts one (a chunk may be the rest of a
/// body). The HTTP clients here write a request's head in one piece.
fn request_kind(chunk: &[u8]) -> Option<String> {
    let head_end = chunk.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&chunk[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?, request_line.next()?);
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("x-amz-target")
        {
            return Some(value.trim().to_string());
        }
    }
    let path = target.split('?').next().unwrap_or_default();
    let first_two: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).take(2).collect();
    Some(format!("{method} /{}", first_two.join("/")))
}

async fn forward(
    client: tokio::net::TcpStream,
    upstream: String,
    delay: Duration,
    kinds: Arc<Mutex<HashMap<String, usize>>>,
    hold: Option<Hold>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Some(kind) = request_kind(&buf[..n]) {
                *kinds
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(kind.clone())
                    .or_insert(0) += 1;
                if let Some(hold) = hold.as_ref().filter(|h| h.kind == kind) {
                    let _ = tokio::time::timeout(hold.timeout, hold.barrier.wait()).await;
                }
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        // Pass the client's close on, so the service sees the connection end.
        let _ = sw.shutdown().await;
    };
    let down = tokio::io::copy(&mut sr, &mut cw);
    let _ = tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_target_header_or_the_path() {
        let aws = b"POST / HTTP/1.1\r\ncontent-type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\r\n{\"TableName\":\"t\"}";
        assert_eq!(
            request_kind(aws).as_deref(),
            Some("DynamoDB_20120810.GetItem")
        );
        let stripe = b"GET /v1/payment_intents/pi_123?expand=x HTTP/1.1\r\nhost: x\r\n\r\n";
        assert_eq!(
            request_kind(stripe).as_deref(),
            Some("GET /v1/payment_intents")
        );
        assert_eq!(request_kind(b"{\"rest\":\"of a body\"}"), None);
        assert_eq!(
            request_kind(b"GET / HTTP/1.1\r\nhost"),
            None,
            "no whole head"
        );
    }
}
