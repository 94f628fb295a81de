//! The fleet's token buckets: one Redis key per bucket, the core's GCRA law
//! run by a Lua script on Redis.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use fusebox::ConfigError;
use fusebox::rate::{Quota, TokenBucket};
use fusebox::time::{Clock, Duration};
use redis::Value;

use super::guard::{LuaScript, RedisGuard};
use crate::{StdClock, TICK_HZ};

/// `burst x period` (in microseconds, in lowest terms with the rate) may
/// not exceed this: every value the script computes then stays an integer
/// below 2^53, exact in Lua's doubles.
pub const MAX_BURST_TIMES_PERIOD_US: u64 = 1 << 52;

const GCRA: &str = include_str!("gcra.lua");

/// What the limiter does while Redis is unreachable, slow, or its breaker
/// open (degraded mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// A local bucket per key with this instance's share of the quota:
    /// `rate` per `fleet_size x period`, burst `max(1, burst / fleet_size)`.
    /// With every instance degraded the fleet admits at most the quota
    /// (plus up to `fleet_size - burst mod fleet_size` extra burst when
    /// `burst < fleet_size`); with some still on Redis, up to the shared
    /// quota plus the degraded instances' shares. Right when load is spread
    /// evenly (a load balancer) and `fleet_size` is kept up to date.
    LocalShare {
        /// How many instances share the quota (from configuration).
        fleet_size: NonZeroU32,
    },
    /// Admit everything: availability first (the limit protects a
    /// service that can take an unlimited burst for a while).
    FailOpen,
    /// Refuse everything: the limit protects something that must never
    /// be over-admitted (a paid upstream quota).
    FailClosed,
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The shared bucket in Redis.
    Redis,
    /// This instance's local bucket ([`Fallback::LocalShare`]).
    LocalShare,
    /// [`Fallback::FailOpen`].
    FailOpen,
    /// [`Fallback::FailClosed`].
    FailClosed,
}

/// One decision of a [`FleetLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the tokens were taken.
    pub admitted: bool,
    /// When refused: how long until the same request would be admitted, if
    /// nobody takes tokens first (whole microseconds from Redis, whole
    /// ticks locally). `None` when admitted, when it asked for more than the
    /// burst (never admitted), or when failing closed.
    pub retry_after: Option<std::time::Duration>,
    /// Whole tokens left in the bucket after this decision (Redis or the
    /// local bucket); `None` for fail-open and fail-closed.
    pub remaining: Option<u32>,
    /// Who decided.
    pub source: Source,
    /// The instant the shared bucket judged (Redis time in microseconds,
    /// after the time-backwards rule); `None` for a fallback decision.
    pub judged_at_us: Option<u64>,
}

/// The configuration of a [`FleetLimiter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    rate: u32,
    period: std::time::Duration,
    burst: u32,
    prefix: Vec<u8>,
    idle: std::time::Duration,
    fallback: Fallback,
    local_keys: usize,
}

impl FleetConfig {
    /// `rate` tokens per `period` for the whole fleet, per key, in a bucket
    /// of `burst` (the core's [`Quota`] semantics: `burst` is the whole
    /// capacity). Defaults: prefix `fusebox`, idle keys kept 10 s after
    /// their bucket is full, fallback [`Fallback::FailClosed`], up to
    /// 10 000 local buckets in the fallback.
    pub fn new(rate: u32, period: std::time::Duration, burst: u32) -> Self {
        Self {
            rate,
            period,
            burst,
            prefix: b"fusebox".to_vec(),
            idle: std::time::Duration::from_secs(10),
            fallback: Fallback::FailClosed,
            local_keys: 10_000,
        }
    }

