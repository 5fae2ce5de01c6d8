//! `payhook`: the operator's command line. Secrets are read from the environment or stdin,
//! never from arguments (arguments leak into shell history and process lists).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use payhook::local::{self, BoxError, DeliverySpec};
use payhook::sealed::{self, BundlePlaintext, KeySet, KeySetDocument};
use payhook::signature;

/// The placeholder PaymentIntent id in the sample bodies under `events/stripe/`.
const SAMPLE_INTENT_ID: &str = "pi_3SampleIntent000001";

#[derive(Parser)]
#[command(
    name = "payhook",
    version,
    about = "Operate the payhook Stripe webhook consumer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Build a signed SQS event (for `cargo lambda invoke --data-file` / `sam local invoke -e`)
    /// from a Stripe event body. The signing secret comes from PAYHOOK_WEBHOOK_SECRET.
    Event {
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
        /// The SQS message id (default: derived from the event id and the receive time).
        #[arg(long)]
        message_id: Option<String>,
        /// Sign with a wrong secret, to see a forged delivery rejected.
        #[arg(long)]
        forge: bool,
    },
    /// Create the tables, the key set secret and the dead-letter queue on a local emulator.
    Provision {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
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
    },
    /// Print one payment record as JSON.
    Record {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
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
        Command::Event {
            body,
            subscriber,
            bundle,
            payment_intent,
            received_at_ms,
            message_id,
            forge,
        } => {
            let mut text = std::fs::read_to_string(&body)
                .map_err(|e| format!("cannot read {}: {e}", body.display()))?;
            if let Some(pi) = payment_intent {
                text = text.replace(SAMPLE_INTENT_ID, &pi);
            }
            let event = payhook::event::parse(&text)
                .map_err(|e| format!("{} is not a usable Stripe event: {e}", body.display()))?;
            let bundle = match bundle.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?
                    .trim()
                    .to_string(),
                None => bundle,
            };
            let secret = if forge {
                "whsec_forged".to_string()
            } else {
                env_secret("PAYHOOK_WEBHOOK_SECRET")?
            };
            let received_at_ms = received_at_ms.unwrap_or_else(now_ms);
            let header = signature::sign(&secret, received_at_ms / 1000 - 1, text.as_bytes());
            let message_id = message_id.unwrap_or_else(|| format!("{}-{received_at_ms}", event.id));
            let msg = DeliverySpec {
                message_id: &message_id,
                body: &text,
                subscriber: &subscriber,
                signature_header: &header,
                received_at_ms,
                sealed_bundle: &bundle,
            }
            .sqs_message();
            println!(
                "{}",
                serde_json::to_string_pretty(&local::sqs_event(vec![msg]))?
            );
        }
        Command::Provision {
            endpoint,
            payments_table,
            idempotency_table,
            secret_name,
            keyset,
            dlq,
        } => {
            let json = std::fs::read_to_string(&keyset)
                .map_err(|e| format!("cannot read {}: {e}", keyset.display()))?;
            KeySet::from_json(&json)?;
            let aws = local::aws_config_for(&endpoint).await;
            local::create_tables(&aws, &payments_table, &idempotency_table).await?;
            let arn = local::put_keyset_secret(&aws, &secret_name, &json).await?;
            let dlq_url = local::create_queue(&aws, &dlq).await?;
            println!("PAYMENTS_TABLE={payments_table}");
            println!("IDEMPOTENCY_TABLE={idempotency_table}");
            println!("KEYSET_SECRET_ID={arn}");
            println!("DEAD_LETTER_QUEUE_URL={dlq_url}");
        }
        Command::Record {
            endpoint,
            table,
            subscriber,
            payment_id,
        } => {
            let aws = local::aws_config_for(&endpoint).await;
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
