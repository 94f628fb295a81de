//! Two drivers for one scenario: the `&mut` primitive and its shared
//! (`&self`) variant behind the same small trait, so a timeline is written
//! once and run through both (the shared one with feature `sync`).
//!
//! The shared tables are driven with one shard (`S = 1`): then every
//! decision, `Full` and evictions included, must be the `&mut` table's with
//! the same seed, which the scenarios check line by line. Their lock is
//! `Raw`, a spin lock that runs on the host and, over portable-atomic, on
//! the Cortex-M0 runner.

use core::hash::Hash;

use fusebox::ConfigError;
use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, LimitChange, Outcome as Call};
use fusebox::dedup::{Begin, Config, DedupTable, Metrics, Stale, Ticket};
use fusebox::hash::Seed;
use fusebox::rate::{
    ExceedsBurst, KeyedLimiter, KeyedMetrics, KeyedRejected, Quota, RetryBudget, WhenFull,
};
use fusebox::time::{Duration, Instant};

/// The `&mut` primitives.
#[derive(Debug, Clone, Copy)]
pub struct Local;

/// The shared primitives (one shard for the tables), locked with [`Raw`].
#[cfg(feature = "sync")]
#[derive(Debug, Clone, Copy)]
pub struct Shared;

/// The raw mutex the scenarios' shared tables and budget use.
#[cfg(feature = "sync")]
pub type Raw = spin::mutex::SpinMutex<()>;

// ---------------------------------------------------------------------------
// Dedup.
// ---------------------------------------------------------------------------

/// What `begin` answered, the same for both variants (`Done` by value).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer<V, T> {
    /// As [`Begin::New`].
    New(T),
    /// As [`Begin::InFlight`].
    InFlight,
    /// As [`Begin::Done`], the value cloned.
    Done(V),
    /// As [`Begin::Full`].
    Full,
}

impl<V, T> Answer<V, T> {
    /// Whether it is `New`.
    pub fn is_new(&self) -> bool {
        matches!(self, Answer::New(_))
    }
}

/// A dedup table of either variant.
pub trait DedupOps<K, V>: Sized {
    /// The ticket `New` carries.
    type Ticket: PartialEq + core::fmt::Debug;
    /// An empty table.
    fn build(config: Config, seed: Seed) -> Result<Self, ConfigError>;
    /// As `begin`.
    fn begin(&mut self, key: K, now: Instant) -> Answer<V, Self::Ticket>;
    /// As `complete`.
    fn complete(&mut self, ticket: Self::Ticket, value: V, now: Instant) -> Result<(), Stale<V>>;
    /// As `abandon`.
    fn abandon(&mut self, ticket: Self::Ticket, now: Instant) -> bool;
    /// As `get`, by value.
    fn get(&self, key: &K, now: Instant) -> Option<V>;
    /// As `occupied`.
    fn occupied(&self, now: Instant) -> usize;
    /// As `metrics`.
    fn metrics(&self) -> Metrics;
    /// As `clear`.
    fn clear(&mut self);
    /// As `reseed`.
    fn reseed(&mut self, seed: Seed);
}

/// A family of dedup tables: `Table<K, V, N>` for any key, value and size.
pub trait DedupFamily {
    /// The table type.
    type Table<K: Hash + Eq + Clone, V: Clone, const N: usize>: DedupOps<K, V>;
}

