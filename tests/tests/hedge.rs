//! Hedging and adaptive timeouts over loopback HTTP (an axum upstream, a
//! hyper client behind fusebox's layers), plus the losers' cancellation
//! in process.
//!
//! Every assertion is on counts (requests past a cutoff, hedges sent,
//! budget refusals, copies cancelled), never on absolute times: the
//! upstream's slow answers are 30x its fast ones and the cutoff sits
//! halfway, so scheduling noise on a loaded machine does not move them.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, Request, Response, StatusCode};
use axum::routing::{get, post};
use fusebox::breaker::{Config, ConsecutiveFailures};
use fusebox::latency::{hedge, timeout};
use fusebox::time::Duration;
use fusebox_std::tower::{AdaptiveTimeoutLayer, BreakerLayer, ErrorKind, HedgeLayer};
use fusebox_std::{AdaptiveTimeout, Breaker, HedgePolicy};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const FAST: StdDuration = StdDuration::from_millis(10);
const SLOW: StdDuration = StdDuration::from_millis(300);
const STALL: StdDuration = StdDuration::from_secs(3);
const CUTOFF: StdDuration = StdDuration::from_millis(150);

#[derive(Default)]
struct Upstream {
    /// Requests that reached `/tail`.
    tail: AtomicU32,
    /// Requests that reached `/slow`.
    slow: AtomicU32,
}

/// `/tail`: every 50th request (2 %) takes 30x the others; `/slow` (GET
/// and POST): always 300 ms; `/stall`: 3 s.
async fn upstream() -> (SocketAddr, Arc<Upstream>) {
    let counts = Arc::new(Upstream::default());
    let (c1, c2, c3) = (counts.clone(), counts.clone(), counts.clone());
    let app = Router::new()
        .route(
            "/stall",
            get(|| async {
                tokio::time::sleep(STALL).await;
                "late"
            }),
        )
        .route(
            "/tail",
            get(move || {
                let n = c1.tail.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(if n % 50 == 49 { SLOW } else { FAST }).await;
                    "ok"
                }
            }),
        )
        .route(
            "/slow",
            get(move || {
                c2.slow.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(SLOW).await;
                    "ok"
                }
            })
            .merge(post(move || {
                c3.slow.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(SLOW).await;
                    "ok"
                }
            })),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server runs");
    });
    (addr, counts)
}

type Req = Request<Full<Bytes>>;
type Resp = Response<Full<Bytes>>;

/// The upstream through a hyper client, bodies collected.
fn client() -> impl Service<Req, Response = Resp, Error = BoxError, Future: Send> + Clone + Send {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    tower::service_fn(move |req: Req| {
        let client = client.clone();
        async move {
            let resp = client.request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, Full::new(body)))
        }
    })
}

fn request(addr: SocketAddr, method: Method, path: &str, key: Option<&str>) -> Req {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Full::new(Bytes::new())).expect("a valid request")
}

/// Send `n` GETs to `path` one after another; how many took at least
/// `CUTOFF`.
async fn slow_count<S>(svc: &mut S, addr: SocketAddr, path: &str, n: u32) -> u32
where
    S: Service<Req, Response = Resp, Error = BoxError>,
{
    let mut slow = 0;
    for _ in 0..n {
        let t = StdInstant::now();
        let r = svc
            .ready()
            .await
            .expect("ready")
            .call(request(addr, Method::GET, path, None))
            .await
            .expect("an answer");
        assert_eq!(r.status(), StatusCode::OK);
        if t.elapsed() >= CUTOFF {
            slow += 1;
        }
    }
    slow
}

