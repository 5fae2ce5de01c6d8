//! The command line: production operations at the top level, local development under `dev`.
//! One module per command, each an `Args` struct with `run`.

use clap::{Parser, Subcommand};

use crate::failure::Result;

#[cfg(feature = "dev")]
pub mod dev;
pub mod dlq;
pub mod keygen;
pub mod keyset;
pub mod notifications;
pub mod open;
pub mod reconcile;
pub mod seal;
pub mod stack;
pub mod unapplied;

#[derive(Parser)]
#[command(
    name = "payhook",
    version,
    about = "Operate the payhook Stripe webhook consumer",
    after_help = "Secrets (webhook signing secrets, Stripe keys) are read from environment \
                  variables, never from arguments. AWS credentials and region come from the usual \
                  AWS environment; --endpoint (or AWS_ENDPOINT_URL) points at a local emulator.\n\
                  Exit codes: 0 done, 1 failed, 2 usage error."
)]
pub struct Cli {
    #[command(flatten)]
    pub context: Context,
    #[command(subcommand)]
    pub command: Command,
}

/// What every command may need.
#[derive(clap::Args)]
pub struct Context {
    /// AWS endpoint override, e.g. a local moto server.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
}

impl Context {
    pub async fn aws(&self) -> aws_config::SdkConfig {
        payhook::ops::aws_config(self.endpoint.as_deref()).await
    }
}

#[derive(Subcommand)]
pub enum Command {
    Keygen(keygen::Args),
    /// The consumer's key set in its Secrets Manager secret: put, show, add a key or an
    /// issuer, remove one (rotation without a redeploy).
    #[command(subcommand)]
    Keyset(keyset::Command),
    Seal(seal::Args),
    Open(open::Args),
    Reconcile(reconcile::Args),
    /// A deployed stack: check that a signed delivery goes through it end to end.
    #[command(subcommand)]
    Stack(stack::Command),
    /// Succeeded payments that named no usable payment record: list, and assign to one.
    #[command(subcommand)]
    Unapplied(unapplied::Command),
    /// payment.credited notifications to subscribers: list with their attempts, resend.
    #[command(subcommand)]
    Notifications(notifications::Command),
    /// Inspect and redrive the dead-letter queue.
    #[command(subcommand)]
    Dlq(dlq::Command),
    /// Local development: emulators, sample deliveries, the local consumer (built with the
    /// `dev` feature).
    #[cfg(feature = "dev")]
    #[command(subcommand)]
    Dev(dev::Command),
}

impl Cli {
    pub async fn run(self) -> Result<()> {
        let context = &self.context;
        match self.command {
            Command::Keygen(args) => args.run(),
            Command::Keyset(command) => command.run(context).await,
            Command::Seal(args) => args.run(),
            Command::Open(args) => args.run(),
            Command::Reconcile(args) => args.run(context).await,
            Command::Stack(command) => command.run(context).await,
            Command::Dlq(command) => command.run(context).await,
            Command::Unapplied(command) => command.run(context).await,
            Command::Notifications(command) => command.run(context).await,
            #[cfg(feature = "dev")]
            Command::Dev(command) => command.run(context).await,
        }
    }
}
