//! [`KeyedLimiter`]: one token bucket per key, shared.

use std::hash::Hash;
use std::sync::Arc;

use fusebox::hash::Seed;
use fusebox::rate::{self, ExceedsBurst, KeyedMetrics, KeyedRejected, Quota, WhenFull};
use fusebox::time::{Clock, Duration, Instant};

use crate::telemetry::{Kind, LimitTelemetry};
use crate::{BuildError, CoarseClock, Name};

/// The seam: the core's [`rate::SharedKeyedLimiter`] on `parking_lot`'s
/// lock, in one shard of `N` entries (the handle's `N` is the whole table,
/// and stable Rust cannot split it into `S` shards of `N / S` at the type
/// level), so it decides as the `&mut` limiter with the same seed.
#[derive(Debug)]
struct Cell<K, const N: usize>(rate::SharedKeyedLimiter<parking_lot::RawMutex, K, 1, N>);

impl<K: Hash + Eq, const N: usize> Cell<K, N> {
    #[inline]
    fn try_acquire_n(&self, key: K, n: u32, now: Instant) -> Result<(), KeyedRejected> {
        self.0.try_acquire_n(key, n, now)
    }
    fn time_until(&self, key: &K, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        self.0.time_until(key, n, now)
    }
    fn available(&self, key: &K, now: Instant) -> u32 {
        self.0.available(key, now)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn metrics(&self) -> KeyedMetrics {
        self.0.metrics()
    }
}

#[derive(Debug)]
struct Inner<K, const N: usize, C> {
    name: Name,
    clock: C,
    quota: Quota,
    cell: Cell<K, N>,
    telemetry: LimitTelemetry,
}

/// One token bucket per key (client, tenant, API key) in a table of `N`
/// entries, shared by every clone (`Clone + Send + Sync`), on clock `C`
/// (default [`CoarseClock`]). The key hash is seeded from the OS
/// (`getrandom`), so clients cannot aim their keys at one slot.
///
/// ```
/// use fusebox::rate::{Quota, WhenFull};
/// use fusebox_std::KeyedLimiter;
///
/// let per_client = KeyedLimiter::<u64, 1024>::new("per-client", Quota::per_second(5).allow_burst(2).build()?, WhenFull::EvictLeastRecent)?;
/// assert!(per_client.try_acquire(7).is_ok());
/// assert!(per_client.try_acquire(7).is_ok());
/// assert!(per_client.try_acquire(7).is_err());
/// assert!(per_client.try_acquire(8).is_ok()); // another client
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyedLimiter<K, const N: usize, C: Clock = CoarseClock> {
    inner: Arc<Inner<K, N, C>>,
}

impl<K, const N: usize, C: Clock> Clone for KeyedLimiter<K, N, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: std::fmt::Debug, const N: usize, C: Clock> std::fmt::Debug for KeyedLimiter<K, N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("name", &self.inner.name)
            .field("quota", &self.inner.quota)
            .field("capacity", &N)
            .finish()
    }
}

impl<K: Hash + Eq, const N: usize> KeyedLimiter<K, N> {
    /// An empty table named `name` on [`CoarseClock`], its hash seeded from
    /// the OS.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// table of zero entries.
    pub fn new(name: &str, quota: Quota, when_full: WhenFull) -> Result<Self, BuildError> {
        Self::with_clock(name, quota, when_full, CoarseClock::new())
    }
}

impl<K: Hash + Eq, const N: usize, C: Clock> KeyedLimiter<K, N, C> {
    /// An empty table on `clock`.
    ///
    /// # Errors
    /// As [`new`](KeyedLimiter::new).
    pub fn with_clock(
        name: &str,
        quota: Quota,
        when_full: WhenFull,
        clock: C,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        if N == 0 {
            return Err(BuildError::Config(fusebox::ConfigError::new(
                "N",
                "be at least 1 (entries of the table)",
            )));
        }
        let seed = Seed::from_bytes(crate::os_seed());
        let cell = Cell(rate::SharedKeyedLimiter::new(quota, seed, when_full));
        let telemetry = LimitTelemetry::new(&name, Kind::Keyed);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                clock,
                quota,
                cell,
                telemetry,
            }),
        })
    }

    /// The limiter's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// The quota every key gets.
    pub fn quota(&self) -> Quota {
        self.inner.quota
    }

    /// Now, on the limiter's clock.
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// Take one token from `key`'s bucket now.
    ///
    /// # Errors
    /// [`KeyedRejected::Limited`] with the time until a token;
    /// [`KeyedRejected::TableFull`] when the table is full of busy keys under
    /// [`WhenFull::RejectNew`].
    #[inline]
    pub fn try_acquire(&self, key: K) -> Result<(), KeyedRejected> {
        self.try_acquire_n(key, 1)
    }

    /// Take `n` tokens from `key`'s bucket now, all or none.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_n(&self, key: K, n: u32) -> Result<(), KeyedRejected> {
        let inner = &*self.inner;
        inner
            .cell
            .try_acquire_n(key, n, self.now())
            .inspect(|()| inner.telemetry.admitted(|| 0))
            .inspect_err(|r| {
                let reason = match r {
                    KeyedRejected::Limited(r) if r.retry_after.is_some() => 0,
                    KeyedRejected::TableFull => 1,
                    KeyedRejected::Limited(_) => 2,
                };
                inner
                    .telemetry
                    .rejected(&inner.name, reason, r.retry_after());
            })
    }

    /// Tokens `key` has now (a key not in the table has a full bucket).
    pub fn available(&self, key: &K) -> u32 {
        self.inner.cell.available(key, self.now())
    }

    /// Time until `key` has `n` tokens.
    ///
    /// # Errors
    /// [`ExceedsBurst`] if `n` is over the burst.
    pub fn time_until(&self, key: &K, n: u32) -> Result<Duration, ExceedsBurst> {
        self.inner.cell.time_until(key, n, self.now())
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.inner.cell.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table's capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The table's counters.
    pub fn metrics(&self) -> KeyedMetrics {
        self.inner.cell.metrics()
    }
}
