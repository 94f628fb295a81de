//! [`AdaptiveLimit`]: a concurrency limit that finds its own level by AIMD,
//! sans-IO, and its [`AimdConfig`].

use crate::ConfigError;
use crate::time::{self, Duration, Instant};

/// What became of a call, as far as the concurrency limit is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The call completed (it still counts as a drop if its latency was
    /// over the target).
    Success,
    /// The call was dropped for overload: a timeout, a 503 / 429, a
    /// rejection downstream, a full queue.
    Dropped,
    /// The call says nothing about load (a 4xx, a cancelled request):
    /// it changes nothing.
    Ignored,
}

/// A change of an [`AdaptiveLimit`]'s limit, returned by the `record` that
/// made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LimitChange {
    /// The limit before.
    pub from: u32,
    /// The limit after.
    pub to: u32,
}

impl LimitChange {
    /// Whether the limit went up.
    pub const fn is_increase(&self) -> bool {
        self.to > self.from
    }
}

/// The settings of an [`AdaptiveLimit`].
///
/// Setters are `const fn` and do not check; [`AimdConfig::validate`] (which
/// [`AdaptiveLimit::new`] calls) names the first field out of range.
///
/// ```
/// use fusebox::bulkhead::AimdConfig;
/// use fusebox::time::Duration;
///
/// const UPLINK: AimdConfig = AimdConfig::new()
///     .limits(1, 16)
///     .initial(4)
///     .backoff_percent(50)
///     .latency_target(Duration::from_ticks(200_000))
///     .decrease_cooldown(Duration::from_ticks(200_000));
/// assert!(UPLINK.validate().is_ok());
/// assert_eq!(AimdConfig::new().limits(5, 4).validate().unwrap_err().field(), "limits.max");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AimdConfig {
    latency_target: Duration,
    cooldown: Duration,
    min: u32,
    max: u32,
    initial: u32,
    step: u16,
    backoff_percent: u8,
}

impl Default for AimdConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AimdConfig {
    /// The defaults, Netflix's `AIMDLimit`'s except `min`: start at 20,
    /// bounds 1..=200, +1 per success, x 90 % per drop, a 5 s latency
    /// target (converted at the binary's tick rate), no decrease cooldown.
    pub const fn new() -> Self {
        Self {
            latency_target: Duration::from_secs(5),
            cooldown: Duration::from_ticks(0),
            min: 1,
            max: 200,
            initial: 20,
            step: 1,
            backoff_percent: 90,
        }
    }

    /// Keep the limit in `min..=max` (`min` at least 1, `max` at least
    /// `min`).
    pub const fn limits(mut self, min: u32, max: u32) -> Self {
        self.min = min;
        self.max = max;
        self
    }

    /// Start at `limit` (in `min..=max`; default 20).
    pub const fn initial(mut self, limit: u32) -> Self {
        self.initial = limit;
        self
    }

    /// Grow by `step` (at least 1; default 1) per success under the target.
    pub const fn increase(mut self, step: u16) -> Self {
        self.step = step;
        self
    }

    /// Multiply the limit by `percent` / 100, rounding down, per drop
    /// (1..=99; default 90, Netflix's backoff ratio 0.9).
    pub const fn backoff_percent(mut self, percent: u8) -> Self {
        self.backoff_percent = percent;
        self
    }

    /// A success that took longer than `target` counts as a drop (at least
    /// 1 tick; default 5 s).
    pub const fn latency_target(mut self, target: Duration) -> Self {
        self.latency_target = target;
        self
    }

    /// After a decrease, ignore further drops for `cooldown` (default 0:
    /// every drop decreases). Set it near the latency target so that one
    /// overload event, which drops every call in flight, decreases once.
    pub const fn decrease_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Check every field; the error names the first one out of range.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.min == 0 {
            return Err(ConfigError::new(
                "limits.min",
                "be at least 1 (a limit of 0 would refuse every call for good)",
            ));
        }
        if self.max < self.min {
            return Err(ConfigError::new("limits.max", "be at least limits.min"));
        }
        if self.initial < self.min || self.initial > self.max {
            return Err(ConfigError::new("initial", "be in limits.min..=limits.max"));
        }
        if self.step == 0 {
            return Err(ConfigError::new(
                "increase",
                "be in 1..=65535 (0 would never grow)",
            ));
        }
        if self.backoff_percent == 0 || self.backoff_percent > 99 {
            return Err(ConfigError::new(
                "backoff_percent",
                "be in 1..=99 (percent of the limit kept on a drop)",
            ));
        }
        if self.latency_target.as_ticks() == 0 {
            return Err(ConfigError::new(
                "latency_target",
                "be at least 1 tick (0 would count every call as a drop)",
            ));
        }
        Ok(())
    }
}

