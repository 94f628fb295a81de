//! The two gateways: plain (a fixed client timeout) and the recommended
//! fusebox stack, both axum in front of a hyper client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as AxumResponse};
use bytes::Bytes;
use fusebox::backoff::{Config as Backoff, Jitter};
use fusebox::breaker::{
    Config as BreakerConfig, ConsecutiveFailures, State as BreakerState, Transition,
};
use fusebox::rate::{Quota, WhenFull};
use fusebox::time::Duration;
use fusebox_std::idempotency::IdempotencyStore;
use fusebox_std::tower::{
    BreakerLayer, BulkheadLayer, CoalesceLayer, Header, HedgeLayer, IdempotencyLayer,
    KeyedRateLimitLayer, RateLimitLayer, RetryLayer,
};
use fusebox_std::{Breaker, Bulkhead, HedgePolicy, Hooks, KeyedLimiter, RateLimiter, RetryBudget};
use http::{HeaderName, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::timeout::TimeoutLayer;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use super::Settings;

/// The body every layer sees: buffered bytes (the idempotency layer
/// fingerprints and stores them, the retry layer replays them).
pub type Body = Full<Bytes>;
type Stack = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

/// Which gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fixed client timeout and nothing else.
    Plain,
    /// The recommended fusebox stack.
    Fusebox,
    /// The client timeout and fusebox's `HedgeLayer` (p95, a 10 % budget).
    FuseboxHedge,
    /// The client timeout and tower's own `tower::hedge` (p95).
    TowerHedge,
}

impl Mode {
    /// The label in the report.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Fusebox => "fusebox",
            Mode::FuseboxHedge => "fusebox hedge",
            Mode::TowerHedge => "tower hedge",
        }
    }
}

/// What the gateway counted.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests the gateway accepted.
    pub accepted: AtomicU64,
    /// Requests it answered.
    pub answered: AtomicU64,
    /// Requests answered `504` after the whole client timeout.
    pub full_timeouts: AtomicU64,
    /// When each request left for the upstream (below every fusebox
    /// layer), seconds since the run's start.
    pub sent_upstream: Mutex<Vec<f64>>,
    /// Requests that left for the upstream while the breaker said `Open`.
    pub sent_while_open: AtomicU64,
    /// Every breaker transition, seconds since the run's start.
    pub transitions: Mutex<Vec<(f64, Transition)>>,
}

/// The upstream: where the gateway sends requests.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Body>,
    base: String,
}

impl Upstream {
    /// `base` is `http://host:port` (a path prefix is kept; no TLS).
    pub fn new(base: &str) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: http::Uri = base
            .parse()
            .map_err(|e| format!("`{base}` is not a URL ({e}): give e.g. http://127.0.0.1:8080"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "`{base}`: only http:// upstreams are supported (no TLS in the demo)"
            ));
        }
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(http),
            base,
        })
    }
}

/// What the fusebox gateway shares with other gateway instances: the
/// upstream's rate limit and the idempotency store. Built by the caller,
/// so a shared (distributed) limiter or store can be passed in.
pub struct Shared<S> {
    /// The upstream's rate limit (rate plus burst).
    pub limiter: UpstreamLimit,
    /// Where `Idempotency-Key`s and their answers live.
    pub store: S,
}

/// Where the upstream's rate limit lives.
pub enum UpstreamLimit {
    /// In this process: fusebox's `RateLimitLayer`.
    Local(RateLimiter),
    /// In Redis, shared by a fleet (`super::fleet::FleetLimitLayer`).
    Fleet(Arc<fusebox_std::redis::FleetLimiter>),
}

impl Shared<fusebox_std::idempotency::MemoryIdempotencyStore<4096>> {
    /// An in-process limiter and store from the settings.
    pub fn local(s: &Settings) -> Result<Self, BoxError> {
        Ok(Self {
            limiter: UpstreamLimit::Local(RateLimiter::new(
                "upstream",
                Quota::per_second(s.upstream_rate)
                    .allow_burst(s.upstream_burst)
                    .build()?,
            )?),
            store: memory_store()?,
        })
    }
}

