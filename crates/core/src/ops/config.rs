//! Configuration from the environment, read once per binary at cold start: the consumer's
//! [`Config`], the reconciler's [`Schedule`] beside it, the notifier's [`NotifierConfig`]. The
//! only code that knows variable names; each binary's list is checked against what it reads,
//! and the template's environment against the list.

use std::time::Duration;

use crate::inbound::DEFAULT_TOLERANCE_SECS;
use crate::mode::Mode;
use crate::notifications::NotifierConfig;
use crate::reconcile::Schedule;

pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com/";

/// Every environment variable the consumer reads (`AWS_*` aside, which the SDK reads). The SAM
/// template may set only these; a test holds it to that.
pub const CONSUMER_VARIABLES: [&str; 15] = [
    "UNAPPLIED_TABLE",
    "NOTIFICATIONS_TABLE",
    "PAYHOOK_MODE",
    "PAYMENTS_TABLE",
    "IDEMPOTENCY_TABLE",
    "KEYSET_SECRET_ID",
    "DEAD_LETTER_QUEUE_URL",
    "REJECTED_QUEUE_URL",
    "STRIPE_API_BASE",
    "PAYHOOK_AWS_ENDPOINT_URL",
    "STRIPE_TIMEOUT_MS",
    "SIGNATURE_TOLERANCE_SECS",
    "WEBHOOK_QUEUE_URL",
    "RETRY_BACKOFF_SECS",
    "BATCH_CONCURRENCY",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// `PAYHOOK_MODE`: `live` (the default) or `test`. Only keys, events and PaymentIntents of
    /// this mode are credited.
    pub mode: Mode,
    /// `PAYMENTS_TABLE`: the payment records.
    pub payments_table: String,
    /// `IDEMPOTENCY_TABLE`: one item per credited PaymentIntent.
    pub idempotency_table: String,
    /// `UNAPPLIED_TABLE`: succeeded payments that name no usable payment record.
    pub unapplied_table: String,
    /// `NOTIFICATIONS_TABLE`: the notifications credits owe their subscribers, written in the
    /// credit's transaction; required wherever a credit can happen, so none goes untold.
    pub notifications_table: String,
    /// `KEYSET_SECRET_ID`: name or ARN of the Secrets Manager secret holding the private keys.
    pub keyset_secret_id: String,
    /// `DEAD_LETTER_QUEUE_URL`: where permanent failures go at once. Unset, they are reported
    /// failed and reach the DLQ through the queue's redrive policy after maxReceiveCount tries.
    pub dead_letter_queue_url: Option<String>,
    /// `REJECTED_QUEUE_URL`: where deliveries a stranger can cause (bad or expired signature,
    /// malformed envelope) go instead of the DLQ. Unset, they go to the DLQ.
    pub rejected_queue_url: Option<String>,
    /// `PAYHOOK_AWS_ENDPOINT_URL`: every AWS client's endpoint, for local emulators (`sam local
    /// invoke`). Empty or unset on AWS.
    pub aws_endpoint_url: Option<String>,
    /// `STRIPE_API_BASE`: the Stripe API, or localstripe.
    pub stripe_api_base: String,
    /// `STRIPE_TIMEOUT_MS`: per request, well under the function timeout.
    pub stripe_timeout: Duration,
    /// `SIGNATURE_TOLERANCE_SECS`: allowed distance between Stripe's `t=` and the receive time.
    pub tolerance_secs: u64,
    /// `WEBHOOK_QUEUE_URL`: the queue the function consumes. Set, a transient failure pushes
    /// the message's next visibility out by `retry_backoff_secs`; unset, it comes back after
    /// the queue's visibility timeout.
    pub webhook_queue_url: Option<String>,
    /// `RETRY_BACKOFF_SECS`: comma-separated delays by delivery count (default 30,120,600,3600;
    /// the last repeats; each at most 43200, the SQS maximum).
    pub retry_backoff_secs: Vec<u32>,
    /// `BATCH_CONCURRENCY`: messages of a batch in flight at once (default 10, the batch size).
    pub concurrency: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// `PAYHOOK_AWS_ENDPOINT_URL`, if set: an http(s) URL.
pub(crate) fn aws_endpoint_url(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(value) = get("PAYHOOK_AWS_ENDPOINT_URL") else {
        return Ok(None);
    };
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(Some(value)),
        _ => Err(ConfigError::Invalid {
            name: "PAYHOOK_AWS_ENDPOINT_URL",
            why: format!("{value:?} is not an http(s) URL"),
        }),
    }
}

