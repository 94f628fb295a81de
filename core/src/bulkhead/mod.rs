//! Bulkheads: at most N calls in flight at once, with a limit that can find
//! its own level.
//!
//! A bulkhead keeps one slow dependency from taking every worker, socket or
//! buffer with it: a call first takes a slot, and when all slots are taken it
//! is refused at once (load shedding) instead of queueing behind the others.
//!
//! - [`Bulkhead`] (feature `sync`): the shared `&self` variant on
//!   `portable-atomic`, lock-free where the CPU has a 64-bit
//!   compare-and-swap. Its [`Permit`] frees the slot when dropped;
//!   [`OwnedPermit`] does the same for a bulkhead held through an `Arc` (or
//!   any `Deref`).
//! - [`LocalBulkhead`]: the `&mut` counterpart for firmware that does not
//!   enable `sync`: a counter whose [`Token`] must be handed back with
//!   [`LocalBulkhead::release`] (it cannot free itself on drop, having no
//!   reference to the counter).
//! - [`AdaptiveLimit`]: a sans-IO concurrency limit that finds its own level
//!   by AIMD, as in Netflix's concurrency-limits: it grows by a step on each
//!   success under the latency target and shrinks by a percentage on each
//!   drop (a timeout, an overload error, or a success over the target).
//!   Feed it outcomes with [`AdaptiveLimit::record`]; when it returns a
//!   [`LimitChange`], give the new limit to the bulkhead with `set_limit`.
//! - [`SharedAdaptiveLimit`] (feature `sync`): the same limit behind
//!   `&self`, one 128-bit compare-and-swap per change, with the `&mut`
//!   limit's decisions.
//!
//! ```
//! use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, LocalBulkhead, Outcome};
//! use fusebox::time::{Duration, Instant};
//!
//! let config = AimdConfig::new()
//!     .limits(2, 8)
//!     .initial(2)
//!     .latency_target(Duration::from_ticks(100));
//! let mut limit = AdaptiveLimit::new(config)?;
//! let mut bulkhead = LocalBulkhead::new(limit.limit())?;
//!
//! // Two calls in flight: the third is refused at once.
//! let a = bulkhead.try_acquire().expect("slot 1");
//! let b = bulkhead.try_acquire().expect("slot 2");
//! assert!(bulkhead.try_acquire().is_err());
//!
//! // A fast success raises the limit by one; the bulkhead follows.
//! bulkhead.release(a);
//! let change = limit
//!     .record(Outcome::Success, Duration::from_ticks(40), Instant::from_ticks(40))
//!     .expect("grows");
//! assert_eq!((change.from, change.to), (2, 3));
//! bulkhead.set_limit(change.to)?;
//! let c = bulkhead.try_acquire().expect("slot 2 of 3");
//! let d = bulkhead.try_acquire().expect("slot 3 of 3");
//! assert_eq!(bulkhead.in_use(), 3);
//! # bulkhead.release(b); bulkhead.release(c); bulkhead.release(d);
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # The guarantees
//!
//! - **Bulkhead.** A call is admitted only if, at the instant it is admitted,
//!   `in_use < limit`; then `in_use` grows by one, and it falls by one when
//!   the permit is dropped (the token released). So as long as the limit is
//!   not lowered, `live permits <= limit` at every instant, under any
//!   interleaving of threads. The check and the increment are one atomic
//!   step on one word holding both the limit and the count, so a limit
//!   changed at runtime is never half-seen.
//! - **AIMD.** With `L` the limit, `step`, `p` (percent), `min`, `max` and
//!   the latency target `T` from the [`AimdConfig`]:
//!
//!   `success, latency <= T  ->  L' = min(max, L + step)`
//!
//!   `drop, or latency > T   ->  L' = max(min, floor(L x p / 100))`
//!
//!   in exact integer arithmetic, so `min <= L <= max` always holds, and
//!   every decrease above `min` is strict (`p <= 99`).
//!
//! # Transitions of [`AdaptiveLimit`]
//!
//! | from | event ([`AdaptiveLimit::record`]) | to |
//! |---|---|---|
//! | `L` | [`Outcome::Success`] with latency `<= T` (and, where the in-flight count is given, `2 x in_flight >= L`) | `min(max, L + step)` |
//! | `L` | [`Outcome::Success`] with `2 x in_flight < L` (the limit is not in use: no evidence it could be higher) | `L` |
//! | `L` | [`Outcome::Dropped`], or any outcome but `Ignored` with latency `> T`, outside the cooldown | `max(min, floor(L x p / 100))` |
//! | `L` | the same, within the decrease cooldown of the last decrease | `L` |
//! | `L` | [`Outcome::Ignored`] | `L` |
//!
//! # Conventions
//! - A latency *at* the target is under it (grows); only a latency strictly
//!   greater than the target counts as a drop (Netflix's `rtt > timeout`).
//! - A timeout is a drop: record it as [`Outcome::Dropped`] (its latency
//!   then does not matter).
//! - Decreases round down (`floor(L x p / 100)`, Netflix's `(int)(L x 0.9)`),
//!   then clamp to `min`.
//! - After a decrease at `t`, drops recorded at `now < t + cooldown` do not
//!   decrease again (one decrease per overload event, as TCP does once per
//!   round trip). The default cooldown is zero: every drop decreases, as in
//!   Netflix's `AIMDLimit`. Increases are never held back by the cooldown.
//! - With [`AdaptiveLimit::record_in_flight`], a success grows the limit
//!   only when at least half of it is in use (Netflix's
//!   `inflight * 2 >= limit`), so an idle service does not drift to `max`.
//!   [`AdaptiveLimit::record`] has no in-flight count and always grows.
//! - Lowering a bulkhead's limit revokes nothing: the permits already out
//!   stay valid, and new calls are refused until `in_use` falls below the
//!   new limit.
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant (so it
//!   never shortens or lengthens a cooldown). Latencies and instants near
//!   `u64::MAX` saturate.
//!
//! # Memory
//!
//! Sizes in bytes (asserted by tests on each target):
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | [`Bulkhead`] | 8 | 8 |
//! | [`Permit`] | 8 | 4 |
//! | `Result<Permit, Rejected>` | 16 | 8 |
//! | [`LocalBulkhead`] | 8 | 8 |
//! | [`Token`] | 0 | 0 |
//! | [`AdaptiveLimit`] | 56 | 56 |
//! | [`AimdConfig`] | 32 | 32 |
//! | [`SharedAdaptiveLimit`] | 48 | 48 |

// Without `sync` the shared types do not exist; their links in these docs
// stay plain text then.
#![cfg_attr(not(feature = "sync"), allow(rustdoc::broken_intra_doc_links))]

use crate::ConfigError;
use crate::time::{self, Duration, Instant};

/// A bulkhead refused a call: every slot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected {
    /// The limit in force when the call was refused.
    pub limit: u32,
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "bulkhead is full: all {} slots are taken, retry when a call completes",
            self.limit
        )
    }
}

