//! The fleet's idempotency keys: one Redis hash per key, updated by a Lua
//! script with the core's dedup semantics and a fencing token.

use std::future::Future;
use std::sync::Arc;

use redis::Value;

use super::guard::{LuaScript, RedisGuard, Unavailable};
use crate::idempotency::{Begin, Claim, IdempotencyStore, MemoryIdempotencyStore, StoreError};

const SCRIPT: &str = include_str!("idempotency.lua");

/// What the store does while Redis is unreachable, slow, or its breaker
/// open (degraded mode).
#[derive(Debug, Default)]
pub enum StoreFallback<const N: usize> {
    /// Answer [`StoreError::Unavailable`] (a `503`): a duplicate charge is
    /// worse than a refusal. The default.
    #[default]
    FailClosed,
    /// Answer from this instance's own table, with a warning logged once
    /// per switch to degraded mode: a key begun on two instances while
    /// Redis is down runs twice, and a key stored in Redis is unknown to
    /// the local table.
    LocalTable(MemoryIdempotencyStore<N>),
}

/// The configuration of a [`RedisIdempotencyStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    prefix: Vec<u8>,
    in_flight_ttl: std::time::Duration,
    done_ttl: std::time::Duration,
    grace: std::time::Duration,
}

impl StoreConfig {
    /// A claim expires `in_flight_ttl` after `begin` (set it above the
    /// work's own timeout, or a slow holder's key is taken again and the
    /// work runs twice); a stored response is kept `done_ttl`. Defaults:
    /// prefix `fusebox`, grace 60 s.
    pub fn new(in_flight_ttl: std::time::Duration, done_ttl: std::time::Duration) -> Self {
        Self {
            prefix: b"fusebox".to_vec(),
            in_flight_ttl,
            done_ttl,
            grace: std::time::Duration::from_secs(60),
        }
    }