    /// The keys' prefix: bucket `k` lives at `<prefix>:rl:{<k>}`.
    pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a key whose bucket is full stays in Redis (at least 1 ms;
    /// an absent key is a full bucket, so this only keeps the latest
    /// instant seen, for a Redis clock that steps back).
    pub fn idle_ttl(mut self, idle: std::time::Duration) -> Self {
        self.idle = idle;
        self
    }

    /// What to do in degraded mode.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// At most this many keys get a local bucket in the fallback (beyond
    /// it, full buckets are forgotten first; then a new key is refused).
    pub fn local_keys(mut self, n: usize) -> Self {
        self.local_keys = n;
        self
    }

    /// The quota in microseconds (the script's unit), checked against the
    /// supported range.
    fn shared_quota(&self) -> Result<Quota, ConfigError> {
        let micros = self.period.as_micros();
        if micros == 0 || micros.saturating_mul(1000) != self.period.as_nanos() {
            return Err(ConfigError::new(
                "period",
                "be a whole number of microseconds, at least 1 (Redis's TIME resolution)",
            ));
        }
        let micros = u64::try_from(micros).unwrap_or(u64::MAX);
        let quota = Quota::per_period(self.rate, Duration::from_ticks(micros))
            .allow_burst(self.burst)
            .build()?;
        let cap = u128::from(quota.burst()) * u128::from(quota.period().as_ticks());
        if cap > u128::from(MAX_BURST_TIMES_PERIOD_US) {
            return Err(ConfigError::new(
                "burst",
                "make burst x period / gcd(rate, period in us) at most 2^52 (about 142 per year \
                 at 1 per year, 52 125 at 1 per day): exact integers in Lua's doubles",
            ));
        }
        if self.idle.is_zero() {
            return Err(ConfigError::new("idle_ttl", "be at least 1 ms"));
        }
        Ok(quota)
    }

    /// This instance's share, in local ticks.
    fn local_quota(&self, fleet_size: NonZeroU32) -> Result<Quota, ConfigError> {
        let ticks = u128::from(TICK_HZ) * self.period.as_nanos() * u128::from(fleet_size.get())
            / 1_000_000_000;
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        let burst = (self.burst / fleet_size.get()).max(1);
        Quota::per_period(self.rate, Duration::from_ticks(ticks))
            .allow_burst(burst)
            .build()
    }
}

/// A keyed token bucket shared by a fleet: the state of each key's bucket
/// is one Redis key, updated by a Lua script (the core's GCRA, in exact
/// integers), behind a [`RedisGuard`] (breaker and timeout) with a
/// [`Fallback`] for degraded mode.
///
/// # The law
///
/// The core's (see [`fusebox::rate`]), in microseconds of Redis's clock:
/// for a quota of `r` per `P` us with burst `b`, the tokens admitted for a
/// key over any interval of `W` us of judged instants (by every instance
/// together) never exceed `b + floor(W x r / P)`, while Redis answers. The
/// instant judged is Redis's `TIME` (every instance's monotonic clock has
/// its own epoch; Redis's is the one they share) after the time-backwards
/// rule: a time earlier than the latest the key has seen is judged as that
/// latest instant (no time elapsed; the bucket never holds less than
/// before).
///
/// # Exactness and the supported range
///
/// Lua numbers are doubles, so every value the script keeps is an integer
/// below 2^53: the state is the latest instant seen (`t`, Unix
/// microseconds, below 2^53 until the year 2255) and the theoretical
/// arrival time's offset from it (`o`, in units of 1/r us, at most
/// `b x P`); a request adds `n x P`. Supported: `r` in `1..2^32`, `b` in
/// `1..2^32`, `P` a whole number of microseconds, with `b x P <= 2^52` where
/// `(r, P)` is in lowest terms ([`MAX_BURST_TIMES_PERIOD_US`]; e.g. burst
/// 52 125 at 1 per day). Checked when built.
///
/// # Keys and TTLs
///
/// Bucket `k` is the hash `<prefix>:rl:{<k>}` (fields `t` and `o`). The
/// braces are a Redis Cluster hash tag: every key of `k` sits in the slot
/// of `k`'s bytes (up to a first `}` in them), and each script call names
/// its one key. A key expires once its bucket has refilled plus the idle
/// TTL: an absent key is a full bucket, so expiry loses nothing.
///
/// ```no_run
/// use std::num::NonZeroU32;
/// use std::sync::Arc;
/// use fusebox_std::redis::{Fallback, FleetConfig, FleetLimiter, RedisGuard};
///
/// # async fn run(guard: Arc<RedisGuard>) -> Result<(), Box<dyn std::error::Error>> {
/// // 100 requests per second per API key across the fleet, bursts of 20;
/// // if Redis fails, each of the 4 instances admits a quarter.
/// let config = FleetConfig::new(100, std::time::Duration::from_secs(1), 20)
///     .fallback(Fallback::LocalShare { fleet_size: NonZeroU32::new(4).unwrap() });
/// let limiter = FleetLimiter::new(guard, config)?;
/// let decision = limiter.try_acquire(b"api-key-123").await;
/// if !decision.admitted {
///     // 429, Retry-After: decision.retry_after
/// }
/// # Ok(()) }
/// ```
pub struct FleetLimiter {
    guard: Arc<RedisGuard>,
    script: LuaScript,
    quota: Quota,
    prefix: Vec<u8>,
    idle_ms: u64,
    fallback: Fallback,
    local: Option<Local>,
}

impl core::fmt::Debug for FleetLimiter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetLimiter")
            .field("quota", &self.quota)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

struct Local {
    quota: Quota,
    clock: StdClock,
    max_keys: usize,
    buckets: Mutex<HashMap<Vec<u8>, TokenBucket>>,
}

impl Local {
    fn try_acquire(&self, key: &[u8], n: u32) -> Decision {
        let now = self.clock.now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= self.max_keys {
            // Full buckets lose nothing when forgotten.
            let burst = self.quota.burst();
            buckets.retain(|_, b| b.available(now) < burst);
        }
        let refused = Decision {
            admitted: false,
            retry_after: None,
            remaining: Some(0),
            source: Source::LocalShare,
            judged_at_us: None,
        };
        if !buckets.contains_key(key) && buckets.len() >= self.max_keys {
            return refused;
        }
        let bucket = buckets
            .entry(key.to_vec())
            .or_insert_with(|| TokenBucket::new(self.quota));
        let result = bucket.try_acquire_n(n, now);
        Decision {
            admitted: result.is_ok(),
            retry_after: result.err().and_then(|r| r.retry_after.map(crate::to_std)),
            remaining: Some(bucket.available(now)),
            ..refused
        }
    }
}

impl FleetLimiter {
    /// A limiter on `guard`'s connection. Errors name the field out of
    /// range (see the supported range above).
    pub fn new(guard: Arc<RedisGuard>, config: FleetConfig) -> Result<Self, ConfigError> {
        let quota = config.shared_quota()?;
        let local = match config.fallback {
            Fallback::LocalShare { fleet_size } => Some(Local {
                quota: config.local_quota(fleet_size)?,
                clock: StdClock::new(),
                max_keys: config.local_keys,
                buckets: Mutex::new(HashMap::new()),
            }),
            Fallback::FailOpen | Fallback::FailClosed => None,
        };
        let idle_ms = u64::try_from(config.idle.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_BURST_TIMES_PERIOD_US);
        Ok(Self {
            guard,
            script: LuaScript::new("gcra", GCRA),
            quota,
            prefix: config.prefix,
            idle_ms,
            fallback: config.fallback,
            local,
        })
    }

