//! A delaying, counting TCP proxy in front of an emulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::BoxError;

/// A TCP proxy on a local port in front of an HTTP service: it waits `delay` before passing on
/// each chunk the client sends (one chunk is one request here), so every call pays it, and
/// counts the connections it accepts. Latency for the benches, connection reuse for the tests.
pub struct Proxy {
    /// Base URL to use instead of the service's.
    pub url: String,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(upstream_url: &str, delay: Duration) -> Result<Proxy, BoxError> {
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
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, upstream.clone(), delay));
            }
        });
        Ok(Proxy { url, accepted })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn forward(client: tokio::net::TcpStream, upstream: String, delay: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tokio::time::sleep(delay).await;
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
