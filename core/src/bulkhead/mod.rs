//! Bulkheads: at most N calls in flight at once, with a limit that can find
//! its own level.
//!
//! A bulkhead keeps one slow dependency from taking every worker, socket or
//! buffer with it: a call first takes a slot, and when all slots are taken it
//! is refused at once (load shedding) instead of queueing behind the others.
//!
//! - [`Bulkhead`]: the `&mut` bulkhead, for firmware that does not enable
//!   `sync`: a counter whose [`Token`] must be handed back with
//!   [`Bulkhead::release`] (it cannot free itself on drop, having no
//!   reference to the counter).
//! - [`SharedBulkhead`] (feature `sync`): the same limit behind `&self`, on
//!   `portable-atomic`, lock-free where the CPU has a 64-bit
//!   compare-and-swap. Its [`Permit`] frees the slot when dropped;
//!   [`OwnedPermit`] does the same for a bulkhead held through an `Arc` (or
//!   any `Deref`).
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
//! use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, Bulkhead, Outcome};
//! use fusebox::time::{Duration, Instant};
//!
//! let config = AimdConfig::new()
//!     .limits(2, 8)
//!     .initial(2)
//!     .latency_target(Duration::from_ticks(100));
//! let mut limit = AdaptiveLimit::new(config)?;
//! let mut bulkhead = Bulkhead::new(limit.limit())?;
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
//! | [`Token`] | 0 | 0 |
//! | [`SharedBulkhead`] | 8 | 8 |
//! | [`Permit`] | 8 | 4 |
//! | `Result<Permit, Rejected>` | 16 | 8 |
//! | [`AdaptiveLimit`] | 56 | 56 |
//! | [`AimdConfig`] | 32 | 32 |
//! | [`SharedAdaptiveLimit`] | 48 | 48 |

// Without `sync` the shared types do not exist; their links in these docs
// stay plain text then.
#![cfg_attr(not(feature = "sync"), allow(rustdoc::broken_intra_doc_links))]

use crate::ConfigError;

mod adaptive;
#[cfg(feature = "sync")]
mod adaptive_shared;
mod local;
#[cfg(feature = "sync")]
mod shared;

pub use adaptive::{AdaptiveLimit, AimdConfig, LimitChange, Outcome};
#[cfg(feature = "sync")]
pub use adaptive_shared::SharedAdaptiveLimit;
pub use local::{Bulkhead, Token};
#[cfg(feature = "sync")]
pub use shared::{OwnedPermit, Permit, SharedBulkhead};

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
