//! The SAM template and the consumer must agree on names: the message attributes API Gateway
//! writes, the table keys, the TTL attribute, the environment and the binary. Read from
//! template.yaml as text (its short-form tags need no YAML library to be found).

use payhook::inbound::{ATTR_RECEIVED_AT, ATTR_SEALED_BUNDLE, ATTR_SIGNATURE, ATTR_SUBSCRIBER};
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
fn table_keys_match_the_ledger_and_its_memory_does_not_expire() {
    let t = template();
    for (attr, kind) in [
        (schema::SUBSCRIBER, "HASH"),
        (schema::PAYMENT_ID, "RANGE"),
        (schema::IDEMPOTENCY_KEY, "HASH"),
    ] {
        let line = format!("{{ AttributeName: {attr}, KeyType: {kind} }}");
        assert!(t.contains(&line), "template lacks key `{line}`");
    }
    // The ledger remembers every credit for good: no TTL on its table, whatever age a kept
    // payment or a redriven message reaches.
    let ledger = resource(&t, "IdempotencyTable");
    assert!(!ledger.contains("TimeToLiveSpecification"), "{ledger}");
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
            payhook::ops::CONSUMER_VARIABLES.contains(v),
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
    let manifest =
        std::fs::read_to_string(repo_path("Cargo.toml")).expect("the consumer crate's manifest");
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
    let manifest = std::fs::read_to_string(repo_path("Cargo.toml")).unwrap();
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
            payhook::ops::CONSUMER_VARIABLES.contains(v)
                || payhook::ops::SCHEDULE_VARIABLES.contains(v),
            "the template sets {v}, which the reconciler never reads"
        );
    }
    for required in payhook::ops::SCHEDULE_VARIABLES.iter().chain(&[
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
    use payhook::ledger::unapplied_schema as schema;
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
    use payhook::ledger::outbox_schema as schema;
    let t = template();
    let block = resource(&t, "NotifierFunction");
    assert!(block.contains("        Binary: notifier\n"));
    assert!(block.contains("Schedule: rate(1 minute)"));
    let manifest = std::fs::read_to_string(repo_path("Cargo.toml")).unwrap();
    assert!(manifest.contains("[[bin]]\nname = \"notifier\"\n"));
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
            payhook::ops::NOTIFIER_VARIABLES.contains(v),
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

/// The template as CloudFormation runs it: language extensions expanded for two subscribers
/// and the SAM transform applied, by the SAM CLI's own libraries
/// (`scripts/lib/translate_template.py`, run with the project's `.venv`).
fn translated() -> &'static serde_json::Value {
    static TRANSLATED: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    TRANSLATED.get_or_init(|| {
        let python = repo_path(".venv/bin/python");
        let out = std::process::Command::new(&python)
            .arg(repo_path("scripts/lib/translate_template.py"))
            .arg(repo_path("template.yaml"))
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "run {} (scripts/test.sh installs it): {e}",
                    python.display()
                )
            });
        assert!(
            out.status.success(),
            "translating the template failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the translation is JSON")
    })
}

fn deployed(name: &str) -> &'static serde_json::Value {
    let r = &translated()["Resources"][name];
    assert!(!r.is_null(), "{name} is not in the translated template");
    r
}

/// A policy resource as text: `X.Arn` for a GetAtt, `X` for a Ref, the string itself else.
fn target(v: &serde_json::Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_string();
    }
    if let Some(att) = v["Fn::GetAtt"].as_array() {
        return format!("{}.{}", att[0].as_str().unwrap(), att[1].as_str().unwrap());
    }
    if let Some(r) = v["Ref"].as_str() {
        return r.to_string();
    }
    if let Some(s) = v["Fn::Sub"].as_str() {
        return s.to_string();
    }
    panic!("unexpected policy resource {v}")
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items.iter().map(target).collect(),
        one => vec![target(one)],
    }
}

/// Each (action, resource) pair a statement allows, sorted.
fn grants(statements: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in statements.as_array().expect("statements") {
        assert_eq!(s["Effect"], "Allow", "{s}");
        for action in strings(&s["Action"]) {
            for resource in strings(&s["Resource"]) {
                out.push((action.clone(), resource));
            }
        }
    }
    out.sort();
    out
}

