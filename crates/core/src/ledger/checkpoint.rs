//! How far each subscriber's scheduled reconcile has read: the end of the last window it read
//! to its end. Kept in the idempotency table under a key no credit can have (credits are
//! `<subscriber>#pi_…`), so the reconciler needs no table of its own; it only moves forward,
//! so two overlapping runs cannot set it back.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::error::classify_other;
use super::{Ledger, LedgerError, schema};
use crate::support::dynamo::ItemExt;

const UNTIL: &str = "reconciled_until";

fn key(subscriber: &str) -> AttributeValue {
    AttributeValue::S(format!("~reconciled#{subscriber}"))
}

impl Ledger {
    /// The end of the last window the subscriber's scheduled reconcile read to its end, epoch
    /// seconds; `None` before the first.
    pub async fn reconciled_until(&self, subscriber: &str) -> Result<Option<i64>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.idempotency_table)
            .key(schema::IDEMPOTENCY_KEY, key(subscriber))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify_other(subscriber, e))?;
        Ok(out.item().and_then(|item| item.number(UNTIL)))
    }

    /// Records that the window up to `until` was read to its end; a later mark stands.
    pub async fn set_reconciled_until(
        &self,
        subscriber: &str,
        until: i64,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.idempotency_table)
            .item(schema::IDEMPOTENCY_KEY, key(subscriber))
            .item(UNTIL, AttributeValue::N(until.to_string()))
            .condition_expression("attribute_not_exists(#u) OR #u < :until")
            .expression_attribute_names("#u", UNTIL)
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(classify_other(subscriber, e)),
        }
    }
}
