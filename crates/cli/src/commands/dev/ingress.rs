//! `payhook dev ingress`: a local API Gateway for the webhook routes.

use std::collections::HashMap;

use std::path::PathBuf;

use payhook_testkit::ingress::Ingress;
use payhook_testkit::route::RouteMapping;

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::input::{read_file, value_or_file};

/// Listen on a local port and accept `POST /stripe/<subscriber>` exactly as the deployed route
/// does: the raw body onto the queue, with the attributes template.yaml's integration maps (the
/// Stripe-Signature header, the request time, the subscriber and its sealed bundle). Point
/// `stripe listen --forward-to localhost:PORT/stripe/<subscriber>` or localstripe's webhooks at
/// it.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// The webhook queue.
    #[arg(long)]
    queue_url: String,
    /// SUBSCRIBER=@FILE (or =BUNDLE), repeatable: the routes, as the template's Subscribers and
    /// their SSM bundles.
    #[arg(long = "route", value_name = "SUBSCRIBER=@FILE", required = true)]
    routes: Vec<String>,
    /// The SAM template whose route mapping to apply.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let mut bundles = HashMap::new();
        for route in &self.routes {
            let (subscriber, bundle) = route.split_once('=').ok_or_else(|| {
                Failure::usage(format!("--route {route:.40}"), "expected SUBSCRIBER=@FILE")
            })?;
            bundles.insert(subscriber.to_string(), value_or_file("--route", bundle)?);
        }
        let mapping = RouteMapping::from_template(&read_file("--template", &self.template)?)
            .map_err(|e| Failure::usage(format!("--template {}", self.template.display()), e))?;
        let names: Vec<String> = bundles.keys().cloned().collect();
        let aws = context.aws().await;
        let ingress = Ingress::start_with(mapping, aws, &self.queue_url, bundles, self.port)
            .await
            .map_err(|e| Failure::failed(format!("listening on port {}", self.port), e))?;
        for name in names {
            println!("POST {}stripe/{name}", ingress.url);
        }
        eprintln!("forwarding to {}; Ctrl-C stops", self.queue_url);
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Failure::failed("waiting for Ctrl-C", e))?;
        Ok(())
    }
}
