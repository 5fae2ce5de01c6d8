//! PaymentIntents made on localstripe, the stateful fake Stripe the tests and the demo use.

use crate::BoxError;

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
    #[derive(serde::Deserialize)]
    struct Created {
        id: String,
        status: String,
    }
    // from_url panics on a bad URL; say what is wrong instead.
    url::Url::parse(stripe_base)
        .map_err(|e| format!("bad Stripe base URL {stripe_base:?}: {e}"))?;
    let client = stripe::Client::from_url(stripe_base, api_key);
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
    let created: Created = client.post_form("payment_intents", params).await?;
    if created.status != "succeeded" {
        return Err(format!(
            "PaymentIntent {} is {}, not succeeded",
            created.id, created.status
        )
        .into());
    }
    Ok(created.id)
}
