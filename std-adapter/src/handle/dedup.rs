//! [`DedupTable`]: a shared request-dedup / idempotency table.

use std::hash::Hash;
use std::sync::Arc;

use fusebox::dedup::{self, Config, Metrics, SharedTicket, Stale};
use fusebox::hash::Seed;
use fusebox::time::{Clock, Instant};

use crate::telemetry::{Kind, LimitTelemetry};
use crate::{BuildError, CoarseClock, Name};

/// The seam: the core's [`dedup::SharedDedupTable`] on `parking_lot`'s
/// lock, in one shard of `N` slots (the handle's `N` is the whole table,
/// and stable Rust cannot split it into `S` shards of `N / S` at the type
/// level), so it decides as the `&mut` table with the same seed.
#[derive(Debug)]
struct Cell<K, V, const N: usize>(dedup::SharedDedupTable<parking_lot::RawMutex, K, V, 1, N>);

impl<K: Hash + Eq, V: Clone, const N: usize> Cell<K, V, N> {
    #[inline]
    fn begin(&self, key: K, now: Instant) -> Result<SharedTicket, Answer<V>> {
        match self.0.begin(key, now) {
            dedup::SharedBegin::New(t) => Ok(t),
            dedup::SharedBegin::InFlight => Err(Answer::InFlight),
            dedup::SharedBegin::Done(v) => Err(Answer::Done(v)),
            dedup::SharedBegin::Full => Err(Answer::Full),
        }
    }
    #[inline]
    fn complete(&self, ticket: SharedTicket, value: V, now: Instant) -> Result<(), Stale<V>> {
        self.0.complete(ticket, value, now)
    }
    #[inline]
    fn abandon(&self, ticket: SharedTicket, now: Instant) -> bool {
        self.0.abandon(ticket, now)
    }
    fn get(&self, key: &K, now: Instant) -> Option<V> {
        self.0.get(key, now)
    }
    fn occupied(&self, now: Instant) -> usize {
        self.0.occupied(now)
    }
    fn metrics(&self) -> Metrics {
        self.0.metrics()
    }
}

#[derive(Debug)]
struct Inner<K, V, const N: usize, C> {
    name: Name,
    clock: C,
    cell: Cell<K, V, N>,
    telemetry: LimitTelemetry,
}

/// A fixed-capacity table of request keys (request dedup, idempotency
/// keys with a stored result), shared by every clone
/// (`Clone + Send + Sync`), on clock `C` (default [`CoarseClock`]). The
/// hash is seeded from the OS (`getrandom`). `N` is a power of two (checked
/// at compile time by the core).
///
/// [`begin`](Self::begin) answers with owned values: a stored result comes
/// back as a clone of `V` (use an `Arc` for large values).
///
/// ```
/// use fusebox::dedup::Config;
/// use fusebox_std::{Begin, DedupTable};
///
/// let payments = DedupTable::<u64, &'static str, 64>::new("payments", Config::new())?;
/// let Begin::New(work) = payments.begin(42) else { panic!("first sight") };
/// assert!(matches!(payments.begin(42), Begin::InFlight)); // a duplicate while it runs
/// work.complete("charged")?;
/// assert!(matches!(payments.begin(42), Begin::Done("charged"))); // the stored result
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DedupTable<K, V, const N: usize, C: Clock = CoarseClock> {
    inner: Arc<Inner<K, V, N, C>>,
}

impl<K, V, const N: usize, C: Clock> Clone for DedupTable<K, V, N, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, const N: usize, C: Clock> std::fmt::Debug for DedupTable<K, V, N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupTable")
            .field("name", &self.inner.name)
            .field("capacity", &N)
            .finish()
    }
}

/// What [`DedupTable::begin`] decided for a key.
#[derive(Debug)]
#[must_use = "`New` means the caller must run the work and complete the ticket"]
pub enum Begin<'a, K: Hash + Eq, V: Clone, const N: usize, C: Clock = CoarseClock> {
    /// First sight of the key: run the work, then
    /// [`complete`](Pending::complete) the ticket (dropping it abandons the
    /// key, so a retry may run it again).
    New(Pending<'a, K, V, N, C>),
    /// The work for this key runs under another ticket now.
    InFlight,
    /// The work ran; its stored result.
    Done(V),
    /// Every slot the key may use holds an entry that must not be
    /// forgotten: shed this request ("503, retry later").
    Full,
}