/// `PAYHOOK_MODE`: `live` unless set.
pub(crate) fn mode(value: Option<String>) -> Result<Mode, ConfigError> {
    match value {
        None => Ok(Mode::Live),
        Some(v) => Mode::parse(v.trim()).ok_or_else(|| ConfigError::Invalid {
            name: "PAYHOOK_MODE",
            why: format!("expected live or test, got {v:?}"),
        }),
    }
}

/// `value` of variable `name` as a whole number from 1 to `max`; `default` when unset.
pub(crate) fn whole_number(
    name: &'static str,
    value: Option<String>,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                why: format!("expected a whole number from 1 to {max}, got {v:?}"),
            }),
        },
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let required = |k: &'static str| get(k).ok_or(ConfigError::Missing(k));
        let number =
            |k: &'static str, default: u64, max: u64| whole_number(k, get(k), default, max);

        let stripe_api_base =
            get("STRIPE_API_BASE").unwrap_or_else(|| DEFAULT_STRIPE_API_BASE.to_string());
        // Refused here, where the variable is named, rather than at the first lookup.
        match url::Url::parse(&stripe_api_base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => {
                return Err(ConfigError::Invalid {
                    name: "STRIPE_API_BASE",
                    why: format!("{stripe_api_base:?} is not an http(s) URL"),
                });
            }
        }

        let retry_backoff_secs = match get("RETRY_BACKOFF_SECS") {
            None => crate::consumer::DEFAULT_SCHEDULE_SECS.to_vec(),
            Some(v) => v
                .split(',')
                .map(|d| {
                    d.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|d| *d <= crate::consumer::MAX_DELAY_SECS)
                })
                .collect::<Option<Vec<u32>>>()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    name: "RETRY_BACKOFF_SECS",
                    why: format!("expected comma-separated seconds, each at most 43200, got {v:?}"),
                })?,
        };

        let mode = mode(get("PAYHOOK_MODE"))?;

        Ok(Config {
            mode,
            payments_table: required("PAYMENTS_TABLE")?,
            idempotency_table: required("IDEMPOTENCY_TABLE")?,
            unapplied_table: required("UNAPPLIED_TABLE")?,
            notifications_table: required("NOTIFICATIONS_TABLE")?,
            keyset_secret_id: required("KEYSET_SECRET_ID")?,
            dead_letter_queue_url: get("DEAD_LETTER_QUEUE_URL"),
            rejected_queue_url: get("REJECTED_QUEUE_URL"),
            aws_endpoint_url: aws_endpoint_url(&get)?,
            stripe_api_base,
            stripe_timeout: Duration::from_millis(number("STRIPE_TIMEOUT_MS", 10_000, 600_000)?),
            tolerance_secs: number("SIGNATURE_TOLERANCE_SECS", DEFAULT_TOLERANCE_SECS, 86_400)?,
            webhook_queue_url: get("WEBHOOK_QUEUE_URL"),
            concurrency: number("BATCH_CONCURRENCY", 10, 100)? as usize,
            retry_backoff_secs,
        })
    }
}

/// Every environment variable the scheduled run reads beyond the consumer's.
pub const SCHEDULE_VARIABLES: [&str; 3] = [
    "SUBSCRIBERS",
    "SUBSCRIBER_PARAMETER_PREFIX",
    "RECONCILE_WINDOW_HOURS",
];

/// Every environment variable the notifier reads.
pub const NOTIFIER_VARIABLES: [&str; 11] = [
    "PAYHOOK_MODE",
    "PAYHOOK_AWS_ENDPOINT_URL",
    "NOTIFICATIONS_TABLE",
    "PAYMENTS_TABLE",
    "KEYSET_SECRET_ID",
    "SUBSCRIBER_PARAMETER_PREFIX",
    "NOTIFICATION_DLQ_URL",
    "NOTIFY_RETRY_SECS",
    "NOTIFY_GIVE_UP_SECS",
    "NOTIFY_CONNECT_TIMEOUT_MS",
    "NOTIFY_TIMEOUT_MS",
];

/// The reconciler's schedule, from the environment.
pub fn schedule_from_env() -> Result<Schedule, ConfigError> {
    schedule(|k| std::env::var(k).ok())
}

