//! [`SharedAdaptiveLimit`]: the AIMD limit behind `&self`, lock-free
//! (feature `sync`).

use super::{AdaptiveLimit, AimdConfig, LimitChange, Outcome};
use crate::ConfigError;
use crate::atomic::{AtomicU128, Ordering};
use crate::time::{Duration, Instant};

/// The [`AdaptiveLimit`] behind `&self`, for many threads or cores at once
/// (feature `sync`), lock-free where the CPU has a 128-bit compare-and-swap
/// (`cmpxchg16b` on x86_64, detected at run time by portable-atomic; on
/// thumbv6m the binary enables `portable-atomic/critical-section`).
///
/// **Same decisions.** The whole mutable state (the limit, whether it has
/// decreased, and the instant of the last decrease) packs into one
/// `AtomicU128`:
///
/// ```text
///   bits 127..64  last decrease, in ticks
///   bits  63..33  (zero)
///   bits  32..1   the limit
///   bit   0       decreased at least once
/// ```
///
/// A `record` loads the word, runs the `&mut` limit's own update on it, and
/// writes the result back with one compare-and-swap, retrying if another
/// thread got there first; an outcome that changes nothing (an increase at
/// `max`, a drop within the cooldown, [`Outcome::Ignored`]) writes nothing.
/// The decisions are therefore those of [`AdaptiveLimit`] fed the outcomes
/// in the order of their compare-and-swaps (linearizable), with the same
/// laws: `min <= L <= max` always, every decrease above `min` strict, and a
/// `now` earlier than the last decrease the word records judged as that
/// instant (no time elapsed: it stays inside the cooldown).
///
/// **Time that goes backwards.** The word records one instant, the last
/// decrease, and that is the latest instant this type has seen (issue #9:
/// a shared type's "seen" is what its state already records; remembering
/// every `now` would cost a write per call). The `&mut` [`AdaptiveLimit`]
/// remembers every `now`, so after a step back the two can differ: a drop
/// at `now` earlier than a success recorded past the cooldown is judged by
/// the `&mut` limit at that success (outside the cooldown: a decrease),
/// here at `now` (inside it: no change). While time moves forward, or from
/// the same [`snapshot`](Self::snapshot), they decide alike.
///
/// Not padded to a cache line: the word is written once per change of the
/// limit, which AIMD makes once per call at most.
///
/// ```
/// use fusebox::bulkhead::{AimdConfig, LimitChange, Outcome, SharedAdaptiveLimit};
/// use fusebox::time::{Duration, Instant};
///
/// let limit = SharedAdaptiveLimit::new(
///     AimdConfig::new().limits(1, 50).initial(10).latency_target(Duration::from_ticks(100)),
/// )?;
/// let (t, d) = (Instant::from_ticks, Duration::from_ticks);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| limit.record(Outcome::Success, d(10), t(0))); // 4 x (+1)
///     }
/// });
/// assert_eq!(limit.limit(), 14);
/// assert_eq!(limit.record(Outcome::Dropped, d(0), t(1)), Some(LimitChange { from: 14, to: 12 }));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Memory
///
/// 48 bytes on x86_64 and thumbv6m (the configuration, 32, and the word,
/// 16, aligned to 16 on both).
pub struct SharedAdaptiveLimit {
    state: AtomicU128,
    config: AimdConfig,
}

impl core::fmt::Debug for SharedAdaptiveLimit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedAdaptiveLimit")
            .field("limit", &self.limit())
            .field("config", &self.config)
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for SharedAdaptiveLimit {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "SharedAdaptiveLimit {{ limit: {=u32} }}", self.limit())
    }
}

const fn pack(limit: &AdaptiveLimit) -> u128 {
    ((limit.last_decrease.as_ticks() as u128) << 64)
        | ((limit.limit as u128) << 1)
        | (limit.decreased as u128)
}

const fn unpack(word: u128, config: AimdConfig) -> AdaptiveLimit {
    AdaptiveLimit {
        config,
        last_decrease: Instant::from_ticks((word >> 64) as u64),
        // The word records no other instant than the last decrease (issue
        // #9: a shared type's "seen" is what its state already records).
        latest: Instant::from_ticks((word >> 64) as u64),
        limit: (word >> 1) as u32,
        decreased: word & 1 == 1,
    }
}

impl SharedAdaptiveLimit {
    crate::atomic::const_unless_loom! {
        /// A limit starting at the configuration's `initial`; fails as
        /// [`AdaptiveLimit::new`] does. `const`, so it can be a `static`.
        pub const fn new(config: AimdConfig) -> Result<Self, ConfigError> {
            match AdaptiveLimit::new(config) {
                Ok(limit) => Ok(Self::from_limit(limit)),
                Err(e) => Err(e),
            }
        }
    }

    crate::atomic::const_unless_loom! {
        /// Share an existing limit (its level and cooldown included).
        pub const fn from_limit(limit: AdaptiveLimit) -> Self {
            Self {
                state: AtomicU128::new(pack(&limit)),
                config: limit.config,
            }
        }
    }

    /// The limit now, in `min..=max`.
    #[inline]
    pub fn limit(&self) -> u32 {
        // One location, and nothing else is published through it.
        unpack(self.state.load(Ordering::Relaxed), self.config).limit
    }

    /// The configuration.
    pub const fn config(&self) -> &AimdConfig {
        &self.config
    }

    /// A copy of the `&mut` limit as it is now.
    pub fn snapshot(&self) -> AdaptiveLimit {
        unpack(self.state.load(Ordering::Relaxed), self.config)
    }

    /// Record one call's outcome and latency at `now`: as
    /// [`AdaptiveLimit::record`].
    #[inline]
    pub fn record(&self, outcome: Outcome, latency: Duration, now: Instant) -> Option<LimitChange> {
        self.update(outcome, latency, None, now)
    }

    /// As [`AdaptiveLimit::record_in_flight`]: a success grows the limit
    /// only if `2 x in_flight >= limit`.
    #[inline]
    pub fn record_in_flight(
        &self,
        outcome: Outcome,
        latency: Duration,
        in_flight: u32,
        now: Instant,
    ) -> Option<LimitChange> {
        self.update(outcome, latency, Some(in_flight), now)
    }

    fn update(
        &self,
        outcome: Outcome,
        latency: Duration,
        in_flight: Option<u32>,
        now: Instant,
    ) -> Option<LimitChange> {
        if matches!(outcome, Outcome::Ignored) {
            return None;
        }
        // Relaxed throughout: the word is the only shared datum, and every
        // read-modify-write of one location is totally ordered.
        let mut seen = self.state.load(Ordering::Relaxed);
        loop {
            let mut limit = unpack(seen, self.config);
            // The `&mut` limit changes its state exactly when it returns a
            // change: nothing to write otherwise.
            let change = limit.update(outcome, latency, in_flight, now)?;
            match self.state.compare_exchange_weak(
                seen,
                pack(&limit),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(change),
                Err(now_seen) => seen = now_seen,
            }
        }
    }
}