impl core::error::Error for Rejected {}

const fn check_limit(limit: u32) -> Result<(), ConfigError> {
    if limit == 0 {
        return Err(ConfigError::new(
            "limit",
            "be in 1..=4294967295 (0 would refuse every call)",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// LocalBulkhead: &mut, no atomics.
// ---------------------------------------------------------------------------

/// A bulkhead for a single owner (`&mut self`): at most `limit` tokens out
/// at once. Needs no atomics, so it works on every target without the
/// `sync` feature.
///
/// A [`Token`] cannot free its slot by itself: hand it back with
/// [`LocalBulkhead::release`]. It is `#[must_use]` and not `Clone`, so it
/// cannot be duplicated; a token that is dropped instead keeps its slot
/// taken until [`LocalBulkhead::reset`].
///
/// ```
/// use fusebox::bulkhead::LocalBulkhead;
///
/// let mut uplink = LocalBulkhead::new(1)?;
/// let token = uplink.try_acquire().expect("free");
/// assert_eq!(uplink.try_acquire().unwrap_err().limit, 1);
/// uplink.release(token);
/// assert!(uplink.try_acquire().is_ok_and(|t| { uplink.release(t); true }));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LocalBulkhead {
    limit: u32,
    in_use: u32,
}

/// One slot of a [`LocalBulkhead`]; hand it back with
/// [`LocalBulkhead::release`].
///
/// Zero-sized: it carries no reference, so it does not borrow the bulkhead
/// (the owner can keep calling it while tokens are out). Releasing a token
/// into a bulkhead other than the one that issued it is a logic error that
/// the type does not catch; it cannot panic or underflow (the count
/// saturates at zero).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "hand the token back with `LocalBulkhead::release`, or its slot stays taken"]
pub struct Token {
    _private: (),
}

impl LocalBulkhead {
    /// A bulkhead of `limit` slots (at least 1), all free.
    pub const fn new(limit: u32) -> Result<Self, ConfigError> {
        match check_limit(limit) {
            Ok(()) => Ok(Self { limit, in_use: 0 }),
            Err(e) => Err(e),
        }
    }

    /// Take a slot if one is free (`in_use < limit`).
    #[inline]
    pub fn try_acquire(&mut self) -> Result<Token, Rejected> {
        if self.in_use < self.limit {
            // in_use < limit <= u32::MAX: cannot overflow.
            self.in_use = self.in_use.saturating_add(1);
            Ok(Token { _private: () })
        } else {
            Err(Rejected { limit: self.limit })
        }
    }

    /// Hand a token back, freeing its slot.
    #[inline]
    pub fn release(&mut self, token: Token) {
        let Token { _private: () } = token;
        self.in_use = self.in_use.saturating_sub(1);
    }

    /// Change the limit (at least 1); returns the old one. Tokens already
    /// out stay valid: after a decrease, calls are refused until enough of
    /// them come back.
    pub fn set_limit(&mut self, limit: u32) -> Result<u32, ConfigError> {
        check_limit(limit)?;
        let old = self.limit;
        self.limit = limit;
        Ok(old)
    }

    /// Forget every token out (they must not be released afterwards; if
    /// they are, the count saturates at zero). For recovery after the
    /// tasks holding them were lost.
    pub fn reset(&mut self) {
        self.in_use = 0;
    }

    /// The limit.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// Tokens out now.
    pub const fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Free slots now (zero while a lowered limit is below `in_use`).
    pub const fn available(&self) -> u32 {
        self.limit.saturating_sub(self.in_use)
    }
}

// ---------------------------------------------------------------------------
// Bulkhead: &self, on portable-atomic.
// ---------------------------------------------------------------------------

#[cfg(feature = "sync")]
pub use shared::{Bulkhead, OwnedPermit, Permit};
#[cfg(feature = "sync")]
mod adaptive_shared;
#[cfg(feature = "sync")]
pub use adaptive_shared::SharedAdaptiveLimit;

#[cfg(feature = "sync")]
mod shared {
    use super::{Rejected, check_limit};
    use crate::ConfigError;
    use crate::atomic::{AtomicU64, Ordering};
    use core::ops::Deref;

    // One word: the limit in the high 32 bits, the slots in use in the low
    // 32. Admission compares and increments both in one compare-and-swap,
    // so a limit changed at runtime is never seen half-way. `in_use` never
    // exceeds u32::MAX (it only grows while below a u32 limit), so a
    // release (`fetch_sub(1)` on the word) never borrows from the limit.
    const IN_USE: u64 = 0xFFFF_FFFF;

    #[inline]
    const fn pack(limit: u32, in_use: u32) -> u64 {
        ((limit as u64) << 32) | in_use as u64
    }

    #[inline]
    const fn limit_of(word: u64) -> u32 {
        (word >> 32) as u32
    }

    #[inline]
    const fn in_use_of(word: u64) -> u32 {
        (word & IN_USE) as u32
    }

    /// A shared bulkhead (`&self`, `Sync`): at most `limit` [`Permit`]s
    /// live at once; a permit frees its slot when dropped. The limit can be
    /// changed at runtime ([`Bulkhead::set_limit`]), e.g. by an
    /// [`AdaptiveLimit`](super::AdaptiveLimit).
    ///
    /// One `portable_atomic::AtomicU64`: lock-free where the CPU has a
    /// 64-bit compare-and-swap (x86_64, aarch64, riscv64); on 32-bit CPUs
    /// with only a 32-bit one (Cortex-M3/M4) portable-atomic's `fallback`
    /// feature (on by default) serves it with a lock; on thumbv6m (the RP2040) the binary
    /// enables `portable-atomic/critical-section`. Being `const
    /// fn`-constructible, it can live in a `static`.
    ///
    /// ```
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// static SENSOR_BUS: Bulkhead = match Bulkhead::new(2) {
    ///     Ok(b) => b,
    ///     Err(_) => panic!("limit 2 is valid"),
    /// };
    ///
    /// let a = SENSOR_BUS.try_acquire().expect("slot 1");
    /// let b = SENSOR_BUS.try_acquire().expect("slot 2");
    /// assert_eq!(SENSOR_BUS.try_acquire().unwrap_err().limit, 2);
    /// drop(a); // the slot frees itself
    /// assert_eq!(SENSOR_BUS.in_use(), 1);
    /// let c = SENSOR_BUS.try_acquire().expect("slot freed by drop");
    /// # drop((b, c));
    /// ```
    #[derive(Debug)]
    pub struct Bulkhead {
        state: AtomicU64,
    }

    /// One slot of a [`Bulkhead`], freed when dropped.
    #[derive(Debug)]
    #[must_use = "dropping the permit frees its slot at once"]
    pub struct Permit<'a> {
        bulkhead: &'a Bulkhead,
    }

    /// One slot of a [`Bulkhead`] reached through an owning handle `B`
    /// (an `Arc<Bulkhead>`, a `&'static Bulkhead`), freed when dropped.
    /// For permits that must outlive a borrow: a spawned task, a tower
    /// future.
    ///
    /// ```
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(Bulkhead::new(1)?);
    /// let permit = Bulkhead::try_acquire_owned(Arc::clone(&pool)).expect("free");
    /// let worker = std::thread::spawn(move || drop(permit));
    /// worker.join().unwrap();
    /// assert_eq!(pool.in_use(), 0);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[derive(Debug)]
    #[must_use = "dropping the permit frees its slot at once"]
    pub struct OwnedPermit<B: Deref<Target = Bulkhead>> {
        bulkhead: B,
    }

    impl Bulkhead {
        crate::atomic::const_unless_loom! {
        /// A bulkhead of `limit` slots (at least 1), all free.
        pub const fn new(limit: u32) -> Result<Self, ConfigError> {
            match check_limit(limit) {
                Ok(()) => Ok(Self {
                    state: AtomicU64::new(pack(limit, 0)),
                }),
                Err(e) => Err(e),
            }
        }
        }

        /// Take a slot if one is free (`in_use < limit` at the instant of
        /// the take); the permit frees it when dropped.
        #[inline]
        pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
            self.take()?;
            Ok(Permit { bulkhead: self })
        }

        /// [`try_acquire`](Self::try_acquire) through an owning handle, for
        /// a permit that keeps the bulkhead alive (`Arc<Bulkhead>`).
        #[inline]
        pub fn try_acquire_owned<B: Deref<Target = Bulkhead>>(
            bulkhead: B,
        ) -> Result<OwnedPermit<B>, Rejected> {
            bulkhead.take()?;
            Ok(OwnedPermit { bulkhead })
        }

        #[inline]
        fn take(&self) -> Result<(), Rejected> {
            let mut word = self.state.load(Ordering::Relaxed);
            loop {
                let limit = limit_of(word);
                let in_use = in_use_of(word);
                if in_use >= limit {
                    return Err(Rejected { limit });
                }
                // in_use < limit <= u32::MAX: the low half cannot carry.
                match self.state.compare_exchange_weak(
                    word,
                    pack(limit, in_use.saturating_add(1)),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(()),
                    Err(now) => word = now,
                }
            }
        }

        #[inline]
        fn give_back(&self) {
            // Every permit stands for one increment of `in_use`, so it is
            // at least 1 here and the subtraction stays in the low half.
            self.state.fetch_sub(1, Ordering::Release);
        }

        /// Change the limit (at least 1); returns the old one. Permits
        /// already out stay valid: after a decrease, calls are refused until
        /// enough of them are dropped.
        pub fn set_limit(&self, limit: u32) -> Result<u32, ConfigError> {
            check_limit(limit)?;
            let mut word = self.state.load(Ordering::Relaxed);
            loop {
                match self.state.compare_exchange_weak(
                    word,
                    pack(limit, in_use_of(word)),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(limit_of(word)),
                    Err(now) => word = now,
                }
            }
        }

        /// The limit now.
        pub fn limit(&self) -> u32 {
            limit_of(self.state.load(Ordering::Relaxed))
        }

        /// Permits live now (a snapshot: other threads may change it at
        /// once).
        pub fn in_use(&self) -> u32 {
            in_use_of(self.state.load(Ordering::Relaxed))
        }

        /// Free slots now (zero while a lowered limit is below `in_use`).
        pub fn available(&self) -> u32 {
            let word = self.state.load(Ordering::Relaxed);
            limit_of(word).saturating_sub(in_use_of(word))
        }
    }

    impl Permit<'_> {
        /// The bulkhead this permit belongs to.
        pub const fn bulkhead(&self) -> &Bulkhead {
            self.bulkhead
        }
    }

    impl Drop for Permit<'_> {
        #[inline]
        fn drop(&mut self) {
            self.bulkhead.give_back();
        }
    }

    impl<B: Deref<Target = Bulkhead>> OwnedPermit<B> {
        /// The bulkhead this permit belongs to.
        pub fn bulkhead(&self) -> &Bulkhead {
            &self.bulkhead
        }
    }

    impl<B: Deref<Target = Bulkhead>> Drop for OwnedPermit<B> {
        #[inline]
        fn drop(&mut self) {
            self.bulkhead.give_back();
        }
    }

    #[cfg(feature = "defmt")]
    impl defmt::Format for Bulkhead {
        fn format(&self, f: defmt::Formatter<'_>) {
            let word = self.state.load(Ordering::Relaxed);
            defmt::write!(
                f,
                "Bulkhead {{ limit: {=u32}, in_use: {=u32} }}",
                limit_of(word),
                in_use_of(word)
            );
        }
    }

    #[cfg(feature = "defmt")]
    impl defmt::Format for Permit<'_> {
        fn format(&self, f: defmt::Formatter<'_>) {
            defmt::write!(f, "Permit {{ {} }}", self.bulkhead);
        }
    }

    #[cfg(feature = "defmt")]
    impl<B: Deref<Target = Bulkhead>> defmt::Format for OwnedPermit<B> {
        fn format(&self, f: defmt::Formatter<'_>) {
            defmt::write!(f, "OwnedPermit {{ {} }}", *self.bulkhead);
        }
    }
}

