//! Soak under injected faults (#19): the recommended tower stack
//! (`fusebox_std::tower`'s docs, the README) as a gateway on real HTTP over
//! loopback, driven by thousands of concurrent clients for a bounded time
//! while the upstream, from a seeded random script, answers errors, hangs,
//! resets connections, answers slowly and recovers.
//!
//! Everything is asserted by counts, never by wall-clock time:
//! - every request gets an answer: a success or an explicit rejection
//!   (a status); none is lost (a transport error) and none hangs (no
//!   answer within five times the gateway's own deadline);
//! - the rate law holds at the upstream: the requests it receives, counted
//!   per window by the instant they left the gateway's rate limit, are
//!   within rate x window + burst;
//! - no idempotency key runs twice: a key's successful answer passes up
//!   the stack at most once within the store's TTL, and every later answer
//!   the client gets for the key is that same run;
//! - nothing leaks: half-open probe slots, bulkhead permits and queue
//!   places, coalescing entries and idempotency keys in flight are all
//!   back to zero once the load stops (the handles' read-outs);
//! - resident memory stays flat: sampled from `/proc/self/statm`, it grows
//!   by under 10 % after the warm-up (the first half of the load, with
//!   every fault at full strength in it);
//! - once the upstream is healthy, the breaker closes after exactly its
//!   configured probe successes, and its transitions come in a valid order.
//!
//! The fixed-seed short version runs in `cargo test` (under 60 s, its own
//! test binary so that no other test takes its cores). `tests/deep.sh`
//! (part `soak`) runs longer ones with random seeds through the
//! environment:
//!
//! - `FUSEBOX_SOAK_SEED`: the fault script's seed (printed at the start);
//! - `FUSEBOX_SOAK_SECS`: seconds of load (default 40);
//! - `FUSEBOX_SOAK_CLIENTS`: concurrent clients (default 2000), with at
//!   most 512 requests in flight (fewer if the open-file limit is lower,
//!   said on stderr).
//!
//! The script (phases, their faults and shares) is a function of the seed;
//! which request meets which fault also depends on timing, so a seed
//! replays the same script, not the same requests. RELIABILITY.md has the
//! figures of the last run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use fusebox::backoff::{Config as Backoff, Jitter};
use fusebox::breaker::{Config as BreakerConfig, ConsecutiveFailures, State, Transition};
use fusebox::dedup::{Config as DedupConfig, Eviction};
use fusebox::hash::Seed;
use fusebox::latency::hedge;
use fusebox::rate::{Quota, WhenFull};
use fusebox::time::Duration;
use fusebox_std::idempotency::MemoryIdempotencyStore;
use fusebox_std::tower::{
    BreakerLayer, BulkheadLayer, CoalesceLayer, Header, HedgeLayer, IdempotencyLayer,
    KeyedRateLimitLayer, RateLimitLayer, RetryLayer,
};
use fusebox_std::{
    Breaker, Bulkhead, HedgePolicy, Hooks, KeyedLimiter, RateLimiter, RetryBudget, TICK_HZ,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};
use tower::timeout::TimeoutLayer;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

// ---------------------------------------------------------------------------
// The gateway's settings (the recommended stack, sized for two cores).

/// The gateway's own deadline per request (the outermost timeout).
const DEADLINE: StdDuration = StdDuration::from_millis(1000);
/// A request without an answer after this long hangs: five times the
/// gateway's deadline.
const HANG_CUTOFF: StdDuration = StdDuration::from_millis(5 * 1000);
/// The per-attempt timeout (innermost).
const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_millis(250);
/// The upstream's rate limit: requests per second and burst.
const UP_RATE: u32 = 400;
const UP_BURST: u32 = 40;
/// Per client: requests per second and burst.
const CLIENT_RATE: u32 = 4;
const CLIENT_BURST: u32 = 4;
/// Distinct client ids (several client tasks share one).
const CLIENT_IDS: usize = 500;
/// The breaker: consecutive failures to trip, open time, probes.
const TRIP_AFTER: u32 = 5;
const OPEN_MS: u64 = 300;
const PROBES: u16 = 3;
/// The bulkhead: slots, queue places, longest wait.
const BULKHEAD: u32 = 48;
const QUEUE: u32 = 48;
const QUEUE_WAIT_MS: u64 = 50;
/// Idempotency: table size and how long an answer is kept.
const KEYS: usize = 8192;
const DONE_TTL_SECS: u64 = 5;
/// GET paths (few, so that concurrent identical GETs coalesce).
const ITEMS: u64 = 32;
/// The warm-up ends once the clients have sent this many requests each on
/// average (and every fault has had its phase).
const WARM_REQUESTS: u64 = 6;
/// The most requests the clients have in flight at once (each holds a
/// pooled connection to the gateway).
const IN_FLIGHT: usize = 512;
/// Mean pause of a client between two requests.
const THINK_MS: u64 = 1000;

// ---------------------------------------------------------------------------
// The fault script.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Every answer fast and fine.
    Healthy,
    /// `percent` of answers are 500, 502 or 503.
    Errors,
    /// `percent` of requests get no answer (until the gateway gives up).
    Hang,
    /// `percent` of requests have their connection reset (TCP RST).
    Reset,
    /// `percent` of answers come after `slow_ms`.
    Slow,
}

const FAULTS: [Fault; 5] = [
    Fault::Healthy,
    Fault::Errors,
    Fault::Hang,
    Fault::Reset,
    Fault::Slow,
];

#[derive(Debug, Clone, Copy)]
struct Phase {
    fault: Fault,
    percent: u64,
    slow_ms: u64,
    ms: u64,
}

