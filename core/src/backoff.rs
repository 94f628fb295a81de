//! Backoff schedules: how long to wait before the next try.
//!
//! A [`Backoff`] is a schedule with its own state: build it from a [`Config`]
//! (constant, linear or exponential growth up to a cap, one of four
//! [`Jitter`] kinds, and limits), then ask [`Backoff::next_delay`] before
//! each retry. It answers with the delay, or `None` when the retries should
//! stop ([`Backoff::try_next`] says why). A dependency's retry-after hint
//! (HTTP `Retry-After`, a breaker's `retry_after`, a rate limiter's
//! `time_until`) goes in as the argument; without hints the schedule is an
//! `Iterator<Item = Duration>`.
//!
//! ```
//! use fusebox::backoff::{Backoff, Config, Jitter, Stop};
//! use fusebox::time::Duration;
//!
//! let ms = Duration::from_millis;
//! // 100 ms, 200 ms, 400 ms, ... capped at 1 s; at most 6 attempts (5 waits).
//! let config = Config::exponential(ms(100), 2, ms(1000)).max_attempts(6);
//! let plain: Vec<u64> = Backoff::new(config, 0)?.map(|d| d.as_millis()).collect();
//! assert_eq!(plain, [100, 200, 400, 800, 1000]);
//!
//! // With full jitter each delay is drawn from [0, that value]; the seed
//! // makes the draw repeatable (seed each device differently: see `rng`).
//! let mut jittered = Backoff::new(config.jitter(Jitter::Full), 0x5eed)?;
//! assert!(jittered.next_delay(None).unwrap() <= ms(100));
//!
//! // The server said "retry after 3 s": wait at least that, even above the
//! // cap, as long as it is within `max_hint` (60 s unless set).
//! assert_eq!(jittered.next_delay(Some(ms(3000))), Some(ms(3000)));
//! // A hint past `max_hint` ends the retries and says so.
//! assert_eq!(jittered.try_next(Some(Duration::from_secs(3600))),
//!            Err(Stop::HintTooLong(Duration::from_secs(3600))));
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # The schedule
//!
//! Retry `n` (0 for the first retry) waits, before jitter and hints:
//!
//! | growth | delay n |
//! |---|---|
//! | [`Config::constant`]`(d)` | `d` |
//! | [`Config::linear`]`(initial, step, cap)` | `min(cap, initial + n x step)` |
//! | [`Config::exponential`]`(initial, factor, cap)` | `min(cap, initial x factor^n)` |
//! | [`Config::exponential_ratio`]`(initial, num, den, cap)` | `min(cap, v_n)`, `v_0 = initial`, `v_{n+1} = ceil(v_n x num / den)` |
//!
//! Then [`Jitter`] turns that value `v` into the delay:
//!
//! | jitter | delay drawn uniformly from |
//! |---|---|
//! | `None` | exactly `v` |
//! | `Full` | `[0, v]` |
//! | `Equal` | `[floor(v/2), v]` |
//! | `Decorrelated` | `[initial, min(cap, 3 x previous delay)]` (it replaces the growth) |
//!
//! AWS's decorrelated jitter, `min(cap, random(base, 3 x prev))`, puts most
//! delays on exactly `cap` once `prev` is large (Polly #530): fusebox draws
//! from `[base, min(cap, 3 x prev)]` instead, so near the cap the delays stay
//! spread over `[base, cap]`.
//!
//! Finally a hint `h` raises the delay to `max(delay, h)`.
//!
//! # Law
//!
//! For every call, with `v` the jitter band's upper end:
//! - `hint <= delay` and, with no hint, `delay <= cap` (a hint may go above
//!   the cap, never above [`Config::max_hint`]);
//! - the number of delays given is at most `max_attempts - 1` (attempts
//!   count the first call, which has no delay before it);
//! - the sum of the delays given never passes the
//!   [`Config::total_delay_budget`].
//!
//! # Transitions
//!
//! | from | event | to |
//! |---|---|---|
//! | running | `try_next(hint)` within every limit | running; `Ok(delay)`, retry count + 1 |
//! | running | `max_attempts - 1` delays already given | stopped: [`Stop::Attempts`] |
//! | running | `hint > max_hint`, or the hint alone passes the budget left | stopped: [`Stop::HintTooLong`]`(hint)` |
//! | running | the drawn delay would pass the budget left | stopped: [`Stop::Budget`] |
//! | stopped | `try_next` | stopped, the same [`Stop`] again |
//! | any | [`Backoff::reset`] | running, from retry 0 (the random sequence goes on) |
//!
//! # Conventions
//! - The first retry waits the schedule's initial delay (`factor^0 x
//!   initial`).
//! - `max_attempts` counts calls, the first included (resilience4j's
//!   `maxAttempts`): `max_attempts(4)` gives 3 delays. The default is 4.
//! - Arithmetic saturates at the cap: no overflow at retry 10 000 or with a
//!   `Duration::MAX` cap; the cost of a call does not grow with `n`.
//! - A hint raises the delay even above the cap, up to `max_hint` (default
//!   60 s at the binary's tick rate); a hint above it (or above the budget
//!   left) stops the schedule with [`Stop::HintTooLong`] rather than
//!   sleeping for a year.
//! - The schedule is fused: once it stops it keeps answering the same
//!   [`Stop`] until [`Backoff::reset`].
//! - Same config and seed, same delays, on every platform.
//! - Every jittered delay draws exactly one random number, even when its
//!   range holds a single value, so [`Config::delay_for`]`(seed, n)` can
//!   give retry `n`'s delay without replaying the schedule (not for
//!   decorrelated jitter, which it refuses; hints and the total-delay budget
//!   are not part of it). With no hints,
//!   `Backoff::new(config, seed)?.nth(n) == config.delay_for(seed, n)?`
//!   while `n < max_attempts - 1`.
//!
//! # Cost
//!
//! A delay costs a few compares and additions, at most one multiply for
//! the growth (none once at the cap) and two 64 x 64 -> 128-bit multiplies
//! for the jitter: 2.9 ns on x86_64, 5x faster than backon 1.6 and 15x
//! faster than backoff 0.4 (`tests/benches/backoff.rs`). With a `const`
//! [`Config`], [`Backoff::new`] folds the checks away and writes 96 bytes.
//!
//! # Memory
//!
//! Sizes in bytes (asserted by tests), beside backon 1.6's
//! `ExponentialBackoff` (120 on x86_64):
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | [`Config`] | 56 | 56 |
//! | [`Backoff`] | 96 | 96 |

