//! Idempotency stores: "has this idempotency key run, or is it running?",
//! asked of a store that every request of a server (or of a fleet) shares.
//!
//! [`IdempotencyStore`] is the async interface
//! [`IdempotencyLayer`](crate::tower::IdempotencyLayer) calls (the IETF
//! draft "The Idempotency-Key HTTP Header Field"), with the core's dedup
//! semantics ([`fusebox::dedup`]):
//!
//! | `begin(key)` answers | meaning | the caller |
//! |---|---|---|
//! | [`Begin::New`] (a [`Claim`]) | nobody ran it; the key is now in flight, held by this claim | runs the work, then [`complete`](IdempotencyStore::complete)s (stores the response) or [`abandon`](IdempotencyStore::abandon)s (frees the key for a retry) |
//! | [`Begin::InFlight`] | someone else is running it | answers `409 Conflict` |
//! | [`Begin::Done`] (the stored bytes) | it ran | replays the stored response |
//! | `Err(`[`StoreError`]`)` | the store cannot answer (full, or unreachable) | answers `503`: a duplicate side effect is worse than a refusal |
//!
//! A claim expires after the store's in-flight TTL (a holder that died
//! frees its key); a `complete` or `abandon` with a claim that expired
//! (and may have been taken again) changes nothing and answers `false`. A
//! stored response is kept for the store's done TTL.
//!
//! The trait's shape follows the one on branch `redis17` (#17, the Redis
//! store), so that store plugs into the same layer.
//!
//! ```
//! use fusebox::dedup::{Config, Eviction};
//! use fusebox::hash::Seed;
//! use fusebox::time::Duration;
//! use fusebox_std::idempotency::{Begin, IdempotencyStore, MemoryIdempotencyStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let config = Config::new()
//!     .in_flight_ttl(Duration::from_secs(30))
//!     .done_ttl(Duration::from_secs(24 * 3600))
//!     .eviction(Eviction::KeepDone);
//! let store: MemoryIdempotencyStore<64> =
//!     MemoryIdempotencyStore::new(config, Seed::new(0x5eed, 0xf00d))?;
//!
//! let Begin::New(claim) = store.begin(b"pay-42").await? else { panic!("first sight") };
//! assert_eq!(store.begin(b"pay-42").await?, Begin::InFlight);
//! assert!(store.complete(claim, b"201 charged".to_vec()).await?);
//! assert_eq!(store.begin(b"pay-42").await?, Begin::Done(b"201 charged".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fusebox::ConfigError;
use fusebox::dedup::{self, Config, DedupTable, Eviction, Ticket};
use fusebox::hash::Seed;
use fusebox::time::Clock;

use crate::StdClock;

/// What [`IdempotencyStore::begin`] decided for a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// Nobody ran it: run it, then complete or abandon the claim.
    New(Claim),
    /// Another request (on this instance or another) holds it in flight.
    InFlight,
    /// It ran: the response stored by `complete`, byte for byte.
    Done(Vec<u8>),
}

/// The right to complete or abandon one key: the key and its fencing
/// token. Not `Clone`: one claim, one outcome.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "complete or abandon the claim; a dropped claim holds its key until the in-flight TTL"]
pub struct Claim {
    key: Vec<u8>,
    fence: u64,
    local: Option<Ticket>,
}

impl Claim {
    /// The idempotency key claimed.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The fencing token: strictly greater than that of every earlier
    /// claim in the same store.
    pub fn fence(&self) -> u64 {
        self.fence
    }
}