/// The script for `load_ms` of load: a warm-up round with every fault once
/// (in a seeded order), then seeded random phases, and healthy at the end
/// (so that the breaker can close under load).
fn script(rng: &mut TestRng, load_ms: u64) -> (Vec<Phase>, u64) {
    let phase = |rng: &mut TestRng, fault: Fault| Phase {
        fault,
        percent: 20 + rng.next_u64() % 81,
        slow_ms: 50 + rng.next_u64() % (2 * ATTEMPT_TIMEOUT.as_millis() as u64),
        ms: 600 + rng.next_u64() % 1400,
    };
    let mut order = FAULTS;
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    // The warm-up at full strength (every request meets the fault, the
    // slowest answers): the most the soak can hold at once is reached in
    // it, so the memory baseline includes it.
    let mut phases: Vec<Phase> = order
        .iter()
        .map(|f| Phase {
            percent: 100,
            slow_ms: 50 + 2 * ATTEMPT_TIMEOUT.as_millis() as u64 - 1,
            ..phase(rng, *f)
        })
        .collect();
    let warm_up: u64 = phases.iter().map(|p| p.ms).sum();
    let tail = 2_000;
    let mut t = warm_up;
    while t + tail < load_ms {
        let f = FAULTS[(rng.next_u64() % FAULTS.len() as u64) as usize];
        let mut p = phase(rng, f);
        p.ms = p.ms.min(load_ms - tail - t).max(1);
        t += p.ms;
        phases.push(p);
    }
    phases.push(Phase {
        fault: Fault::Healthy,
        percent: 0,
        slow_ms: 0,
        ms: u64::MAX / 4,
    });
    (phases, warm_up)
}

fn mix(mut x: u64) -> u64 {
    // SplitMix64's finaliser: a per-request roll from the seed and the
    // request's arrival number.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

// ---------------------------------------------------------------------------
// The upstream: axum behind a hand-written accept loop, so that a handler
// can reset its own connection.

/// The end of the soak overrides the script.
const MODE_SCRIPT: u8 = 0;
const MODE_FAIL: u8 = 1;
const MODE_HEALTHY: u8 = 2;

#[derive(Default)]
struct Injected {
    ok: AtomicU64,
    errors: AtomicU64,
    hangs: AtomicU64,
    hangs_ended: AtomicU64,
    resets: AtomicU64,
    slow: AtomicU64,
}

struct Upstream {
    seed: u64,
    /// The start of the script (set once every client has connected;
    /// healthy before).
    t0: std::sync::OnceLock<StdInstant>,
    phases: Vec<Phase>,
    mode: AtomicU8,
    arrivals: AtomicU64,
    injected: Injected,
    /// Requests received, per window of the instant they left the
    /// gateway's rate limit (ticks of its clock since `stamp0`).
    windows: Vec<AtomicU32>,
    stamp0: u64,
    unstamped: AtomicU64,
    /// Runs of requests with an idempotency key (a run per arrival).
    keyed_runs: AtomicU64,
    runs: AtomicU64,
}

/// Counting windows of 100 ms.
const WINDOW_TICKS: u64 = TICK_HZ / 10;

/// Set on a connection; a handler notifies it to reset the connection.
struct ConnReset(tokio::sync::Notify);

impl Upstream {
    fn phase(&self) -> Phase {
        let Some(t0) = self.t0.get() else {
            return Phase {
                fault: Fault::Healthy,
                percent: 0,
                slow_ms: 0,
                ms: 0,
            };
        };
        let mut t = t0.elapsed().as_millis() as u64;
        for p in &self.phases {
            if t < p.ms {
                return *p;
            }
            t -= p.ms;
        }
        self.phases[self.phases.len() - 1]
    }
}

async fn upstream_handler(
    AxState(up): AxState<Arc<Upstream>>,
    conn: axum::Extension<Arc<ConnReset>>,
    headers: HeaderMap,
) -> axum::response::Response {
    let n = up.arrivals.fetch_add(1, Ordering::Relaxed);
    match headers
        .get("x-sent-at")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        Some(stamp) => {
            let w = (stamp.saturating_sub(up.stamp0) / WINDOW_TICKS) as usize;
            match up.windows.get(w) {
                Some(c) => {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    up.unstamped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        None => {
            up.unstamped.fetch_add(1, Ordering::Relaxed);
        }
    }
    if headers.contains_key("idempotency-key") {
        up.keyed_runs.fetch_add(1, Ordering::Relaxed);
    }
    let phase = match up.mode.load(Ordering::Relaxed) {
        MODE_FAIL => Phase {
            fault: Fault::Errors,
            percent: 100,
            slow_ms: 0,
            ms: 0,
        },
        MODE_HEALTHY => Phase {
            fault: Fault::Healthy,
            percent: 0,
            slow_ms: 0,
            ms: 0,
        },
        _ => up.phase(),
    };
    let roll = mix(up.seed ^ n);
    let hit = roll % 100 < phase.percent;
    let inj = &up.injected;
    match phase.fault {
        Fault::Errors if hit => {
            inj.errors.fetch_add(1, Ordering::Relaxed);
            let status = [500, 502, 503][((roll >> 8) % 3) as usize];
            return StatusCode::from_u16(status)
                .expect("a status")
                .into_response();
        }
        Fault::Hang if hit => {
            inj.hangs.fetch_add(1, Ordering::Relaxed);
            // No answer while the gateway waits: it gives up at its attempt
            // timeout (or at the latest at its deadline) and closes the
            // connection. The handler itself ends a little after the
            // deadline: a hung request must not hold the upstream's memory
            // for longer than the gateway could wait for it.
            tokio::time::sleep(DEADLINE + StdDuration::from_millis(250)).await;
            inj.hangs_ended.fetch_add(1, Ordering::Relaxed);
            return StatusCode::OK.into_response();
        }
        Fault::Reset if hit => {
            inj.resets.fetch_add(1, Ordering::Relaxed);
            conn.0.0.notify_one();
            std::future::pending::<()>().await;
        }
        Fault::Slow if hit => {
            inj.slow.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(StdDuration::from_millis(phase.slow_ms)).await;
        }
        _ => {
            inj.ok.fetch_add(1, Ordering::Relaxed);
        }
    }
    let run = up.runs.fetch_add(1, Ordering::Relaxed) + 1;
    (
        StatusCode::OK,
        [("x-run", run.to_string())],
        format!("run={run}"),
    )
        .into_response()
}

async fn spawn_upstream(up: Arc<Upstream>) -> SocketAddr {
    let router = Router::new()
        .fallback(upstream_handler)
        .with_state(Arc::clone(&up));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            // Closing a socket with a zero linger sends a reset (RST), not
            // a FIN: what a reset fault closes is reset.
            let _ = stream.set_nodelay(true);
            let _ = stream.set_zero_linger();
            let reset = Arc::new(ConnReset(tokio::sync::Notify::new()));
            let router = router.clone();
            let on_conn = Arc::clone(&reset);
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Arc::clone(&on_conn));
                router.clone().oneshot(req)
            });
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    () = reset.0.notified() => {}
                }
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------
// The ledger of idempotency keys, at the bottom of the gateway's stack:
// every successful upstream answer to a keyed request passes here on its
// way up. A ring of preallocated slots (no allocation per request, so it
// does not count in the memory check).