impl<K: Hash + Eq + Clone, V: Clone, const N: usize> DedupOps<K, V> for DedupTable<K, V, N> {
    type Ticket = Ticket;
    fn build(config: Config, seed: Seed) -> Result<Self, ConfigError> {
        DedupTable::new(config, seed)
    }
    fn begin(&mut self, key: K, now: Instant) -> Answer<V, Ticket> {
        match DedupTable::begin(self, key, now) {
            Begin::New(t) => Answer::New(t),
            Begin::InFlight => Answer::InFlight,
            Begin::Done(v) => Answer::Done(v.clone()),
            Begin::Full => Answer::Full,
        }
    }
    fn complete(&mut self, ticket: Ticket, value: V, now: Instant) -> Result<(), Stale<V>> {
        DedupTable::complete(self, ticket, value, now)
    }
    fn abandon(&mut self, ticket: Ticket, now: Instant) -> bool {
        DedupTable::abandon(self, ticket, now)
    }
    fn get(&self, key: &K, now: Instant) -> Option<V> {
        DedupTable::get(self, key, now).cloned()
    }
    fn occupied(&self, now: Instant) -> usize {
        DedupTable::occupied(self, now)
    }
    fn metrics(&self) -> Metrics {
        DedupTable::metrics(self)
    }
    fn clear(&mut self) {
        DedupTable::clear(self);
    }
    fn reseed(&mut self, seed: Seed) {
        DedupTable::reseed(self, seed);
    }
}

impl DedupFamily for Local {
    type Table<K: Hash + Eq + Clone, V: Clone, const N: usize> = DedupTable<K, V, N>;
}

#[cfg(feature = "sync")]
mod shared_dedup {
    use super::*;
    use fusebox::dedup::{SharedBegin, SharedDedupTable, SharedTicket};

    impl<K: Hash + Eq + Clone, V: Clone, const N: usize> DedupOps<K, V>
        for SharedDedupTable<Raw, K, V, 1, N>
    {
        type Ticket = SharedTicket;
        fn build(config: Config, seed: Seed) -> Result<Self, ConfigError> {
            SharedDedupTable::new(config, seed)
        }
        fn begin(&mut self, key: K, now: Instant) -> Answer<V, SharedTicket> {
            // Through `&self`, as every thread would call it.
            let table: &Self = self;
            match table.begin(key, now) {
                SharedBegin::New(t) => Answer::New(t),
                SharedBegin::InFlight => Answer::InFlight,
                SharedBegin::Done(v) => Answer::Done(v),
                SharedBegin::Full => Answer::Full,
            }
        }
        fn complete(
            &mut self,
            ticket: SharedTicket,
            value: V,
            now: Instant,
        ) -> Result<(), Stale<V>> {
            SharedDedupTable::complete(self, ticket, value, now)
        }
        fn abandon(&mut self, ticket: SharedTicket, now: Instant) -> bool {
            SharedDedupTable::abandon(self, ticket, now)
        }
        fn get(&self, key: &K, now: Instant) -> Option<V> {
            SharedDedupTable::get(self, key, now)
        }
        fn occupied(&self, now: Instant) -> usize {
            SharedDedupTable::occupied(self, now)
        }
        fn metrics(&self) -> Metrics {
            SharedDedupTable::metrics(self)
        }
        fn clear(&mut self) {
            SharedDedupTable::clear(self);
        }
        fn reseed(&mut self, seed: Seed) {
            SharedDedupTable::reseed(self, seed);
        }
    }

    impl DedupFamily for Shared {
        type Table<K: Hash + Eq + Clone, V: Clone, const N: usize> =
            SharedDedupTable<Raw, K, V, 1, N>;
    }
}

// ---------------------------------------------------------------------------
// Keyed limiter.
// ---------------------------------------------------------------------------

/// A keyed limiter of either variant.
pub trait KeyedOps<K>: Sized {
    /// An empty limiter.
    fn build(quota: Quota, seed: Seed, policy: WhenFull) -> Self;
    /// As `try_acquire`.
    fn try_acquire(&mut self, key: K, now: Instant) -> Result<(), KeyedRejected>;
    /// As `try_acquire_n`.
    fn try_acquire_n(&mut self, key: K, n: u32, now: Instant) -> Result<(), KeyedRejected>;
    /// As `time_until`.
    fn time_until(&self, key: &K, n: u32, now: Instant) -> Result<Duration, ExceedsBurst>;
    /// As `available`.
    fn available(&self, key: &K, now: Instant) -> u32;
    /// As `contains`.
    fn contains(&self, key: &K) -> bool;
    /// As `len`.
    fn len(&self) -> usize;
    /// As `is_empty`.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// As `capacity`.
    fn capacity(&self) -> usize;
    /// As `clear`.
    fn clear(&mut self);
    /// As `metrics`.
    fn metrics(&self) -> KeyedMetrics;
}

