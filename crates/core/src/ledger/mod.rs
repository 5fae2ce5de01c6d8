//! The exactly-once credit: one DynamoDB transaction per PaymentIntent.
//!
//! The transaction puts an idempotency item keyed by (subscriber, PaymentIntent) on condition
//! that it does not exist, and in the same breath increments the payment record. Either both
//! happen or neither, so there is no "in progress" state to recover from: a crash before the
//! commit leaves nothing behind and the redelivery applies; a crash after it finds the item and
//! is a duplicate. Keying on the PaymentIntent (not the event or the SQS message) is what makes
//! `charge.succeeded`, `payment_intent.succeeded` and every redelivery of either count once.
//!
//! The item records which delivery credited it (Stripe event id, SQS message id), so a failed
//! condition tells "this same message committed on an earlier attempt whose answer was lost"
//! apart from "another delivery credited it", and a consistent read of it before the Stripe
//! lookup makes a duplicate cost one read and no write.
//!
//! Payment records are keyed by (subscriber, payment id) so one tenant's `metadata.id` can never
//! touch another tenant's record. A missing record is created by the first credit (see README).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use backon::{ExponentialBuilder, Retryable};

use crate::support::clock;
use crate::support::dynamo::{Item, ItemExt};

mod checkpoint;
mod error;
mod known_credits;
mod movements;
mod outbox;
mod unapplied;

pub(crate) use error::classify_other;
use error::refused;
pub use error::{LedgerError, classify_transaction};
pub use known_credits::{Known, KnownCredits};
pub use movements::{Deltas, Movement, MovementKind, MovementOf, Recorded};
/// The notifications table's layout (its items are the outbox the credit writes).
pub use outbox::schema as outbox_schema;
pub use outbox::{
    AttemptOutcome, NotificationKind, NotificationStatus, Owed,
    RETENTION_SECS as OUTBOX_RETENTION_SECS, notification_id, pending_item,
};
pub use unapplied::{
    AssignError, Assigned, KeptPayment, Unapplied, UnappliedItem, UnappliedPayment,
    UnappliedStatus, assign, kept_payments, kept_to_assign, schema as unapplied_schema,
};

/// Longest `metadata.id` we accept: DynamoDB sort keys allow 1 KB, and ids are short in practice.
pub const MAX_PAYMENT_ID_LEN: usize = 256;
/// Attempts of one transaction inside an invocation when DynamoDB cancels it for a conflict
/// with a concurrent transaction or throttles it, before the message goes back to the queue.
pub const MAX_ATTEMPTS: usize = 4;

/// Table layout, shared with the template, the CLI and the tests.
pub mod schema {
    /// Payments table: partition key.
    pub const SUBSCRIBER: &str = "subscriber";
    /// Payments table: sort key, the PaymentIntent's `metadata.id`.
    pub const PAYMENT_ID: &str = "payment_id";
    /// Payments table: how many PaymentIntents have credited the record.
    pub const PAID: &str = "paid";
    /// Payments table: what its PaymentIntents collected, in the currency's minor unit.
    pub const AMOUNT_RECEIVED: &str = "amount_received";
    /// Payments table: refunded of that (refunds made, less those that failed).
    pub const REFUNDED: &str = "refunded";
    /// Payments table: withdrawn by disputes, less what was reinstated.
    pub const DISPUTED: &str = "disputed";
    /// Payments table: received less refunded and disputed.
    pub const NET: &str = "net";
    /// Payments table: disputes opened and not yet closed.
    pub const DISPUTES_OPEN: &str = "disputes_open";
    /// Payments table: disputes lost.
    pub const DISPUTES_LOST: &str = "disputes_lost";
    /// Idempotency table: partition key, `<subscriber>#<PaymentIntent id>`.
    pub const IDEMPOTENCY_KEY: &str = "pk";
    /// Idempotency table: the Stripe event and the SQS message that credited it.
    pub const EVENT_ID: &str = "event_id";
    pub const MESSAGE_ID: &str = "message_id";
}

/// A payment record's sums, as a notification reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordTotals {
    /// PaymentIntents credited to it.
    pub paid: i64,
    pub received: i64,
    pub refunded: i64,
    pub disputed: i64,
    pub net: i64,
    pub disputes_open: i64,
    pub disputes_lost: i64,
}

/// What a record's sums say of its payment. Derived when read, never stored, so it cannot
/// disagree with the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    Paid,
    PartiallyRefunded,
    Refunded,
    /// A dispute is open.
    Disputed,
    /// A dispute was lost.
    DisputeLost,
}

