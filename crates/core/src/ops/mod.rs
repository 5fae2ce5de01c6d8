//! Environment and wiring: configuration read once per binary, SDK clients and subsystems built
//! once per cold start. Only the binaries, the CLI and the test kit import it.

mod config;
mod setup;

pub use config::{
    CONSUMER_VARIABLES, Config, ConfigError, DEFAULT_STRIPE_API_BASE, NOTIFIER_VARIABLES,
    SCHEDULE_VARIABLES, notifier_config, notifier_config_from_env, schedule, schedule_from_env,
};
pub use setup::{
    AWS_OPERATION_TIMEOUT, SetupError, aws_config, consumer, init_tracing, key_ring, ledger,
    notifier, pipeline, reconciler, timeouts, unapplied,
};
