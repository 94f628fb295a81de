//! The [`TimeWindow`] policy: a failure rate over the last window of time,
//! kept in buckets.

#[cfg(feature = "sync")]
use super::SharedCircuitBreaker;
use super::{Call, Config, Policy, WindowStats, reaches, sealed};
use crate::ConfigError;
use crate::time::{self, Duration, Instant};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Bucket {
    epoch: u64,
    calls: u32,
    failures: u32,
    slow: u32,
}

/// Trip when, of the calls in the last `window` of time (kept in `B`
/// buckets), at least the [failure rate](TimeWindowBuilder::failure_rate)
/// failed or at least the slow-call percentage were slow, once the window
/// holds at least [`minimum_calls`](TimeWindowBuilder::minimum_calls) calls.
/// Built by [`TimeWindow::builder`].
///
/// Time is cut into buckets of `window / B` ticks (rounded down); the
/// window is the current bucket and the `B - 1` before it, so it holds
/// between `(B - 1) / B` and all of `window` of history, as in resilience4j
/// and Polly. Time is the caller's monotonic `now`, never a wall clock.
///
/// The window is judged when an outcome is recorded: as old calls age out
/// the failure rate may rise, and the next recorded call (even a success)
/// then trips the breaker.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, Outcome, Policy, TimeWindow};
/// use fusebox::time::{Duration, Instant};
///
/// // 30 % of the calls in the last 10 s (ten 1 s buckets), once 20 calls are in.
/// let policy = TimeWindow::<10>::builder(Duration::from_secs(10))
///     .failure_rate(30)
///     .minimum_calls(20)
///     .build()?;
/// let mut b = CircuitBreaker::new(Config::new(), policy)?;
/// let p = b.try_acquire(Instant::from_secs(1)).unwrap();
/// b.record(p, Outcome::Failure, Instant::from_secs(1));
/// assert_eq!(b.policy().window(Instant::from_secs(10)).failures, 1);
/// assert_eq!(b.policy().window(Instant::from_secs(11)).failures, 0); // aged out
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeWindow<const B: usize> {
    buckets: [Bucket; B],
    pub(super) bucket_ticks: u64,
    // The newest epoch seen: time that goes backwards lands in it.
    latest: u64,
    pub(super) minimum_calls: u32,
    pub(super) failure_percent: u8,
}

impl<const B: usize> TimeWindow<B> {
    /// Start a [`TimeWindowBuilder`] for a window of `window` (at least `B`
    /// ticks) in `B` buckets, with resilience4j's defaults: a failure rate
    /// of 50 %, judged once the window holds 100 calls
    /// (`minimumNumberOfCalls`).
    pub const fn builder(window: Duration) -> TimeWindowBuilder<B> {
        TimeWindowBuilder {
            window,
            failure_percent: 50,
            minimum_calls: 100,
        }
    }

    #[inline]
    fn epoch(&self, now: Instant) -> u64 {
        let e = now.as_ticks().checked_div(self.bucket_ticks).unwrap_or(0);
        // The epoch is a non-decreasing function of time: judging at the
        // latest epoch seen is judging at the latest instant seen.
        time::at_latest_ticks(e, self.latest)
    }

    fn sum(&self, epoch: u64) -> WindowStats {
        let mut s = WindowStats::default();
        for b in &self.buckets {
            // A bucket belongs to the window if it is one of the last B.
            if b.calls != 0 && epoch.saturating_sub(b.epoch) < self.buckets.len() as u64 {
                s.calls = s.calls.saturating_add(b.calls);
                s.failures = s.failures.saturating_add(b.failures);
                s.slow = s.slow.saturating_add(b.slow);
            }
        }
        s
    }
}

/// The settings of a [`TimeWindow`], by name (resilience4j's
/// `failureRateThreshold` and `minimumNumberOfCalls`), from
/// [`TimeWindow::builder`]. Setters are `const fn` and do not check;
/// [`build`](Self::build) checks and names the first field out of range.
///
/// ```
/// use fusebox::breaker::TimeWindow;
/// use fusebox::time::Duration;
///
/// // Trip at 30 % failures of the last 10 s (ten 1 s buckets), once 20 calls are in.
/// let policy = TimeWindow::<10>::builder(Duration::from_secs(10))
///     .failure_rate(30)
///     .minimum_calls(20)
///     .build()?;
/// # let _ = policy;
/// let err = TimeWindow::<10>::builder(Duration::from_secs(10)).failure_rate(0).build();
/// assert_eq!(err.unwrap_err().field(), "failure_rate");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "call `build` to get the policy"]
pub struct TimeWindowBuilder<const B: usize> {
    window: Duration,
    failure_percent: u8,
    minimum_calls: u32,
}

