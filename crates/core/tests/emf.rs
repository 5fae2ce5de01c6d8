//! The consumer's metrics, as the Lambda writes them: EMF documents that are valid, count what
//! the notices of the same run say, carry the invocation's request id, and cover every metric
//! the template's alarms and dashboard read. A test binary of its own: the metrics recorder is
//! one per process.

use std::collections::{BTreeMap, BTreeSet};

use payhook::reason::Reason;
use payhook::telemetry;
use payhook_testkit::delivery::sqs_event;
use payhook_testkit::emf::{self, EmfMetric};
use payhook_testkit::logs::Logs;
use payhook_testkit::stack::*;

/// The payhook-namespace metrics the template reads: (name, dimensions), from the alarms'
/// YAML and the dashboard's JSON.
fn template_metrics() -> Vec<(String, BTreeMap<String, String>)> {
    let t = std::fs::read_to_string(payhook_testkit::repo_path("template.yaml")).unwrap();
    let mut out = Vec::new();
    let lines: Vec<&str> = t.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "Namespace: payhook" {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut name = String::new();
        let mut dims = BTreeMap::new();
        for l in &lines[i + 1..] {
            if l.len() - l.trim_start().len() < indent {
                break;
            }
            let l = l.trim();
            if let Some(n) = l.strip_prefix("MetricName: ") {
                name = n.to_string();
            } else if let Some(d) = l.strip_prefix("- { Name: ") {
                let (k, v) = d.trim_end_matches(" }").split_once(", Value: ").unwrap();
                dims.insert(k.to_string(), v.to_string());
            }
        }
        out.push((name, dims));
    }
    // Dashboard: ["payhook", "Name", "Dim", "value", ...] and SEARCH expressions.
    for chunk in t.split("[\"payhook\", ").skip(1) {
        let row: Vec<String> = chunk
            .split(']')
            .next()
            .unwrap()
            .split(", ")
            .take_while(|p| p.starts_with('"'))
            .map(|p| p.trim_matches('"').to_string())
            .collect();
        let dims = row[1..]
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect();
        out.push((row[0].clone(), dims));
    }
    for chunk in t.split("SEARCH('{payhook,").skip(1) {
        let dim = chunk.split('}').next().unwrap().to_string();
        let name = chunk
            .split("MetricName=\\\"")
            .nth(1)
            .unwrap()
            .split('\\')
            .next()
            .unwrap()
            .to_string();
        out.push((name, [(dim, "*".to_string())].into()));
    }
    out
}

