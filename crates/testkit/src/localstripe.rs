//! PaymentIntents made on localstripe, the stateful fake Stripe the tests and the demo use.

use crate::BoxError;

/// A PaymentIntent as localstripe answers its creation.
#[derive(serde::Deserialize)]
struct Intent {
    id: String,
    status: String,
}

/// async-stripe's client for `stripe_base`; `from_url` panics on a bad URL, so it is checked
/// first and what is wrong said instead.
fn client(stripe_base: &str, api_key: &str) -> Result<stripe::Client, BoxError> {
    url::Url::parse(stripe_base)
        .map_err(|e| format!("bad Stripe base URL {stripe_base:?}: {e}"))?;
    Ok(stripe::Client::from_url(stripe_base, api_key))
}

/// Creates and confirms a card PaymentIntent on localstripe, so its status is `succeeded`;
/// returns its id. `payment_id` goes into `metadata.id`.
pub async fn create_succeeded_intent(
    stripe_base: &str,
    api_key: &str,
    payment_id: &str,
    amount: i64,
    currency: &str,
) -> Result<String, BoxError> {
    create_succeeded(stripe_base, api_key, Some(payment_id), amount, currency).await
}

/// The same, with `metadata.id` only if `payment_id` is given (as an Invoice's, a Payment
/// Link's or a Dashboard payment's PaymentIntent has none).
pub async fn create_succeeded(
    stripe_base: &str,
    api_key: &str,
    payment_id: Option<&str>,
    amount: i64,
    currency: &str,
) -> Result<String, BoxError> {
    let client = client(stripe_base, api_key)?;
    let amount = amount.to_string();
    let mut params: std::collections::BTreeMap<&str, &str> = [
        ("amount", amount.as_str()),
        ("currency", currency),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ]
    .into();
    if let Some(payment_id) = payment_id {
        params.insert("metadata[id]", payment_id);
    }
    let created: Intent = client.post_form("payment_intents", params).await?;
    if created.status != "succeeded" {
        return Err(format!(
            "PaymentIntent {} is {}, not succeeded",
            created.id, created.status
        )
        .into());
    }
    Ok(created.id)
}

/// Creates a card PaymentIntent for `amount` with manual capture, confirms it, then captures
/// `capture` of it (Stripe releases the rest); returns its id.
pub async fn create_captured(
    stripe_base: &str,
    api_key: &str,
    payment_id: &str,
    amount: i64,
    capture: i64,
) -> Result<String, BoxError> {
    let client = client(stripe_base, api_key)?;
    let amount = amount.to_string();
    let params: std::collections::BTreeMap<&str, &str> = [
        ("amount", amount.as_str()),
        ("currency", "eur"),
        ("payment_method", "pm_card_visa"),
        ("capture_method", "manual"),
        ("confirm", "true"),
        ("metadata[id]", payment_id),
    ]
    .into();
    let authorized: Intent = client.post_form("payment_intents", params).await?;
    if authorized.status != "requires_capture" {
        return Err(format!(
            "{} is {}, not requires_capture",
            authorized.id, authorized.status
        )
        .into());
    }
    let capture = capture.to_string();
    let captured: Intent = client
        .post_form(
            &format!("payment_intents/{}/capture", authorized.id),
            std::collections::BTreeMap::from([("amount_to_capture", capture.as_str())]),
        )
        .await?;
    if captured.status != "succeeded" {
        return Err(format!("{} is {} after capture", captured.id, captured.status).into());
    }
    Ok(captured.id)
}

/// Refunds `amount` (all of it without one) of a succeeded PaymentIntent (`POST /v1/refunds`,
/// as Stripe takes it); returns the refund's id.
pub async fn refund(
    stripe_base: &str,
    api_key: &str,
    intent_id: &str,
    amount: Option<i64>,
) -> Result<String, BoxError> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: String,
    }
    let client = client(stripe_base, api_key)?;
    let amount = amount.map(|a| a.to_string());
    let mut params: std::collections::BTreeMap<&str, &str> = [("payment_intent", intent_id)].into();
    if let Some(amount) = &amount {
        params.insert("amount", amount.as_str());
    }
    let created: Created = client.post_form("refunds", params).await?;
    Ok(created.id)
}

/// Makes a refund fail after it was made, as Stripe fails refunds of some test cards: its
/// money comes back (the project's localstripe patch, `POST /_config/payhook/refunds/{id}/fail`).
pub async fn fail_refund(stripe_base: &str, refund_id: &str) -> Result<(), BoxError> {
    let answer = post_json(
        stripe_base,
        &format!("/_config/payhook/refunds/{refund_id}/fail"),
        "{}",
    )
    .await?;
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "failing {refund_id}: {}",
            answer.lines().next().unwrap_or_default()
        )
        .into());
    }
    Ok(())
}

