//! Dedup and idempotency table: "have I already seen, or am I already
//! doing, this request?" in fixed memory.
//!
//! A [`DedupTable`] answers, for each key (an idempotency key, a request id,
//! a radio frame's sequence number, an MQTT packet id), whether the work it
//! names must run now. [`DedupTable::begin`] answers with a [`Begin`]:
//!
//! - [`Begin::New`]: the caller runs the work, and holds a [`Ticket`] for it;
//! - [`Begin::InFlight`]: someone else is running it; do not run it twice;
//! - [`Begin::Done`]: it ran; here is its stored result (the response for an
//!   idempotency key, `()` for a duplicate frame);
//! - [`Begin::Full`]: every slot the key may use holds work that must not be
//!   forgotten; shed this request.
//!
//! [`SharedDedupTable`] (feature `sync`) is the same table behind `&self`
//! for many threads or cores: `S` shards of `N` slots, each a `DedupTable`
//! behind its own lock (a `lock_api::RawMutex` the binary picks), with the
//! same decisions, answering `Done` with a clone of the stored value.
//!
//! The holder of the ticket then stores the result with
//! [`DedupTable::complete`], or gives the key up with
//! [`DedupTable::abandon`] so that a retry may run it (a failed payment may be
//! retried; a succeeded one must not be charged twice).
//!
//! ```
//! use fusebox::dedup::{Begin, Config, DedupTable, Eviction};
//! use fusebox::hash::Seed;
//! use fusebox::time::{Duration, Instant};
//!
//! // Idempotency keys: a stored payment result must never be forgotten
//! // before its TTL, so keep done entries (the caller sheds on `Full`).
//! let config = Config::new()
//!     .in_flight_ttl(Duration::from_ticks(30))
//!     .done_ttl(Duration::from_ticks(1_000))
//!     .eviction(Eviction::KeepDone);
//! let seed = Seed::new(0x5eed, 0xf00d); // 128 random bits in real use
//! let mut table: DedupTable<u64, u32, 64> = DedupTable::new(config, seed)?;
//! let t = Instant::from_ticks;
//!
//! // The first request with key 7 runs the work...
//! let Begin::New(ticket) = table.begin(7, t(0)) else { panic!("first sight") };
//! // ...a concurrent retry is told it is already running...
//! assert_eq!(table.begin(7, t(1)), Begin::InFlight);
//! // ...the work stores its result (a payment id, a response)...
//! assert!(table.complete(ticket, 4242, t(2)).is_ok());
//! // ...and later retries get the stored result, without running it again.
//! assert_eq!(table.begin(7, t(500)), Begin::Done(&4242));
//! // Once the done TTL has passed, the key is new again.
//! assert!(matches!(table.begin(7, t(1_002)), Begin::New(_)));
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # The guarantee
//!
//! A key's *lifetime* in the table starts when `begin(k, t0)` answers `New`
//! and ends at the first of: `abandon` of its ticket; `now >= t0 +
//! in_flight_ttl` while it is in flight; `now >= tc + done_ttl` after
//! `complete` at `tc`; or, under [`Eviction::EvictDone`] only, the eviction
//! of its done entry (counted in [`Metrics::evicted`]). Then:
//!
//! ```text
//! for every key k and every lifetime [start, end) of k:
//!     #{ begin(k, t) = New : start <= t < end } = 1    (the one that started it)
//!     every other begin(k, t) in [start, end) answers InFlight, or Done(v)
//!     with v the value its ticket completed
//! ```
//!
//! so between two consecutive lifetimes, after an abandon or an expiry,
//! `begin` answers `New` at most once more. An in-flight entry is never
//! evicted, and under [`Eviction::KeepDone`] neither is a done entry before
//! its TTL: a key can be forgotten early only as a done entry under
//! `EvictDone`, and only to make room for another key.
//!
//! The in-flight TTL is what frees a key whose worker crashed (or whose
//! future was dropped): **set it above the operation's own timeout**, or a
//! slow worker's key expires while it runs, a retry is answered `New` and the
//! work runs twice (the slow worker's late `complete` is then
//! [`Stale`]).
//!
//! # Transitions of one key
//!
//! | from | event | to | `begin` answers |
//! |---|---|---|---|
//! | absent | `begin` with a vacant slot in the window | InFlight | `New(ticket)` |
//! | absent | `begin`, window full, `EvictDone`, a live done entry in it | InFlight (the oldest done entry of the window is evicted) | `New(ticket)` |
//! | absent | `begin`, window full of in-flight (or, under `KeepDone`, live done) entries | absent | `Full` |
//! | InFlight | `begin` before `t0 + in_flight_ttl` | InFlight | `InFlight` |
//! | InFlight | `complete(ticket, v, tc)` before `t0 + in_flight_ttl` | Done(v) until `tc + done_ttl` | |
//! | InFlight | `abandon(ticket, now)` before `t0 + in_flight_ttl` | absent | |
//! | InFlight | `now >= t0 + in_flight_ttl` | absent (a late `complete` is `Stale`) | |
//! | Done(v) | `begin` before `tc + done_ttl` | Done(v) | `Done(&v)` |
//! | Done(v) | `now >= tc + done_ttl` | absent | |
//! | Done(v) | evicted by another key's `begin` (`EvictDone` only) | absent | |
//!
//! # Conventions
//! - An entry made at `t` with a TTL `D` is live while `now < t + D`; at
//!   `now >= t + D` it has expired (the tick itself counts). A done entry's
//!   TTL runs from `complete`, not from `begin`.
//! - When a key needs a slot: its own expired entry's slot if it has one
//!   (so a key never has more than one entry); else a vacant or expired
//!   slot of its window (the first one of the half window with more of
//!   them; see below); then, under `EvictDone`, the oldest done entry of the
//!   window (the one that expires first); otherwise `Full`. Expiry is lazy:
//!   an expired entry is reused when a key needs its slot, and never
//!   answers `InFlight` or `Done` again.
//! - A [`Ticket`] names its slot and a generation: `complete` and `abandon`
//!   go straight to the slot (no rehash), and change nothing unless the slot
//!   still holds that generation's in-flight entry. `complete` with a ticket
//!   whose entry expired or was replaced returns [`Stale`] with the value, so
//!   the caller knows it was not stored. Generations are a table-wide `u32`
//!   counter: a ticket could only be mistaken for a newer one if 2^32 keys
//!   began in its slot's table within one in-flight TTL.
//! - `abandon` takes `now`, like `complete`: it frees the ticket's entry if
//!   the slot still holds it live, and answers `false` for an expired one
//!   (which is free already), whether or not another key has reused the
//!   slot since: the answer depends on the timeline, never on the hash seed.
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant (the
//!   table keeps the latest `now` it was given and judges expiry by that,
//!   so an expired entry never comes back). Instants and TTLs near `u64::MAX` saturate (an entry
//!   whose expiry would overflow lives until `Instant::MAX`).
//! - Keys are placed by a hash keyed with the caller's [`Seed`]. A key's
//!   *window* is [`PROBE_WINDOW`] = 8 slots: two runs of 4 consecutive slots
//!   at two homes taken from the hash (`hash & (N - 1)` and
//!   `(hash >> 32) & (N - 1)`), or, in tables of 8 slots or fewer, the whole
//!   table. A new key goes to the half with more free slots (the "power of
//!   two choices": filled with in-flight entries under 200 random seeds, a
//!   1024-slot table first answered `Full` at a median of 598 live entries,
//!   281 at worst, against 439 and 236 with one run of 8 slots). Every
//!   operation looks at no more than those 8 slots, and `complete` and
//!   `abandon` at one: a client who finds colliding keys can
//!   fill one window and get `Full` for keys whose windows lie inside it,
//!   never slow operations, and never the eviction of an in-flight entry.
//!   [`DedupTable::window`] lists a key's slots.
//! - Size a `KeepDone` table (or one with many in-flight entries) at about
//!   four times its peak of live entries to make `Full` rare; `Full` is
//!   a value to handle (shed the request), never a panic or a slow path.
//! - `N` must be a power of two from 1 to 2^31; anything else fails to
//!   compile.
//!
//! # Memory
//!
//! Everything is inline: `N` slots, the seed, the configuration and the
//! counters; no allocation, no heap, no growth. A slot holds the key, the
//! value, the expiry instant, the generation and the state. Sizes in bytes
//! (asserted at compile time on 64-bit and 32-bit targets):
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | `DedupTable<u64, (), 64>` | 1616 | 1616 |
//! | `DedupTable<u128, [u8; 32], 256>` | 16464 | 16464 |
//! | slot of `<u64, ()>` | 24 | 24 |
//! | slot of `<u128, [u8; 32]>` | 64 (align 16) | 64 (align 8) |
//! | slot of `<u128, [u8; 16]>` | 48 (align 16) | 48 (align 8) |
//! | [`Ticket`] | 8 | 8 |
//! | `SharedDedupTable<R, u64, (), 4, 64>`, one-byte `R` | 6784 (shards padded to 128) | 6512 |
//! | `SharedTicket` | 12 | 12 |
//!
//! In general: `N x slot + 80`, rounded up to the slot's alignment, on both
//! targets. A slot is the key, the value, 8 bytes of expiry, 4 of generation
//! and one of state, rounded up to the alignment of the largest field
//! (`u64` aligns to 8 on both targets; `u128` to 16 on x86_64 and 8 on
//! thumbv6m, which can make a slot 8 bytes smaller there, though not for the
//! two tables above). The 80 bytes are the seed (16), the configuration
//! (24), the counters (28), the latest instant seen (8) and the generation
//! counter (4). A `SharedDedupTable<R, K, V, S, N>` is `S` shards of the
//! `&mut` table plus the raw mutex (rounded up to the table's alignment: 8
//! or 16 bytes more for a one-byte lock such as parking_lot's or spin's),
//! plus 16 bytes of shard seed.

use core::hash::{BuildHasher, Hash};

use crate::ConfigError;
use crate::hash::Seed;
use crate::time::{self, Duration, Instant};

#[cfg(feature = "sync")]
mod shared;
#[cfg(feature = "sync")]
pub use shared::{SharedBegin, SharedDedupTable, SharedTicket};

/// The most slots a key may occupy, and the most any operation looks at:
/// two runs of 4 at the key's two homes (see [`DedupTable::window`]).
/// Tables of 8 slots or fewer use all `N` slots as the window.
pub const PROBE_WINDOW: usize = 8;

/// What to do when a key's window holds no vacant or expired slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Eviction {
    /// Evict the oldest done entry of the window (the one that expires
    /// first). For duplicate-frame suppression and result caching, where
    /// forgetting an old id only risks processing a very late duplicate.
    EvictDone,
    /// Never evict an unexpired done entry: answer `Full` instead. For
    /// idempotency keys, where forgetting a stored payment result is how a
    /// retry charges twice.
    KeepDone,
}

