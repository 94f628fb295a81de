//! `--instances N --redis URL`: N fusebox gateways in one process, behind
//! a round-robin "load balancer" (the load generator sends request `i` to
//! instance `i mod N`, and a client's retry or double submit of a key to
//! the next instance), run twice on a healthy upstream:
//!
//! - **per instance**: each gateway with its own upstream rate limit (the
//!   whole quota) and its own idempotency table, as N copies of a
//!   single-instance configuration would run;
//! - **shared (Redis)**: one quota and one idempotency store for the
//!   fleet, in Redis (`fusebox_std::redis`: `FleetLimiter`,
//!   `RedisIdempotencyStore`), each instance with its own connection,
//!   breaker and timeout (`RedisGuard`); when Redis is unreachable the
//!   limiter falls back to this instance's share of the quota and the
//!   store refuses (`503`).
//!
//! The quota is half the offered rate, so it binds.

use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use fusebox_std::redis::{
    Fallback, FleetConfig, FleetLimiter, GuardMetrics, RedisGuard, RedisIdempotencyStore,
    StoreConfig, StoreFallback,
};
use fusebox_std::tower::{Error as LayerError, ErrorKind};
use http::{Request, Response};
use tower::BoxError;

use super::gateway::{self, Body, Shared, Stats, Upstream, UpstreamLimit};
use super::{Sample, Script, Settings};

/// The fleet's quota: `rate` per second, `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// Tokens per second for the whole fleet.
    pub rate: u32,
    /// The bucket's capacity.
    pub burst: u32,
}

impl Quota {
    /// Half the offered rate, a tenth of that as burst.
    pub fn for_load(s: &Settings) -> Self {
        let rate = (s.rate / 2).max(1);
        Self {
            rate,
            burst: (rate / 10).max(1),
        }
    }
}

/// The fleet's script: healthy for 3 s.
pub const SCRIPT: &str = "healthy 3s\n";

/// Where the fleet keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Each instance its own limiter and table.
    PerInstance,
    /// One limiter and one store in Redis.
    Shared,
}

impl Limits {
    /// The label in the report.
    pub fn label(self) -> &'static str {
        match self {
            Limits::PerInstance => "per instance",
            Limits::Shared => "shared (redis)",
        }
    }
}

/// One run of the fleet.
pub struct FleetRun {
    /// Where the state lived.
    pub limits: Limits,
    /// Every request.
    pub samples: Vec<Sample>,
    /// What each instance counted.
    pub instances: Vec<Arc<Stats>>,
    /// What the upstream saw.
    pub upstream: Arc<super::upstream::Seen>,
    /// Each instance's Redis link (shared runs).
    pub redis: Vec<GuardMetrics>,
}