/// A family of keyed limiters: `Limiter<K, N>`.
pub trait KeyedFamily {
    /// The limiter type.
    type Limiter<K: Hash + Eq, const N: usize>: KeyedOps<K>;
}

macro_rules! keyed_ops {
    ($($ty:tt)*) => {
        fn try_acquire(&mut self, key: K, now: Instant) -> Result<(), KeyedRejected> {
            <$($ty)*>::try_acquire(self, key, now)
        }
        fn try_acquire_n(&mut self, key: K, n: u32, now: Instant) -> Result<(), KeyedRejected> {
            <$($ty)*>::try_acquire_n(self, key, n, now)
        }
        fn time_until(&self, key: &K, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
            <$($ty)*>::time_until(self, key, n, now)
        }
        fn available(&self, key: &K, now: Instant) -> u32 {
            <$($ty)*>::available(self, key, now)
        }
        fn contains(&self, key: &K) -> bool {
            <$($ty)*>::contains(self, key)
        }
        fn len(&self) -> usize {
            <$($ty)*>::len(self)
        }
        fn capacity(&self) -> usize {
            <$($ty)*>::capacity(self)
        }
        fn clear(&mut self) {
            <$($ty)*>::clear(self)
        }
        fn metrics(&self) -> KeyedMetrics {
            <$($ty)*>::metrics(self)
        }
    };
}

impl<K: Hash + Eq, const N: usize> KeyedOps<K> for KeyedLimiter<K, N> {
    fn build(quota: Quota, seed: Seed, policy: WhenFull) -> Self {
        KeyedLimiter::new(quota, seed, policy)
    }
    keyed_ops!(KeyedLimiter<K, N>);
}

impl KeyedFamily for Local {
    type Limiter<K: Hash + Eq, const N: usize> = KeyedLimiter<K, N>;
}

#[cfg(feature = "sync")]
mod shared_keyed {
    use super::*;
    use fusebox::rate::SharedKeyedLimiter;

    impl<K: Hash + Eq, const N: usize> KeyedOps<K> for SharedKeyedLimiter<Raw, K, 1, N> {
        fn build(quota: Quota, seed: Seed, policy: WhenFull) -> Self {
            SharedKeyedLimiter::new(quota, seed, policy)
        }
        keyed_ops!(SharedKeyedLimiter<Raw, K, 1, N>);
    }

    impl KeyedFamily for Shared {
        type Limiter<K: Hash + Eq, const N: usize> = SharedKeyedLimiter<Raw, K, 1, N>;
    }
}

// ---------------------------------------------------------------------------
// Retry budget.
// ---------------------------------------------------------------------------

/// A retry budget of either variant.
pub trait BudgetOps: Sized {
    /// As `RetryBudget::new`.
    fn build(percent: u16, floor: u32, ttl: Duration) -> Result<Self, ConfigError>;
    /// As `deposit`.
    fn deposit(&mut self, now: Instant);
    /// As `try_withdraw`.
    fn try_withdraw(&mut self, now: Instant) -> bool;
    /// As `available`.
    fn available(&self, now: Instant) -> u64;
    /// As `slice_duration`.
    fn slice_duration(&self) -> Duration;
}

/// A family of budgets: `Budget<S>` for any number of slices.
pub trait BudgetFamily {
    /// The budget type.
    type Budget<const S: usize>: BudgetOps;
}

