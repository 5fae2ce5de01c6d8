//! The test kit: local stand-ins for what AWS and Stripe provide, used by the integration
//! tests, the benches and the `payhook dev` commands. Never a dependency of the Lambda.
//!
//! - [`emulators`]: what the template creates (tables, key set secret, queues), made on moto
//! - [`route`]: the template's API Gateway -> SQS mapping, applied to a request as API Gateway does
//! - [`ingress`]: a local API Gateway: `POST /stripe/<subscriber>` onto the queue through that mapping
//! - [`delivery`]: deliveries shaped as API Gateway queues them and Lambda hands them over
//! - [`keys`]: a consumer key set, the issuer it trusts, and bundles sealed with them
//! - [`poller`]: a stand-in for Lambda's SQS event source mapping
//! - [`localstripe`]: succeeded PaymentIntents on localstripe
//! - [`fake_stripe`]: a Stripe that fails on demand, for faults no emulator produces
//! - [`proxy`]: a delaying, connection-counting TCP proxy
//! - [`stack`], [`logs`]: an isolated slice of the local stack per test, and captured notices
//! - [`emf`]: CloudWatch Embedded Metric Format documents read back and checked
//! - [`python`]: Stripe's Python library, PyNaCl and the Python Standard Webhooks library,
//!   run from the project's `.venv` as independent producers and checkers
//! - [`deployed`]: a deployed stack's face on moto: a CloudFormation stack with the outputs
//!   `payhook stack check` reads, and a function's log lines shipped to its log group as
//!   Lambda ships stdout

use std::path::PathBuf;

pub mod emulators;

pub mod delivery;

pub mod route;

pub mod ingress;

pub mod keys;

pub mod poller;

pub mod localstripe;

pub mod fake_stripe;

pub mod receiver;

pub mod proxy;

pub mod stack;

pub mod logs;

pub mod emf;

pub mod deployed;

pub mod python;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The PaymentIntent id the sample bodies under `events/stripe/` carry, replaced by a real one
/// before they are signed.
pub const SAMPLE_INTENT_ID: &str = "pi_3SampleIntent000001";

/// A path in the repository (the sample events, the template, the fixtures).
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(relative)
}

/// `http://127.0.0.1:<port>` where nothing listens: a port bound and let go, rather than one
/// assumed closed.
pub fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port");
    format!("http://127.0.0.1:{port}")
}