/// TTLs and eviction policy of a [`DedupTable`].
///
/// Setters are `const fn` and do not check; [`DedupTable::new`] checks the
/// whole configuration and names the first field out of range.
///
/// ```
/// use fusebox::dedup::{Config, DedupTable, Eviction};
/// use fusebox::hash::Seed;
/// use fusebox::time::Duration;
///
/// let bad = Config::new().done_ttl(Duration::from_ticks(0));
/// let err = DedupTable::<u32, (), 16>::new(bad, Seed::new(1, 2)).unwrap_err();
/// assert_eq!(err.field(), "done_ttl");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    in_flight_ttl: Duration,
    done_ttl: Duration,
    eviction: Eviction,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults: in flight for at most 30 s, done entries kept for
    /// 5 min, [`Eviction::KeepDone`] (the safe choice for idempotency keys).
    /// Durations are converted at the binary's tick rate.
    pub const fn new() -> Self {
        Self {
            in_flight_ttl: Duration::from_secs(30),
            done_ttl: Duration::from_secs(300),
            eviction: Eviction::KeepDone,
        }
    }

    /// How long an entry may stay in flight before its key is free again
    /// (at least 1 tick). Set it above the operation's own timeout: a worker
    /// that completes later finds its ticket [`Stale`], and a retry after the
    /// TTL runs the work again. Read back with
    /// [`in_flight_time_to_live`](Self::in_flight_time_to_live).
    pub const fn in_flight_ttl(mut self, ttl: Duration) -> Self {
        self.in_flight_ttl = ttl;
        self
    }

    /// How long a completed entry answers `Done` with its stored value,
    /// counted from `complete` (at least 1 tick). Read back with
    /// [`done_time_to_live`](Self::done_time_to_live).
    pub const fn done_ttl(mut self, ttl: Duration) -> Self {
        self.done_ttl = ttl;
        self
    }

    /// What to do when a key's window is full (default
    /// [`Eviction::KeepDone`]). Read back with
    /// [`eviction_policy`](Self::eviction_policy).
    pub const fn eviction(mut self, eviction: Eviction) -> Self {
        self.eviction = eviction;
        self
    }

    // The getters have their own names, as every fusebox config's do
    // (`breaker::Config::slow_call_duration`, `i2c::Config::write_retry`):
    // the field's name is the builder's setter.

    /// The in-flight TTL, set by [`in_flight_ttl`](Self::in_flight_ttl).
    pub const fn in_flight_time_to_live(&self) -> Duration {
        self.in_flight_ttl
    }

    /// The done TTL, set by [`done_ttl`](Self::done_ttl).
    pub const fn done_time_to_live(&self) -> Duration {
        self.done_ttl
    }

    /// The eviction policy, set by [`eviction`](Self::eviction).
    pub const fn eviction_policy(&self) -> Eviction {
        self.eviction
    }

    /// Check every field; the error names the first one out of range.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.in_flight_ttl.as_ticks() == 0 {
            return Err(ConfigError::new(
                "in_flight_ttl",
                "be at least 1 tick (0 would expire work as it starts, and run it twice)",
            ));
        }
        if self.done_ttl.as_ticks() == 0 {
            return Err(ConfigError::new(
                "done_ttl",
                "be at least 1 tick (0 would forget a result as it is stored)",
            ));
        }
        Ok(())
    }
}