// ---------------------------------------------------------------------------
// AdaptiveLimit: AIMD, sans-IO.
// ---------------------------------------------------------------------------

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
/// [`LocalBulkhead`] or, with `sync`, a `Bulkhead` (both have `set_limit`).
/// The laws and the transition table are in the [module docs](self).
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
    config: AimdConfig,
    // Meaningful once `decreased` is set.
    last_decrease: Instant,
    // The latest `now` seen: an earlier one is judged at it.
    latest: Instant,
    limit: u32,
    decreased: bool,
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

    fn update(
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

// The sizes in the module docs' table, checked when the crate is built for
// each target (x86_64 and thumbv6m), not only when tests run.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<LocalBulkhead>() == 8);
    assert!(size_of::<Token>() == 0);
    assert!(size_of::<AimdConfig>() == 32);
    assert!(size_of::<AdaptiveLimit>() == 56);
    #[cfg(feature = "sync")]
    assert!(size_of::<Bulkhead>() == 8);
    #[cfg(feature = "sync")]
    assert!(size_of::<Permit<'_>>() == 8);
    #[cfg(feature = "sync")]
    assert!(size_of::<Result<Permit<'_>, Rejected>>() == 16);
};
#[cfg(all(target_arch = "arm", target_pointer_width = "32"))]
const _: () = {
    assert!(size_of::<LocalBulkhead>() == 8);
    assert!(size_of::<Token>() == 0);
    assert!(size_of::<AimdConfig>() == 32);
    assert!(size_of::<AdaptiveLimit>() == 56);
    #[cfg(feature = "sync")]
    assert!(size_of::<Bulkhead>() == 8);
    #[cfg(feature = "sync")]
    assert!(size_of::<Permit<'_>>() == 4);
    #[cfg(feature = "sync")]
    assert!(size_of::<Result<Permit<'_>, Rejected>>() == 8);
};

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
