//! The `payhook` operator CLI, run as a process against moto and localstripe (started by
//! `scripts/test.sh`); each test checks the real effect of its subcommands. One binary, one
//! module per area, sharing the helpers below.

mod dlq;
mod docs;
mod independent;
mod keys;
mod local;
mod notifications;
mod reconcile;
mod stack;
mod unapplied;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lambda_events::event::sqs::SqsEvent;
use payhook::ops::Config;
use payhook::reason::Reason;
use payhook_cli::redrive;
use payhook_testkit::{delivery, emulators, poller, repo_path};

use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

pub fn payhook(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_payhook"));
    cmd.args(args).current_dir(repo_path(""));
    for var in [
        "PAYHOOK_WEBHOOK_SECRETS",
        "PAYHOOK_WEBHOOK_SECRET",
        "PAYHOOK_STRIPE_API_KEY",
        "PAYMENTS_TABLE",
        "IDEMPOTENCY_TABLE",
        "UNAPPLIED_TABLE",
        "KEYSET_SECRET_ID",
        "DEAD_LETTER_QUEUE_URL",
        "NOTIFICATIONS_TABLE",
        "PAYHOOK_NOTIFY_SECRET",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run payhook")
}

/// Runs and insists on success; returns stdout.
pub fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = payhook(args, env);
    assert!(
        out.status.success(),
        "payhook {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "payhook-it-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A new key set (consumer key `kid`, trusting a new issuer `op`) in `dir`: keygen's stdout,
/// the key set path and the issuer key path.
pub fn keygen(dir: &Path, kid: &str) -> (String, PathBuf, PathBuf) {
    let keyset = dir.join("keyset.json");
    let issuer = dir.join("issuer.json");
    let out = ok(
        &[
            "keygen",
            "--kid",
            kid,
            "--issuer-kid",
            "op",
            "--issuer-out",
            issuer.to_str().unwrap(),
            "--out",
            keyset.to_str().unwrap(),
        ],
        &[],
    );
    (out, keyset, issuer)
}

pub fn public_key_of(keygen_stdout: &str) -> String {
    keygen_stdout
        .lines()
        .find_map(|l| l.strip_prefix("kid=")?.split(" public_key=").nth(1))
        .expect("keygen prints public_key=")
        .trim()
        .to_string()
}

/// `KEY=value` lines (provision's output) as a map.
pub fn env_lines(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Provisions a fresh named stack with the CLI; returns its variables.
pub fn provision(keyset: &Path, name: &str) -> HashMap<String, String> {
    let id = format!("{name}-{}-{}", std::process::id(), now_ms());
    let out = ok(
        &[
            "dev",
            "provision",
            "--keyset",
            keyset.to_str().expect("utf-8 path"),
            "--payments-table",
            &format!("{id}-payments"),
            "--idempotency-table",
            &format!("{id}-idem"),
            "--unapplied-table",
            &format!("{id}-unapplied"),
            "--secret-name",
            &format!("{id}-keys"),
            "--dlq",
            &format!("{id}-dlq"),
            "--rejected-queue",
            &format!("{id}-rejected"),
            "--queue",
            &format!("{id}-queue"),
            "--notifications-table",
            &format!("{id}-notifications"),
            "--notification-dlq",
            &format!("{id}-ndlq"),
            "--visibility-timeout",
            "1",
        ],
        &[],
    );
    env_lines(&out)
}

pub fn config_from(vars: &HashMap<String, String>) -> Config {
    let stripe = std::env::var("STRIPE_API_BASE").expect("STRIPE_API_BASE");
    Config::from_lookup(|k| {
        if k == "STRIPE_API_BASE" {
            Some(stripe.clone())
        } else {
            vars.get(k).cloned()
        }
    })
    .expect("config from provision's output")
}
