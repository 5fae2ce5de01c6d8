//! A Stripe stand-in on a local port for faults no emulator produces on demand: 5xx, 429, 401,
//! a slow answer, garbage, a dropped connection. Serves the PaymentIntents it is given while
//! healthy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the Stripe stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Healthy,
    Status(u16),
    /// Answers after the consumer's Stripe timeout.
    Slow,
    /// 200 with a body that is not JSON.
    Garbage,
    /// Accepts the connection, then closes it without a word.
    Hangup,
}

/// A Stripe stand-in on a local port: serves the PaymentIntents it is given while healthy.
#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    fault: Arc<Mutex<Fault>>,
    intents: Arc<Mutex<HashMap<String, String>>>,
    /// PaymentIntents answered with 503 whatever the global fault.
    unavailable: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Requests read, by PaymentIntent id.
    lookups: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}/", listener.local_addr().expect("addr"));
        let me = FakeStripe {
            base,
            fault: Arc::new(Mutex::new(Fault::Healthy)),
            intents: Arc::new(Mutex::new(HashMap::new())),
            unavailable: Arc::new(Mutex::new(Default::default())),
            lookups: Arc::new(Mutex::new(HashMap::new())),
        };
        let server = me.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                        match socket.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let request = String::from_utf8_lossy(&buf[..read]).into_owned();
                    let path = request
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    let id = intent_id(&path).to_string();
                    *server
                        .lookups
                        .lock()
                        .unwrap()
                        .entry(id.clone())
                        .or_insert(0) += 1;
                    let fault = if server.unavailable.lock().unwrap().contains(&id) {
                        Fault::Status(503)
                    } else {
                        *server.fault.lock().unwrap()
                    };
                    let (status, body) = match fault {
                        Fault::Hangup => return,
                        Fault::Slow => {
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            (200, server.intent(&path))
                        }
                        Fault::Garbage => (200, Some("<html>oops</html>".to_string())),
                        Fault::Status(code) => (
                            code,
                            Some(r#"{"error":{"type":"api_error","message":"injected"}}"#.into()),
                        ),
                        Fault::Healthy => (200, server.intent(&path)),
                    };
                    let (status, body) = match body {
                        Some(b) => (status, b),
                        None => (404, r#"{"error":{"type":"invalid_request_error","message":"No such payment_intent"}}"#.into()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        me
    }

    /// How many requests for this PaymentIntent arrived.
    pub fn lookups(&self, intent_id: &str) -> usize {
        self.lookups
            .lock()
            .unwrap()
            .get(intent_id)
            .copied()
            .unwrap_or(0)
    }

    fn intent(&self, path: &str) -> Option<String> {
        self.intents.lock().unwrap().get(intent_id(path)).cloned()
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Answers 503 for this PaymentIntent, whatever the global fault, until `restore_all`.
    pub fn make_unavailable(&self, intent_id: &str) {
        self.unavailable
            .lock()
            .unwrap()
            .insert(intent_id.to_string());
    }

    pub fn restore_all(&self) {
        self.unavailable.lock().unwrap().clear();
    }

    /// Serves `json` as PaymentIntent `id`, whatever shape it has.
    pub fn add_raw_intent(&self, id: &str, json: serde_json::Value) {
        self.intents
            .lock()
            .unwrap()
            .insert(id.to_string(), json.to_string());
    }

    pub fn add_intent(&self, id: &str, payment_id: &str) {
        let json = serde_json::json!({
            "id": id, "object": "payment_intent", "amount": 1234, "amount_received": 1234,
            "currency": "eur", "status": "succeeded", "metadata": {"id": payment_id},
            "livemode": false,
        });
        self.intents
            .lock()
            .unwrap()
            .insert(id.to_string(), json.to_string());
    }
}

/// The PaymentIntent id in `/v1/payment_intents/<id>?expand[]=...`.
fn intent_id(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or_default();
    path.trim_start_matches("/v1/payment_intents/")
}