use crate::ConfigError;
use crate::rng::Rng;
use crate::time::Duration;

/// How the jitter spreads each delay. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Jitter {
    /// The schedule's value exactly.
    #[default]
    None,
    /// Uniform in `[0, v]` (AWS "full jitter"): the best spread, some
    /// retries come at once.
    Full,
    /// Uniform in `[v/2, v]` (AWS "equal jitter"): never less than half.
    Equal,
    /// Uniform in `[initial, min(cap, 3 x previous delay)]` (AWS
    /// "decorrelated jitter", without the pile-up at the cap). It replaces
    /// the growth of the schedule.
    Decorrelated,
}

/// Why a schedule gave no further delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stop {
    /// `max_attempts - 1` delays were given already.
    Attempts,
    /// The next delay would take the sum of delays past the total-delay
    /// budget.
    Budget,
    /// The dependency asked for a wait (this hint) longer than
    /// [`Config::max_hint`] or than the budget left.
    HintTooLong(Duration),
}

impl core::fmt::Display for Stop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Stop::Attempts => f.write_str("retry schedule stopped: attempts used up"),
            Stop::Budget => f.write_str("retry schedule stopped: total-delay budget used up"),
            Stop::HintTooLong(d) => write!(
                f,
                "retry schedule stopped: the dependency asked to wait {} ticks, past the maximum",
                d.as_ticks()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Growth {
    Constant,
    Linear,
    Exponential,
}

/// A schedule's configuration. `Copy`, and built by `const fn`s, so a
/// firmware can keep it in a `const`; [`Backoff::new`] checks it.
///
/// ```
/// use fusebox::backoff::{Config, Jitter};
/// use fusebox::time::Duration;
///
/// const POLL_SENSOR: Config = Config::exponential(Duration::from_millis(5), 2, Duration::from_millis(80))
///     .jitter(Jitter::Equal)
///     .max_attempts(5)
///     .total_delay_budget(Duration::from_millis(150));
/// assert!(POLL_SENSOR.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    initial: u64,
    cap: u64,
    // Linear: the step in ticks. Exponential: unused.
    step: u64,
    budget: u64,
    max_hint: u64,
    max_attempts: u32,
    // Exponential: the factor num / den.
    num: u32,
    den: u32,
    growth: Growth,
    jitter: Jitter,
}

