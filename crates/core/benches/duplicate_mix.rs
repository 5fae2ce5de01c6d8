//! What duplicates cost: a realistic mix through the real consumer against moto and
//! localstripe, with the duplicate shortcuts off ("before") and on ("after"), in one run.
//!
//! Each payment arrives as `charge.succeeded` and `payment_intent.succeeded`, each delivered one
//! to three times (Stripe's retries are new messages), shuffled, in batches of ten; a message a
//! batch reports failed comes back in a later batch, as SQS would redeliver it. Stripe GETs and
//! DynamoDB calls are counted by proxies in front of the emulators, not by the consumer. Needs
//! the emulators: run it with `scripts/bench.sh`, which starts them.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsMessage;
use payhook_testkit::delivery::handle_until_done;
use payhook_testkit::stack::{Stack, good, sample_body};

/// Payments under `cargo bench`; `cargo test --all-targets` runs a few as a smoke test.
const BENCH_PAYMENTS: usize = 40;
const SMOKE_PAYMENTS: usize = 4;
const GET_INTENT: &str = "GET /v1/payment_intents";
const DYNAMODB_WRITES: [&str; 4] = [
    "DynamoDB_20120810.TransactWriteItems",
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.BatchWriteItem",
];
const DYNAMODB_READS: [&str; 2] = ["DynamoDB_20120810.GetItem", "DynamoDB_20120810.Query"];

/// A small deterministic generator (xorshift), so both runs replay the same mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

struct Figures {
    payments: usize,
    deliveries: usize,
    stripe_gets: usize,
    writes: usize,
    reads: usize,
    invocations: usize,
    elapsed: Duration,
}

impl Figures {
    fn print(&self, label: &str) {
        let duplicates = self.deliveries - self.payments;
        println!(
            "  {label:<7} {:>5.2} Stripe GETs per credited payment, {:>5.2} DynamoDB writes per \
             delivery, {:>5.2} per duplicate, {:>5.2} reads per delivery, {} invocations, {:>7.1} ms",
            self.stripe_gets as f64 / self.payments as f64,
            self.writes as f64 / self.deliveries as f64,
            self.writes.saturating_sub(self.payments) as f64 / duplicates.max(1) as f64,
            self.reads as f64 / self.deliveries as f64,
            self.invocations,
            self.elapsed.as_secs_f64() * 1000.0,
        );
    }
}

async fn play(payments: usize, shortcuts: bool) -> Figures {
    let (mut stack, stripe, aws) = Stack::counted().await;
    stack.consumer.pipeline.duplicate_shortcuts = shortcuts;

    let mut mix = Mix(0x5eed_cafe);
    let mut messages: Vec<SqsMessage> = Vec::new();
    for p in 0..payments {
        let pi = stack.intent(&format!("mix-{p}"), 1000 + p as i64).await;
        for event_type in ["charge.succeeded", "payment_intent.succeeded"] {
            let body = sample_body(event_type, &pi);
            for copy in 0..1 + mix.next(3) {
                let id = format!("m-{p}-{event_type}-{copy}");
                messages.push(good(&stack, &id, &body).sqs());
            }
        }
    }
    for i in (1..messages.len()).rev() {
        messages.swap(i, mix.next(i + 1));
    }
    let deliveries = messages.len();

    let (gets, writes, reads) = (
        stripe.requests(GET_INTENT),
        DYNAMODB_WRITES
            .iter()
            .map(|w| aws.requests(w))
            .sum::<usize>(),
        DYNAMODB_READS
            .iter()
            .map(|r| aws.requests(r))
            .sum::<usize>(),
    );
    let started = Instant::now();
    let invocations = handle_until_done(&stack.consumer, messages).await;
    let elapsed = started.elapsed();
    for p in 0..payments {
        let record = stack
            .record(payhook_testkit::stack::SUBSCRIBER, &format!("mix-{p}"))
            .await
            .expect("every payment credited");
        assert_eq!(record["paid"], 1, "mix-{p} credited exactly once");
    }
    Figures {
        payments,
        deliveries,
        stripe_gets: stripe.requests(GET_INTENT) - gets,
        writes: DYNAMODB_WRITES
            .iter()
            .map(|w| aws.requests(w))
            .sum::<usize>()
            - writes,
        reads: DYNAMODB_READS
            .iter()
            .map(|r| aws.requests(r))
            .sum::<usize>()
            - reads,
        invocations,
        elapsed,
    }
}

#[tokio::main]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let payments = if benching {
        BENCH_PAYMENTS
    } else {
        SMOKE_PAYMENTS
    };
    let before = play(payments, false).await;
    let after = play(payments, true).await;
    println!(
        "duplicate mix: {payments} payments, {} deliveries ({} duplicates), batches of 10",
        before.deliveries,
        before.deliveries - payments
    );
    before.print("before");
    after.print("after");
    println!(
        "  after/before: Stripe GETs {:.2}x, DynamoDB writes {:.2}x, time {:.2}x",
        after.stripe_gets as f64 / before.stripe_gets as f64,
        after.writes as f64 / before.writes as f64,
        after.elapsed.as_secs_f64() / before.elapsed.as_secs_f64(),
    );
    // The targets: at most 1.1 Stripe GETs per credited payment, no write for a duplicate.
    assert!(after.stripe_gets as f64 / payments as f64 <= 1.1);
    assert_eq!(
        after.writes, payments,
        "one write per credited payment, none per duplicate"
    );
}
