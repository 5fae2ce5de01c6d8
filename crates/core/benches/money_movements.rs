//! What each kind of money movement costs in calls: credits of plain payments, of Checkout
//! payments that name their order on the Session, of payments refunded before their credit,
//! and refunds and disputes recorded after the credit, each event delivered one to three times. Stripe GETs
//! and DynamoDB calls are counted by proxies in front of localstripe and moto, not by the
//! consumer. Needs the emulators: run it with `scripts/bench.sh`, which starts them.

use aws_lambda_events::event::sqs::SqsMessage;
use payhook_testkit::delivery::handle_until_done;
use payhook_testkit::proxy::Proxy;
use payhook_testkit::stack::{SUBSCRIBER, Stack, good, sample_body};

/// Payments of each kind under `cargo bench`; `cargo test --all-targets` runs a few.
const BENCH_EACH: usize = 20;
const SMOKE_EACH: usize = 2;
const GETS: [&str; 4] = [
    "GET /v1/payment_intents",
    "GET /v1/refunds",
    "GET /v1/checkout",
    "GET /v1/disputes",
];
const TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";
const READS: [&str; 2] = ["DynamoDB_20120810.GetItem", "DynamoDB_20120810.Query"];
const WRITES: [&str; 4] = [
    TRANSACT,
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.BatchWriteItem",
];

/// A small deterministic generator (xorshift), so every run replays the same copies.
struct Mix(u64);