    /// The shared quota, in microseconds, in lowest terms.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The guard this limiter calls Redis through.
    pub fn guard(&self) -> &Arc<RedisGuard> {
        &self.guard
    }

    /// The Redis key of `key`'s bucket: `<prefix>:rl:{<key>}`.
    pub fn redis_key(&self, key: &[u8]) -> Vec<u8> {
        super::tagged_key(&self.prefix, b"rl", key)
    }

    /// Take one token for `key`.
    pub async fn try_acquire(&self, key: &[u8]) -> Decision {
        self.try_acquire_n(key, 1).await
    }

    /// Take `n` tokens for `key` at once, or none (`n = 0` is always
    /// admitted; `n` above the burst never is), judged at Redis's time.
    pub async fn try_acquire_n(&self, key: &[u8], n: u32) -> Decision {
        self.decide(key, n, None).await
    }

    /// As [`try_acquire_n`](Self::try_acquire_n), judged at `now_us`
    /// (microseconds, below 2^53) instead of Redis's `TIME`: for tests and
    /// replays of a timeline. Do not mix with real-time calls on one key.
    pub async fn try_acquire_n_at(&self, key: &[u8], n: u32, now_us: u64) -> Decision {
        self.decide(key, n, Some(now_us)).await
    }

    /// Several requests in one round trip (a pipeline of script calls),
    /// decided in order; in degraded mode each goes to the fallback.
    pub async fn try_acquire_many(&self, requests: &[(&[u8], u32)]) -> Vec<Decision> {
        if requests.is_empty() {
            return Vec::new();
        }
        let calls: Vec<(Vec<u8>, Vec<Vec<u8>>)> = requests
            .iter()
            .map(|&(key, n)| (self.redis_key(key), self.args(n, None)))
            .collect();
        match self.guard.eval_pipelined(&self.script, &calls).await {
            Ok(values) => {
                let mut out = Vec::with_capacity(values.len());
                for (value, &(key, n)) in values.iter().zip(requests) {
                    out.push(match parse(value) {
                        Some(d) => d,
                        None => self.degraded(key, n),
                    });
                }
                out
            }
            Err(_) => requests
                .iter()
                .map(|&(key, n)| self.degraded(key, n))
                .collect(),
        }
    }

