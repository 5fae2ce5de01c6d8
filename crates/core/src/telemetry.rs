//! CloudWatch metrics in Embedded Metric Format: counted while messages are processed, written
//! to stdout as EMF documents at the end of each invocation (CloudWatch Logs turns them into
//! metrics; no API call). Dimensions stay low-cardinality: an outcome, a reason, a currency,
//! never a payment or PaymentIntent id.

use std::time::Duration;

use metrics_cloudwatch_embedded::Collector;

use crate::reason::Reason;

/// The metrics namespace; the template's alarms and dashboard read it.
pub const NAMESPACE: &str = "payhook";

/// Metric names, with the dimensions each is emitted with.
pub mod names {
    /// Messages by `Outcome` (credited, refunded, disputed, duplicate, ignored, unapplied,
    /// retry, dead_lettered, failed).
    pub const MESSAGES: &str = "Messages";
    /// Messages that ended with a reason, by `Outcome` and `Reason`.
    pub const MESSAGES_BY_REASON: &str = "MessagesByReason";
    /// Amount credited, in the currency's minor unit, by `Currency`.
    pub const AMOUNT_CREDITED: &str = "AmountCredited";
    /// Amount refunded after its credit, by `Currency`.
    pub const AMOUNT_REFUNDED: &str = "AmountRefunded";
    /// Amount of failed refunds that came back, by `Currency`.
    pub const AMOUNT_REFUND_REVERSED: &str = "AmountRefundReversed";
    /// Amount withdrawn by disputes after its credit, by `Currency`.
    pub const AMOUNT_DISPUTED: &str = "AmountDisputed";
    /// Amount disputes gave back, by `Currency`.
    pub const AMOUNT_DISPUTE_REINSTATED: &str = "AmountDisputeReinstated";
    /// Stripe PaymentIntent lookup latency, milliseconds.
    pub const STRIPE_LOOKUP_MS: &str = "StripeLookupLatency";
    /// Messages per invocation.
    pub const BATCH_SIZE: &str = "BatchSize";
    /// Cold starts (once per execution environment).
    pub const COLD_START: &str = "ColdStart";
}

/// Installs the EMF recorder for this process; once, at cold start.
pub fn install() -> Result<&'static Collector, String> {
    metrics::describe_histogram!(names::STRIPE_LOOKUP_MS, metrics::Unit::Milliseconds, "");
    metrics::describe_histogram!(names::BATCH_SIZE, metrics::Unit::Count, "");
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .init()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))
}

/// Writes what was counted since the last flush, each document carrying the invocation's
/// request id, to `out` (stdout in the Lambda).
pub fn flush(
    collector: &Collector,
    request_id: &str,
    out: impl std::io::Write,
) -> std::io::Result<()> {
    collector
        .set_property("RequestId", request_id.to_string())
        .flush(out)
}

/// [`flush`] to stdout, where the Lambda runtime's log capture takes it; a failed write is
/// logged, never the invocation's failure.
pub fn flush_to_stdout(collector: &Collector, request_id: &str) {
    if let Err(e) = flush(collector, request_id, std::io::stdout().lock()) {
        tracing::warn!(error = %e, "could not write this invocation's metrics");
    }
}

pub fn message(outcome: &'static str, reason: Option<Reason>) {
    metrics::counter!(names::MESSAGES, "Outcome" => outcome).increment(1);
    if let Some(reason) = reason {
        metrics::counter!(
            names::MESSAGES_BY_REASON,
            "Outcome" => outcome,
            "Reason" => reason.as_str()
        )
        .increment(1);
    }
}

pub fn credited(currency: &str, amount: i64) {
    // Currencies are ISO codes Stripe sends in lower case: a small, closed set.
    metrics::counter!(names::AMOUNT_CREDITED, "Currency" => currency.to_ascii_lowercase())
        .increment(amount.max(0) as u64);
}

/// Which way money moved on a credited payment, after its credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Money {
    Refunded,
    RefundReversed,
    Disputed,
    DisputeReinstated,
}

/// Money that moved on a credited payment, in the currency's minor unit.
pub fn moved(currency: &str, money: Money, amount: i64) {
    let name = match money {
        Money::Refunded => names::AMOUNT_REFUNDED,
        Money::RefundReversed => names::AMOUNT_REFUND_REVERSED,
        Money::Disputed => names::AMOUNT_DISPUTED,
        Money::DisputeReinstated => names::AMOUNT_DISPUTE_REINSTATED,
    };
    metrics::counter!(name, "Currency" => currency.to_ascii_lowercase())
        .increment(amount.max(0) as u64);
}

pub fn stripe_lookup(took: Duration) {
    metrics::histogram!(names::STRIPE_LOOKUP_MS).record(took.as_secs_f64() * 1000.0);
}

pub fn batch(messages: usize) {
    metrics::histogram!(names::BATCH_SIZE).record(messages as f64);
}

pub fn cold_start() {
    metrics::counter!(names::COLD_START).increment(1);
}
