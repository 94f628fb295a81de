//! Hedged requests under a budget.

use crate::ConfigError;
use crate::rate::RetryBudget;
use crate::time::{Duration, Instant};

use super::{LatencyHistogram, PPM};

/// When and how often a [`HedgePolicy`] hedges.
///
/// Defaults: hedge after p95 of recent latency (Dean and Barroso's
/// choice), at most 1 hedge per request, hedges at most 10 % of requests
/// (p95 alone would send 5 %: the budget leaves room for a burst and cuts
/// hedging off when the tail fattens), no floor, no hedging before 20
/// samples, delay at least 1 tick.
///
/// ```
/// use fusebox::latency::hedge;
/// use fusebox::time::Duration;
///
/// let config = hedge::Config::new()
///     .quantile(990_000) // hedge after p99
///     .max_hedges(2)
///     .budget_percent(5) // at most 5 % of requests
///     .min_samples(100)
///     .min_delay(Duration::from_millis(1));
/// assert!(config.validate().is_ok());
/// assert_eq!(config.max_hedges(0).validate().unwrap_err().field(), "max_hedges");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    min_delay: Duration,
    quantile_ppm: u32,
    min_samples: u32,
    budget_floor: u32,
    budget_percent: u16,
    max_hedges: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults above.
    pub const fn new() -> Self {
        Self {
            min_delay: Duration::from_ticks(1),
            quantile_ppm: 950_000,
            min_samples: 20,
            budget_floor: 0,
            budget_percent: 10,
            max_hedges: 1,
        }
    }

    /// The quantile of recent latency after which a hedge is sent, in
    /// parts per million (`0..=10^6`: 950 000 is p95).
    #[must_use]
    pub const fn quantile(mut self, q_ppm: u32) -> Self {
        self.quantile_ppm = q_ppm;
        self
    }

    /// The most hedges per request (`1..=255`); hedge `k` is sent `k`
    /// delays after the request started.
    #[must_use]
    pub const fn max_hedges(mut self, n: u8) -> Self {
        self.max_hedges = n;
        self
    }

    /// The hedge budget's share: hedges at most `percent` % of recorded
    /// requests (`0..=1000`) over the window, plus the
    /// [floor](Self::min_hedges_per_sec) (the law of [`RetryBudget`], with
    /// requests as the deposits: its `percent_can_retry`). Default 10.
    #[must_use]
    pub const fn budget_percent(mut self, percent: u16) -> Self {
        self.budget_percent = percent;
        self
    }

    /// The hedge budget's floor: hedges per second always allowed, whatever
    /// the requests ([`RetryBudget`]'s `min_retries_per_sec`). Default 0.
    #[must_use]
    pub const fn min_hedges_per_sec(mut self, n: u32) -> Self {
        self.budget_floor = n;
        self
    }

    /// The samples the window must hold before any hedge is sent.
    #[must_use]
    pub const fn min_samples(mut self, n: u32) -> Self {
        self.min_samples = n;
        self
    }

    /// The shortest delay before a hedge, whatever the quantile.
    #[must_use]
    pub const fn min_delay(mut self, d: Duration) -> Self {
        self.min_delay = d;
        self
    }

    /// Check the configuration; the error names the field.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.quantile_ppm > PPM as u32 {
            return Err(ConfigError::new(
                "quantile",
                "be in 0..=1000000 (parts per million: 950000 is p95)",
            ));
        }
        if self.max_hedges == 0 {
            return Err(ConfigError::new(
                "max_hedges",
                "be at least 1 (0 would never hedge)",
            ));
        }
        if self.budget_percent > 1000 {
            return Err(ConfigError::new(
                "budget_percent",
                "have a percent in 0..=1000 (hedges per 100 requests)",
            ));
        }
        Ok(())
    }
}

/// Counts of what a [`HedgePolicy`] decided, since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct HedgeMetrics {
    /// Requests recorded.
    pub requests: u64,
    /// Hedges the budget allowed.
    pub hedges: u64,
    /// Hedges the budget refused.
    pub refused: u64,
}

