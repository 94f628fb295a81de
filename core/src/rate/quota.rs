//! [`Quota`]: the rate every limiter in this module keeps.

use crate::ConfigError;
use crate::time::Duration;

/// A rate: `rate` tokens per `period` ticks, with a bucket of `burst`
/// tokens.
///
/// Built by name, so a rate and a burst cannot be swapped:
/// [`Quota::per_second`]`(n)`, [`per_minute`](Quota::per_minute),
/// [`per_hour`](Quota::per_hour), [`per_period`](Quota::per_period)`(n,
/// period)` or [`with_period`](Quota::with_period)`(period)` (one token
/// per period) give a [`QuotaBuilder`] whose burst is `n` (governor's
/// convention: a full bucket holds one period's tokens);
/// [`allow_burst`](QuotaBuilder::allow_burst) sets another, and
/// [`build`](QuotaBuilder::build) checks the values (`const`, so a quota
/// can be a `const` or feed a `static`). Seconds, minutes and hours are
/// converted at the binary's tick rate (`embassy_time::TICK_HZ`).
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
/// // 100 requests per second in bursts of up to 10 (a 1 MHz tick here).
/// let q = Quota::per_second(100).allow_burst(10).build()?;
/// assert_eq!((q.rate(), q.period().as_ticks(), q.burst()), (1, 10_000, 10));
/// // 3 tokens per 10 ticks, burst 3 (the default: one period's tokens).
/// let q = Quota::per_period(3, Duration::from_ticks(10)).build()?;
/// assert_eq!((q.rate(), q.period().as_ticks(), q.burst()), (3, 10, 3));
///
/// let err = Quota::per_second(0).build().unwrap_err();
/// assert_eq!(err.field(), "rate");
/// let err = Quota::per_second(100).allow_burst(0).build().unwrap_err();
/// assert_eq!(err.field(), "burst");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quota {
    // In lowest terms. In units of 1/rate tick, one token costs `period`
    // units and the bucket holds `burst * period` units.
    pub(super) period: u64,
    pub(super) rate: u32,
    pub(super) burst: u32,
}

/// A [`Quota`] being built: a rate, and a burst that defaults to the
/// rate's count. [`build`](Self::build) checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a QuotaBuilder does nothing until `build()` gives the Quota"]
pub struct QuotaBuilder {
    period: Duration,
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

impl QuotaBuilder {
    /// A bucket of `burst` tokens (at least 1: the most a caller can take
    /// at once) instead of the rate's count.
    pub const fn allow_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// The quota, or the first bad value: `rate` (0 tokens would never
    /// refill), `period` (0 ticks) or `burst` (0 would admit nothing).
    ///
    /// The rate may exceed the number of ticks in the period (more than
    /// one token per tick), and need not divide it: the limiter is exact
    /// either way. A rate above `u32::MAX` per period can be given as a
    /// shorter period.
    pub const fn build(self) -> Result<Quota, ConfigError> {
        let rate = self.rate;
        let burst = self.burst;
        if rate == 0 {
            return Err(ConfigError::new(
                "rate",
                "be at least 1 token per period (0 would never refill)",
            ));
        }
        let period = self.period.as_ticks();
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
        Ok(Quota {
            period,
            rate,
            burst,
        })
    }
}

impl Quota {
    /// `n` tokens per `period`, burst `n` (change it with
    /// [`allow_burst`](QuotaBuilder::allow_burst)).
    pub const fn per_period(n: u32, period: Duration) -> QuotaBuilder {
        QuotaBuilder {
            period,
            rate: n,
            burst: n,
        }
    }

    /// One token per `period`, burst 1 (governor's `with_period`).
    pub const fn with_period(period: Duration) -> QuotaBuilder {
        Self::per_period(1, period)
    }

    /// `n` tokens per second, burst `n`.
    pub const fn per_second(n: u32) -> QuotaBuilder {
        Self::per_period(n, Duration::from_secs(1))
    }

    /// `n` tokens per minute, burst `n`.
    pub const fn per_minute(n: u32) -> QuotaBuilder {
        Self::per_period(n, Duration::from_secs(60))
    }

    /// `n` tokens per hour, burst `n`.
    pub const fn per_hour(n: u32) -> QuotaBuilder {
        Self::per_period(n, Duration::from_secs(3600))
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
}
