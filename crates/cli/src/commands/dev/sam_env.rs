//! `payhook dev sam-env`: the `--env-vars` file for `sam local invoke`, pointing the three
//! functions at the local stack. SAM only overrides variables the template declares for a
//! function, which is why the template declares `STRIPE_API_BASE` and
//! `PAYHOOK_AWS_ENDPOINT_URL` (empty on AWS).

use std::collections::BTreeMap;

use crate::failure::{Failure, Result};

/// Print the `sam local invoke --env-vars` JSON for the local stack whose names are in the
/// environment (what `payhook dev provision` printed), with the emulators' addresses as a
/// container reaches them.
#[derive(clap::Args)]
pub struct Args {
    /// The host as seen from a container: Docker's bridge gateway on Linux (172.17.0.1),
    /// host.docker.internal with Docker Desktop. Replaces 127.0.0.1 and localhost in the
    /// emulators' URLs.
    #[arg(long, default_value = "172.17.0.1")]
    host: String,
    /// Subscribers the reconciler goes over (their bundles in SSM, as `dev provision
    /// --bundle` stores them).
    #[arg(long, default_value = "acme")]
    subscribers: String,
}

/// The variables each function takes, and where their values come from: the local stack's
/// own name for it (provision's output), when that differs.
const CONSUMER: &[(&str, &str)] = &[
    ("PAYMENTS_TABLE", "PAYMENTS_TABLE"),
    ("IDEMPOTENCY_TABLE", "IDEMPOTENCY_TABLE"),
    ("UNAPPLIED_TABLE", "UNAPPLIED_TABLE"),
    ("NOTIFICATIONS_TABLE", "NOTIFICATIONS_TABLE"),
    ("KEYSET_SECRET_ID", "KEYSET_SECRET_ID"),
    ("DEAD_LETTER_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"),
    ("REJECTED_QUEUE_URL", "REJECTED_QUEUE_URL"),
    ("WEBHOOK_QUEUE_URL", "QUEUE_URL"),
    ("PAYHOOK_MODE", "PAYHOOK_MODE"),
];
const RECONCILER: &[(&str, &str)] = &[
    ("PAYMENTS_TABLE", "PAYMENTS_TABLE"),
    ("IDEMPOTENCY_TABLE", "IDEMPOTENCY_TABLE"),
    ("UNAPPLIED_TABLE", "UNAPPLIED_TABLE"),
    ("NOTIFICATIONS_TABLE", "NOTIFICATIONS_TABLE"),
    ("KEYSET_SECRET_ID", "KEYSET_SECRET_ID"),
    ("SUBSCRIBER_PARAMETER_PREFIX", "SUBSCRIBER_PARAMETER_PREFIX"),
    ("PAYHOOK_MODE", "PAYHOOK_MODE"),
];
const NOTIFIER: &[(&str, &str)] = &[
    ("NOTIFICATIONS_TABLE", "NOTIFICATIONS_TABLE"),
    ("PAYMENTS_TABLE", "PAYMENTS_TABLE"),
    ("KEYSET_SECRET_ID", "KEYSET_SECRET_ID"),
    ("SUBSCRIBER_PARAMETER_PREFIX", "SUBSCRIBER_PARAMETER_PREFIX"),
    ("NOTIFICATION_DLQ_URL", "NOTIFICATION_DLQ_URL"),
    ("PAYHOOK_MODE", "PAYHOOK_MODE"),
];

impl Args {
    pub fn run(self) -> Result<()> {
        let from_env = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    Failure::usage(name, "is not set").hint(
                        "source the local stack's environment (scripts/local.sh prints where)",
                    )
                })
        };
        let reachable = |url: String| {
            url.replace("127.0.0.1", &self.host)
                .replace("localhost", &self.host)
        };
        let aws = reachable(from_env("AWS_ENDPOINT_URL")?);
        let stripe = reachable(from_env("STRIPE_API_BASE")?);
        let mut functions = BTreeMap::new();
        for (function, variables) in [
            ("ConsumerFunction", CONSUMER),
            ("ReconcileFunction", RECONCILER),
            ("NotifierFunction", NOTIFIER),
        ] {
            let mut env = BTreeMap::new();
            for (variable, source) in variables {
                env.insert(variable.to_string(), from_env(source)?);
            }
            env.insert("PAYHOOK_AWS_ENDPOINT_URL".into(), aws.clone());
            if function != "NotifierFunction" {
                env.insert("STRIPE_API_BASE".into(), stripe.clone());
            }
            if function == "ReconcileFunction" {
                env.insert("SUBSCRIBERS".into(), self.subscribers.clone());
            }
            functions.insert(function, env);
        }
        let json = serde_json::to_string_pretty(&functions)
            .map_err(|e| Failure::failed("encoding the env file", e))?;
        println!("{json}");
        Ok(())
    }
}
