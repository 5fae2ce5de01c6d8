//! Stripe's API as payhook reads it, with the subscriber's own key: a PaymentIntent, its
//! refunds and disputes, the Checkout Session that paid it, and event listings.
//!
//! One pooled HTTP client for every subscriber (the key is a per-request header), so a warm
//! execution environment keeps its connections to Stripe open across messages and
//! invocations. async-stripe's client cannot do that: it builds hyper with
//! `pool_max_idle_per_host(0)` (0.41 and 1.0.0-rc.10 alike), a TCP and TLS handshake per call,
//! with no way to hand it a client of our own. It still creates intents in `local.rs`.
//! We read narrow views of Stripe's objects: the full models insist on fields that some API
//! versions (and localstripe) leave out.

mod client;
mod requests;
mod views;

pub use client::{STRIPE_VERSION, StripeApi, StripeApiError, StripeSetupError};
pub use views::{
    BalanceTransactionView, ChargeView, CheckoutSessionView, DisputeView, EventPage, EventQuery,
    MAX_DISPUTES, MAX_REFUNDS, PaymentIntentView, RefundView,
};