const DEFAULT_MAX_ATTEMPTS: u32 = 4;
const DEFAULT_MAX_HINT: Duration = Duration::from_secs(60);

impl Config {
    const fn with(initial: Duration, cap: Duration, growth: Growth) -> Self {
        Self {
            initial: initial.as_ticks(),
            cap: cap.as_ticks(),
            step: 0,
            budget: u64::MAX,
            max_hint: DEFAULT_MAX_HINT.as_ticks(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            num: 1,
            den: 1,
            growth,
            jitter: Jitter::None,
        }
    }

    /// The same `delay` before every retry.
    pub const fn constant(delay: Duration) -> Self {
        Self::with(delay, delay, Growth::Constant)
    }

    /// `initial`, then `step` more before each further retry, up to `cap`
    /// (at least `initial`).
    pub const fn linear(initial: Duration, step: Duration, cap: Duration) -> Self {
        let mut c = Self::with(initial, cap, Growth::Linear);
        c.step = step.as_ticks();
        c
    }

    /// `initial` (at least 1 tick), then `factor` (at least 1) times more
    /// before each further retry, up to `cap` (at least `initial`).
    pub const fn exponential(initial: Duration, factor: u32, cap: Duration) -> Self {
        let mut c = Self::with(initial, cap, Growth::Exponential);
        c.num = factor;
        c
    }

    /// Exponential growth by a fraction `num / den` (at least 1, e.g. 3/2 for
    /// resilience4j's default 1.5), each step rounded up so that the delay
    /// grows even from 1 tick. `initial` at least 1 tick, `cap` at least
    /// `initial`.
    pub const fn exponential_ratio(initial: Duration, num: u32, den: u32, cap: Duration) -> Self {
        let mut c = Self::with(initial, cap, Growth::Exponential);
        c.num = num;
        c.den = den;
        c
    }

    /// Spread each delay with `jitter` (default [`Jitter::None`]).
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// At most `n` calls in all, the first included, so at most `n - 1`
    /// delays (at least 1; default 4; `u32::MAX` for no practical limit).
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Stop when the next delay would take the sum of the delays given past
    /// `budget` (default `Duration::MAX`: no budget).
    pub const fn total_delay_budget(mut self, budget: Duration) -> Self {
        self.budget = budget.as_ticks();
        self
    }

    /// The longest retry-after hint to honour (default 60 s); a longer hint
    /// stops the schedule with [`Stop::HintTooLong`].
    pub const fn max_hint(mut self, max: Duration) -> Self {
        self.max_hint = max.as_ticks();
        self
    }

    /// Check every field; the error names the first one out of range.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.cap < self.initial {
            return Err(ConfigError::new("cap", "be at least the initial delay"));
        }
        let grows = matches!(self.growth, Growth::Exponential)
            || matches!(self.jitter, Jitter::Decorrelated);
        if grows && self.initial == 0 {
            return Err(ConfigError::new(
                "initial",
                "be at least 1 tick (0 never grows)",
            ));
        }
        if matches!(self.growth, Growth::Exponential) {
            if self.den == 0 {
                return Err(ConfigError::new(
                    "factor",
                    "have a denominator of at least 1",
                ));
            }
            if self.num < self.den {
                return Err(ConfigError::new(
                    "factor",
                    "be at least 1 (a smaller factor would shrink the delays)",
                ));
            }
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                "max_attempts",
                "be at least 1 (the first call counts)",
            ));
        }
        Ok(())
    }

    /// The delay before retry `n` (0 for the first retry) that
    /// [`Backoff::new`]`(self, seed)` would give at its `n + 1`-th
    /// [`next_delay`](Backoff::next_delay)`(None)`, computed without
    /// replaying the schedule: for a job queue that stores the attempt
    /// number and retries tomorrow.
    ///
    /// `Ok(None)` when `n >= max_attempts - 1` (the schedule would have
    /// stopped). Not part of it: retry-after hints (a hint raises one delay
    /// and changes nothing after it, so apply it yourself: `max(delay,
    /// hint)`) and the total-delay budget (it depends on the delays
    /// actually slept). A [`Backoff::reset`] schedule goes on with its random
    /// sequence, so its delays are not these.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field when the configuration is out of
    /// range, and naming `jitter` for [`Jitter::Decorrelated`], whose delay
    /// depends on the one before, so that only a replay can find it.
    ///
    /// # Law and cost
    /// Every delay of a jittered schedule draws exactly one random number
    /// (even when its range holds one value), so the `n`-th is drawn from
    /// the generator moved on by `n` ([`Rng::skip`]): equal, bit for bit, to
    /// the replayed one (`tests/tests/delay_for.rs` checks it). The value
    /// before jitter costs one multiply for linear growth, at most 64
    /// multiplies for an integer factor, and one step per retry up to the
    /// cap for a fractional factor (`exponential_ratio`: about
    /// `64 / log2(num / den)` steps at most, 110 for 3/2).
    ///
    /// ```
    /// use fusebox::backoff::{Backoff, Config, Jitter};
    /// use fusebox::time::Duration;
    ///
    /// let config = Config::exponential(Duration::from_secs(1), 2, Duration::from_secs(3600))
    ///     .jitter(Jitter::Full)
    ///     .max_attempts(100);
    /// let replayed: Vec<_> = Backoff::new(config, 42)?.take(20).collect();
    /// assert_eq!(config.delay_for(42, 19)?, Some(replayed[19]));
    /// assert_eq!(config.delay_for(42, 99)?, None); // 100 attempts: 99 delays
    /// let err = config.jitter(Jitter::Decorrelated).delay_for(42, 3).unwrap_err();
    /// assert_eq!(err.field(), "jitter");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn delay_for(&self, seed: u64, n: u32) -> Result<Option<Duration>, ConfigError> {
        self.validate()?;
        if matches!(self.jitter, Jitter::Decorrelated) {
            return Err(ConfigError::new(
                "jitter",
                "be None, Full or Equal for delay_for (a decorrelated delay depends on the one before: replay the schedule with next_delay instead)",
            ));
        }
        if n >= self.max_attempts.saturating_sub(1) {
            return Ok(None);
        }
        let v = self.value_at(n);
        let (lo, hi) = match self.jitter {
            Jitter::None => return Ok(Some(Duration::from_ticks(v))),
            Jitter::Full => (0, v),
            // Decorrelated was refused above.
            Jitter::Equal | Jitter::Decorrelated => (v / 2, v),
        };
        let mut rng = Rng::new(seed);
        rng.skip(u64::from(n));
        Ok(Some(Duration::from_ticks(rng.between(lo, hi))))
    }

    /// The value before jitter of retry `n`, as `Backoff::grow` reaches it.
    fn value_at(&self, n: u32) -> u64 {
        if let Growth::Linear = self.growth {
            let v = self
                .initial
                .saturating_add(self.step.saturating_mul(u64::from(n)));
            // `initial <= cap`, and growth stops at the cap.
            return if v < self.cap { v } else { self.cap };
        }
        let mut v = self.initial;
        let mut k = 0;
        while k < n && v < self.cap {
            let g = grown(self, v);
            if g == v {
                break; // a factor of 1: constant
            }
            v = g;
            k = k.saturating_add(1);
        }
        v
    }

    /// The delay before retry 0, before jitter.
    pub const fn initial(&self) -> Duration {
        Duration::from_ticks(self.initial)
    }

    /// The cap on delays that no hint raised.
    pub const fn cap(&self) -> Duration {
        Duration::from_ticks(self.cap)
    }

    /// The jitter kind.
    pub const fn jitter_kind(&self) -> Jitter {
        self.jitter
    }

    /// The most calls, the first included.
    pub const fn attempts_limit(&self) -> u32 {
        self.max_attempts
    }

    /// The total-delay budget (`Duration::MAX` when none was set).
    pub const fn budget(&self) -> Duration {
        Duration::from_ticks(self.budget)
    }

    /// The longest hint honoured.
    pub const fn hint_limit(&self) -> Duration {
        Duration::from_ticks(self.max_hint)
    }
}

