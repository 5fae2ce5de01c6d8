//! What a deployed stack shows an operator's tools, made on moto: a CloudFormation stack whose
//! outputs name the webhook URL (the local ingress) and the consumer's log group, and the
//! consumer's log lines put into that group the way Lambda puts a function's stdout there.

use aws_config::SdkConfig;

use crate::BoxError;

/// A stack on moto with the outputs `payhook stack check` reads and the `Mode` parameter.
pub async fn create_stack(
    aws: &SdkConfig,
    name: &str,
    webhook_base_url: &str,
    consumer_log_group: &str,
    mode: &str,
) -> Result<(), BoxError> {
    use aws_sdk_cloudformation::types::Parameter;
    let template = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "Mode": {"Type": "String"},
            "WebhookBaseUrl": {"Type": "String"},
            "ConsumerLogGroupName": {"Type": "String"},
        },
        "Resources": {
            "ConsumerLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Ref": "ConsumerLogGroupName"}},
            },
        },
        "Outputs": {
            "WebhookBaseUrl": {"Value": {"Ref": "WebhookBaseUrl"}},
            "ConsumerLogGroupName": {"Value": {"Ref": "ConsumerLogGroup"}},
        },
    });
    let parameter = |k: &str, v: &str| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    aws_sdk_cloudformation::Client::new(aws)
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .parameters(parameter("Mode", mode))
        .parameters(parameter("WebhookBaseUrl", webhook_base_url))
        .parameters(parameter("ConsumerLogGroupName", consumer_log_group))
        .send()
        .await?;
    Ok(())
}

/// Puts `lines` into `group` (stream `local`, created on first use), as CloudWatch Logs holds a
/// Lambda function's stdout.
pub async fn ship_logs(aws: &SdkConfig, group: &str, lines: &[String]) -> Result<(), BoxError> {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    if lines.is_empty() {
        return Ok(());
    }
    let logs = aws_sdk_cloudwatchlogs::Client::new(aws);
    let exists = logs
        .describe_log_streams()
        .log_group_name(group)
        .log_stream_name_prefix("local")
        .send()
        .await?
        .log_streams()
        .iter()
        .any(|s| s.log_stream_name() == Some("local"));
    if !exists {
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name("local")
            .send()
            .await?;
    }
    let now = payhook::support::clock::now_ms();
    let mut put = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name("local");
    for line in lines {
        put = put.log_events(
            InputLogEvent::builder()
                .timestamp(now)
                .message(line)
                .build()?,
        );
    }
    put.send().await?;
    Ok(())
}