impl RecordTotals {
    pub fn state(&self) -> RecordState {
        if self.disputes_open > 0 {
            RecordState::Disputed
        } else if self.disputes_lost > 0 {
            RecordState::DisputeLost
        } else if self.refunded <= 0 {
            RecordState::Paid
        } else if self.refunded < self.received {
            RecordState::PartiallyRefunded
        } else {
            RecordState::Refunded
        }
    }
}

/// A payment record's sums, by a strongly consistent read (`None`: no record). The notifier
/// reports them; only the ledger knows the payments table's layout.
pub async fn record_totals(
    client: &Client,
    payments_table: &str,
    subscriber: &str,
    payment_id: &str,
) -> Result<Option<RecordTotals>, SdkError<GetItemError, HttpResponse>> {
    let out = client
        .get_item()
        .table_name(payments_table)
        .key(schema::SUBSCRIBER, AttributeValue::S(subscriber.into()))
        .key(schema::PAYMENT_ID, AttributeValue::S(payment_id.into()))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item().map(|item| {
        let number = |name| item.number(name).unwrap_or_default();
        let received = number(schema::AMOUNT_RECEIVED);
        let refunded = number(schema::REFUNDED);
        let disputed = number(schema::DISPUTED);
        RecordTotals {
            paid: number(schema::PAID),
            received,
            refunded,
            disputed,
            // Records credited before refunds were kept have no `net`: nothing went back.
            net: item
                .number(schema::NET)
                .unwrap_or(received - refunded - disputed),
            disputes_open: number(schema::DISPUTES_OPEN),
            disputes_lost: number(schema::DISPUTES_LOST),
        }
    }))
}

/// One PaymentIntent's effect on the ledger, and the delivery that brings it.
#[derive(Debug, Clone)]
pub struct Credit<'a> {
    pub subscriber: &'a str,
    pub payment_id: &'a str,
    pub intent_id: &'a str,
    pub amount_received: i64,
    pub currency: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The SQS message id: the same across redeliveries of one message, new for every Stripe
    /// retry and every redrive.
    pub message_id: &'a str,
    /// Its refunds and disputes already made when it is credited, recorded in the same
    /// transaction: money that went back is never credited as kept.
    pub movements: &'a [Movement],
}

/// Whether `id` can be a payment record's key.
pub fn is_valid_payment_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_PAYMENT_ID_LEN
}

/// Which delivery credited a PaymentIntent, as its idempotency item records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditedBy {
    pub event_id: String,
    pub message_id: String,
    pub payment_id: String,
    /// What was credited: the amount received, in the currency's minor unit.
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The payment record was incremented by this call.
    Credited,
    /// This same message's earlier attempt committed the credit and its answer was lost (a
    /// timeout, a crash): nothing changed now, and this is the credit's one notice.
    CreditedEarlier,
    /// Another delivery credited this PaymentIntent; nothing changed.
    Duplicate(CreditedBy),
}

pub struct Ledger {
    client: Client,
    payments_table: String,
    idempotency_table: String,
    notifications_table: String,
    retry: ExponentialBuilder,
}

