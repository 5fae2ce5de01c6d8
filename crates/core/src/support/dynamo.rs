//! DynamoDB items: one way to read a field, and every item of a table partitioned by subscriber
//! (or only one subscriber's), which the operator's list commands read (unapplied money,
//! notifications): all pages, strongly consistent, so what a function wrote a moment ago is
//! listed.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

/// A field of an item, by name: `None` when it is absent or of another type.
pub trait ItemExt {
    fn text(&self, name: &str) -> Option<String>;
    fn number(&self, name: &str) -> Option<i64>;
}

impl ItemExt for Item {
    fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
    }
}

/// The read that failed: a Query of one subscriber, or a Scan of all.
#[derive(Debug)]
pub enum ReadError {
    Query(SdkError<QueryError, HttpResponse>),
    Scan(SdkError<ScanError, HttpResponse>),
}

/// `subscriber_key` is the table's partition key attribute.
pub async fn read(
    client: &Client,
    table: &str,
    subscriber_key: &str,
    subscriber: Option<&str>,
) -> Result<Vec<Item>, ReadError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let (page, next) = match subscriber {
            Some(sub) => {
                let out = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("#s = :s")
                    .expression_attribute_names("#s", subscriber_key)
                    .expression_attribute_values(":s", AttributeValue::S(sub.to_string()))
                    .set_exclusive_start_key(start.take())
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(ReadError::Query)?;
                (out.items().to_vec(), out.last_evaluated_key().cloned())
            }
            None => {
                let out = client
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start.take())
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(ReadError::Scan)?;
                (out.items().to_vec(), out.last_evaluated_key().cloned())
            }
        };
        items.extend(page);
        match next {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}