const RING: usize = 1 << 17;

#[derive(Clone, Copy, Default)]
struct KeySlot {
    id: u64,
    delivered: u32,
    first_at: u64,
}

struct Ledger {
    slots: Mutex<Vec<KeySlot>>,
    twice: AtomicU64,
    after_ttl: AtomicU64,
    overwritten: AtomicU64,
    example: Mutex<Option<String>>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            slots: Mutex::new(vec![KeySlot::default(); RING]),
            twice: AtomicU64::new(0),
            after_ttl: AtomicU64::new(0),
            overwritten: AtomicU64::new(0),
            example: Mutex::new(None),
        }
    }

    fn delivered(&self, id: u64, run: u64, now: u64) {
        let mut slots = self.slots.lock().expect("not poisoned");
        let s = &mut slots[(id as usize) % RING];
        if s.id != id {
            if s.id > id {
                self.overwritten.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *s = KeySlot {
                id,
                delivered: 0,
                first_at: now,
            };
        }
        s.delivered += 1;
        if s.delivered > 1 {
            if now.saturating_sub(s.first_at) < DONE_TTL_SECS * TICK_HZ {
                self.twice.fetch_add(1, Ordering::Relaxed);
                let mut e = self.example.lock().expect("not poisoned");
                e.get_or_insert_with(|| {
                    format!(
                        "key k-{id}: answer #{} (run {run}) within the TTL",
                        s.delivered
                    )
                });
            } else {
                self.after_ttl.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The gateway: the recommended stack in its documented order.

type Body = Full<Bytes>;
type Stack = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

#[derive(Default)]
struct GatewayStats {
    accepted: AtomicU64,
    answered: AtomicU64,
    in_flight_max: AtomicU64,
    timeouts: AtomicU64,
    upstream_errors: AtomicU64,
    rejections: Mutex<HashMap<String, u64>>,
}

struct Gateway {
    stack: Stack,
    stats: GatewayStats,
}

struct Parts {
    breaker: Breaker,
    bulkhead: Bulkhead,
    coalesce: CoalesceLayer,
    store: Arc<MemoryIdempotencyStore<KEYS>>,
    hedge: HedgePolicy,
    transitions: Arc<Mutex<Vec<Transition>>>,
}

fn gateway(up: SocketAddr, ledger: Arc<Ledger>, seed: u64) -> (Arc<Gateway>, Parts) {
    let transitions = Arc::new(Mutex::new(Vec::with_capacity(1 << 16)));
    let log = Arc::clone(&transitions);
    let hooks = Hooks::new().on_transition(move |_, t, _| {
        log.lock().expect("not poisoned").push(t);
    });
    let breaker = Breaker::builder("upstream")
        .expect("name")
        .hooks(hooks)
        .build(
            BreakerConfig::new()
                .open_duration(Duration::from_millis(OPEN_MS))
                .half_open_probes(PROBES)
                .half_open_successes(PROBES),
            ConsecutiveFailures::new(TRIP_AFTER).expect("threshold"),
        )
        .expect("breaker");
    let per_client: KeyedLimiter<Option<Vec<u8>>, 1024> = KeyedLimiter::new(
        "clients",
        Quota::per_second(CLIENT_RATE)
            .allow_burst(CLIENT_BURST)
            .build()
            .expect("quota"),
        WhenFull::EvictLeastRecent,
    )
    .expect("keyed limiter");
    let store = Arc::new(
        MemoryIdempotencyStore::<KEYS>::new(
            DedupConfig::new()
                // Longer than any soak: a key claimed and never given back
                // stays counted in flight (the leak check sees it).
                .in_flight_ttl(Duration::from_secs(3600))
                .done_ttl(Duration::from_secs(DONE_TTL_SECS))
                .eviction(Eviction::KeepDone),
            Seed::new(seed, !seed),
        )
        .expect("store"),
    );
    let coalesce = CoalesceLayer::new();
    let retry = RetryLayer::new(
        Backoff::exponential(Duration::from_millis(20), 2, Duration::from_millis(200))
            .jitter(Jitter::Full)
            .max_attempts(3)
            .max_hint(Duration::from_millis(200))
            .total_delay_budget(Duration::from_millis(300)),
    )
    .expect("schedule")
    .budget(
        RetryBudget::new(
            "upstream",
            fusebox::rate::RetryBudget::builder()
                .percent_can_retry(20)
                .min_retries_per_sec(10)
                .ttl(Duration::from_secs(10))
                .build()
                .expect("budget"),
        )
        .expect("budget"),
    );
    let hedge = HedgePolicy::new(
        "upstream",
        hedge::Config::new().budget_percent(5),
        Duration::from_secs(10),
    )
    .expect("hedge policy");
    let bulkhead = Bulkhead::new(
        "upstream",
        BULKHEAD,
        QUEUE,
        Duration::from_millis(QUEUE_WAIT_MS),
    )
    .expect("bulkhead");
    let limiter = RateLimiter::new(
        "upstream",
        Quota::per_second(UP_RATE)
            .allow_burst(UP_BURST)
            .build()
            .expect("quota"),
    )
    .expect("limiter");

    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build(http);
    let stamp_clock = limiter.clone();
    let forward = tower::service_fn(move |mut req: Request<Body>| {
        // Below every fusebox layer: stamp the instant (on the rate
        // limiter's clock) this request left, for the upstream's count.
        let stamp = stamp_clock.now().as_ticks();
        req.headers_mut()
            .insert("x-sent-at", HeaderValue::from(stamp));
        let key = key_id(req.headers());
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("http://{up}{path}").parse();
        let client = client.clone();
        let ledger = Arc::clone(&ledger);
        let stamp_clock = stamp_clock.clone();
        async move {
            *req.uri_mut() = uri?;
            let (parts, body) = client.request(req).await?.into_parts();
            let body = body.collect().await?.to_bytes();
            if let (Some(id), true) = (key, parts.status.is_success()) {
                let run = parts
                    .headers
                    .get("x-run")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0);
                ledger.delivered(id, run, stamp_clock.now().as_ticks());
            }
            Ok::<_, BoxError>(Response::from_parts(parts, Full::new(body)))
        }
    });
    let stack = ServiceBuilder::new()
        .layer(TimeoutLayer::new(DEADLINE)) // per request
        .layer(KeyedRateLimitLayer::new(
            per_client,
            Header(axum::http::HeaderName::from_static("x-client")),
        ))
        .layer(IdempotencyLayer::shared(Arc::clone(&store)))
        .layer(coalesce.clone())
        .layer(retry)
        .layer(HedgeLayer::new(hedge.clone()))
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .layer(RateLimitLayer::new(limiter.clone()))
        .layer(TimeoutLayer::new(ATTEMPT_TIMEOUT)) // per attempt
        .service(forward);
    let gw = Arc::new(Gateway {
        stack: BoxCloneSyncService::new(stack),
        stats: GatewayStats::default(),
    });
    (
        gw,
        Parts {
            breaker,
            bulkhead,
            coalesce,
            store,
            hedge,
            transitions,
        },
    )
}

/// `Idempotency-Key: "k-<id>"` -> `id`.
fn key_id(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get("idempotency-key")?.to_str().ok()?;
    v.trim_matches('"').strip_prefix("k-")?.parse().ok()
}

async fn gateway_handler(
    AxState(gw): AxState<Arc<Gateway>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let s = &gw.stats;
    let now = s.accepted.fetch_add(1, Ordering::Relaxed) + 1;
    s.in_flight_max.fetch_max(
        now.saturating_sub(s.answered.load(Ordering::Relaxed)),
        Ordering::Relaxed,
    );
    let (parts, body) = req.into_parts();
    let resp = match body.collect().await {
        Err(e) => (StatusCode::BAD_REQUEST, format!("unreadable body: {e}")).into_response(),
        Ok(body) => match gw
            .stack
            .clone()
            .oneshot(Request::from_parts(parts, Full::new(body.to_bytes())))
            .await
        {
            Ok(r) => {
                let mut r = r.map(axum::body::Body::new);
                if let Some(e) = r.extensions().get::<fusebox_std::tower::Error>() {
                    let kind = format!("{:?}", e.kind());
                    r.headers_mut().insert(
                        "x-fusebox",
                        HeaderValue::from_str(&kind).expect("a header value"),
                    );
                    *s.rejections
                        .lock()
                        .expect("not poisoned")
                        .entry(kind)
                        .or_default() += 1;
                }
                r
            }
            Err(e) if e.is::<tower::timeout::error::Elapsed>() => {
                s.timeouts.fetch_add(1, Ordering::Relaxed);
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "the upstream did not answer in time",
                )
                    .into_response()
            }
            Err(e) => {
                s.upstream_errors.fetch_add(1, Ordering::Relaxed);
                (StatusCode::BAD_GATEWAY, format!("upstream error: {e}")).into_response()
            }
        },
    };
    s.answered.fetch_add(1, Ordering::Relaxed);
    resp
}

// ---------------------------------------------------------------------------
// The clients.

#[derive(Default)]
struct ClientStats {
    sent: AtomicU64,
    answered: AtomicU64,
    hung: AtomicU64,
    lost: AtomicU64,
    ok: AtomicU64,
    replayed: AtomicU64,
    conflict: AtomicU64,
    rate_limited: AtomicU64,
    fusebox_503: AtomicU64,
    unmarked_5xx: AtomicU64,
    bad_gateway: AtomicU64,
    timeout: AtomicU64,
    unexpected: AtomicU64,
    other_run: AtomicU64,
    rerun_after_ttl: AtomicU64,
    example: Mutex<Option<String>>,
}

impl ClientStats {
    fn note(&self, what: String) {
        self.example
            .lock()
            .expect("not poisoned")
            .get_or_insert(what);
    }
}

type HttpClient = Client<HttpConnector, Body>;

/// The load generator's way to the gateway: one pooled hyper client for
/// every client task, and at most `IN_FLIGHT` requests at once (so the
/// pool, opened to that size before the script starts, never grows).
#[derive(Clone)]
struct Gate {
    http: HttpClient,
    slots: Option<Arc<tokio::sync::Semaphore>>,
}

struct Answer {
    status: StatusCode,
    run: Option<u64>,
}

/// One request, with the hang cutoff; `None` if it got no answer.
async fn send(
    client: &Gate,
    stats: &ClientStats,
    req: Request<Body>,
    what: &str,
) -> Option<Answer> {
    // Waiting for a slot is the load generator's own queue, not the
    // gateway's: the hang cutoff starts once the request has one.
    let _slot = match &client.slots {
        Some(s) => Some(s.acquire().await.expect("never closed")),
        None => None,
    };
    stats.sent.fetch_add(1, Ordering::Relaxed);
    let uri = req.uri().clone();
    let key = req.headers().get("idempotency-key").cloned();
    let what = || format!("{what} {uri} (key {key:?})");
    let call = async {
        let resp = client.http.request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok::<_, BoxError>((parts, body))
    };
    let (parts, body) = match tokio::time::timeout(HANG_CUTOFF, call).await {
        Err(_) => {
            stats.hung.fetch_add(1, Ordering::Relaxed);
            stats.note(format!("{}: no answer within {HANG_CUTOFF:?}", what()));
            return None;
        }
        Ok(Err(e)) => {
            stats.lost.fetch_add(1, Ordering::Relaxed);
            stats.note(format!("{}: lost ({e})", what()));
            return None;
        }
        Ok(Ok(r)) => r,
    };
    stats.answered.fetch_add(1, Ordering::Relaxed);
    let fusebox = parts.headers.contains_key("x-fusebox");
    let counter = match parts.status.as_u16() {
        200 => {
            if parts.headers.contains_key("idempotent-replayed") {
                stats.replayed.fetch_add(1, Ordering::Relaxed);
            }
            &stats.ok
        }
        409 => &stats.conflict,
        429 => &stats.rate_limited,
        503 if fusebox => &stats.fusebox_503,
        502 if !fusebox && body.starts_with(b"upstream error") => &stats.bad_gateway,
        504 => &stats.timeout,
        500 | 502 | 503 => &stats.unmarked_5xx,
        s => {
            stats.note(format!("{}: unexpected status {s}: {body:?}", what()));
            &stats.unexpected
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let run = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| b.strip_prefix("run=")?.parse().ok());
    Some(Answer {
        status: parts.status,
        run,
    })
}

fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    client: usize,
    key: Option<u64>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("x-client", format!("c{client}"));
    if let Some(k) = key {
        b = b.header("idempotency-key", format!("\"k-{k}\""));
    }
    let body = key.map_or_else(Bytes::new, |k| Bytes::from(format!("order {k}")));
    b.body(Full::new(body)).expect("a valid request")
}

/// What a client saw of one of its keys.
#[derive(Clone, Copy)]
struct Seen {
    /// The upstream run of its first success.
    run: Option<u64>,
    /// When the key was first sent: every answer for it is stored after
    /// this, so it stays stored at least until the TTL after this.
    first_sent: StdInstant,
}

impl Seen {
    fn now() -> Self {
        Self {
            run: None,
            first_sent: StdInstant::now(),
        }
    }
}

/// A client: until `end`, a pause then one of: a GET of a shared item
/// (coalesced, hedged, retried), a POST with a new idempotency key, the
/// last key again (a replay, or a new run if the last one failed), two
/// copies of a new key at once (one runs, the other waits its turn: `409`
/// or the replay), or a POST without a key (never retried).
async fn client_task(
    i: usize,
    seed: u64,
    addr: SocketAddr,
    client: Gate,
    stats: Arc<ClientStats>,
    next_key: Arc<AtomicU64>,
    end: StdInstant,
) {
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &{
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        s
    });
    let id = i % CLIENT_IDS;
    // The last key, and the run whose success the client saw for it.
    let mut last: Option<(u64, Seen)> = None;
    // Spread the first requests over the first second.
    tokio::time::sleep(StdDuration::from_millis(rng.next_u64() % 1000)).await;
    while StdInstant::now() < end {
        let roll = rng.next_u64() % 100;
        // A success for a key must be the run of the key's first success,
        // unless the stored answer may have expired: the store completed it
        // after the key was first sent, and this answer came back more than
        // the TTL after that.
        let check = |key: u64, seen: &mut Seen, a: &Answer| {
            if a.status.is_success() {
                match (seen.run, a.run) {
                    (Some(r), Some(now)) if r != now => {
                        if seen.first_sent.elapsed() < StdDuration::from_secs(DONE_TTL_SECS) {
                            stats.other_run.fetch_add(1, Ordering::Relaxed);
                            stats.note(format!(
                                "key k-{key}: answered by run {r}, then by run {now} within the TTL"
                            ));
                        } else {
                            stats.rerun_after_ttl.fetch_add(1, Ordering::Relaxed);
                        }
                        // `first_sent` stays a lower bound of every later
                        // completion of the key.
                        seen.run = Some(now);
                    }
                    (None, Some(now)) => seen.run = Some(now),
                    _ => {}
                }
            }
        };
        if roll < 55 {
            let path = format!("/item/{}", rng.next_u64() % ITEMS);
            send(
                &client,
                &stats,
                request(addr, Method::GET, &path, id, None),
                "GET",
            )
            .await;
        } else if roll < 80 || (roll < 90 && last.is_none()) {
            let key = next_key.fetch_add(1, Ordering::Relaxed);
            let mut seen = Seen::now();
            if let Some(a) = send(
                &client,
                &stats,
                request(addr, Method::POST, "/order", id, Some(key)),
                "POST",
            )
            .await
            {
                check(key, &mut seen, &a);
            }
            last = Some((key, seen));
        } else if roll < 90 {
            let (key, mut seen) = last.expect("a last key");
            if let Some(a) = send(
                &client,
                &stats,
                request(addr, Method::POST, "/order", id, Some(key)),
                "POST again",
            )
            .await
            {
                check(key, &mut seen, &a);
            }
            last = Some((key, seen));
        } else if roll < 95 {
            let key = next_key.fetch_add(1, Ordering::Relaxed);
            let mut seen = Seen::now();
            let (a, b) = tokio::join!(
                send(
                    &client,
                    &stats,
                    request(addr, Method::POST, "/order", id, Some(key)),
                    "POST twin"
                ),
                send(
                    &client,
                    &stats,
                    request(addr, Method::POST, "/order", id, Some(key)),
                    "POST twin"
                ),
            );
            for a in [a, b].iter().flatten() {
                check(key, &mut seen, a);
            }
            last = Some((key, seen));
        } else {
            send(
                &client,
                &stats,
                request(addr, Method::POST, "/note", id, None),
                "POST without a key",
            )
            .await;
        }
        tokio::time::sleep(StdDuration::from_millis(rng.next_u64() % (2 * THINK_MS))).await;
    }
}

// ---------------------------------------------------------------------------
// Resident memory.

fn rss_pages() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files (`/proc/self/limits`), if known.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// User and system CPU time of this process, in clock ticks
/// (`/proc/self/stat`, fields 14 and 15; 100 a second on Linux).
fn cpu_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v}: give a whole number"),
    }
}