/// Hedged requests ("The Tail at Scale"): once a request has waited for a
/// chosen quantile of recent latency, send a second copy and take
/// whichever answers first; a budget caps hedges at a share of requests,
/// so a slow dependency cannot double the load on itself.
///
/// Sans-IO, allocation-free, and with no clock of its own: for a request
/// started at `t0`, [`hedge_at`](Self::hedge_at) says when a hedge may be
/// sent (`t0 + max(quantile(q), min_delay)`), [`try_hedge`](Self::try_hedge)
/// asks the budget at that time, and [`record`](Self::record) records the
/// request's latency when it completes.
///
/// ```
/// use fusebox::latency::{hedge, HedgePolicy};
/// use fusebox::time::{Duration, Instant};
///
/// let (t, d) = (Instant::from_ticks, Duration::from_ticks);
/// let config = hedge::Config::new().min_samples(20).budget_percent(10);
/// let mut hedge = HedgePolicy::<4, 176, 4>::new(config, d(100_000))?;
/// assert_eq!(hedge.hedge_at(t(0), t(0)), None); // no samples: no hedging
///
/// // 19 requests took 10 ticks, one took 100.
/// for i in 0..20 {
///     hedge.record(d(if i == 0 { 100 } else { 10 }), t(i));
/// }
/// // p95 is 10 ticks: a request started at 1000 may hedge at 1010...
/// assert_eq!(hedge.hedge_at(t(1_000), t(1_000)), Some(t(1_010)));
/// // ...and 20 requests at 10 % pay for two hedges.
/// assert!(hedge.try_hedge(t(1_010)));
/// assert!(hedge.try_hedge(t(1_011)));
/// assert!(!hedge.try_hedge(t(1_012)));
/// assert_eq!(hedge.metrics().refused, 1);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Law
///
/// The budget is a [`RetryBudget`] over the same window, with each
/// recorded request depositing `percent` hundredths of a hedge and each
/// allowed hedge withdrawing one. So for every window `[a, a + window)`:
///
/// ```text
/// 100 x hedges in [a, a + window)
///     <= percent x requests in (a - S x w, a + window) + floor(100 x floor x window / 1 s)
/// ```
///
/// # Conventions
/// - Record each request once, when its first answer arrives, with the
///   latency its caller saw (from `t0`); a request that failed without
///   an answer may be left out. The hedges themselves are not recorded
///   (they are not requests: recording them would raise the budget they
///   spend).
/// - No hedge before the window holds `min_samples` samples: a quantile
///   of a few samples is noise.
/// - A hedge is one more call to the upstream: it passes through the same
///   limits as the first copy (rate limit, bulkhead, breaker permit) and
///   counts against the hedge budget. The copy that loses is cancelled and
///   records [`Outcome::Ignored`](crate::breaker::Outcome::Ignored) in the
///   breaker: its end says nothing of the upstream's health.
/// - A refused hedge changes nothing but the `refused` count.
/// - Time that goes backwards counts as no time elapsed, for the window
///   and for the budget.
///
/// # Memory
///
/// The histogram plus `80 + 16 x S` bytes: see the
/// [module's table](super#memory).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HedgePolicy<const P: u32 = 5, const B: usize = 464, const S: usize = 5> {
    histogram: LatencyHistogram<P, B, S>,
    budget: RetryBudget<S>,
    metrics: HedgeMetrics,
    config: Config,
}

impl<const P: u32, const B: usize, const S: usize> HedgePolicy<P, B, S> {
    /// A hedge policy whose latency samples and budget deposits count for
    /// `window` (at least `S - 1` ticks).
    pub const fn new(config: Config, window: Duration) -> Result<Self, ConfigError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        let histogram = match LatencyHistogram::new(window) {
            Ok(h) => h,
            Err(e) => return Err(e),
        };
        let budget = RetryBudget::builder()
            .slices::<S>()
            .percent_can_retry(config.budget_percent)
            .min_retries_per_sec(config.budget_floor)
            .ttl(window);
        let budget = match budget.build() {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        Ok(Self {
            histogram,
            budget,
            metrics: HedgeMetrics {
                requests: 0,
                hedges: 0,
                refused: 0,
            },
            config,
        })
    }

    /// The delay after which a request may be hedged, at `now`:
    /// `max(quantile(q), min_delay)`; `None` while the window holds fewer
    /// than `min_samples` samples.
    #[inline]
    pub fn delay(&mut self, now: Instant) -> Option<Duration> {
        let q = self.histogram.quantile(self.config.quantile_ppm, now)?;
        if self.histogram.count(now) < u64::from(self.config.min_samples) {
            return None;
        }
        Some(if q.as_ticks() < self.config.min_delay.as_ticks() {
            self.config.min_delay
        } else {
            q
        })
    }

    /// When the first hedge of a request started at `t0` may be sent:
    /// `t0 + delay`. `None` while there are too few samples. A time at or
    /// before `now` means the hedge is due; ask [`try_hedge`](Self::try_hedge)
    /// before sending it.
    #[inline]
    pub fn hedge_at(&mut self, t0: Instant, now: Instant) -> Option<Instant> {
        self.next_hedge_at(t0, 0, now)
    }