impl<const B: usize> TimeWindowBuilder<B> {
    /// Trip when at least `percent` % (1..=100; default 50) of the calls in
    /// the window failed (resilience4j's `failureRateThreshold`).
    pub const fn failure_rate(mut self, percent: u8) -> Self {
        self.failure_percent = percent;
        self
    }

    /// Judge the rates only once the window holds at least `calls` calls
    /// (at least 1; default 100), resilience4j's `minimumNumberOfCalls`.
    pub const fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// The policy, or the first field out of range: `B` (1..=2^32-1),
    /// `window` (at least `B` ticks), `failure_rate` (1..=100),
    /// `minimum_calls` (at least 1).
    pub const fn build(self) -> Result<TimeWindow<B>, ConfigError> {
        let Self {
            window,
            failure_percent,
            minimum_calls,
        } = self;
        if B == 0 || B > u32::MAX as usize {
            return Err(ConfigError::new(
                "TimeWindow::<B>",
                "have B in 1..=4294967295 buckets",
            ));
        }
        // B fits in u32 here, so in u64 too.
        let bucket_ticks = match window.as_ticks().checked_div(B as u64) {
            Some(t) => t,
            None => 0,
        };
        if bucket_ticks == 0 {
            return Err(ConfigError::new(
                "window",
                "be at least B ticks (one tick per bucket)",
            ));
        }
        if failure_percent == 0 || failure_percent > 100 {
            return Err(ConfigError::new("failure_rate", "be in 1..=100 (percent)"));
        }
        if minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", "be at least 1"));
        }
        Ok(TimeWindow {
            buckets: [Bucket {
                epoch: 0,
                calls: 0,
                failures: 0,
                slow: 0,
            }; B],
            bucket_ticks,
            latest: 0,
            minimum_calls,
            failure_percent,
        })
    }
}

impl<const B: usize> sealed::Judge for TimeWindow<B> {
    fn record(&mut self, call: Call, config: &Config, now: Instant) -> bool {
        let epoch = self.epoch(now);
        self.latest = epoch;
        let index = epoch.checked_rem(self.buckets.len() as u64).unwrap_or(0) as usize;
        let Some(b) = self.buckets.get_mut(index) else {
            return false;
        };
        if b.epoch != epoch {
            *b = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        b.calls = b.calls.saturating_add(1);
        b.failures = b.failures.saturating_add(u32::from(call.failed));
        b.slow = b.slow.saturating_add(u32::from(call.slow));
        // Old buckets leave the window as time passes, so any call, good or
        // bad, may be the one after which the rates are judged.
        let s = self.sum(epoch);
        s.calls >= self.minimum_calls
            && (reaches(s.failures, s.calls, self.failure_percent)
                || (config.slow_call_duration().is_some()
                    && reaches(s.slow, s.calls, config.slow_percent)))
    }
    fn clear(&mut self) {
        for b in &mut self.buckets {
            *b = Bucket::default();
        }
    }
    fn stats(&self, now: Instant) -> WindowStats {
        self.sum(self.epoch(now))
    }
}
impl<const B: usize> Policy for TimeWindow<B> {
    #[cfg(feature = "sync")]
    type Shared = SharedCircuitBreaker<Self>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ticks: u64) -> Instant {
        Instant::from_ticks(ticks)
    }

    #[test]
    fn time_window_forgets_buckets_older_than_b() {
        let mut w = TimeWindow::<4>::builder(Duration::from_ticks(40))
            .failure_rate(50)
            .minimum_calls(1)
            .build()
            .unwrap();
        use sealed::Judge;
        w.record(
            Call {
                failed: true,
                slow: false,
            },
            &Config::new(),
            t(5),
        );
        assert_eq!(w.stats(t(39)).failures, 1);
        assert_eq!(w.stats(t(40)).failures, 0);
        // Backwards time lands in the newest bucket seen.
        w.record(
            Call {
                failed: false,
                slow: false,
            },
            &Config::new(),
            t(35),
        );
        w.record(
            Call {
                failed: false,
                slow: false,
            },
            &Config::new(),
            t(1),
        );
        assert_eq!(w.stats(t(0)).calls, 3);
    }
}
