//! The GCRA kernel: the arithmetic of every limiter in this module (the
//! `&mut` and shared token buckets, the keyed limiter), in one place.
//!
//! The state is a theoretical arrival time (TAT) in units of 1/rate tick
//! (see the [module docs](super) for the law and its proof sketch). The
//! functions here decide; the callers only keep the state (a field, an
//! 8- or 16-byte atomic word, a table entry) and apply the time rule.

use super::quota::Quota;
use crate::time::{Duration, Instant};
use crate::wide;

/// `now` in units of 1/rate tick. Below 2^96, so sums of it and a few
/// bucket capacities (each below 2^96) never come near `u128::MAX`.
#[inline(always)]
pub(super) const fn units(q: &Quota, now: Instant) -> u128 {
    wide::mul(now.as_ticks(), q.rate)
}

/// The cost of `n` tokens, in units.
#[inline(always)]
const fn cost(q: &Quota, n: u32) -> u128 {
    wide::mul(q.period, n)
}

/// The GCRA decision for `n` tokens at `now` when the theoretical arrival
/// time is `tat`: the new TAT, or the rejection. `n` in `1..=burst`
/// (callers handle 0 and too many, or call [`decide_n`]).
// Forced inline on 64-bit targets (the admit path is a few instructions);
// on 32-bit ones the 128-bit arithmetic makes it large, and one copy
// serves every caller.
#[cfg_attr(target_pointer_width = "64", inline(always))]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(super) fn decide(q: &Quota, tat: u128, n: u32, now: Instant) -> Result<u128, Rejected> {
    let t = units(q, now);
    let start = if tat > t { tat } else { t };
    // No overflow: `t < 2^96`, a cost is below 2^96, and every TAT stored
    // is at most some `t + burst x period < 2^97` (an admission needs
    // `next - t <= burst x period`). So wrapping is exact here.
    let next = start.wrapping_add(cost(q, n));
    // `next >= t`: admitted iff the bucket, refilled up to `t`, still holds
    // n tokens: next - t <= burst * period.
    let over = next.wrapping_sub(t);
    let capacity = cost(q, q.burst);
    if over <= capacity {
        Ok(next)
    } else {
        Err(rejected(q, over.wrapping_sub(capacity)))
    }
}

/// The full decision, with n = 0 (always admitted, nothing taken) and
/// n > burst (never admitted) handled.
#[inline(always)]
pub(super) fn decide_n(q: &Quota, tat: u128, n: u32, now: Instant) -> Result<u128, Rejected> {
    if n == 0 {
        Ok(tat)
    } else if n > q.burst {
        Err(Rejected { retry_after: None })
    } else {
        decide(q, tat, n, now)
    }
}

#[cfg(feature = "sync")]
/// The bucket's capacity, `burst x period` units, if it is below 2^64 - 1:
/// then the TAT fits the packed form of [`decide_packed`].
pub(super) const fn packed_capacity(q: &Quota) -> Option<u64> {
    let capacity = (q.burst as u128).wrapping_mul(q.period as u128);
    if capacity >= u64::MAX as u128 {
        None
    } else {
        Some(capacity as u64)
    }
}

#[cfg(feature = "sync")]
/// A decision of [`decide_packed`].
pub(super) enum Packed {
    /// Store `(at, offset)` (then admitted if `admitted`, or refused
    /// `short` units short): the state changed.
    Store {
        /// The instant judged at, the new latest seen.
        at: u64,
        /// The new offset.
        offset: u64,
        /// `Ok` if admitted, else how many units short.
        verdict: Result<(), u128>,
    },
    /// Refused `short` units short, at the latest instant seen: nothing to
    /// store.
    Refused(u128),
}

#[cfg(feature = "sync")]
/// The same GCRA in the packed form, in 64-bit arithmetic: the state is the
/// latest instant seen (`latest`, ticks) and the TAT's offset from it
/// (`offset`, units, at most `capacity`, which is
/// [`packed_capacity`]`(q)`), with `TAT = latest x rate + offset`. `n` in
/// `0..=burst`, so the cost is at most the capacity, below 2^64.
#[inline(always)]
pub(super) fn decide_packed(
    q: &Quota,
    capacity: u64,
    latest: u64,
    offset: u64,
    n: u32,
    now: Instant,
) -> Packed {
    let t = now.as_ticks();
    let cost = q.period.wrapping_mul(u64::from(n));
    // Judged at the later of `now` and the latest instant seen; the refill
    // up to it lowers the offset (not below 0: a full bucket).
    let (at, offset) = if t > latest {
        let refill = t.wrapping_sub(latest).saturating_mul(u64::from(q.rate));
        (t, offset.saturating_sub(refill))
    } else {
        (latest, offset)
    };
    // Admitted iff `offset + cost <= capacity`. No overflow: the offset and
    // the cost are each at most the capacity (`n <= burst`), and the
    // capacity is below 2^64 here.
    if offset <= capacity.wrapping_sub(cost) {
        Packed::Store {
            at,
            offset: offset.wrapping_add(cost),
            verdict: Ok(()),
        }
    } else {
        // Below 2^65, and above the capacity here.
        let short = u128::from(offset)
            .wrapping_add(u128::from(cost))
            .wrapping_sub(u128::from(capacity));
        if at == latest {
            Packed::Refused(short)
        } else {
            // A refusal at a later instant records it.
            Packed::Store {
                at,
                offset,
                verdict: Err(short),
            }
        }
    }
}

/// The TAT of the packed state `(latest, offset)`.
#[cfg(feature = "sync")]
pub(super) fn packed_tat(q: &Quota, latest: u64, offset: u64) -> u128 {
    // Below 2^96 + 2^64: no overflow.
    units(q, Instant::from_ticks(latest)).wrapping_add(u128::from(offset))
}

/// The rejection of a request `short` units short: off the hot path, so
/// the admit path stays small.
#[cold]
#[inline(never)]
pub(super) fn rejected(q: &Quota, short: u128) -> Rejected {
    Rejected {
        retry_after: Some(ticks_ceil(q, short)),
    }
}

/// `units` as ticks, rounded up.
fn ticks_ceil(q: &Quota, units: u128) -> Duration {
    let (quot, exact) = wide::div(units, q.rate);
    let quot = if exact { quot } else { quot.saturating_add(1) };
    Duration::from_ticks(if quot > u64::MAX as u128 {
        u64::MAX
    } else {
        quot as u64
    })
}

/// When `n` tokens are there, given `tat`.
pub(super) fn time_until(
    q: &Quota,
    tat: u128,
    n: u32,
    now: Instant,
) -> Result<Duration, ExceedsBurst> {
    match decide_n(q, tat, n, now) {
        Ok(_) => Ok(Duration::from_ticks(0)),
        Err(Rejected {
            retry_after: Some(d),
        }) => Ok(d),
        Err(Rejected { retry_after: None }) => Err(ExceedsBurst { burst: q.burst }),
    }
}

/// Whole tokens in the bucket at `now`, given `tat`.
pub(super) fn available(q: &Quota, tat: u128, now: Instant) -> u32 {
    let t = units(q, now);
    let used = tat.saturating_sub(t);
    let left = cost(q, q.burst).saturating_sub(used);
    // `left <= burst x period`, so the quotient fits a u32.
    wide::div_small(left, q.period)
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
