//! A batch of 10 through the real consumer against moto and localstripe, with 50 ms added to
//! every Stripe request by a delaying proxy: sequential (concurrency 1) against concurrent
//! (concurrency 10), as the median over several rounds and their ratio. Needs the emulators:
//! run it with `scripts/bench.sh`, which starts them.

use std::time::{Duration, Instant};

use payhook::ledger::{Credit, Ledger};
use payhook::ops::Config;
use payhook_testkit::delivery::{self, DeliverySpec};
use payhook_testkit::keys::TestKeys;
use payhook_testkit::proxy::Proxy;
use payhook_testkit::stack::sample_body;
use payhook_testkit::{emulators, localstripe};

const LATENCY: Duration = Duration::from_millis(50);
/// Rounds under `cargo bench`; `cargo test --all-targets` runs the bench once as a smoke test.
const BENCH_ROUNDS: usize = 7;
const API_KEY: &str = "sk_test_bench";
const WHSEC: &str = "whsec_bench";

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set: run scripts/bench.sh, which starts moto and localstripe");
        std::process::exit(2)
    })
}

#[tokio::main]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds = if benching { BENCH_ROUNDS } else { 1 };
    let endpoint = required("AWS_ENDPOINT_URL");
    let stripe = required("STRIPE_API_BASE");
    let slow_stripe = Proxy::start(&stripe, LATENCY).await.expect("Stripe proxy");
    let aws = emulators::aws_config_for(&endpoint).await;
    let id = format!("bench-{}", std::process::id());
    let db = aws_sdk_dynamodb::Client::new(&aws);
    // moto deep-copies a table for every transaction on it, so a table that grew over the
    // rounds would make later rounds slower: each run credits into tables of its own.
    let fresh_ledger = async |tag: &str| {
        let (payments, idem) = (format!("{id}-{tag}-payments"), format!("{id}-{tag}-idem"));
        let unapplied = format!("{id}-{tag}-unapplied");
        let tables = emulators::Tables {
            payments: &payments,
            idempotency: &idem,
            unapplied: &unapplied,
        };
        emulators::create_tables(&aws, &tables)
            .await
            .expect("tables");
        let notifications = format!("{id}-{tag}-notifications");
        emulators::create_notifications_table(&aws, &notifications)
            .await
            .expect("notifications table");
        Ledger::new(db.clone(), payments, idem, notifications)
    };
    let keys = TestKeys::new("bench");
    let secret = emulators::put_keyset_secret(&aws, &format!("{id}-keys"), &keys.keyset_json)
        .await
        .expect("secret");
    let bundle = keys.seal("acme", &[WHSEC], API_KEY);

    let consumer_with = |concurrency: usize| {
        let (secret, slow) = (secret.clone(), slow_stripe.url.clone());
        let config = Config::from_lookup(move |k| match k {
            "PAYMENTS_TABLE" => Some("replaced-per-run".into()),
            "IDEMPOTENCY_TABLE" => Some("replaced-per-run".into()),
            "UNAPPLIED_TABLE" => Some("replaced-per-run".into()),
            "NOTIFICATIONS_TABLE" => Some("replaced-per-run".into()),
            "KEYSET_SECRET_ID" => Some(secret.clone()),
            "STRIPE_API_BASE" => Some(slow.clone()),
            "BATCH_CONCURRENCY" => Some(concurrency.to_string()),
            "PAYHOOK_MODE" => Some("test".into()),
            _ => None,
        })
        .expect("config");
        let aws = aws.clone();
        async move {
            payhook::ops::consumer(&config, &aws)
                .await
                .expect("consumer")
        }
    };
    let mut sequential = consumer_with(1).await;
    let mut concurrent = consumer_with(10).await;

    let batch_of = async |round: usize, tag: &str, n: usize| {
        let mut records = Vec::new();
        for i in 0..n {
            let pi = localstripe::create_succeeded_intent(
                &stripe,
                API_KEY,
                &format!("bench-{tag}-{round}-{i}"),
                1000,
                "eur",
            )
            .await
            .expect("intent");
            let body = sample_body("payment_intent.succeeded", &pi);
            let now = payhook::support::clock::now_ms();
            let header =
                payhook::inbound::sign_stripe_signature(WHSEC, now / 1000, body.as_bytes());
            records.push(
                DeliverySpec {
                    message_id: &format!("m-{tag}-{round}-{i}"),
                    body: &body,
                    subscriber: "acme",
                    signature_header: &header,
                    received_at_ms: now,
                    sealed_bundle: &bundle,
                }
                .sqs_message(),
            );
        }
        delivery::sqs_event(records)
    };

    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let (mut seq_over_conc, mut conc_over_single) = (Vec::new(), Vec::new());
    let mut transaction_ms = Vec::new();
    let mut warm_up_connections = 0;
    // A warm-up round (connection pools, bundle cache), then the three in turn each round.
    for round in 0..=rounds {
        let mut t = [0.0; 3];
        for (slot, (tag, n)) in [("seq", 10), ("conc", 10), ("one", 1)]
            .into_iter()
            .enumerate()
        {
            let consumer = if slot == 0 {
                &mut sequential
            } else {
                &mut concurrent
            };
            consumer.pipeline.ledger = fresh_ledger(&format!("{tag}-{round}")).await;
            let event = batch_of(round, tag, n).await;
            let started = Instant::now();
            let r = consumer.handle(event).await.expect("batch");
            t[slot] = started.elapsed().as_secs_f64() * 1000.0;
            assert!(r.batch_item_failures.is_empty(), "{tag}: {r:?}");
        }
        // The emulator's own price of one credit, paid one at a time whatever the consumer does.
        let ledger = fresh_ledger(&format!("tx-{round}")).await;
        for i in 0..10 {
            let (intent, payment) = (format!("pi_tx{round}x{i}"), format!("tx-{round}-{i}"));
            let started = Instant::now();
            ledger
                .apply(&Credit {
                    subscriber: "acme",
                    payment_id: &payment,
                    intent_id: &intent,
                    amount_received: 1000,
                    currency: "eur",
                    event_id: "evt_bench",
                    event_type: "payment_intent.succeeded",
                    message_id: "m-bench",
                    movements: &[],
                })
                .await
                .expect("credit");
            if round > 0 {
                transaction_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        if round == 0 {
            warm_up_connections = slow_stripe.connections();
        }
        if round > 0 {
            for (slot, v) in t.iter().enumerate() {
                times[slot].push(*v);
            }
            seq_over_conc.push(t[0] / t[1]);
            conc_over_single.push(t[1] / t[2]);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let [mut seq, mut conc, mut one] = times;
    let tx = median(&mut transaction_ms);
    let one_ms = median(&mut one);
    println!(
        "Stripe +{} ms per call; medians of {rounds} rounds, measured in one run:",
        LATENCY.as_millis()
    );
    println!(
        "  batch of 10, sequential (BATCH_CONCURRENCY=1):  {:7.1} ms",
        median(&mut seq)
    );
    println!(
        "  batch of 10, concurrent (BATCH_CONCURRENCY=10): {:7.1} ms",
        median(&mut conc)
    );
    println!("  one message:                                    {one_ms:7.1} ms");
    println!("  one credit (TransactWriteItems) alone on moto:  {tx:7.1} ms");
    // moto applies one request at a time, so ten credits cost ten transactions end to end:
    // no consumer can finish a batch of 10 sooner than one message plus nine more of them.
    println!(
        "  emulator floor for 10 (one message + 9 credits): {:5.1} ms",
        one_ms + 9.0 * tx
    );
    let later = slow_stripe.connections() - warm_up_connections;
    println!(
        "  Stripe connections opened: {warm_up_connections} in the warm-up round, {later} in the {} calls after",
        rounds * 21
    );
    println!(
        "  sequential / concurrent:                        {:7.2}x",
        median(&mut seq_over_conc)
    );
    println!(
        "  concurrent batch of 10 / one message:           {:7.2}x",
        median(&mut conc_over_single)
    );
}
