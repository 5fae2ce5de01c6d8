//! Reading CloudWatch Embedded Metric Format documents back, checked against the
//! specification: a `_aws` object with an integer `Timestamp` and `CloudWatchMetrics`
//! directives (namespace, dimension sets, metric definitions), each dimension a string member of
//! the root and each metric a number or an array of numbers there.

use std::collections::BTreeMap;

/// One metric value of one document, with the dimensions it was emitted under.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfMetric {
    pub namespace: String,
    pub name: String,
    /// Dimension name -> value.
    pub dimensions: BTreeMap<String, String>,
    pub values: Vec<f64>,
}

/// The metrics of one EMF line, or why it is not valid EMF.
pub fn parse(line: &str) -> Result<Vec<EmfMetric>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = doc.as_object().ok_or("the root is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(|a| a.as_object())
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(|t| t.as_u64())
        .ok_or("_aws.Timestamp is not an integer of epoch milliseconds")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(|d| d.as_array())
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    let mut out = Vec::new();
    for d in directives {
        let namespace = d
            .get("Namespace")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .ok_or("a directive has no Namespace")?;
        let sets = d
            .get("Dimensions")
            .and_then(|s| s.as_array())
            .ok_or("a directive has no Dimensions array")?;
        let metrics = d
            .get("Metrics")
            .and_then(|m| m.as_array())
            .ok_or("a directive has no Metrics array")?;
        if metrics.len() > 100 {
            return Err("more than 100 metrics in a directive".into());
        }
        for set in sets {
            let names = set.as_array().ok_or("a dimension set is not an array")?;
            if names.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            let mut dimensions = BTreeMap::new();
            for name in names {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                let value = root
                    .get(name)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| format!("dimension {name} has no string value at the root"))?;
                dimensions.insert(name.to_string(), value.to_string());
            }
            for m in metrics {
                let name = m
                    .get("Name")
                    .and_then(|n| n.as_str())
                    .ok_or("a metric definition has no Name")?;
                let values = match root.get(name) {
                    Some(serde_json::Value::Number(n)) => vec![n.as_f64().unwrap_or(f64::NAN)],
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .map(|v| v.as_f64().ok_or(format!("{name} holds a non-number")))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(format!("metric {name} has no value at the root")),
                };
                if values.is_empty() || values.len() > 100 {
                    return Err(format!("metric {name} has {} values", values.len()));
                }
                out.push(EmfMetric {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    dimensions: dimensions.clone(),
                    values,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_valid_document_and_names_what_is_wrong_with_others() {
        let ok = r#"{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"payhook","Dimensions":[["Outcome"]],"Metrics":[{"Name":"Messages"}]}]},"Outcome":"credited","Messages":2,"RequestId":"r-1"}"#;
        let m = parse(ok).unwrap();
        assert_eq!(m[0].name, "Messages");
        assert_eq!(m[0].values, [2.0]);
        assert_eq!(m[0].dimensions["Outcome"], "credited");
        for (bad, why) in [
            (r#"{"Messages":2}"#, "_aws"),
            (
                r#"{"_aws":{"Timestamp":"x","CloudWatchMetrics":[]}}"#,
                "Timestamp",
            ),
            (
                r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[["Outcome"]],"Metrics":[{"Name":"M"}]}]},"M":1}"#,
                "Outcome",
            ),
            (
                r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}}"#,
                "M",
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
