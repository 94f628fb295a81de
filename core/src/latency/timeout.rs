//! A timeout set from the observed latency.

use crate::ConfigError;
use crate::time::{Duration, Instant};

use super::{LatencyHistogram, PPM};

/// How an [`AdaptiveTimeout`] turns a latency quantile into a timeout:
///
/// ```text
/// timeout = clamp(quantile(q) x num / den + margin, min, max)
/// ```
///
/// and `initial` until the window holds `min_samples` samples. Defaults:
/// `q` = p99 (990 000 ppm), `num / den` = 2 / 1, no margin,
/// `min_samples` = 100. (A choice, not a standard: the anchors leave it to
/// the user; twice p99 lets a call at the observed tail finish, and stops
/// one that has fallen well past it.)
///
/// ```
/// use fusebox::latency::timeout;
/// use fusebox::time::Duration;
///
/// let ms = Duration::from_millis;
/// let config = timeout::Config::new(ms(500), ms(10), ms(2_000))
///     .quantile(999_000) // p99.9
///     .multiplier(3, 2)
///     .margin(ms(5))
///     .min_samples(50);
/// assert!(config.validate().is_ok());
/// let err = config.multiplier(1, 0).validate().unwrap_err();
/// assert_eq!(err.field(), "multiplier");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    initial: Duration,
    min: Duration,
    max: Duration,
    margin: Duration,
    quantile_ppm: u32,
    num: u32,
    den: u32,
    min_samples: u32,
}

impl Config {
    /// A timeout of `initial` until there are enough samples, then from the
    /// latency, never below `min` nor above `max` (`min <= initial <= max`).
    pub const fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        Self {
            initial,
            min,
            max,
            margin: Duration::from_ticks(0),
            quantile_ppm: 990_000,
            num: 2,
            den: 1,
            min_samples: 100,
        }
    }

    /// The quantile the timeout follows, in parts per million (`0..=10^6`:
    /// 990 000 is p99).
    #[must_use]
    pub const fn quantile(mut self, q_ppm: u32) -> Self {
        self.quantile_ppm = q_ppm;
        self
    }

    /// The factor `num / den` (`den >= 1`) on the quantile.
    #[must_use]
    pub const fn multiplier(mut self, num: u32, den: u32) -> Self {
        self.num = num;
        self.den = den;
        self
    }

    /// A constant added after the factor.
    #[must_use]
    pub const fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The samples the window must hold before the timeout leaves
    /// `initial`.
    #[must_use]
    pub const fn min_samples(mut self, n: u32) -> Self {
        self.min_samples = n;
        self
    }

    /// Check the configuration; the error names the field.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.quantile_ppm > PPM as u32 {
            return Err(ConfigError::new(
                "quantile",
                "be in 0..=1000000 (parts per million: 990000 is p99)",
            ));
        }
        if self.den == 0 {
            return Err(ConfigError::new(
                "multiplier",
                "have a denominator of at least 1",
            ));
        }
        if self.min.as_ticks() > self.max.as_ticks() {
            return Err(ConfigError::new("min", "be at most `max`"));
        }
        if self.initial.as_ticks() < self.min.as_ticks()
            || self.initial.as_ticks() > self.max.as_ticks()
        {
            return Err(ConfigError::new("initial", "be in `min..=max`"));
        }
        Ok(())
    }

    /// The timeout for a window of `count` samples whose chosen quantile
    /// is `quantile`: the formula above, saturating.
    pub const fn timeout_for(&self, quantile: Option<Duration>, count: u64) -> Duration {
        let q = match quantile {
            Some(q) if count >= self.min_samples as u64 && count > 0 => q.as_ticks(),
            _ => return self.initial,
        };
        let scaled = (q as u128).saturating_mul(self.num as u128);
        let scaled = match scaled.checked_div(self.den as u128) {
            Some(s) if s <= u64::MAX as u128 => s as u64,
            _ => u64::MAX,
        };
        let t = scaled.saturating_add(self.margin.as_ticks());
        let t = if t < self.min.as_ticks() {
            self.min.as_ticks()
        } else if t > self.max.as_ticks() {
            self.max.as_ticks()
        } else {
            t
        };
        Duration::from_ticks(t)
    }

    /// The timeout before there are `min_samples` samples.
    pub const fn initial(&self) -> Duration {
        self.initial
    }

    /// The quantile followed, in parts per million.
    pub const fn quantile_ppm(&self) -> u32 {
        self.quantile_ppm
    }
}