/// The store could not answer. Both cases map to `503 Service Unavailable`
/// in an HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// Every slot the key may use holds work in flight or a stored result
    /// within its TTL (a bounded in-memory table).
    Full,
    /// The shared store is unreachable, slow, or its breaker is open.
    Unavailable {
        /// What failed.
        reason: String,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str(
                "idempotency table full: every slot holds work in flight or a stored \
                 response within its TTL; refuse the request (503) or raise the capacity",
            ),
            Self::Unavailable { reason } => write!(
                f,
                "idempotency store unavailable ({reason}): refuse the request (503) and let \
                 the client retry"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// An async idempotency store (see the [module docs](self)).
///
/// Keys are bytes (the `Idempotency-Key` value); responses are bytes (the
/// layer serialises fingerprint, status, headers and body).
pub trait IdempotencyStore: Send + Sync {
    /// Claim `key` if nobody ran it, or say who did.
    fn begin(&self, key: &[u8]) -> impl Future<Output = Result<Begin, StoreError>> + Send;

    /// Store `response` for the claimed key, kept for the store's done TTL.
    /// `Ok(false)`: the claim had expired (the response is not stored).
    fn complete(
        &self,
        claim: Claim,
        response: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Free the claimed key so that a retry runs it. `Ok(false)`: the
    /// claim had expired already.
    fn abandon(&self, claim: Claim) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One process's idempotency store: the core's [`DedupTable`] of `N`
/// entries behind a mutex (held only inside each call, never across an
/// await). Keys and responses are copied in.
///
/// Eviction is always [`Eviction::KeepDone`]: a stored response is never
/// evicted before its done TTL; a full table refuses new keys with
/// [`StoreError::Full`] (the layer answers `503`) rather than forget a
/// stored result. Memory: `N` entries, each its key plus its stored
/// response (the layer bounds a response to its `max_stored_body` plus
/// status and headers): about `N x (key + max_stored_body + headers)`.
pub struct MemoryIdempotencyStore<const N: usize, C: Clock = StdClock> {
    table: Mutex<Box<DedupTable<Vec<u8>, Vec<u8>, N>>>,
    clock: C,
    fences: AtomicU64,
}

impl<const N: usize, C: Clock> std::fmt::Debug for MemoryIdempotencyStore<N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryIdempotencyStore")
            .field("capacity", &N)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> MemoryIdempotencyStore<N> {
    /// A store of `N` entries with the table's `config` (its eviction set
    /// to `KeepDone`); `seed` keys its hash.
    pub fn new(config: Config, seed: Seed) -> Result<Self, ConfigError> {
        Self::with_clock(config, seed, StdClock::new())
    }
}

impl<const N: usize, C: Clock> MemoryIdempotencyStore<N, C> {
    /// As [`new`](MemoryIdempotencyStore::new), reading `clock`.
    pub fn with_clock(config: Config, seed: Seed, clock: C) -> Result<Self, ConfigError> {
        let config = config.eviction(Eviction::KeepDone);
        Ok(Self {
            table: Mutex::new(Box::new(DedupTable::new(config, seed)?)),
            clock,
            fences: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<DedupTable<Vec<u8>, Vec<u8>, N>>> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Entries in use now (in flight or stored within their TTL).
    pub fn occupied(&self) -> usize {
        let now = self.clock.now();
        self.lock().occupied(now)
    }

    fn begin_now(&self, key: &[u8]) -> Result<Begin, StoreError> {
        let now = self.clock.now();
        let mut table = self.lock();
        match table.begin(key.to_vec(), now) {
            dedup::Begin::New(ticket) => Ok(Begin::New(Claim {
                key: key.to_vec(),
                fence: self.fences.fetch_add(1, Ordering::Relaxed).wrapping_add(1),
                local: Some(ticket),
            })),
            dedup::Begin::InFlight => Ok(Begin::InFlight),
            dedup::Begin::Done(v) => Ok(Begin::Done(v.clone())),
            dedup::Begin::Full => Err(StoreError::Full),
        }
    }

    fn complete_now(&self, claim: Claim, response: Vec<u8>) -> bool {
        let Some(ticket) = claim.local else {
            return false;
        };
        let now = self.clock.now();
        self.lock().complete(ticket, response, now).is_ok()
    }

    fn abandon_now(&self, claim: Claim) -> bool {
        match claim.local {
            Some(ticket) => self.lock().abandon(ticket),
            None => false,
        }
    }
}

impl<const N: usize, C: Clock + Send + Sync> IdempotencyStore for MemoryIdempotencyStore<N, C> {
    fn begin(&self, key: &[u8]) -> impl Future<Output = Result<Begin, StoreError>> + Send {
        std::future::ready(self.begin_now(key))
    }

    fn complete(
        &self,
        claim: Claim,
        response: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(self.complete_now(claim, response)))
    }

    fn abandon(&self, claim: Claim) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(self.abandon_now(claim)))
    }
}
