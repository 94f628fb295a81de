//! [`SharedTokenBucket`]: the token bucket behind `&self`, on
//! `portable-atomic` (feature `sync`).

use crate::atomic::{AtomicU64, AtomicU128, Ordering};

use super::gcra::{self, ExceedsBurst, Packed, Rejected};
use super::quota::Quota;
use crate::time::{self, Duration, Instant};

/// The [`TokenBucket`](super::TokenBucket) behind `&self`, for many tasks,
/// threads or cores at once (feature `sync`).
///
/// The same GCRA, the same law and the same decisions as the `&mut`
/// bucket, including its rule for time that goes backwards: a `now`
/// earlier than the latest instant seen is judged as that latest instant.
/// The state is one 128-bit word updated with a compare-and-swap loop: the
/// latest instant seen (64 bits of ticks) and the theoretical arrival
/// time's offset from it (64 bits, in units of 1/rate tick, so nothing is
/// rounded). The offset is at most the bucket's capacity, `burst x period`
/// units, so the two change in the same atomic step: no request is judged
/// at an instant earlier than one another request was already judged at.
/// A rejection only loads the word, unless its `now` is later than the
/// latest seen (then it records that instant, and the refill up to it).
/// Lock-free where the CPU has compare-and-swap (the 128-bit word needs
/// `cmpxchg16b` on x86_64, detected at run time by portable-atomic); on
/// the RP2040 the binary enables `portable-atomic/critical-section`.
///
/// A quota whose capacity, `burst x period` in lowest terms, is 2^64 units
/// or more (a period above 2^32 ticks with a burst in the billions) leaves
/// no room for the offset: such a bucket keeps the arrival time in the
/// 128-bit word and the latest instant in a second word, raised before each
/// decision, so a request whose thread was overtaken between the two may be
/// judged at a slightly earlier instant than one decided before it (the law
/// still holds, over the instants used).
///
/// Concurrent callers are linearized by the CAS: the decisions are those
/// of the `&mut` bucket fed the same requests in the CAS order. Two callers
/// that read the clock in one order may reach the CAS in the other; the
/// later one then judges the earlier `now` as the latest instant seen.
///
/// ```
/// use fusebox::rate::{Quota, SharedTokenBucket};
/// use fusebox::time::{Duration, Instant};
///
/// // 1 token per 10 ticks, burst 2; checked at compile time.
/// const QUOTA: Quota = match Quota::per_period(1, Duration::from_ticks(10)).allow_burst(2).build() {
///     Ok(q) => q,
///     Err(_) => panic!("bad quota"),
/// };
/// static LIMIT: SharedTokenBucket = SharedTokenBucket::new(QUOTA);
/// let t = Instant::from_ticks;
/// assert!(LIMIT.try_acquire(t(0)).is_ok());
/// assert!(LIMIT.try_acquire(t(0)).is_ok());
/// assert_eq!(LIMIT.try_acquire(t(0)).unwrap_err().retry_after, Some(Duration::from_ticks(10)));
/// assert!(LIMIT.try_acquire(t(10)).is_ok());
/// // An earlier `now` is judged at tick 10, the latest seen: no token yet.
/// assert_eq!(LIMIT.try_acquire(t(3)).unwrap_err().retry_after, Some(Duration::from_ticks(10)));
/// ```
#[derive(Debug)]
pub struct SharedTokenBucket {
    // Packed (capacity below 2^64 units): `latest << 64 | offset`, with
    // `TAT = latest x rate + offset` and `offset <= capacity`. Giant: the
    // TAT itself.
    word: AtomicU128,
    // Giant quotas only: the latest instant seen.
    latest: AtomicU64,
    quota: Quota,
    // `burst x period` (the bucket's capacity in units); `GIANT` when it
    // does not fit below it.
    capacity: u64,
}

/// `capacity` of a quota whose capacity does not fit the packed word.
const GIANT: u64 = u64::MAX;

