//! `payhook`: the operator's command line. Secrets are read from the environment or stdin,
//! never from arguments (arguments leak into shell history and process lists).

use clap::Parser;
use payhook_cli::commands::Cli;

#[tokio::main]
async fn main() {
    if let Err(failure) = Cli::parse().run().await {
        eprintln!("payhook: {failure}");
        std::process::exit(failure.exit_code());
    }
}
