//! Per-message CPU path: envelope, bundle open (X25519 + XSalsa20-Poly1305, and the cached
//! path), signature, event parse, on a real-sized Stripe event (events/stripe/charge.succeeded.json,
//! about 3.3 KB). `cargo bench --bench pipeline`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use payhook::bundle_cache::BundleCache;
use payhook::envelope::Delivery;
use payhook::local::DeliverySpec;
use payhook::sealed::{self, BundlePlaintext, KeySet, KeySetDocument};
use payhook::{event, signature};

const RECEIVED_AT_MS: i64 = 1_764_000_002_000;

fn fixture() -> (KeySet, aws_lambda_events::event::sqs::SqsMessage) {
    let (public, key) = sealed::generate_key("bench").unwrap();
    let keys = KeySet::from_json(
        &serde_json::to_string(&KeySetDocument {
            version: 1,
            keys: vec![key],
        })
        .unwrap(),
    )
    .unwrap();
    let bundle = sealed::seal(
        &public,
        "bench",
        &BundlePlaintext {
            v: 1,
            subscriber: "acme",
            webhook_secrets: &["whsec_bench_old", "whsec_bench"],
            stripe_api_key: "sk_test_bench",
        },
    )
    .unwrap();
    let body = include_str!("../events/stripe/charge.succeeded.json");
    let header = signature::sign("whsec_bench", RECEIVED_AT_MS / 1000, body.as_bytes());
    let msg = DeliverySpec {
        message_id: "m-bench",
        body,
        subscriber: "acme",
        signature_header: &header,
        received_at_ms: RECEIVED_AT_MS,
        sealed_bundle: &bundle,
    }
    .sqs_message();
    (keys, msg)
}

fn per_message(c: &mut Criterion) {
    let (keys, msg) = fixture();
    let delivery = Delivery::from_sqs("m-bench", &msg).unwrap();
    let bundle = keys.open(delivery.sealed_bundle).unwrap();
    let cache = BundleCache::default();
    cache.open(&keys, delivery.sealed_bundle).unwrap();

    let mut g = c.benchmark_group("per_message");
    g.throughput(Throughput::Elements(1));
    g.bench_function("envelope_parse", |b| {
        b.iter(|| Delivery::from_sqs(black_box("m-bench"), black_box(&msg)).unwrap())
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
        b.iter(|| {
            signature::verify(
                black_box(delivery.signature_header),
                black_box(delivery.body.as_bytes()),
                &bundle.webhook_secrets,
                delivery.received_at_secs(),
                300,
            )
            .unwrap()
        })
    });
    g.bench_function("event_parse", |b| {
        b.iter(|| event::parse(black_box(delivery.body)).unwrap())
    });
    for (name, cached) in [("cpu_path_uncached", false), ("cpu_path_cached", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let d = Delivery::from_sqs("m-bench", black_box(&msg)).unwrap();
                let opened = if cached {
                    cache.open(&keys, d.sealed_bundle).unwrap()
                } else {
                    std::sync::Arc::new(keys.open(d.sealed_bundle).unwrap())
                };
                opened.ensure_subscriber(d.subscriber).unwrap();
                signature::verify(
                    d.signature_header,
                    d.body.as_bytes(),
                    &opened.webhook_secrets,
                    d.received_at_secs(),
                    300,
                )
                .unwrap();
                event::parse(d.body).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
