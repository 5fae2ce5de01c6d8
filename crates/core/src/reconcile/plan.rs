//! Who goes first in a scheduled run, over which window, with how much of the time left: pure
//! decisions, so that fairness is a unit test rather than a timing.

use std::time::Duration;

use super::Window;

/// Each run re-reads this much before the last complete run's end. Stripe lists an event once
/// it is created, but a run that ends at `until` can miss an event whose `created` is just
/// before it and that became listable just after; 15 minutes is far more than that gap, and
/// what is read twice costs a duplicate's read, never a second credit.
pub const OVERLAP_SECS: i64 = 15 * 60;

/// Subscribers in the order they take their turn: the ones never reconciled first, then the
/// one whose last complete run is oldest, so that one cut short by the deadline goes first
/// next time; ties keep the configured order.
pub(super) fn order(mut checkpoints: Vec<(String, Option<i64>)>) -> Vec<(String, Option<i64>)> {
    checkpoints.sort_by_key(|(_, until)| until.unwrap_or(i64::MIN));
    checkpoints
}

/// The window a subscriber's turn reads: from its last complete run's end less the overlap (or
/// the whole configured window on its first run, and never further back than that), up to
/// `until`.
pub(super) fn window(checkpoint: Option<i64>, until: i64, window_hours: u32) -> Window {
    let earliest = until - i64::from(window_hours) * 3600;
    let since = checkpoint
        .map(|c| (c - OVERLAP_SECS).max(earliest))
        .unwrap_or(earliest);
    Window {
        since,
        until: Some(until),
    }
}

/// A scheduled turn reads its window in slices this long, oldest first, and its checkpoint
/// moves after each: a turn cut short keeps what it finished, and every event type of a slice
/// is read before the next slice (Stripe lists each type newest first).
pub const SLICE_SECS: i64 = 6 * 3600;

/// The window in slices of at most [`SLICE_SECS`], oldest first, covering it exactly.
pub(super) fn slices(window: Window) -> Vec<Window> {
    let until = window.until.unwrap_or(window.since);
    let mut out = Vec::new();
    let mut since = window.since;
    loop {
        let end = (since + SLICE_SECS).min(until);
        out.push(Window {
            since,
            until: Some(end),
        });
        if end >= until {
            return out;
        }
        // `created[gte]` and `created[lte]` both include their bound: the next slice starts
        // one second on, so no event is read twice for being on the edge.
        since = end + 1;
    }
}

/// A turn's share of the time left: an equal part for each subscriber still to go, so a busy
/// one cannot take the others' time; what a quick one leaves goes to those after it.
pub(super) fn share(left: Duration, turns_left: usize) -> Duration {
    left / u32::try_from(turns_left.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_never_reconciled_go_first_then_the_longest_waiting() {
        let ordered = order(vec![
            ("recent".into(), Some(2_000)),
            ("cut-last-time".into(), Some(1_000)),
            ("new".into(), None),
            ("also-recent".into(), Some(2_000)),
        ]);
        let names: Vec<&str> = ordered.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["new", "cut-last-time", "recent", "also-recent"]);
    }

    #[test]
    fn a_window_starts_at_the_last_complete_run_less_the_overlap_within_the_configured_hours() {
        let until = 1_795_000_000;
        assert_eq!(
            window(None, until, 72),
            Window {
                since: until - 72 * 3600,
                until: Some(until)
            }
        );
        let after_an_hour = window(Some(until - 3600), until, 72);
        assert_eq!(after_an_hour.since, until - 3600 - OVERLAP_SECS);
        // A checkpoint older than the configured window reads no further back than it.
        assert_eq!(
            window(Some(until - 100 * 3600), until, 72).since,
            until - 72 * 3600
        );
    }

    #[test]
    fn slices_cover_the_window_oldest_first_without_gap_or_overlap() {
        let since = 1_795_000_000;
        let window = Window {
            since,
            until: Some(since + 72 * 3600 + 900),
        };
        let cut = slices(window);
        assert_eq!(cut.len(), 13);
        assert_eq!(cut[0].since, since);
        assert_eq!(cut.last().and_then(|w| w.until), window.until);
        for pair in cut.windows(2) {
            assert_eq!(pair[1].since, pair[0].until.unwrap() + 1);
        }
        assert_eq!(
            slices(Window {
                since,
                until: Some(since + 3600)
            }),
            [Window {
                since,
                until: Some(since + 3600)
            }]
        );
    }

    #[test]
    fn each_turn_gets_an_equal_part_of_what_is_left() {
        let left = Duration::from_secs(800);
        assert_eq!(share(left, 4), Duration::from_secs(200));
        // A quick first turn leaves its time to the rest.
        assert_eq!(
            share(Duration::from_secs(790), 3),
            Duration::from_secs(790) / 3
        );
        assert_eq!(share(left, 0), left);
    }
}
