//! The [`ConsecutiveFailures`] policy: trip after N failures in a row.

#[cfg(feature = "sync")]
use super::SharedCircuitBreaker;
use super::{Call, Config, Policy, WindowStats, interval, sealed};
use crate::ConfigError;
use crate::time::Instant;

/// Trip after `threshold` failures in a row (a slow call counts as a
/// failure when slow-call detection is on). A success resets the run; so
/// does the end of the counting [`interval`](Self::interval), when one is
/// set (off by default).
///
/// ```
/// use fusebox::breaker::ConsecutiveFailures;
///
/// let five_in_a_row = ConsecutiveFailures::new(5)?;
/// # let _ = five_in_a_row;
/// assert!(ConsecutiveFailures::new(0).is_err());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConsecutiveFailures {
    pub(super) threshold: u32,
    run: u32,
    // Off unless set: see `ConsecutiveFailures::interval`.
    pub(super) interval: interval::Interval,
}

impl ConsecutiveFailures {
    /// Trip at the `threshold`-th failure in a row (at least 1).
    pub const fn new(threshold: u32) -> Result<Self, ConfigError> {
        if threshold == 0 {
            return Err(ConfigError::new(
                "failure_threshold",
                "be at least 1 (0 would trip on every call)",
            ));
        }
        Ok(Self {
            threshold,
            run: 0,
            interval: interval::Interval::OFF,
        })
    }
}

impl sealed::Judge for ConsecutiveFailures {
    #[inline]
    fn record(&mut self, call: Call, _config: &Config, now: Instant) -> bool {
        if self.interval.roll(now) {
            self.run = 0;
        }
        if call.failed || call.slow {
            self.run = self.run.saturating_add(1);
            self.run >= self.threshold
        } else {
            self.run = 0;
            false
        }
    }
    fn clear(&mut self) {
        self.run = 0;
        self.interval.clear();
    }
    fn stats(&self, now: Instant) -> WindowStats {
        let run = if self.interval.over(now) { 0 } else { self.run };
        WindowStats {
            calls: run,
            failures: run,
            slow: 0,
        }
    }
}
impl Policy for ConsecutiveFailures {
    #[cfg(feature = "sync")]
    type Shared = SharedCircuitBreaker<Self>;
}