/// Proof that the holder runs the work for a key: hand it to
/// [`DedupTable::complete`] with the result, or to [`DedupTable::abandon`].
///
/// It names the key's slot and the entry's generation, so neither needs the
/// key nor a rehash. It is neither `Clone` nor `Copy`: one ticket, one
/// outcome. Dropping it is safe: the entry expires after the in-flight TTL.
/// A ticket belongs to the table that issued it; handed to another table it
/// is (almost surely) stale there.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "complete or abandon the ticket; a dropped ticket holds its key until the in-flight TTL"]
pub struct Ticket {
    index: u32,
    generation: u32,
}

/// What [`DedupTable::begin`] decided for a key.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "`New` means the caller must run the work and complete or abandon the ticket"]
pub enum Begin<'a, V> {
    /// First sight of the key (in its lifetime): run the work, then
    /// [`complete`](DedupTable::complete) or
    /// [`abandon`](DedupTable::abandon) the ticket.
    New(Ticket),
    /// The work for this key is running under another ticket: do not run it
    /// twice (answer "409, in progress", or drop the duplicate frame).
    InFlight,
    /// The work ran; this is its stored result.
    Done(&'a V),
    /// Every slot of the key's window holds an entry that must not be
    /// forgotten: shed this request (answer "503, retry later").
    Full,
}