/// An in-process idempotency store: 4096 keys, answers kept an hour.
pub fn memory_store() -> Result<fusebox_std::idempotency::MemoryIdempotencyStore<4096>, BoxError> {
    Ok(fusebox_std::idempotency::MemoryIdempotencyStore::new(
        fusebox::dedup::Config::new().done_ttl(Duration::from_secs(3600)),
        fusebox::hash::Seed::from_bytes(fusebox_std::os_seed()),
    )?)
}

/// A built gateway: its router, its counters, its hedge policy (fusebox
/// hedge only).
pub struct Gateway {
    /// The axum app (every path is forwarded).
    pub router: Router,
    /// What it counted.
    pub stats: Arc<Stats>,
    /// The fusebox hedge gateway's policy (its counts).
    pub hedge: Option<HedgePolicy>,
}

struct Gw {
    stack: Stack,
    mode: Mode,
    client_timeout: StdDuration,
    stats: Arc<Stats>,
}

/// Whether the fusebox stack's breaker is open now.
type IsOpen = Arc<dyn Fn() -> bool + Send + Sync>;

fn forward(
    up: Upstream,
    stats: Arc<Stats>,
    t0: Instant,
    open: Option<IsOpen>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |mut req: Request<Body>| {
        stats
            .sent_upstream
            .lock()
            .expect("not poisoned")
            .push(t0.elapsed().as_secs_f64());
        if open.as_ref().is_some_and(|open| open()) {
            stats.sent_while_open.fetch_add(1, Ordering::Relaxed);
        }
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}{path}", up.base).parse();
        req.headers_mut().remove(http::header::HOST);
        let client = up.client.clone();
        async move {
            *req.uri_mut() = uri?;
            let (parts, body) = client.request(req).await?.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, Full::new(body)))
        }
    })
}

/// The plain gateway: the client timeout around the upstream call.
pub fn plain(up: Upstream, s: &Settings, t0: Instant) -> Gateway {
    let stats = Arc::new(Stats::default());
    let stack = ServiceBuilder::new()
        .layer(TimeoutLayer::new(s.client_timeout))
        .service(forward(up, Arc::clone(&stats), t0, None));
    finish(BoxCloneSyncService::new(stack), Mode::Plain, s, stats)
}

/// What protects the upstream in the fusebox stack: the breaker (its
/// configuration and failure policy) and the bulkhead's width. From the
/// [`Settings`] ([`Protection::from_settings`]) or from a configuration
/// file (`--serve --config FILE`, [`super::config`]).
pub struct Protection<P> {
    /// The breaker's configuration.
    pub config: BreakerConfig,
    /// The breaker's failure policy.
    pub policy: P,
    /// Concurrent upstream calls (no queue).
    pub bulkhead: u32,
}

impl Protection<ConsecutiveFailures> {
    /// The demo's own: trip after `trip_after` failures in a row, open
    /// `open_ms`, `probes` probes.
    pub fn from_settings(s: &Settings) -> Result<Self, BoxError> {
        Ok(Self {
            config: BreakerConfig::new()
                .open_duration(Duration::from_millis(s.open_ms))
                .half_open_probes(s.probes)
                .half_open_successes(s.probes),
            policy: ConsecutiveFailures::new(s.trip_after)?,
            bulkhead: s.bulkhead,
        })
    }
}

/// The fusebox gateway with the demo's own breaker and bulkhead
/// ([`Protection::from_settings`]).
pub fn fusebox<S: IdempotencyStore + 'static>(
    up: Upstream,
    s: &Settings,
    shared: Shared<S>,
    t0: Instant,
) -> Result<Gateway, BoxError> {
    fusebox_with(up, s, shared, Protection::from_settings(s)?, t0)
}