// ---------------------------------------------------------------------------
// The soak.

struct Settings {
    seed: u64,
    load_secs: u64,
    clients: usize,
    in_flight: usize,
}

#[test]
fn soak_under_faults() {
    let fd_limit = open_files_limit();
    let wanted = env_u64("FUSEBOX_SOAK_CLIENTS").unwrap_or(2000) as usize;
    // Each client holds up to two connections (a twin request), each with
    // two ends in this process, plus the gateway's connections upstream.
    // Each request in flight holds a connection, with both ends here.
    let in_flight = fd_limit.map_or(IN_FLIGHT, |l| {
        IN_FLIGHT.min((l.saturating_sub(512) / 2) as usize)
    });
    let settings = Settings {
        in_flight: in_flight.max(1),
        seed: env_u64("FUSEBOX_SOAK_SEED").unwrap_or(19),
        load_secs: env_u64("FUSEBOX_SOAK_SECS").unwrap_or(40).max(10),
        clients: wanted.max(1),
    };
    if settings.in_flight < IN_FLIGHT {
        eprintln!(
            "soak: at most {} requests in flight, not {IN_FLIGHT}: the open-file limit is {fd_limit:?} (raise it with ulimit -n)",
            settings.in_flight
        );
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime");
    // The idempotency store's table is built on the stack before it is
    // boxed: room for it in a debug build.
    std::thread::Builder::new()
        .name("soak".into())
        .stack_size(64 << 20)
        .spawn(move || rt.block_on(soak(settings)))
        .expect("a thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

async fn soak(s: Settings) {
    let started = StdInstant::now();
    let load_ms = s.load_secs * 1000;
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &{
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&s.seed.to_le_bytes());
        b
    });
    let (phases, warm_up_ms) = script(&mut rng, load_ms);
    println!(
        "soak: seed {} (FUSEBOX_SOAK_SEED={} to replay the script), {} s of load, {} clients ({} requests in flight at most), {} phases (warm-up {} ms: every fault once)",
        s.seed,
        s.seed,
        s.load_secs,
        s.clients,
        s.in_flight,
        phases.len(),
        warm_up_ms
    );
    for p in &phases[..phases.len() - 1] {
        println!(
            "    {:>5} ms {:?} {}%{}",
            p.ms,
            p.fault,
            p.percent,
            if p.fault == Fault::Slow {
                format!(" after {} ms", p.slow_ms)
            } else {
                String::new()
            }
        );
    }

    // Room for the whole soak and its end, in counting windows.
    let windows = ((s.load_secs + 120) * TICK_HZ / WINDOW_TICKS) as usize;
    let ledger = Arc::new(Ledger::new());
    // The upstream's address is needed by the gateway, and the gateway's
    // rate limiter's clock by the upstream's counting: the limiter's clock
    // is process-wide, so a limiter built here reads the same instants.
    let clock =
        RateLimiter::new("clock", Quota::per_second(1).build().expect("quota")).expect("limiter");
    let stamp0 = clock.now().as_ticks();
    let up = Arc::new(Upstream {
        seed: s.seed,
        t0: std::sync::OnceLock::new(),
        phases,
        mode: AtomicU8::new(MODE_SCRIPT),
        arrivals: AtomicU64::new(0),
        injected: Injected::default(),
        windows: (0..windows).map(|_| AtomicU32::new(0)).collect(),
        stamp0,
        unstamped: AtomicU64::new(0),
        keyed_runs: AtomicU64::new(0),
        runs: AtomicU64::new(0),
    });
    let up_addr = spawn_upstream(Arc::clone(&up)).await;
    let (gw, parts) = gateway(up_addr, Arc::clone(&ledger), s.seed);
    let app = Router::new()
        .fallback(gateway_handler)
        .with_state(Arc::clone(&gw));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let gw_addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the gateway serves");
    });

    // The load generator's pool, opened to `in_flight` connections at once
    // before the script starts (its memory is in the baseline).
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let gate = Gate {
        http: Client::builder(TokioExecutor::new()).build(http),
        slots: Some(Arc::new(tokio::sync::Semaphore::new(s.in_flight))),
    };
    let burst: Vec<_> = (0..s.in_flight)
        .map(|i| {
            let gate = Gate {
                http: gate.http.clone(),
                slots: None,
            };
            let path = format!("/open/{i}");
            let req = request(gw_addr, Method::GET, &path, CLIENT_IDS + i, None);
            tokio::spawn(async move {
                send(&gate, &ClientStats::default(), req, "open")
                    .await
                    .is_some()
            })
        })
        .collect();
    for b in burst {
        assert!(b.await.expect("joined"), "the load generator's pool opened");
    }
    let t0 = StdInstant::now();
    up.t0.set(t0).expect("set once");
    let cpu0 = cpu_ticks();

    // Resident memory, four samples a second, into a preallocated buffer.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(Vec::with_capacity(
        ((s.load_secs + 120) * 4) as usize,
    )));
    let sampling = Arc::new(AtomicBool::new(true));
    let stats = Arc::new(ClientStats::default());
    let sampler = {
        let samples = Arc::clone(&samples);
        let sampling = Arc::clone(&sampling);
        let stats = Arc::clone(&stats);
        let clients = s.clients as u64;
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                {
                    let t = t0.elapsed().as_millis() as u64;
                    let sent = stats.sent.load(Ordering::Relaxed);
                    let warm =
                        t >= warm_up_ms.max(load_ms * 2 / 3) && sent >= clients * WARM_REQUESTS;
                    let mut v = samples.lock().expect("not poisoned");
                    if v.len() < v.capacity() {
                        v.push(Sample {
                            t,
                            sent,
                            warm,
                            pages: rss_pages(),
                        });
                    }
                }
                tokio::time::sleep(StdDuration::from_millis(250)).await;
            }
        })
    };

    // The load.
    let next_key = Arc::new(AtomicU64::new(1));
    let end = t0 + StdDuration::from_millis(load_ms);
    let tasks: Vec<_> = (0..s.clients)
        .map(|i| {
            tokio::spawn(client_task(
                i,
                s.seed,
                gw_addr,
                gate.clone(),
                Arc::clone(&stats),
                Arc::clone(&next_key),
                end,
            ))
        })
        .collect();
    for t in tasks {
        t.await.expect("a client task ends without panicking");
    }
    let load_done = t0.elapsed();
    let cpu_load = cpu_ticks().saturating_sub(cpu0);
    sampling.store(false, Ordering::Relaxed);
    sampler.await.expect("the sampler ends");

    // Nothing leaks: with every request answered, nothing is held. (A
    // cancelled attempt gives back what it held when its future drops, at
    // once; a few yields let the runtime finish dropping them.)
    let held = || {
        (
            parts.breaker.probes_in_flight(),
            parts.bulkhead.in_use(),
            parts.bulkhead.waiting(),
            parts.coalesce.in_flight(),
            parts.store.in_flight(),
        )
    };
    for _ in 0..100 {
        if held() == (0, 0, 0, 0, 0) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    let leaks = held();

    // The breaker closes after its configured probes: trip it (the
    // upstream fails everything), then heal the upstream and send one
    // request at a time.
    let one_at_a_time = Gate {
        http: gate.http.clone(),
        slots: None,
    };
    let recovery = recover(&parts, &up, gw_addr, &one_at_a_time).await;

    let c = &stats;
    let g = &gw.stats;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let inj = &up.injected;
    let faults = n(&inj.errors) + n(&inj.hangs) + n(&inj.resets) + n(&inj.slow);
    let hedge = parts.hedge.stats();
    let breaker = parts.breaker.metrics();
    println!(
        "soak: {} requests sent by {} clients in {:.1} s ({:.1} s of CPU time); {} answered, {} hung, {} lost; gateway saw at most {} at once",
        n(&c.sent),
        s.clients,
        load_done.as_secs_f64(),
        cpu_load as f64 / 100.0,
        n(&c.answered),
        n(&c.hung),
        n(&c.lost),
        n(&g.in_flight_max)
    );
    println!(
        "    answers: {} ok ({} replayed), {} 409, {} 429, {} 503 marked as fusebox's, {} other 5xx (the upstream's, or a coalesced copy of a refusal), {} 502 (connection failed), {} 504, {} unexpected",
        n(&c.ok),
        n(&c.replayed),
        n(&c.conflict),
        n(&c.rate_limited),
        n(&c.fusebox_503),
        n(&c.unmarked_5xx),
        n(&c.bad_gateway),
        n(&c.timeout),
        n(&c.unexpected)
    );
    println!(
        "    fusebox rejections by kind: {:?}",
        g.rejections.lock().expect("not poisoned")
    );
    println!(
        "    upstream: {} requests ({} with a key), faults injected {faults}: {} errors, {} hangs ({} not cancelled by the gateway's close), {} resets, {} slow; {} fine",
        n(&up.arrivals),
        n(&up.keyed_runs),
        n(&inj.errors),
        n(&inj.hangs),
        n(&inj.hangs_ended),
        n(&inj.resets),
        n(&inj.slow),
        n(&inj.ok)
    );
    println!(
        "    breaker: {} trips, {} admitted, {} rejected, {} failures; hedges: {} sent for {} requests",
        breaker.trips,
        breaker.admitted,
        breaker.rejected,
        breaker.failures,
        hedge.hedges_sent,
        hedge.requests
    );

    // Every request answered.
    let example = stats.example.lock().expect("not poisoned").clone();
    assert_eq!(
        n(&c.hung),
        0,
        "requests without an answer: {example:?}; the gateway accepted {} and answered {}",
        n(&g.accepted),
        n(&g.answered)
    );
    assert_eq!(n(&c.lost), 0, "requests lost: {example:?}");
    assert_eq!(n(&c.answered), n(&c.sent), "every request answered");
    assert_eq!(
        n(&c.unexpected),
        0,
        "statuses outside the expected set: {example:?}"
    );
    assert_eq!(
        n(&g.answered),
        n(&g.accepted),
        "the gateway answered all it accepted"
    );

    // The rate law at the upstream.
    let (worst, worst_at) = rate_law(&up.windows);
    let allowed = law_allowance();
    println!(
        "    rate law: at most {worst} requests in a 1 s span (at {:.1} s; allowed {allowed} = {UP_RATE}/s x 1.1 s + burst {UP_BURST}); {} not stamped",
        worst_at as f64 / 10.0,
        n(&up.unstamped)
    );
    assert_eq!(
        n(&up.unstamped),
        0,
        "every upstream request carries the gateway's stamp"
    );
    assert!(
        worst <= allowed,
        "the upstream got {worst} requests in 1 s: over rate plus burst ({allowed})"
    );

    // No idempotency key ran twice.
    println!(
        "    idempotency: {} keys; successes passed up twice within the TTL: {}, again after it: {}; clients answered by another run within the TTL: {}, after it: {}",
        n(&next_key) - 1,
        n(&ledger.twice),
        n(&ledger.after_ttl),
        n(&c.other_run),
        n(&c.rerun_after_ttl)
    );
    assert_eq!(
        n(&ledger.overwritten),
        0,
        "the ledger's ring is large enough"
    );
    assert_eq!(
        n(&ledger.twice),
        0,
        "a key's success passed up twice: {:?}",
        ledger.example.lock().expect("not poisoned")
    );
    assert_eq!(
        n(&c.other_run),
        0,
        "a key answered by two runs: {example:?}"
    );

    // Nothing leaked.
    println!(
        "    held at the end: {} probes, {} bulkhead permits, {} queue places, {} coalescing entries, {} idempotency keys in flight",
        leaks.0, leaks.1, leaks.2, leaks.3, leaks.4
    );
    assert_eq!(
        leaks,
        (0, 0, 0, 0, 0),
        "(probes, permits, queue places, coalescing entries, keys) held with no request in flight"
    );

    // Memory stays flat.
    let samples = samples.lock().expect("not poisoned").clone();
    let (base, peak, growth) = memory(&samples);
    let page_kib = 4;
    let warm_samples = samples.iter().filter(|s| s.warm).count();
    let warm_at = samples.iter().find(|s| s.warm).map_or(u64::MAX, |s| s.t);
    let sent_at_warm = samples.iter().find(|s| s.warm).map_or(0, |s| s.sent);
    // The smallest leak per request the check sees: 10 % of the baseline
    // spread over the requests after the warm-up.
    let sensitive_to = (base * page_kib * 1024 / 10)
        .checked_div(n(&c.sent).saturating_sub(sent_at_warm))
        .unwrap_or(u64::MAX);
    assert!(
        warm_samples * 5 >= samples.len(),
        // A third of the load is after the warm-up, less what a starved
        // sampler missed: a fifth at least.
        "the warm-up ended at {warm_at} ms: too late for a memory check over the load \
         ({WARM_REQUESTS} requests a client on average first; fewer clients or a longer soak)"
    );
    println!(
        "    memory: resident {} KiB at the end of the warm-up ({:.1} s), at most {} KiB later: {:+.1} % ({} samples after it, {} before; a leak of {} bytes a request after it would reach 10 %)",
        base * page_kib,
        warm_at as f64 / 1000.0,
        peak * page_kib,
        growth,
        warm_samples,
        samples.len() - warm_samples,
        sensitive_to
    );
    eprintln!(
        "    memory, MiB at each 250 ms in the last 3 s: {:?}",
        samples
            .iter()
            .rev()
            .take(12)
            .rev()
            .map(|s| (s.t, s.pages * page_kib / 1024))
            .collect::<Vec<_>>()
    );
    assert!(base > 0, "resident memory was sampled");
    assert!(
        growth < 10.0,
        "resident memory grew {growth:.1} % after the warm-up; MiB each second: {:?}",
        samples
            .iter()
            .step_by(4)
            .map(|s| s.pages * page_kib / 1024)
            .collect::<Vec<_>>()
    );

    // The breaker's transitions.
    let log = parts.transitions.lock().expect("not poisoned").clone();
    check_transitions(&log);
    let recovery = recovery.unwrap_or_else(|e| panic!("the breaker's recovery: {e}"));
    println!("    recovery: {recovery}");
    println!(
        "soak: passed in {:.1} s ({:.1} s of CPU time)",
        started.elapsed().as_secs_f64(),
        cpu_ticks().saturating_sub(cpu0) as f64 / 100.0
    );
}