#[cfg(feature = "defmt")]
impl defmt::Format for SharedTokenBucket {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (tat, latest) = self.state();
        defmt::write!(
            f,
            "SharedTokenBucket {{ tat: {=u128}, latest: {=u64}, quota: {} }}",
            tat,
            latest.as_ticks(),
            self.quota
        )
    }
}

impl SharedTokenBucket {
    crate::atomic::const_unless_loom! {
    /// A full bucket. `const`, so it can be a `static`.
    pub const fn new(quota: Quota) -> Self {
        Self {
            word: AtomicU128::new(0),
            latest: AtomicU64::new(0),
            quota,
            capacity: match gcra::packed_capacity(&quota) {
                Some(capacity) => capacity,
                None => GIANT,
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
            self.see(now);
            return Ok(());
        }
        if n > self.quota.burst() {
            self.see(now);
            return Err(Rejected { retry_after: None });
        }
        self.take(n, now)
    }

    /// Record `now` as seen, taking nothing (for requests of no tokens or
    /// of more than the burst, which the `&mut` bucket sees too).
    #[cold]
    fn see(&self, now: Instant) {
        if self.capacity != GIANT {
            // Zero tokens: always admitted, and only the instant changes.
            let _ = self.take_packed(0, now);
        } else {
            self.latest.fetch_max(now.as_ticks(), Ordering::Relaxed);
        }
    }

    #[inline(always)]
    fn take(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        if self.capacity != GIANT {
            self.take_packed(n, now)
        } else {
            self.take_giant(n, now)
        }
    }

    /// The GCRA on the packed word ([`gcra::decide_packed`]): `n` in
    /// `0..=burst`.
    #[inline(always)]
    fn take_packed(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        // Relaxed is enough: the word is the only shared datum, and the CAS
        // on one location is totally ordered.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let latest = (word >> 64) as u64;
            let (at, offset, verdict) = match gcra::decide_packed(
                &self.quota,
                self.capacity,
                latest,
                word as u64,
                n,
                now,
            ) {
                Packed::Store {
                    at,
                    offset,
                    verdict,
                } => (at, offset, verdict),
                Packed::Refused(short) => return Err(gcra::rejected(&self.quota, short)),
            };
            let next = (u128::from(at) << 64) | u128::from(offset);
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return verdict.map_err(|short| gcra::rejected(&self.quota, short)),
                Err(seen) => word = seen,
            }
        }
    }

    /// The giant-capacity path: the TAT in the 128-bit word, the latest
    /// instant in its own word.
    #[cold]
    fn take_giant(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        let seen = self.latest.fetch_max(now.as_ticks(), Ordering::Relaxed);
        let now = time::at_latest(now, Instant::from_ticks(seen));
        let mut tat = self.word.load(Ordering::Relaxed);
        loop {
            let next = gcra::decide(&self.quota, tat, n, now)?;
            match self
                .word
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// The TAT and the latest instant seen.
    fn state(&self) -> (u128, Instant) {
        let word = self.word.load(Ordering::Acquire);
        if self.capacity != GIANT {
            let latest = (word >> 64) as u64;
            let tat = gcra::packed_tat(&self.quota, latest, word as u64);
            (tat, Instant::from_ticks(latest))
        } else {
            let latest = self.latest.load(Ordering::Acquire);
            (word, Instant::from_ticks(latest))
        }
    }

    /// How long from `now` until `n` tokens are there (zero if they are
    /// now), if nobody else takes any; an error if `n` exceeds the burst.
    /// A `now` earlier than the latest instant seen is judged at it.
    pub fn time_until(&self, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        let (tat, latest) = self.state();
        gcra::time_until(&self.quota, tat, n, time::at_latest(now, latest))
    }

    /// Whole tokens in the bucket at `now` (judged at the latest instant
    /// seen if `now` is earlier).
    pub fn available(&self, now: Instant) -> u32 {
        let (tat, latest) = self.state();
        gcra::available(&self.quota, tat, time::at_latest(now, latest))
    }

    /// The quota.
    pub const fn quota(&self) -> Quota {
        self.quota
    }
}