/// The fusebox gateway: the recommended stack in its documented order
/// (`fusebox_std::tower`), from the client inwards.
pub fn fusebox_with<S, P>(
    up: Upstream,
    s: &Settings,
    shared: Shared<S>,
    protection: Protection<P>,
    t0: Instant,
) -> Result<Gateway, BoxError>
where
    S: IdempotencyStore + 'static,
    P: fusebox::breaker::Policy + Send + Sync + 'static,
    P::Shared: Send + Sync + 'static,
{
    let stats = Arc::new(Stats::default());
    let hook_stats = Arc::clone(&stats);
    let hooks = Hooks::new().on_transition(move |_, t, _| {
        hook_stats
            .transitions
            .lock()
            .expect("not poisoned")
            .push((t0.elapsed().as_secs_f64(), t));
        metrics::gauge!("outage_breaker_state").set(state_code(t.to));
        metrics::counter!("outage_breaker_transitions_total", "to" => format!("{:?}", t.to))
            .increment(1);
    });
    metrics::gauge!("outage_breaker_state").set(0.0);
    let breaker = Breaker::builder("upstream")?
        .hooks(hooks)
        .build(protection.config, protection.policy)?;
    let open = {
        let breaker = breaker.clone();
        Arc::new(move || breaker.state() == BreakerState::Open) as IsOpen
    };
    let per_client: KeyedLimiter<Option<Vec<u8>>, 1024> = KeyedLimiter::new(
        "clients",
        Quota::per_second(s.per_client_rate)
            .allow_burst(s.per_client_burst)
            .build()?,
        WhenFull::EvictLeastRecent,
    )?;
    let retry = RetryLayer::new(
        // Full jitter from 10 ms: a request whose attempt met a hung
        // upstream answers within the attempt timeout plus this first
        // backoff, when its retry finds the breaker open (see
        // `Settings::attempt_timeout`).
        Backoff::exponential(Duration::from_millis(10), 2, Duration::from_millis(200))
            .jitter(Jitter::Full)
            .max_attempts(3)
            // The client's budget is 1 s: a `Retry-After` longer than this
            // (a breaker's open time, at least 1 s) ends the retries, so
            // the refusal reaches the client now instead of after the
            // client has given up.
            .max_hint(Duration::from_millis(200))
            .total_delay_budget(Duration::from_millis(300)),
    )?
    .budget(RetryBudget::new(
        "upstream",
        fusebox::rate::RetryBudget::builder()
            .percent_can_retry(20)
            .min_retries_per_sec(10)
            .ttl(Duration::from_secs(10))
            .build()?,
    )?);
    let (local, fleet) = match shared.limiter {
        UpstreamLimit::Local(l) => (Some(l), None),
        UpstreamLimit::Fleet(f) => (None, Some(f)),
    };
    let stack = ServiceBuilder::new()
        .layer(TimeoutLayer::new(s.client_timeout)) // 1. per request
        .layer(KeyedRateLimitLayer::new(
            per_client,
            Header(HeaderName::from_static("x-client")),
        )) // 2.
        .layer(IdempotencyLayer::new(shared.store)) // 3.
        .layer(CoalesceLayer::new()) // 4. identical concurrent GETs
        .layer(retry) // 5.
        .layer(BreakerLayer::new(breaker)) // 6.
        .layer(BulkheadLayer::new(Bulkhead::new(
            "upstream",
            protection.bulkhead,
            0,
            Duration::from_millis(0),
        )?)) // 7.
        // 8. in this process, or in Redis for a fleet
        .option_layer(local.map(RateLimitLayer::new))
        .option_layer(fleet.map(super::fleet::FleetLimitLayer))
        .layer(TimeoutLayer::new(s.attempt_timeout)) // 9. per attempt
        .service(forward(up, Arc::clone(&stats), t0, Some(open)));
    Ok(finish(
        BoxCloneSyncService::new(stack),
        Mode::Fusebox,
        s,
        stats,
    ))
}

/// The hedge at p95 of recent latency (10 s), at most 10 % more
/// requests: the slow tail's comparison.
pub const HEDGE_QUANTILE_PPM: u32 = 950_000;
/// The hedge budget, percent of requests.
pub const HEDGE_BUDGET_PERCENT: u16 = 10;

