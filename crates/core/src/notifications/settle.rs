//! What one attempt at a notification comes to, apart from the I/O: whether to send at all,
//! what the receiver's answer means, and what the notification's next state is (due again on
//! the retry schedule, delivered, nobody to tell, or dead with a reason once the retry window
//! has closed). Pure, so each rule has its own tests.

use super::{Next, Notification, OutboundError};
use crate::ledger::NotificationStatus;

/// Why a notification went to the notification DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    /// Still failing when the retry window closed.
    RetriesExhausted,
    /// The endpoint is not one this deployment may call (live: https, public address).
    EndpointNotAllowed,
    /// The bundle's notification secret cannot sign.
    BadSecret,
}

impl DeadReason {
    pub const ALL: [DeadReason; 3] = [
        Self::RetriesExhausted,
        Self::EndpointNotAllowed,
        Self::BadSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetriesExhausted => "retries_exhausted",
            Self::EndpointNotAllowed => "endpoint_not_allowed",
            Self::BadSecret => "bad_secret",
        }
    }

    pub fn parse(s: &str) -> Option<DeadReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A subscriber's endpoint and signer, as their bundle says now.
pub(super) struct Target {
    pub url: String,
    /// The signer, or why the bundle's secret cannot be one.
    pub signer: Result<standardwebhooks::Webhook, String>,
}

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failed {
    /// May pass: due again on the schedule (while the retry window is open).
    Retry(String),
    /// Cannot pass by sending again.
    Dead(DeadReason, String),
    /// The bundle names no endpoint.
    NoEndpoint,
}

/// What a claimed notification's attempt does.
pub(super) enum Step<'t> {
    /// Nothing is sent: the attempt has already come to this.
    Settled(Failed),
    /// Sign with `signer` and post to `url`.
    Send {
        url: &'t str,
        signer: &'t standardwebhooks::Webhook,
    },
}

/// What the bundle lets this attempt do. `target`: `None` when the subscriber's bundle could
/// not be read (`bundle_error` says why), `Some(None)` when it names no endpoint.
pub(super) fn first_step<'t>(
    n: &Notification,
    target: Option<Option<&'t Target>>,
    bundle_error: Option<&str>,
) -> Step<'t> {
    // Decided on an earlier run whose move to the DLQ failed: only the move is retried, never
    // the endpoint.
    let decided_dead = n
        .dead_reason
        .as_deref()
        .filter(|_| n.status == NotificationStatus::Pending)
        .and_then(DeadReason::parse);
    if let Some(reason) = decided_dead {
        return Step::Settled(Failed::Dead(
            reason,
            n.last_error.clone().unwrap_or_default(),
        ));
    }
    if let Some(error) = bundle_error {
        return Step::Settled(Failed::Retry(format!("bundle: {error}")));
    }
    match target.flatten() {
        None => Step::Settled(Failed::NoEndpoint),
        Some(Target {
            signer: Err(why), ..
        }) => Step::Settled(Failed::Dead(DeadReason::BadSecret, why.clone())),
        Some(Target {
            url,
            signer: Ok(signer),
        }) => Step::Send { url, signer },
    }
}

/// What the receiver's answer (or its absence) means: only a 2xx delivers; a refused URL is
/// dead at once; anything else may pass.
pub(super) fn answered(sent: Result<u16, &OutboundError>) -> Result<(), Failed> {
    match sent {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status) => Err(Failed::Retry(format!(
            "the endpoint answered HTTP {status}"
        ))),
        Err(e) if e.is_permanent() => {
            Err(Failed::Dead(DeadReason::EndpointNotAllowed, e.to_string()))
        }
        Err(e) => Err(Failed::Retry(e.to_string())),
    }
}

/// The retry schedule: delays after each failed attempt of a window (the last repeating), and
/// how long after a window's first attempt retries go on.
pub(super) struct Schedule<'a> {
    pub retry_secs: &'a [u64],
    pub give_up_ms: i64,
}

