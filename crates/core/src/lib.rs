//! payhook: Stripe payment webhooks from SQS into DynamoDB, each PaymentIntent exactly once.
//! This crate is what runs in AWS; the Lambda binaries (`payhook-consumer`) are thin `main`s
//! over it, and the operator CLI and the test kit use it too.
//!
//! # Layout, by rank
//!
//! A module imports only its own folder and modules of a lower rank, never a sibling of its
//! own rank (`tests/architecture.rs` holds the code to it). Folders re-export their API from
//! `mod.rs`; their files are private.
//!
//! | rank | modules | what |
//! | --- | --- | --- |
//! | 0 | [`support`] | clock, error text, URL redaction, DynamoDB item helpers, deadlines |
//! | 1 | [`mode`], [`ids`], [`reason`] | vocabulary: live or test, id shapes, failure reasons |
//! | 2 | [`inbound`] | SQS record → delivery, `Stripe-Signature`, Stripe event (pure) |
//! | 2 | [`secrets`] | key set, key ring, sealed bundles, issuer, SSM bundle parameter |
//! | 2 | [`stripe`] | the PaymentIntents and events Stripe reports now |
//! | 2 | [`ledger`] | the exactly-once credit, its outbox item, known credits, unapplied money |
//! | 2 | [`telemetry`] | CloudWatch metrics (EMF) |
//! | 3 | [`pipeline`] | one verified Stripe event applied, shared by the consumer and the reconcile |
//! | 4 | [`consumer`] | the SQS Lambda: batches, backoff, dead letters |
//! | 4 | [`reconcile`] | Stripe's events API through the pipeline, by hand and hourly |
//! | 4 | [`notifications`] | the notifications credits owe, signed and delivered |
//! | 5 | [`ops`] | configuration from the environment and the wiring of each binary |
//!
//! # Invariants
//! - `inbound` does no I/O and never reads the clock.
//! - Only `secrets` touches dryoc and key material.
//! - Only `ledger` writes the payments, idempotency and outbox items, all three in one
//!   transaction.
//! - Only `ops` reads environment variables (`ops::config`) and builds SDK clients from them
//!   (`ops::setup`).

pub mod support;

pub mod ids;
pub mod mode;
pub mod reason;

pub mod inbound;
pub mod ledger;
pub mod secrets;
pub mod stripe;
pub mod telemetry;

pub mod pipeline;

pub mod consumer;
pub mod notifications;
pub mod reconcile;

pub mod ops;