/// The fusebox hedging gateway: the client timeout, then fusebox's
/// [`HedgeLayer`] at p95 with a 10 % budget, straight to the upstream
/// (no other layer, as the tower hedge gateway, so the two compare
/// hedging alone).
///
/// Not in the [`fusebox`] stack: there a hedge passes the bulkhead and the
/// rate limit below it, and `HedgeLayer` returns the first answer, so a
/// hedge refused by them (`503`, `429`, answered at once) would win over
/// the slower copy that was going to succeed. That stack cuts the tail
/// with its attempt timeout and a retry instead.
pub fn fusebox_hedge(up: Upstream, s: &Settings, t0: Instant) -> Result<Gateway, BoxError> {
    let stats = Arc::new(Stats::default());
    let policy = HedgePolicy::new(
        "upstream",
        fusebox::latency::hedge::Config::new()
            .quantile(HEDGE_QUANTILE_PPM)
            .budget_percent(HEDGE_BUDGET_PERCENT),
        Duration::from_secs(10),
    )?;
    let stack = ServiceBuilder::new()
        .layer(TimeoutLayer::new(s.client_timeout))
        .layer(HedgeLayer::new(policy.clone()))
        .service(forward(up, Arc::clone(&stats), t0, None));
    let mut gw = finish(
        BoxCloneSyncService::new(stack),
        Mode::FuseboxHedge,
        s,
        stats,
    );
    gw.hedge = Some(policy);
    Ok(gw)
}

/// `tower::hedge`'s policy: hedge what is safe to repeat (an idempotent
/// method or an `Idempotency-Key`, the rule fusebox's layer uses).
#[derive(Clone)]
struct Repeatable;

impl tower::hedge::Policy<Request<Body>> for Repeatable {
    fn clone_request(&self, req: &Request<Body>) -> Option<Request<Body>> {
        if !(req.method().is_idempotent() || req.headers().contains_key("idempotency-key")) {
            return None;
        }
        let mut b = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version());
        *b.headers_mut()? = req.headers().clone();
        b.body(req.body().clone()).ok()
    }

    fn can_retry(&self, _: &Request<Body>) -> bool {
        true
    }
}

/// The tower hedging gateway: the client timeout, then `tower::hedge`
/// at p95 (20 samples at least, histogram rotated every second; tower
/// has no budget), behind a `tower::buffer` (a `Hedge` is not `Clone`).
pub fn tower_hedge(up: Upstream, s: &Settings, t0: Instant) -> Gateway {
    let stats = Arc::new(Stats::default());
    let hedge = tower::hedge::Hedge::new(
        forward(up, Arc::clone(&stats), t0, None),
        Repeatable,
        20,
        HEDGE_QUANTILE_PPM as f32 / 1e6,
        StdDuration::from_secs(1),
    );
    let stack = ServiceBuilder::new()
        .layer(TimeoutLayer::new(s.client_timeout))
        .layer(tower::buffer::BufferLayer::new(1024))
        .service(hedge);
    finish(BoxCloneSyncService::new(stack), Mode::TowerHedge, s, stats)
}

/// 0 closed, 1 half-open, 2 open (forced states as their plain ones).
pub fn state_code(s: BreakerState) -> f64 {
    match s {
        BreakerState::Closed | BreakerState::ForcedClosed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open | BreakerState::ForcedOpen => 2.0,
    }
}

fn finish(stack: Stack, mode: Mode, s: &Settings, stats: Arc<Stats>) -> Gateway {
    let gw = Arc::new(Gw {
        stack,
        mode,
        client_timeout: s.client_timeout,
        stats: Arc::clone(&stats),
    });
    Gateway {
        router: Router::new().fallback(handle).with_state(gw),
        stats,
        hedge: None,
    }
}

async fn handle(State(gw): State<Arc<Gw>>, req: axum::extract::Request) -> AxumResponse {
    let started = Instant::now();
    gw.stats.accepted.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let resp = match body.collect().await {
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )
            .into_response(),
        Ok(body) => match gw
            .stack
            .clone()
            .oneshot(Request::from_parts(parts, Full::new(body.to_bytes())))
            .await
        {
            Ok(r) => r.map(axum::body::Body::new),
            Err(e) if e.is::<tower::timeout::error::Elapsed>() => {
                if started.elapsed() + StdDuration::from_millis(5) >= gw.client_timeout {
                    gw.stats.full_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "the upstream did not answer in time",
                )
                    .into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, format!("upstream error: {e}")).into_response(),
        },
    };
    gw.stats.answered.fetch_add(1, Ordering::Relaxed);
    let class = super::Class::of(resp.status().as_u16()).label();
    metrics::counter!("outage_gateway_responses_total", "gateway" => gw.mode.label(), "class" => class)
        .increment(1);
    metrics::histogram!("outage_gateway_latency_seconds", "gateway" => gw.mode.label())
        .record(started.elapsed().as_secs_f64());
    resp
}
