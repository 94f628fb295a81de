//! [`SharedTokenBucket`]: the token bucket behind `&self`, on
//! `portable-atomic` (feature `sync`).

use crate::atomic::{AtomicU64, AtomicU128, Ordering};

use super::bucket::{ExceedsBurst, Quota, Rejected};
use crate::time::{Duration, Instant};

/// The [`TokenBucket`](super::TokenBucket) behind `&self`, for many tasks,
/// threads or cores at once (feature `sync`).
///
/// The same GCRA, the same law and the same decisions as the `&mut`
/// bucket. The theoretical arrival time, in units of 1/rate tick so that
/// nothing is rounded, lives in one `AtomicU64` updated with a
/// compare-and-swap loop, as governor's does; a rejection only loads it.
/// When the TAT outgrows 64 bits (at `now x rate >= 2^64` with the rate in
/// lowest terms: never in practice for 100 per second at 1 MHz, 1 token
/// per tick, etc.; after 18 s at 1 GHz for a rate like 999 999 999 per
/// 10^9 ticks) it moves, once and lock-free, to an `AtomicU128`, and the
/// decisions stay exact. Lock-free where the CPU has compare-and-swap (the
/// 128-bit word needs `cmpxchg16b` on x86_64, detected at run time by
/// portable-atomic); on the RP2040 the binary enables
/// `portable-atomic/critical-section`.
///
/// Concurrent callers are linearized by the CAS: the decisions are those
/// of the `&mut` bucket fed the same requests in the CAS order. Two callers
/// that read the clock in one order may reach the CAS in the other, so a
/// slightly later `now` can be judged first; the law holds for any order
/// of timestamps (see the [module docs](super)).
///
/// ```
/// use fusebox::rate::{Quota, SharedTokenBucket};
/// use fusebox::time::{Duration, Instant};
///
/// static LIMIT: SharedTokenBucket = match Quota::new(1, Duration::from_ticks(10), 2) {
///     Ok(q) => SharedTokenBucket::new(q),
///     Err(_) => panic!("bad quota"),
/// };
/// let t = Instant::from_ticks;
/// assert!(LIMIT.try_acquire(t(0)).is_ok());
/// assert!(LIMIT.try_acquire(t(0)).is_ok());
/// assert_eq!(LIMIT.try_acquire(t(0)).unwrap_err().retry_after, Some(Duration::from_ticks(10)));
/// assert!(LIMIT.try_acquire(t(10)).is_ok());
/// ```
#[derive(Debug)]
pub struct SharedTokenBucket {
    // The TAT while it fits in 64 bits (every quota for centuries when
    // `rate` in lowest terms is small), else `WIDE`.
    narrow: AtomicU64,
    // The TAT once `narrow` holds `WIDE`; `UNSET` before.
    wide: AtomicU128,
    quota: Quota,
    // `burst x period` (the bucket's capacity in units), saturated to
    // `u64::MAX` for the 64-bit fast path: a TAT that fits in 64 bits is
    // never more than `u64::MAX` ahead, so saturating changes no decision.
    capacity: u64,
}

/// `narrow` holds this once the TAT lives in `wide`.
const WIDE: u64 = u64::MAX;
/// `wide` before the move.
const UNSET: u128 = u128::MAX;

#[cfg(feature = "defmt")]
impl defmt::Format for SharedTokenBucket {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "SharedTokenBucket {{ tat: {=u128}, quota: {} }}",
            self.tat(),
            self.quota
        )
    }
}

impl SharedTokenBucket {
    crate::atomic::const_unless_loom! {
    /// A full bucket. `const`, so it can be a `static`.
    pub const fn new(quota: Quota) -> Self {
        let capacity = (quota.burst() as u128).wrapping_mul(quota.period().as_ticks() as u128);
        Self {
            narrow: AtomicU64::new(0),
            wide: AtomicU128::new(UNSET),
            quota,
            capacity: if capacity > u64::MAX as u128 {
                u64::MAX
            } else {
                capacity as u64
            },
        }
    }
    }

    /// Take one token at `now`, or be told how long until there is one.
    #[inline]
    pub fn try_acquire(&self, now: Instant) -> Result<(), Rejected> {
        self.take(1, now)
    }