impl<const S: usize> BudgetOps for RetryBudget<S> {
    fn build(percent: u16, floor: u32, ttl: Duration) -> Result<Self, ConfigError> {
        RetryBudget::builder()
            .slices::<S>()
            .percent_can_retry(percent)
            .min_retries_per_sec(floor)
            .ttl(ttl)
            .build()
    }
    fn deposit(&mut self, now: Instant) {
        RetryBudget::deposit(self, now);
    }
    fn try_withdraw(&mut self, now: Instant) -> bool {
        RetryBudget::try_withdraw(self, now)
    }
    fn available(&self, now: Instant) -> u64 {
        RetryBudget::available(self, now)
    }
    fn slice_duration(&self) -> Duration {
        RetryBudget::slice_duration(self)
    }
}

impl BudgetFamily for Local {
    type Budget<const S: usize> = RetryBudget<S>;
}

#[cfg(feature = "sync")]
mod shared_budget {
    use super::*;
    use fusebox::rate::SharedRetryBudget;

    impl<const S: usize> BudgetOps for SharedRetryBudget<Raw, S> {
        fn build(percent: u16, floor: u32, ttl: Duration) -> Result<Self, ConfigError> {
            RetryBudget::builder()
                .slices::<S>()
                .percent_can_retry(percent)
                .min_retries_per_sec(floor)
                .ttl(ttl)
                .build()
                .map(SharedRetryBudget::new)
        }
        fn deposit(&mut self, now: Instant) {
            SharedRetryBudget::deposit(self, now);
        }
        fn try_withdraw(&mut self, now: Instant) -> bool {
            SharedRetryBudget::try_withdraw(self, now)
        }
        fn available(&self, now: Instant) -> u64 {
            SharedRetryBudget::available(self, now)
        }
        fn slice_duration(&self) -> Duration {
            SharedRetryBudget::slice_duration(self)
        }
    }

    impl BudgetFamily for Shared {
        type Budget<const S: usize> = SharedRetryBudget<Raw, S>;
    }
}

// ---------------------------------------------------------------------------
// Adaptive limit.
// ---------------------------------------------------------------------------

/// An AIMD limit of either variant.
pub trait AimdOps: Sized {
    /// As `AdaptiveLimit::new`.
    fn build(config: AimdConfig) -> Result<Self, ConfigError>;
    /// As `record`.
    fn record(&mut self, outcome: Call, latency: Duration, now: Instant) -> Option<LimitChange>;
    /// As `record_in_flight`.
    fn record_in_flight(
        &mut self,
        outcome: Call,
        latency: Duration,
        in_flight: u32,
        now: Instant,
    ) -> Option<LimitChange>;
    /// As `limit`.
    fn limit(&self) -> u32;
}

impl AimdOps for AdaptiveLimit {
    fn build(config: AimdConfig) -> Result<Self, ConfigError> {
        AdaptiveLimit::new(config)
    }
    fn record(&mut self, outcome: Call, latency: Duration, now: Instant) -> Option<LimitChange> {
        AdaptiveLimit::record(self, outcome, latency, now)
    }
    fn record_in_flight(
        &mut self,
        outcome: Call,
        latency: Duration,
        in_flight: u32,
        now: Instant,
    ) -> Option<LimitChange> {
        AdaptiveLimit::record_in_flight(self, outcome, latency, in_flight, now)
    }
    fn limit(&self) -> u32 {
        AdaptiveLimit::limit(self)
    }
}

#[cfg(feature = "sync")]
impl AimdOps for fusebox::bulkhead::SharedAdaptiveLimit {
    fn build(config: AimdConfig) -> Result<Self, ConfigError> {
        Self::new(config)
    }
    fn record(&mut self, outcome: Call, latency: Duration, now: Instant) -> Option<LimitChange> {
        Self::record(self, outcome, latency, now)
    }
    fn record_in_flight(
        &mut self,
        outcome: Call,
        latency: Duration,
        in_flight: u32,
        now: Instant,
    ) -> Option<LimitChange> {
        Self::record_in_flight(self, outcome, latency, in_flight, now)
    }
    fn limit(&self) -> u32 {
        Self::limit(self)
    }
}
