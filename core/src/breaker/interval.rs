//! Counting over an interval while closed (gobreaker's `Interval`):
//! [`FailureCount`], and the same interval on
//! [`ConsecutiveFailures`](super::ConsecutiveFailures).

use super::{Call, Config, ConsecutiveFailures, Policy, WindowStats, sealed};
use crate::ConfigError;
use crate::time::{Duration, Instant};

/// The counting interval of a closed breaker's policy: its length (`0` when
/// off) and the instant the current interval ends (`0` when none has begun:
/// an interval that begins at `t` ends at `t + length >= 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(super) struct Interval {
    length: u64,
    ends: u64,
}

impl Interval {
    pub(super) const OFF: Self = Self { length: 0, ends: 0 };

    pub(super) const fn new(length: Duration) -> Result<Self, ConfigError> {
        if length.as_ticks() == 0 {
            return Err(ConfigError::new(
                "interval",
                "be at least 1 tick (leave it unset to count until the breaker trips)",
            ));
        }
        Ok(Self {
            length: length.as_ticks(),
            ends: 0,
        })
    }

    /// Whether an outcome recorded at `now` begins a new interval (the
    /// counts must be cleared first). Time that goes backwards stays in the
    /// current interval.
    #[inline]
    pub(super) fn roll(&mut self, now: Instant) -> bool {
        if self.length == 0 {
            return false;
        }
        let now = now.as_ticks();
        if self.ends == 0 || now >= self.ends {
            self.ends = now.saturating_add(self.length);
            true
        } else {
            false
        }
    }

    pub(super) fn clear(&mut self) {
        self.ends = 0;
    }

    /// Whether the interval that holds the counts is over at `now`.
    pub(super) fn over(&self, now: Instant) -> bool {
        self.length != 0 && self.ends != 0 && now.as_ticks() >= self.ends
    }

    pub(super) const fn length(&self) -> Option<Duration> {
        if self.length == 0 {
            None
        } else {
            Some(Duration::from_ticks(self.length))
        }
    }
}

impl ConsecutiveFailures {
    /// Forget the run at the end of every `interval` (at least 1 tick) while
    /// closed, as gobreaker's `Interval` clears its counts: a run of
    /// failures spread over more than one interval does not trip. Off by
    /// default. See [`FailureCount`] for when an interval begins.
    ///
    /// ```
    /// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, State};
    /// use fusebox::time::{Duration, Instant};
    ///
    /// let policy = ConsecutiveFailures::new(3)?.interval(Duration::from_ticks(60))?;
    /// let mut b = CircuitBreaker::new(Config::new(), policy)?;
    /// for at in [0, 30, 60] {
    ///     // 60 is in a new interval: the run of two is forgotten.
    ///     let p = b.try_acquire(Instant::from_ticks(at)).unwrap();
    ///     b.record(p, Outcome::Failure, Instant::from_ticks(at));
    /// }
    /// assert_eq!(b.state(Instant::from_ticks(61)), State::Closed);
    /// assert!(ConsecutiveFailures::new(3)?.interval(Duration::from_ticks(0)).is_err());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub const fn interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        match Interval::new(interval) {
            Ok(i) => {
                self.interval = i;
                Ok(self)
            }
            Err(e) => Err(e),
        }
    }

    /// The counting interval, if one was set.
    pub const fn counting_interval(&self) -> Option<Duration> {
        self.interval.length()
    }
}

