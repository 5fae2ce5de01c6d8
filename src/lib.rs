//! payhook: Stripe payment webhooks from SQS into DynamoDB, each PaymentIntent exactly once.
//!
//! # Layout, in pipeline order
//! - [`envelope`]: SQS record -> `Delivery` (raw body, signature header, subscriber, receive time, bundle)
//! - [`sealed`]: open the sealed bundle -> the subscriber's secrets (redacted, zeroized)
//! - [`bundle_cache`]: opened bundles kept for warm invocations (bounded, LRU)
//! - [`signature`]: verify `Stripe-Signature` against the receive time
//! - [`event`]: Stripe event -> the PaymentIntent to look up, or ignore
//! - [`stripe_api`]: fetch the PaymentIntent's current state with the subscriber's key
//! - [`ledger`]: exactly-once credit of the payment record (one DynamoDB transaction)
//! - [`dead_letter`]: move a permanent failure to the DLQ with its reason
//! - [`backoff`]: push a transient failure's next delivery out by its receive count
//! - [`batch`]: per-message outcomes -> partial batch response, FIFO order kept
//! - [`handler`]: the pipeline for one message, its notice, and the Lambda entry point
//! - [`config`], [`keystore`], [`error`], [`setup`]: environment, private keys, error classes, wiring
//! - [`dlq`]: operator tools on the dead-letter queue (list without consuming, safe redrive)
//! - [`local`]: emulator provisioning and API-Gateway-shaped deliveries for the CLI, demo and tests
//! - [`poller`]: a local stand-in for Lambda's SQS event source mapping

pub mod backoff;
pub mod batch;
pub mod bundle_cache;
pub mod config;
pub mod dead_letter;
pub mod dlq;
pub mod envelope;
pub mod error;
pub mod event;
pub mod handler;
pub mod keystore;
pub mod ledger;
pub mod local;
pub mod poller;
pub mod sealed;
pub mod setup;
pub mod signature;
pub mod stripe_api;