    fn args(&self, n: u32, now_us: Option<u64>) -> Vec<Vec<u8>> {
        let q = self.quota;
        let mut args = vec![
            q.rate().to_string().into_bytes(),
            q.period().as_ticks().to_string().into_bytes(),
            q.burst().to_string().into_bytes(),
            n.to_string().into_bytes(),
            self.idle_ms.to_string().into_bytes(),
        ];
        if let Some(now) = now_us {
            args.push(now.to_string().into_bytes());
        }
        args
    }

    async fn decide(&self, key: &[u8], n: u32, now_us: Option<u64>) -> Decision {
        if now_us.is_some_and(|now| now >= 1 << 53) {
            // Outside what the script keeps exact: the caller's mistake,
            // refused without asking Redis (and without failing the breaker).
            return Decision {
                admitted: false,
                retry_after: None,
                remaining: None,
                source: Source::FailClosed,
                judged_at_us: None,
            };
        }
        let redis_key = self.redis_key(key);
        match self
            .guard
            .eval(&self.script, &redis_key, &self.args(n, now_us))
            .await
        {
            Ok(value) => match parse(&value) {
                Some(d) => d,
                None => self.degraded(key, n),
            },
            Err(_) => self.degraded(key, n),
        }
    }

    fn degraded(&self, key: &[u8], n: u32) -> Decision {
        let (admitted, source) = match self.fallback {
            Fallback::FailOpen => (true, Source::FailOpen),
            Fallback::FailClosed => (false, Source::FailClosed),
            Fallback::LocalShare { .. } => match &self.local {
                Some(local) => return local.try_acquire(key, n),
                None => (false, Source::FailClosed),
            },
        };
        Decision {
            admitted,
            retry_after: None,
            remaining: None,
            source,
            judged_at_us: None,
        }
    }
}

/// The script's answer `{admitted, retry_after_us, left, now}`.
fn parse(value: &Value) -> Option<Decision> {
    let Value::Array(items) = value else {
        return None;
    };
    let int = |i: usize| match items.get(i) {
        Some(Value::Int(v)) => Some(*v),
        _ => None,
    };
    let (admitted, retry, left, now) = (int(0)?, int(1)?, int(2)?, int(3)?);
    Some(Decision {
        admitted: admitted == 1,
        retry_after: u64::try_from(retry)
            .ok()
            .filter(|_| admitted == 0)
            .map(std::time::Duration::from_micros),
        remaining: Some(u32::try_from(left).unwrap_or(u32::MAX)),
        source: Source::Redis,
        judged_at_us: u64::try_from(now).ok(),
    })
}
