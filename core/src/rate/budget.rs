//! Retry budget: retries as a share of recent successes, plus a floor.

use crate::ConfigError;
use crate::time::{self, Duration, Instant};

/// Hundredths of a retry: one retry costs `UNIT`, one success deposits
/// `percent` of them, so 20 % is exactly one retry per five successes.
const UNIT: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Slice {
    epoch: u64,
    // Deposits minus withdrawals made in this slice, in hundredths of a retry.
    net: i64,
}

const EMPTY: Slice = Slice { epoch: 0, net: 0 };

/// A retry budget in the manner of Finagle and Envoy: each success
/// [deposits](Self::deposit) `percent` % of a retry, each retry
/// [withdraws](Self::try_withdraw) one, deposits and withdrawals expire after
/// a TTL, and a floor of `floor` retries per second is always there, so a
/// client with little traffic can still retry.
///
/// Built by name with Finagle's parameter names, from Finagle's defaults
/// (20 %, 10 retries per second, 10 s):
/// [`RetryBudget::builder`]`()`[`.percent_can_retry(p)`](RetryBudgetBuilder::percent_can_retry)[`.min_retries_per_sec(n)`](RetryBudgetBuilder::min_retries_per_sec)[`.ttl(d)`](RetryBudgetBuilder::ttl)[`.build()`](RetryBudgetBuilder::build),
/// which checks every value (`const`, so a budget can be a `const` or a
/// `static`). `percent` and `floor` below are `percent_can_retry` and
/// `min_retries_per_sec`.
///
/// A retry storm therefore never exceeds the budget's share of real traffic
/// plus the floor: when a dependency fails hard, successes stop, the budget
/// drains, and retries stop adding load.
///
/// ```
/// use fusebox::rate::RetryBudget;
/// use fusebox::time::{Duration, Instant};
///
/// // 20 % of successes, no floor, deposits live for 10 s.
/// let mut budget = RetryBudget::<10>::builder()
///     .percent_can_retry(20)
///     .min_retries_per_sec(0)
///     .ttl(Duration::from_secs(10))
///     .build()?;
/// let now = Instant::from_secs(1);
/// assert!(!budget.try_withdraw(now)); // nothing deposited yet
/// for _ in 0..5 {
///     budget.deposit(now); // five successes...
/// }
/// assert!(budget.try_withdraw(now)); // ...pay for exactly one retry
/// assert!(!budget.try_withdraw(now));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Law
///
/// Amounts are kept exactly, in hundredths of a retry (integers only: 20 %
/// is one retry per five successes, never truncated to zero). Time is cut
/// into `S` slices of `w = ceil(TTL / (S - 1))` ticks; a withdrawal is
/// allowed when the deposits minus the withdrawals of the last `S` slices,
/// plus the floor's reserve, cover one retry. Hence, for every window
/// `[a, a + TTL)`:
///
/// ```text
/// 100 x retries in [a, a + TTL)
///     <= percent x successes in (a - S x w, a + TTL) + floor(100 x floor x TTL / 1 s)
/// ```
///
/// that is, retries within any TTL window are at most `percent` of the
/// successes that can still pay for them (those of the window and of the
/// deposit lifetime before it) plus `floor x TTL`. A deposit can be spent
/// for at least `TTL` and less than `S x w` ticks (`S x w` is about
/// `TTL x S / (S - 1)`: 11 s for a 10 s TTL with the default `S = 10`).
/// The property test `tests/tests/budget.rs` checks this law on random
/// timelines, and checks every decision against a reference model.
///
/// # Transitions
///
/// | from | event | to |
/// |---|---|---|
/// | balance `b` | `deposit(now)` | `b + percent` |
/// | balance `b + reserve >= 100` | `try_withdraw(now)` | `b - 100`, returns `true` |
/// | balance `b + reserve < 100` | `try_withdraw(now)` | unchanged, returns `false` |
/// | any | a slice becomes older than `S` slices | its deposits and withdrawals leave the balance |
///
/// # Conventions
/// - A retry budget is a share of recent *successes* (Finagle), not of
///   requests in flight (Envoy's other mode: [`ConcurrentRetryBudget`](super::ConcurrentRetryBudget)).
/// - A new budget holds only the floor's reserve.
/// - A refused withdrawal takes nothing (only its instant is noted, as the
///   latest seen if it is later).
/// - Time that goes backwards counts as no time elapsed: a `now` earlier
///   than the latest instant seen is judged as that latest instant (the
///   budget keeps the latest slice seen). `u64::MAX` instants saturate.
///
/// # Memory
///
/// `32 + 16 x S` bytes on x86_64 and thumbv6m: 192 for the default `S = 10`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryBudget<const S: usize = 10> {
    slices: [Slice; S],
    slice_ticks: u64,
    // The floor's share: 100 x floor x TTL / second, in hundredths.
    reserve: i64,
    latest: u64,
    percent: u16,
}