    /// Take `n` tokens at once at `now`, or none: as
    /// [`TokenBucket::try_acquire_n`](super::TokenBucket::try_acquire_n).
    #[inline]
    pub fn try_acquire_n(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        if n == 0 {
            return Ok(());
        }
        if n > self.quota.burst() {
            return Err(Rejected { retry_after: None });
        }
        self.take(n, now)
    }

    #[inline(always)]
    fn take(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        // The fast path, in 64-bit arithmetic: `now` and the cost in units
        // fit in 64 bits, and so does the TAT. Anything else takes the
        // exact 128-bit path below, with the same decisions.
        let t = now.as_ticks().checked_mul(u64::from(self.quota.rate()));
        let cost = self.quota.period().as_ticks().checked_mul(u64::from(n));
        if let (Some(t), Some(cost)) = (t, cost) {
            // Relaxed is enough: the TAT is the only shared datum, and the
            // CAS on one location is totally ordered. (Seeing `WIDE`,
            // `widen` loads again with Acquire.)
            let mut tat = self.narrow.load(Ordering::Relaxed);
            while tat != WIDE {
                let start = if tat > t { tat } else { t };
                let Some(next) = start.checked_add(cost) else {
                    break;
                };
                // `next >= t`; admitted iff `next - t <= burst x period`.
                if next.wrapping_sub(t) > self.capacity {
                    return self.quota.decide(u128::from(tat), n, now).map(|_| ());
                }
                if next == WIDE {
                    break;
                }
                match self.narrow.compare_exchange_weak(
                    tat,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(()),
                    Err(seen) => tat = seen,
                }
            }
        }
        self.take_slow(n, now)
    }

    /// The same decision in 128-bit arithmetic, with the TAT in `narrow`
    /// while it fits, else in `wide`.
    #[cold]
    fn take_slow(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        let mut tat = self.narrow.load(Ordering::Relaxed);
        while tat != WIDE {
            let next = self.quota.decide(u128::from(tat), n, now)?;
            let Ok(next) = u64::try_from(next) else {
                break;
            };
            if next == WIDE {
                break;
            }
            match self
                .narrow
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
        self.take_wide(n, now)
    }

    /// The TAT has outgrown 64 bits (or is about to): move it to `wide`
    /// once, then CAS there.
    #[cold]
    fn take_wide(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        self.widen();
        let mut tat = self.wide.load(Ordering::Relaxed);
        loop {
            let next = self.quota.decide(tat, n, now)?;
            match self
                .wide
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// Publish the TAT in `wide` and mark `narrow` as `WIDE`, lock-free.
    ///
    /// The TAT never decreases. Every helper raises `wide` to the value it
    /// read from `narrow` (only ever upwards, and only while `wide` is below
    /// it), then swaps that value for `WIDE`. The swap succeeds only if
    /// `narrow` still holds that value, the latest TAT, and by then `wide`
    /// holds it too. After the swap, nobody lowers `wide` again: a late
    /// helper's values are at most the one published, and the wide path
    /// only raises it.
    fn widen(&self) {
        loop {
            let v = self.narrow.load(Ordering::Acquire);
            if v == WIDE {
                return;
            }
            let v128 = u128::from(v);
            let mut w = self.wide.load(Ordering::Acquire);
            while w == UNSET || w < v128 {
                match self
                    .wide
                    .compare_exchange(w, v128, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => break,
                    Err(seen) => w = seen,
                }
            }
            if self
                .narrow
                .compare_exchange(v, WIDE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The TAT, wherever it lives.
    fn tat(&self) -> u128 {
        match self.narrow.load(Ordering::Acquire) {
            WIDE => self.wide.load(Ordering::Acquire),
            v => u128::from(v),
        }
    }

    /// How long from `now` until `n` tokens are there (zero if they are
    /// now), if nobody else takes any; an error if `n` exceeds the burst.
    pub fn time_until(&self, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        self.quota.time_until(self.tat(), n, now)
    }

    /// Whole tokens in the bucket at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        self.quota.available(self.tat(), now)
    }

    /// Whether the TAT has moved to its 128-bit word (for tests and
    /// curiosity; decisions are the same either way).
    pub fn is_wide(&self) -> bool {
        self.narrow.load(Ordering::Relaxed) == WIDE
    }

    /// The quota.
    pub const fn quota(&self) -> Quota {
        self.quota
    }
}
