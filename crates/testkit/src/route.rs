//! The webhook route's SQS integration as `template.yaml` maps it, applied to a request the way
//! API Gateway applies it: the placeholders in the `MessageAttributes` JSON are replaced as
//! text (AWS documents no escaping), and the result is read as JSON. Tests and the local
//! ingress build their messages with it, so they cannot drift from the deployed route.

use crate::{BoxError, repo_path};

/// The `MessageAttributes` template, placeholders in.
pub struct RouteMapping {
    json_template: String,
}

/// One message attribute as the route writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedAttribute {
    pub name: String,
    pub data_type: String,
    pub value: String,
}

/// The placeholders, as they stand in template.yaml (inside a `!Sub`).
pub const SUBSCRIBER_PLACEHOLDER: &str = "${SubscriberId}";
pub const SIGNATURE_PLACEHOLDER: &str = "${!request.header.stripe-signature}";
pub const REQUEST_TIME_PLACEHOLDER: &str = "${!context.requestTimeEpoch}";
/// The deploy-time SSM reference the bundle is resolved from.
pub const BUNDLE_PLACEHOLDER: &str = "{{resolve:ssm:${Prefix}/${SubscriberId}/bundle}}";

impl RouteMapping {
    /// The mapping in the repository's template.yaml.
    pub fn from_repo_template() -> Result<RouteMapping, BoxError> {
        let path = repo_path("template.yaml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        RouteMapping::from_template(&text)
    }

    /// The folded JSON block under `MessageAttributes: !Sub`, up to the Sub's variable map.
    pub fn from_template(template: &str) -> Result<RouteMapping, BoxError> {
        let start = template
            .find("MessageAttributes: !Sub")
            .ok_or("the template maps no MessageAttributes")?;
        let block: Vec<&str> = template[start..]
            .lines()
            .skip(2) // the key line and the `- >-` line
            .take_while(|l| !l.trim_start().starts_with("- "))
            .map(str::trim)
            .collect();
        Ok(RouteMapping {
            json_template: block.join(" "),
        })
    }

    /// The JSON text with its placeholders.
    pub fn json_template(&self) -> &str {
        &self.json_template
    }

    /// The attributes API Gateway would send SQS for one request received at
    /// `request_time_epoch`, spliced in as given: an HTTP API's `$context.requestTimeEpoch` is
    /// epoch seconds (README: AWS behaviours relied on). An error where the spliced
    /// text is not JSON: API Gateway cannot send such a request on (it answers 500). Where a
    /// spliced value repeats a key, the last one stands, as in most JSON readers.
    pub fn render(
        &self,
        subscriber: &str,
        signature_header: &str,
        request_time_epoch: i64,
        sealed_bundle: &str,
    ) -> Result<Vec<RoutedAttribute>, BoxError> {
        // One pass, left to right, so a value spliced in is never scanned for placeholders.
        let mut out = String::with_capacity(self.json_template.len() + sealed_bundle.len());
        let mut rest = self.json_template.as_str();
        let request_time = request_time_epoch.to_string();
        let placeholders = [
            (BUNDLE_PLACEHOLDER, sealed_bundle),
            (SUBSCRIBER_PLACEHOLDER, subscriber),
            (SIGNATURE_PLACEHOLDER, signature_header),
            (REQUEST_TIME_PLACEHOLDER, request_time.as_str()),
        ];
        while let Some((at, (placeholder, value))) = placeholders
            .iter()
            .filter_map(|p| rest.find(p.0).map(|at| (at, p)))
            .min_by_key(|(at, _)| *at)
        {
            out.push_str(&rest[..at]);
            out.push_str(value);
            rest = &rest[at + placeholder.len()..];
        }
        out.push_str(rest);
        let json: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| format!("the spliced MessageAttributes are not JSON ({e})"))?;
        let map = json
            .as_object()
            .ok_or("the spliced MessageAttributes are not a JSON object")?;
        map.iter()
            .map(|(name, attr)| {
                let field = |f: &str| {
                    attr.get(f)
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                        .ok_or_else(|| format!("attribute {name} has no string {f}"))
                };
                Ok(RoutedAttribute {
                    name: name.clone(),
                    data_type: field("DataType")?,
                    value: field("StringValue")?,
                })
            })
            .collect()
    }
}
