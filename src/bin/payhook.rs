//! `payhook`: the operator's command line. Secrets are read from the environment or stdin,
//! never from arguments (arguments leak into shell history and process lists).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use payhook::local::{self, BoxError, DeliverySpec};
use payhook::sealed::{self, BundlePlaintext, KeySet, KeySetDocument};
use payhook::signature;
use payhook::{dlq, poller};
use secrecy::ExposeSecret;

/// The placeholder PaymentIntent id in the sample bodies under `events/stripe/`.
const SAMPLE_INTENT_ID: &str = "pi_3SampleIntent000001";

#[derive(Parser)]
#[command(
    name = "payhook",
    version,
    about = "Operate the payhook Stripe webhook consumer",
    after_help = "Secrets (webhook signing secrets, Stripe keys) are read from environment \
                  variables, never from arguments. AWS credentials and region come from the usual \
                  AWS environment; --endpoint (or AWS_ENDPOINT_URL) points at a local emulator."
)]
struct Cli {
    /// AWS endpoint override, e.g. a local moto server.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// A webhook delivery to build: shared by `event` and `send`.
#[derive(clap::Args)]
struct DeliveryArgs {
    /// A Stripe event body, e.g. events/stripe/payment_intent.succeeded.json.
    #[arg(long)]
    body: PathBuf,
    #[arg(long)]
    subscriber: String,
    /// The subscriber's sealed bundle, or @FILE to read it from a file.
    #[arg(long)]
    bundle: String,
    /// Replace the samples' placeholder PaymentIntent id with this one.
    #[arg(long)]
    payment_intent: Option<String>,
    /// Receive time, epoch ms (default: now). Stripe's t= is set 1 s before it.
    #[arg(long)]
    received_at_ms: Option<i64>,
    /// Sign with a wrong secret, to see a forged delivery rejected. Otherwise the signing
    /// secret comes from PAYHOOK_WEBHOOK_SECRET.
    #[arg(long)]
    forge: bool,
}

/// A built delivery: the body as it will be sent and its signature header.
struct Built {
    body: String,
    header: String,
    received_at_ms: i64,
    bundle: String,
    event_id: String,
}

impl DeliveryArgs {
    fn build(&self) -> Result<Built, BoxError> {
        let mut body = std::fs::read_to_string(&self.body)
            .map_err(|e| format!("cannot read {}: {e}", self.body.display()))?;
        if let Some(pi) = &self.payment_intent {
            body = body.replace(SAMPLE_INTENT_ID, pi);
        }
        let event = payhook::event::parse(&body)
            .map_err(|e| format!("{} is not a usable Stripe event: {e}", self.body.display()))?;
        let bundle = read_arg_or_file(&self.bundle)?;
        let secret = if self.forge {
            "whsec_forged".to_string()
        } else {
            env_secret("PAYHOOK_WEBHOOK_SECRET")?
        };
        let received_at_ms = self.received_at_ms.unwrap_or_else(now_ms);
        let header = signature::sign(&secret, received_at_ms / 1000 - 1, body.as_bytes());
        Ok(Built {
            body,
            header,
            received_at_ms,
            bundle,
            event_id: event.id,
        })
    }
}

fn read_arg_or_file(value: &str) -> Result<String, BoxError> {
    match value.strip_prefix('@') {
        Some(path) => Ok(std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {e}"))?
            .trim()
            .to_string()),
        None => Ok(value.to_string()),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Make a new X25519 key pair: prints the public key, writes the private key set JSON
    /// (the document the consumer reads from Secrets Manager) to --out.
    Keygen {
        /// Key id, 1-32 of A-Z a-z 0-9 _ - (e.g. the month it was made: 2026-11).
        #[arg(long)]
        kid: String,
        /// Where to write the key set JSON (mode 0600). With --add-to, the file to extend.
        #[arg(long, conflicts_with = "add_to")]
        out: Option<PathBuf>,
        /// Append the new key to this existing key set file (for rotation).
        #[arg(long)]
        add_to: Option<PathBuf>,
    },
    /// Seal a subscriber's secrets to the consumer's public key; prints the sealed bundle.
    /// Secrets come from PAYHOOK_WEBHOOK_SECRETS (comma-separated whsec_… values) and
    /// PAYHOOK_STRIPE_API_KEY.
    Seal {
        #[arg(long)]
        subscriber: String,
        /// The consumer's public key (base64), as keygen printed it.
        #[arg(long)]
        public_key: String,
        /// The key id of that public key.
        #[arg(long)]
        kid: String,
    },
    /// Show what a sealed bundle holds, secrets masked: a debugging aid that needs the private
    /// key set.
    Open {
        /// The sealed bundle, or @FILE.
        #[arg(long)]
        bundle: String,
        /// The key set JSON file (as keygen wrote it).
        #[arg(long)]
        keyset: PathBuf,
    },
    /// Build a signed SQS event (for `cargo lambda invoke --data-file` / `sam local invoke -e`)
    /// from a Stripe event body, and print it.
    Event {
        #[command(flatten)]
        delivery: DeliveryArgs,
        /// The SQS message id (default: derived from the event id and the receive time).
        #[arg(long)]
        message_id: Option<String>,
    },
    /// Sign a Stripe event body and put it on a queue as API Gateway would.
    Send {
        #[command(flatten)]
        delivery: DeliveryArgs,
        /// The webhook queue's URL.
        #[arg(long)]
        queue_url: String,
    },
    /// Inspect and redrive the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Run the consumer against a queue like Lambda's event source mapping: batches of 10,
    /// failed messages left for redelivery after their visibility timeout (and moved to the DLQ
    /// by the queue's redrive policy). Configured like the Lambda, from the environment
    /// (PAYMENTS_TABLE, IDEMPOTENCY_TABLE, KEYSET_SECRET_ID, …). scripts/local.sh brings up the
    /// whole local stack and runs this.
    Local {
        #[arg(long)]
        queue_url: String,
        /// Stop after this many empty polls in a row (default: run until Ctrl-C).
        #[arg(long)]
        until_idle: Option<u32>,
        /// Long-poll wait per receive, seconds.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(0..=20))]
        wait_secs: i32,
    },
    /// Create the tables, the key set secret and the dead-letter queue on a local emulator.
    Provision {
        #[arg(long, default_value = "payhook-payments")]
        payments_table: String,
        #[arg(long, default_value = "payhook-idempotency")]
        idempotency_table: String,
        #[arg(long, default_value = "payhook-consumer-keys")]
        secret_name: String,
        /// Key set JSON file to store in the secret.
        #[arg(long)]
        keyset: PathBuf,
        #[arg(long, default_value = "payhook-webhooks-dlq")]
        dlq: String,
        /// The webhook queue (a name ending .fifo makes both queues FIFO).
        #[arg(long, default_value = "payhook-webhooks")]
        queue: String,
        /// Deliveries before SQS moves a failing message to the DLQ.
        #[arg(long, default_value_t = 3)]
        max_receive_count: u32,
        /// Seconds a received message stays hidden (short locally, so retries show soon).
        #[arg(long, default_value_t = 10)]
        visibility_timeout: u32,
    },
    /// Print one payment record as JSON.
    Record {
        #[arg(long, default_value = "payhook-payments")]
        table: String,
        #[arg(long)]
        subscriber: String,
        #[arg(long)]
        payment_id: String,
    },
    /// Create a succeeded PaymentIntent on a local fake Stripe (localstripe) and print its id.
    /// The API key comes from PAYHOOK_STRIPE_API_KEY.
    DemoIntent {
        #[arg(long, env = "STRIPE_API_BASE")]
        stripe_base: String,
        /// Goes into metadata.id: the payment record it credits.
        #[arg(long)]
        payment_id: String,
        #[arg(long, default_value_t = 2000)]
        amount: i64,
        #[arg(long, default_value = "eur")]
        currency: String,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters: message id, subscriber, event, failure reason, attempts, first seen.
    /// Looking receives each message and makes it visible again at once; while the list is
    /// being made (up to --hide-secs) they are hidden, which delays a redrive or another look.
    List {
        #[arg(long)]
        dlq_url: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..=300))]
        hide_secs: i32,
    },
    /// Move dead letters back to the webhook queue: all, or those matching every filter given.
    /// Each is sent first and deleted after, so an interruption can only duplicate a delivery,
    /// which the consumer counts once; never lose one.
    Redrive {
        #[arg(long)]
        dlq_url: String,
        #[arg(long)]
        queue_url: String,
        #[arg(long)]
        subscriber: Option<String>,
        #[arg(long)]
        event_type: Option<String>,
        /// A failure reason, e.g. stripe_unavailable or payment_intent_not_found.
        #[arg(long)]
        reason: Option<String>,
        /// Dead-letter message ids (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
    },
}

