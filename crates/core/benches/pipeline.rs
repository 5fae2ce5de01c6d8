//! Per-message CPU path: envelope, bundle open (X25519 + XSalsa20-Poly1305, and the cached
//! path), signature, event parse, and the whole path uncached and cached, for two real-sized
//! bodies:
//! - `charge.succeeded`, events/stripe/charge.succeeded.json as sent (3.3 KB);
//! - `payment_intent.succeeded` as API versions before 2022-11-15 send it, with the charge list
//!   embedded (events/stripe/payment_intent.succeeded.json + that charge, 5.9 KB).
//!
//! The bundle holds one webhook secret, the usual case; the signature is also measured against
//! two, as while one is being rolled. `cargo bench --bench pipeline`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use payhook::inbound::Delivery;
use payhook::secrets::BundleCache;
use payhook_testkit::delivery::DeliverySpec;
use payhook_testkit::keys::TestKeys;
use secrecy::SecretString;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use sha2::Sha256;

const RECEIVED_AT_MS: i64 = 1_764_000_002_000;
const WHSEC: &str = "whsec_bench";

fn bodies() -> Vec<(&'static str, String)> {
    let charge = include_str!("../../../events/stripe/charge.succeeded.json");
    let mut intent: Value = serde_json::from_str(include_str!(
        "../../../events/stripe/payment_intent.succeeded.json"
    ))
    .unwrap();
    let charge_object = serde_json::from_str::<Value>(charge).unwrap()["data"]["object"].clone();
    intent["api_version"] = json!("2020-08-27");
    intent["data"]["object"]["charges"] = json!({
        "object": "list",
        "data": [charge_object],
        "has_more": false,
        "total_count": 1,
        "url": "/v1/charges?payment_intent=pi_3SampleIntent000001",
    });
    let intent = serde_json::to_string_pretty(&intent).unwrap();
    vec![("charge_3k", charge.to_string()), ("intent_6k", intent)]
}

fn message(bundle: &str, body: &str) -> aws_lambda_events::event::sqs::SqsMessage {
    let header =
        payhook::inbound::sign_stripe_signature(WHSEC, RECEIVED_AT_MS / 1000, body.as_bytes());
    DeliverySpec {
        message_id: "m-bench",
        body,
        subscriber: "acme",
        signature_header: &header,
        received_at_ms: RECEIVED_AT_MS,
        sealed_bundle: bundle,
    }
    .sqs_message()
}

fn per_message(c: &mut Criterion) {
    let test_keys = TestKeys::new("bench");
    let keys = test_keys.key_set();
    let sealed_bundle = test_keys.seal("acme", &[WHSEC], "sk_test_bench");
    let rolling = [
        SecretString::from("whsec_bench_old"),
        SecretString::from(WHSEC),
    ];
    for (name, body) in bodies() {
        let msg = message(&sealed_bundle, &body);
        let delivery = Delivery::from_sqs("m-bench", &msg, RECEIVED_AT_MS).unwrap();
        let bundle = keys.open(delivery.sealed_bundle).unwrap();
        let cache = BundleCache::default();
        cache.open(&keys, delivery.sealed_bundle).unwrap();
        let verify = |secrets: &[SecretString]| {
            payhook::inbound::verify_stripe_signature(
                black_box(delivery.signature_header),
                black_box(delivery.body.as_bytes()),
                secrets,
                delivery.received_at_secs(),
                300,
            )
            .unwrap()
        };

        let mut g = c.benchmark_group(format!("per_message/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("envelope_parse", |b| {
            b.iter(|| {
                Delivery::from_sqs(black_box("m-bench"), black_box(&msg), RECEIVED_AT_MS).unwrap()
            })
        });
        g.bench_function("bundle_open_uncached", |b| {
            b.iter(|| keys.open(black_box(delivery.sealed_bundle)).unwrap())
        });
        g.bench_function("bundle_open_cached", |b| {
            b.iter(|| {
                cache
                    .open(&keys, black_box(delivery.sealed_bundle))
                    .unwrap()
            })
        });
        g.bench_function("signature_verify", |b| {
            b.iter(|| verify(&bundle.webhook_secrets))
        });
        g.bench_function("signature_verify_second_of_two_secrets", |b| {
            b.iter(|| verify(&rolling))
        });
        g.bench_function("event_parse", |b| {
            b.iter(|| payhook::inbound::parse_event(black_box(delivery.body)).unwrap())
        });
        // What event parsing cost before it borrowed: the body read into a serde_json::Value.
        g.bench_function("event_parse_into_value_before", |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(delivery.body)).unwrap())
        });
        // Floors: what any verifier pays whatever it is built from. One HMAC-SHA256 over the
        // signed payload (sha2 uses the CPU's SHA extensions where it has them), and serde_json
        // reading the body while keeping nothing. The cached path cannot go below their sum, so
        // "uncached / (their sum)" bounds the ratio the cache can show for a whole message.
        g.bench_function("floor_hmac_sha256_only", |b| {
            b.iter(|| {
                let mut mac = Hmac::<Sha256>::new_from_slice(WHSEC.as_bytes()).unwrap();
                mac.update(b"1764000000.");
                mac.update(black_box(delivery.body.as_bytes()));
                mac.finalize().into_bytes()
            })
        });
        g.bench_function("floor_json_read_keeping_nothing", |b| {
            b.iter(|| serde_json::from_str::<IgnoredAny>(black_box(delivery.body)).unwrap())
        });
        for (path, cached) in [("cpu_path_uncached", false), ("cpu_path_cached", true)] {
            g.bench_function(path, |b| {
                b.iter(|| {
                    let d = Delivery::from_sqs("m-bench", black_box(&msg), RECEIVED_AT_MS).unwrap();
                    let opened = if cached {
                        cache.open(&keys, d.sealed_bundle).unwrap()
                    } else {
                        Arc::new(keys.open(d.sealed_bundle).unwrap())
                    };
                    opened.ensure_subscriber(d.subscriber).unwrap();
                    payhook::inbound::verify_stripe_signature(
                        d.signature_header,
                        d.body.as_bytes(),
                        &opened.webhook_secrets,
                        d.received_at_secs(),
                        300,
                    )
                    .unwrap();
                    payhook::inbound::parse_event(d.body).unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, per_message);
criterion_main!(benches);
