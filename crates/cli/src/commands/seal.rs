//! `payhook seal`: a subscriber's secrets, signed with the operator's issuer key and sealed to
//! the consumer's public key.

use std::path::PathBuf;

use payhook::mode::Mode;
use payhook::secrets::IssuerKey;
use payhook::secrets::{BundlePlaintext, NotifyConfig};
use zeroize::Zeroizing;

use crate::failure::{Failure, Result};
use crate::input::{env_secret, read_file};

/// Sign and seal a subscriber's secrets; prints the sealed bundle. Secrets come from
/// PAYHOOK_WEBHOOK_SECRETS (comma-separated whsec_… values) and PAYHOOK_STRIPE_API_KEY; the
/// issuer key from --issuer-key-file or PAYHOOK_ISSUER_KEY (its JSON), never from arguments.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    subscriber: String,
    /// The consumer's public key (base64), as keygen printed it.
    #[arg(long)]
    public_key: String,
    /// The key id of that public key.
    #[arg(long)]
    kid: String,
    /// The issuer's private key file, as keygen --issuer-out wrote it. Without it, the key is
    /// read from PAYHOOK_ISSUER_KEY.
    #[arg(long)]
    issuer_key_file: Option<PathBuf>,
    /// The mode of the deployment this bundle is for: a Stripe key of the other mode is
    /// refused there, so sealing one is warned about.
    #[arg(long, default_value = "live", value_parser = ["live", "test"])]
    mode: String,
    /// The subscriber's endpoint for signed payment.credited notifications (https; http only
    /// with --mode test). Its signing secret is PAYHOOK_NOTIFY_SECRET when set (to keep the
    /// secret across a reseal), otherwise generated and printed once on stderr.
    #[arg(long)]
    notify_url: Option<String>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let public = payhook::secrets::decode_public_key(&self.public_key).ok_or_else(|| {
            Failure::usage("--public-key", "is not 32 bytes of base64")
                .hint("pass the public_key= value keygen printed")
        })?;
        let issuer = match &self.issuer_key_file {
            Some(path) => IssuerKey::from_json(&read_file("--issuer-key-file", path)?)
                .map_err(|e| Failure::usage(format!("--issuer-key-file {}", path.display()), e))?,
            None => IssuerKey::from_json(&env_secret("PAYHOOK_ISSUER_KEY")?)
                .map_err(|e| Failure::usage("PAYHOOK_ISSUER_KEY", e))?,
        };
        let secrets = env_secret("PAYHOOK_WEBHOOK_SECRETS")?;
        let secrets: Vec<&str> = secrets.split(',').map(str::trim).collect();
        if let Some(bad) = secrets.iter().find(|s| !s.starts_with("whsec_")) {
            return Err(Failure::usage(
                "PAYHOOK_WEBHOOK_SECRETS",
                format!(
                    "every secret starts with whsec_ (one starts with {:?})",
                    bad.chars().take(6).collect::<String>()
                ),
            ));
        }
        let api_key = env_secret("PAYHOOK_STRIPE_API_KEY")?;
        let wanted = Mode::parse(&self.mode).unwrap_or(Mode::Live);
        match Mode::of_key(&api_key) {
            Some(mode) if mode == wanted => {}
            Some(mode) => eprintln!(
                "payhook: warning: PAYHOOK_STRIPE_API_KEY is a {mode} key but --mode is \
                 {wanted}: a {wanted} deployment refuses every delivery of this bundle \
                 (key_mode_mismatch)"
            ),
            None => eprintln!(
                "payhook: warning: PAYHOOK_STRIPE_API_KEY is not a sk_/rk_ live or test key: \
                 every deployment refuses every delivery of this bundle (key_mode_mismatch)"
            ),
        }
        let notify_secret = match &self.notify_url {
            None => None,
            Some(url) => {
                check_notify_url(url, wanted)?;
                Some(match std::env::var("PAYHOOK_NOTIFY_SECRET") {
                    Ok(secret) if !secret.trim().is_empty() => {
                        payhook::notifications::check_secret(secret.trim())
                            .map_err(|e| Failure::usage("PAYHOOK_NOTIFY_SECRET", e))?;
                        Zeroizing::new(secret.trim().to_string())
                    }
                    _ => {
                        let secret = payhook::notifications::generate_secret();
                        eprintln!(
                            "payhook: the notification signing secret for {} (give it to the \
                             subscriber now; it is not shown again, and resealing without \
                             PAYHOOK_NOTIFY_SECRET makes a new one): {}",
                            self.subscriber,
                            secret.as_str()
                        );
                        secret
                    }
                })
            }
        };
        let notify = self
            .notify_url
            .as_deref()
            .zip(notify_secret.as_deref())
            .map(|(url, secret)| NotifyConfig {
                url,
                secret: secret.as_str(),
            });
        let bundle = payhook::secrets::seal(
            &public,
            &self.kid,
            &issuer,
            &BundlePlaintext {
                subscriber: &self.subscriber,
                webhook_secrets: &secrets,
                stripe_api_key: &api_key,
                notify,
            },
        )
        .map_err(|e| Failure::usage("sealing the bundle", e))?;
        println!("{bundle}");
        Ok(())
    }
}

/// A live deployment calls only https endpoints (README: Notifications).
fn check_notify_url(url: &str, mode: Mode) -> Result<()> {
    let parsed = url::Url::parse(url).map_err(|e| Failure::usage("--notify-url", e))?;
    match (parsed.scheme(), mode) {
        ("https", _) | ("http", Mode::Test) => Ok(()),
        (scheme, _) => Err(Failure::usage(
            "--notify-url",
            format!("a {mode} deployment calls only https endpoints, not {scheme}"),
        )),
    }
}
