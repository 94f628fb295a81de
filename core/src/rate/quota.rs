//! [`Quota`]: the rate every limiter in this module keeps.

use crate::ConfigError;
use crate::time::Duration;

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
    pub(super) period: u64,
    pub(super) rate: u32,
    pub(super) burst: u32,
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
}
