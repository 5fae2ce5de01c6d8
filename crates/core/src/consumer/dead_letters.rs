//! Moves a permanently failed message to the dead-letter queue with its reason, or, when the
//! failure is one a stranger posting to a webhook URL can cause, to the rejected queue (if the
//! deployment has one): the DLQ then holds only what waits for an operator, so its depth can
//! alarm.
//!
//! The original body and attributes are kept as they were, so a redriven message verifies and
//! applies like the first time; the failure is described in extra attributes (SQS allows ten
//! per message: four are ours, five are these).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::inbound::{
    ATTR_CLASS, ATTR_DETAIL, ATTR_FAILED_AT, ATTR_REASON, ATTR_SOURCE_MESSAGE_ID,
    FAILURE_DESCRIPTION,
};
use crate::pipeline::ProcessError;
use crate::support::clock;

/// The detail is an error message; keep the attribute small.
const MAX_DETAIL_CHARS: usize = 1024;

pub struct DeadLetters {
    client: Client,
    queue_url: String,
    rejected_queue_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not move message {message_id} to the dead-letter queue: {detail}")]
pub struct DeadLetterError {
    pub message_id: String,
    pub detail: String,
}

impl DeadLetters {
    pub fn new(client: Client, queue_url: String) -> Self {
        DeadLetters {
            client,
            queue_url,
            rejected_queue_url: None,
        }
    }

    /// Strangers' deliveries ([`crate::reason::Reason::is_rejection`]) go to this queue.
    pub fn with_rejected(mut self, rejected_queue_url: Option<String>) -> Self {
        self.rejected_queue_url = rejected_queue_url;
        self
    }

    pub fn dead_letter_queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Where a message failing with `error` goes.
    pub fn queue_for(&self, error: &ProcessError) -> &str {
        match &self.rejected_queue_url {
            Some(rejected) if error.reason().is_rejection() => rejected,
            _ => &self.queue_url,
        }
    }

    pub async fn send(
        &self,
        message_id: &str,
        msg: &SqsMessage,
        error: &ProcessError,
    ) -> Result<(), DeadLetterError> {
        let fail = |detail: String| DeadLetterError {
            message_id: message_id.to_string(),
            detail,
        };
        let string = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| fail(e.to_string()))
        };
        let mut attributes: HashMap<String, MessageAttributeValue> = HashMap::new();
        for (name, value) in &msg.message_attributes {
            if FAILURE_DESCRIPTION.contains(&name.as_str()) || name == ATTR_FAILED_AT {
                continue;
            }
            if let Some(v) = value.string_value.as_deref() {
                let data_type = value.data_type.as_deref().unwrap_or("String");
                attributes.insert(
                    name.clone(),
                    MessageAttributeValue::builder()
                        .data_type(data_type)
                        .string_value(v)
                        .build()
                        .map_err(|e| fail(e.to_string()))?,
                );
            }
        }
        // The first failure's time survives a redrive and a second failure.
        let failed_at = msg
            .message_attributes
            .get(ATTR_FAILED_AT)
            .and_then(|a| a.string_value.clone())
            .unwrap_or_else(|| clock::now_ms().to_string());
        let detail: String = error.to_string().chars().take(MAX_DETAIL_CHARS).collect();
        attributes.insert(ATTR_REASON.into(), string(error.reason().as_str())?);
        attributes.insert(ATTR_CLASS.into(), string(error.class().as_str())?);
        attributes.insert(ATTR_DETAIL.into(), string(&detail)?);
        attributes.insert(ATTR_FAILED_AT.into(), string(&failed_at)?);
        attributes.insert(ATTR_SOURCE_MESSAGE_ID.into(), string(message_id)?);

        let queue_url = self.queue_for(error);
        let mut send = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(msg.body.clone().unwrap_or_default())
            .set_message_attributes(Some(attributes));
        if queue_url.ends_with(".fifo") {
            let group = msg
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_else(|| "dead-letters".into());
            send = send
                .message_group_id(group)
                .message_deduplication_id(message_id);
        }
        send.send()
            .await
            .map(|_| ())
            .map_err(|e| fail(DisplayErrorContext(e).to_string()))
    }
}
