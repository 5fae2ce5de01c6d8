use super::*;

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