/// `whsec_…acme`: enough to tell secrets apart, not enough to use one.
fn mask(secret: &str) -> String {
    let prefix = ["whsec_", "sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .into_iter()
        .find(|p| secret.starts_with(p))
        .unwrap_or("");
    let tail: String = if secret.len() >= prefix.len() + 12 {
        secret
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    } else {
        String::new()
    };
    format!("{prefix}…{tail}")
}

async fn aws(endpoint: &Option<String>) -> aws_config::SdkConfig {
    payhook::setup::aws_config(endpoint.as_deref()).await
}

fn env_secret(name: &str) -> Result<String, BoxError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!("set {name} in the environment (secrets are never taken as arguments)").into()
        })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn write_private(path: &PathBuf, contents: &str) -> Result<(), BoxError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Keygen { kid, out, add_to } => {
            let (public, key) = sealed::generate_key(&kid)?;
            let (path, doc) = match (add_to, out) {
                (Some(path), _) => {
                    let existing = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    KeySet::from_json(&existing)?; // refuse to extend a broken file
                    let mut doc: KeySetDocument = serde_json::from_str(&existing)?;
                    if doc.keys.iter().any(|k| k.kid == kid) {
                        return Err(
                            format!("{} already holds key id {kid:?}", path.display()).into()
                        );
                    }
                    doc.keys.push(key);
                    (Some(path), doc)
                }
                (None, out) => (
                    out,
                    KeySetDocument {
                        version: sealed::KEYSET_VERSION,
                        keys: vec![key],
                    },
                ),
            };
            let json = serde_json::to_string_pretty(&doc)?;
            match path {
                Some(path) => {
                    write_private(&path, &json)?;
                    eprintln!("private key set written to {}", path.display());
                }
                None => println!("{json}"),
            }
            println!(
                "kid={kid} public_key={}",
                sealed::encode_public_key(&public)
            );
        }
        Command::Seal {
            subscriber,
            public_key,
            kid,
        } => {
            let public = sealed::decode_public_key(&public_key)
                .ok_or("--public-key is not 32 bytes of base64")?;
            let secrets = env_secret("PAYHOOK_WEBHOOK_SECRETS")?;
            let secrets: Vec<&str> = secrets.split(',').map(str::trim).collect();
            if let Some(bad) = secrets.iter().find(|s| !s.starts_with("whsec_")) {
                return Err(format!(
                    "PAYHOOK_WEBHOOK_SECRETS: every secret starts with whsec_ (one starts with {:?})",
                    bad.chars().take(6).collect::<String>()
                )
                .into());
            }
            let api_key = env_secret("PAYHOOK_STRIPE_API_KEY")?;
            println!(
                "{}",
                sealed::seal(
                    &public,
                    &kid,
                    &BundlePlaintext {
                        v: sealed::BUNDLE_VERSION,
                        subscriber: &subscriber,
                        webhook_secrets: &secrets,
                        stripe_api_key: &api_key,
                    }
                )?
            );
        }
        Command::Open { bundle, keyset } => {
            let json = std::fs::read_to_string(&keyset)
                .map_err(|e| format!("cannot read {}: {e}", keyset.display()))?;
            let keys = KeySet::from_json(&json)?;
            let bundle = keys.open(&read_arg_or_file(&bundle)?)?;
            println!("subscriber:      {}", bundle.subscriber);
            println!("key id:          {}", bundle.key_id);
            for s in &bundle.webhook_secrets {
                println!("webhook secret:  {}", mask(s.expose_secret()));
            }
            println!(
                "stripe api key:  {}",
                mask(bundle.stripe_api_key.expose_secret())
            );
        }
        Command::Event {
            delivery,
            message_id,
        } => {
            let built = delivery.build()?;
            let message_id = message_id
                .unwrap_or_else(|| format!("{}-{}", built.event_id, built.received_at_ms));
            let msg = DeliverySpec {
                message_id: &message_id,
                body: &built.body,
                subscriber: &delivery.subscriber,
                signature_header: &built.header,
                received_at_ms: built.received_at_ms,
                sealed_bundle: &built.bundle,
            }
            .sqs_message();
            println!(
                "{}",
                serde_json::to_string_pretty(&local::sqs_event(vec![msg]))?
            );
        }
        Command::Send {
            delivery,
            queue_url,
        } => {
            let built = delivery.build()?;
            let aws = aws(&cli.endpoint).await;
            let spec = DeliverySpec {
                message_id: "",
                body: &built.body,
                subscriber: &delivery.subscriber,
                signature_header: &built.header,
                received_at_ms: built.received_at_ms,
                sealed_bundle: &built.bundle,
            };
            let id = local::send_delivery(&aws, &queue_url, &spec).await?;
            println!("sent {} as message {id}", built.event_id);
        }
        Command::Dlq(DlqCommand::List {
            dlq_url,
            json,
            limit,
            hide_secs,
        }) => {
            let sqs = aws_sdk_sqs::Client::new(&aws(&cli.endpoint).await);
            let letters = dlq::list(&sqs, &dlq_url, limit, hide_secs).await?;
            if json {
                for l in &letters {
                    println!("{}", serde_json::to_string(l)?);
                }
            } else {
                println!(
                    "{:<38} {:<12} {:<28} {:<26} {:<26} {:>8}  first seen",
                    "message id", "subscriber", "event type", "event id", "reason", "attempts"
                );
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                for l in &letters {
                    println!(
                        "{:<38} {:<12} {:<28} {:<26} {:<26} {:>8}  {}",
                        l.message_id,
                        dash(&l.subscriber),
                        dash(&l.event_type),
                        dash(&l.event_id),
                        dash(&l.reason),
                        l.attempts,
                        l.first_seen_ms
                            .map(|ms| payhook::ledger::rfc3339((ms / 1000) as u64))
                            .unwrap_or_else(|| "-".into()),
                    );
                }
                eprintln!("{} dead letter(s)", letters.len());
            }
        }
        Command::Dlq(DlqCommand::Redrive {
            dlq_url,
            queue_url,
            subscriber,
            event_type,
            reason,
            ids,
        }) => {
            let sqs = aws_sdk_sqs::Client::new(&aws(&cli.endpoint).await);
            let filter = dlq::Filter {
                subscriber,
                event_type,
                reason,
                message_ids: ids.into_iter().collect(),
            };
            let done = dlq::redrive(&sqs, &dlq_url, &queue_url, &filter, |p, letter| {
                eprintln!(
                    "moved {}/{}  {} ({})",
                    p.moved,
                    p.selected,
                    letter.message_id,
                    letter.reason.as_deref().unwrap_or("no reason")
                );
                std::ops::ControlFlow::Continue(())
            })
            .await?;
            println!(
                "redrive done: {} moved to the queue, {} left in the dead-letter queue by the filter",
                done.moved, done.skipped
            );
        }
        Command::Local {
            queue_url,
            until_idle,
            wait_secs,
        } => {
            payhook::setup::init_tracing();
            let config = payhook::config::Config::from_env()?;
            let aws = aws(&cli.endpoint).await;
            let consumer = payhook::setup::consumer(&config, &aws).await?;
            let sqs = aws_sdk_sqs::Client::new(&aws);
            eprintln!(
                "consuming {queue_url} (payments table {}, DLQ {}); Ctrl-C stops",
                config.payments_table,
                config
                    .dead_letter_queue_url
                    .as_deref()
                    .unwrap_or("via redrive policy")
            );
            let mut idle = 0;
            loop {
                let polled = tokio::select! {
                    polled = poller::poll_once(&sqs, &queue_url, &consumer, wait_secs) => polled?,
                    _ = tokio::signal::ctrl_c() => break,
                };
                if polled.received == 0 {
                    idle += 1;
                    if until_idle.is_some_and(|n| idle >= n) {
                        break;
                    }
                } else {
                    idle = 0;
                    eprintln!(
                        "batch: {} received, {} done, {} left for redelivery",
                        polled.received, polled.deleted, polled.failed
                    );
                }
            }
        }
        Command::Provision {
            payments_table,
            idempotency_table,
            secret_name,
            keyset,
            dlq,
            queue,
            max_receive_count,
            visibility_timeout,
        } => {
            let json = std::fs::read_to_string(&keyset)
                .map_err(|e| format!("cannot read {}: {e}", keyset.display()))?;
            KeySet::from_json(&json)?;
            let aws = aws(&cli.endpoint).await;
            local::create_tables(&aws, &payments_table, &idempotency_table).await?;
            let arn = local::put_keyset_secret(&aws, &secret_name, &json).await?;
            let dlq_url = local::create_queue(&aws, &dlq).await?;
            let queue_url = local::create_queue_with_dlq(
                &aws,
                &queue,
                &dlq_url,
                max_receive_count,
                visibility_timeout,
            )
            .await?;
            println!("PAYMENTS_TABLE={payments_table}");
            println!("IDEMPOTENCY_TABLE={idempotency_table}");
            println!("KEYSET_SECRET_ID={arn}");
            println!("DEAD_LETTER_QUEUE_URL={dlq_url}");
            println!("QUEUE_URL={queue_url}");
        }
        Command::Record {
            table,
            subscriber,
            payment_id,
        } => {
            let aws = aws(&cli.endpoint).await;
            match local::payment_record(&aws, &table, &subscriber, &payment_id).await? {
                Some(record) => println!("{}", serde_json::to_string_pretty(&record)?),
                None => {
                    return Err(
                        format!("no payment record {subscriber}/{payment_id} in {table}").into(),
                    );
                }
            }
        }
        Command::DemoIntent {
            stripe_base,
            payment_id,
            amount,
            currency,
        } => {
            let key = env_secret("PAYHOOK_STRIPE_API_KEY")?;
            let id =
                local::create_succeeded_intent(&stripe_base, &key, &payment_id, amount, &currency)
                    .await?;
            println!("{id}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("payhook: {e}");
        std::process::exit(1);
    }
}