/// A timeout that follows a quantile of recent latency:
/// `clamp(quantile(q) x num / den + margin, min, max)` (see
/// [`Config`]), over a [`LatencyHistogram`] window.
///
/// Record every call's latency; for a call that timed out, record the
/// timeout itself (the latency was at least that), or the quantile could
/// only fall as the tail grows.
///
/// ```
/// use fusebox::latency::{AdaptiveTimeout, timeout};
/// use fusebox::time::{Duration, Instant};
///
/// let t = Duration::from_ticks;
/// let config = timeout::Config::new(t(1_000), t(50), t(5_000)).min_samples(10);
/// let mut timeout = AdaptiveTimeout::<4, 176, 4>::new(config, t(60_000))?;
/// let now = Instant::from_ticks(0);
/// assert_eq!(timeout.timeout(now), t(1_000)); // no samples yet
/// for _ in 0..10 {
///     timeout.record(t(100), now);
/// }
/// assert_eq!(timeout.timeout(now), t(200)); // p99 = 100, x 2
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Memory
///
/// The histogram plus 48 bytes: see the [module's table](super#memory).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdaptiveTimeout<const P: u32 = 5, const B: usize = 464, const S: usize = 5> {
    histogram: LatencyHistogram<P, B, S>,
    config: Config,
}

impl<const P: u32, const B: usize, const S: usize> AdaptiveTimeout<P, B, S> {
    /// An adaptive timeout over a histogram whose samples count for
    /// `window` (see [`LatencyHistogram::new`]).
    pub const fn new(config: Config, window: Duration) -> Result<Self, ConfigError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        match LatencyHistogram::new(window) {
            Ok(histogram) => Ok(Self { histogram, config }),
            Err(e) => Err(e),
        }
    }

    /// Record one call's latency (the timeout, for a call that timed out).
    #[inline]
    pub fn record(&mut self, latency: Duration, now: Instant) {
        self.histogram.record(latency, now);
    }

    /// The timeout for a call starting at `now`.
    #[inline]
    pub fn timeout(&mut self, now: Instant) -> Duration {
        let q = self.histogram.quantile(self.config.quantile_ppm, now);
        let count = self.histogram.count(now);
        self.config.timeout_for(q, count)
    }

    /// The deadline of a call starting at `now` (`now + timeout`,
    /// saturating): the plain sum with the caller's own `now`, even one
    /// earlier than the latest instant seen (the timeout itself is judged
    /// at the latest instant, as everywhere).
    #[inline]
    pub fn deadline(&mut self, now: Instant) -> Instant {
        crate::time::add(now, self.timeout(now))
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The histogram, to read other quantiles.
    pub fn histogram(&mut self) -> &mut LatencyHistogram<P, B, S> {
        &mut self.histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: u64) -> Duration {
        Duration::from_ticks(x)
    }

    #[test]
    fn stays_initial_until_min_samples() {
        let config = Config::new(d(500), d(10), d(1_000)).min_samples(3);
        let mut t = AdaptiveTimeout::<3, 32, 4>::new(config, d(100)).unwrap();
        let now = Instant::from_ticks(0);
        // 44 is the midpoint of its bucket at P = 3 (40..=47).
        t.record(d(44), now);
        t.record(d(41), now);
        assert_eq!(t.timeout(now), d(500));
        t.record(d(47), now);
        assert_eq!(t.timeout(now), d(88));
        assert_eq!(t.deadline(now), Instant::from_ticks(88));
        // The samples age out: back to the initial value.
        assert_eq!(t.timeout(Instant::from_ticks(1_000)), d(500));
    }

    #[test]
    fn formula_and_clamp() {
        let c = Config::new(d(5), d(5), d(1_000))
            .multiplier(3, 2)
            .margin(d(7))
            .min_samples(1);
        assert_eq!(c.timeout_for(Some(d(100)), 1), d(157));
        assert_eq!(c.timeout_for(Some(d(1)), 1), d(8));
        assert_eq!(c.timeout_for(Some(d(0)), 1), d(7));
        assert_eq!(c.timeout_for(Some(d(0)), 1), d(7));
        assert_eq!(c.timeout_for(Some(d(10_000)), 1), d(1_000));
        assert_eq!(c.timeout_for(Some(Duration::MAX), 1), d(1_000));
        assert_eq!(c.timeout_for(None, 5), d(5));
        assert_eq!(c.timeout_for(Some(d(100)), 0), d(5));
        let c = Config::new(d(50), d(20), d(1_000)).min_samples(0);
        assert_eq!(c.timeout_for(Some(d(1)), 1), d(20));
        assert_eq!(c.timeout_for(Some(d(1)), 0), d(50));
    }

    #[test]
    fn bad_configs_name_their_field() {
        let c = Config::new(d(5), d(1), d(10));
        assert_eq!(
            c.quantile(1_000_001).validate().unwrap_err().field(),
            "quantile"
        );
        assert_eq!(
            c.multiplier(1, 0).validate().unwrap_err().field(),
            "multiplier"
        );
        let bad = Config::new(d(5), d(11), d(10));
        assert_eq!(bad.validate().unwrap_err().field(), "min");
        let bad = Config::new(d(11), d(1), d(10));
        assert_eq!(bad.validate().unwrap_err().field(), "initial");
        let err = AdaptiveTimeout::<3, 32, 4>::new(c, d(2)).unwrap_err();
        assert_eq!(err.field(), "window");
        assert!(c.quantile(1_000_000).multiplier(0, 1).validate().is_ok());
    }
}
