//! `payhook dev …`: local development against the emulators (moto, localstripe). Nothing here
//! is needed to operate a deployed stack.

use crate::commands::Context;
use crate::failure::Result;

mod delivery;
pub mod demo_intent;
pub mod demo_refund;
pub mod event;
pub mod ingress;
pub mod local;
pub mod notify;
pub mod provision;
pub mod receiver;
pub mod record;
pub mod sam_env;
pub mod send;
pub mod stripe_webhook;

#[derive(clap::Subcommand)]
pub enum Command {
    Event(event::Args),
    Send(send::Args),
    Ingress(ingress::Args),
    StripeWebhook(stripe_webhook::Args),
    Local(local::Args),
    Provision(provision::Args),
    Receiver(receiver::Args),
    Notify(notify::Args),
    Record(record::Args),
    DemoIntent(demo_intent::Args),
    DemoRefund(demo_refund::Args),
    SamEnv(sam_env::Args),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self {
            Command::Event(args) => args.run(),
            Command::Send(args) => args.run(context).await,
            Command::Ingress(args) => args.run(context).await,
            Command::StripeWebhook(args) => args.run().await,
            Command::Local(args) => args.run(context).await,
            Command::Provision(args) => args.run(context).await,
            Command::Receiver(args) => args.run().await,
            Command::Notify(args) => args.run(context).await,
            Command::Record(args) => args.run(context).await,
            Command::DemoIntent(args) => args.run().await,
            Command::DemoRefund(args) => args.run().await,
            Command::SamEnv(args) => args.run(),
        }
    }
}