    /// When hedge number `sent + 1` of a request started at `t0`, that has
    /// sent `sent` hedges, may be sent: `t0 + (sent + 1) x delay`
    /// (saturating). `None` once `sent` reaches `max_hedges`, and while
    /// there are too few samples.
    #[inline]
    pub fn next_hedge_at(&mut self, t0: Instant, sent: u32, now: Instant) -> Option<Instant> {
        if sent >= u32::from(self.config.max_hedges) {
            return None;
        }
        let delay = self.delay(now)?.as_ticks();
        let wait = delay.saturating_mul(u64::from(sent).saturating_add(1));
        Some(crate::time::add(t0, Duration::from_ticks(wait)))
    }

    /// Ask the budget for one hedge at `now`: `true` (and the hedge is
    /// spent) if it holds one, `false` (nothing changes) if not.
    #[inline]
    #[must_use = "send the hedge only when the budget allowed it"]
    pub fn try_hedge(&mut self, now: Instant) -> bool {
        let ok = self.budget.try_withdraw(now);
        if ok {
            self.metrics.hedges = self.metrics.hedges.saturating_add(1);
        } else {
            self.metrics.refused = self.metrics.refused.saturating_add(1);
        }
        ok
    }

    /// Record one request, answered after `latency`, at `now`: a latency
    /// sample and a deposit into the hedge budget.
    #[inline]
    pub fn record(&mut self, latency: Duration, now: Instant) {
        self.histogram.record(latency, now);
        self.budget.deposit(now);
        self.metrics.requests = self.metrics.requests.saturating_add(1);
    }

    /// Whole hedges the budget would allow at `now`.
    pub fn available(&self, now: Instant) -> u64 {
        self.budget.available(now)
    }

    /// What the policy decided so far.
    pub const fn metrics(&self) -> HedgeMetrics {
        self.metrics
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

    fn t(x: u64) -> Instant {
        Instant::from_ticks(x)
    }
    fn d(x: u64) -> Duration {
        Duration::from_ticks(x)
    }

    fn policy(config: Config) -> HedgePolicy<3, 32, 4> {
        HedgePolicy::new(config, d(300)).unwrap()
    }

    #[test]
    fn no_hedge_before_min_samples() {
        let mut h = policy(Config::new().min_samples(3).budget_percent(100));
        assert_eq!(h.hedge_at(t(0), t(0)), None);
        h.record(d(11), t(0));
        h.record(d(11), t(0));
        assert_eq!(h.hedge_at(t(0), t(0)), None);
        h.record(d(11), t(0));
        // 11 is a bucket's midpoint at P = 3 (10 and 11 share it).
        assert_eq!(h.hedge_at(t(5), t(5)), Some(t(16)));
    }

    #[test]
    fn at_most_max_hedges_spaced_by_the_delay() {
        let mut h = policy(Config::new().min_samples(1).max_hedges(2));
        h.record(d(11), t(0));
        assert_eq!(h.next_hedge_at(t(100), 0, t(100)), Some(t(111)));
        assert_eq!(h.next_hedge_at(t(100), 1, t(110)), Some(t(122)));
        assert_eq!(h.next_hedge_at(t(100), 2, t(120)), None);
        assert_eq!(h.next_hedge_at(Instant::MAX, 0, t(120)), Some(Instant::MAX));
    }

    #[test]
    fn min_delay_is_a_floor() {
        let mut h = policy(Config::new().min_samples(1).min_delay(d(6)));
        h.record(d(2), t(0));
        assert_eq!(h.delay(t(0)), Some(d(6)));
        h.record(d(9), t(0));
        h.record(d(9), t(0));
        assert_eq!(h.delay(t(0)), Some(d(9)));
    }

    #[test]
    fn budget_allows_percent_of_requests_and_counts_refusals() {
        let mut h = policy(Config::new().budget_percent(25));
        assert!(!h.try_hedge(t(0)));
        for _ in 0..8 {
            h.record(d(10), t(0));
        }
        assert_eq!(h.available(t(0)), 2);
        assert!(h.try_hedge(t(1)));
        assert!(h.try_hedge(t(1)));
        assert!(!h.try_hedge(t(1)));
        assert_eq!(
            h.metrics(),
            HedgeMetrics {
                requests: 8,
                hedges: 2,
                refused: 2
            }
        );
    }

    #[test]
    fn bad_configs_name_their_field() {
        let field = |c: Config| HedgePolicy::<3, 32, 4>::new(c, d(300)).unwrap_err().field();
        assert_eq!(field(Config::new().quantile(1_000_001)), "quantile");
        assert_eq!(field(Config::new().max_hedges(0)), "max_hedges");
        assert_eq!(field(Config::new().budget_percent(1_001)), "budget_percent");
        assert_eq!(
            HedgePolicy::<3, 32, 4>::new(Config::new(), d(2))
                .unwrap_err()
                .field(),
            "window"
        );
        assert_eq!(Config::default(), Config::new());
    }
}