    /// The keys' prefix: key `k` lives at `<prefix>:idem:{<k>}`.
    pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long the hash outlives its claim or response (at least 1 ms):
    /// while it does, the next claim's fencing token is above the last one
    /// even if Redis's clock stepped back.
    pub fn grace(mut self, grace: std::time::Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// An [`IdempotencyStore`] shared by a fleet, in Redis, behind a
/// [`RedisGuard`].
///
/// - `begin` answers New for exactly one caller across the fleet per
///   lifetime of a key (the script runs atomically on Redis); the claim's
///   fencing token is its Redis time in microseconds, raised above the
///   previous claim's if the clock stepped back.
/// - A claim expires after the in-flight TTL (a holder that died frees its
///   key); `complete` and `abandon` change the key only for the live claim
///   with the same token: a late one from an expired claim answers `false`
///   and changes nothing.
/// - Times are Redis's `TIME` with the time-backwards rule (a time earlier
///   than the latest the key has seen counts as that latest instant).
/// - Key `k` is the hash `<prefix>:idem:{<k>}` (fields `s`, `g`, `e`, `r`,
///   `t`), a Redis Cluster hash tag; it expires `grace` after its claim or
///   response ends.
/// - Degraded mode: [`StoreFallback`]. A claim remembers who issued it, so
///   a claim made by the local table is completed there even after Redis
///   is back.
///
/// ```no_run
/// use std::sync::Arc;
/// use fusebox_std::idempotency::{Begin, IdempotencyStore};
/// use fusebox_std::redis::{RedisGuard, RedisIdempotencyStore, StoreConfig, StoreFallback};
///
/// # async fn run(guard: Arc<RedisGuard>) -> Result<(), Box<dyn std::error::Error>> {
/// let config = StoreConfig::new(
///     std::time::Duration::from_secs(30),    // longer than the payment call's timeout
///     std::time::Duration::from_secs(86_400), // replay the answer for a day
/// );
/// let store: RedisIdempotencyStore = RedisIdempotencyStore::new(guard, config, StoreFallback::FailClosed);
/// match store.begin(b"pay-42").await? {
///     Begin::New(claim) => { store.complete(claim, b"201 charged".to_vec()).await?; }
///     Begin::InFlight => { /* 409 */ }
///     Begin::Done(response) => { /* replay `response` */ let _ = response; }
/// }
/// # Ok(()) }
/// ```
pub struct RedisIdempotencyStore<const N: usize = 1024> {
    guard: Arc<RedisGuard>,
    script: LuaScript,
    config: StoreConfig,
    fallback: StoreFallback<N>,
    warned: std::sync::atomic::AtomicBool,
}

impl<const N: usize> core::fmt::Debug for RedisIdempotencyStore<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedisIdempotencyStore")
            .field("config", &self.config)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

fn micros(d: std::time::Duration) -> Vec<u8> {
    d.as_micros()
        .clamp(1, (1 << 52) - 1)
        .to_string()
        .into_bytes()
}

impl<const N: usize> RedisIdempotencyStore<N> {
    /// A store on `guard`'s connection.
    pub fn new(guard: Arc<RedisGuard>, config: StoreConfig, fallback: StoreFallback<N>) -> Self {
        Self {
            guard,
            script: LuaScript::new("idempotency", SCRIPT),
            config,
            fallback,
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The Redis key of idempotency key `key`: `<prefix>:idem:{<key>}`.
    pub fn redis_key(&self, key: &[u8]) -> Vec<u8> {
        super::tagged_key(&self.config.prefix, b"idem", key)
    }

    /// The guard this store calls Redis through.
    pub fn guard(&self) -> &Arc<RedisGuard> {
        &self.guard
    }

    fn head(&self, op: &str, now_us: Option<u64>) -> Vec<Vec<u8>> {
        let grace = u64::try_from(self.config.grace.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, 1 << 52);
        vec![
            op.as_bytes().to_vec(),
            now_us
                .map(|n| n.to_string().into_bytes())
                .unwrap_or_default(),
            grace.to_string().into_bytes(),
        ]
    }

    async fn call(&self, key: &[u8], args: Vec<Vec<u8>>) -> Result<Value, Unavailable> {
        self.guard
            .eval(&self.script, &self.redis_key(key), &args)
            .await
    }

    fn local(&self, why: &Unavailable) -> Result<&MemoryIdempotencyStore<N>, StoreError> {
        match &self.fallback {
            StoreFallback::FailClosed => Err(StoreError::Unavailable {
                reason: why.to_string(),
            }),
            StoreFallback::LocalTable(table) => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        target: "fusebox::redis",
                        reason = %why,
                        "idempotency keys answered from this instance's table: a key begun on \
                         two instances while Redis is down runs twice"
                    );
                }
                Ok(table)
            }
        }
    }

    fn shared_again(&self) {
        self.warned
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// As [`begin`](IdempotencyStore::begin), judged at `now_us`
    /// (microseconds, below 2^53) instead of Redis's `TIME`: for tests and
    /// replays. Do not mix with real-time calls on one key.
    pub async fn begin_at(&self, key: &[u8], now_us: Option<u64>) -> Result<Begin, StoreError> {
        let mut args = self.head("begin", now_us);
        args.push(micros(self.config.in_flight_ttl));
        match self.call(key, args).await {
            Ok(value) => {
                self.shared_again();
                parse_begin(key, &value)
            }
            Err(why) => self.local(&why)?.begin_now(key),
        }
    }

    /// As [`complete`](IdempotencyStore::complete), judged at `now_us`.
    pub async fn complete_at(
        &self,
        claim: Claim,
        response: Vec<u8>,
        now_us: Option<u64>,
    ) -> Result<bool, StoreError> {
        if claim.is_local() {
            return match &self.fallback {
                StoreFallback::LocalTable(table) => Ok(table.complete_now(claim, response)),
                StoreFallback::FailClosed => Ok(false),
            };
        }
        let mut args = self.head("complete", now_us);
        args.push(claim.fence().to_string().into_bytes());
        args.push(response);
        args.push(micros(self.config.done_ttl));
        self.fenced(claim.key(), args).await
    }

    /// As [`abandon`](IdempotencyStore::abandon), judged at `now_us`.
    pub async fn abandon_at(&self, claim: Claim, now_us: Option<u64>) -> Result<bool, StoreError> {
        if claim.is_local() {
            return match &self.fallback {
                StoreFallback::LocalTable(table) => Ok(table.abandon_now(claim)),
                StoreFallback::FailClosed => Ok(false),
            };
        }
        let mut args = self.head("abandon", now_us);
        args.push(claim.fence().to_string().into_bytes());
        self.fenced(claim.key(), args).await
    }

    async fn fenced(&self, key: &[u8], args: Vec<Vec<u8>>) -> Result<bool, StoreError> {
        // A claim Redis issued can only be settled in Redis: when it is
        // down, the key stays in flight there until its TTL.
        match self.call(key, args).await {
            Ok(Value::Int(v)) => Ok(v == 1),
            Ok(other) => Err(unexpected(&other)),
            Err(why) => Err(StoreError::Unavailable {
                reason: why.to_string(),
            }),
        }
    }
}

fn unexpected(value: &Value) -> StoreError {
    StoreError::Unavailable {
        reason: format!("unexpected answer from the idempotency script: {value:?}"),
    }
}

fn parse_begin(key: &[u8], value: &Value) -> Result<Begin, StoreError> {
    let Value::Array(items) = value else {
        return Err(unexpected(value));
    };
    match items.as_slice() {
        [Value::Int(0), Value::Int(token)] => Ok(Begin::New(Claim::remote(
            key.to_vec(),
            u64::try_from(*token).unwrap_or(0),
        ))),
        [Value::Int(1)] => Ok(Begin::InFlight),
        [Value::Int(2), Value::Int(_), Value::BulkString(response)] => {
            Ok(Begin::Done(response.clone()))
        }
        _ => Err(unexpected(value)),
    }
}

impl<const N: usize> IdempotencyStore for RedisIdempotencyStore<N> {
    fn begin(&self, key: &[u8]) -> impl Future<Output = Result<Begin, StoreError>> + Send {
        self.begin_at(key, None)
    }

    fn complete(
        &self,
        claim: Claim,
        response: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.complete_at(claim, response, None)
    }

    fn abandon(&self, claim: Claim) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.abandon_at(claim, None)
    }
}
