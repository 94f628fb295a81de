//! [`SharedDedupTable`]: the dedup / idempotency table behind `&self`, in
//! `S` shards that each have their own lock (feature `sync`).

use core::hash::{BuildHasher, Hash};

use lock_api::{Mutex, RawMutex};

use super::{Begin, Config, DedupTable, Metrics, Stale, Ticket};
use crate::ConfigError;
use crate::hash::Seed;
use crate::shard::{Padded, shard_of};
use crate::time::Instant;

/// What [`SharedDedupTable::begin`] decided for a key: [`Begin`] with the
/// stored value handed out by clone (a shared table cannot lend a
/// reference past its shard's lock).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "`New` means the caller must run the work and complete or abandon the ticket"]
pub enum SharedBegin<V> {
    /// First sight of the key (in its lifetime): run the work, then
    /// [`complete`](SharedDedupTable::complete) or
    /// [`abandon`](SharedDedupTable::abandon) the ticket.
    New(SharedTicket),
    /// The work for this key is running under another ticket.
    InFlight,
    /// The work ran; a clone of its stored result.
    Done(V),
    /// Every slot of the key's window (in its shard) holds an entry that
    /// must not be forgotten: shed this request.
    Full,
}

/// Proof that the holder runs the work for a key of a
/// [`SharedDedupTable`]: its shard and the shard's [`Ticket`]. Neither
/// `Clone` nor `Copy`: one ticket, one outcome. 12 bytes.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "complete or abandon the ticket; a dropped ticket holds its key until the in-flight TTL"]
pub struct SharedTicket {
    shard: u32,
    ticket: Ticket,
}

/// The [`DedupTable`] behind `&self`, for many threads or cores at once
/// (feature `sync`): `S` shards of `N` slots (`N` a power of two), each a
/// [`DedupTable<K, V, N>`] behind its own lock, so `S x N` slots in all and
/// no lock for the whole table.
///
/// **Why shards, and which lock.** A slot holds a whole key, a whole value,
/// an expiry and a generation: more than one atomic word for any useful
/// `K` and `V`, and `forbid(unsafe_code)` rules out a seqlock over plain
/// memory. So each shard has a lock, and the lock is
/// [`lock_api::RawMutex`], chosen by the binary: `parking_lot::RawMutex` on
/// a server (an uncontended lock is one CAS; contended it parks),
/// `spin::mutex::SpinMutex<()>` (with spin's `portable_atomic` feature) on
/// an RP2040 whose tables are not touched from interrupts. `lock_api` is
/// no_std, never allocates and forces no critical-section implementation;
/// its guard hands out `&mut`, so the shard runs the `&mut` table's own
/// code (embassy-sync's `RawMutex` lends only `&T` inside a closure, which
/// needs a `RefCell` and a borrow check per call, and has no server
/// implementation but a critical section, one global lock on std).
///
/// **Same decisions.** A key is hashed once, with the caller's seed,
/// before any lock: the hash's top bits choose its shard (multiply-shift),
/// and its low bits its two homes in the shard's table (as in the `&mut`
/// table; the two never share bits while `S x N <= 2^32`, checked at
/// compile time). Everything else is the shard's
/// [`DedupTable`], fed the key's operations in the order their callers take
/// the shard's lock: the guarantee, transitions, eviction rules and
/// conventions of the [module docs](super) hold per shard, hence per key,
/// and with `S = 1` the decisions are those of `DedupTable<K, V, N>` built
/// with the same seed, one for one (the scenarios and property tests check
/// both). Each shard keeps the latest instant it has seen and judges an
/// earlier `now` at that instant (time going backwards counts as no time
/// elapsed), so for every key the time rule is the `&mut` table's. With
/// `S > 1` a key's window lies in its shard, so `Full` comes per shard.
///
/// `begin` answers [`SharedBegin`], whose `Done` carries a *clone* of the
/// stored value (so `V: Clone`; keep values small or `Copy`, or store an
/// index). Calls that look at every shard ([`occupied`](Self::occupied),
/// [`metrics`](Self::metrics), [`clear`](Self::clear)) lock one shard at a
/// time: they are exact when nothing runs concurrently, and a sum over
/// moments otherwise. Do not call the table from the key's own `Hash` or
/// `Eq` (it would wait on its own lock).
///
/// ```
/// use fusebox::dedup::{Config, SharedBegin, SharedDedupTable};
/// use fusebox::hash::Seed;
/// use fusebox::time::{Duration, Instant};
///
/// // 8 shards of 128 slots, each behind a parking_lot lock.
/// type Table = SharedDedupTable<parking_lot::RawMutex, u64, u32, 8, 128>;
/// let config = Config::new().in_flight_ttl(Duration::from_ticks(30));
/// let table = Table::new(config, Seed::new(0x5eed, 0xf00d))?;
/// let t = Instant::from_ticks;
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let SharedBegin::New(ticket) = table.begin(7, t(0)) else { panic!("first") };
///         assert!(table.complete(ticket, 4242, t(2)).is_ok());
///     });
/// });
/// assert_eq!(table.begin(7, t(5)), SharedBegin::Done(4242));
/// assert_eq!(table.capacity(), 1024);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Memory
///
/// On thumbv6m (and other targets without a data cache worth padding for):
/// `S x size_of::<Mutex<R, DedupTable<K, V, N>>>() + 16` (the seed): a
/// shard is the `&mut` table plus the raw mutex, rounded up to the table's
/// alignment (8 bytes more for a one-byte lock such as parking_lot's or
/// spin's). On x86_64 and aarch64 each shard is padded to a multiple of
/// 128 bytes and starts on such a boundary, and the seed after them takes
/// 128: `S x round_up(shard, 128) + 128`. Without the padding a shard's
/// tail (its counters and latest instant, written on every call) shares a
/// cache line with the next shard's lock, so two threads on neighbouring
/// shards take that line from each other (measured: begin + complete with
/// 2 threads 65.9 ns in run B -> 56.3 ns in run D, `dedup_shared` in
/// BENCHMARKS.md); dashmap pads its shards for the same reason. See the
/// [module docs](super) for the sizes asserted per target.
pub struct SharedDedupTable<R: RawMutex, K, V, const S: usize, const N: usize> {
    // Each shard on cache lines of its own on servers ([`Padded`]): a
    // shard's tail (its counters and latest instant, written on every
    // call) would otherwise share a line with the next shard's lock, and
    // two threads on neighbouring shards would take it from each other.
    shards: [Padded<Mutex<R, DedupTable<K, V, N>>>; S],
    // The caller's seed, which every shard's table also holds: a key is
    // hashed once, before any lock, for its shard and its slots.
    seed: Seed,
}

