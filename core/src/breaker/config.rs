//! The breaker's [`Config`]: the settings shared by every failure policy.

use super::{BreakDuration, ProbeRule};
#[cfg(doc)]
use super::{CircuitBreaker, ConsecutiveFailures};
use crate::ConfigError;
use crate::time::Duration;

/// Settings shared by every failure policy: how long to stay open, how to
/// probe, what counts as slow.
///
/// Setters are `const fn` and do not check; [`CircuitBreaker::new`] checks
/// the whole configuration and names the first field out of range.
///
/// ```
/// use fusebox::breaker::Config;
/// use fusebox::time::Duration;
///
/// // Open 1 s, then 2 s, 4 s, ... up to 60 s while probes keep failing; two
/// // probes at a time, three successes to close; calls over 2 s are slow,
/// // and a window where 80 % of calls are slow trips like one that fails.
/// let config = Config::new()
///     .open_duration_growing(Duration::from_secs(1), 2, Duration::from_secs(60))
///     .half_open_probes(2)
///     .half_open_successes(3)
///     .probe_timeout(Duration::from_secs(5))
///     .slow_calls(Duration::from_secs(2), 80);
/// assert!(config.validate().is_ok());
/// assert_eq!(Config::new().half_open_probes(0).validate().unwrap_err().field(), "half_open_probes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    pub(super) open: BreakDuration,
    pub(super) probe_timeout: Duration,
    // Read only through `slow_call_duration`, which maps `Duration::MAX`
    // to `None` (off): an `Option<Duration>` here would add 8 bytes to
    // every breaker (a `Duration` has no niche), and no call can take
    // longer than `Duration::MAX` anyway.
    slow_duration: Duration,
    pub(super) slow_percent: u8,
    pub(super) half_open_probes: u16,
    pub(super) half_open_successes: u16,
    pub(super) probe_rule: ProbeRule,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults: open for 30 s (constant), one half-open probe at a
    /// time, one success to close, a 10 s probe timeout, no slow-call
    /// detection. Durations are converted at the binary's tick rate.
    pub const fn new() -> Self {
        Self {
            open: BreakDuration::Constant(Duration::from_secs(30)),
            probe_timeout: Duration::from_secs(10),
            slow_duration: Duration::MAX,
            slow_percent: 100,
            half_open_probes: 1,
            half_open_successes: 1,
            probe_rule: ProbeRule::InFlight,
        }
    }

    /// Stay open for `duration` after every trip (at least 1 tick).
    pub const fn open_duration(mut self, duration: Duration) -> Self {
        self.open = BreakDuration::Constant(duration);
        self
    }

    /// Stay open for `initial` after the first trip, and `factor` times
    /// longer after each further trip without a close in between, up to
    /// `max`. (`factor` at least 1, `max` at least `initial`.)
    pub const fn open_duration_growing(
        mut self,
        initial: Duration,
        factor: u32,
        max: Duration,
    ) -> Self {
        self.open = BreakDuration::Geometric {
            initial,
            factor,
            max,
        };
        self
    }

    /// Stay open for `initial` after the first trip, and `step` longer after
    /// each further trip without a close in between, up to `max` (`initial`
    /// at least 1 tick, `max` at least `initial`; a `step` of 0 keeps it
    /// constant).
    pub const fn open_duration_linear(
        mut self,
        initial: Duration,
        step: Duration,
        max: Duration,
    ) -> Self {
        self.open = BreakDuration::Linear { initial, step, max };
        self
    }

    /// Stay open for `table[n - 1]` after the `n`-th trip without a close in
    /// between; past the end of the table, for its last entry (1 to 255
    /// entries of at least 1 tick each).
    pub const fn open_duration_table(mut self, table: &'static [Duration]) -> Self {
        self.open = BreakDuration::Table(table);
        self
    }

    /// Set the open-duration schedule directly (see [`BreakDuration`]).
    pub const fn break_duration(mut self, schedule: BreakDuration) -> Self {
        self.open = schedule;
        self
    }

    /// The open-duration schedule.
    pub const fn break_duration_schedule(&self) -> BreakDuration {
        self.open
    }

    /// At most `k` probes in HalfOpen (at least 1; default 1): in flight at
    /// once, or admitted per half-open round, as [`probe_rule`](Self::probe_rule)
    /// says.
    pub const fn half_open_probes(mut self, k: u16) -> Self {
        self.half_open_probes = k;
        self
    }

    /// How the half-open probe limit K counts (default
    /// [`ProbeRule::InFlight`]; see [`ProbeRule`] for both timelines).
    pub const fn probe_rule(mut self, rule: ProbeRule) -> Self {
        self.probe_rule = rule;
        self
    }

    /// Close after `s` probe successes (at least 1; default 1). `s` may exceed
    /// the number of concurrent probes: probes then run in turns.
    pub const fn half_open_successes(mut self, s: u16) -> Self {
        self.half_open_successes = s;
        self
    }

    /// Write off unrecorded probes once `timeout` has passed since the last
    /// probe was admitted (at least 1 tick; default 10 s). Set it above the
    /// call's own timeout: a probe recorded later is stale.
    pub const fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Count a call that took at least `duration` (at least 1 tick) as slow;
    /// rate policies trip when `percent` (1..=100) of the calls in the window
    /// are slow. [`ConsecutiveFailures`] counts a slow call as a failure and
    /// ignores `percent`. Off by default; a `duration` of
    /// [`Duration::MAX`] leaves it off.
    pub const fn slow_calls(mut self, duration: Duration, percent: u8) -> Self {
        self.slow_duration = duration;
        self.slow_percent = percent;
        self
    }

    /// The slow-call duration set by [`slow_calls`](Self::slow_calls), or
    /// `None` when slow-call detection is off (no call is slow).
    ///
    /// ```
    /// use fusebox::breaker::Config;
    /// use fusebox::time::Duration;
    ///
    /// assert_eq!(Config::new().slow_call_duration(), None);
    /// let two_s = Duration::from_secs(2);
    /// assert_eq!(Config::new().slow_calls(two_s, 80).slow_call_duration(), Some(two_s));
    /// ```
    #[inline]
    pub const fn slow_call_duration(&self) -> Option<Duration> {
        if self.slow_duration.as_ticks() == u64::MAX {
            None
        } else {
            Some(self.slow_duration)
        }
    }

    /// Check every field; the error names the first one out of range.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = self.open.validate() {
            return Err(e);
        }
        if self.half_open_probes == 0 {
            return Err(ConfigError::new(
                "half_open_probes",
                "be in 1..=65535 (0 would never admit a probe)",
            ));
        }
        if self.half_open_successes == 0 {
            return Err(ConfigError::new(
                "half_open_successes",
                "be in 1..=65535 (0 would close without a probe)",
            ));
        }
        if matches!(self.probe_rule, ProbeRule::PerRound)
            && self.half_open_successes > self.half_open_probes
        {
            return Err(ConfigError::new(
                "half_open_successes",
                "be at most half_open_probes under ProbeRule::PerRound (a round admits no more probes than that, so more successes could never close it)",
            ));
        }
        if self.probe_timeout.as_ticks() == 0 {
            return Err(ConfigError::new("probe_timeout", "be at least 1 tick"));
        }
        if self.slow_duration.as_ticks() == 0 {
            return Err(ConfigError::new(
                "slow_calls.duration",
                "be at least 1 tick (0 would make every call slow)",
            ));
        }
        if self.slow_percent == 0 || self.slow_percent > 100 {
            return Err(ConfigError::new(
                "slow_calls.percent",
                "be in 1..=100 (percent)",
            ));
        }
        Ok(())
    }

    /// The open duration after `trips` consecutive trips without a close
    /// in between (1 for the first; 0 is taken as 1). See [`BreakDuration`].
    pub const fn open_duration_after(&self, trips: u32) -> Duration {
        self.open.after(trips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_duration_grows_and_saturates_at_the_cap() {
        let c = Config::new().open_duration_growing(
            Duration::from_ticks(10),
            3,
            Duration::from_ticks(200),
        );
        let got: [u64; 5] = [1, 2, 3, 4, 5].map(|n| c.open_duration_after(n).as_ticks());
        assert_eq!(got, [10, 30, 90, 200, 200]);
        assert_eq!(c.open_duration_after(u32::MAX).as_ticks(), 200);
        let huge = Config::new().open_duration_growing(
            Duration::from_ticks(u64::MAX / 2),
            u32::MAX,
            Duration::MAX,
        );
        assert_eq!(huge.open_duration_after(3), Duration::MAX);
    }
}
