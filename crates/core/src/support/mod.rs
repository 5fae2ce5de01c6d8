//! Technical helpers every subsystem may use; they import nothing from the crate.
//!
//! - [`clock`]: wall-clock time, epoch milliseconds and RFC 3339
//! - [`text`]: errors with their causes, JSON errors without their values, attacker strings cut short
//! - [`redact`]: URLs without the tokens they may carry
//! - [`dynamo`]: DynamoDB item fields read with one error type, and every item of a subscriber
//! - [`deadline`]: when an invocation stops starting work

pub mod clock;
pub mod deadline;
pub mod dynamo;
pub mod redact;
pub mod text;
