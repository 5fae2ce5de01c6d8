//! The requests payhook makes, each naming what it asks for in its errors.

use secrecy::SecretString;

use super::StripeApi;
use super::client::StripeApiError;
use super::views::{
    CheckoutSessionView, DisputePage, DisputeView, EventPage, EventQuery, MAX_DISPUTES,
    MAX_REFUNDS, PaymentIntentView, RefundPage, RefundView, SessionPage,
};

impl StripeApi {
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

    /// The Checkout Session that collected the PaymentIntent, if one did: Stripe's own list
    /// filtered by `payment_intent` ("List all Checkout Sessions": "Only return the Checkout
    /// Session for the PaymentIntent specified"). The Session is what names the record of a
    /// Checkout payment, never the event's copy of it.
    pub async fn checkout_session(
        &self,
        api_key: &SecretString,
        intent_id: &str,
    ) -> Result<Option<CheckoutSessionView>, StripeApiError> {
        let target = format!("{intent_id} Checkout Session");
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("payment_intent", intent_id)
            .append_pair("limit", "1");
        let page: SessionPage = self
            .get_json(
                api_key,
                &format!("v1/checkout/sessions?{}", query.finish()),
                &target,
            )
            .await?;
        let session = page.data.into_iter().next();
        if let Some(other) = session
            .as_ref()
            .filter(|s| s.payment_intent.as_deref() != Some(intent_id))
        {
            return Err(StripeApiError::BadResponse {
                target,
                detail: format!("Session {} is of another PaymentIntent", other.id),
            });
        }
        Ok(session)
    }

    /// Every dispute of the PaymentIntent as Stripe lists them now (`GET /v1/disputes` filtered
    /// by `payment_intent`, "Only return disputes associated to the PaymentIntent specified":
    /// "List all disputes"), each checked to be of this PaymentIntent.
    pub async fn disputes(
        &self,
        api_key: &SecretString,
        intent_id: &str,
    ) -> Result<Vec<DisputeView>, StripeApiError> {
        let target = format!("{intent_id} disputes");
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("payment_intent", intent_id)
            .append_pair("limit", "100");
        let page: DisputePage = self
            .get_json(api_key, &format!("v1/disputes?{}", query.finish()), &target)
            .await?;
        let bad = |detail: String| StripeApiError::BadResponse {
            target: target.clone(),
            detail,
        };
        if page.has_more || page.data.len() > MAX_DISPUTES {
            return Err(bad(format!("more than {MAX_DISPUTES} disputes")));
        }
        if let Some(other) = page.data.iter().find(|d| {
            d.payment_intent
                .as_deref()
                .is_some_and(|pi| pi != intent_id)
        }) {
            return Err(bad(format!(
                "dispute {} is of another PaymentIntent",
                other.id
            )));
        }
        Ok(page.data)
    }
}