/// The most requests received in any 10 consecutive windows (1 s), and
/// where.
fn rate_law(windows: &[AtomicU32]) -> (u64, usize) {
    let counts: Vec<u64> = windows
        .iter()
        .map(|w| u64::from(w.load(Ordering::Relaxed)))
        .collect();
    let mut worst = (0, 0);
    for i in 0..counts.len().saturating_sub(10) {
        let sum: u64 = counts[i..i + 10].iter().sum();
        if sum > worst.0 {
            worst = (sum, i);
        }
    }
    worst
}

/// Rate x 1.1 s + burst: requests counted in 10 windows of 100 ms left
/// within less than 1 s of each other, by stamps read just after the
/// limiter's own read of the clock; 0.1 s of slack covers a thread
/// descheduled between the two reads.
fn law_allowance() -> u64 {
    u64::from(UP_RATE) * 11 / 10 + u64::from(UP_BURST)
}

/// One sample of resident memory.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Milliseconds since the start.
    t: u64,
    /// Requests sent so far.
    sent: u64,
    /// Taken after the warm-up: the first two thirds of the load, with
    /// every fault's phase in it, and the clients have sent
    /// `WARM_REQUESTS` requests each on average. What is allocated once
    /// (tables filling, pools and buffers growing to their working size)
    /// grows in it, for the first 20 to 30 s; a leak grows with the
    /// requests served, and half as many as in the warm-up come after it.
    warm: bool,
    /// Resident pages (`/proc/self/statm`).
    pages: u64,
}

