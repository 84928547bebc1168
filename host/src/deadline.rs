//! Deadlines of timed waits, for timeouts of any size.
//!
//! A timeout comes from the operator (`--timeout`, `--lock-timeout`, the configuration's
//! timeouts) and may lie beyond the latest instant [`Instant`] can represent, where
//! `Instant + Duration` panics. Every deadline is therefore computed here, and a deadline too
//! far away to represent means no deadline: the wait has no limit.

use std::time::{Duration, Instant};

/// Returns the instant `timeout` after `start`, or `None` when that instant is too far in the
/// future for [`Instant`], which callers treat as a wait without a limit.
pub fn deadline_after(start: Instant, timeout: Duration) -> Option<Instant> {
    start.checked_add(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_after_adds_the_timeout() {
        let start = Instant::now();

        let deadline = deadline_after(start, Duration::from_secs(30));

        assert_eq!(deadline, Some(start + Duration::from_secs(30)));
    }

    #[test]
    fn deadline_after_huge_timeout_is_none() {
        let start = Instant::now();

        assert_eq!(deadline_after(start, Duration::MAX), None);
        assert_eq!(
            deadline_after(start, Duration::from_secs(18_000_000_000_000_000_000)),
            None
        );
    }
}
