//! Integration tests: the real consumer against moto and localstripe, started by
//! `scripts/test.sh` (which exports AWS_ENDPOINT_URL and STRIPE_API_BASE). One binary, one
//! module per area, sharing the stack helpers.

mod consumer;
mod disputes;
mod duplicates;
mod faults;
mod forgery;
mod fuzz;
mod ingress;
mod notifications;
mod reconcile;
mod refunds;
mod rotation;
mod samples;
mod template;
mod unapplied;