/// [`DedupTable::complete`] did not store the value: the ticket's entry
/// expired (the in-flight TTL passed) or was abandoned or replaced. The value
/// is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stale<V> {
    /// The value that was not stored.
    pub value: V,
}

impl<V> core::fmt::Display for Stale<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(
            "dedup ticket is stale: its entry expired or was replaced; the result was not stored",
        )
    }
}

impl<V: core::fmt::Debug> core::error::Error for Stale<V> {}

/// Counters of what the table decided. Each wraps at `u32::MAX` (take
/// differences with `wrapping_sub`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Metrics {
    /// `begin` answered `New`.
    pub new: u32,
    /// `begin` answered `InFlight`.
    pub in_flight: u32,
    /// `begin` answered `Done`.
    pub done: u32,
    /// `begin` answered `Full`.
    pub full: u32,
    /// Live done entries evicted to make room (`EvictDone` only).
    pub evicted: u32,
    /// Values stored by `complete`.
    pub completed: u32,
    /// `complete` or `abandon` with a stale ticket.
    pub stale: u32,
}

#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Slot<K, V> {
    Empty,
    InFlight {
        key: K,
        expires: Instant,
        generation: u32,
    },
    Done {
        key: K,
        value: V,
        expires: Instant,
    },
}

/// Where a key's probe ended.
enum Probe {
    /// A live entry of the key.
    Hit(usize),
    /// A vacant or expired slot.
    Vacant(usize),
    /// No vacant slot; the oldest live done entry (under `EvictDone`).
    Evict(usize),
    Full,
}