fn role_grants(role: &str) -> Vec<(String, String)> {
    let props = &deployed(role)["Properties"];
    assert_eq!(
        props["ManagedPolicyArns"],
        serde_json::json!(["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]),
        "{role}: only the logs policy is managed; everything else is on named resources"
    );
    let policies = props["Policies"].as_array().expect("inline policies");
    assert_eq!(policies.len(), 1, "{role}");
    grants(&policies[0]["PolicyDocument"]["Statement"])
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    v.sort();
    v
}

const BUNDLES: &str =
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/payhook/subscribers/*";

/// Every right each function's role holds is one its SDK calls need, on the one resource the
/// call touches, and nothing else (no managed policy with `*`): the consumer's queue rights
/// are on its own queue only.
#[test]
fn each_role_holds_exactly_the_rights_its_calls_need() {
    // The credit's TransactWriteItems is authorised per item action: Put on the idempotency
    // and notifications tables, Update on the payments table (ledger.rs); GetItem is the
    // duplicate check (ledger::credited_by); the unapplied store puts and marks (unapplied.rs).
    let credit = [
        ("dynamodb:PutItem", "IdempotencyTable.Arn"),
        ("dynamodb:GetItem", "IdempotencyTable.Arn"),
        ("dynamodb:UpdateItem", "PaymentsTable.Arn"),
        ("dynamodb:PutItem", "UnappliedTable.Arn"),
        ("dynamodb:UpdateItem", "UnappliedTable.Arn"),
        ("dynamodb:PutItem", "NotificationsTable.Arn"),
        ("secretsmanager:GetSecretValue", "ConsumerKeys"),
    ];
    let mut consumer = credit.to_vec();
    consumer.extend([
        // The event source mapping polls with the function's role.
        ("sqs:ReceiveMessage", "WebhookQueue.Arn"),
        ("sqs:DeleteMessage", "WebhookQueue.Arn"),
        ("sqs:GetQueueAttributes", "WebhookQueue.Arn"),
        // backoff.rs
        ("sqs:ChangeMessageVisibility", "WebhookQueue.Arn"),
        // dead_lettering.rs
        ("sqs:SendMessage", "DeadLetterQueue.Arn"),
        ("sqs:SendMessage", "RejectedQueue.Arn"),
    ]);
    assert_eq!(role_grants("ConsumerFunctionRole"), pairs(&consumer));

    let mut reconciler = credit.to_vec();
    // bundle_parameter.rs
    reconciler.push(("ssm:GetParameter", BUNDLES));
    assert_eq!(role_grants("ReconcileFunctionRole"), pairs(&reconciler));

    assert_eq!(
        role_grants("NotifierFunctionRole"),
        pairs(&[
            ("secretsmanager:GetSecretValue", "ConsumerKeys"),
            ("ssm:GetParameter", BUNDLES),
            // notification.rs: the due index, the claim and attempt rows, the paid count
            ("dynamodb:Query", "${NotificationsTable.Arn}/index/due"),
            ("dynamodb:PutItem", "NotificationsTable.Arn"),
            ("dynamodb:UpdateItem", "NotificationsTable.Arn"),
            ("dynamodb:GetItem", "PaymentsTable.Arn"),
            ("sqs:SendMessage", "NotificationDeadLetterQueue.Arn"),
        ])
    );

    let api = &deployed("ApiToQueueRole")["Properties"]["Policies"][0]["PolicyDocument"];
    assert_eq!(
        grants(&api["Statement"]),
        pairs(&[("sqs:SendMessage", "WebhookQueue.Arn")])
    );
}

/// Without `ReportBatchItemFailures` Lambda treats a batch that returned as done and deletes
/// every message, including those the consumer asked to retry.
#[test]
fn the_consumer_is_fed_by_its_queue_with_partial_batch_responses() {
    let mappings: Vec<&serde_json::Value> = translated()["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::EventSourceMapping")
        .collect();
    assert_eq!(mappings.len(), 1);
    let esm = &mappings[0]["Properties"];
    assert_eq!(esm["FunctionName"]["Ref"], "ConsumerFunction");
    assert_eq!(target(&esm["EventSourceArn"]), "WebhookQueue.Arn");
    assert_eq!(
        esm["FunctionResponseTypes"],
        serde_json::json!(["ReportBatchItemFailures"])
    );
    assert_eq!(esm["BatchSize"], 10);
    assert_eq!(esm["ScalingConfig"]["MaximumConcurrency"], 5);
}

/// Every queue refuses plain HTTP and takes SendMessage only from its senders and the operator
/// role, whatever identity policies elsewhere in the account allow.
#[test]
fn every_queue_is_tls_only_and_takes_messages_only_from_its_senders() {
    for (policy, queues, senders) in [
        (
            "WebhookQueuePolicy",
            vec!["WebhookQueue"],
            "ApiToQueueRole.Arn",
        ),
        (
            "DeadLetterQueuePolicy",
            vec!["DeadLetterQueue", "RejectedQueue"],
            "ConsumerFunctionRole.Arn",
        ),
        (
            "NotificationDeadLetterQueuePolicy",
            vec!["NotificationDeadLetterQueue"],
            "NotifierFunctionRole.Arn",
        ),
    ] {
        let props = &deployed(policy)["Properties"];
        let covered: Vec<String> = strings(&props["Queues"]);
        assert_eq!(covered, queues, "{policy}");
        let statements = props["PolicyDocument"]["Statement"].as_array().unwrap();
        let arns: Vec<String> = queues.iter().map(|q| format!("{q}.Arn")).collect();
        let tls = statements
            .iter()
            .find(|s| s["Sid"] == "TlsOnly")
            .expect("TlsOnly");
        assert_eq!(tls["Effect"], "Deny");
        assert_eq!(tls["Principal"], "*");
        assert_eq!(tls["Action"], "sqs:*");
        assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(strings(&tls["Resource"]), arns, "{policy}");
        let send = statements
            .iter()
            .find(|s| s["Sid"] == "SendersOnly")
            .expect("SendersOnly");
        assert_eq!(send["Effect"], "Deny");
        assert_eq!(send["Principal"], "*");
        assert_eq!(send["Action"], "sqs:SendMessage");
        assert_eq!(strings(&send["Resource"]), arns, "{policy}");
        assert_eq!(
            strings(&send["Condition"]["StringNotEquals"]["aws:PrincipalArn"]),
            [senders, ""],
            "{policy}: the sender and the (empty by default) OperatorRoleArn"
        );
    }
}

/// The private keys: readable only by the three functions that open bundles and the operator
/// role, and kept when the stack is deleted (the retained queues hold messages sealed to them).
#[test]
fn the_key_set_secret_is_readable_only_by_the_functions_and_outlives_the_stack() {
    let secret = deployed("ConsumerKeys");
    assert_eq!(secret["DeletionPolicy"], "Retain");
    assert_eq!(secret["UpdateReplacePolicy"], "Retain");
    let policy = &deployed("ConsumerKeysPolicy")["Properties"];
    assert_eq!(policy["SecretId"]["Ref"], "ConsumerKeys");
    assert_eq!(policy["BlockPublicPolicy"], true);
    let statements = policy["ResourcePolicy"]["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    let deny = &statements[0];
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(deny["Action"], "secretsmanager:GetSecretValue");
    assert_eq!(
        strings(&deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"]),
        [
            "ConsumerFunctionRole.Arn",
            "ReconcileFunctionRole.Arn",
            "NotifierFunctionRole.Arn",
            ""
        ]
    );
}

/// The timeouts hold each other up: AWS recommends a queue visibility timeout of at least six
/// times the function timeout; the consumer stops starting messages 30 s before its timeout;
/// the notifier's run ends before its 5-minute lease on a notification does.
#[test]
fn timeouts_fit_each_other() {
    let timeout = |f: &str| deployed(f)["Properties"]["Timeout"].as_u64().unwrap();
    let visibility = deployed("WebhookQueue")["Properties"]["VisibilityTimeout"]
        .as_u64()
        .unwrap();
    assert!(visibility >= 6 * timeout("ConsumerFunction"));
    assert!(timeout("ConsumerFunction") > 30);
    assert!(timeout("NotifierFunction") < 300);
    assert!(timeout("ReconcileFunction") <= 900);
}

/// A failed scheduled run is retried by the next tick, not by Lambda's asynchronous retries
/// (which would run the same window twice at once).
#[test]
fn scheduled_runs_are_not_retried_by_lambda() {
    for function in ["ReconcileFunction", "NotifierFunction"] {
        let config = &deployed(&format!("{function}EventInvokeConfig"))["Properties"];
        assert_eq!(config["FunctionName"]["Ref"], function);
        assert_eq!(config["MaximumRetryAttempts"], 0, "{function}");
    }
}

/// What goes wrong is seen: the DLQ's own depth (the redrive policy's moves raise no consumer
/// metric), 5xx as a share of requests (one stranger's request can make one), and every
/// request's integration error in the access log.
#[test]
fn alarms_see_the_dlq_depth_and_the_5xx_rate_and_the_api_logs_its_errors() {
    let depth = &deployed("DeadLetterQueueDepthAlarm")["Properties"];
    assert_eq!(depth["Namespace"], "AWS/SQS");
    assert_eq!(depth["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(
        target(&depth["Dimensions"][0]["Value"]),
        "DeadLetterQueue.QueueName"
    );
    assert_eq!(depth["Threshold"], 0.0);

    let rate = &deployed("WebhookApi5xxAlarm")["Properties"];
    let metrics = rate["Metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
        .collect();
    assert_eq!(names, ["5xx", "Count"]);
    let expression = metrics
        .iter()
        .find(|m| m["ReturnData"] == true)
        .and_then(|m| m["Expression"].as_str())
        .expect("a returned expression");
    assert!(expression.contains("errors") && expression.contains("/ requests"));
    assert!(rate["Threshold"].as_f64().unwrap() > 0.0);

    let stage = &deployed("WebhookApiStage")["Properties"];
    let format = stage["AccessLogSettings"]["Format"].as_str().unwrap();
    for field in [
        "$context.integrationErrorMessage",
        "$context.status",
        "$context.requestTimeEpoch",
    ] {
        assert!(format.contains(field), "access log lacks {field}");
    }
    assert!(!format.contains("header"), "the access log keeps no header");
    assert_eq!(
        target(&stage["AccessLogSettings"]["DestinationArn"]),
        "WebhookApiAccessLogGroup.Arn"
    );
}