/// The reconciler's schedule, from `get`.
pub fn schedule(get: impl Fn(&str) -> Option<String>) -> Result<Schedule, ConfigError> {
    {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let subscribers: Vec<String> = get("SUBSCRIBERS")
            .ok_or(ConfigError::Missing("SUBSCRIBERS"))?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = subscribers
            .iter()
            .find(|s| !crate::ids::is_valid_subscriber(s))
        {
            return Err(ConfigError::Invalid {
                name: "SUBSCRIBERS",
                why: format!("{bad:?} is not 1-64 of A-Z a-z 0-9 _ -"),
            });
        }
        let window_hours = match get("RECONCILE_WINDOW_HOURS") {
            None => 72,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|h| (1..=720).contains(h))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "RECONCILE_WINDOW_HOURS",
                    why: format!("expected whole hours from 1 to 720, got {v:?}"),
                })?,
        };
        Ok(Schedule {
            subscribers,
            parameter_prefix: get("SUBSCRIBER_PARAMETER_PREFIX")
                .unwrap_or_else(|| "/payhook/subscribers".into())
                .trim_end_matches('/')
                .to_string(),
            window_hours,
        })
    }
}

/// The notifier's settings, from the environment.
pub fn notifier_config_from_env() -> Result<NotifierConfig, ConfigError> {
    notifier_config(|k| std::env::var(k).ok())
}

