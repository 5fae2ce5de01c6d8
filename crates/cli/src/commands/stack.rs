//! `payhook stack check`: after a deploy, one Stripe-signed delivery through the stack's real
//! webhook URL, and the consumer's notice for it read back from its log group. It proves the
//! path end to end as AWS runs it: the route, its attribute mapping (the receive time's unit
//! included), the queue, the function starting with its key set, the bundle, the signature.

use std::time::{Duration, Instant};

use payhook::inbound::sign_stripe_signature;
use payhook::notifications::{Outbound, Policy};

use crate::commands::Context;
use crate::failure::{Failure, Result};
use crate::input::env_secret;

#[derive(clap::Subcommand)]
pub enum Command {
    Check(CheckArgs),
}

/// Post a signed event of a type payhook ignores (`payhook.stack_check`) to
/// `<WebhookBaseUrl>/stripe/<subscriber>`, then wait for the consumer's notice of it in
/// `<ConsumerLogGroupName>`: acknowledged, with a receive time near the time of sending. The
/// subscriber's webhook signing secret comes from PAYHOOK_WEBHOOK_SECRET.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The CloudFormation stack (its outputs name the URL and the log group).
    #[arg(long)]
    stack: String,
    /// A subscriber with a route on the stack.
    #[arg(long)]
    subscriber: String,
    /// How long to wait for the consumer's notice.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// The receive time the consumer read may be this far from when the check sent the request
/// (clocks, and a queue that is busy): a unit mistake is off by a factor of 1000.
const RECEIVE_TIME_SLACK_MS: i64 = 5 * 60 * 1000;
/// Pages of one search before waiting and searching again.
const MAX_PAGES_PER_LOOK: usize = 20;

struct StackOutputs {
    webhook_base_url: String,
    consumer_log_group: String,
    livemode: bool,
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self {
            Command::Check(args) => args.run(context).await,
        }
    }
}

impl CheckArgs {
    async fn run(self, context: &Context) -> Result<()> {
        let secret = env_secret("PAYHOOK_WEBHOOK_SECRET")?;
        let aws = context.aws().await;
        let outputs = self.outputs(&aws).await?;
        let sent_at_ms = payhook::support::clock::now_ms();
        let event_id = format!("evt_payhook_check_{sent_at_ms}");
        let body = serde_json::json!({
            "id": event_id,
            "object": "event",
            "type": "payhook.stack_check",
            "created": sent_at_ms / 1000,
            "livemode": outputs.livemode,
            "data": {"object": {"id": "payhook_stack_check", "object": "payhook.stack_check"}},
        })
        .to_string();
        let header = sign_stripe_signature(&secret, sent_at_ms / 1000, body.as_bytes());
        let url = format!(
            "{}/stripe/{}",
            outputs.webhook_base_url.trim_end_matches('/'),
            self.subscriber
        );
        let http = Outbound::new(Policy::Any, Duration::from_secs(5), Duration::from_secs(30))
            .map_err(|e| Failure::failed("setting up HTTPS", e))?;
        let answer = http
            .post(&url, &[("stripe-signature", header)], body.into_bytes())
            .await
            .map_err(|e| Failure::failed(format!("POST {url}"), e))?;
        if !(200..300).contains(&answer.status) {
            return Err(Failure::failed(
                format!("POST {url}"),
                format!("the webhook API answered HTTP {}", answer.status),
            )
            .hint(match answer.status {
                404 => "no route for this subscriber: is it in the stack's Subscribers?",
                _ => "its access log (WebhookApiAccessLogGroupName) says why",
            }));
        }
        eprintln!("posted {event_id} to {url}: HTTP {}", answer.status);

        let notice = self
            .await_notice(&aws, &outputs.consumer_log_group, &event_id, sent_at_ms)
            .await?;
        let outcome = notice["outcome"].as_str().unwrap_or_default();
        let reason = notice["reason"].as_str().unwrap_or_default();
        if outcome != "ignored" {
            let error = notice["error"].as_str().unwrap_or_default();
            return Err(Failure::failed(
                format!("the consumer's notice for {event_id}"),
                format!("outcome {outcome} ({reason}): {error}"),
            )
            .hint(match reason {
                "bad_signature" => {
                    "PAYHOOK_WEBHOOK_SECRET is not among the subscriber's bundle's secrets"
                }
                "malformed_envelope" => {
                    "the route's message attributes are not what the consumer reads"
                }
                _ => "see the reason; `payhook dlq list` shows the message",
            }));
        }
        let received_at_ms = notice["received_at_ms"].as_i64().ok_or_else(|| {
            Failure::failed(
                format!("the consumer's notice for {event_id}"),
                "carries no received_at_ms",
            )
        })?;
        let off_ms = received_at_ms - sent_at_ms;
        if off_ms.abs() > RECEIVE_TIME_SLACK_MS {
            return Err(Failure::failed(
                format!("the receive time of {event_id}"),
                format!(
                    "the consumer read {received_at_ms} (epoch ms), {} s from when it was sent",
                    off_ms / 1000
                ),
            )
            .hint("the route's received-at is not read in the unit API Gateway writes"));
        }
        println!(
            "stack {} ok: {event_id} went through {url} and the queue; the consumer \
             acknowledged it ({reason}), received {} ({} ms after sending)",
            self.stack,
            payhook::support::clock::rfc3339((received_at_ms.max(0) / 1000) as u64),
            off_ms
        );
        Ok(())
    }

