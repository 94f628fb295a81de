//! [`SharedKeyedLimiter`]: the keyed limiter behind `&self`, in `S` shards
//! that each have their own lock (feature `sync`).

use core::hash::{BuildHasher, Hash};

use lock_api::{Mutex, RawMutex};

use super::gcra::{self, ExceedsBurst};
use super::keyed::{KeyedLimiter, KeyedMetrics, KeyedRejected, WhenFull};
use super::quota::Quota;
use crate::hash::Seed;
use crate::shard::{shard_of, shard_seed};
use crate::time::{Duration, Instant};

/// The [`KeyedLimiter`] behind `&self`, for many threads or cores at once
/// (feature `sync`): `S` shards, each a [`KeyedLimiter<K, N>`] behind its
/// own lock, so `S x N` entries in all, fixed, and no lock for the whole
/// table.
///
/// **Why shards, and which lock.** An entry is a key, a 128-bit
/// theoretical arrival time and a recency tick: three words or more, which
/// no single compare-and-swap covers, and `forbid(unsafe_code)` rules out
/// a seqlock over plain memory. So each shard has a lock, of the
/// [`lock_api::RawMutex`] type the binary picks (`parking_lot::RawMutex`
/// on a server, `spin::mutex::SpinMutex<()>` over portable-atomic on
/// firmware; see [`SharedDedupTable`](crate::dedup::SharedDedupTable) for
/// why `lock_api` rather than embassy-sync's trait).
///
/// **Same decisions.** A key's shard comes from a hash keyed with a seed
/// derived from the caller's; in its shard the key is decided by the
/// `&mut` limiter's own code, in the order callers take the shard's lock.
/// The law, the eviction rules ([`WhenFull`]) and the conventions of the
/// [module docs](super) hold per shard, hence per key; with `S = 1` the
/// decisions are those of `KeyedLimiter<K, N>` with the same seed, one for
/// one (checked by the scenarios and the property tests). A `now` earlier
/// than one the key's entry has recorded is judged as the `&mut` limiter
/// judges it (never admitting more). Calls that look at every shard
/// ([`len`](Self::len), [`metrics`](Self::metrics), [`clear`](Self::clear))
/// lock one shard at a time. Do not call the limiter from the key's own
/// `Hash` or `Eq`.
///
/// ```
/// use fusebox::hash::Seed;
/// use fusebox::rate::{KeyedRejected, Quota, SharedKeyedLimiter, WhenFull};
/// use fusebox::time::{Duration, Instant};
///
/// // 16 shards of 64 entries: 1 024 clients, each 1 per 100 ticks, burst 2.
/// type PerClient = SharedKeyedLimiter<parking_lot::RawMutex, u32, 16, 64>;
/// let quota = Quota::per_period(1, Duration::from_ticks(100)).allow_burst(2).build()?;
/// let limiter = PerClient::new(quota, Seed::new(0x2545, 0x9e37), WhenFull::EvictLeastRecent);
/// let t = Instant::from_ticks;
/// std::thread::scope(|s| {
///     s.spawn(|| assert!(limiter.try_acquire(7, t(0)).is_ok()));
///     s.spawn(|| assert!(limiter.try_acquire(8, t(0)).is_ok()));
/// });
/// assert!(limiter.try_acquire(7, t(0)).is_ok());
/// assert!(matches!(limiter.try_acquire(7, t(0)), Err(KeyedRejected::Limited(_))));
/// assert_eq!(limiter.len(), 2);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Memory
///
/// `S x size_of::<Mutex<R, KeyedLimiter<K, N>>>() + 16`: a shard is the
/// `&mut` limiter plus the raw mutex rounded up to 8 bytes (see the
/// [module docs](super) for the sizes asserted per target). Shards are not
/// padded to cache lines: a shard of any useful `N` spans many lines.
pub struct SharedKeyedLimiter<R: RawMutex, K, const S: usize, const N: usize> {
    shards: [Mutex<R, KeyedLimiter<K, N>>; S],
    // Chooses the shard; the shards' own tables use the caller's seed.
    shard_seed: Seed,
    quota: Quota,
}

#[cfg(feature = "defmt")]
impl<R: RawMutex, K, const S: usize, const N: usize> defmt::Format
    for SharedKeyedLimiter<R, K, S, N>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "SharedKeyedLimiter {{ shards: {=usize}, entries_per_shard: {=usize}, quota: {} }}",
            S,
            N,
            self.quota
        )
    }
}

