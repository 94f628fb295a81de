//! The quota, the GCRA decision shared by every limiter in this module, and
//! the `&mut self` [`TokenBucket`].

use crate::ConfigError;
use crate::time::{self, Duration, Instant};
use crate::wide;

/// A rate: `rate` tokens per `period` ticks, with a bucket of `burst`
/// tokens.
///
/// The fraction `rate / period` is kept in lowest terms (so `100` per
/// `1_000_000` ticks is stored as `1` per `10_000`): the limiter's law and
/// decisions depend only on the fraction, and smaller terms keep every
/// product far from overflow.
///
/// ```
/// use fusebox::rate::Quota;
/// use fusebox::time::Duration;
///
/// // 100 requests per second in bursts of up to 10, at a 1 MHz tick.
/// let q = Quota::new(100, Duration::from_ticks(1_000_000), 10)?;
/// assert_eq!((q.rate(), q.period().as_ticks(), q.burst()), (1, 10_000, 10));
///
/// let err = Quota::new(0, Duration::from_ticks(1), 1).unwrap_err();
/// assert_eq!(err.field(), "rate");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quota {
    // In lowest terms. In units of 1/rate tick, one token costs `period`
    // units and the bucket holds `burst * period` units.
    period: u64,
    rate: u32,
    burst: u32,
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = match a.checked_rem(b) {
            Some(r) => r,
            None => 0,
        };
        a = b;
        b = r;
    }
    a
}

impl Quota {
    /// `rate` tokens per `period` (both at least 1), with a bucket of
    /// `burst` tokens (at least 1: the most a caller can take at once).
    ///
    /// `rate` may exceed the number of ticks in `period` (more than one
    /// token per tick), and need not divide it: the limiter is exact either
    /// way. A rate above `u32::MAX` per period can be given as a shorter
    /// period.
    pub const fn new(rate: u32, period: Duration, burst: u32) -> Result<Self, ConfigError> {
        if rate == 0 {
            return Err(ConfigError::new(
                "rate",
                "be at least 1 token per period (0 would never refill)",
            ));
        }
        let period = period.as_ticks();
        if period == 0 {
            return Err(ConfigError::new("period", "be at least 1 tick"));
        }
        if burst == 0 {
            return Err(ConfigError::new(
                "burst",
                "be at least 1 (0 would admit nothing)",
            ));
        }
        let g = gcd(rate as u64, period);
        let (rate, period) = match (period.checked_div(g), (rate as u64).checked_div(g)) {
            (Some(p), Some(r)) => (r as u32, p),
            _ => (rate, period),
        };
        Ok(Self {
            period,
            rate,
            burst,
        })
    }

    /// `rate` tokens per second, at `ticks_per_second` (the binary's tick
    /// rate, e.g. `embassy_time::TICK_HZ`), in bursts of up to `burst`.
    pub const fn per_second(
        rate: u32,
        burst: u32,
        ticks_per_second: u64,
    ) -> Result<Self, ConfigError> {
        if ticks_per_second == 0 {
            return Err(ConfigError::new("ticks_per_second", "be at least 1"));
        }
        Self::new(rate, Duration::from_ticks(ticks_per_second), burst)
    }

    /// Tokens per [`period`](Self::period), in lowest terms.
    pub const fn rate(&self) -> u32 {
        self.rate
    }

    /// The period, in lowest terms with [`rate`](Self::rate).
    pub const fn period(&self) -> Duration {
        Duration::from_ticks(self.period)
    }

    /// The bucket's capacity: the most admitted at once.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// `now` in units of 1/rate tick. Below 2^96, so sums of it and a few
    /// bucket capacities (each below 2^96) never come near `u128::MAX`.
    #[inline(always)]
    pub(crate) const fn units(&self, now: Instant) -> u128 {
        wide::mul(now.as_ticks(), self.rate)
    }

    /// The cost of `n` tokens, in units.
    #[inline(always)]
    pub(crate) const fn cost(&self, n: u32) -> u128 {
        wide::mul(self.period, n)
    }

