//! Wall-clock time as the pipeline records it: epoch milliseconds and RFC 3339 in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the clock reads before it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// UTC RFC 3339 from epoch seconds, with the SDK's own formatter.
pub fn rfc3339(epoch_secs: u64) -> String {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
    DateTime::from_secs(epoch_secs as i64)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| epoch_secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_635_648), "2026-11-25T19:40:48Z");
    }
}