/// The notifier's settings, from `get`.
pub fn notifier_config(
    get: impl Fn(&str) -> Option<String>,
) -> Result<NotifierConfig, ConfigError> {
    {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let required = |k: &'static str| get(k).ok_or(ConfigError::Missing(k));
        let number =
            |k: &'static str, default: u64, max: u64| whole_number(k, get(k), default, max);
        let retry_secs = match get("NOTIFY_RETRY_SECS") {
            None => crate::notifications::DEFAULT_RETRY_SECS.to_vec(),
            Some(v) => v
                .split(',')
                .map(|d| {
                    d.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|d| (1..=crate::notifications::MAX_RETRY_SECS).contains(d))
                })
                .collect::<Option<Vec<u64>>>()
                .filter(|d| !d.is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    name: "NOTIFY_RETRY_SECS",
                    why: format!(
                        "expected comma-separated whole seconds from 1 to {}, got {v:?}",
                        crate::notifications::MAX_RETRY_SECS
                    ),
                })?,
        };
        let mode = mode(get("PAYHOOK_MODE"))?;
        Ok(NotifierConfig {
            mode,
            notifications_table: required("NOTIFICATIONS_TABLE")?,
            payments_table: required("PAYMENTS_TABLE")?,
            keyset_secret_id: required("KEYSET_SECRET_ID")?,
            parameter_prefix: get("SUBSCRIBER_PARAMETER_PREFIX")
                .unwrap_or_else(|| "/payhook/subscribers".into())
                .trim_end_matches('/')
                .to_string(),
            dead_letter_queue_url: required("NOTIFICATION_DLQ_URL")?,
            public_https_only: mode == Mode::Live || get("AWS_LAMBDA_RUNTIME_API").is_some(),
            retry_secs,
            give_up_secs: number(
                "NOTIFY_GIVE_UP_SECS",
                crate::notifications::DEFAULT_GIVE_UP_SECS,
                90 * 86_400,
            )?,
            connect_timeout: Duration::from_millis(number(
                "NOTIFY_CONNECT_TIMEOUT_MS",
                3_000,
                30_000,
            )?),
            timeout: Duration::from_millis(number("NOTIFY_TIMEOUT_MS", 10_000, 30_000)?),
            aws_endpoint_url: aws_endpoint_url(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 5] = [
        ("PAYMENTS_TABLE", "p"),
        ("IDEMPOTENCY_TABLE", "i"),
        ("UNAPPLIED_TABLE", "u"),
        ("NOTIFICATIONS_TABLE", "n"),
        ("KEYSET_SECRET_ID", "s"),
    ];

    #[test]
    fn reads_only_the_listed_variables() {
        let asked = std::cell::RefCell::new(Vec::new());
        let _ = Config::from_lookup(|k| {
            asked.borrow_mut().push(k.to_string());
            lookup(&BASE)(k)
        });
        let mut asked = asked.into_inner();
        asked.sort();
        let mut listed = CONSUMER_VARIABLES.map(String::from).to_vec();
        listed.sort();
        assert_eq!(asked, listed);
    }

    #[test]
    fn defaults() {
        let c = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.stripe_api_base, DEFAULT_STRIPE_API_BASE);
        assert_eq!(c.tolerance_secs, 300);
        assert_eq!(c.stripe_timeout, Duration::from_secs(10));
        assert_eq!(c.dead_letter_queue_url, None);
    }

    #[test]
    fn missing_and_invalid_values_are_named() {
        assert_eq!(
            Config::from_lookup(lookup(&BASE[..4])).unwrap_err(),
            ConfigError::Missing("KEYSET_SECRET_ID")
        );
        // A credit always owes its notification: no table, no consumer.
        let without_notifications: Vec<_> = BASE
            .into_iter()
            .filter(|(k, _)| *k != "NOTIFICATIONS_TABLE")
            .collect();
        assert_eq!(
            Config::from_lookup(lookup(&without_notifications)).unwrap_err(),
            ConfigError::Missing("NOTIFICATIONS_TABLE")
        );
        for (name, value) in [
            ("STRIPE_API_BASE", "not a url"),
            ("STRIPE_API_BASE", "ftp://x"),
            ("SIGNATURE_TOLERANCE_SECS", "-1"),
            ("SIGNATURE_TOLERANCE_SECS", "0"),
            ("STRIPE_TIMEOUT_MS", "soon"),
            ("RETRY_BACKOFF_SECS", "30,soon"),
            ("RETRY_BACKOFF_SECS", "50000"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((name, value));
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn defaults_are_the_documented_schedule() {
        let c = notifier_config(|k| match k {
            "NOTIFICATIONS_TABLE" => Some("n".into()),
            "PAYMENTS_TABLE" => Some("p".into()),
            "KEYSET_SECRET_ID" => Some("k".into()),
            "NOTIFICATION_DLQ_URL" => Some("q".into()),
            _ => None,
        })
        .expect("config");
        assert_eq!(c.retry_secs, [600, 3_600, 10_800, 86_400]);
        assert_eq!(c.give_up_secs, 7 * 86_400);
        assert_eq!(c.mode, crate::mode::Mode::Live);
        assert!(c.public_https_only);
    }

    #[test]
    fn only_a_test_stack_outside_lambda_may_call_local_endpoints() {
        let config = |mode: &str, in_lambda: bool| {
            notifier_config(|k| match k {
                "PAYHOOK_MODE" => Some(mode.into()),
                "AWS_LAMBDA_RUNTIME_API" if in_lambda => Some("127.0.0.1:9001".into()),
                "NOTIFICATIONS_TABLE"
                | "PAYMENTS_TABLE"
                | "KEYSET_SECRET_ID"
                | "NOTIFICATION_DLQ_URL" => Some("x".into()),
                _ => None,
            })
            .expect("config")
            .public_https_only
        };
        assert!(!config("test", false));
        assert!(config("test", true));
        assert!(config("live", false));
        assert!(config("live", true));
    }

    #[test]
    fn a_notifier_without_its_dlq_does_not_start() {
        let r = notifier_config(|k| match k {
            "NOTIFICATIONS_TABLE" | "PAYMENTS_TABLE" | "KEYSET_SECRET_ID" => Some("x".into()),
            _ => None,
        });
        assert_eq!(r, Err(ConfigError::Missing("NOTIFICATION_DLQ_URL")));
    }

    #[test]
    fn a_bad_schedule_is_refused_by_name() {
        for bad in ["", "10,soon", "0", ",", "2592001", "18446744073709551615"] {
            let r = notifier_config(|k| match k {
                "NOTIFICATIONS_TABLE"
                | "PAYMENTS_TABLE"
                | "KEYSET_SECRET_ID"
                | "NOTIFICATION_DLQ_URL" => Some("x".into()),
                "NOTIFY_RETRY_SECS" => Some(bad.into()),
                _ => None,
            });
            if bad.is_empty() {
                assert!(r.is_ok());
            } else {
                assert!(
                    matches!(
                        r,
                        Err(ConfigError::Invalid {
                            name: "NOTIFY_RETRY_SECS",
                            ..
                        })
                    ),
                    "{bad:?}"
                );
            }
        }
    }
}
