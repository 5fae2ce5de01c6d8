//! Key rotation reaches a warm consumer without a redeploy: the key set is re-read from Secrets
//! Manager when a bundle names a key or issuer the loaded copy lacks (rate-limited), and when
//! the copy is older than its maximum age. Secrets Manager is moto; reads are counted by a
//! proxy in front of it.

use std::time::Duration;

use payhook::secrets::IssuerKey;
use payhook::secrets::KeyRing;
use payhook::secrets::{BundlePlaintext, KeySetDocument};
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

const GET_SECRET: &str = "secretsmanager.GetSecretValue";

/// Replaces the key set in the stack's secret, as `payhook keyset` does.
async fn put_keyset(stack: &Stack, doc: &KeySetDocument) {
    aws_sdk_secretsmanager::Client::new(&stack.aws)
        .put_secret_value()
        .secret_id(&stack.config.keyset_secret_id)
        .secret_string(doc.to_json().expect("key set JSON"))
        .send()
        .await
        .expect("put the key set on moto");
}

fn current_doc(stack: &Stack) -> KeySetDocument {
    serde_json::from_str(&stack.keys.keyset_json).expect("the stack's key set")
}

fn seal_with(public: &[u8; 32], kid: &str, issuer: &IssuerKey) -> String {
    payhook::secrets::seal(
        public,
        kid,
        issuer,
        &BundlePlaintext {
            subscriber: SUBSCRIBER,
            webhook_secrets: &[WHSEC],
            stripe_api_key: API_KEY,
            notify: None,
        },
    )
    .expect("seal")
}

/// One delivery of a new payment under `bundle`; returns the payment id.
async fn deliver(stack: &Stack, id: &str, bundle: &str) -> Vec<String> {
    let pi = stack.intent(id, 1000).await;
    let body = sample_body("payment_intent.succeeded", &pi);
    let msg = Msg {
        bundle,
        ..good(stack, id, &body)
    };
    let r = stack
        .consumer
        .handle(sqs_event(vec![msg.sqs()]))
        .await
        .expect("batch");
    failed_ids(&r)
}

fn reasons(dead: &[(String, std::collections::HashMap<String, String>)]) -> Vec<String> {
    let mut r: Vec<String> = dead
        .iter()
        .map(|(_, a)| a.get("failure-reason").cloned().unwrap_or_default())
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn a_warm_consumer_takes_a_new_key_and_issuer_with_one_read_and_made_up_ones_cost_no_more() {
    let (stack, _stripe, aws) = Stack::counted().await;
    assert_eq!(aws.requests(GET_SECRET), 1, "the cold start's read");
    assert!(deliver(&stack, "rot-old-1", &stack.bundle).await.is_empty());
    assert_eq!(aws.requests(GET_SECRET), 1, "a warm consumer reads nothing");

    // The rotation: a second consumer key and a second issuer beside the first ones.
    let new_issuer = IssuerKey::generate("op-next").expect("issuer");
    let (new_public, new_key) = payhook::secrets::generate_key("it-key-next").expect("key");
    let mut doc = current_doc(&stack);
    doc.keys.push(new_key);
    doc.issuers.push(new_issuer.trust());
    put_keyset(&stack, &doc).await;

    let resealed = seal_with(&new_public, "it-key-next", &new_issuer);
    assert!(deliver(&stack, "rot-new-1", &resealed).await.is_empty());
    assert_eq!(aws.requests(GET_SECRET), 2, "one re-read for the new key");
    // Messages queued before the reseal still carry the old bundle, and still open.
    assert!(deliver(&stack, "rot-old-2", &stack.bundle).await.is_empty());
    assert!(deliver(&stack, "rot-new-2", &resealed).await.is_empty());
    assert_eq!(aws.requests(GET_SECRET), 2);
    for payment in ["rot-old-1", "rot-new-1", "rot-old-2", "rot-new-2"] {
        assert_eq!(
            stack.record(SUBSCRIBER, payment).await.expect("credited")["paid"],
            1,
            "{payment}"
        );
    }

    // Bundles naming a key id no key set holds, within the cooldown: no read of the secret
    // however many arrive, and each is retried (a second rotation may have added the key).
    let (stranger_public, _) = payhook::secrets::generate_key("nobody").expect("key");
    let made_up = seal_with(&stranger_public, "nobody", &new_issuer);
    let (logs, _guard) = Logs::capture();
    for n in 0..5 {
        let id = format!("rot-made-up-{n}");
        assert_eq!(deliver(&stack, &id, &made_up).await, [id]);
    }
    assert_eq!(
        aws.requests(GET_SECRET),
        2,
        "unknown key ids within the cooldown read nothing"
    );
    let notices = logs.notices();
    assert_eq!(notices.len(), 5);
    for notice in notices {
        assert_eq!(notice["outcome"], "retry", "{notice}");
        assert_eq!(notice["reason"], "keyset_not_rechecked", "{notice}");
    }
    assert!(stack.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_bundle_still_naming_an_unknown_key_after_a_re_read_is_dead_lettered() {
    let mut stack = Stack::new().await;
    stack.consumer.keys = KeyRing::load_with(
        aws_sdk_secretsmanager::Client::new(&stack.aws),
        &stack.config.keyset_secret_id,
        payhook::secrets::KEYSET_MAX_AGE,
        Duration::ZERO,
    )
    .await
    .expect("key ring");
    let (stranger_public, _) = payhook::secrets::generate_key("nobody").expect("key");
    let made_up = seal_with(&stranger_public, "nobody", &stack.keys.issuer);
    assert!(deliver(&stack, "unknown-1", &made_up).await.is_empty());
    let stranger = IssuerKey::generate("mallory").expect("issuer");
    let foreign_issuer = seal_with(&stack.keys.public, &stack.keys.kid, &stranger);
    assert!(
        deliver(&stack, "unknown-2", &foreign_issuer)
            .await
            .is_empty()
    );
    assert_eq!(
        reasons(&stack.dead_letters().await),
        ["unknown_issuer", "unopenable_bundle"]
    );
}

#[tokio::test]
async fn a_removed_issuer_stops_opening_bundles_once_the_copy_is_older_than_its_max_age() {
    let mut stack = Stack::new().await;
    // Every use is past the maximum age: the removal is seen at the next message.
    stack.consumer.keys = KeyRing::load_with(
        aws_sdk_secretsmanager::Client::new(&stack.aws),
        &stack.config.keyset_secret_id,
        Duration::ZERO,
        Duration::ZERO,
    )
    .await
    .expect("key ring");
    assert!(deliver(&stack, "rm-1", &stack.bundle).await.is_empty());
    assert_eq!(stack.consumer.bundles.len(), 1, "the bundle is cached");

    // The issuer that signed acme's bundle leaked: the operator trusts a new one only.
    let mut doc = current_doc(&stack);
    doc.issuers = vec![
        IssuerKey::generate("op-after-leak")
            .expect("issuer")
            .trust(),
    ];
    put_keyset(&stack, &doc).await;

    assert!(deliver(&stack, "rm-2", &stack.bundle).await.is_empty());
    assert!(stack.record(SUBSCRIBER, "rm-2").await.is_none());
    assert_eq!(reasons(&stack.dead_letters().await), ["unknown_issuer"]);
    assert_eq!(
        stack.record(SUBSCRIBER, "rm-1").await.expect("credited")["paid"],
        1
    );
}