/// The most resident pages up to the end of the warm-up (the first warm
/// sample included), the most after it, and the growth in percent.
fn memory(samples: &[Sample]) -> (u64, u64, f64) {
    let end = samples
        .iter()
        .position(|s| s.warm)
        .unwrap_or(samples.len().saturating_sub(1));
    let base = samples[..=end.min(samples.len().saturating_sub(1))]
        .iter()
        .map(|s| s.pages)
        .max()
        .unwrap_or(0);
    let peak = samples[end.min(samples.len())..]
        .iter()
        .map(|s| s.pages)
        .max()
        .unwrap_or(base);
    let growth = if base == 0 {
        0.0
    } else {
        (peak as f64 - base as f64) * 100.0 / base as f64
    };
    (base, peak, growth)
}

/// Every transition is one the breaker can make, and, counted per state,
/// entries and exits balance (the hook's calls from different threads may
/// reach the log out of order; the counts do not depend on it).
fn check_transitions(log: &[Transition]) {
    let mut balance: HashMap<String, i64> = HashMap::new();
    *balance.entry(format!("{:?}", State::Closed)).or_default() += 1;
    for t in log {
        let valid = matches!(
            (t.from, t.to),
            (State::Closed, State::Open)
                | (State::Open, State::HalfOpen)
                | (State::HalfOpen, State::Open)
                | (State::HalfOpen, State::Closed)
        );
        assert!(valid, "a transition the breaker cannot make: {t:?}");
        *balance.entry(format!("{:?}", t.from)).or_default() -= 1;
        *balance.entry(format!("{:?}", t.to)).or_default() += 1;
    }
    let closed = balance.get("Closed").copied().unwrap_or(0);
    assert_eq!(
        closed, 1,
        "the breaker ended Closed, each state entered as often as left: {balance:?}"
    );
    assert!(
        balance.values().all(|v| *v == 0 || *v == 1),
        "entries and exits per state: {balance:?}"
    );
    let tail: Vec<(State, State)> = log
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|t| (t.from, t.to))
        .collect();
    assert!(
        matches!(
            tail.as_slice(),
            [
                (State::Closed | State::HalfOpen, State::Open),
                (State::Open, State::HalfOpen),
                (State::HalfOpen, State::Closed)
            ]
        ),
        "the recovery's transitions end the log in order: {tail:?}"
    );
}

