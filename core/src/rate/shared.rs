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
/// The state is the latest instant seen (ticks) and the theoretical
/// arrival time's offset from it (in units of 1/rate tick, so nothing is
/// rounded, at most the bucket's capacity, `burst x period` units), and
/// the two change in one compare-and-swap: no request is judged at an
/// instant earlier than one another request was already judged at. A
/// rejection only loads the state, unless its `now` is later than the
/// latest seen (then it records that instant, and the refill up to it).
///
/// # Two forms of one state
///
/// - **The 8-byte word**, while the latest instant fits beside the
///   offset: `latest << b | offset`, where `b` is the bit length of the
///   capacity, so the latest instant has `64 - b` bits (all ones is kept
///   for the move below). It fits for instants below about `2^64 /
///   capacity` ticks, counted from the clock's zero
///   ([`compact_until`](Self::compact_until) gives the first instant that
///   does not fit). The capacity is `burst x period` in the quota's
///   lowest terms, so round rates fit for long and others for less. At
///   1 MHz ticks: 1 000/s or 10 000/s with a burst of one second's tokens
///   (capacity 10^6 units), about 203 days; 10 000/s with a burst of 100,
///   35 years; 7/s, burst 7, 25 days; 1 234/s, burst 1 234 (10^6 / 1 234
///   ticks per token is not whole: capacity 6.2 x 10^8 units), 4.8 hours;
///   7 per hour, 9 minutes. No 8-byte form can do better and stay exact:
///   the word must never show an old value again, so it can take at most
///   2^64 states, and each tick needs `capacity + 1` of them. Updated by
///   an 8-byte compare-and-swap, the cost of governor's step.
/// - **The 16-byte word**, `latest << 64 | offset`, for every instant
///   (`cmpxchg16b` on x86_64, detected at run time by portable-atomic).
///   The first request whose instant does not fit the 8-byte word moves
///   the state there, once and for good, without a lock: it raises the
///   16-byte word to the state it read (`fetch_max`) and then swaps the
///   8-byte word for a mark saying "moved". The 8-byte word only ever
///   grows (the latest instant never goes down, and at one instant the
///   offset only goes up), so it never shows an old value again (no ABA)
///   and a raise from a stale read never passes the state at the move;
///   every later request works on the 16-byte word. A quota whose
///   capacity needs all 64 bits starts there, and so does every bucket on
///   a CPU without 8-byte atomics of its own (thumbv6m: there every atomic
///   is a critical section, and the 8-byte path is not compiled).
///
/// A quota whose capacity, `burst x period` in lowest terms, is 2^64 - 1
/// units or more (a period above 2^32 ticks with a burst in the billions)
/// leaves
/// no room for the offset: such a bucket keeps the arrival time in the
/// 128-bit word and the latest instant in a second word, raised before each
/// decision, so a request whose thread was overtaken between the two may be
/// judged at a slightly earlier instant than one decided before it (the law
/// still holds, over the instants used).
///
/// Lock-free where the CPU has a compare-and-swap of the word's width (8
/// bytes, and 16 once moved: x86_64 with `cmpxchg16b`, aarch64); where it
/// has none, portable-atomic's fallback (a lock, or on the RP2040 the
/// critical section the binary enables with
/// `portable-atomic/critical-section`). Concurrent callers are
/// linearized by the CAS: the decisions are those of the `&mut` bucket fed
/// the same requests in the CAS order. Two callers that read the clock in
/// one order may reach the CAS in the other; the later one then judges the
/// earlier `now` as the latest instant seen.
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
/// // An instant past the 8-byte word's range (capacity 20 units: 5 bits
/// // of offset, 59 of latest instant) moves the state, and nothing else
/// // changes: the bucket refilled since tick 10.
/// let far = t(1 << 60);
/// assert!(LIMIT.try_acquire(far).is_ok());
/// assert!(LIMIT.try_acquire(far).is_ok());
/// assert!(LIMIT.try_acquire(far).is_err());
/// ```
#[derive(Debug)]
pub struct SharedTokenBucket {
    // Packed quotas (capacity below 2^64 units): the 16-byte form
    // `latest << 64 | offset`, with `TAT = latest x rate + offset` and
    // `offset <= capacity`, in use once `small` is `MOVED`. Giant quotas:
    // the TAT itself.
    wide: AtomicU128,
    // Packed quotas: the 8-byte form `latest << offset_bits | offset`, or
    // `MOVED`. Giant quotas: the latest instant seen.
    small: AtomicU64,
    quota: Quota,
    // `burst x period` (the bucket's capacity in units); `GIANT` when it
    // does not fit below it.
    capacity: u64,
}