impl<R: RawMutex, K, const S: usize, const N: usize> core::fmt::Debug
    for SharedKeyedLimiter<R, K, S, N>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedKeyedLimiter")
            .field("shards", &S)
            .field("entries_per_shard", &N)
            .finish_non_exhaustive()
    }
}

impl<R: RawMutex, K: Hash + Eq, const S: usize, const N: usize> SharedKeyedLimiter<R, K, S, N> {
    const SHARDS_OK: () = assert!(S >= 1, "SharedKeyedLimiter needs at least one shard");

    /// An empty limiter (every key starts with a full bucket). `S = 0`
    /// fails to compile. Not `const` (an array of `S` locks cannot be built
    /// in a `const fn` without `unsafe`).
    pub fn new(quota: Quota, seed: Seed, policy: WhenFull) -> Self {
        let () = Self::SHARDS_OK;
        Self {
            shards: core::array::from_fn(|_| Mutex::new(KeyedLimiter::new(quota, seed, policy))),
            shard_seed: shard_seed(seed),
            quota,
        }
    }

    #[inline(always)]
    fn shard_index(&self, key: &K) -> usize {
        if S == 1 {
            0
        } else {
            shard_of::<S>(self.shard_seed.hash_one(key))
        }
    }

    #[inline(always)]
    fn shard(&self, key: &K) -> Option<&Mutex<R, KeyedLimiter<K, N>>> {
        self.shards.get(self.shard_index(key))
    }

    /// The shard `key` lives in, in `0..S` (for tests and diagnostics).
    pub fn shard_of(&self, key: &K) -> usize {
        self.shard_index(key)
    }

    /// One token for `key` at `now`: as [`KeyedLimiter::try_acquire`].
    #[inline]
    pub fn try_acquire(&self, key: K, now: Instant) -> Result<(), KeyedRejected> {
        self.try_acquire_n(key, 1, now)
    }

    /// `n` tokens for `key` at `now`, or none: as
    /// [`KeyedLimiter::try_acquire_n`].
    #[inline]
    pub fn try_acquire_n(&self, key: K, n: u32, now: Instant) -> Result<(), KeyedRejected> {
        match self.shard(&key) {
            Some(shard) => shard.lock().try_acquire_n(key, n, now),
            None => Err(KeyedRejected::TableFull),
        }
    }

    /// How long from `now` until `key` has `n` tokens: as
    /// [`KeyedLimiter::time_until`].
    pub fn time_until(&self, key: &K, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        match self.shard(key) {
            Some(shard) => shard.lock().time_until(key, n, now),
            None => gcra::time_until(&self.quota, 0, n, now),
        }
    }

    /// Whole tokens in `key`'s bucket at `now` (the burst for an untracked
    /// key).
    pub fn available(&self, key: &K, now: Instant) -> u32 {
        match self.shard(key) {
            Some(shard) => shard.lock().available(key, now),
            None => self.quota.burst(),
        }
    }

    /// Whether `key` has an entry in the table.
    pub fn contains(&self, key: &K) -> bool {
        self.shard(key).is_some_and(|s| s.lock().contains(key))
    }

    /// Entries in use, summed shard by shard.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().len())
            .fold(0, usize::saturating_add)
    }

    /// Whether no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fixed capacity, `S x N` entries.
    pub const fn capacity(&self) -> usize {
        S.saturating_mul(N)
    }

    /// The number of shards, `S`.
    pub const fn shards(&self) -> usize {
        S
    }

    /// Forget every key (each starts again with a full bucket).
    pub fn clear(&self) {
        for s in &self.shards {
            s.lock().clear();
        }
    }

    /// The counters, summed over the shards (each wraps at `u32::MAX`).
    pub fn metrics(&self) -> KeyedMetrics {
        let mut sum = KeyedMetrics::default();
        for s in &self.shards {
            let m = s.lock().metrics();
            sum.placed = sum.placed.wrapping_add(m.placed);
            sum.evicted_busy = sum.evicted_busy.wrapping_add(m.evicted_busy);
            sum.refused_full = sum.refused_full.wrapping_add(m.refused_full);
        }
        sum
    }

    /// The quota every key's bucket follows.
    pub const fn quota(&self) -> Quota {
        self.quota
    }
}