impl Schedule<'_> {
    /// Its longest delay.
    pub fn longest_ms(&self) -> i64 {
        self.retry_secs.iter().copied().max().unwrap_or(86_400) as i64 * 1000
    }

    /// The delay after the `n`th failed attempt of a retry window: the schedule's entry, its
    /// last once attempts outrun it.
    pub fn delay_ms(&self, n: i64) -> i64 {
        let index = usize::try_from(n.max(1) - 1).unwrap_or(usize::MAX);
        self.retry_secs
            .get(index)
            .or(self.retry_secs.last())
            .copied()
            .unwrap_or(86_400) as i64
            * 1000
    }
}

/// An attempt's consequence for its notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decided {
    pub next: Next,
    /// Why it is to be dead-lettered.
    pub reason: Option<DeadReason>,
    /// What the audit row says went wrong.
    pub error: Option<String>,
}

/// The notification's next state after an attempt at `now_ms` (made at `at_ms`): a failure
/// that may pass is due again after the schedule's delay, unless that is past the window that
/// opened at the window's first attempt; then it is dead, `retries_exhausted`. A receiver's
/// `Retry-After` is honoured within the schedule's bounds: never sooner than the schedule's
/// delay, never later than its longest.
pub(super) fn decided(
    result: Result<(), Failed>,
    retry_after_secs: Option<u64>,
    n: &Notification,
    now_ms: i64,
    at_ms: i64,
    schedule: &Schedule<'_>,
) -> Decided {
    let first = n.first_attempt_at.unwrap_or(at_ms);
    let (next, reason, error) = match result {
        Ok(()) => (Next::Delivered, None, None),
        Err(Failed::NoEndpoint) => (
            Next::NotNotified,
            None,
            Some("the subscriber's bundle names no notification endpoint".to_string()),
        ),
        Err(Failed::Dead(reason, error)) => (Next::DeadLettered, Some(reason), Some(error)),
        Err(Failed::Retry(error)) => {
            let asked = retry_after_secs
                .map(|s| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX))
                .map(|ms| ms.min(schedule.longest_ms()));
            let delay = schedule
                .delay_ms(n.window_attempts + 1)
                .max(asked.unwrap_or(0));
            if now_ms + delay > first + schedule.give_up_ms {
                (
                    Next::DeadLettered,
                    Some(DeadReason::RetriesExhausted),
                    Some(error),
                )
            } else {
                (Next::RetryAt(now_ms + delay), None, Some(error))
            }
        }
    };
    Decided {
        next,
        reason,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn pending() -> Notification {
        super::super::store::fresh_notification()
    }

    fn schedule() -> Schedule<'static> {
        Schedule {
            retry_secs: &[600, 3_600],
            give_up_ms: 24 * HOUR,
        }
    }

    fn target(secret: &str) -> Target {
        Target {
            url: "https://example.com/hook".into(),
            signer: standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string()),
        }
    }

    #[test]
    fn a_decision_to_dead_letter_is_only_carried_out_again_never_resent() {
        let mut n = pending();
        n.dead_reason = Some("endpoint_not_allowed".into());
        n.last_error = Some("will not send to http://10.0.0.1/".into());
        let t = target("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        match first_step(&n, Some(Some(&t)), None) {
            Step::Settled(Failed::Dead(DeadReason::EndpointNotAllowed, why)) => {
                assert_eq!(why, "will not send to http://10.0.0.1/")
            }
            _ => panic!("the endpoint would be called again"),
        }
    }

    #[test]
    fn the_bundle_decides_whether_anything_is_sent() {
        let n = pending();
        assert!(matches!(
            first_step(&n, None, Some("parameter not found")),
            Step::Settled(Failed::Retry(why)) if why == "bundle: parameter not found"
        ));
        assert!(matches!(
            first_step(&n, Some(None), None),
            Step::Settled(Failed::NoEndpoint)
        ));
        let unusable = target("not base64 at all!");
        assert!(matches!(
            first_step(&n, Some(Some(&unusable)), None),
            Step::Settled(Failed::Dead(DeadReason::BadSecret, _))
        ));
        let good = target("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(matches!(
            first_step(&n, Some(Some(&good)), None),
            Step::Send {
                url: "https://example.com/hook",
                ..
            }
        ));
    }

    #[test]
    fn only_a_2xx_delivers_and_only_a_refused_url_is_dead_at_once() {
        assert_eq!(answered(Ok(204)), Ok(()));
        assert_eq!(
            answered(Ok(410)),
            Err(Failed::Retry("the endpoint answered HTTP 410".into()))
        );
        assert!(matches!(answered(Ok(302)), Err(Failed::Retry(_))));
        assert!(matches!(
            answered(Err(&OutboundError::NotAllowed {
                url: "http://127.0.0.1/".into(),
                why: "loopback".into()
            })),
            Err(Failed::Dead(DeadReason::EndpointNotAllowed, _))
        ));
        assert!(matches!(
            answered(Err(&OutboundError::Timeout { after_ms: 10_000 })),
            Err(Failed::Retry(_))
        ));
    }

    #[test]
    fn a_failure_is_due_again_on_the_schedule_and_its_last_delay_repeats() {
        let s = schedule();
        let mut n = pending();
        let retry = || Err(Failed::Retry("HTTP 503".into()));
        let d = decided(retry(), None, &n, NOW, NOW, &s);
        assert_eq!(d.next, Next::RetryAt(NOW + 600_000));
        assert_eq!(d.reason, None);
        assert_eq!(d.error.as_deref(), Some("HTTP 503"));
        n.window_attempts = 1;
        n.first_attempt_at = Some(NOW);
        assert_eq!(
            decided(retry(), None, &n, NOW, NOW, &s).next,
            Next::RetryAt(NOW + HOUR)
        );
        n.window_attempts = 7;
        assert_eq!(
            decided(retry(), None, &n, NOW, NOW, &s).next,
            Next::RetryAt(NOW + HOUR)
        );
    }

    #[test]
    fn a_retry_that_would_fall_after_the_window_is_dead_as_retries_exhausted() {
        let s = schedule();
        let mut n = pending();
        n.first_attempt_at = Some(NOW - 23 * HOUR);
        n.window_attempts = 3;
        // At the window's edge the next attempt still fits...
        let inside = decided(Err(Failed::Retry("x".into())), None, &n, NOW, NOW, &s);
        assert_eq!(inside.next, Next::RetryAt(NOW + HOUR));
        // ...one millisecond later it does not.
        let late = decided(
            Err(Failed::Retry("x".into())),
            None,
            &n,
            NOW + 1,
            NOW + 1,
            &s,
        );
        assert_eq!(late.next, Next::DeadLettered);
        assert_eq!(late.reason, Some(DeadReason::RetriesExhausted));
        assert_eq!(late.error.as_deref(), Some("x"));
    }

    #[test]
    fn delivered_and_nobody_to_tell_settle_without_a_reason() {
        let s = schedule();
        let n = pending();
        assert_eq!(
            decided(Ok(()), None, &n, NOW, NOW, &s),
            Decided {
                next: Next::Delivered,
                reason: None,
                error: None
            }
        );
        let none = decided(Err(Failed::NoEndpoint), None, &n, NOW, NOW, &s);
        assert_eq!((none.next, none.reason), (Next::NotNotified, None));
    }

    #[test]
    fn an_empty_schedule_waits_a_day() {
        let s = Schedule {
            retry_secs: &[],
            give_up_ms: 0,
        };
        assert_eq!(s.delay_ms(1), 86_400_000);
    }

    #[test]
    fn retry_after_is_honoured_within_the_schedules_bounds() {
        let s = schedule();
        let n = pending();
        let retry = || Err(Failed::Retry("HTTP 429".into()));
        // Later than the schedule's delay: as asked.
        assert_eq!(
            decided(retry(), Some(1_800), &n, NOW, NOW, &s).next,
            Next::RetryAt(NOW + 1_800_000)
        );
        // Sooner than the schedule: the schedule's delay stands.
        assert_eq!(
            decided(retry(), Some(5), &n, NOW, NOW, &s).next,
            Next::RetryAt(NOW + 600_000)
        );
        // Further than the longest delay: the longest.
        assert_eq!(
            decided(retry(), Some(30 * 86_400), &n, NOW, NOW, &s).next,
            Next::RetryAt(NOW + HOUR)
        );
    }
}