/// A backoff schedule in progress. See the [module docs](self).
///
/// Cheap to [`Clone`] (a plain copy of 96 bytes): keep a fresh one in a
/// `const` or `static` and clone it per request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    config: Config,
    rng: Rng,
    // The next value before jitter (growth state).
    next: u64,
    // The previous delay drawn (decorrelated jitter).
    prev: u64,
    // The sum of the delays given.
    total: u64,
    // The delays given.
    retries: u32,
    // Why it stopped (a `Stop` as one byte, to keep the schedule small;
    // the hint of `HintTooLong` is kept in `prev`, unused once stopped).
    stopped: Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Stopped {
    Running,
    Attempts,
    Budget,
    Hint,
}

impl Backoff {
    /// A schedule at retry 0, its jitter drawn from a generator seeded with
    /// `seed` (ignored by [`Jitter::None`]). Fails if a field of `config` is
    /// out of range.
    #[inline]
    pub const fn new(config: Config, seed: u64) -> Result<Self, ConfigError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        Ok(Self {
            config,
            rng: Rng::new(seed),
            next: config.initial,
            prev: config.initial,
            total: 0,
            retries: 0,
            stopped: Stopped::Running,
        })
    }

    /// The delay before the next retry, raised to at least `hint`; `None`
    /// when the retries should stop ([`try_next`](Self::try_next) says why).
    #[inline]
    pub fn next_delay(&mut self, hint: Option<Duration>) -> Option<Duration> {
        self.try_next(hint).ok()
    }

    /// The delay before the next retry, raised to at least `hint`, or why
    /// there is none.
    // Forced on 64-bit targets: left to itself the compiler outlines it
    // behind a call that costs as much as the work (measured in
    // `tests/benches/backoff.rs`). Not on 32-bit ones, where flash is scarce
    // and a call is cheap beside the 64-bit arithmetic: a firmware that
    // draws delays in two places would carry two copies.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    pub fn try_next(&mut self, hint: Option<Duration>) -> Result<Duration, Stop> {
        let c = &self.config;
        if self.stopped != Stopped::Running || self.retries >= c.max_attempts.saturating_sub(1) {
            return Err(self.stop(Stop::Attempts));
        }
        // `u64::MAX` is "no budget": the saturated total must not use it up.
        let left = if c.budget == u64::MAX {
            u64::MAX
        } else {
            c.budget.saturating_sub(self.total)
        };
        let floor = match hint {
            None => 0,
            Some(h) if h.as_ticks() > c.max_hint || h.as_ticks() > left => {
                return Err(self.stop(Stop::HintTooLong(h)));
            }
            Some(h) => h.as_ticks(),
        };
        let drawn = self.draw();
        let delay = if floor > drawn { floor } else { drawn };
        if delay > left {
            return Err(self.stop(Stop::Budget));
        }
        self.total = self.total.saturating_add(delay);
        self.retries = self.retries.saturating_add(1);
        self.prev = drawn;
        self.grow();
        Ok(Duration::from_ticks(delay))
    }

    /// Stop for `why`, unless already stopped; the reason that holds.
    #[cold]
    fn stop(&mut self, why: Stop) -> Stop {
        if let Some(stopped) = self.stopped() {
            return stopped;
        }
        self.stopped = match why {
            Stop::Attempts => Stopped::Attempts,
            Stop::Budget => Stopped::Budget,
            Stop::HintTooLong(h) => {
                self.prev = h.as_ticks();
                Stopped::Hint
            }
        };
        why
    }

    /// The jittered value for the current retry.
    #[inline(always)]
    fn draw(&mut self) -> u64 {
        let v = self.next;
        // One call of `between` for every kind: inlined once, not three times.
        let (lo, hi) = match self.config.jitter {
            Jitter::None => return v,
            Jitter::Full => (0, v),
            Jitter::Equal => (v / 2, v),
            Jitter::Decorrelated => {
                let hi = self.prev.saturating_mul(3);
                let hi = if hi < self.config.cap {
                    hi
                } else {
                    self.config.cap
                };
                (self.config.initial, hi)
            }
        };
        self.rng.between(lo, hi)
    }

    /// Advance the un-jittered value to the next retry's.
    #[inline(always)]
    fn grow(&mut self) {
        self.next = grown(&self.config, self.next);
    }

    /// Back to retry 0 with the whole budget; the random sequence goes on
    /// (a reset schedule does not repeat its jitter).
    pub fn reset(&mut self) {
        self.next = self.config.initial;
        self.prev = self.config.initial;
        self.total = 0;
        self.retries = 0;
        self.stopped = Stopped::Running;
    }

    /// Delays given so far (retries scheduled).
    pub const fn retries(&self) -> u32 {
        self.retries
    }

    /// The sum of the delays given so far.
    pub const fn total(&self) -> Duration {
        Duration::from_ticks(self.total)
    }

    /// Why the schedule stopped, once it has.
    pub const fn stopped(&self) -> Option<Stop> {
        match self.stopped {
            Stopped::Running => None,
            Stopped::Attempts => Some(Stop::Attempts),
            Stopped::Budget => Some(Stop::Budget),
            Stopped::Hint => Some(Stop::HintTooLong(Duration::from_ticks(self.prev))),
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }
}

