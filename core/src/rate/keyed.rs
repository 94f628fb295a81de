//! [`KeyedLimiter`]: one token bucket per key, in a fixed table.

use core::hash::{BuildHasher, Hash};

use super::gcra::{self, ExceedsBurst, Rejected};
use super::quota::Quota;
use crate::hash::Seed;
use crate::time::{self, Duration, Instant};

/// The most slots one key may be looked for in (fewer if the table is
/// smaller). Every operation touches at most this many entries, whatever
/// keys the clients pick.
pub const PROBE_WINDOW: usize = 32;

/// What a [`KeyedLimiter`] does with a new key when every entry in the
/// key's probe window belongs to a key whose bucket is not full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WhenFull {
    /// Refuse the new key ([`KeyedRejected::TableFull`]). No tracked key is
    /// ever forgotten while its bucket is not full, so the per-key law holds
    /// for every key; a new key may be refused while the table is busy.
    RejectNew,
    /// Forget the least recently seen key in the window and track the new
    /// one. New keys always get in, but the forgotten key, when it comes
    /// back, starts again with a full bucket: it may get up to one burst
    /// more than the per-key law allows, once per eviction.
    EvictLeastRecent,
}

/// Why a [`KeyedLimiter`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyedRejected {
    /// The key's own bucket refused it.
    Limited(Rejected),
    /// The key is new, every entry in its probe window is busy, and the
    /// policy is [`WhenFull::RejectNew`].
    TableFull,
}

impl KeyedRejected {
    /// When the same request would be admitted, where known: the key's
    /// `retry_after`; `None` for [`TableFull`](Self::TableFull) (a slot
    /// frees when some bucket in the window refills) and for requests
    /// beyond the burst.
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Limited(r) => r.retry_after,
            Self::TableFull => None,
        }
    }
}

impl core::fmt::Display for KeyedRejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Limited(r) => r.fmt(f),
            Self::TableFull => f.write_str("rate limiter table is full of busy keys"),
        }
    }
}

impl core::error::Error for KeyedRejected {}

#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Entry<K> {
    key: Option<K>,
    tat_lo: u64,
    tat_hi: u64,
    // The tick of the key's latest request (admitted or not): recency for
    // `EvictLeastRecent`.
    last: u64,
}

impl<K> Entry<K> {
    const EMPTY: Self = Self {
        key: None,
        tat_lo: 0,
        tat_hi: 0,
        last: 0,
    };

    #[inline(always)]
    fn tat(&self) -> u128 {
        ((self.tat_hi as u128) << 64) | self.tat_lo as u128
    }

    #[inline(always)]
    fn set_tat(&mut self, tat: u128) {
        self.tat_lo = tat as u64;
        self.tat_hi = (tat >> 64) as u64;
    }

    #[inline(always)]
    fn touch(&mut self, now: Instant) {
        let now = now.as_ticks();
        if now > self.last {
            self.last = now;
        }
    }
}

/// Counters of what a [`KeyedLimiter`] did with its table. Each wraps at
/// `u32::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct KeyedMetrics {
    /// New keys placed in an empty entry or one whose bucket was full
    /// (forgetting it lost nothing).
    pub placed: u32,
    /// Busy keys forgotten under [`WhenFull::EvictLeastRecent`].
    pub evicted_busy: u32,
    /// New keys refused under [`WhenFull::RejectNew`].
    pub refused_full: u32,
}

/// One token bucket per key (per client, per device) in a fixed table of
/// `N` entries, all under one [`Quota`]. Memory is fixed at compile time
/// and never grows. See the [module docs](super) for the law and the
/// eviction rules.
///
/// ```
/// use fusebox::hash::Seed;
/// use fusebox::rate::{KeyedLimiter, KeyedRejected, Quota, WhenFull};
/// use fusebox::time::{Duration, Instant};
///
/// let quota = Quota::per_period(1, Duration::from_ticks(100)).allow_burst(2).build()?;
/// // The seed is a secret: 16 random bytes per process or device.
/// let seed = Seed::new(0x2545_f491_4f6c_dd1d, 0x9e37_79b9_7f4a_7c15);
/// let mut per_client = KeyedLimiter::<u32, 64>::new(quota, seed, WhenFull::EvictLeastRecent);
/// let t = Instant::from_ticks;
/// assert!(per_client.try_acquire(7, t(0)).is_ok());
/// assert!(per_client.try_acquire(7, t(0)).is_ok());
/// assert!(matches!(per_client.try_acquire(7, t(0)), Err(KeyedRejected::Limited(_))));
/// assert!(per_client.try_acquire(8, t(0)).is_ok()); // another client has its own bucket
/// assert_eq!(per_client.len(), 2);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeyedLimiter<K, const N: usize> {
    entries: [Entry<K>; N],
    quota: Quota,
    seed: Seed,
    policy: WhenFull,
    len: usize,
    metrics: KeyedMetrics,
    // The latest instant seen, for the whole table: an earlier `now` is
    // judged at it.
    latest: Instant,
}

impl<K: Hash + Eq, const N: usize> KeyedLimiter<K, N> {
    /// An empty table (every key starts with a full bucket). `const`, so
    /// a firmware can keep it in a `static`.
    pub const fn new(quota: Quota, seed: Seed, policy: WhenFull) -> Self {
        Self {
            entries: [const { Entry::EMPTY }; N],
            quota,
            seed,
            policy,
            len: 0,
            metrics: KeyedMetrics {
                placed: 0,
                evicted_busy: 0,
                refused_full: 0,
            },
            latest: Instant::from_ticks(0),
        }
    }

