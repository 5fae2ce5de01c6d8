//! payhook: Stripe payment webhooks from SQS into DynamoDB, each PaymentIntent exactly once.
//! This crate is what runs in AWS; the Lambda binary (`payhook-consumer`) is a thin `main`
//! over it.
//!
//! # Layout, in pipeline order
//! - [`envelope`]: SQS record -> `Delivery` (raw body, signature header, subscriber, receive time, bundle)
//! - [`sealed`]: open the sealed bundle, check its issuer signature -> the subscriber's secrets
//!   (redacted, zeroized); [`issuer`]: the operator's signing key that makes bundles
//!   acceptable
//! - [`keyring`]: the key set a warm function uses, re-read when a bundle names a key or
//!   issuer it lacks and when it is older than five minutes (rotation without a redeploy);
//!   [`bundle_cache`]: opened bundles kept for warm invocations (bounded, LRU);
//!   [`bundle_parameter`]: a subscriber's bundle read from SSM by the scheduled functions
//! - [`signature`]: verify `Stripe-Signature` against the receive time
//! - [`event`]: Stripe event -> the PaymentIntent to look up, or ignore
//! - [`stripe_api`]: fetch the PaymentIntent's current state with the subscriber's key
//! - [`ledger`]: exactly-once credit of the payment record (one DynamoDB transaction), and
//!   who credited a PaymentIntent; [`known_credits`]: the environment's memory of that;
//!   [`unapplied`]: succeeded money that names no usable payment record, kept for an operator;
//!   [`subscriber_items`]: the all-pages read their operator listings share
//! - [`dead_lettering`]: move a permanent failure to the DLQ with its reason
//! - [`backoff`]: push a transient failure's next delivery out by its receive count
//! - [`batch`]: per-message outcomes -> partial batch response, FIFO order kept
//! - [`handler`]: the pipeline for one message, its notice, and the Lambda entry point
//! - [`reconcile`]: the same steps for the events Stripe's events API lists, whether or not a
//!   webhook arrived
//! - [`notification`]: the notifications credits owe their subscribers (written in the
//!   credit's transaction) and the audit trail of their attempts; [`notifier`]: signs and
//!   delivers the due ones, on the retry schedule, through [`outbound`] (timeouts; in live
//!   mode https to public addresses only)
//! - [`telemetry`]: CloudWatch metrics (EMF) per message and per invocation
//! - [`config`], [`mode`], [`keystore`], [`error`], [`setup`], [`clock`]: environment, live or
//!   test, private keys, error classes and reasons, wiring, wall-clock time

pub mod envelope;

pub mod sealed;

pub mod issuer;

pub mod bundle_cache;

pub mod keyring;

pub mod bundle_parameter;

pub mod signature;

pub mod event;

pub mod stripe_api;

pub mod ledger;

pub mod known_credits;

pub mod unapplied;

pub mod subscriber_items;

pub mod dead_lettering;

pub mod backoff;

pub mod batch;

pub mod handler;

pub mod reconcile;

pub mod notification;

pub mod notifier;

pub mod outbound;

pub mod config;

pub mod mode;

pub mod keystore;

pub mod error;

pub mod setup;

pub mod telemetry;

pub mod clock;