/// A fixed-capacity dedup / idempotency table of `N` slots (a power of two)
/// mapping keys `K` to results `V`. See the [module docs](self) for the
/// guarantee, the transitions and the conventions.
///
/// Duplicate radio frames or MQTT packet ids on a gateway:
///
/// ```
/// use fusebox::dedup::{Begin, Config, DedupTable, Eviction};
/// use fusebox::hash::Seed;
/// use fusebox::time::{Duration, Instant};
///
/// // Forget a frame id after 2 s; when a window is full, drop the oldest id.
/// let config = Config::new()
///     .in_flight_ttl(Duration::from_millis(100))
///     .done_ttl(Duration::from_secs(2))
///     .eviction(Eviction::EvictDone);
/// let mut seen: DedupTable<u32, (), 32> = DedupTable::new(config, Seed::new(3, 4))?;
///
/// let mut handled = 0;
/// let now = Instant::from_ticks(0);
/// for frame_id in [10, 11, 10, 12, 11, 10] {
///     if let Begin::New(ticket) = seen.begin(frame_id, now) {
///         handled += 1; // process the frame
///         let _ = seen.complete(ticket, (), now);
///     } // InFlight / Done: a duplicate, drop it
/// }
/// assert_eq!(handled, 3);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DedupTable<K, V, const N: usize> {
    slots: [Slot<K, V>; N],
    seed: Seed,
    config: Config,
    metrics: Metrics,
    // The latest `now` seen: expiry is judged by it, so time that goes
    // backwards brings no expired entry back.
    latest: Instant,
    next_generation: u32,
}

impl<K: Hash + Eq, V, const N: usize> DedupTable<K, V, N> {
    const MASK: usize = {
        assert!(
            N.is_power_of_two() && N <= 1 << 31,
            "DedupTable capacity N must be a power of two in 1..=2^31"
        );
        N.wrapping_sub(1)
    };
    const WINDOW: usize = if N < PROBE_WINDOW { N } else { PROBE_WINDOW };
    // Tables larger than the window place each key in one of two half
    // windows; smaller ones use every slot.
    const TWO_HOMES: bool = N > PROBE_WINDOW;
    const HALF: usize = PROBE_WINDOW / 2;

    /// An empty table. Fails if a field of `config` is out of range.
    /// `N` not a power of two (or above 2^31) fails to compile.
    ///
    /// `const`, so a firmware can build it at compile time (in a `static`
    /// behind a mutex), seeded at boot with [`reseed`](Self::reseed).
    ///
    /// A capacity that is not a power of two does not compile:
    ///
    /// ```compile_fail
    /// use fusebox::dedup::{Config, DedupTable};
    /// use fusebox::hash::Seed;
    ///
    /// let table = DedupTable::<u32, (), 12>::new(Config::new(), Seed::new(1, 2));
    /// ```
    pub const fn new(config: Config, seed: Seed) -> Result<Self, ConfigError> {
        // Evaluating MASK checks N at compile time.
        let _ = Self::MASK;
        if let Err(e) = config.validate() {
            return Err(e);
        }
        Ok(Self::empty(config, seed))
    }

    /// An empty table with a `config` already validated (the shared table
    /// builds its shards with it, so it needs no `K: Clone`).
    pub(crate) const fn empty(config: Config, seed: Seed) -> Self {
        let _ = Self::MASK;
        Self {
            slots: [const { Slot::Empty }; N],
            seed,
            config,
            metrics: Metrics {
                new: 0,
                in_flight: 0,
                done: 0,
                full: 0,
                evicted: 0,
                completed: 0,
                stale: 0,
            },
            latest: Instant::from_ticks(0),
            next_generation: 0,
        }
    }