/// A concurrency limit that finds its own level by AIMD (additive
/// increase, multiplicative decrease), as Netflix's concurrency-limits
/// `AIMDLimit` does, in exact integer arithmetic.
///
/// Sans-IO and `&mut`: it needs no atomics and no `sync` feature. Record
/// each call's outcome and latency; apply the returned [`LimitChange`] to a
/// [`Bulkhead`](super::Bulkhead) or, with `sync`, a `SharedBulkhead` (both have `set_limit`).
/// The laws and the transition table are in the [module docs](super).
///
/// ```
/// use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, LimitChange, Outcome};
/// use fusebox::time::{Duration, Instant};
///
/// let mut limit = AdaptiveLimit::new(
///     AimdConfig::new().limits(1, 50).initial(10).latency_target(Duration::from_ticks(100)),
/// )?;
/// let (t, d) = (Instant::from_ticks, Duration::from_ticks);
///
/// // Under the target: +1.
/// assert_eq!(limit.record(Outcome::Success, d(100), t(0)), Some(LimitChange { from: 10, to: 11 }));
/// // Over it: x 0.9, rounded down.
/// assert_eq!(limit.record(Outcome::Success, d(101), t(1)), Some(LimitChange { from: 11, to: 9 }));
/// // A timeout is a drop.
/// assert_eq!(limit.record(Outcome::Dropped, d(0), t(2)), Some(LimitChange { from: 9, to: 8 }));
/// // Half of the limit not in use: no evidence it should grow.
/// assert_eq!(limit.record_in_flight(Outcome::Success, d(5), 3, t(3)), None);
/// assert_eq!(limit.limit(), 8);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdaptiveLimit {
    pub(super) config: AimdConfig,
    // Meaningful once `decreased` is set.
    pub(super) last_decrease: Instant,
    // The latest `now` seen: an earlier one is judged at it.
    pub(super) latest: Instant,
    pub(super) limit: u32,
    pub(super) decreased: bool,
}

impl AdaptiveLimit {
    /// A limit starting at the configuration's `initial`.
    pub const fn new(config: AimdConfig) -> Result<Self, ConfigError> {
        match config.validate() {
            Ok(()) => Ok(Self {
                config,
                last_decrease: Instant::from_ticks(0),
                latest: Instant::from_ticks(0),
                limit: config.initial,
                decreased: false,
            }),
            Err(e) => Err(e),
        }
    }

    /// The limit now, in `min..=max`.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The configuration.
    pub const fn config(&self) -> &AimdConfig {
        &self.config
    }

    /// Record one call's outcome and latency (from admission to
    /// completion), at `now`; returns the change of limit it made, if any.
    ///
    /// Every success under the target grows the limit; to grow only while
    /// the limit is in use, use [`record_in_flight`](Self::record_in_flight).
    #[inline]
    pub fn record(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        now: Instant,
    ) -> Option<LimitChange> {
        self.update(outcome, latency, None, now)
    }

    /// [`record`](Self::record), with the number of calls that were in
    /// flight when this one was admitted (or completed; a bulkhead's
    /// `in_use()`): a success grows the limit only if
    /// `2 x in_flight >= limit`, so a limit that is not used does not climb
    /// to `max` (Netflix's guard).
    #[inline]
    pub fn record_in_flight(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        in_flight: u32,
        now: Instant,
    ) -> Option<LimitChange> {
        self.update(outcome, latency, Some(in_flight), now)
    }

    pub(super) fn update(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        in_flight: Option<u32>,
        now: Instant,
    ) -> Option<LimitChange> {
        let now = time::observe(&mut self.latest, now);
        let from = self.limit;
        let slow = latency.as_ticks() > self.config.latency_target.as_ticks();
        let to = match outcome {
            Outcome::Ignored => return None,
            Outcome::Dropped => self.decrease(now)?,
            Outcome::Success if slow => self.decrease(now)?,
            Outcome::Success => {
                if let Some(n) = in_flight {
                    if u64::from(n).saturating_mul(2) < u64::from(from) {
                        return None;
                    }
                }
                let grown = from.saturating_add(u32::from(self.config.step));
                if grown > self.config.max {
                    self.config.max
                } else {
                    grown
                }
            }
        };
        if to == from {
            return None;
        }
        self.limit = to;
        Some(LimitChange { from, to })
    }

    /// The decreased limit, or `None` within the cooldown. Starts the
    /// cooldown when it lowers the limit.
    fn decrease(&mut self, now: Instant) -> Option<u32> {
        if self.decreased
            && time::elapsed(self.last_decrease, now).as_ticks() < self.config.cooldown.as_ticks()
        {
            return None;
        }
        // floor(L x p / 100) in u64: L x p < 2^32 x 2^7, no overflow.
        let kept = u64::from(self.limit)
            .saturating_mul(u64::from(self.config.backoff_percent))
            .checked_div(100)
            .unwrap_or(0);
        let kept = u32::try_from(kept).unwrap_or(u32::MAX);
        let to = if kept < self.config.min {
            self.config.min
        } else {
            kept
        };
        if to != self.limit {
            self.decreased = true;
            self.last_decrease = now;
        }
        Some(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrease_is_floor_then_clamp() {
        let mut l = AdaptiveLimit::new(AimdConfig::new().limits(3, 100).initial(10)).unwrap();
        let t = Instant::from_ticks(0);
        let d = Duration::from_ticks(0);
        let seen: [u32; 4] = core::array::from_fn(|_| {
            l.record(Outcome::Dropped, d, t);
            l.limit()
        });
        assert_eq!(seen, [9, 8, 7, 6]);
        for _ in 0..10 {
            l.record(Outcome::Dropped, d, t);
        }
        assert_eq!(l.limit(), 3);
    }

    #[test]
    fn extreme_limits_do_not_overflow() {
        let mut l = AdaptiveLimit::new(
            AimdConfig::new()
                .limits(1, u32::MAX)
                .initial(u32::MAX)
                .increase(u16::MAX)
                .backoff_percent(99),
        )
        .unwrap();
        let t = Instant::MAX;
        assert_eq!(l.record(Outcome::Success, Duration::from_ticks(0), t), None);
        let c = l.record(Outcome::Dropped, Duration::MAX, t).unwrap();
        assert_eq!(c.to, (u64::from(u32::MAX) * 99 / 100) as u32);
    }
}