#[tokio::test]
async fn emf_documents_count_what_the_notices_say_and_cover_the_alarms() {
    let collector = telemetry::install().expect("the only recorder of this process");
    telemetry::cold_start();
    let stack = Stack::new().await;
    let down = Stack::with(Options {
        stripe_base: Some(format!("{}/", payhook_testkit::closed_port_url())),
        ..Options::default()
    })
    .await;
    let paid = stack.intent("order-emf-1", 1234).await;
    let no_id = stack.intent_with(None, 500, "eur").await;
    let pi_body = sample_body("payment_intent.succeeded", &paid);
    let forged = Msg {
        secret: "whsec_forged",
        ..good(&stack, "m-forged", &pi_body)
    };

    let (logs, _guard) = Logs::capture();
    stack
        .consumer
        .handle_until(
            sqs_event(vec![
                good(&stack, "m-credited", &pi_body).sqs(),
                good(&stack, "m-dup", &sample_body("charge.succeeded", &paid)).sqs(),
                good(&stack, "m-ignored", &sample_body("customer.created", &paid)).sqs(),
                good(
                    &stack,
                    "m-unapplied",
                    &sample_body("payment_intent.succeeded", &no_id),
                )
                .sqs(),
                forged.sqs(),
            ]),
            None,
            Some("req-one"),
        )
        .await
        .expect("batch");
    let down_body = sample_body("payment_intent.succeeded", "pi_EmfDown1");
    down.consumer
        .handle_until(
            sqs_event(vec![good(&down, "m-retry", &down_body).sqs()]),
            None,
            Some("req-two"),
        )
        .await
        .expect("batch");
    let mut out = Vec::new();
    telemetry::flush(collector, "req-two", &mut out).expect("flush");
    let text = String::from_utf8(out).unwrap();

    // Valid EMF, every document carrying the request id.
    let mut metrics: Vec<EmfMetric> = Vec::new();
    for line in text.lines() {
        metrics.extend(emf::parse(line).unwrap_or_else(|e| panic!("{e}: {line}")));
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(doc["RequestId"], "req-two", "{line}");
    }
    let sum = |name: &str, dims: &[(&str, &str)]| -> f64 {
        metrics
            .iter()
            .filter(|m| m.namespace == telemetry::NAMESPACE && m.name == name)
            .filter(|m| {
                m.dimensions.len() == dims.len()
                    && dims
                        .iter()
                        .all(|(k, v)| m.dimensions.get(*k).map(String::as_str) == Some(*v))
            })
            .flat_map(|m| m.values.iter())
            .sum()
    };

    // The counts are the notices'.
    let notices = logs.notices();
    let mut by_outcome: BTreeMap<String, f64> = BTreeMap::new();
    for n in &notices {
        *by_outcome
            .entry(n["outcome"].as_str().unwrap().to_string())
            .or_default() += 1.0;
        assert!(
            n["request_id"].is_string(),
            "every notice carries the request id: {n}"
        );
    }
    assert_eq!(
        by_outcome.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "credited",
            "dead_lettered",
            "duplicate",
            "ignored",
            "retry",
            "unapplied"
        ]
    );
    for (outcome, count) in &by_outcome {
        assert_eq!(
            sum("Messages", &[("Outcome", outcome)]),
            *count,
            "{outcome}"
        );
    }
    for n in notices.iter().filter(|n| n["reason"].is_string()) {
        let (outcome, reason) = (
            n["outcome"].as_str().unwrap(),
            n["reason"].as_str().unwrap(),
        );
        if Reason::parse(reason).is_some() {
            assert!(
                sum(
                    "MessagesByReason",
                    &[("Outcome", outcome), ("Reason", reason)]
                ) >= 1.0,
                "{outcome}/{reason}"
            );
        }
    }
    assert_eq!(sum("AmountCredited", &[("Currency", "eur")]), 1234.0);
    assert_eq!(sum("ColdStart", &[]), 1.0);
    assert!(
        metrics
            .iter()
            .any(|m| m.name == "StripeLookupLatency" && m.values.len() >= 2),
        "{text}"
    );
    assert_eq!(
        metrics
            .iter()
            .filter(|m| m.name == "BatchSize")
            .flat_map(|m| m.values.clone())
            .collect::<Vec<_>>(),
        [5.0, 1.0]
    );

    // Every metric the template's alarms and dashboard read is one the consumer emits, under
    // the same dimension names; the dimension values are outcomes and reasons it writes.
    let emitted: BTreeSet<(String, BTreeSet<String>)> = metrics
        .iter()
        .map(|m| (m.name.clone(), m.dimensions.keys().cloned().collect()))
        .collect();
    let outcomes = [
        "credited",
        "duplicate",
        "ignored",
        "unapplied",
        "retry",
        "dead_lettered",
        "failed",
    ];
    let read = template_metrics();
    assert!(read.len() >= 15, "{read:?}");
    for (name, dims) in read {
        let keys: BTreeSet<String> = dims.keys().cloned().collect();
        assert!(
            emitted.contains(&(name.clone(), keys.clone())),
            "the template reads {name} {keys:?}, which the consumer does not emit: {emitted:?}"
        );
        for (k, v) in &dims {
            match k.as_str() {
                "Outcome" => assert!(outcomes.contains(&v.as_str()), "{name}: outcome {v}"),
                "Reason" => assert!(Reason::parse(v).is_some(), "{name}: reason {v}"),
                "Currency" => assert_eq!(v, "*"),
                other => panic!("{name}: unexpected dimension {other}"),
            }
        }
    }
}