/// Trip at the `threshold`-th failure counted since the current interval
/// began (gobreaker's `Counts.TotalFailures` with `Interval`), whatever the
/// successes in between. A slow call counts as a failure when slow-call
/// detection is on, as for [`ConsecutiveFailures`].
///
/// Without an interval (the default) it counts every failure since the
/// breaker last closed. With [`interval`](Self::interval) `I`, the counts
/// clear every interval while closed, so failures spread thinner than
/// `threshold` per `I` never trip it: five failures over a day do not trip
/// a breaker meant for bursts.
///
/// # Transitions (while Closed)
///
/// | from | event at `now` | to |
/// |---|---|---|
/// | no interval begun (new, just closed, reset) | an outcome | interval `[now, now + I)`, counts from 0, then this outcome |
/// | interval `[s, s + I)`, `now < s + I` | failure (or slow call) | failures + 1; trips at `>= threshold` |
/// | interval `[s, s + I)`, `now < s + I` | success | calls + 1 |
/// | interval `[s, s + I)`, `now >= s + I` | an outcome | interval `[now, now + I)`, counts from 0, then this outcome |
///
/// # Conventions
/// - An interval begins with the first outcome recorded in it (a sans-IO
///   breaker has no clock of its own); gobreaker begins one when the
///   breaker closes. An interval begun at `s` ends at `now >= s + I`: the
///   tick itself counts (gobreaker clears at `now > s + I`).
/// - Time that goes backwards stays in the current interval.
/// - The state is the failure count (`u32`; the calls and slow calls
///   beside it only feed [`Policy::window`]) and the interval's end (`u64`).
///
/// # Memory
///
/// 32 bytes on x86_64 and thumbv6m; `CircuitBreaker<FailureCount>` is
/// listed in the [module docs](super).
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, FailureCount, Outcome, Policy, State};
/// use fusebox::time::{Duration, Instant};
///
/// let t = Instant::from_secs;
/// // 3 failures within a minute, successes or not.
/// let policy = FailureCount::new(3)?.interval(Duration::from_secs(60))?;
/// let mut b = CircuitBreaker::new(Config::new(), policy)?;
/// for (at, outcome) in [(0, Outcome::Failure), (10, Outcome::Success), (20, Outcome::Failure)] {
///     let p = b.try_acquire(t(at)).unwrap();
///     b.record(p, outcome, t(at));
/// }
/// assert_eq!(b.policy().window(t(20)).failures, 2);
/// assert_eq!(b.policy().window(t(60)).failures, 0); // the interval is over
/// let p = b.try_acquire(t(59)).unwrap();
/// b.record(p, Outcome::Failure, t(59)); // the 3rd within [0, 60)
/// assert_eq!(b.state(t(59)), State::Open);
/// assert_eq!(FailureCount::new(0).unwrap_err().field(), "failure_threshold");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailureCount {
    threshold: u32,
    failures: u32,
    calls: u32,
    slow: u32,
    interval: Interval,
}

impl FailureCount {
    /// Trip at the `threshold`-th failure (at least 1) counted since the
    /// breaker closed; add an [`interval`](Self::interval) to count per
    /// interval.
    pub const fn new(threshold: u32) -> Result<Self, ConfigError> {
        if threshold == 0 {
            return Err(ConfigError::new(
                "failure_threshold",
                "be at least 1 (0 would trip on every call)",
            ));
        }
        Ok(Self {
            threshold,
            failures: 0,
            calls: 0,
            slow: 0,
            interval: Interval::OFF,
        })
    }

    /// Clear the counts at the end of every `interval` (at least 1 tick)
    /// while closed. Off by default.
    pub const fn interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        match Interval::new(interval) {
            Ok(i) => {
                self.interval = i;
                Ok(self)
            }
            Err(e) => Err(e),
        }
    }

    /// The counting interval, if one was set.
    pub const fn counting_interval(&self) -> Option<Duration> {
        self.interval.length()
    }

    /// The threshold (for the shared form).
    #[cfg(feature = "sync")]
    pub(super) const fn threshold(&self) -> u32 {
        self.threshold
    }
}

impl sealed::Judge for FailureCount {
    #[inline]
    fn record(&mut self, call: Call, _config: &Config, now: Instant) -> bool {
        if self.interval.roll(now) {
            self.failures = 0;
            self.calls = 0;
            self.slow = 0;
        }
        self.calls = self.calls.saturating_add(1);
        self.slow = self.slow.saturating_add(u32::from(call.slow));
        if call.failed || call.slow {
            self.failures = self.failures.saturating_add(1);
            self.failures >= self.threshold
        } else {
            false
        }
    }
    fn clear(&mut self) {
        self.failures = 0;
        self.calls = 0;
        self.slow = 0;
        self.interval.clear();
    }
    fn stats(&self, now: Instant) -> WindowStats {
        if self.interval.over(now) {
            return WindowStats::default();
        }
        WindowStats {
            calls: self.calls,
            failures: self.failures,
            slow: self.slow,
        }
    }
}
impl Policy for FailureCount {
    #[cfg(feature = "sync")]
    type Shared = super::SharedCircuitBreaker<Self>;
}
