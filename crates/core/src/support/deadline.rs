//! When a scheduled or queue-fed invocation stops starting work: the runtime's deadline less a
//! margin, so what was started can finish and be reported before the function timeout.

use std::time::Instant;

/// When to stop starting messages, from the runtime's deadline (epoch ms) less `margin`.
/// A deadline that is not an epoch-ms instant, 0 or `cargo lambda watch`'s 600000 (its
/// timeout), gives no limit rather than an expired one; the function timeout still bounds.
pub fn start_no_message_after(
    deadline_epoch_ms: u64,
    now_epoch_ms: u64,
    now: Instant,
    margin: std::time::Duration,
) -> Option<Instant> {
    // 2001-09-09: no real deadline is earlier, and no timeout in ms is this large.
    const EARLIEST_EPOCH_MS: u64 = 1_000_000_000_000;
    (deadline_epoch_ms >= EARLIEST_EPOCH_MS).then(|| {
        let left = std::time::Duration::from_millis(deadline_epoch_ms.saturating_sub(now_epoch_ms));
        now + left.saturating_sub(margin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_runtime_deadline_less_the_margin_or_none() {
        let now = Instant::now();
        let now_ms = 1_795_000_000_000;
        let margin = std::time::Duration::from_secs(20);
        assert_eq!(
            start_no_message_after(now_ms + 60_000, now_ms, now, margin),
            Some(now + std::time::Duration::from_secs(40))
        );
        // Less than the margin left, or already past: stop at once.
        assert_eq!(
            start_no_message_after(now_ms + 5_000, now_ms, now, margin),
            Some(now)
        );
        assert_eq!(
            start_no_message_after(now_ms - 5_000, now_ms, now, margin),
            Some(now)
        );
        // No deadline, or cargo lambda watch's timeout in its place.
        assert_eq!(start_no_message_after(0, now_ms, now, margin), None);
        assert_eq!(start_no_message_after(600_000, now_ms, now, margin), None);
    }
}