/// Makes the completed Checkout Session of a succeeded PaymentIntent, naming its record as a
/// Checkout integration does (`metadata.id`, `client_reference_id`), and has localstripe send
/// its `checkout.session.completed` (the project's localstripe patch,
/// `POST /_config/payhook/checkout_sessions`). Returns the Session id.
pub async fn checkout_session(
    stripe_base: &str,
    intent_id: &str,
    metadata_id: Option<&str>,
    client_reference_id: Option<&str>,
) -> Result<String, BoxError> {
    let metadata = match metadata_id {
        Some(id) => serde_json::json!({ "id": id }),
        None => serde_json::json!({}),
    };
    let body = serde_json::json!({
        "payment_intent": intent_id,
        "metadata": metadata,
        "client_reference_id": client_reference_id,
    });
    let answer = post_json(
        stripe_base,
        "/_config/payhook/checkout_sessions",
        &body.to_string(),
    )
    .await?;
    let (head, json) = answer
        .split_once("\r\n\r\n")
        .ok_or("localstripe's answer has no body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "Checkout Session for {intent_id}: {}",
            head.lines().next().unwrap_or_default()
        )
        .into());
    }
    let session: serde_json::Value = serde_json::from_str(json)?;
    session["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no Session id in {json}").into())
}

/// Opens a dispute on a succeeded PaymentIntent's charge, its amount withdrawn, as a
/// cardholder's bank does (the project's localstripe patch, `POST /_config/payhook/disputes`).
/// Returns the dispute id.
pub async fn open_dispute(stripe_base: &str, intent_id: &str) -> Result<String, BoxError> {
    let body = serde_json::json!({ "payment_intent": intent_id });
    let created = config_post(stripe_base, "/_config/payhook/disputes", &body).await?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no dispute id in {created}").into())
}

/// Closes a dispute, won (its funds reinstated) or lost.
pub async fn close_dispute(stripe_base: &str, dispute_id: &str, won: bool) -> Result<(), BoxError> {
    let body = serde_json::json!({ "outcome": if won { "won" } else { "lost" } });
    config_post(
        stripe_base,
        &format!("/_config/payhook/disputes/{dispute_id}/close"),
        &body,
    )
    .await?;
    Ok(())
}

/// POSTs to one of the project's localstripe endpoints; its JSON answer, or why not.
async fn config_post(
    stripe_base: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, BoxError> {
    let answer = post_json(stripe_base, path, &body.to_string()).await?;
    let (head, json) = answer
        .split_once("\r\n\r\n")
        .ok_or("localstripe's answer has no body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{path}: {} {json}", head.lines().next().unwrap_or_default()).into());
    }
    Ok(serde_json::from_str(json)?)
}

/// POSTs a JSON body to one of localstripe's own endpoints; returns the whole answer.
async fn post_json(stripe_base: &str, path: &str, body: &str) -> Result<String, BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = url::Url::parse(stripe_base)?;
    let host = format!(
        "{}:{}",
        base.host_str().ok_or("Stripe base URL has no host")?,
        base.port_or_known_default()
            .ok_or("Stripe base URL has no port")?
    );
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// Makes localstripe post its events, signed with `secret` as Stripe signs them, to `url`
/// (`POST /_config/webhooks/<id>`, localstripe's own configuration API); only `events` types
/// if any are given. Registrations last as long as the localstripe process.
pub async fn register_webhook(
    stripe_base: &str,
    id: &str,
    url: &str,
    secret: &str,
    events: &[&str],
) -> Result<(), BoxError> {
    // No list means every event type; an empty one would mean none.
    let events = (!events.is_empty()).then_some(events);
    let body = serde_json::json!({ "url": url, "secret": secret, "events": events }).to_string();
    let answer = post_json(stripe_base, &format!("/_config/webhooks/{id}"), &body).await?;
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "localstripe refused the webhook: {}",
            answer.lines().next().unwrap_or_default()
        )
        .into());
    }
    Ok(())
}

/// A localstripe of a test's own, on a free port, stopped when dropped: localstripe keeps one
/// store for every API key, so a test that lists Stripe's events (reconcile) or registers
/// webhooks (which localstripe keeps for its lifetime) sees only its own objects this way.
pub struct PrivateLocalstripe {
    /// `http://127.0.0.1:PORT/`.
    pub base: String,
    child: std::process::Child,
}

impl PrivateLocalstripe {
    /// Starts it with the project's `.venv` (scripts/test.sh installs it) and waits for it to
    /// listen.
    pub async fn start() -> Result<PrivateLocalstripe, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new(crate::repo_path(".venv/bin/python"))
            .arg(crate::repo_path("scripts/lib/localstripe_stripe_fields.py"))
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting localstripe from .venv (run scripts/test.sh): {e}"))?;
        let me = PrivateLocalstripe {
            base: format!("http://127.0.0.1:{port}/"),
            child,
        };
        for _ in 0..150 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(me);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(format!("localstripe did not listen on port {port} within 15 s").into())
    }
}

impl Drop for PrivateLocalstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