impl Default for RetryBudget<10> {
    /// Finagle's defaults: 20 % of successes, 10 retries per second, 10 s TTL.
    fn default() -> Self {
        Self::from_parts(20, 10, Duration::from_secs(10))
    }
}

/// A [`RetryBudget`] being built, with Finagle's names for its parameters
/// (`RetryBudget(ttl, minRetriesPerSec, percentCanRetry)`). It starts from
/// Finagle's defaults; [`build`](Self::build) checks the values.
///
/// ```
/// use fusebox::rate::RetryBudget;
/// use fusebox::time::Duration;
///
/// let budget = RetryBudget::builder().percent_can_retry(10).build()?;
/// assert_eq!(budget.slice_duration(), Duration::from_ticks(1_111_112)); // 10 s / 9, up
/// let err = RetryBudget::builder().percent_can_retry(1_001).build().unwrap_err();
/// assert_eq!(err.field(), "percent_can_retry");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a RetryBudgetBuilder does nothing until `build()` gives the budget"]
pub struct RetryBudgetBuilder<const S: usize = 10> {
    ttl: Duration,
    min_retries_per_sec: u32,
    percent_can_retry: u16,
}

impl<const S: usize> RetryBudgetBuilder<S> {
    /// Cut the TTL into `T` slices (at least 2; default 10) instead: more
    /// slices, finer expiry, 16 bytes each. The values set so far are kept.
    ///
    /// ```
    /// use fusebox::rate::RetryBudget;
    ///
    /// let budget = RetryBudget::builder().slices::<4>().percent_can_retry(10).build()?;
    /// assert_eq!(core::mem::size_of_val(&budget), 32 + 16 * 4);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub const fn slices<const T: usize>(self) -> RetryBudgetBuilder<T> {
        RetryBudgetBuilder {
            ttl: self.ttl,
            min_retries_per_sec: self.min_retries_per_sec,
            percent_can_retry: self.percent_can_retry,
        }
    }

    /// How long a deposit (and a withdrawal) counts: at least `S - 1`
    /// ticks. Default 10 s.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Retries per second always allowed, whatever the successes (the
    /// floor, 0 for none). Default 10.
    pub const fn min_retries_per_sec(mut self, n: u32) -> Self {
        self.min_retries_per_sec = n;
        self
    }

    /// Retries allowed per 100 successes, `0..=1000`. Default 20.
    pub const fn percent_can_retry(mut self, percent: u16) -> Self {
        self.percent_can_retry = percent;
        self
    }

    /// The budget, holding only the floor's reserve; or the first bad
    /// value: `RetryBudget::<S>` (fewer than 2 slices),
    /// `percent_can_retry` (above 1000) or `ttl` (shorter than `S - 1`
    /// ticks).
    pub const fn build(self) -> Result<RetryBudget<S>, ConfigError> {
        if S < 2 {
            return Err(ConfigError::new(
                "RetryBudget::<S>",
                "have at least 2 slices",
            ));
        }
        if self.percent_can_retry > 1000 {
            return Err(ConfigError::new(
                "percent_can_retry",
                "be in 0..=1000 (retries per 100 successes)",
            ));
        }
        if self.ttl.as_ticks() < (S as u64).saturating_sub(1) {
            return Err(ConfigError::new(
                "ttl",
                "be at least S - 1 ticks (one tick per slice)",
            ));
        }
        Ok(RetryBudget::from_parts(
            self.percent_can_retry,
            self.min_retries_per_sec,
            self.ttl,
        ))
    }
}

