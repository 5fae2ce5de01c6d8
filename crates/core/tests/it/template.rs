//! The SAM template and the consumer must agree on names: the message attributes API Gateway
//! writes, the table keys, the TTL attribute, the environment and the binary. Read from
//! template.yaml as text (its short-form tags need no YAML library to be found).

use payhook::envelope::{ATTR_RECEIVED_AT, ATTR_SEALED_BUNDLE, ATTR_SIGNATURE, ATTR_SUBSCRIBER};
use payhook::ledger::schema;
use payhook_testkit::repo_path;
use payhook_testkit::route::RouteMapping;

fn template() -> String {
    let path = repo_path("template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The route's `MessageAttributes` JSON, placeholders in.
fn message_attributes_json(t: &str) -> serde_json::Value {
    let route = RouteMapping::from_template(t).expect("template maps MessageAttributes");
    let json = route.json_template();
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("MessageAttributes is not JSON ({e}): {json}"))
}

#[test]
fn api_gateway_writes_the_attributes_the_consumer_reads() {
    let attrs = message_attributes_json(&template());
    let map = attrs.as_object().expect("an object");
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    names.sort();
    let mut want = [
        ATTR_RECEIVED_AT,
        ATTR_SEALED_BUNDLE,
        ATTR_SIGNATURE,
        ATTR_SUBSCRIBER,
    ];
    want.sort();
    assert_eq!(names, want);

    let value = |name: &str| {
        map[name]["StringValue"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(value(ATTR_SIGNATURE), "${!request.header.stripe-signature}");
    assert_eq!(value(ATTR_RECEIVED_AT), "${!context.requestTimeEpoch}");
    assert_eq!(map[ATTR_RECEIVED_AT]["DataType"], "Number");
    assert_eq!(value(ATTR_SUBSCRIBER), "${SubscriberId}");
    assert!(
        value(ATTR_SEALED_BUNDLE).starts_with("{{resolve:ssm:"),
        "the bundle must come from operator configuration, never the caller"
    );
}

#[test]
fn the_raw_body_is_the_message_body() {
    assert!(template().contains("MessageBody: $request.body"));
}

#[test]
fn table_keys_and_ttl_match_the_ledger() {
    let t = template();
    for (attr, kind) in [
        (schema::SUBSCRIBER, "HASH"),
        (schema::PAYMENT_ID, "RANGE"),
        (schema::IDEMPOTENCY_KEY, "HASH"),
    ] {
        let line = format!("{{ AttributeName: {attr}, KeyType: {kind} }}");
        assert!(t.contains(&line), "template lacks key `{line}`");
    }
    assert!(t.contains(&format!(
        "AttributeName: {}\n        Enabled: true",
        schema::EXPIRES_AT
    )));
}

#[test]
fn the_function_environment_is_what_the_consumer_reads() {
    let t = template();
    let start = t
        .find("      Environment:\n        Variables:\n")
        .expect("function environment");
    let vars: Vec<&str> = t[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("          "))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .filter(|k| *k != "RUST_LOG")
        .collect();
    assert!(vars.len() >= 4, "{vars:?}");
    for v in &vars {
        assert!(
            payhook::config::VARIABLES.contains(v),
            "template sets {v}, which the consumer never reads"
        );
    }
    for required in [
        "PAYMENTS_TABLE",
        "IDEMPOTENCY_TABLE",
        "KEYSET_SECRET_ID",
        "DEAD_LETTER_QUEUE_URL",
    ] {
        assert!(vars.contains(&required), "template does not set {required}");
    }
}

#[test]
fn the_template_builds_the_consumer_binary() {
    assert!(template().contains("        Binary: consumer\n"));
    let manifest = std::fs::read_to_string(repo_path("crates/consumer/Cargo.toml"))
        .expect("the consumer crate's manifest");
    assert!(manifest.contains("[[bin]]\nname = \"consumer\"\n"));
}

/// Queues hold deliveries not yet credited: deleting the stack or replacing a queue (a
/// `QueueType` switch) must leave them, and the tables, in place.
#[test]
fn queues_and_tables_outlive_the_stack() {
    let t = template();
    for name in [
        "DeadLetterQueue",
        "WebhookQueue",
        "PaymentsTable",
        "IdempotencyTable",
        "UnappliedTable",
        "NotificationsTable",
        "NotificationDeadLetterQueue",
    ] {
        let block = resource(&t, name);
        for policy in ["DeletionPolicy: Retain", "UpdateReplacePolicy: Retain"] {
            assert!(block.contains(policy), "{name} lacks {policy}");
        }
    }
}

/// The resource block `name`: its key line and everything indented under it.
fn resource(t: &str, name: &str) -> String {
    let start = t
        .find(&format!("\n  {name}:\n"))
        .unwrap_or_else(|| panic!("{name} in the template"))
        + 1;
    let mut lines = t[start..].lines();
    let head = lines.next().unwrap_or_default();
    std::iter::once(head)
        .chain(lines.take_while(|l| l.is_empty() || l.starts_with("    ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Both functions may read the idempotency item (the duplicate check before the Stripe lookup);
/// the reconciler reads the bundles from SSM and builds its own binary, with the environment
/// it reads.
#[test]
fn the_reconciler_is_scheduled_with_what_it_reads_and_may_do() {
    let t = template();
    for function in ["ConsumerFunction", "ReconcileFunction"] {
        let block = resource(&t, function);
        assert!(
            block.contains("Action: [dynamodb:PutItem, dynamodb:GetItem]\n              Resource: !GetAtt IdempotencyTable.Arn"),
            "{function} may not read the idempotency item"
        );
    }
    let block = resource(&t, "ReconcileFunction");
    assert!(block.contains("        Binary: reconciler\n"));
    assert!(block.contains("Schedule: rate(1 hour)"));
    assert!(block.contains("Action: ssm:GetParameter"));
    let manifest = std::fs::read_to_string(repo_path("crates/consumer/Cargo.toml")).unwrap();
    assert!(manifest.contains("[[bin]]\nname = \"reconciler\"\n"));
    let start = block.find("        Variables:\n").expect("environment");
    let vars: Vec<&str> = block[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("          "))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .filter(|k| *k != "RUST_LOG")
        .collect();
    for v in &vars {
        assert!(
            payhook::config::VARIABLES.contains(v)
                || payhook::reconcile::SCHEDULE_VARIABLES.contains(v),
            "the template sets {v}, which the reconciler never reads"
        );
    }
    for required in payhook::reconcile::SCHEDULE_VARIABLES.iter().chain(&[
        "PAYMENTS_TABLE",
        "IDEMPOTENCY_TABLE",
        "KEYSET_SECRET_ID",
        "PAYHOOK_MODE",
    ]) {
        assert!(
            vars.contains(required),
            "the reconciler is not given {required}"
        );
    }
}

#[test]
fn the_unapplied_table_has_the_keys_the_store_uses_and_both_functions_may_write_it() {
    use payhook::unapplied::schema;
    let t = template();
    let block = resource(&t, "UnappliedTable");
    for (key, kind) in [
        (schema::SUBSCRIBER, "HASH"),
        (schema::PAYMENT_INTENT, "RANGE"),
    ] {
        assert!(
            block.contains(&format!("{{ AttributeName: {key}, KeyType: {kind} }}")),
            "{key} {kind}"
        );
    }
    for function in ["ConsumerFunction", "ReconcileFunction"] {
        let f = resource(&t, function);
        assert!(
            f.contains("UNAPPLIED_TABLE: !Ref UnappliedTable"),
            "{function}"
        );
        assert!(
            f.contains(
                "Action: [dynamodb:PutItem, dynamodb:UpdateItem]\n              Resource: !GetAtt UnappliedTable.Arn"
            ),
            "{function}"
        );
    }
}

#[test]
fn a_fifo_queue_is_read_one_message_at_a_time() {
    // A later message of a failing message's group, received in the same batch, is reported
    // failed unprocessed to keep order, and that receive counts towards its maxReceiveCount.
    assert!(
        template().contains("BatchSize: !If [IsFifo, 1, !Ref BatchSize]"),
        "the consumer's event source must take one message per batch on a FIFO queue"
    );
}

/// The notifier builds its own binary, runs every minute with the environment it reads, may
/// query only the due index and write only the notifications table and its DLQ; the table's
/// keys are the store's; both crediting functions may write the notification a credit owes;
/// its DLQ alarms.
#[test]
fn the_notifier_is_scheduled_with_what_it_reads_and_may_do() {
    use payhook::notification::schema;
    let t = template();
    let block = resource(&t, "NotifierFunction");
    assert!(block.contains("        Binary: notifier\n"));
    assert!(block.contains("Schedule: rate(1 minute)"));
    let manifest = std::fs::read_to_string(repo_path("crates/consumer/Cargo.toml")).unwrap();
    assert!(manifest.contains("[[bin]]\nname = \"notifier\"\n"));
    let start = block.find("        Variables:\n").expect("environment");
    let vars: Vec<&str> = block[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("          "))
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .filter(|k| *k != "RUST_LOG")
        .collect();
    for v in &vars {
        assert!(
            payhook::notifier::VARIABLES.contains(v),
            "the template sets {v}, which the notifier never reads"
        );
    }
    for required in [
        "NOTIFICATIONS_TABLE",
        "PAYMENTS_TABLE",
        "KEYSET_SECRET_ID",
        "NOTIFICATION_DLQ_URL",
        "PAYHOOK_MODE",
    ] {
        assert!(
            vars.contains(&required),
            "the notifier is not given {required}"
        );
    }
    assert!(block.contains("Action: dynamodb:Query\n              Resource: !Sub \"${NotificationsTable.Arn}/index/due\""));
    assert!(block.contains(
        "Action: sqs:SendMessage\n              Resource: !GetAtt NotificationDeadLetterQueue.Arn"
    ));
    assert!(!block.contains("dynamodb:Scan") && !block.contains("dynamodb:DeleteItem"));

    let table = resource(&t, "NotificationsTable");
    for (key, kind) in [
        (schema::SUBSCRIBER, "HASH"),
        (schema::SK, "RANGE"),
        (schema::DUE, "HASH"),
        (schema::NEXT_ATTEMPT_AT, "RANGE"),
    ] {
        assert!(
            table.contains(&format!("{{ AttributeName: {key}, KeyType: {kind} }}")),
            "{key} {kind}"
        );
    }
    assert!(table.contains(&format!("IndexName: {}", schema::DUE_INDEX)));
    assert!(table.contains(&format!(
        "AttributeName: {}\n        Enabled: true",
        schema::EXPIRES_AT
    )));

    for function in ["ConsumerFunction", "ReconcileFunction"] {
        let f = resource(&t, function);
        assert!(
            f.contains("NOTIFICATIONS_TABLE: !Ref NotificationsTable"),
            "{function}"
        );
        assert!(
            f.contains(
                "Action: dynamodb:PutItem\n              Resource: !GetAtt NotificationsTable.Arn"
            ),
            "{function}"
        );
    }
    let alarm = resource(&t, "NotificationDeadLettersAlarm");
    assert!(alarm.contains("NotificationDeadLetterQueue.QueueName"));
}