    /// The GCRA decision for `n` tokens at `now` when the theoretical
    /// arrival time is `tat`: the new TAT, or the rejection. `n` in
    /// `1..=burst` (callers handle 0 and too many).
    // Forced inline on 64-bit targets (the admit path is a few
    // instructions); on 32-bit ones the 128-bit arithmetic makes it large,
    // and one copy serves every caller.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn decide(&self, tat: u128, n: u32, now: Instant) -> Result<u128, Rejected> {
        let t = self.units(now);
        let start = if tat > t { tat } else { t };
        // No overflow: `t < 2^96`, a cost is below 2^96, and every TAT
        // stored is at most some `t + burst x period < 2^97` (an admission
        // needs `next - t <= burst x period`). So wrapping is exact here.
        let next = start.wrapping_add(self.cost(n));
        // `next >= t`: admitted iff the bucket, refilled up to `t`, still
        // holds n tokens: next - t <= burst * period.
        let over = next.wrapping_sub(t);
        let capacity = self.cost(self.burst);
        if over <= capacity {
            Ok(next)
        } else {
            Err(self.rejected(over.wrapping_sub(capacity)))
        }
    }

    /// The full decision, with n = 0 (always admitted, nothing taken) and
    /// n > burst (never admitted) handled.
    #[inline(always)]
    pub(crate) fn decide_n(&self, tat: u128, n: u32, now: Instant) -> Result<u128, Rejected> {
        if n == 0 {
            Ok(tat)
        } else if n > self.burst {
            Err(Rejected { retry_after: None })
        } else {
            self.decide(tat, n, now)
        }
    }

    /// The rejection of a request `short` units short: off the hot path,
    /// so the admit path stays small.
    #[cold]
    #[inline(never)]
    fn rejected(&self, short: u128) -> Rejected {
        Rejected {
            retry_after: Some(self.ticks_ceil(short)),
        }
    }

    /// The rejection of a request `short` units short (for the shared
    /// bucket's packed path).
    #[cfg(feature = "sync")]
    #[cold]
    #[inline(never)]
    pub(crate) fn rejected_after(&self, short: u128) -> Rejected {
        self.rejected(short)
    }

    /// `units` as ticks, rounded up.
    pub(crate) fn ticks_ceil(&self, units: u128) -> Duration {
        let (q, exact) = wide::div(units, self.rate);
        let q = if exact { q } else { q.saturating_add(1) };
        Duration::from_ticks(if q > u64::MAX as u128 {
            u64::MAX
        } else {
            q as u64
        })
    }

    /// When `n` tokens are there, given `tat`.
    pub(crate) fn time_until(
        &self,
        tat: u128,
        n: u32,
        now: Instant,
    ) -> Result<Duration, ExceedsBurst> {
        match self.decide_n(tat, n, now) {
            Ok(_) => Ok(Duration::from_ticks(0)),
            Err(Rejected {
                retry_after: Some(d),
            }) => Ok(d),
            Err(Rejected { retry_after: None }) => Err(ExceedsBurst { burst: self.burst }),
        }
    }

    /// Whole tokens in the bucket at `now`, given `tat`.
    pub(crate) fn available(&self, tat: u128, now: Instant) -> u32 {
        let t = self.units(now);
        let used = tat.saturating_sub(t);
        let left = self.cost(self.burst).saturating_sub(used);
        // `left <= burst x period`, so the quotient fits a u32.
        wide::div_small(left, self.period)
    }
}

/// A request the limiter refused. Refusing took no token (the limiter only
/// notes the instant, as the latest seen if it is later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected {
    /// How long until the same request would be admitted (rounded up to a
    /// whole tick), if nothing else takes tokens first. `None` when it asked
    /// for more than the burst, which is never admitted.
    pub retry_after: Option<Duration>,
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.retry_after {
            Some(d) => write!(f, "rate limited: retry after {} ticks", d.as_ticks()),
            None => f.write_str("rate limited: more tokens asked for than the burst holds"),
        }
    }
}