    async fn outputs(&self, aws: &aws_config::SdkConfig) -> Result<StackOutputs> {
        let cfn = aws_sdk_cloudformation::Client::new(aws);
        let described = cfn
            .describe_stacks()
            .stack_name(&self.stack)
            .send()
            .await
            .map_err(|e| Failure::aws(format!("DescribeStacks {}", self.stack), &e))?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| Failure::failed(format!("stack {}", self.stack), "was not found"))?;
        let output = |key: &str| {
            stack
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .map(str::to_string)
                .ok_or_else(|| {
                    Failure::failed(
                        format!("stack {}", self.stack),
                        format!("has no output {key}"),
                    )
                    .hint("is it a payhook stack, deployed from this version's template?")
                })
        };
        let mode = stack
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some("Mode"))
            .and_then(|p| p.parameter_value())
            .unwrap_or("live");
        Ok(StackOutputs {
            webhook_base_url: output("WebhookBaseUrl")?,
            consumer_log_group: output("ConsumerLogGroupName")?,
            livemode: mode != "test",
        })
    }

    /// The consumer's notice naming `event_id`, polled from its log group.
    async fn await_notice(
        &self,
        aws: &aws_config::SdkConfig,
        log_group: &str,
        event_id: &str,
        sent_at_ms: i64,
    ) -> Result<serde_json::Value> {
        let logs = aws_sdk_cloudwatchlogs::Client::new(aws);
        let deadline = Instant::now() + Duration::from_secs(self.timeout_secs);
        loop {
            let mut next: Option<String> = None;
            // CloudWatch Logs may answer a search with empty pages and a token to go on.
            for _ in 0..MAX_PAGES_PER_LOOK {
                // A quoted term matches the exact text, underscores included (CloudWatch Logs
                // filter pattern syntax).
                let page = logs
                    .filter_log_events()
                    .log_group_name(log_group)
                    .start_time(sent_at_ms - 60_000)
                    .filter_pattern(format!("\"{event_id}\""))
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| Failure::aws(format!("FilterLogEvents on {log_group}"), &e))?;
                for event in page.events() {
                    let Some(Ok(line)) = event
                        .message()
                        .map(serde_json::from_str::<serde_json::Value>)
                    else {
                        continue;
                    };
                    // A refused delivery's notice names the event its body claims.
                    let names_it =
                        line["event_id"] == event_id || line["claimed_event_id"] == event_id;
                    if names_it && line.get("outcome").is_some() {
                        return Ok(line);
                    }
                }
                match page.next_token() {
                    Some(token) => next = Some(token.to_string()),
                    None => break,
                }
            }
            if Instant::now() >= deadline {
                return Err(Failure::failed(
                    format!("waiting for the consumer's notice of {event_id} in {log_group}"),
                    format!("none after {} s", self.timeout_secs),
                )
                .hint(
                    "the consumer is not running or not reading the queue: see its Errors \
                     metric (ConsumerErrorsAlarm) and `payhook dlq list`",
                ));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
