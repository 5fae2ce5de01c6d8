//! The `payhook` operator CLI, run as a process against moto and localstripe; each test checks
//! the real effect of its subcommands.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lambda_events::event::sqs::SqsEvent;
use payhook::config::Config;
use payhook::error::Reason;
use payhook::setup;
use payhook_cli::redrive;
use payhook_testkit::{delivery, emulators, poller, repo_path};

use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

fn payhook(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
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
fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = payhook(args, env);
    assert!(
        out.status.success(),
        "payhook {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
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
fn keygen(dir: &Path, kid: &str) -> (String, PathBuf, PathBuf) {
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

fn public_key_of(keygen_stdout: &str) -> String {
    keygen_stdout
        .lines()
        .find_map(|l| l.strip_prefix("kid=")?.split(" public_key=").nth(1))
        .expect("keygen prints public_key=")
        .trim()
        .to_string()
}

/// `KEY=value` lines (provision's output) as a map.
fn env_lines(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Provisions a fresh named stack with the CLI; returns its variables.
fn provision(keyset: &Path, name: &str) -> HashMap<String, String> {
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

fn config_from(vars: &HashMap<String, String>) -> Config {
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

#[tokio::test]
async fn keygen_seal_provision_and_event_make_a_delivery_the_consumer_credits() {
    let dir = temp_dir("keygen");
    let (out, keyset, issuer) = keygen(&dir, "k1");
    let public = public_key_of(&out);
    assert!(
        !out.contains("secret_key") && !out.contains("seed"),
        "no private key goes to stdout: {out}"
    );
    assert!(out.contains("issuer=op issuer_public_key="), "{out}");

    let secrets = [
        ("PAYHOOK_WEBHOOK_SECRETS", "whsec_cli_one,whsec_cli_two"),
        ("PAYHOOK_STRIPE_API_KEY", API_KEY),
    ];
    let bundle = ok(
        &[
            "seal",
            "--subscriber",
            "acme",
            "--public-key",
            &public,
            "--kid",
            "k1",
            "--mode",
            "test",
            "--issuer-key-file",
            issuer.to_str().unwrap(),
        ],
        &secrets,
    );
    let bundle = bundle.trim().to_string();
    assert!(bundle.starts_with("k1."));

    // open: the subscriber and key id, secrets masked.
    let shown = ok(
        &[
            "open",
            "--bundle",
            &bundle,
            "--keyset",
            keyset.to_str().unwrap(),
        ],
        &[],
    );
    assert!(shown.contains("acme") && shown.contains("k1"), "{shown}");
    assert!(shown.contains("signed by:       issuer op"), "{shown}");
    assert!(shown.contains("whsec_…"), "{shown}");
    for secret in ["whsec_cli_one", "whsec_cli_two", API_KEY] {
        assert!(!shown.contains(secret), "open shows {secret}: {shown}");
    }

    let vars = provision(&keyset, "cli-keygen");
    let aws = emulators::aws_config_for(&std::env::var("AWS_ENDPOINT_URL").unwrap()).await;
    let consumer = setup::consumer(&config_from(&vars), &aws)
        .await
        .expect("the consumer loads the key set keygen wrote");

    let stripe = std::env::var("STRIPE_API_BASE").unwrap();
    let pi = ok(
        &[
            "dev",
            "demo-intent",
            "--stripe-base",
            &stripe,
            "--payment-id",
            "order-cli-1",
        ],
        &[("PAYHOOK_STRIPE_API_KEY", API_KEY)],
    );
    let event_json = ok(
        &[
            "dev",
            "event",
            "--body",
            "events/stripe/charge.succeeded.json",
            "--subscriber",
            "acme",
            "--bundle",
            &bundle,
            "--payment-intent",
            pi.trim(),
        ],
        // The second secret of the roll signs; the consumer accepts either.
        &[("PAYHOOK_WEBHOOK_SECRET", "whsec_cli_two")],
    );
    let event: SqsEvent = serde_json::from_str(&event_json).expect("event prints an SqsEvent");
    let r = consumer.handle(event).await.expect("batch");
    assert!(failed_ids(&r).is_empty(), "{r:?}");
    let record = emulators::payment_record(&aws, &vars["PAYMENTS_TABLE"], "acme", "order-cli-1")
        .await
        .unwrap()
        .expect("record");
    assert_eq!(record["paid"], 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn keygen_add_to_rotates_and_refuses_a_reused_key_id() {
    let dir = temp_dir("rotate");
    let (out, keyset, issuer) = keygen(&dir, "old");
    let path = keyset.to_str().unwrap();
    let old = public_key_of(&out);
    let new = public_key_of(&ok(&["keygen", "--kid", "new", "--add-to", path], &[]));
    // An issuer rotation: a second trusted issuer, its private key in a file of its own.
    let issuer2 = dir.join("issuer2.json");
    let out = ok(
        &[
            "keygen",
            "--issuer-kid",
            "op2",
            "--issuer-out",
            issuer2.to_str().unwrap(),
            "--add-to",
            path,
        ],
        &[],
    );
    assert!(
        out.contains("issuer=op2") && !out.contains("kid=op2 public_key"),
        "{out}"
    );
    let keys =
        payhook::sealed::KeySet::from_json(&std::fs::read_to_string(&keyset).unwrap()).unwrap();
    assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["new", "old"]);
    assert_eq!(keys.issuer_ids().collect::<Vec<_>>(), ["op", "op2"]);
    let env = [
        ("PAYHOOK_WEBHOOK_SECRETS", WHSEC),
        ("PAYHOOK_STRIPE_API_KEY", API_KEY),
    ];
    for (kid, public, issuer) in [("old", &old, &issuer), ("new", &new, &issuer2)] {
        let bundle = ok(
            &[
                "seal",
                "--subscriber",
                "acme",
                "--public-key",
                public,
                "--kid",
                kid,
                "--mode",
                "test",
                "--issuer-key-file",
                issuer.to_str().unwrap(),
            ],
            &env,
        );
        assert_eq!(keys.open(bundle.trim()).expect("opens").key_id, kid);
    }
    let again = payhook(&["keygen", "--kid", "old", "--add-to", path], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds key id"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn seal_takes_secrets_only_from_the_environment() {
    let out = payhook(
        &[
            "seal",
            "--subscriber",
            "acme",
            "--public-key",
            "AAAA",
            "--kid",
            "k",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // The public key is checked first; give a real one to reach the secrets.
    assert!(err.contains("--public-key"), "{err}");
    let dir = temp_dir("seal-env");
    let (out, _, issuer) = keygen(&dir, "k");
    let public = public_key_of(&out);
    let seal = |issuer_args: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "seal",
            "--subscriber",
            "acme",
            "--public-key",
            &public,
            "--kid",
            "k",
        ];
        args.extend_from_slice(issuer_args);
        payhook(&args, env)
    };
    // The issuer key: from a file or the environment, never an argument.
    let out = seal(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PAYHOOK_ISSUER_KEY") && err.contains("never taken as arguments"),
        "{err}"
    );
    let issuer_file = ["--issuer-key-file", issuer.to_str().unwrap()];
    let out = seal(&issuer_file, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PAYHOOK_WEBHOOK_SECRETS") && err.contains("never taken as arguments"),
        "{err}"
    );
    // A test key sealed for a live deployment (the default mode) is warned about.
    let issuer_json = std::fs::read_to_string(&issuer).unwrap();
    let out = seal(
        &[],
        &[
            ("PAYHOOK_ISSUER_KEY", &issuer_json),
            ("PAYHOOK_WEBHOOK_SECRETS", WHSEC),
            ("PAYHOOK_STRIPE_API_KEY", API_KEY),
        ],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("test key but --mode is live"),
        "{err}"
    );
    let help = ok(&["seal", "--help"], &[]);
    assert!(
        !help.contains("--webhook-secret")
            && !help.contains("--api-key")
            && !help.contains("--issuer-key "),
        "{help}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn send_then_local_credits_once_and_dead_letters_the_forged() {
    let dir = temp_dir("local");
    let (out, keyset, issuer) = keygen(&dir, "k1");
    let public = public_key_of(&out);
    let bundle = ok(
        &[
            "seal",
            "--subscriber",
            "acme",
            "--public-key",
            &public,
            "--kid",
            "k1",
            "--mode",
            "test",
            "--issuer-key-file",
            issuer.to_str().unwrap(),
        ],
        &[
            ("PAYHOOK_WEBHOOK_SECRETS", WHSEC),
            ("PAYHOOK_STRIPE_API_KEY", API_KEY),
        ],
    );
    let bundle_file = dir.join("acme.bundle");
    std::fs::write(&bundle_file, bundle.trim()).unwrap();
    let bundle_arg = format!("@{}", bundle_file.display());
    let vars = provision(&keyset, "cli-local");
    let queue = &vars["QUEUE_URL"];
    let stripe = std::env::var("STRIPE_API_BASE").unwrap();
    let pi = ok(
        &[
            "dev",
            "demo-intent",
            "--stripe-base",
            &stripe,
            "--payment-id",
            "order-cli-2",
        ],
        &[("PAYHOOK_STRIPE_API_KEY", API_KEY)],
    );
    for (body, forge) in [
        ("charge.succeeded", false),
        ("payment_intent.succeeded", false),
        ("checkout.session.completed", false),
        ("payment_intent.succeeded", true),
    ] {
        let path = format!("events/stripe/{body}.json");
        let mut args = vec![
            "dev",
            "send",
            "--queue-url",
            queue,
            "--body",
            &path,
            "--subscriber",
            "acme",
            "--bundle",
            &bundle_arg,
            "--payment-intent",
            pi.trim(),
        ];
        if forge {
            args.push("--forge");
        }
        let out = ok(&args, &[("PAYHOOK_WEBHOOK_SECRET", WHSEC)]);
        assert!(out.starts_with("sent evt_"), "{out}");
    }

    let mut env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("STRIPE_API_BASE", &stripe));
    let out = payhook(
        &[
            "dev",
            "local",
            "--queue-url",
            queue,
            "--until-idle",
            "2",
            "--wait-secs",
            "1",
        ],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let notices = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        notices.matches("\"outcome\":\"credited\"").count(),
        1,
        "{notices}"
    );
    assert_eq!(
        notices.matches("\"outcome\":\"duplicate\"").count(),
        2,
        "{notices}"
    );
    assert_eq!(
        notices.matches("\"outcome\":\"dead_lettered\"").count(),
        1,
        "{notices}"
    );

    let aws = emulators::aws_config_for(&std::env::var("AWS_ENDPOINT_URL").unwrap()).await;
    let record = emulators::payment_record(&aws, &vars["PAYMENTS_TABLE"], "acme", "order-cli-2")
        .await
        .unwrap()
        .expect("record");
    assert_eq!(record["paid"], 1);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    // The forged one waits in the rejected queue, apart from what needs an operator.
    let letters = redrive::list(&sqs, &vars["REJECTED_QUEUE_URL"], 100, 5)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason.as_deref(), Some("bad_signature"));
    assert!(
        redrive::list(&sqs, &vars["DEAD_LETTER_QUEUE_URL"], 100, 5)
            .await
            .unwrap()
            .is_empty()
    );
    // Everything handled was deleted from the webhook queue.
    let left = sqs
        .receive_message()
        .queue_url(queue)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(left.messages().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// Dead letters from a key rotation gone wrong: bundles sealed to a key the consumer did not
/// have yet. Listing leaves them in place; an interrupted redrive, then a full one, moves them
/// back; the consumer with the new key set credits each payment once.
#[tokio::test]
async fn dlq_list_then_interrupted_and_filtered_redrive_lose_nothing() {
    let mut stack = Stack::new().await;
    stack.rereading_keys_every_time().await;
    let dlq_url = stack.config.dead_letter_queue_url.clone().expect("DLQ");
    let queue_url = emulators::create_queue_with_dlq(
        &stack.aws,
        &format!("{}-q", stack.config.payments_table),
        &dlq_url,
        5,
        1,
    )
    .await
    .expect("queue");
    let (new_public, new_key) = payhook::sealed::generate_key("it-key-2").unwrap();
    let new_bundle = stack
        .keys
        .seal_to(&new_public, "it-key-2", SUBSCRIBER, &[WHSEC], API_KEY);
    let p1 = stack.intent("order-dlq-1", 1100).await;
    let p2 = stack.intent("order-dlq-2", 2200).await;
    let b1 = sample_body("payment_intent.succeeded", &p1);
    let b2 = sample_body("charge.succeeded", &p2);
    let forged_body = sample_body("payment_intent.succeeded", &p1);
    let unknown_key = |id, body| Msg {
        bundle: &new_bundle,
        ..good(&stack, id, body)
    };
    let forged = Msg {
        secret: "whsec_attacker",
        ..good(&stack, "m-forged", &forged_body)
    };
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            unknown_key("m-1", &b1).sqs(),
            unknown_key("m-2", &b2).sqs(),
            forged.sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());

    // List twice: looking consumes nothing.
    for _ in 0..2 {
        let out = ok(&["dlq", "list", "--dlq-url", &dlq_url, "--json"], &[]);
        let mut reasons: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json line")["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            ["bad_signature", "unopenable_bundle", "unopenable_bundle"]
        );
    }
    let table = ok(&["dlq", "list", "--dlq-url", &dlq_url], &[]);
    assert!(
        table.contains("unopenable_bundle") && table.contains("payment_intent.succeeded"),
        "{table}"
    );

    // The fix: the new key joins the key set, and a fresh consumer (cold start) reads it.
    let doc = serde_json::to_value(&payhook::sealed::KeySetDocument {
        version: payhook::sealed::KEYSET_VERSION,
        keys: vec![new_key],
        issuers: Vec::new(),
    })
    .unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&stack.aws);
    let old = sm
        .get_secret_value()
        .secret_id(&stack.config.keyset_secret_id)
        .send()
        .await
        .unwrap();
    let mut merged: serde_json::Value = serde_json::from_str(old.secret_string().unwrap()).unwrap();
    merged["keys"]
        .as_array_mut()
        .unwrap()
        .extend(doc["keys"].as_array().unwrap().iter().cloned());
    sm.put_secret_value()
        .secret_id(&stack.config.keyset_secret_id)
        .secret_string(merged.to_string())
        .send()
        .await
        .unwrap();
    let fixed = stack.second_consumer().await;

    // A redrive that stops right after its first send, as a crash there would.
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let filter = redrive::Filter {
        reason: Some(Reason::UnopenableBundle),
        ..redrive::Filter::default()
    };
    let partial = redrive::redrive(
        &sqs,
        &dlq_url,
        &queue_url,
        &filter,
        &HashMap::new(),
        |_, _| ControlFlow::Break(()),
    )
    .await
    .unwrap();
    assert_eq!((partial.moved, partial.selected), (1, 2));
    assert_eq!(
        redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap().len(),
        3,
        "nothing deleted yet"
    );

    let out = ok(
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            &dlq_url,
            "--queue-url",
            &queue_url,
            "--reason",
            "unopenable_bundle",
        ],
        &[],
    );
    assert!(out.contains("2 moved") && out.contains("1 left"), "{out}");
    let rest = redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].reason.as_deref(), Some("bad_signature"));

    // Three messages on the queue (one duplicated by the interruption): each payment once.
    let (logs, _guard) = Logs::capture();
    let mut handled = 0;
    for _ in 0..10 {
        let polled = poller::poll_once(&sqs, &queue_url, &fixed, 1)
            .await
            .unwrap();
        handled += polled.deleted;
        if polled.received == 0 && handled >= 3 {
            break;
        }
    }
    assert_eq!(handled, 3, "{}", logs.text());
    let mut outcomes = logs.outcomes();
    outcomes.sort();
    assert_eq!(outcomes, ["credited", "credited", "duplicate"]);
    assert_eq!(
        stack.record(SUBSCRIBER, "order-dlq-1").await.unwrap()["paid"],
        1
    );
    assert_eq!(
        stack.record(SUBSCRIBER, "order-dlq-2").await.unwrap()["paid"],
        1
    );
}

#[test]
fn a_redrive_reason_the_consumer_never_writes_is_a_usage_error() {
    let out = payhook(
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            "http://127.0.0.1:9/000000000000/dlq",
            "--queue-url",
            "http://127.0.0.1:9/000000000000/q",
            "--reason",
            "bad_signatur",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad_signatur"), "{stderr}");
    for reason in Reason::ALL {
        assert!(
            stderr.contains(reason.as_str()),
            "{reason} not offered: {stderr}"
        );
    }
}

#[test]
fn without_aws_credentials_dlq_list_says_so_in_one_line() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_payhook"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .args([
            "dlq",
            "list",
            // A closed local port: nothing leaves this machine, whatever the SDK tries.
            "--endpoint",
            "http://127.0.0.1:9",
            "--dlq-url",
            "http://127.0.0.1:9/000000000000/dlq",
        ])
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run payhook");
    assert_eq!(out.status.code(), Some(1), "a failed command exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("payhook: ReceiveMessage on "), "{line}");
    assert!(line.contains("no AWS credentials were found"), "{line}");
    assert!(
        line.contains("AWS_PROFILE"),
        "says how to provide them: {line}"
    );
    assert!(line.len() < 400, "{} characters: {line}", line.len());
}

/// A subscriber's bundle held a wrong `whsec_`: every delivery was dead-lettered as a bad
/// signature. A redrive with the corrected bundle (checked against the key set first) sends
/// them back with it, and each payment is credited exactly once. A corrected bundle that names
/// another subscriber, or that no trusted issuer signed, moves nothing.
#[tokio::test]
async fn redrive_with_a_corrected_bundle_credits_what_the_old_one_dead_lettered() {
    let stack = Stack::new().await;
    let dlq_url = stack.config.dead_letter_queue_url.clone().expect("DLQ");
    let queue_url = emulators::create_queue_with_dlq(
        &stack.aws,
        &format!("{}-q", stack.config.payments_table),
        &dlq_url,
        5,
        1,
    )
    .await
    .expect("queue");
    let wrong = stack.seal(SUBSCRIBER, &["whsec_mistyped"], API_KEY);
    let p1 = stack.intent("order-rebundle-1", 1300).await;
    let p2 = stack.intent("order-rebundle-2", 1400).await;
    let (b1, b2) = (
        sample_body("payment_intent.succeeded", &p1),
        sample_body("charge.succeeded", &p2),
    );
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            Msg {
                bundle: &wrong,
                ..good(&stack, "m-wrong-1", &b1)
            }
            .sqs(),
            Msg {
                bundle: &wrong,
                ..good(&stack, "m-wrong-2", &b2)
            }
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let letters = redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.reason.as_deref() == Some("bad_signature"))
    );

    let dir = temp_dir("rebundle");
    let write = |name: &str, bundle: &str| {
        let path = dir.join(name);
        std::fs::write(&path, bundle).unwrap();
        format!("{SUBSCRIBER}=@{}", path.display())
    };
    let env = [("KEYSET_SECRET_ID", stack.config.keyset_secret_id.as_str())];
    let redrive_with = |rebundle: &str| {
        payhook(
            &[
                "dlq",
                "redrive",
                "--dlq-url",
                &dlq_url,
                "--queue-url",
                &queue_url,
                "--rebundle",
                rebundle,
            ],
            &env,
        )
    };
    // Refused before anything moves: another subscriber's bundle, an unsigned one.
    let globex = write("globex.bundle", &stack.seal("globex", &[WHSEC], API_KEY));
    let unsigned = write(
        "unsigned.bundle",
        &payhook::sealed::seal_raw(&stack.keys.public, &stack.keys.kid, b"{\"v\":1}").unwrap(),
    );
    for bad in [&globex, &unsigned] {
        let out = redrive_with(bad);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--rebundle acme"), "{err}");
    }
    assert_eq!(
        redrive::list(&sqs, &dlq_url, 100, 5).await.unwrap().len(),
        2
    );

    let corrected = write("acme.bundle", &stack.bundle);
    let out = redrive_with(&corrected);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 moved"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("signed by issuer it-key-issuer"));

    let (logs, _guard) = Logs::capture();
    let mut handled = 0;
    for _ in 0..10 {
        let polled = poller::poll_once(&sqs, &queue_url, &stack.consumer, 1)
            .await
            .unwrap();
        handled += polled.deleted;
        if polled.received == 0 && handled >= 2 {
            break;
        }
    }
    assert_eq!(handled, 2, "{}", logs.text());
    assert_eq!(logs.outcomes(), ["credited", "credited"]);
    for order in ["order-rebundle-1", "order-rebundle-2"] {
        assert_eq!(stack.record(SUBSCRIBER, order).await.unwrap()["paid"], 1);
    }
    assert!(
        redrive::list(&sqs, &dlq_url, 100, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Payments confirmed on localstripe whose webhooks never came (two of three): reconcile lists
/// the events Stripe raised and credits each once; the one that did arrive counts as already
/// credited; a second run over the same window changes nothing.
#[tokio::test]
async fn reconcile_credits_what_never_arrived_once_and_a_second_run_changes_nothing() {
    let stack = Stack::new().await;
    let since = now_ms() / 1000 - 1;
    let missed_1 = stack.intent("order-recon-1", 1700).await;
    let missed_2 = stack.intent("order-recon-2", 1800).await;
    let delivered = stack.intent("order-recon-3", 1900).await;
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            good(
                &stack,
                "m-recon-3",
                &sample_body("payment_intent.succeeded", &delivered),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    // Every event of the window exists before the first run lists it.
    let until = now_ms() / 1000;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let dir = temp_dir("reconcile");
    let bundle = dir.join("acme.bundle");
    std::fs::write(&bundle, &stack.bundle).unwrap();
    let bundle_arg = format!("@{}", bundle.display());
    let (since, until) = (since.to_string(), until.to_string());
    let stripe = required_env("STRIPE_API_BASE");
    let env = [
        ("PAYMENTS_TABLE", stack.config.payments_table.as_str()),
        ("IDEMPOTENCY_TABLE", stack.config.idempotency_table.as_str()),
        ("UNAPPLIED_TABLE", stack.config.unapplied_table.as_str()),
        ("KEYSET_SECRET_ID", stack.config.keyset_secret_id.as_str()),
        ("PAYHOOK_MODE", "test"),
        ("STRIPE_API_BASE", stripe.as_str()),
    ];
    let run = || {
        let out = payhook(
            &[
                "reconcile",
                "--subscriber",
                SUBSCRIBER,
                "--bundle",
                &bundle_arg,
                "--since",
                &since,
                "--until",
                &until,
            ],
            &env,
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let summary = String::from_utf8_lossy(&out.stdout).into_owned();
        // "reconcile done: N events, C credited, A already credited, …"
        let count = |what: &str| -> usize {
            summary
                .split(", ")
                .find_map(|part| {
                    part.trim_start_matches("reconcile done: ")
                        .strip_suffix(what)
                })
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {what:?} in {summary}"))
        };
        (count(" credited"), count(" already credited"), stderr)
    };

    let (credited, already, progress) = run();
    // Other tests share localstripe and may add events to the window: at least ours.
    assert!(credited >= 2, "{progress}");
    assert!(already >= 1, "the delivered one: {progress}");
    for (order, pi) in [
        ("order-recon-1", &missed_1),
        ("order-recon-2", &missed_2),
        ("order-recon-3", &delivered),
    ] {
        let record = stack.record(SUBSCRIBER, order).await.expect("credited");
        assert_eq!(record["paid"], 1, "{order}");
        assert_eq!(record["last_payment_intent"], pi.as_str());
    }
    assert!(
        progress.contains(&missed_1) && progress.contains("credited"),
        "progress names each event: {progress}"
    );

    let (credited_again, already_again, _) = run();
    assert_eq!(credited_again, 0, "nothing is applied twice");
    assert_eq!(already_again, credited + already);
    for order in ["order-recon-1", "order-recon-2", "order-recon-3"] {
        assert_eq!(stack.record(SUBSCRIBER, order).await.unwrap()["paid"], 1);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A payment kept as unapplied (its PaymentIntent names no record) is listed and assigned by
/// the operator, through the exactly-once ledger: a second assignment changes nothing.
#[tokio::test]
async fn unapplied_money_is_listed_and_applied_once() {
    let stack = Stack::new().await;
    let pi = stack.intent_with(None, 3300, "eur").await;
    let r = stack
        .consumer
        .handle(delivery::sqs_event(vec![
            good(
                &stack,
                "m-unapplied",
                &sample_body("payment_intent.succeeded", &pi),
            )
            .sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let stripe = required_env("STRIPE_API_BASE");
    let env = [
        ("PAYMENTS_TABLE", stack.config.payments_table.as_str()),
        ("IDEMPOTENCY_TABLE", stack.config.idempotency_table.as_str()),
        ("UNAPPLIED_TABLE", stack.config.unapplied_table.as_str()),
        ("KEYSET_SECRET_ID", stack.config.keyset_secret_id.as_str()),
        ("STRIPE_API_BASE", stripe.as_str()),
    ];
    let listed = ok(&["unapplied", "list", "--subscriber", SUBSCRIBER], &env);
    assert!(
        listed.contains(&pi) && listed.contains("no_payment_id"),
        "{listed}"
    );
    assert!(
        listed.contains("3300") && listed.contains("unapplied"),
        "{listed}"
    );

    let apply = [
        "unapplied",
        "apply",
        "--subscriber",
        SUBSCRIBER,
        "--intent",
        &pi,
        "--payment-id",
        "order-assigned-1",
    ];
    let out = ok(&apply, &env);
    assert!(
        out.contains("credited 3300 eur to acme/order-assigned-1"),
        "{out}"
    );
    let again = payhook(&apply, &env);
    assert_eq!(again.status.code(), Some(2), "applied once only");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("is already applied (to order-assigned-1)"),
        "{err}"
    );
    let record = stack
        .record(SUBSCRIBER, "order-assigned-1")
        .await
        .expect("record");
    assert_eq!(record["paid"], 1);
    assert_eq!(record["amount_received"], 3300);

    let json = ok(&["unapplied", "list", "--json"], &env);
    let item: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(item["status"], "applied");
    assert_eq!(item["applied_payment_id"], "order-assigned-1");
    let missing = payhook(
        &[
            "unapplied",
            "apply",
            "--subscriber",
            SUBSCRIBER,
            "--intent",
            "pi_Nope",
            "--payment-id",
            "x",
        ],
        &env,
    );
    assert_eq!(missing.status.code(), Some(2));
}

/// `seal --notify-url` generates the notification secret, shows it once on stderr (never in
/// the bundle's stdout), and the bundle carries the endpoint; a live bundle refuses http.
#[test]
fn seal_generates_the_notification_secret_and_shows_it_once() {
    let dir = temp_dir("seal-notify");
    let (out, keyset, issuer) = keygen(&dir, "k");
    let public = public_key_of(&out);
    let issuer_json = std::fs::read_to_string(&issuer).unwrap();
    let env = [
        ("PAYHOOK_ISSUER_KEY", issuer_json.as_str()),
        ("PAYHOOK_WEBHOOK_SECRETS", WHSEC),
        ("PAYHOOK_STRIPE_API_KEY", API_KEY),
    ];
    let seal = |mode: &str, url: &str, env: &[(&str, &str)]| {
        payhook(
            &[
                "seal",
                "--subscriber",
                "acme",
                "--public-key",
                &public,
                "--kid",
                "k",
                "--mode",
                mode,
                "--notify-url",
                url,
            ],
            env,
        )
    };
    let out = seal("test", "http://127.0.0.1:9/hooks", &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    let secret = err
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("no secret shown: {err}"))
        .to_string();
    assert!(!bundle.contains("whsec_"), "the bundle is sealed");
    let opened = payhook::sealed::KeySet::from_json(&std::fs::read_to_string(&keyset).unwrap())
        .unwrap()
        .open(&bundle)
        .unwrap();
    let notify = opened.notify.expect("the bundle carries the endpoint");
    assert_eq!(notify.url, "http://127.0.0.1:9/hooks");
    use secrecy::ExposeSecret;
    assert_eq!(notify.secret.expose_secret(), secret);
    // Another seal makes another secret, unless PAYHOOK_NOTIFY_SECRET keeps it.
    let again = seal("test", "http://127.0.0.1:9/hooks", &env);
    assert!(again.status.success());
    let again_err = String::from_utf8_lossy(&again.stderr);
    let other = again_err
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("no secret shown: {again_err}"));
    assert_ne!(other, secret);
    let mut kept_env = env.to_vec();
    kept_env.push(("PAYHOOK_NOTIFY_SECRET", secret.as_str()));
    let kept = seal("test", "https://shop.example/hooks", &kept_env);
    assert!(kept.status.success());
    assert!(
        !String::from_utf8_lossy(&kept.stderr).contains("whsec_"),
        "not shown again"
    );
    // A live bundle names an https endpoint.
    let live = seal("live", "http://shop.example/hooks", &env);
    assert_eq!(live.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&live.stderr).contains("only https"));
    let weak = seal(
        "test",
        "https://shop.example/",
        &[&env[..], &[("PAYHOOK_NOTIFY_SECRET", "whsec_c2hvcnQ=")]].concat(),
    );
    assert_eq!(weak.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

/// `notifications list` shows a credit's notification with every attempt; `resend` makes a
/// delivered one due again, and the notifier sends it with the same webhook-id.
#[tokio::test]
async fn notifications_are_listed_with_their_attempts_and_resent() {
    use payhook::notifier::{Notifier, NotifierConfig};
    let stack = Stack::new().await;
    let receiver = payhook_testkit::receiver::Receiver::start(1).await;
    let secret = payhook::notification::generate_secret();
    let bundle = stack
        .keys
        .seal_notifying(SUBSCRIBER, &[WHSEC], API_KEY, &receiver.url, &secret);
    let prefix = format!("/{}", stack.config.payments_table);
    aws_sdk_ssm::Client::new(&stack.aws)
        .put_parameter()
        .name(format!("{prefix}/{SUBSCRIBER}/bundle"))
        .value(&bundle)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("bundle into SSM");
    let pi = stack.intent("order-cli-notify", 2500).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let msg = Msg {
        bundle: &bundle,
        ..good(&stack, "m-cli-notify", &body)
    };
    stack
        .consumer
        .handle(delivery::sqs_event(vec![msg.sqs()]))
        .await
        .expect("batch");
    let table = stack.config.notifications_table.clone().expect("table");
    let dlq = emulators::create_queue(&stack.aws, &format!("{table}-dlq"))
        .await
        .expect("notification DLQ");
    let config = NotifierConfig::from_lookup(|k| match k {
        "NOTIFICATION_DLQ_URL" => Some(dlq.clone()),
        "NOTIFICATIONS_TABLE" => Some(table.clone()),
        "PAYMENTS_TABLE" => Some(stack.config.payments_table.clone()),
        "KEYSET_SECRET_ID" => Some(stack.config.keyset_secret_id.clone()),
        "SUBSCRIBER_PARAMETER_PREFIX" => Some(prefix.clone()),
        "PAYHOOK_MODE" => Some("test".into()),
        _ => None,
    })
    .unwrap();
    let notifier = Notifier::new(&config, &stack.aws, stack.keys.ring()).unwrap();
    let t0 = now_ms();
    notifier.run_due(t0, None).await;
    notifier.run_due(t0 + 10 * 60_000, None).await;
    assert_eq!(receiver.received().len(), 2);

    let env = [("NOTIFICATIONS_TABLE", table.as_str())];
    let listed = ok(
        &[
            "notifications",
            "list",
            "--subscriber",
            SUBSCRIBER,
            "--payment",
            "order-cli-notify",
        ],
        &env,
    );
    assert!(
        listed.contains(&format!("msg_{pi}")) && listed.contains("delivered after 2 attempt(s)"),
        "{listed}"
    );
    assert!(
        listed.contains("#1") && listed.contains("HTTP 500") && listed.contains("[retry]"),
        "{listed}"
    );
    assert!(
        listed.contains("#2") && listed.contains("HTTP 200") && listed.contains("[delivered]"),
        "{listed}"
    );
    assert!(listed.contains(&receiver.url), "{listed}");
    let json = ok(&["notifications", "list", "--json"], &env);
    let line: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(line["notification"]["status"], "delivered");
    assert_eq!(line["attempts"].as_array().map(Vec::len), Some(2));
    let none = ok(
        &["notifications", "list", "--payment", "order-nobody"],
        &env,
    );
    assert!(none.is_empty(), "{none}");

    let out = ok(
        &[
            "notifications",
            "resend",
            "--subscriber",
            SUBSCRIBER,
            "--payment",
            "order-cli-notify",
        ],
        &env,
    );
    assert!(out.contains("due again"), "{out}");
    notifier.run_due(now_ms(), None).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].header("webhook-id"), format!("msg_{pi}"));
    assert_eq!(got[2].body, got[0].body);
    let unknown = payhook(
        &[
            "notifications",
            "resend",
            "--subscriber",
            SUBSCRIBER,
            "--id",
            "msg_nope",
        ],
        &env,
    );
    assert_eq!(unknown.status.code(), Some(2));
    let no_table = payhook(&["notifications", "list"], &[]);
    assert_eq!(no_table.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_table.stderr).contains("NOTIFICATIONS_TABLE"));
}

/// The README's rotation steps, run as written against the stack's key set secret while its
/// consumer stays warm: a new consumer key, then a new issuer, each taken by the warm consumer
/// at the first bundle that names it; deliveries sealed before the reseal keep crediting; the
/// old key and issuer removed at the end are refused by a consumer starting after.
#[tokio::test]
async fn keyset_rotation_reaches_a_warm_consumer_and_loses_nothing_in_flight() {
    let mut stack = Stack::new().await;
    // Two rotations follow each other within seconds here; the re-read cooldown (which turns
    // a bundle arriving within it into a retry) is the core rotation tests' subject.
    stack.consumer.keys = payhook::keyring::KeyRing::load_with(
        aws_sdk_secretsmanager::Client::new(&stack.aws),
        &stack.config.keyset_secret_id,
        payhook::keyring::MAX_AGE,
        std::time::Duration::ZERO,
    )
    .await
    .expect("key ring");
    let dir = temp_dir("keyset");
    let secret = stack.config.keyset_secret_id.clone();
    let sm = [("KEYSET_SECRET_ID", secret.as_str())];
    let old_issuer = dir.join("issuer.json");
    std::fs::write(&old_issuer, stack.keys.issuer.to_json().unwrap()).unwrap();
    let seal = |public: &str, kid: &str, issuer: &Path| {
        ok(
            &[
                "seal",
                "--subscriber",
                SUBSCRIBER,
                "--public-key",
                public,
                "--kid",
                kid,
                "--issuer-key-file",
                issuer.to_str().unwrap(),
                "--mode",
                "test",
            ],
            &[
                ("PAYHOOK_WEBHOOK_SECRETS", WHSEC),
                ("PAYHOOK_STRIPE_API_KEY", API_KEY),
            ],
        )
        .trim()
        .to_string()
    };
    let deliver = |consumer: &'static str, payment: &'static str, bundle: String| {
        let stack = &stack;
        async move {
            let pi = stack.intent(payment, 700).await;
            let body = sample_body("payment_intent.succeeded", &pi);
            let msg = Msg {
                bundle: &bundle,
                ..good(stack, payment, &body)
            };
            let event = delivery::sqs_event(vec![msg.sqs()]);
            let r = match consumer {
                "warm" => stack.consumer.handle(event).await,
                _ => stack.second_consumer().await.handle(event).await,
            };
            assert!(failed_ids(&r.expect("batch")).is_empty());
        }
    };
    deliver("warm", "kr-before", stack.bundle.clone()).await;

    // 1. A new consumer key, generated inside the secret.
    let added = ok(&["keyset", "add-key", "--kid", "2027-05"], &sm);
    let new_public = public_key_of(&added);
    let to_new_key = seal(&new_public, "2027-05", &old_issuer);
    deliver("warm", "kr-new-key", to_new_key).await;

    // 2. A new issuer; its private half stays with the operator.
    let new_issuer = dir.join("issuer-2027-05.json");
    let added = ok(
        &[
            "keyset",
            "add-issuer",
            "--issuer-kid",
            "op-2027-05",
            "--issuer-out",
            new_issuer.to_str().unwrap(),
        ],
        &sm,
    );
    assert!(
        added.contains("issuer=op-2027-05 issuer_public_key="),
        "{added}"
    );
    let resealed = seal(&new_public, "2027-05", &new_issuer);
    deliver("warm", "kr-new-issuer", resealed.clone()).await;
    // In flight: sealed to the old key by the old issuer, still credited.
    deliver("warm", "kr-in-flight", stack.bundle.clone()).await;

    let shown = ok(&["keyset", "show"], &sm);
    for kid in [
        stack.keys.kid.as_str(),
        "2027-05",
        stack.keys.issuer.kid(),
        "op-2027-05",
    ] {
        assert!(shown.contains(kid), "{kid} in {shown}");
    }
    assert!(!shown.contains("secret_key"), "{shown}");

    // 3. Once no message sealed to the old key or signed by the old issuer can remain.
    ok(&["keyset", "remove", "--kid", &stack.keys.kid], &sm);
    ok(&["keyset", "remove", "--kid", stack.keys.issuer.kid()], &sm);
    let refused = payhook(&["keyset", "remove", "--kid", "2027-05"], &sm);
    assert_eq!(refused.status.code(), Some(2), "the last key stays");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("last consumer key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    deliver("cold", "kr-after", resealed).await;
    let pi = stack.intent("kr-old-after", 700).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let r = stack
        .second_consumer()
        .await
        .handle(delivery::sqs_event(vec![
            good(&stack, "kr-old-after", &body).sqs(),
        ]))
        .await
        .expect("batch");
    assert!(failed_ids(&r).is_empty());
    let reasons: Vec<String> = stack
        .dead_letters()
        .await
        .into_iter()
        .map(|(_, a)| a["failure-reason"].clone())
        .collect();
    assert_eq!(reasons, ["unopenable_bundle"]);

    for payment in [
        "kr-before",
        "kr-new-key",
        "kr-new-issuer",
        "kr-in-flight",
        "kr-after",
    ] {
        assert_eq!(
            stack.record(SUBSCRIBER, payment).await.expect(payment)["paid"],
            1,
            "{payment}"
        );
    }
    assert!(stack.record(SUBSCRIBER, "kr-old-after").await.is_none());
    let _ = std::fs::remove_dir_all(dir);
}

/// Plays Lambda's part for `payhook stack check` run as a process: polls the queue with the
/// consumer and ships its log lines to the log group, until the check ends. Returns its output.
async fn stack_check_against(
    stack: &Stack,
    queue: &str,
    log_group: &str,
    stack_name: &str,
    secret: &str,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_payhook"))
        .args([
            "stack",
            "check",
            "--stack",
            stack_name,
            "--subscriber",
            SUBSCRIBER,
            "--timeout-secs",
            "20",
        ])
        .env("PAYHOOK_WEBHOOK_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run payhook stack check");
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    while child.try_wait().expect("the check's status").is_none() {
        let (logs, _guard) = Logs::capture();
        poller::poll_once(&sqs, queue, &stack.consumer, 1)
            .await
            .expect("poll the queue");
        let lines: Vec<String> = logs.text().lines().map(str::to_string).collect();
        payhook_testkit::deployed::ship_logs(&stack.aws, log_group, &lines)
            .await
            .expect("ship the consumer's lines to its log group");
    }
    child.wait_with_output().expect("the check's output")
}

/// `payhook stack check` against the local stack: the stack's outputs from CloudFormation
/// (moto), a signed delivery through the webhook URL (the local ingress, which writes the
/// receive time in seconds as an HTTP API does), the consumer's notice read back from its log
/// group. A wrong secret fails in one line naming the reason.
#[tokio::test]
async fn stack_check_sends_through_the_webhook_url_and_reads_the_consumers_notice() {
    let stack = Stack::new().await;
    let queue = emulators::create_queue(&stack.aws, &unique("check-q"))
        .await
        .expect("queue");
    let ingress = payhook_testkit::ingress::Ingress::start(
        stack.aws.clone(),
        &queue,
        [(SUBSCRIBER.to_string(), stack.bundle.clone())].into(),
        0,
    )
    .await
    .expect("local ingress");
    let log_group = format!("/aws/lambda/{}", unique("consumer"));
    let stack_name = unique("payhook-check");
    payhook_testkit::deployed::create_stack(
        &stack.aws,
        &stack_name,
        ingress.url.trim_end_matches('/'),
        &log_group,
        "test",
    )
    .await
    .expect("a stack on moto");

    let passed = stack_check_against(&stack, &queue, &log_group, &stack_name, WHSEC).await;
    let (out, err) = (
        String::from_utf8_lossy(&passed.stdout),
        String::from_utf8_lossy(&passed.stderr),
    );
    assert!(passed.status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("stack {stack_name} ok: evt_payhook_check_")),
        "{out}"
    );
    assert!(
        out.contains("acknowledged it (event type not handled)"),
        "{out}"
    );

    let failed =
        stack_check_against(&stack, &queue, &log_group, &stack_name, "whsec_not_acmes").await;
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("payhook: the consumer's notice for evt_payhook_check_")
            && last.contains("outcome dead_lettered (bad_signature)"),
        "{err}"
    );
}