impl FleetRun {
    /// Every instant a request left for the upstream, from every
    /// instance, in order.
    pub fn sent_upstream(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self
            .instances
            .iter()
            .flat_map(|s| s.sent_upstream.lock().expect("not poisoned").clone())
            .collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

/// The most requests that left for the upstream in any `window` seconds.
pub fn peak(sent: &[f64], window: f64) -> usize {
    (0..sent.len())
        .map(|i| {
            sent[i..]
                .iter()
                .take_while(|t| **t < sent[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The upstream rate limit through a [`FleetLimiter`]: one bucket (key
/// `upstream`) for the whole fleet; a refusal is a `429` with
/// `Retry-After`, carrying the layers' [`LayerError`] as
/// `fusebox_std::tower::RateLimitLayer`'s does (so the retry and breaker
/// layers above tell it from an upstream answer).
#[derive(Clone)]
pub struct FleetLimitLayer(pub Arc<FleetLimiter>);

impl<S> tower::Layer<S> for FleetLimitLayer {
    type Service = FleetLimit<S>;
    fn layer(&self, inner: S) -> FleetLimit<S> {
        FleetLimit {
            inner,
            limiter: Arc::clone(&self.0),
        }
    }
}

/// The service [`FleetLimitLayer`] makes.
#[derive(Clone)]
pub struct FleetLimit<S> {
    inner: S,
    limiter: Arc<FleetLimiter>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<Request<Body>> for FleetLimit<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The readied service takes this request; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = Arc::clone(&self.limiter);
        Box::pin(async move {
            let d = limiter.try_acquire(b"upstream").await;
            if d.admitted {
                inner.call(req).await
            } else {
                Ok(LayerError::new(ErrorKind::RateLimited, None, d.retry_after).to_response())
            }
        })
    }
}

/// A unique key prefix per run, so a rerun against the same Redis does
/// not find the last run's keys.
fn prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("outage-{}-{nanos}", std::process::id())
}

/// One instance's link to Redis: its own client and connection, a breaker
/// (3 failed calls in a row: degraded for 1 s), 100 ms per call.
async fn guard(url: &str) -> Result<Arc<RedisGuard>, BoxError> {
    let client = redis::Client::open(url).map_err(|e| {
        format!("`{url}` is not a Redis URL ({e}): give e.g. redis://127.0.0.1:6379/")
    })?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(Duration::from_secs(1)));
    let connection = redis::aio::ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| format!("cannot connect to Redis at {url} ({e}): is redis-server running?"))?;
    let breaker = fusebox::breaker::CircuitBreaker::new(
        fusebox::breaker::Config::new().open_duration(fusebox::time::Duration::from_secs(1)),
        fusebox::breaker::ConsecutiveFailures::new(3)?,
    )?;
    Ok(Arc::new(RedisGuard::new(
        connection,
        breaker,
        Duration::from_millis(100),
    )))
}

/// Runs [`SCRIPT`] once through `n` instances with `limits`.
pub async fn run(
    limits: Limits,
    n: usize,
    redis_url: &str,
    s: &Settings,
) -> Result<FleetRun, BoxError> {
    let script = Script::parse(SCRIPT)?;
    let quota = Quota::for_load(s);
    let t0 = Instant::now() + Duration::from_millis(100);
    let (up_addr, seen) = super::upstream::spawn(script.clone(), t0).await?;
    let base = format!("http://{up_addr}");
    let prefix = prefix();
    let mut addrs = Vec::new();
    let mut instances = Vec::new();
    let mut guards = Vec::new();
    for _ in 0..n {
        let up = Upstream::new(&base)?;
        let gw = match limits {
            Limits::PerInstance => {
                let shared = Shared {
                    limiter: UpstreamLimit::Local(fusebox_std::RateLimiter::new(
                        "upstream",
                        fusebox::rate::Quota::per_second(quota.rate)
                            .allow_burst(quota.burst)
                            .build()?,
                    )?),
                    store: gateway::memory_store()?,
                };
                gateway::fusebox(up, s, shared, t0)?
            }
            Limits::Shared => {
                let g = guard(redis_url).await?;
                let fleet_size = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX))
                    .unwrap_or(NonZeroU32::MIN);
                let limiter = FleetLimiter::new(
                    Arc::clone(&g),
                    FleetConfig::new(quota.rate, Duration::from_secs(1), quota.burst)
                        .prefix(prefix.clone())
                        .fallback(Fallback::LocalShare { fleet_size }),
                )?;
                let store: RedisIdempotencyStore = RedisIdempotencyStore::new(
                    Arc::clone(&g),
                    StoreConfig::new(Duration::from_secs(30), Duration::from_secs(600))
                        .prefix(prefix.clone()),
                    StoreFallback::FailClosed,
                );
                guards.push(g);
                let shared = Shared {
                    limiter: UpstreamLimit::Fleet(Arc::new(limiter)),
                    store,
                };
                gateway::fusebox(up, s, shared, t0)?
            }
        };
        instances.push(gw.stats);
        addrs.push(super::serve(gw.router, 0).await?);
    }
    let label = format!("{} x{n}", limits.label());
    let samples = super::load(&addrs, &script, s, t0, &label).await;
    Ok(FleetRun {
        limits,
        samples,
        instances,
        upstream: seen,
        redis: guards.iter().map(|g| g.metrics()).collect(),
    })
}

/// The fleet's table: per run, what the clients saw, what reached the
/// upstream, its peak in any second against the quota, keys executed
/// twice, and the Redis links.
pub fn table(runs: &[FleetRun], n: usize, s: &Settings) -> String {
    use std::fmt::Write;
    let q = Quota::for_load(s);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fleet: {n} instances, {} requests/s round-robin; upstream quota {}/s burst {} for the whole fleet",
        s.rate, q.rate, q.burst
    );
    let _ = writeln!(
        out,
        "{:<15} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8} {:>9} {:>10}",
        "limits", "reqs", "ok", "reject", "other", "upstream", "peak/1s", "allowed", "keys twice"
    );
    for run in runs {
        let ok = run
            .samples
            .iter()
            .filter(|x| x.class == super::Class::Ok)
            .count();
        let limited = run
            .samples
            .iter()
            .filter(|x| x.class == super::Class::Rejected)
            .count();
        let sent = run.sent_upstream();
        let duplicates = run
            .upstream
            .executions
            .lock()
            .expect("not poisoned")
            .values()
            .filter(|n| **n > 1)
            .count();
        let _ = writeln!(
            out,
            "{:<15} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8} {:>9} {:>10}",
            run.limits.label(),
            run.samples.len(),
            ok,
            limited,
            run.samples.len() - ok - limited,
            sent.len(),
            peak(&sent, 1.0),
            q.rate + q.burst,
            duplicates
        );
    }
    for run in runs.iter().filter(|r| !r.redis.is_empty()) {
        let calls: u64 = run.redis.iter().map(|m| m.calls).sum();
        let failures: u64 = run.redis.iter().map(|m| m.failures).sum();
        let degraded: u64 = run.redis.iter().map(|m| m.degraded).sum();
        let _ = writeln!(
            out,
            "redis links: {calls} calls, {failures} failed or timed out, {degraded} switches to degraded mode"
        );
    }
    let _ = writeln!(
        out,
        "(\"reject\": fast refusals, 429 / 503 / 409; \"allowed\": quota + burst in any second; \
         \"peak/1s\": the most requests that left for the upstream in any second)"
    );
    out
}