impl RetryBudget {
    /// A [`RetryBudgetBuilder`] with Finagle's defaults: 20 % of the
    /// successes, 10 retries per second, deposits living for 10 s, the TTL
    /// cut into the default 10 slices (so `RetryBudget::builder()` needs no
    /// type annotation, as `HashMap::new` picks its default hasher); choose
    /// another number of slices with [`RetryBudgetBuilder::slices`].
    pub const fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            ttl: Duration::from_secs(10),
            min_retries_per_sec: 10,
            percent_can_retry: 20,
        }
    }
}

impl<const S: usize> RetryBudget<S> {
    const fn from_parts(percent: u16, floor: u32, ttl: Duration) -> Self {
        let ttl = ttl.as_ticks();
        let parts = (S as u64).saturating_sub(1);
        let slice_ticks = match ttl.checked_div(parts) {
            Some(q) if q.saturating_mul(parts) < ttl => q.saturating_add(1),
            Some(q) if q > 0 => q,
            _ => 1,
        };
        let second = Duration::from_secs(1).as_ticks() as u128;
        let reserve = (UNIT as u128)
            .saturating_mul(floor as u128)
            .saturating_mul(ttl as u128);
        let reserve = match reserve.checked_div(second) {
            Some(r) if r <= i64::MAX as u128 => r as i64,
            _ => i64::MAX,
        };
        Self {
            slices: [EMPTY; S],
            slice_ticks,
            reserve,
            latest: 0,
            percent,
        }
    }

    #[inline]
    fn epoch(&self, now: Instant) -> u64 {
        let e = now.as_ticks().checked_div(self.slice_ticks).unwrap_or(0);
        // The slice is a non-decreasing function of time: judging at the
        // latest slice seen is judging at the latest instant seen.
        time::at_latest_ticks(e, self.latest)
    }

    /// The slice for `epoch` (from [`epoch`](Self::epoch)), emptied if it
    /// held an expired one.
    #[inline]
    fn slice(&mut self, epoch: u64) -> Option<&mut Slice> {
        self.latest = epoch;
        let index = epoch.checked_rem(S as u64).unwrap_or(0) as usize;
        let slice = self.slices.get_mut(index)?;
        if slice.epoch != epoch {
            *slice = Slice { epoch, net: 0 };
        }
        Some(slice)
    }

    /// Deposits minus withdrawals of the live slices, plus the reserve.
    #[inline]
    fn balance(&self, epoch: u64) -> i64 {
        let mut sum = self.reserve;
        for s in &self.slices {
            if epoch.saturating_sub(s.epoch) < S as u64 {
                sum = sum.saturating_add(s.net);
            }
        }
        sum
    }

    /// Record one success at `now`: it deposits `percent` hundredths of a
    /// retry.
    #[inline]
    pub fn deposit(&mut self, now: Instant) {
        let percent = i64::from(self.percent);
        let epoch = self.epoch(now);
        if let Some(s) = self.slice(epoch) {
            s.net = s.net.saturating_add(percent);
        }
    }

    /// Take one retry from the budget at `now`, if it holds one; `false`
    /// (and nothing changes) if not.
    #[inline]
    #[must_use = "retry only when the budget allowed it"]
    pub fn try_withdraw(&mut self, now: Instant) -> bool {
        // One division for both steps: `latest` does not move in between.
        let epoch = self.epoch(now);
        // A refusal sees the instant too.
        self.latest = epoch;
        if self.balance(epoch) < UNIT {
            return false;
        }
        match self.slice(epoch) {
            Some(s) => {
                s.net = s.net.saturating_sub(UNIT);
                true
            }
            None => false,
        }
    }

    /// Whole retries the budget would allow at `now`.
    pub fn available(&self, now: Instant) -> u64 {
        let b = self.balance(self.epoch(now));
        u64::try_from(b.checked_div(UNIT).unwrap_or(0)).unwrap_or(0)
    }

    /// The length of one slice, in ticks (`ceil(TTL / (S - 1))`).
    pub const fn slice_duration(&self) -> Duration {
        Duration::from_ticks(self.slice_ticks)
    }
}
