use super::*;

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
    let consumer = payhook::ops::consumer(&config_from(&vars), &aws)
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
    // Private keys are written readable by their owner only.
    #[cfg(unix)]
    for private in [&keyset, &issuer] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", private.display());
    }
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
        payhook::secrets::KeySet::from_json(&std::fs::read_to_string(&keyset).unwrap()).unwrap();
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
    let opened = payhook::secrets::KeySet::from_json(&std::fs::read_to_string(&keyset).unwrap())
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

/// The README's rotation steps, run as written against the stack's key set secret while its
/// consumer stays warm: a new consumer key, then a new issuer, each taken by the warm consumer
/// at the first bundle that names it; deliveries sealed before the reseal keep crediting; the
/// old key and issuer removed at the end are refused by a consumer starting after.
#[tokio::test]
async fn keyset_rotation_reaches_a_warm_consumer_and_loses_nothing_in_flight() {
    let mut stack = Stack::new().await;
    // Two rotations follow each other within seconds here; the re-read cooldown (which turns
    // a bundle arriving within it into a retry) is the core rotation tests' subject.
    stack.consumer.keys = payhook::secrets::KeyRing::load_with(
        aws_sdk_secretsmanager::Client::new(&stack.aws),
        &stack.config.keyset_secret_id,
        payhook::secrets::KEYSET_MAX_AGE,
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
