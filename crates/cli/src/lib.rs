//! The `payhook` operator CLI: production operations (keys, bundles, the dead-letter queue)
//! and, under `payhook dev`, local development against the emulators.
//!
//! - [`commands`]: the command line, one module per command
//! - [`redrive`]: look at the dead-letter queue without consuming it, and redrive from it
//! - [`input`]: values or @FILE, secrets from the environment, private files
//! - [`subscriber`]: the pipeline and a subscriber's bundle, for commands that ask Stripe
//! - [`failure`]: one-line failures and exit codes

pub mod commands;
pub mod failure;
pub mod input;
pub mod redrive;
pub mod subscriber;