/// `capacity` of a quota whose capacity does not fit the packed word.
const GIANT: u64 = u64::MAX;

/// `small` once the state has moved to `wide`: above every 8-byte state
/// (whose latest-instant bits are never all ones).
const MOVED: u64 = u64::MAX;

/// Whether the 8-byte form is used: where the CPU has 8-byte atomics of its
/// own. Without them (thumbv6m, where every atomic is a critical section)
/// it would gain nothing and cost flash, so the state lives in the 16-byte
/// word from the start and the 8-byte path compiles away.
const SMALL_FORM: bool = cfg!(target_has_atomic = "64");

/// The bits of the 8-byte word below the latest instant: the bit length
/// of the capacity (at most 64).
#[inline(always)]
const fn offset_bits(capacity: u64) -> u32 {
    u64::BITS.wrapping_sub(capacity.leading_zeros())
}

/// The first latest instant the 8-byte word cannot hold: all ones in its
/// `64 - bits` bits (kept for `MOVED`), 0 when it has none.
#[inline(always)]
const fn small_limit(bits: u32) -> u64 {
    match u64::MAX.checked_shr(bits) {
        Some(limit) => limit,
        None => 0,
    }
}

/// The first latest instant the 8-byte word cannot hold for a bucket of
/// `capacity`, or `None` when the bucket has no 8-byte form (a giant
/// quota, a capacity of 64 bits, or a CPU without 8-byte atomics).
const fn compact_limit(capacity: u64) -> Option<u64> {
    if capacity == GIANT || !SMALL_FORM {
        return None;
    }
    match small_limit(offset_bits(capacity)) {
        0 => None,
        limit => Some(limit),
    }
}