#[cfg(feature = "defmt")]
impl<R: RawMutex, K, V, const S: usize, const N: usize> defmt::Format
    for SharedDedupTable<R, K, V, S, N>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "SharedDedupTable {{ shards: {=usize}, slots_per_shard: {=usize} }}",
            S,
            N
        )
    }
}

impl<R: RawMutex, K, V, const S: usize, const N: usize> core::fmt::Debug
    for SharedDedupTable<R, K, V, S, N>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedDedupTable")
            .field("shards", &S)
            .field("slots_per_shard", &N)
            .finish_non_exhaustive()
    }
}

impl<R: RawMutex, K: Hash + Eq, V: Clone, const S: usize, const N: usize>
    SharedDedupTable<R, K, V, S, N>
{
    const SHARDS_OK: () = assert!(
        S >= 1 && S <= u32::MAX as usize,
        "SharedDedupTable needs at least one shard"
    );
    // The shard comes from the hash's top bits, the slots' two homes
    // from bits 0.. and 32.. (see `shard_index`): they stay apart while
    // S x N <= 2^32.
    const SLOTS_OK: () = assert!(
        (S as u64).saturating_mul(N as u64) <= 1 << 32,
        "SharedDedupTable holds at most 2^32 slots (S x N)"
    );

    /// An empty table of `S` shards. Fails if a field of `config` is out
    /// of range (as [`DedupTable::new`]); `S = 0`, or `N` not a power of
    /// two, fails to compile.
    ///
    /// Not `const` (an array of `S` locks cannot be built in a `const fn`
    /// without `unsafe`): a firmware keeps it in a `static` through a
    /// once-cell, or on its main task's stack.
    pub fn new(config: Config, seed: Seed) -> Result<Self, ConfigError> {
        let () = Self::SHARDS_OK;
        let () = Self::SLOTS_OK;
        // Checks `config` once; every shard is then built from it.
        config.validate()?;
        Ok(Self {
            shards: core::array::from_fn(|_| Padded(Mutex::new(DedupTable::empty(config, seed)))),
            seed,
        })
    }
}