impl Mix {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

/// Calls seen by the proxies, taken before and after a phase.
#[derive(Clone, Copy)]
struct Calls {
    gets: [usize; 4],
    transactions: usize,
    writes: usize,
    reads: usize,
}

fn calls(stripe: &Proxy, aws: &Proxy) -> Calls {
    Calls {
        gets: GETS.map(|g| stripe.requests(g)),
        transactions: aws.requests(TRANSACT),
        writes: WRITES.iter().map(|w| aws.requests(w)).sum(),
        reads: READS.iter().map(|r| aws.requests(r)).sum(),
    }
}

/// A signed-ready body of `event_type` for `intent`; the dispute events share one sample, their
/// object being the same dispute.
fn body_of(event_type: &str, intent: &str) -> String {
    if !event_type.starts_with("charge.dispute.") {
        return sample_body(event_type, intent);
    }
    let mut event: serde_json::Value =
        serde_json::from_str(&sample_body("charge.dispute.created", intent)).expect("JSON");
    event["type"] = event_type.into();
    event.to_string()
}

/// One phase: its events, each delivered one to three times, in batches of ten; what a batch
/// reports failed comes back later, as SQS redelivers it.
async fn deliver(stack: &Stack, mix: &mut Mix, events: &[(String, String)]) -> usize {
    let mut queue: Vec<SqsMessage> = Vec::new();
    for (n, (event_type, intent)) in events.iter().enumerate() {
        let body = body_of(event_type, intent);
        for copy in 0..1 + mix.next(3) {
            let id = format!("m-{event_type}-{n}-{copy}");
            queue.push(good(stack, &id, &body).sqs());
        }
    }
    let deliveries = queue.len();
    handle_until_done(&stack.consumer, queue).await;
    deliveries
}

fn print(label: &str, movements: usize, deliveries: usize, before: Calls, after: Calls) {
    let per = |n: usize, of: usize| n as f64 / of as f64;
    let gets: Vec<String> = GETS
        .iter()
        .zip(before.gets.iter().zip(after.gets))
        .filter(|(_, (b, a))| a > *b)
        .map(|(name, (b, a))| format!("{:.2} {}", per(a - b, movements), &name[8..]))
        .collect();
    let all_gets: usize = after.gets.iter().sum::<usize>() - before.gets.iter().sum::<usize>();
    println!(
        "  {label:<40} {movements:>3} movements, {deliveries:>3} deliveries | per movement: \
         Stripe GETs {} ({}), transactions {:.2}, DynamoDB writes {:.2} | per delivery: \
         Stripe GETs {:.2}, DynamoDB writes {:.2}, reads {:.2}",
        format_args!("{:.2}", per(all_gets, movements)),
        gets.join(", "),
        per(after.transactions - before.transactions, movements),
        per(after.writes - before.writes, movements),
        per(all_gets, deliveries),
        per(after.writes - before.writes, deliveries),
        per(after.reads - before.reads, deliveries),
    );
}

/// (received, refunded or disputed, net)
fn sums(record: &serde_json::Map<String, serde_json::Value>) -> (i64, i64, i64) {
    let n = |k: &str| record.get(k).and_then(|v| v.as_i64()).unwrap_or(-1);
    (
        n("amount_received"),
        n("refunded") + n("disputed"),
        n("net"),
    )
}

#[tokio::main]
async fn main() {
    let each = if std::env::args().any(|a| a == "--bench") {
        BENCH_EACH
    } else {
        SMOKE_EACH
    };
    let (mut stack, stripe, aws) = Stack::counted().await;
    let mut mix = Mix(0x00c0_ffee);
    let kinds = ["plain", "checkout", "refunded first"];
    let mut intents: Vec<Vec<String>> = vec![Vec::new(); 3];
    for p in 0..each {
        intents[0].push(stack.intent(&format!("plain-{p}"), 1000).await);
        let checkout = stack.intent_with(None, 1000, "eur").await;
        stack
            .checkout_session(&checkout, Some(&format!("checkout-{p}")), None)
            .await;
        intents[1].push(checkout);
        let early = stack.intent(&format!("early-{p}"), 1000).await;
        stack.refund(&early, Some(300)).await;
        intents[2].push(early);
    }
    println!("money movements: {each} payments of each kind, every event delivered 1-3 times");
    for (kind, list) in kinds.iter().zip(&intents) {
        let events: Vec<(String, String)> = list
            .iter()
            .flat_map(|pi| {
                ["payment_intent.succeeded", "charge.succeeded"]
                    .map(|t| (t.to_string(), pi.clone()))
            })
            .collect();
        let before = calls(&stripe, &aws);
        let deliveries = deliver(&stack, &mut mix, &events).await;
        print(
            &format!("credit, {kind}"),
            list.len(),
            deliveries,
            before,
            calls(&stripe, &aws),
        );
    }
    // Refunds after the credit, twice on each plain payment (150, then 50), each refund's
    // event delivered: first with the duplicate shortcuts off, then on.
    for (round, (amount, shortcuts)) in [(150, false), (50, true)].into_iter().enumerate() {
        stack.consumer.pipeline.duplicate_shortcuts = shortcuts;
        for pi in &intents[0] {
            stack.refund(pi, Some(amount)).await;
        }
        let events: Vec<(String, String)> = intents[0]
            .iter()
            .map(|pi| ("charge.refunded".to_string(), pi.clone()))
            .collect();
        let before = calls(&stripe, &aws);
        let deliveries = deliver(&stack, &mut mix, &events).await;
        print(
            &format!(
                "refund #{} after the credit, shortcuts {}",
                round + 1,
                if shortcuts { "on" } else { "off" }
            ),
            each,
            deliveries,
            before,
            calls(&stripe, &aws),
        );
    }

    // A dispute on each Checkout payment, opened then lost; its five events' worth delivered as
    // the two Stripe sends first (created, funds_withdrawn) and, after the loss, closed.
    for pi in &intents[1] {
        let dispute = stack.open_dispute(pi).await;
        stack.close_dispute(&dispute, false).await;
    }
    let events: Vec<(String, String)> = intents[1]
        .iter()
        .flat_map(|pi| {
            [
                "charge.dispute.created",
                "charge.dispute.funds_withdrawn",
                "charge.dispute.closed",
            ]
            .map(|t| (t.to_string(), pi.clone()))
        })
        .collect();
    let before = calls(&stripe, &aws);
    let deliveries = deliver(&stack, &mut mix, &events).await;
    print(
        "dispute after the credit (3 steps each)",
        3 * each,
        deliveries,
        before,
        calls(&stripe, &aws),
    );

    for p in 0..each {
        for (id, expected) in [
            (format!("plain-{p}"), (1000, 200, 800)),
            (format!("checkout-{p}"), (1000, 1000, 0)),
            (format!("early-{p}"), (1000, 300, 700)),
        ] {
            let record = stack
                .record(SUBSCRIBER, &id)
                .await
                .unwrap_or_else(|| panic!("{id} credited"));
            assert_eq!(record["paid"], 1, "{id} credited once");
            assert_eq!(
                sums(&record),
                expected,
                "{id}: received, refunded or disputed, net"
            );
        }
    }
}
