//! What arrives: an SQS record read as the delivery API Gateway queued, its `Stripe-Signature`
//! verified, its body read as a Stripe event.
//!
//! Invariant: nothing here does I/O or reads the clock. The receive time and "now" are passed
//! in, so every check is deterministic and known-answer vectors pin it.

mod attributes;
mod envelope;
mod event;
mod signature;

pub use attributes::{
    ATTR_CLASS, ATTR_DETAIL, ATTR_FAILED_AT, ATTR_REASON, ATTR_RECEIVED_AT, ATTR_SEALED_BUNDLE,
    ATTR_SIGNATURE, ATTR_SOURCE_MESSAGE_ID, ATTR_SUBSCRIBER, FAILURE_DESCRIPTION, KNOWN_ATTRIBUTES,
    known_attribute,
};
pub use envelope::{
    Delivery, EnvelopeError, MAX_ATTRIBUTE_BYTES, MAX_BODY_BYTES, MAX_CLOCK_SKEW_MS,
    MAX_SIGNATURE_HEADER_LEN, SECONDS_BELOW, parse_received_at,
};
pub use event::{
    Action, CREDIT_TYPES, DISPUTE_TYPES, EventError, HANDLED_TYPES, MAX_EVENT_AGE_SECS,
    REFUND_TYPES, StripeEvent, checked_intent_id, claimed_id as claimed_event_id,
    parse as parse_event,
};
pub use signature::{
    DEFAULT_TOLERANCE_SECS, SignatureError, SignatureHeader, sign as sign_stripe_signature,
    verify as verify_stripe_signature,
};
