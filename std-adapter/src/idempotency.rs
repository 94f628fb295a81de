//! Idempotency stores: "has this idempotency key run, or is it running?",
//! asked of a store that every request of a server (or of a fleet) shares.
//!
//! [`IdempotencyStore`] is the async interface
//! [`IdempotencyLayer`](crate::tower::IdempotencyLayer) calls (the IETF draft "The Idempotency-Key HTTP Header Field"), with the
//! core's dedup semantics ([`fusebox::dedup`]):
//!
//! | `begin(key)` answers | meaning | the caller |
//! |---|---|---|
//! | [`Begin::New`] (a [`Claim`]) | nobody ran it; the key is now in flight, held by this claim | runs the work, then [`complete`](IdempotencyStore::complete)s (stores the response) or [`abandon`](IdempotencyStore::abandon)s (frees the key for a retry) |
//! | [`Begin::InFlight`] | someone else is running it | answers `409 Conflict` |
//! | [`Begin::Done`] (the stored bytes) | it ran | replays the stored response |
//! | `Err(`[`StoreError`]`)` | the store cannot answer (full, or unreachable) | answers `503`: a duplicate side effect is worse than a refusal |
//!
//! A claim expires after the store's in-flight TTL (a holder that died
//! frees its key), and carries a *fencing token*: a `complete` or `abandon`
//! with a claim that expired (and may have been taken again) changes
//! nothing and answers `false`. A stored response is kept for the store's
//! done TTL.
//!
//! Two stores: [`MemoryIdempotencyStore`] (one process: the core's
//! [`DedupTable`] behind a mutex) and, with the `redis` feature,
//! `fusebox_std::redis::RedisIdempotencyStore` (a fleet).
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
use fusebox::dedup::{self, Config, DedupTable, Ticket};
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
    /// A claim issued by a shared store (the Redis one).
    // Used by the Redis store (#17, branch redis17).
    #[allow(dead_code)]
    pub(crate) fn remote(key: Vec<u8>, fence: u64) -> Self {
        Self {
            key,
            fence,
            local: None,
        }
    }

    /// The idempotency key claimed.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The fencing token: the claim's generation, strictly greater than
    /// that of every earlier claim of the same key in the same store (the
    /// Redis store's: the claim's Redis time in microseconds, moved past
    /// the previous claim's if the clock stepped back).
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// Whether a local table (not the shared store) issued this claim.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
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
    /// The shared store is unreachable, slow, or its breaker is open, and
    /// this store fails closed.
    Unavailable {
        /// What failed.
        reason: String,
    },
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str(
                "idempotency table full: every slot holds work in flight or a stored \
                 response within its TTL; refuse the request (503) or raise the capacity",
            ),
            Self::Unavailable { reason } => write!(
                f,
                "idempotency store unavailable ({reason}): refuse the request (503) and let \
                 the client retry, or configure the local-table fallback"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// An async idempotency store (see the [module docs](self) for the
/// answers and the guarantee).
///
/// Keys are bytes (an `Idempotency-Key` header's value, perhaps with the
/// request's fingerprint); responses are bytes (the layer serialises status,
/// headers and body).
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

    /// Free the claimed key so that a retry runs it (the work failed and
    /// may be repeated). `Ok(false)`: the claim had expired already.
    fn abandon(&self, claim: Claim) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One process's idempotency store: the core's [`DedupTable`] of `N`
/// entries behind a mutex (held only inside each call, never across an
/// await), on [`StdClock`]. Keys and responses are copied in.
///
/// Memory: `N` entries plus each key's and stored response's bytes; bound
/// the responses' size in the layer above. The in-flight and done TTLs and
/// the eviction policy are the table's [`Config`] (use
/// [`Eviction::KeepDone`](fusebox::dedup::Eviction::KeepDone) for payments:
/// a full table then refuses new keys with [`StoreError::Full`] rather than
/// forget a stored result).
pub struct MemoryIdempotencyStore<const N: usize, C: Clock = StdClock> {
    table: Mutex<Box<DedupTable<Vec<u8>, Vec<u8>, N>>>,
    clock: C,
    fences: AtomicU64,
}

impl<const N: usize, C: Clock> core::fmt::Debug for MemoryIdempotencyStore<N, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryIdempotencyStore")
            .field("capacity", &N)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> MemoryIdempotencyStore<N> {
    /// A store of `N` entries with the table's `config`; `seed` keys its
    /// hash (128 random bits, see [`fusebox::hash`]).
    pub fn new(config: Config, seed: Seed) -> Result<Self, ConfigError> {
        Self::with_clock(config, seed, StdClock::new())
    }
}

impl<const N: usize, C: Clock> MemoryIdempotencyStore<N, C> {
    /// As [`new`](MemoryIdempotencyStore::new), reading `clock` (a
    /// `ManualClock` in tests).
    pub fn with_clock(config: Config, seed: Seed, clock: C) -> Result<Self, ConfigError> {
        Ok(Self {
            table: Mutex::new(Box::new(DedupTable::new(config, seed)?)),
            clock,
            fences: AtomicU64::new(0),
        })
    }

    /// Entries in use now (in flight, or stored within their TTL).
    pub fn occupied(&self) -> usize {
        let now = self.clock.now();
        self.lock().occupied(now)
    }

    /// Keys claimed now and not yet completed or abandoned (a request
    /// with the key is running, or its claim was lost without either and
    /// waits for the in-flight TTL): zero when no request is running, so
    /// a leak check.
    ///
    /// ```
    /// use fusebox_std::idempotency::{Begin, IdempotencyStore, MemoryIdempotencyStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let seed = fusebox::hash::Seed::new(1, 2);
    /// let store = MemoryIdempotencyStore::<16>::new(fusebox::dedup::Config::new(), seed)?;
    /// let Begin::New(claim) = store.begin(b"key").await? else { panic!("a new key") };
    /// assert_eq!((store.in_flight(), store.occupied()), (1, 1));
    /// store.complete(claim, b"stored answer".to_vec()).await?;
    /// assert_eq!((store.in_flight(), store.occupied()), (0, 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn in_flight(&self) -> usize {
        let now = self.clock.now();
        self.lock().in_flight(now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<DedupTable<Vec<u8>, Vec<u8>, N>>> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn begin_now(&self, key: &[u8]) -> Result<Begin, StoreError> {
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

    pub(crate) fn complete_now(&self, claim: Claim, response: Vec<u8>) -> bool {
        let Some(ticket) = claim.local else {
            return false;
        };
        let now = self.clock.now();
        self.lock().complete(ticket, response, now).is_ok()
    }

    pub(crate) fn abandon_now(&self, claim: Claim) -> bool {
        match claim.local {
            Some(ticket) => {
                let now = self.clock.now();
                self.lock().abandon(ticket, now)
            }
            None => false,
        }
    }
}

impl<const N: usize, C: Clock + Send + Sync> IdempotencyStore for MemoryIdempotencyStore<N, C> {
    fn begin(&self, key: &[u8]) -> impl Future<Output = Result<Begin, StoreError>> + Send {
        let answer = self.begin_now(key);
        async move { answer }
    }

    fn complete(
        &self,
        claim: Claim,
        response: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let answer = self.complete_now(claim, response);
        async move { Ok(answer) }
    }

    fn abandon(&self, claim: Claim) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let answer = self.abandon_now(claim);
        async move { Ok(answer) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusebox::dedup::Eviction;
    use fusebox::time::Duration;

    fn store(in_flight: Duration) -> MemoryIdempotencyStore<8> {
        let config = Config::new()
            .in_flight_ttl(in_flight)
            .done_ttl(Duration::from_secs(3600))
            .eviction(Eviction::KeepDone);
        MemoryIdempotencyStore::new(config, Seed::new(1, 2)).expect("valid config")
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn new_in_flight_done_and_abandon() {
        block_on(async {
            let s = store(Duration::from_secs(60));
            let Ok(Begin::New(claim)) = s.begin(b"k").await else {
                panic!("first begin is New")
            };
            assert!(claim.is_local());
            assert_eq!(claim.key(), b"k");
            assert_eq!(s.begin(b"k").await, Ok(Begin::InFlight));
            assert_eq!(s.complete(claim, vec![0, 1, 255]).await, Ok(true));
            assert_eq!(s.begin(b"k").await, Ok(Begin::Done(vec![0, 1, 255])));

            let Ok(Begin::New(c2)) = s.begin(b"other").await else {
                panic!("a second key is New")
            };
            assert_eq!(s.abandon(c2).await, Ok(true));
            let Ok(Begin::New(c3)) = s.begin(b"other").await else {
                panic!("an abandoned key is New again")
            };
            assert!(c3.fence() > 0);
            // A claim the table did not issue changes nothing.
            assert_eq!(
                s.complete(Claim::remote(b"other".to_vec(), 9), vec![])
                    .await,
                Ok(false)
            );
            assert_eq!(s.abandon(c3).await, Ok(true));
        });
    }

    #[test]
    fn an_expired_claim_is_fenced_off() {
        block_on(async {
            let s = store(Duration::from_millis(1));
            let Ok(Begin::New(old)) = s.begin(b"k").await else {
                panic!("first begin is New")
            };
            std::thread::sleep(std::time::Duration::from_millis(5));
            let Ok(Begin::New(new)) = s.begin(b"k").await else {
                panic!("the expired key is New again")
            };
            assert!(new.fence() > old.fence());
            assert_eq!(s.complete(old, b"late".to_vec()).await, Ok(false));
            assert_eq!(s.begin(b"k").await, Ok(Begin::InFlight));
            assert_eq!(s.complete(new, b"ok".to_vec()).await, Ok(true));
            assert_eq!(s.begin(b"k").await, Ok(Begin::Done(b"ok".to_vec())));
        });
    }

    #[test]
    fn a_full_table_refuses_new_keys() {
        block_on(async {
            let s = store(Duration::from_secs(60));
            let mut claims = Vec::new();
            let mut refused = 0;
            for k in 0..64_u32 {
                match s.begin(&k.to_le_bytes()).await {
                    Ok(Begin::New(c)) => claims.push(c),
                    Err(StoreError::Full) => refused += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            // At most N keys held; the rest refused, none forgotten.
            assert!((1..=8).contains(&claims.len()), "{}", claims.len());
            assert_eq!(claims.len() + refused, 64);
            assert!(StoreError::Full.to_string().contains("503"));
        });
    }
}