impl<R: RawMutex, K: Hash + Eq, V: Clone, const S: usize, const N: usize>
    SharedDedupTable<R, K, V, S, N>
{
    /// The shard of a key of seeded hash `hash`: multiply-shift of the
    /// whole hash, which for `S` a power of two is its top `log2 S` bits,
    /// apart from the bits the shard's table takes its homes from (bits
    /// `0..log2 N` and `32..32 + log2 N`), so the keys of one shard are
    /// spread over its slots as evenly as the keys of a `&mut` table.
    #[inline(always)]
    fn shard_index(hash: u64) -> usize {
        if S == 1 { 0 } else { shard_of::<S>(hash) }
    }

    /// Ask whether the work named by `key` must run now: as
    /// [`DedupTable::begin`], with the stored value cloned. The key is
    /// hashed once, before the shard's lock is taken.
    #[inline]
    pub fn begin(&self, key: K, now: Instant) -> SharedBegin<V> {
        let hash = self.seed.hash_one(&key);
        let index = Self::shard_index(hash);
        let Some(shard) = self.shards.get(index) else {
            return SharedBegin::Full;
        };
        let mut table = shard.0.lock();
        match table.begin_hashed(key, hash, now) {
            Begin::New(ticket) => SharedBegin::New(SharedTicket {
                shard: index as u32,
                ticket,
            }),
            Begin::InFlight => SharedBegin::InFlight,
            Begin::Done(v) => SharedBegin::Done(v.clone()),
            Begin::Full => SharedBegin::Full,
        }
    }

    /// Store `value` as the result of the ticket's work, at `now`: as
    /// [`DedupTable::complete`] (a stale ticket hands the value back).
    #[inline]
    pub fn complete(&self, ticket: SharedTicket, value: V, now: Instant) -> Result<(), Stale<V>> {
        match self.shards.get(ticket.shard as usize) {
            Some(shard) => shard.0.lock().complete(ticket.ticket, value, now),
            None => Err(Stale { value }),
        }
    }

    /// Give up the ticket's work at `now`: as [`DedupTable::abandon`],
    /// which it calls in the ticket's shard.
    #[inline]
    pub fn abandon(&self, ticket: SharedTicket, now: Instant) -> bool {
        match self.shards.get(ticket.shard as usize) {
            Some(shard) => shard.0.lock().abandon(ticket.ticket, now),
            None => false,
        }
    }

    /// A clone of the stored result for `key` if it is done and live at
    /// `now`, without starting anything.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let hash = self.seed.hash_one(key);
        let shard = self.shards.get(Self::shard_index(hash))?;
        shard.0.lock().get_hashed(key, hash, now).cloned()
    }

    /// Live entries (in flight or done) at `now`, summed shard by shard.
    pub fn occupied(&self, now: Instant) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().occupied(now))
            .fold(0, usize::saturating_add)
    }

    /// Forget every entry; outstanding tickets become stale. Metrics are
    /// kept.
    pub fn clear(&self) {
        for s in &self.shards {
            s.0.lock().clear();
        }
    }

    /// The counters, summed over the shards (each wraps at `u32::MAX`).
    pub fn metrics(&self) -> Metrics {
        let mut sum = Metrics::default();
        for s in &self.shards {
            let m = s.0.lock().metrics();
            sum.new = sum.new.wrapping_add(m.new);
            sum.in_flight = sum.in_flight.wrapping_add(m.in_flight);
            sum.done = sum.done.wrapping_add(m.done);
            sum.full = sum.full.wrapping_add(m.full);
            sum.evicted = sum.evicted.wrapping_add(m.evicted);
            sum.completed = sum.completed.wrapping_add(m.completed);
            sum.stale = sum.stale.wrapping_add(m.stale);
        }
        sum
    }

    /// Replace the seed (random bits read at boot, say): as
    /// [`DedupTable::reseed`], in every shard. Forgets every entry, and
    /// takes `&mut self` since every key's shard moves.
    pub fn reseed(&mut self, seed: Seed) {
        for s in &mut self.shards {
            s.0.get_mut().reseed(seed);
        }
        self.seed = seed;
    }

    /// The capacity, `S x N` slots.
    pub const fn capacity(&self) -> usize {
        S.saturating_mul(N)
    }

    /// The number of shards, `S`.
    pub const fn shards(&self) -> usize {
        S
    }

    /// The shard `key` lives in, in `0..S` (for tests and diagnostics).
    pub fn shard_of(&self, key: &K) -> usize {
        Self::shard_index(self.seed.hash_one(key))
    }
}