    /// The first slot of `key`'s probe window.
    #[inline(always)]
    fn home(&self, key: &K) -> usize {
        let h = self.seed.hash_one(key);
        crate::wide::reduce(h, N)
    }

    #[inline(always)]
    const fn window() -> usize {
        if N < PROBE_WINDOW { N } else { PROBE_WINDOW }
    }

    #[inline(always)]
    fn find(&self, key: &K) -> Option<&Entry<K>> {
        let mut idx = self.home(key);
        for _ in 0..Self::window() {
            let e = self.entries.get(idx)?;
            match &e.key {
                None => return None,
                Some(k) if k == key => return Some(e),
                Some(_) => {}
            }
            idx = idx.wrapping_add(1);
            if idx == N {
                idx = 0;
            }
        }
        None
    }

    /// One token for `key` at `now`.
    #[inline]
    pub fn try_acquire(&mut self, key: K, now: Instant) -> Result<(), KeyedRejected> {
        self.try_acquire_n(key, 1, now)
    }

    /// `n` tokens for `key` at `now`, or none. `n = 0` is admitted and
    /// takes nothing (a new key is not tracked for it); `n` above the burst
    /// is never admitted. Every call counts `now` as seen, these two
    /// included (as [`TokenBucket::try_acquire_n`](super::TokenBucket::try_acquire_n)
    /// does): a later call with an earlier `now` is judged at it.
    #[inline]
    pub fn try_acquire_n(&mut self, key: K, n: u32, now: Instant) -> Result<(), KeyedRejected> {
        let now = time::observe(&mut self.latest, now);
        if n == 0 {
            return Ok(());
        }
        if n > self.quota.burst() {
            return Err(KeyedRejected::Limited(Rejected { retry_after: None }));
        }
        let quota = self.quota;
        let t = gcra::units(&quota, now);
        let mut idx = self.home(&key);
        // The first entry that is empty or whose bucket is full (idle), and
        // the least recently seen busy one.
        let mut free: Option<usize> = None;
        let mut oldest: Option<(usize, u64)> = None;
        for _ in 0..Self::window() {
            let Some(e) = self.entries.get_mut(idx) else {
                break;
            };
            match &e.key {
                // Entries never empty again once used, and a key is placed
                // at the first free entry of its window: nothing of this
                // key lies beyond an empty entry.
                None => {
                    if free.is_none() {
                        free = Some(idx);
                    }
                    break;
                }
                Some(k) if *k == key => {
                    e.touch(now);
                    return match gcra::decide(&quota, e.tat(), n, now) {
                        Ok(tat) => {
                            e.set_tat(tat);
                            Ok(())
                        }
                        Err(r) => Err(KeyedRejected::Limited(r)),
                    };
                }
                Some(_) => {
                    if free.is_none() && e.tat() <= t {
                        free = Some(idx);
                    } else if oldest.is_none_or(|(_, last)| e.last < last) {
                        oldest = Some((idx, e.last));
                    }
                }
            }
            idx = idx.wrapping_add(1);
            if idx == N {
                idx = 0;
            }
        }
        let slot = match (free, self.policy, oldest) {
            (Some(i), _, _) => {
                self.metrics.placed = self.metrics.placed.wrapping_add(1);
                i
            }
            (None, WhenFull::EvictLeastRecent, Some((i, _))) => {
                self.metrics.evicted_busy = self.metrics.evicted_busy.wrapping_add(1);
                i
            }
            _ => {
                self.metrics.refused_full = self.metrics.refused_full.wrapping_add(1);
                return Err(KeyedRejected::TableFull);
            }
        };
        let Some(e) = self.entries.get_mut(slot) else {
            return Err(KeyedRejected::TableFull);
        };
        if e.key.is_none() {
            self.len = self.len.saturating_add(1);
        }
        // A new key starts with a full bucket: n <= burst is admitted.
        let tat = gcra::decide(&quota, 0, n, now).map_err(KeyedRejected::Limited)?;
        *e = Entry {
            key: Some(key),
            tat_lo: 0,
            tat_hi: 0,
            last: now.as_ticks(),
        };
        e.set_tat(tat);
        Ok(())
    }

    /// How long from `now` until `key` has `n` tokens (zero if it has them
    /// now; an untracked key has a full bucket); an error if `n` exceeds
    /// the burst.
    pub fn time_until(&self, key: &K, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        let tat = self.find(key).map_or(0, Entry::tat);
        gcra::time_until(&self.quota, tat, n, time::at_latest(now, self.latest))
    }

    /// Whole tokens in `key`'s bucket at `now` (the burst for an untracked
    /// key).
    pub fn available(&self, key: &K, now: Instant) -> u32 {
        let tat = self.find(key).map_or(0, Entry::tat);
        gcra::available(&self.quota, tat, time::at_latest(now, self.latest))
    }

    /// Whether `key` has an entry in the table.
    pub fn contains(&self, key: &K) -> bool {
        self.find(key).is_some()
    }

    /// Entries in use (keys tracked, idle ones included).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no key has ever been tracked (since [`clear`](Self::clear)).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The table's fixed capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Forget every key (each starts again with a full bucket; the latest
    /// instant seen stays).
    pub fn clear(&mut self) {
        for e in &mut self.entries {
            *e = Entry::EMPTY;
        }
        self.len = 0;
    }

    /// The counters.
    pub const fn metrics(&self) -> KeyedMetrics {
        self.metrics
    }

    /// The quota every key's bucket follows.
    pub const fn quota(&self) -> Quota {
        self.quota
    }
}