    /// Ask whether the work named by `key` must run now. See [`Begin`].
    ///
    /// Looks at no more than [`PROBE_WINDOW`] slots, whatever the keys.
    #[inline]
    pub fn begin(&mut self, key: K, now: Instant) -> Begin<'_, V> {
        let now = self.observe(now);
        let probe = self.probe(&key, now);
        self.begin_probed(key, now, probe)
    }

    /// [`begin`](Self::begin) for a key whose seeded hash the caller has
    /// (the shared table hashes once for the shard and the slots).
    #[cfg(feature = "sync")]
    #[inline]
    pub(crate) fn begin_hashed(&mut self, key: K, hash: u64, now: Instant) -> Begin<'_, V> {
        let now = self.observe(now);
        let probe = self.probe_hashed(&key, hash, now);
        self.begin_probed(key, now, probe)
    }

    /// `begin` once the key's window has been probed at `now`.
    #[inline(always)]
    fn begin_probed(&mut self, key: K, now: Instant, probe: Probe) -> Begin<'_, V> {
        match probe {
            Probe::Hit(i) => {
                if !matches!(self.slots.get(i), Some(Slot::Done { .. })) {
                    self.metrics.in_flight = self.metrics.in_flight.wrapping_add(1);
                    return Begin::InFlight;
                }
                self.metrics.done = self.metrics.done.wrapping_add(1);
                match self.slots.get(i) {
                    Some(Slot::Done { value, .. }) => Begin::Done(value),
                    _ => Begin::InFlight,
                }
            }
            Probe::Vacant(i) => self.start(i, key, now),
            Probe::Evict(i) => {
                self.metrics.evicted = self.metrics.evicted.wrapping_add(1);
                self.start(i, key, now)
            }
            Probe::Full => {
                self.metrics.full = self.metrics.full.wrapping_add(1);
                Begin::Full
            }
        }
    }

    /// Store `value` as the result of the ticket's work, at `now`. It answers
    /// `Done(&value)` to the key's `begin` until `now + done_ttl`.
    ///
    /// If the ticket's entry expired (the in-flight TTL passed) or was
    /// replaced, nothing changes and the value comes back in [`Stale`].
    #[inline]
    pub fn complete(&mut self, ticket: Ticket, value: V, now: Instant) -> Result<(), Stale<V>> {
        let now = self.observe(now);
        let i = ticket.index as usize;
        let Some(slot) = self.slots.get_mut(i) else {
            self.metrics.stale = self.metrics.stale.wrapping_add(1);
            return Err(Stale { value });
        };
        let live = match slot {
            Slot::InFlight {
                generation,
                expires,
                ..
            } if *generation == ticket.generation => Some(now < *expires),
            _ => None,
        };
        match live {
            Some(true) => {
                let expires = time::add(now, self.config.done_ttl);
                match core::mem::replace(slot, Slot::Empty) {
                    Slot::InFlight { key, .. } => {
                        *slot = Slot::Done {
                            key,
                            value,
                            expires,
                        };
                        self.metrics.completed = self.metrics.completed.wrapping_add(1);
                        Ok(())
                    }
                    // Checked just above: the slot holds the in-flight entry.
                    other => {
                        *slot = other;
                        self.metrics.stale = self.metrics.stale.wrapping_add(1);
                        Err(Stale { value })
                    }
                }
            }
            Some(false) => {
                // Expired in flight: free the slot now.
                *slot = Slot::Empty;
                self.metrics.stale = self.metrics.stale.wrapping_add(1);
                Err(Stale { value })
            }
            None => {
                self.metrics.stale = self.metrics.stale.wrapping_add(1);
                Err(Stale { value })
            }
        }
    }

    /// Give up the ticket's work: its key is free, and the next `begin` for
    /// it answers `New` (a failed payment may be retried).
    ///
    /// Returns whether the ticket's entry was still live at `now` and so was
    /// freed; `false` if it had expired (its slot is freed if it still
    /// holds it) or been replaced, which changes nothing else.
    #[inline]
    pub fn abandon(&mut self, ticket: Ticket, now: Instant) -> bool {
        let now = self.observe(now);
        if let Some(slot) = self.slots.get_mut(ticket.index as usize) {
            if let Slot::InFlight {
                generation,
                expires,
                ..
            } = slot
            {
                if *generation == ticket.generation {
                    let live = now < *expires;
                    *slot = Slot::Empty;
                    if live {
                        return true;
                    }
                }
            }
        }
        self.metrics.stale = self.metrics.stale.wrapping_add(1);
        false
    }

    /// The stored result for `key` if it is done and live at `now`, without
    /// starting anything.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        let now = time::at_latest(now, self.latest);
        self.got(self.probe(key, now))
    }

    /// [`get`](Self::get) for a key whose seeded hash the caller has.
    #[cfg(feature = "sync")]
    pub(crate) fn get_hashed(&self, key: &K, hash: u64, now: Instant) -> Option<&V> {
        let now = time::at_latest(now, self.latest);
        self.got(self.probe_hashed(key, hash, now))
    }

    /// `get`'s answer from the probe of the key's window.
    #[inline(always)]
    fn got(&self, probe: Probe) -> Option<&V> {
        match probe {
            Probe::Hit(i) => match self.slots.get(i) {
                Some(Slot::Done { value, .. }) => Some(value),
                _ => None,
            },
            _ => None,
        }
    }

    /// Live entries (in flight or done) at `now`. Looks at every slot.
    pub fn occupied(&self, now: Instant) -> usize {
        let now = time::at_latest(now, self.latest);
        self.slots
            .iter()
            .filter(|s| match s {
                Slot::Empty => false,
                Slot::InFlight { expires, .. } | Slot::Done { expires, .. } => now < *expires,
            })
            .count()
    }

    /// Live in-flight entries at `now`: keys begun and neither completed,
    /// abandoned nor expired (their tickets still out). Looks at every
    /// slot. Zero once every ticket handed out was completed or
    /// abandoned: a leak check.
    ///
    /// ```
    /// use fusebox::dedup::{Begin, Config, DedupTable};
    /// use fusebox::hash::Seed;
    /// use fusebox::time::Instant;
    ///
    /// let mut table: DedupTable<u32, u32, 4> = DedupTable::new(Config::new(), Seed::new(1, 2))?;
    /// let now = Instant::from_ticks(0);
    /// let Begin::New(ticket) = table.begin(7, now) else { panic!("first sight") };
    /// assert_eq!((table.in_flight(now), table.occupied(now)), (1, 1));
    /// table.complete(ticket, 42, now).expect("live");
    /// assert_eq!((table.in_flight(now), table.occupied(now)), (0, 1));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn in_flight(&self, now: Instant) -> usize {
        let now = time::at_latest(now, self.latest);
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::InFlight { expires, .. } if now < *expires))
            .count()
    }

    /// Forget every entry; outstanding tickets become stale. Metrics and the
    /// seed are kept.
    pub fn clear(&mut self) {
        for s in &mut self.slots {
            *s = Slot::Empty;
        }
        // Tickets name a slot and a generation: moving the generation on
        // makes every outstanding ticket stale even if its slot is reused.
        self.next_generation = self.next_generation.wrapping_add(1);
    }

    /// Replace the seed (e.g. with random bits read at boot, for a table
    /// built in a `const`). Forgets every entry, since their places depend on
    /// the old seed.
    pub fn reseed(&mut self, seed: Seed) {
        self.seed = seed;
        self.clear();
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The counters.
    pub const fn metrics(&self) -> Metrics {
        self.metrics
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The slots `key` may occupy, in the order [`begin`](Self::begin)
    /// looks at them: for `N > PROBE_WINDOW`, two runs of
    /// `PROBE_WINDOW / 2` slots starting at two homes taken from the seeded
    /// hash (`hash & (N - 1)` and `(hash >> 32) & (N - 1)`); for smaller
    /// tables, every slot from the first home on. For tests and diagnostics.
    pub fn window(&self, key: &K) -> [usize; PROBE_WINDOW] {
        let (a, b) = self.homes(key);
        let mut out = [0; PROBE_WINDOW];
        for (step, o) in out.iter_mut().enumerate() {
            *o = Self::index(a, b, step);
        }
        out
    }

    #[inline]
    fn homes(&self, key: &K) -> (usize, usize) {
        Self::homes_of(self.seed.hash_one(key))
    }

    /// The two homes of a key of seeded hash `h`.
    #[inline]
    const fn homes_of(h: u64) -> (usize, usize) {
        ((h as usize) & Self::MASK, ((h >> 32) as usize) & Self::MASK)
    }

    /// The `step`-th slot of the window of homes `a` and `b`.
    #[inline]
    fn index(a: usize, b: usize, step: usize) -> usize {
        let i = if Self::TWO_HOMES && step >= Self::HALF {
            b.wrapping_add(step.wrapping_sub(Self::HALF))
        } else {
            a.wrapping_add(step)
        };
        i & Self::MASK
    }

    #[inline]
    fn observe(&mut self, now: Instant) -> Instant {
        time::observe(&mut self.latest, now)
    }

    #[inline]
    fn start(&mut self, i: usize, key: K, now: Instant) -> Begin<'_, V> {
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1);
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Slot::InFlight {
                key,
                expires: time::add(now, self.config.in_flight_ttl),
                generation,
            };
        }
        self.metrics.new = self.metrics.new.wrapping_add(1);
        Begin::New(Ticket {
            index: i as u32,
            generation,
        })
    }

    /// One pass over the key's window: its live entry if there is one, else
    /// the first vacant or expired slot of the emptier half, else (under
    /// `EvictDone`) the oldest live done entry.
    ///
    /// Not inlined: inlined into a caller's loop, the compiler turned the
    /// conditional moves of the second pass back into branches that
    /// mispredict on fresh keys (measured in the bench: fresh keys 18 ns out
    /// of line against 27 ns inlined, for 1 ns more on duplicates).
    ///
    /// The key is hashed here, out of line (one copy of the hash in a
    /// firmware's flash, however many callers).
    #[inline(never)]
    fn probe(&self, key: &K, now: Instant) -> Probe {
        self.probe_at(key, self.seed.hash_one(key), now)
    }

    /// [`probe`](Self::probe) for a key whose seeded hash the caller has
    /// (the shared table: one hash for the shard and the slots).
    #[cfg(feature = "sync")]
    #[inline(never)]
    fn probe_hashed(&self, key: &K, hash: u64, now: Instant) -> Probe {
        self.probe_at(key, hash, now)
    }

    #[inline(always)]
    fn probe_at(&self, key: &K, hash: u64, now: Instant) -> Probe {
        let (a, b) = Self::homes_of(hash);
        let now = now.as_ticks();
        // First pass: the key's own entry. It branches only on key
        // equality, true for at most one slot: a key is only ever placed when
        // none of its window's entries is live, and then in its own expired
        // entry's slot if it has one, so it has at most one entry.
        let mut own = usize::MAX;
        for step in 0..Self::WINDOW {
            let i = Self::index(a, b, step);
            if let Some(
                Slot::InFlight {
                    key: k, expires, ..
                }
                | Slot::Done {
                    key: k, expires, ..
                },
            ) = self.slots.get(i)
            {
                if k == key {
                    if now < expires.as_ticks() {
                        return Probe::Hit(i);
                    }
                    own = i;
                }
            }
        }
        // A key that comes back after its entry expired takes that slot:
        // it is free, and reusing it keeps the key to one entry.
        if own != usize::MAX {
            return Probe::Vacant(own);
        }
        // Second pass: where a new entry would go. No key comparisons, and
        // written to compile to conditional moves: on a stream of fresh keys
        // the state of each slot is random, and branches on it mispredict.
        let mut vacant_a = usize::MAX;
        let mut vacant_b = usize::MAX;
        let mut free_a = 0u32;
        let mut free_b = 0u32;
        for step in 0..Self::WINDOW {
            let i = Self::index(a, b, step);
            let expires = match self.slots.get(i) {
                Some(Slot::InFlight { expires, .. } | Slot::Done { expires, .. }) => {
                    expires.as_ticks()
                }
                Some(Slot::Empty) | None => 0,
            };
            let free = now >= expires;
            if Self::TWO_HOMES && step >= Self::HALF {
                vacant_b = if free & (vacant_b == usize::MAX) {
                    i
                } else {
                    vacant_b
                };
                free_b = free_b.wrapping_add(u32::from(free));
            } else {
                vacant_a = if free & (vacant_a == usize::MAX) {
                    i
                } else {
                    vacant_a
                };
                free_a = free_a.wrapping_add(u32::from(free));
            }
        }
        // Two choices: the emptier half keeps both halves' load even, which
        // lets the table fill much further before any window is full.
        let vacant = if free_b > free_a { vacant_b } else { vacant_a };
        if vacant != usize::MAX {
            return Probe::Vacant(vacant);
        }
        if !matches!(self.config.eviction, Eviction::EvictDone) {
            return Probe::Full;
        }
        // Third pass, only when the window is full: its oldest done entry
        // (every entry is live here).
        let mut oldest = usize::MAX;
        let mut oldest_expires = u64::MAX;
        for step in 0..Self::WINDOW {
            let i = Self::index(a, b, step);
            if let Some(Slot::Done { expires, .. }) = self.slots.get(i) {
                if expires.as_ticks() < oldest_expires {
                    oldest = i;
                    oldest_expires = expires.as_ticks();
                }
            }
        }
        if oldest != usize::MAX {
            Probe::Evict(oldest)
        } else {
            Probe::Full
        }
    }
}

// The slot layout behind the module docs' sizes, checked wherever the
// crate is built (the public types' sizes are in the size tables:
// tests/tests/sizes.rs on the host, tests/m0/src/sizes.rs on thumbv6m).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(core::mem::size_of::<Slot<u64, ()>>() == 24);
    assert!(core::mem::size_of::<Slot<u128, [u8; 32]>>() == 64);
    assert!(core::mem::align_of::<Slot<u128, [u8; 32]>>() == 16);
    assert!(core::mem::size_of::<Slot<u128, [u8; 16]>>() == 48);
};
#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(core::mem::size_of::<Slot<u64, ()>>() == 24);
    assert!(core::mem::size_of::<Slot<u128, [u8; 32]>>() == 64);
    assert!(core::mem::align_of::<Slot<u128, [u8; 32]>>() == 8);
    assert!(core::mem::size_of::<Slot<u128, [u8; 16]>>() == 48);
};