/// The un-jittered value of the retry after one whose value is `next`.
#[inline(always)]
fn grown(c: &Config, next: u64) -> u64 {
    if next >= c.cap {
        return next;
    }
    let grown = match c.growth {
        Growth::Constant => return next,
        Growth::Linear => next.saturating_add(c.step),
        Growth::Exponential if c.den == 1 => next.saturating_mul(u64::from(c.num)),
        Growth::Exponential => {
            // ceil(next x num / den), exactly, in 64 bits (no u128
            // division: on a 32-bit core that is a large routine):
            // next = q x den + r with r < den < 2^32, so
            // next x num / den = q x num + r x num / den, and
            // r x num < 2^64. Rounded up, so a small value still grows.
            let (num, den) = (u64::from(c.num), u64::from(c.den));
            let (q, r) = match (next.checked_div(den), next.checked_rem(den)) {
                (Some(q), Some(r)) => (q, r),
                // den = 0 is refused by `Config::validate`.
                _ => (u64::MAX, 0),
            };
            let rn = r.wrapping_mul(num);
            let frac = match (rn.checked_div(den), rn.checked_rem(den)) {
                (Some(f), Some(0)) => f,
                (Some(f), Some(_)) => f.saturating_add(1),
                _ => 0,
            };
            q.saturating_mul(num).saturating_add(frac)
        }
    };
    if grown < c.cap { grown } else { c.cap }
}

/// The schedule without hints: `next()` is `next_delay(None)`.
impl Iterator for Backoff {
    type Item = Duration;

    #[inline]
    fn next(&mut self) -> Option<Duration> {
        self.next_delay(None)
    }
}

impl core::iter::FusedIterator for Backoff {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_growth_rounds_up_from_one_tick() {
        let c = Config::exponential_ratio(Duration::from_ticks(1), 3, 2, Duration::from_ticks(100))
            .max_attempts(u32::MAX);
        let got: [u64; 8] = {
            let mut b = Backoff::new(c, 0).unwrap();
            core::array::from_fn(|_| b.next().unwrap().as_ticks())
        };
        assert_eq!(got, [1, 2, 3, 5, 8, 12, 18, 27]);
    }
}