/// Trip the breaker, heal the upstream, and count the probes it takes to
/// close: exactly `PROBES` successes, each leaving no probe slot held.
async fn recover(
    parts: &Parts,
    up: &Upstream,
    addr: SocketAddr,
    client: &Gate,
) -> Result<String, String> {
    let b = &parts.breaker;
    let stats = ClientStats::default();

    let mut n = 0;
    up.mode.store(MODE_FAIL, Ordering::Relaxed);
    let mut sent = 0;
    while b.state() != State::Open {
        sent += 1;
        if sent > 100 {
            return Err(format!(
                "not open after 100 failing requests: {:?}",
                b.state()
            ));
        }
        n += 1;
        send(
            client,
            &stats,
            request(
                addr,
                Method::GET,
                &format!("/trip/{n}"),
                CLIENT_IDS + n,
                None,
            ),
            "trip",
        )
        .await;
    }
    up.mode.store(MODE_HEALTHY, Ordering::Relaxed);
    // The open time passes (a wait on the state, bounded).
    let mut polls = 0;
    while b.state() != State::HalfOpen {
        polls += 1;
        if polls > 1000 {
            return Err(format!(
                "not half-open after {polls} polls: {:?}",
                b.state()
            ));
        }
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    if b.probes_in_flight() != 0 {
        return Err(format!(
            "{} probes held before any was sent",
            b.probes_in_flight()
        ));
    }
    let successes0 = b.metrics().successes;
    let mut probes = 0;
    loop {
        probes += 1;
        n += 1;
        let a = send(
            client,
            &stats,
            request(
                addr,
                Method::GET,
                &format!("/probe/{n}"),
                CLIENT_IDS + n,
                None,
            ),
            "probe",
        )
        .await;
        let status = a.map(|a| a.status);
        if status != Some(StatusCode::OK) {
            return Err(format!("probe {probes} answered {status:?}"));
        }
        let successes = b.metrics().successes.wrapping_sub(successes0);
        let held = b.probes_in_flight();
        if held != 0 {
            return Err(format!("{held} probe slots held after probe {probes}"));
        }
        match b.state() {
            State::HalfOpen if successes < u32::from(PROBES) => continue,
            State::Closed if successes == u32::from(PROBES) => break,
            other => {
                return Err(format!(
                    "after {successes} probe successes the breaker is {other:?} (configured: closes after {PROBES})"
                ));
            }
        }
    }
    Ok(format!(
        "tripped after {sent} failing requests; half-open after the open time; closed after {probes} probe successes (configured {PROBES})"
    ))
}