impl core::error::Error for Rejected {}

/// Asked for more tokens than the bucket holds: such a request is never
/// admitted, however long the caller waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExceedsBurst {
    /// The bucket's capacity, the most that can be asked for at once.
    pub burst: u32,
}

impl core::fmt::Display for ExceedsBurst {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "more tokens asked for than the burst of {} holds",
            self.burst
        )
    }
}

impl core::error::Error for ExceedsBurst {}

/// A token bucket kept as GCRA: one theoretical arrival time, exact in
/// integers. See the [module docs](super) for the law it keeps.
///
/// ```
/// use fusebox::rate::{Quota, TokenBucket};
/// use fusebox::time::{Duration, Instant};
///
/// // 2 tokens per 5 ticks, burst 3.
/// let mut bucket = TokenBucket::new(Quota::new(2, Duration::from_ticks(5), 3)?);
/// let t = Instant::from_ticks;
/// assert!(bucket.try_acquire_n(3, t(0)).is_ok()); // starts full
/// let no = bucket.try_acquire(t(0)).unwrap_err();
/// assert_eq!(no.retry_after, Some(Duration::from_ticks(3))); // 5/2 ticks, rounded up
/// assert_eq!(bucket.time_until(2, t(0)), Ok(Duration::from_ticks(5)));
/// assert!(bucket.try_acquire(t(3)).is_ok());
/// assert!(bucket.time_until(4, t(3)).is_err()); // more than the burst: never
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenBucket {
    // The theoretical arrival time in units of 1/rate tick, split in two
    // words so the bucket aligns to 8 on every target.
    tat_lo: u64,
    tat_hi: u64,
    quota: Quota,
    // The latest instant seen (admitted or refused): an earlier `now` is
    // judged at it. The TAT alone cannot hold it: a burst pushes the TAT
    // past any instant seen, and a refusal leaves it unchanged.
    latest: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub const fn new(quota: Quota) -> Self {
        Self {
            tat_lo: 0,
            tat_hi: 0,
            quota,
            latest: Instant::from_ticks(0),
        }
    }

    #[inline(always)]
    const fn tat(&self) -> u128 {
        ((self.tat_hi as u128) << 64) | self.tat_lo as u128
    }

    #[inline(always)]
    fn set_tat(&mut self, tat: u128) {
        self.tat_lo = tat as u64;
        self.tat_hi = (tat >> 64) as u64;
    }

    /// Take one token at `now`, or be told how long until there is one.
    #[inline]
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Rejected> {
        let now = time::observe(&mut self.latest, now);
        let tat = self.quota.decide(self.tat(), 1, now)?;
        self.set_tat(tat);
        Ok(())
    }

    /// Take `n` tokens at once at `now`, or none. `n = 0` is always
    /// admitted and takes nothing; `n` above the burst is never admitted
    /// (its `retry_after` is `None`).
    #[inline]
    pub fn try_acquire_n(&mut self, n: u32, now: Instant) -> Result<(), Rejected> {
        let now = time::observe(&mut self.latest, now);
        let tat = self.quota.decide_n(self.tat(), n, now)?;
        self.set_tat(tat);
        Ok(())
    }

    /// How long from `now` until `n` tokens are there (zero if they are
    /// now), if nobody else takes any; an error if `n` exceeds the burst.
    pub fn time_until(&self, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        let now = time::at_latest(now, self.latest);
        self.quota.time_until(self.tat(), n, now)
    }

    /// Whole tokens in the bucket at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        self.quota
            .available(self.tat(), time::at_latest(now, self.latest))
    }

    /// Refill the bucket to full (the latest instant seen stays).
    pub fn reset(&mut self) {
        self.set_tat(0);
    }

    /// The quota.
    pub const fn quota(&self) -> Quota {
        self.quota
    }
}