/// `(latest, offset)` of an 8-byte word (not `MOVED`). For `bits` below 64
/// (always: with 64 the word is `MOVED` from the start).
#[inline(always)]
const fn unpack_small(word: u64, bits: u32) -> (u64, u64) {
    let latest = word.wrapping_shr(bits);
    (latest, word ^ latest.wrapping_shl(bits))
}

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
        let capacity = match gcra::packed_capacity(&quota) {
            Some(capacity) => capacity,
            None => GIANT,
        };
        Self {
            wide: AtomicU128::new(0),
            // Latest 0, offset 0 (a full bucket), unless no instant fits
            // the 8-byte word. A giant quota's latest instant: 0.
            small: AtomicU64::new(if capacity != GIANT && compact_limit(capacity).is_none() {
                MOVED
            } else {
                0
            }),
            quota,
            capacity,
        }
    }
    }

    /// The first instant the 8-byte word cannot hold (see the type's docs):
    /// a request at or past it moves the state to the 16-byte word, which
    /// decides the same but costs more per call. `None` when the bucket
    /// works in the 16-byte word from the start (a capacity of 2^63 units
    /// or more, or a CPU without 8-byte atomics of its own).
    ///
    /// ```
    /// use fusebox::rate::{Quota, SharedTokenBucket};
    /// use fusebox::time::Duration;
    ///
    /// // 1 000 per second at 1 MHz ticks, burst 1 000: 1 token per 1 000
    /// // ticks, capacity 10^6 units (20 bits), 44 bits of instant.
    /// let q = Quota::per_period(1_000, Duration::from_ticks(1_000_000)).build()?;
    /// let until = SharedTokenBucket::new(q).compact_until();
    /// # #[cfg(target_has_atomic = "64")]
    /// assert_eq!(until.map(|i| i.as_ticks()), Some((1 << 44) - 1)); // about 203 days
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub const fn compact_until(&self) -> Option<Instant> {
        match compact_limit(self.capacity) {
            Some(limit) => Some(Instant::from_ticks(limit)),
            None => None,
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
            let _ = self.take_small(0, now);
        } else {
            self.small.fetch_max(now.as_ticks(), Ordering::Relaxed);
        }
    }

    #[inline(always)]
    fn take(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        if self.capacity != GIANT {
            self.take_small(n, now)
        } else {
            self.take_giant(n, now)
        }
    }

    /// The GCRA on the 8-byte word ([`gcra::decide_packed`]), `n` in
    /// `0..=burst`; on the 16-byte word once the state has moved.
    #[inline(always)]
    fn take_small(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        if !SMALL_FORM {
            return self.take_wide(n, now);
        }
        let bits = offset_bits(self.capacity);
        // Below 64 here (64 bits of offset leave no room: `MOVED` from the
        // start), so the shifts below are exact.
        let limit = u64::MAX.wrapping_shr(bits);
        // Acquire: a load that sees `MOVED` must see the 16-byte word as
        // the move left it. The word itself is the only other shared datum,
        // and the CAS on one location is totally ordered.
        let mut word = self.small.load(Ordering::Acquire);
        loop {
            if word == MOVED {
                return self.take_wide(n, now);
            }
            let (latest, offset) = unpack_small(word, bits);
            let (at, offset, verdict) = self.decide(latest, offset, n, now)?;
            if at >= limit {
                return self.move_and_take(n, now);
            }
            let next = at.wrapping_shl(bits) | offset;
            match self
                .small
                .compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Acquire)
            {
                Ok(_) => return self.verdict(verdict),
                Err(seen) => word = seen,
            }
        }
    }

    /// [`gcra::decide_packed`] on `(latest, offset)`: the state to store
    /// and the verdict it carries, or a refusal that stores nothing.
    #[inline(always)]
    fn decide(
        &self,
        latest: u64,
        offset: u64,
        n: u32,
        now: Instant,
    ) -> Result<(u64, u64, Result<(), u128>), Rejected> {
        match gcra::decide_packed(&self.quota, self.capacity, latest, offset, n, now) {
            Packed::Store {
                at,
                offset,
                verdict,
            } => Ok((at, offset, verdict)),
            Packed::Refused(short) => Err(gcra::rejected(&self.quota, short)),
        }
    }

    /// The caller's answer once its state is stored: admitted, or refused
    /// `short` units short.
    #[inline(always)]
    fn verdict(&self, verdict: Result<(), u128>) -> Result<(), Rejected> {
        verdict.map_err(|short| gcra::rejected(&self.quota, short))
    }

    /// Move the state to the 16-byte word (if no other request has), then
    /// decide there: the first instant past the 8-byte word's range.
    #[cold]
    #[inline(never)]
    fn move_and_take(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        let bits = offset_bits(self.capacity);
        let mut word = self.small.load(Ordering::Acquire);
        while word != MOVED {
            let (latest, offset) = unpack_small(word, bits);
            // Raise the 16-byte word to this state. Every state raised is
            // one the 8-byte word held before the move, so none passes the
            // state at the move (the word only grows), and the mover's own
            // raise reaches it: at the move the 16-byte word is exactly
            // that state. A raise that lands after the move is below every
            // later 16-byte state (which only grows too) and changes
            // nothing.
            self.wide.fetch_max(
                (u128::from(latest) << 64) | u128::from(offset),
                Ordering::Relaxed,
            );
            // Release: whoever sees `MOVED` sees the raise above.
            match self
                .small
                .compare_exchange(word, MOVED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(seen) => word = seen,
            }
        }
        self.take_wide(n, now)
    }

    /// The GCRA on the 16-byte word: `n` in `0..=burst`.
    fn take_wide(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        // Relaxed is enough: past the move, the word is the only shared
        // datum, and the CAS on one location is totally ordered.
        let mut word = self.wide.load(Ordering::Relaxed);
        loop {
            let (at, offset, verdict) = self.decide((word >> 64) as u64, word as u64, n, now)?;
            let next = (u128::from(at) << 64) | u128::from(offset);
            match self
                .wide
                .compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return self.verdict(verdict),
                Err(seen) => word = seen,
            }
        }
    }

    /// The giant-capacity path: the TAT in the 128-bit word, the latest
    /// instant in the 8-byte one.
    #[cold]
    fn take_giant(&self, n: u32, now: Instant) -> Result<(), Rejected> {
        let seen = self.small.fetch_max(now.as_ticks(), Ordering::Relaxed);
        let now = time::at_latest(now, Instant::from_ticks(seen));
        let mut tat = self.wide.load(Ordering::Relaxed);
        loop {
            let next = gcra::decide(&self.quota, tat, n, now)?;
            match self
                .wide
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// The TAT and the latest instant seen.
    fn state(&self) -> (u128, Instant) {
        if self.capacity != GIANT {
            let word = self.small.load(Ordering::Acquire);
            let (latest, offset) = if SMALL_FORM && word != MOVED {
                unpack_small(word, offset_bits(self.capacity))
            } else {
                let wide = self.wide.load(Ordering::Acquire);
                ((wide >> 64) as u64, wide as u64)
            };
            let tat = gcra::packed_tat(&self.quota, latest, offset);
            (tat, Instant::from_ticks(latest))
        } else {
            let latest = self.small.load(Ordering::Acquire);
            let tat = self.wide.load(Ordering::Acquire);
            (tat, Instant::from_ticks(latest))
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