fn policy(config: hedge::Config) -> HedgePolicy {
    HedgePolicy::new("upstream", config, Duration::from_secs(60)).expect("a valid policy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedging_cuts_the_slow_tail_within_its_budget() {
    let (addr, counts) = upstream().await;
    // Without hedging: 250 requests, 5 of them (every 50th) slow.
    let mut plain = client();
    let before = slow_count(&mut plain, addr, "/tail", 250).await;
    assert!(before >= 5, "the upstream's tail is there: {before}");

    // With hedging at p95 and a 10 % budget.
    let hedge = policy(hedge::Config::new().budget_percent(10));
    let mut hedged = ServiceBuilder::new()
        .layer(HedgeLayer::new(hedge.clone()))
        .service(client());
    // Every upstream request of the hedged run, warm-up included: a copy
    // cancelled in the warm-up may reach the upstream only later.
    let upstream_start = counts.tail.load(Ordering::SeqCst);
    // Warm up: 20 samples before any hedge.
    slow_count(&mut hedged, addr, "/tail", 40).await;
    let stats_before = hedge.stats();
    let after = slow_count(&mut hedged, addr, "/tail", 250).await;
    let stats = hedge.stats();
    let sent = stats.hedges_sent - stats_before.hedges_sent;
    let won = stats.hedges_won - stats_before.hedges_won;
    let upstream_requests = counts.tail.load(Ordering::SeqCst) - upstream_start;

    eprintln!("slow: {before} without, {after} with; hedges {sent} sent, {won} won; {stats:?}");
    assert!(
        after * 3 <= before,
        "hedging cut the tail: {after} slow requests against {before} without"
    );
    assert!(won >= 3, "hedges answered the slow ones: {won} of {sent}");
    // The budget: hedges at most 10 % of the requests recorded.
    assert!(
        stats.hedges_sent * 10 <= stats.requests,
        "within the budget: {stats:?}"
    );
    // Every hedge is one more upstream request, and nothing else is: over
    // the whole hedged run, 290 requests and every hedge sent.
    assert!(
        u64::from(upstream_requests) <= 290 + stats.hedges_sent,
        "{upstream_requests} upstream requests for 290 and {} hedges",
        stats.hedges_sent
    );
    assert_eq!(stats.requests, 290);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_requests_are_not_hedged_and_keyed_ones_are() {
    let (addr, counts) = upstream().await;
    // Hedge after the median, with room for every hedge.
    let hedge = policy(
        hedge::Config::new()
            .quantile(500_000)
            .budget_percent(1000)
            .min_hedges_per_sec(100),
    );
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(hedge.clone()))
        .service(client());
    slow_count(&mut svc, addr, "/tail", 30).await;
    // (Warm-up requests past the median may have been hedged.)
    let warm = hedge.stats().hedges_sent;

    // POST without a key: sent once, never hedged.
    for _ in 0..3 {
        let r = svc
            .ready()
            .await
            .expect("ready")
            .call(request(addr, Method::POST, "/slow", None))
            .await
            .expect("an answer");
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(hedge.stats().hedges_sent, warm);
    assert_eq!(counts.slow.load(Ordering::SeqCst), 3);

    // POST with an Idempotency-Key, and a GET: safe to repeat, hedged.
    let r = svc
        .ready()
        .await
        .expect("ready")
        .call(request(addr, Method::POST, "/slow", Some("\"k1\"")))
        .await
        .expect("an answer");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hedge.stats().hedges_sent, warm + 1);
    slow_count(&mut svc, addr, "/slow", 1).await;
    assert_eq!(hedge.stats().hedges_sent, warm + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_stops_hedging() {
    let (addr, counts) = upstream().await;
    // Hedge after the median; 10 % of requests, no floor.
    let hedge = policy(hedge::Config::new().quantile(500_000).budget_percent(10));
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(hedge.clone()))
        .service(client());
    // 30 fast requests pay for 3 hedges (warm-up requests past the
    // median may spend some).
    slow_count(&mut svc, addr, "/tail", 30).await;
    let warm = hedge.stats();
    // 20 slow ones (the median stays fast): each is due one hedge.
    slow_count(&mut svc, addr, "/slow", 20).await;
    let stats = hedge.stats();
    assert_eq!(stats.requests, 50);
    assert!(
        stats.hedges_sent <= 5,
        "50 requests at 10 % pay for 5 hedges: {stats:?}"
    );
    assert!(stats.hedges_sent >= 3, "the budget was spent: {stats:?}");
    let sent = stats.hedges_sent - warm.hedges_sent;
    let refused = stats.budget_refusals - warm.budget_refusals;
    assert_eq!(
        sent + refused,
        20,
        "every slow request was due one hedge: {stats:?}"
    );
    assert!(refused >= 15, "the budget stopped hedging: {stats:?}");
    let reached = u64::from(counts.slow.load(Ordering::SeqCst));
    assert!(
        (20..=20 + sent).contains(&reached),
        "{reached} upstream requests"
    );
}

/// A future that counts itself cancelled when dropped before it finished.
struct Tracked<F> {
    fut: Pin<Box<F>>,
    done: bool,
    cancelled: Arc<AtomicU32>,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let r = self.fut.as_mut().poll(cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        if !self.done {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_losing_copy_is_cancelled_and_ignored_by_the_breaker() {
    let calls = Arc::new(AtomicU32::new(0));
    let cancelled = Arc::new(AtomicU32::new(0));
    let (c, x) = (calls.clone(), cancelled.clone());
    // Calls 0..20 fast (samples), call 20 slow, its hedge (21) fast.
    let inner = tower::service_fn(move |_req: Req| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        Tracked {
            fut: Box::pin(async move {
                tokio::time::sleep(if n == 20 { SLOW } else { FAST }).await;
                Ok::<_, BoxError>(Response::new(Full::new(Bytes::from(n.to_string()))))
            }),
            done: false,
            cancelled: x.clone(),
        }
    });
    let breaker = Breaker::new(
        "upstream",
        Config::new(),
        ConsecutiveFailures::new(5).expect("5"),
    )
    .expect("a breaker");
    let hedge = policy(hedge::Config::new().budget_percent(100));
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(hedge.clone()))
        .layer(BreakerLayer::new(breaker.clone()))
        .service(inner);
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    assert_eq!(slow_count(&mut svc, addr, "/", 20).await, 0);
    assert_eq!(cancelled.load(Ordering::SeqCst), 0);

    let r = svc
        .ready()
        .await
        .expect("ready")
        .call(request(addr, Method::GET, "/", None))
        .await
        .expect("an answer");
    let body = r.into_body().collect().await.expect("a body").to_bytes();
    assert_eq!(&body[..], b"21", "the hedge answered");
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        1,
        "the first copy was cancelled"
    );
    let m = breaker.metrics();
    assert_eq!(m.ignored, 1, "the loser is Ignored: {m:?}");
    assert_eq!(m.successes, 21, "{m:?}");
    let s = hedge.stats();
    assert_eq!((s.hedges_sent, s.hedges_won, s.requests), (1, 1, 21));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedge_for_non_tower_callers() {
    let hedge = policy(hedge::Config::new().min_samples(10).budget_percent(100));
    // Learn that answers take ~10 ms (no hedge before 10 samples).
    for _ in 0..10 {
        hedge.hedge(|| tokio::time::sleep(FAST)).await;
    }
    assert_eq!(hedge.stats().hedges_sent, 0);
    // One call whose first copy hangs.
    let mut copies = 0;
    let out = hedge
        .hedge(|| {
            copies += 1;
            let me = copies;
            async move {
                if me == 1 {
                    std::future::pending::<()>().await;
                }
                me
            }
        })
        .await;
    assert_eq!(out, 2, "the hedge answered");
    let s = hedge.stats();
    assert_eq!((s.hedges_sent, s.hedges_won, s.requests), (1, 1, 11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_timeout_follows_latency_and_cuts_the_tail() {
    let (addr, _counts) = upstream().await;
    let ms = Duration::from_millis;
    // p99 x 2 + 20 ms, between 20 ms and 5 s; 5 s until 20 samples.
    let config = timeout::Config::new(ms(5_000), ms(20), ms(5_000))
        .min_samples(20)
        .margin(ms(20));
    let timeout =
        AdaptiveTimeout::new("upstream", config, Duration::from_secs(60)).expect("a valid timeout");
    let mut svc = ServiceBuilder::new()
        .layer(AdaptiveTimeoutLayer::new(timeout.clone()))
        .service(client());
    // 40 fast requests (every 50th is slow: none among the first 49).
    slow_count(&mut svc, addr, "/tail", 40).await;
    let s = timeout.stats();
    assert_eq!((s.requests, s.timeouts), (40, 0));
    let current = timeout.timeout();
    assert!(
        current < ms(1_000),
        "the timeout came down from 5 s (to about 2 x 10 ms + 20 ms): {current:?}"
    );
    // A stalled request times out with 504.
    let r = svc
        .ready()
        .await
        .expect("ready")
        .call(request(addr, Method::GET, "/stall", None))
        .await
        .expect("an answer");
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        r.extensions()
            .get::<fusebox_std::tower::Error>()
            .map(|e| e.kind()),
        Some(ErrorKind::Timeout)
    );
    let s = timeout.stats();
    assert_eq!((s.requests, s.timeouts), (41, 1));
    assert_eq!(s.current_ticks, timeout.current().as_ticks());

    // Typed: the error instead of a response.
    let mut typed = ServiceBuilder::new()
        .layer(AdaptiveTimeoutLayer::new(timeout.clone()).typed())
        .service(client());
    let e = typed
        .ready()
        .await
        .expect("ready")
        .call(request(addr, Method::GET, "/stall", None))
        .await
        .expect_err("timed out");
    let e = e
        .downcast::<fusebox_std::tower::Error>()
        .expect("fusebox's error");
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

/// A hedge refused at once by a limit below it does not beat the slower
/// first copy (`hedge_with`): the refusal is set aside while a copy runs,
/// and returned only when every copy was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_hedge_does_not_beat_the_copy_still_running() {
    let hedge = policy(hedge::Config::new().min_samples(10).budget_percent(100));
    for _ in 0..10 {
        hedge.hedge(|| tokio::time::sleep(FAST)).await;
    }
    let run = |filter: bool| {
        let hedge = hedge.clone();
        async move {
            let mut copies = 0;
            let op = move || {
                copies += 1;
                let me = copies;
                async move {
                    if me == 1 {
                        // The first copy is slow but succeeds.
                        tokio::time::sleep(SLOW).await;
                        Ok(me)
                    } else {
                        // The hedge is shed at once by a bulkhead below.
                        Err("shed")
                    }
                }
            };
            if filter {
                hedge.hedge_with(op, Result::is_ok).await
            } else {
                hedge.hedge(op).await
            }
        }
    };
    // Plain `hedge`: the fast refusal wins (what the demo saw).
    assert_eq!(run(false).await, Err("shed"));
    // `hedge_with`: the first copy's success.
    assert_eq!(run(true).await, Ok(1));
    // Every copy refused: the first refusal comes back.
    let all_refused = hedge
        .hedge_with(|| async { Err::<u32, &str>("shed") }, Result::is_ok)
        .await;
    assert_eq!(all_refused, Err("shed"));
}