impl Ledger {
    pub fn new(
        client: Client,
        payments_table: String,
        idempotency_table: String,
        notifications_table: String,
    ) -> Self {
        Ledger {
            client,
            payments_table,
            idempotency_table,
            notifications_table,
            // 25, 50, 100 ms, each with up to as much again of jitter: conflicting transactions
            // on one item clear in milliseconds, and the whole budget stays far under a second.
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(25))
                .with_max_times(MAX_ATTEMPTS - 1)
                .with_jitter(),
        }
    }

    fn idempotency_key(subscriber: &str, intent_id: &str) -> AttributeValue {
        AttributeValue::S(format!("{subscriber}#{intent_id}"))
    }

    /// Who credited this PaymentIntent, if anyone: a strongly consistent read of its idempotency
    /// item, so a credit committed a moment ago is seen.
    pub async fn credited_by(
        &self,
        subscriber: &str,
        intent_id: &str,
    ) -> Result<Option<CreditedBy>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.idempotency_table)
            .key(
                schema::IDEMPOTENCY_KEY,
                Self::idempotency_key(subscriber, intent_id),
            )
            .consistent_read(true)
            .projection_expression("#e, #m, #p, #a, #c")
            .expression_attribute_names("#e", schema::EVENT_ID)
            .expression_attribute_names("#m", schema::MESSAGE_ID)
            .expression_attribute_names("#p", "payment_id")
            .expression_attribute_names("#a", "amount")
            .expression_attribute_names("#c", "currency")
            .send()
            .await
            .map_err(|e| classify_other(intent_id, e))?;
        Ok(out.item().map(credited_by))
    }

    /// Credits the PaymentIntent once. Conflicts and throttling are retried here, with jittered
    /// backoff, before the error is handed back.
    pub async fn apply(&self, credit: &Credit<'_>) -> Result<Applied, LedgerError> {
        if !is_valid_payment_id(credit.payment_id) {
            return Err(LedgerError::BadPaymentId(credit.payment_id.to_string()));
        }
        (|| self.transact(credit))
            .retry(self.retry)
            .when(LedgerError::retries_in_place)
            .await
    }

    async fn transact(&self, credit: &Credit<'_>) -> Result<Applied, LedgerError> {
        let now = Duration::from_millis(clock::now_ms().max(0) as u64);
        let now_s = AttributeValue::S(clock::rfc3339(now.as_secs()));
        let s = |v: &str| AttributeValue::S(v.to_string());
        let n = |v: i64| AttributeValue::N(v.to_string());

        let claim = Put::builder()
            .table_name(&self.idempotency_table)
            .item(
                schema::IDEMPOTENCY_KEY,
                Self::idempotency_key(credit.subscriber, credit.intent_id),
            )
            .item("subscriber", s(credit.subscriber))
            .item("payment_id", s(credit.payment_id))
            .item("payment_intent", s(credit.intent_id))
            .item(schema::EVENT_ID, s(credit.event_id))
            .item(schema::MESSAGE_ID, s(credit.message_id))
            .item("event_type", s(credit.event_type))
            .item("amount", n(credit.amount_received))
            .item("currency", s(credit.currency))
            .item("applied_at", now_s.clone())
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", schema::IDEMPOTENCY_KEY)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| refused(credit.intent_id, "BuildError", e.to_string()))?;

        // Its movements' entries go with it, so that their own events find them recorded.
        let of = MovementOf {
            subscriber: credit.subscriber,
            payment_id: credit.payment_id,
            intent_id: credit.intent_id,
            currency: credit.currency,
            event_id: credit.event_id,
            event_type: credit.event_type,
            message_id: credit.message_id,
        };
        let deltas = Deltas::sum(credit.movements);
        let increment =
            movements::sums_update(&self.payments_table, &of, deltas, credit.amount_received)?
                .update_expression(
                    "ADD #paid :one, #received :amount, #refunded :refunded, #disputed :disputed, \
                 #net :net, #open :open, #lost :lost \
                 SET currency = :currency, last_payment_intent = :pi, last_event_id = :evt, \
                 updated_at = :now, first_paid_at = if_not_exists(first_paid_at, :now)",
                )
                .condition_expression("attribute_not_exists(currency) OR currency = :currency")
                .expression_attribute_names("#paid", schema::PAID)
                .expression_attribute_names("#received", schema::AMOUNT_RECEIVED)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":amount", n(credit.amount_received))
                .expression_attribute_values(":currency", s(credit.currency))
                .expression_attribute_values(":pi", s(credit.intent_id))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|e| refused(credit.intent_id, "BuildError", e.to_string()))?;

        // The notification owed is written with the credit, or neither is: no crash can leave a
        // credit whose subscriber is never told (whether they are is the notifier's to decide,
        // from their bundle then). It needs no condition, the claim's decides.
        let notification = Put::builder()
            .table_name(&self.notifications_table)
            .set_item(Some(outbox::pending_item(
                &Owed::credit(credit),
                now.as_millis() as i64,
            )))
            .build()
            .map_err(|e| refused(credit.intent_id, "BuildError", e.to_string()))?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().update(increment).build())
            .transact_items(TransactWriteItem::builder().put(notification).build());
        for movement in credit.movements {
            let entry = movements::entry_put(&self.idempotency_table, &of, movement, now)?;
            request = request.transact_items(TransactWriteItem::builder().put(entry).build());
        }
        let result = request.send().await;
        match result {
            Ok(_) => Ok(Applied::Credited),
            Err(e) => classify_transaction(credit, e),
        }
    }
}

pub(super) fn credited_by(item: &Item) -> CreditedBy {
    let text = |name: &str| item.text(name).unwrap_or_default();
    CreditedBy {
        event_id: text(schema::EVENT_ID),
        message_id: text(schema::MESSAGE_ID),
        payment_id: text("payment_id"),
        amount: item.number("amount").unwrap_or_default(),
        currency: text("currency"),
    }
}