/// The ticket of work that [`DedupTable::begin`] said to run. Dropped
/// without [`complete`](Self::complete) (an error, a cancelled future), it
/// abandons the key at once, so the next `begin` answers `New`.
#[must_use = "complete the ticket; dropping it abandons the key"]
pub struct Pending<'a, K: Hash + Eq, V: Clone, const N: usize, C: Clock = CoarseClock> {
    ticket: Option<SharedTicket>,
    owner: &'a DedupTable<K, V, N, C>,
}

/// The seam's answers other than `New`.
enum Answer<V> {
    InFlight,
    Done(V),
    Full,
}

impl<K: Hash + Eq, V: Clone, const N: usize, C: Clock> std::fmt::Debug for Pending<'_, K, V, N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("ticket", &self.ticket)
            .finish()
    }
}

impl<K: Hash + Eq, V: Clone, const N: usize> DedupTable<K, V, N> {
    /// An empty table named `name` on [`CoarseClock`], seeded from the OS.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// TTL out of range.
    pub fn new(name: &str, config: Config) -> Result<Self, BuildError> {
        Self::with_clock(name, config, CoarseClock::new())
    }
}

impl<K: Hash + Eq, V: Clone, const N: usize, C: Clock> DedupTable<K, V, N, C> {
    /// As [`new`](DedupTable::new), on `clock`.
    ///
    /// # Errors
    /// As [`new`](DedupTable::new).
    pub fn with_clock(name: &str, config: Config, clock: C) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let table = dedup::SharedDedupTable::new(config, Seed::from_bytes(crate::os_seed()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                telemetry: LimitTelemetry::new(&name, Kind::Dedup),
                name,
                clock,
                cell: Cell(table),
            }),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// Ask whether the work `key` names must run now.
    pub fn begin(&self, key: K) -> Begin<'_, K, V, N, C> {
        let inner = &*self.inner;
        match inner.cell.begin(key, inner.clock.now()) {
            Ok(ticket) => {
                inner.telemetry.admitted(|| 0);
                Begin::New(Pending {
                    ticket: Some(ticket),
                    owner: self,
                })
            }
            Err(Answer::Done(v)) => {
                inner.telemetry.other();
                Begin::Done(v)
            }
            Err(Answer::Full) => {
                inner.telemetry.rejected(&inner.name, 1, None);
                Begin::Full
            }
            Err(Answer::InFlight) => {
                inner.telemetry.rejected(&inner.name, 0, None);
                Begin::InFlight
            }
        }
    }

    /// The stored result for `key`, if done and live.
    pub fn get(&self, key: &K) -> Option<V> {
        self.inner.cell.get(key, self.inner.clock.now())
    }

    /// Live entries now (in flight or done).
    pub fn occupied(&self) -> usize {
        self.inner.cell.occupied(self.inner.clock.now())
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The counters.
    pub fn metrics(&self) -> Metrics {
        self.inner.cell.metrics()
    }
}

impl<K: Hash + Eq, V: Clone, const N: usize, C: Clock> Pending<'_, K, V, N, C> {
    /// Store `value` as the key's result (answered by `begin` until the
    /// done TTL passes).
    ///
    /// # Errors
    /// [`Stale`] with the value if the entry expired (the in-flight TTL
    /// passed) or was replaced meanwhile.
    pub fn complete(mut self, value: V) -> Result<(), Stale<V>> {
        let t = self.owner;
        match self.ticket.take() {
            Some(ticket) => t.inner.cell.complete(ticket, value, t.inner.clock.now()),
            None => Err(Stale { value }),
        }
    }

    /// Give up the work now: the key is free for the next `begin`. Returns
    /// whether the entry was still the ticket's.
    pub fn abandon(mut self) -> bool {
        self.release()
    }

    fn release(&mut self) -> bool {
        let t = self.owner;
        match self.ticket.take() {
            Some(ticket) => t.inner.cell.abandon(ticket, t.inner.clock.now()),
            None => false,
        }
    }
}

impl<K: Hash + Eq, V: Clone, const N: usize, C: Clock> Drop for Pending<'_, K, V, N, C> {
    fn drop(&mut self) {
        let _was_ours = self.release();
    }
}
