//! The [`CountWindow`] policy: a failure rate over the last N calls.

#[cfg(feature = "sync")]
use super::SharedCircuitBreaker;
use super::{Call, Config, Policy, WindowStats, reaches, sealed};
use crate::ConfigError;
use crate::time::Instant;

const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// Trip when, of the last `N` calls (a count window), at least the
/// [failure rate](CountWindowBuilder::failure_rate) failed or at least the
/// slow-call percentage were slow, once the window holds at least
/// [`minimum_calls`](CountWindowBuilder::minimum_calls) calls. Built by
/// [`CountWindow::builder`].
///
/// Memory: one byte per call in the window.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, CountWindow, Outcome, Policy, State};
/// use fusebox::time::Instant;
///
/// // Half of the last 10 calls, judged from the 4th call on.
/// let mut b = CircuitBreaker::new(Config::new(), CountWindow::<10>::builder().failure_rate(50).minimum_calls(4).build()?)?;
/// let t = Instant::from_ticks(0);
/// for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success] {
///     let p = b.try_acquire(t).unwrap();
///     b.record(p, outcome, t);
/// }
/// assert_eq!(b.policy().window(t).failures, 1);
/// let p = b.try_acquire(t).unwrap();
/// b.record(p, Outcome::Failure, t); // 2 of 4: 50 %
/// assert_eq!(b.state(t), State::Open);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CountWindow<const N: usize> {
    ring: [u8; N],
    head: u32,
    len: u32,
    failures: u32,
    slow: u32,
    pub(super) minimum_calls: u32,
    pub(super) failure_percent: u8,
}

impl<const N: usize> CountWindow<N> {
    /// Start a [`CountWindowBuilder`] for a window of the last `N` calls,
    /// with resilience4j's defaults: a failure rate of 50 %, judged once
    /// the window is full (`minimum_calls` = N, as resilience4j's
    /// `minimumNumberOfCalls` equals its `slidingWindowSize`, both 100).
    pub const fn builder() -> CountWindowBuilder<N> {
        CountWindowBuilder {
            failure_percent: 50,
            minimum_calls: if N > u32::MAX as usize {
                u32::MAX
            } else {
                N as u32
            },
        }
    }
}

/// The settings of a [`CountWindow`], by name (resilience4j's
/// `failureRateThreshold` and `minimumNumberOfCalls`), from
/// [`CountWindow::builder`]. Setters are `const fn` and do not check;
/// [`build`](Self::build) checks and names the first field out of range.
///
/// ```
/// use fusebox::breaker::CountWindow;
///
/// // Trip at 50 % failures of the last 20 calls, judged from the 10th call on.
/// let policy = CountWindow::<20>::builder().failure_rate(50).minimum_calls(10).build()?;
/// # let _ = policy;
/// let err = CountWindow::<20>::builder().minimum_calls(21).build().unwrap_err();
/// assert_eq!(err.field(), "minimum_calls");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "call `build` to get the policy"]
pub struct CountWindowBuilder<const N: usize> {
    failure_percent: u8,
    minimum_calls: u32,
}

impl<const N: usize> CountWindowBuilder<N> {
    /// Trip when at least `percent` % (1..=100; default 50) of the calls in
    /// the window failed (resilience4j's `failureRateThreshold`).
    pub const fn failure_rate(mut self, percent: u8) -> Self {
        self.failure_percent = percent;
        self
    }

    /// Judge the rates only once the window holds at least `calls` calls
    /// (1..=N; default N), resilience4j's `minimumNumberOfCalls`.
    pub const fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// The policy, or the first field out of range: `N` (1..=2^32-1),
    /// `failure_rate` (1..=100), `minimum_calls` (1..=N).
    pub const fn build(self) -> Result<CountWindow<N>, ConfigError> {
        let Self {
            failure_percent,
            minimum_calls,
        } = self;
        if N == 0 || N > u32::MAX as usize {
            return Err(ConfigError::new(
                "CountWindow::<N>",
                "have N in 1..=4294967295 calls",
            ));
        }
        if failure_percent == 0 || failure_percent > 100 {
            return Err(ConfigError::new("failure_rate", "be in 1..=100 (percent)"));
        }
        if minimum_calls == 0 || minimum_calls as usize > N {
            return Err(ConfigError::new(
                "minimum_calls",
                "be in 1..=N, the window's length (more could never be reached)",
            ));
        }
        Ok(CountWindow {
            ring: [0; N],
            head: 0,
            len: 0,
            failures: 0,
            slow: 0,
            minimum_calls,
            failure_percent,
        })
    }
}

impl<const N: usize> sealed::Judge for CountWindow<N> {
    #[inline]
    fn record(&mut self, call: Call, config: &Config, _now: Instant) -> bool {
        let code = u8::from(call.failed) | (u8::from(call.slow) << 1);
        let Some(slot) = self.ring.get_mut(self.head as usize) else {
            return false;
        };
        let old = core::mem::replace(slot, code);
        let reached_minimum = if self.len as usize == N {
            // The window is full: the oldest call (the one replaced) leaves
            // it. The counters include it, so they cannot underflow.
            if old != 0 {
                self.failures = self.failures.wrapping_sub(u32::from(old & FAILED));
                self.slow = self.slow.wrapping_sub(u32::from((old & SLOW) >> 1));
            }
            false
        } else {
            self.len = self.len.wrapping_add(1);
            self.len == self.minimum_calls
        };
        // Both stay at most `len`, which is at most N <= u32::MAX.
        if code != 0 {
            self.failures = self.failures.wrapping_add(u32::from(call.failed));
            self.slow = self.slow.wrapping_add(u32::from(call.slow));
        }
        let next = self.head.wrapping_add(1);
        self.head = if next as usize >= N { 0 } else { next };
        // A good call can only lower the rates, except the one that brings
        // the window to its minimum, after which rates are judged at all.
        (code != 0 || reached_minimum)
            && self.len >= self.minimum_calls
            && (reaches(self.failures, self.len, self.failure_percent)
                || (config.slow_call_duration().is_some()
                    && reaches(self.slow, self.len, config.slow_percent)))
    }
    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.failures = 0;
        self.slow = 0;
    }
    fn stats(&self, _now: Instant) -> WindowStats {
        WindowStats {
            calls: self.len,
            failures: self.failures,
            slow: self.slow,
        }
    }
}
impl<const N: usize> Policy for CountWindow<N> {
    #[cfg(feature = "sync")]
    type Shared = SharedCircuitBreaker<Self>;
}