/// Every branch of the ledger's error handling, against the SDK's own mocks: no emulator can
/// answer a throttle, a conflict or a lost answer on demand.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::ProcessError;
    use crate::reason::{FailureClass, Reason};
    use aws_sdk_dynamodb::error::SdkError;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use std::collections::HashMap;

    const MESSAGE: &str = "m-this";

    fn credit() -> Credit<'static> {
        Credit {
            subscriber: "acme",
            payment_id: "order-1",
            intent_id: "pi_1",
            amount_received: 1000,
            currency: "eur",
            event_id: "evt_this",
            event_type: "payment_intent.succeeded",
            message_id: MESSAGE,
            movements: &[],
        }
    }

    fn ledger(rules: &[&Rule]) -> Ledger {
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules);
        Ledger::new(
            client,
            "payments".into(),
            "idem".into(),
            "notifications".into(),
        )
    }

    fn item(message_id: &str, currency: &str) -> HashMap<String, AttributeValue> {
        [
            (schema::EVENT_ID, "evt_first"),
            (schema::MESSAGE_ID, message_id),
            ("payment_id", "order-1"),
            ("currency", currency),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
        .collect()
    }

    /// A cancelled transaction with these reason codes; item 0 or 1 may carry its old item.
    fn cancelled(
        codes: [&str; 2],
        old: Option<(usize, HashMap<String, AttributeValue>)>,
    ) -> TransactWriteItemsError {
        let reasons = codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let mut reason = CancellationReason::builder().code(*code);
                if let Some((at, item)) = &old
                    && *at == i
                {
                    reason = reason.set_item(Some(item.clone()));
                }
                reason.build()
            })
            .collect();
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("Transaction cancelled")
                .set_cancellation_reasons(Some(reasons))
                .build(),
        )
    }

    /// DynamoDB's JSON error answer.
    fn http_error(status: u16, code: &str) -> Response {
        let body = format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{code} here"}}"#
        );
        Response::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(body),
        )
    }

    fn class_and_reason(e: LedgerError) -> (FailureClass, Reason) {
        let e = ProcessError::from(e);
        (e.class(), e.reason())
    }

    #[tokio::test]
    async fn a_committed_transaction_is_a_credit() {
        let ok = mock!(Client::transact_write_items)
            .then_output(|| TransactWriteItemsOutput::builder().build());
        assert_eq!(ledger(&[&ok]).apply(&credit()).await, Ok(Applied::Credited));
        assert_eq!(ok.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_failed_claim_names_who_credited_and_tells_a_lost_answer_apart() {
        let other = mock!(Client::transact_write_items).then_error(|| {
            cancelled(
                ["ConditionalCheckFailed", "None"],
                Some((0, item("m-other", "eur"))),
            )
        });
        assert_eq!(
            ledger(&[&other]).apply(&credit()).await,
            Ok(Applied::Duplicate(CreditedBy {
                event_id: "evt_first".into(),
                message_id: "m-other".into(),
                payment_id: "order-1".into(),
                amount: 0,
                currency: "eur".into(),
            }))
        );
        let same = mock!(Client::transact_write_items).then_error(|| {
            cancelled(
                ["ConditionalCheckFailed", "None"],
                Some((0, item(MESSAGE, "eur"))),
            )
        });
        assert_eq!(
            ledger(&[&same]).apply(&credit()).await,
            Ok(Applied::CreditedEarlier)
        );
    }

    #[tokio::test]
    async fn a_failed_record_condition_is_a_currency_mismatch() {
        let rule = mock!(Client::transact_write_items).then_error(|| {
            cancelled(
                ["None", "ConditionalCheckFailed"],
                Some((1, item("m-x", "usd"))),
            )
        });
        let e = ledger(&[&rule]).apply(&credit()).await.unwrap_err();
        assert!(
            matches!(&e, LedgerError::CurrencyMismatch { recorded, .. } if recorded == "usd"),
            "{e}"
        );
        assert_eq!(
            class_and_reason(e),
            (FailureClass::Permanent, Reason::CurrencyMismatch)
        );
    }

    #[tokio::test]
    async fn a_conflict_is_retried_in_place_then_handed_back() {
        let conflict_then_ok = mock!(Client::transact_write_items)
            .sequence()
            .error(|| cancelled(["TransactionConflict", "None"], None))
            .times(2)
            .output(|| TransactWriteItemsOutput::builder().build())
            .build();
        assert_eq!(
            ledger(&[&conflict_then_ok]).apply(&credit()).await,
            Ok(Applied::Credited)
        );
        assert_eq!(conflict_then_ok.num_calls(), 3);

        for codes in [
            ["TransactionConflict", "None"],
            ["None", "ThrottlingError"],
            ["ProvisionedThroughputExceeded", "None"],
        ] {
            let always = mock!(Client::transact_write_items)
                .sequence()
                .error(move || cancelled(codes, None))
                .times(MAX_ATTEMPTS)
                .build();
            let e = ledger(&[&always]).apply(&credit()).await.unwrap_err();
            assert_eq!(always.num_calls(), MAX_ATTEMPTS, "{codes:?}");
            assert!(matches!(e, LedgerError::Conflict { .. }), "{e}");
            assert_eq!(
                class_and_reason(e),
                (FailureClass::Transient, Reason::LedgerBusy)
            );
        }
    }

    #[tokio::test]
    async fn service_errors_land_in_their_class() {
        for (status, code, class, reason) in [
            (
                400,
                "ThrottlingException",
                FailureClass::Transient,
                Reason::LedgerBusy,
            ),
            (
                400,
                "ProvisionedThroughputExceededException",
                FailureClass::Transient,
                Reason::LedgerBusy,
            ),
            (
                400,
                "ValidationException",
                FailureClass::Permanent,
                Reason::LedgerRefused,
            ),
            (
                400,
                "AccessDeniedException",
                FailureClass::Transient,
                Reason::LedgerMisconfigured,
            ),
            (
                400,
                "ResourceNotFoundException",
                FailureClass::Transient,
                Reason::LedgerMisconfigured,
            ),
            // DynamoDB: a transaction answered with a 500 may have been applied.
            (
                500,
                "InternalServerError",
                FailureClass::Transient,
                Reason::LedgerOutcomeUnknown,
            ),
        ] {
            let rule = mock!(Client::transact_write_items)
                .sequence()
                .http_response(move || http_error(status, code))
                .repeatedly()
                .build();
            let e = ledger(&[&rule]).apply(&credit()).await.unwrap_err();
            assert!(e.to_string().contains(code), "{code}: {e}");
            assert_eq!(class_and_reason(e), (class, reason), "{code}");
        }
    }

    #[test]
    fn no_answer_means_the_commit_may_have_happened() {
        let timeout: SdkError<TransactWriteItemsError, Response> =
            SdkError::timeout_error("operation timed out after 5s");
        let e = classify_transaction(&credit(), timeout).unwrap_err();
        assert!(matches!(e, LedgerError::OutcomeUnknown { .. }), "{e}");
        assert_eq!(
            class_and_reason(e),
            (FailureClass::Transient, Reason::LedgerOutcomeUnknown)
        );
        let lost: SdkError<TransactWriteItemsError, Response> = SdkError::response_error(
            "connection reset while reading the answer",
            Response::new(StatusCode::try_from(200).expect("status"), SdkBody::empty()),
        );
        assert!(matches!(
            classify_transaction(&credit(), lost),
            Err(LedgerError::OutcomeUnknown { .. })
        ));
    }

    #[tokio::test]
    async fn credited_by_reads_the_item_or_says_none() {
        let found = mock!(Client::get_item)
            .match_requests(|r| r.consistent_read() == Some(true))
            .then_output(|| {
                GetItemOutput::builder()
                    .set_item(Some(item("m-other", "eur")))
                    .build()
            });
        let by = ledger(&[&found]).credited_by("acme", "pi_1").await.unwrap();
        assert_eq!(by.map(|b| b.message_id), Some("m-other".to_string()));
        assert_eq!(found.num_calls(), 1, "a consistent read");

        let absent = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
        assert_eq!(
            ledger(&[&absent]).credited_by("acme", "pi_1").await,
            Ok(None)
        );

        let denied = mock!(Client::get_item)
            .sequence()
            .http_response(|| http_error(400, "AccessDeniedException"))
            .repeatedly()
            .build();
        let e = ledger(&[&denied])
            .credited_by("acme", "pi_1")
            .await
            .unwrap_err();
        assert_eq!(
            class_and_reason(e),
            (FailureClass::Transient, Reason::LedgerMisconfigured)
        );
    }

    #[tokio::test]
    async fn a_bad_payment_id_never_reaches_dynamodb() {
        let rule = mock!(Client::transact_write_items)
            .then_output(|| TransactWriteItemsOutput::builder().build());
        let long = "x".repeat(MAX_PAYMENT_ID_LEN + 1);
        for bad in ["", long.as_str()] {
            let c = Credit {
                payment_id: bad,
                ..credit()
            };
            assert!(matches!(
                ledger(&[&rule]).apply(&c).await,
                Err(LedgerError::BadPaymentId(_))
            ));
        }
        assert_eq!(rule.num_calls(), 0);
    }
}
