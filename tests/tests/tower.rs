//! The tower layers over loopback HTTP (an axum server, a hyper client),
//! one test per layer; the gRPC classifier through a real tonic server
//! and channel; and a property test of the idempotency layer.
//!
//! Every test is bounded: a handful of requests, a 20 s cap on the whole.
//! Cancellation is exercised the way a server meets it: a per-request
//! deadline (an outer middleware, set per request by `x-deadline-ms`)
//! drops the fusebox layer's future mid-request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fusebox::breaker::{Config, ConsecutiveFailures, State};
use fusebox::rate::{Quota, WhenFull};
use fusebox::time::{Duration, Instant};
use fusebox_std::idempotency::MemoryIdempotencyStore;
use fusebox_std::tower::{
    ApiKey, BreakerLayer, BulkheadLayer, ClientAddr, CoalesceLayer, GrpcClassifier,
    IdempotencyLayer, KeyedRateLimitLayer, RateLimitLayer, RetryLayer,
};
use fusebox_std::{
    AdaptiveLimiter, Breaker, Bulkhead, KeyedLimiter, ManualClock, RateLimiter, RetryBudget,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, Service, ServiceExt};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Net {
    addr: SocketAddr,
    client: HttpClient,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn deadline(req: Request, next: Next) -> Response {
    let ms = req
        .headers()
        .get("x-deadline-ms")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(5000);
    match tokio::time::timeout(StdDuration::from_millis(ms), next.run(req)).await {
        Ok(r) => r,
        Err(_) => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

async fn serve(app: Router) -> Net {
    let app = app.layer(middleware::from_fn(deadline));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server runs");
    });
    Net {
        addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Net {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut b = axum::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("a valid request");
        let resp = self.client.request(req).await.expect("a response");
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("a body").to_bytes(),
        }
    }
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, "").await
    }
}

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(StdDuration::from_secs(20), f)
        .await
        .expect("the test finished within 20 s");
}

/// Waits until `cond` holds (polling every 5 ms, 5 s at most): the tests
/// wait for the server to reach a state, never for a fixed time.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let t = StdInstant::now();
    while !cond() {
        assert!(
            t.elapsed() < StdDuration::from_secs(5),
            "never reached: {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

fn manual() -> ManualClock {
    ManualClock::new(Instant::from_ticks(0))
}

#[derive(Clone, Default)]
struct Upstream {
    hits: Arc<AtomicU32>,
    running: Arc<AtomicU32>,
    max_running: Arc<AtomicU32>,
}

struct Running(Arc<AtomicU32>);
impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Upstream {
    // `x-status` (default 200), `x-sleep-ms` (default 0); answers `n=<hit>`.
    async fn handle(self, headers: HeaderMap) -> Response {
        let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let _running = Running(Arc::clone(&self.running));
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        };
        tokio::time::sleep(StdDuration::from_millis(num("x-sleep-ms").unwrap_or(0))).await;
        let status = StatusCode::from_u16(num("x-status").unwrap_or(200) as u16).expect("status");
        (status, [("x-hit", n.to_string())], format!("n={n}")).into_response()
    }
    fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
    fn route(&self) -> axum::routing::MethodRouter {
        let up = self.clone();
        let up2 = self.clone();
        get(move |h: HeaderMap| up.clone().handle(h))
            .post(move |h: HeaderMap| up2.clone().handle(h))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_layer_over_http() {
    bounded(async {
        let clock = manual();
        let breaker = Breaker::builder("upstream")
            .expect("name")
            .clock(clock.clone())
            .build(
                Config::new()
                    .open_duration(Duration::from_secs(30))
                    .half_open_probes(1)
                    .half_open_successes(1),
                ConsecutiveFailures::new(2).expect("threshold"),
            )
            .expect("breaker");
        let layer = BreakerLayer::new(breaker.clone());
        let up = Upstream::default();
        // Two routes, each its own service clone: one breaker.
        let app = Router::new()
            .route("/a", up.route().layer(layer.clone()))
            .route("/b", up.route().layer(layer));
        let net = serve(app).await;

        assert_eq!(
            net.get("/a", &[("x-status", "404")]).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            net.get("/a", &[("x-status", "500")]).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            net.get("/b", &[("x-status", "503")]).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            breaker.state(),
            State::Open,
            "a 4xx is ignored, two 5xx trip it"
        );
        let r = net.get("/a", &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.header("retry-after"), Some("30"));
        assert!(r.text().contains("circuit breaker open"), "{}", r.text());
        assert!(
            r.text().contains("upstream"),
            "names the breaker: {}",
            r.text()
        );
        assert_eq!(up.hits(), 3, "a refused request never reaches the upstream");

        // Half-open, one probe: a probe cancelled by the request deadline
        // gives its slot back at once.
        clock.advance(Duration::from_secs(30));
        let r = net
            .get("/b", &[("x-sleep-ms", "5000"), ("x-deadline-ms", "100")])
            .await;
        assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
        let r = net.get("/a", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "the dropped probe was released");
        assert_eq!(breaker.state(), State::Closed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_layers_over_http() {
    bounded(async {
        let clock = manual();
        let quota = Quota::per_second(1).allow_burst(2).build().expect("quota");
        let limiter = RateLimiter::with_clock("api", quota, clock.clone()).expect("limiter");
        let layer = RateLimitLayer::new(limiter);
        let up = Upstream::default();
        let app = Router::new()
            .route("/a", up.route().layer(layer.clone()))
            .route("/b", up.route().layer(layer));
        let net = serve(app).await;
        assert_eq!(net.get("/a", &[]).await.status, StatusCode::OK);
        assert_eq!(net.get("/b", &[]).await.status, StatusCode::OK);
        let r = net.get("/a", &[]).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "burst 2, shared by both routes"
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(up.hits(), 2);
        clock.advance(Duration::from_secs(1));
        assert_eq!(net.get("/b", &[]).await.status, StatusCode::OK);

        // Keyed by API key: each key its own bucket; keyless requests share one.
        let keyed: KeyedLimiter<Option<Vec<u8>>, 64, ManualClock> = KeyedLimiter::with_clock(
            "per-key",
            Quota::per_second(1).build().expect("quota"),
            WhenFull::EvictLeastRecent,
            clock.clone(),
        )
        .expect("limiter");
        let by_ip: KeyedLimiter<Option<IpAddr>, 64, ManualClock> = KeyedLimiter::with_clock(
            "per-ip",
            Quota::per_second(1).allow_burst(2).build().expect("quota"),
            WhenFull::EvictLeastRecent,
            clock.clone(),
        )
        .expect("limiter");
        let up = Upstream::default();
        let app = Router::new()
            .route(
                "/k",
                up.route()
                    .layer(KeyedRateLimitLayer::new(keyed, ApiKey::new())),
            )
            .route(
                "/ip",
                up.route()
                    .layer(KeyedRateLimitLayer::new(by_ip, ClientAddr)),
            );
        let net = serve(app).await;
        assert_eq!(
            net.get("/k", &[("x-api-key", "alice")]).await.status,
            StatusCode::OK
        );
        let r = net.get("/k", &[("x-api-key", "alice")]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(
            net.get("/k", &[("authorization", "Bearer bob")])
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(net.get("/k", &[]).await.status, StatusCode::OK);
        assert_eq!(
            net.get("/k", &[]).await.status,
            StatusCode::TOO_MANY_REQUESTS,
            "keyless share a bucket"
        );
        assert_eq!(net.get("/ip", &[]).await.status, StatusCode::OK);
        assert_eq!(
            net.get("/ip", &[("x-api-key", "x")]).await.status,
            StatusCode::OK
        );
        assert_eq!(
            net.get("/ip", &[]).await.status,
            StatusCode::TOO_MANY_REQUESTS,
            "one client address"
        );
        assert_eq!(up.hits(), 5);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_typed_error_for_other_services() {
    let limiter = RateLimiter::with_clock(
        "typed",
        Quota::per_second(1).build().expect("quota"),
        manual(),
    )
    .expect("limiter");
    let svc = tower::service_fn(|x: u32| async move { Ok::<u32, tower::BoxError>(x) });
    let mut svc = RateLimitLayer::new(limiter).typed().layer(svc);
    assert_eq!(
        svc.ready()
            .await
            .expect("ready")
            .call(7)
            .await
            .expect("admitted"),
        7
    );
    let err = svc
        .ready()
        .await
        .expect("ready")
        .call(8)
        .await
        .expect_err("refused");
    let err = err
        .downcast::<fusebox_std::tower::Error>()
        .expect("the typed error");
    assert_eq!(err.kind(), fusebox_std::tower::ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(StdDuration::from_secs(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulkhead_layer_over_http() {
    bounded(async {
        // One slot, one queue place, 1 s maximum wait.
        let bulkhead = Bulkhead::new("db", 1, 1, Duration::from_secs(1)).expect("bulkhead");
        let up = Upstream::default();
        let layer = BulkheadLayer::new(bulkhead.clone());
        let app = Router::new()
            .route("/a", up.route().layer(layer.clone()))
            .route("/b", up.route().layer(layer));
        let net = Arc::new(serve(app).await);

        let n1 = Arc::clone(&net);
        let first =
            tokio::spawn(async move { n1.get("/a", &[("x-sleep-ms", "300")]).await.status });
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        let n2 = Arc::clone(&net);
        let queued = tokio::spawn(async move { n2.get("/b", &[]).await.status });
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        assert_eq!((bulkhead.in_use(), bulkhead.waiting()), (1, 1));
        let t = StdInstant::now();
        let r = net.get("/a", &[]).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "slot and queue full: shed"
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(t.elapsed() < StdDuration::from_millis(200), "shed at once");
        assert_eq!(first.await.expect("joined"), StatusCode::OK);
        assert_eq!(
            queued.await.expect("joined"),
            StatusCode::OK,
            "the queued one ran"
        );
        assert_eq!(up.max_running.load(Ordering::SeqCst), 1);

        // Cancelled while holding the slot, and while queued: both given back.
        let n1 = Arc::clone(&net);
        let holder = tokio::spawn(async move {
            n1.get("/a", &[("x-sleep-ms", "5000"), ("x-deadline-ms", "300")])
                .await
                .status
        });
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        let r = net.get("/b", &[("x-deadline-ms", "100")]).await;
        assert_eq!(
            r.status,
            StatusCode::GATEWAY_TIMEOUT,
            "dropped from the queue"
        );
        assert_eq!(bulkhead.waiting(), 0, "the queue place was given back");
        assert_eq!(holder.await.expect("joined"), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            (bulkhead.in_use(), bulkhead.waiting()),
            (0, 0),
            "the slot was given back"
        );
        assert_eq!(net.get("/a", &[]).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_bulkhead_layer_over_http() {
    bounded(async {
        let config = fusebox::bulkhead::AimdConfig::new()
            .limits(1, 4)
            .initial(2)
            .backoff_percent(50)
            .latency_target(Duration::from_secs(10))
            .decrease_cooldown(Duration::from_ticks(0));
        let limiter = AdaptiveLimiter::new("adaptive", config).expect("limiter");
        let up = Upstream::default();
        let app = Router::new().route(
            "/a",
            up.route().layer(BulkheadLayer::adaptive(limiter.clone())),
        );
        let net = Arc::new(serve(app).await);
        assert_eq!(limiter.limit(), 2);
        // A failure (5xx) halves the limit.
        assert_eq!(
            net.get("/a", &[("x-status", "502")]).await.status,
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(limiter.limit(), 1);
        let n1 = Arc::clone(&net);
        let holder =
            tokio::spawn(async move { n1.get("/a", &[("x-sleep-ms", "300")]).await.status });
        until("the holder runs", || limiter.in_use() == 1).await;
        let r = net.get("/a", &[]).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "over the adaptive limit: shed, no queue"
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(holder.await.expect("joined"), StatusCode::OK);
        // A cancelled request gives its slot back.
        let r = net
            .get("/a", &[("x-sleep-ms", "5000"), ("x-deadline-ms", "100")])
            .await;
        assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(limiter.in_use(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_layer_over_http() {
    bounded(async {
        let schedule =
            fusebox::backoff::Config::constant(Duration::from_millis(10)).max_attempts(3);
        let up = Upstream::default();
        // Fails while the hit counter is below `x-fail-until`.
        let flaky = {
            let up = up.clone();
            move |mut h: HeaderMap| {
                let up = up.clone();
                async move {
                    let until: u32 = h
                        .get("x-fail-until")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(0);
                    if up.hits() + 1 < until {
                        h.insert("x-status", "503".parse().expect("value"));
                    }
                    up.handle(h).await
                }
            }
        };
        // Each success pays for one retry; nothing else does.
        let budget = RetryBudget::new(
            "retries",
            fusebox::rate::RetryBudget::builder()
                .percent_can_retry(100)
                .min_retries_per_sec(0)
                .ttl(Duration::from_secs(60))
                .build()
                .expect("budget"),
        )
        .expect("budget");
        let layer = RetryLayer::new(schedule)
            .expect("schedule")
            .max_body(8)
            .budget(budget);
        let app = Router::new().route(
            "/r",
            get(flaky.clone())
                .post(flaky.clone())
                .put(flaky)
                .layer(layer),
        );
        let net = serve(app).await;

        assert_eq!(
            net.get("/r", &[]).await.status,
            StatusCode::OK,
            "deposits one retry"
        );
        // GET: a failure, then a success on the second attempt.
        let r = net.get("/r", &[("x-fail-until", "3")]).await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "n=3"));
        // POST without a key: not safe to repeat, sent once.
        let r = net
            .send(Method::POST, "/r", &[("x-fail-until", "5")], "")
            .await;
        assert_eq!((r.status, up.hits()), (StatusCode::SERVICE_UNAVAILABLE, 4));
        // A body over max_body is not buffered, so not retried.
        let r = net
            .send(Method::PUT, "/r", &[("x-fail-until", "6")], "123456789")
            .await;
        assert_eq!((r.status, up.hits()), (StatusCode::SERVICE_UNAVAILABLE, 5));
        // POST with an Idempotency-Key and a small body: retried.
        let r = net
            .send(
                Method::POST,
                "/r",
                &[("x-fail-until", "7"), ("idempotency-key", "\"k\"")],
                "1234",
            )
            .await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "n=7"));
        // One retry in the budget; the second failure is returned as it is.
        let r = net.get("/r", &[("x-fail-until", "99")]).await;
        assert_eq!((r.status, up.hits()), (StatusCode::SERVICE_UNAVAILABLE, 9));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_layer_honours_retry_after() {
    bounded(async {
        let schedule = fusebox::backoff::Config::constant(Duration::from_millis(10))
            .max_attempts(2)
            .max_hint(Duration::from_secs(5));
        let hits = Arc::new(AtomicU32::new(0));
        let h2 = Arc::clone(&hits);
        let app = Router::new().route(
            "/r",
            get(move || {
                let n = h2.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "1")],
                            "slow down",
                        )
                            .into_response()
                    } else {
                        "ok".into_response()
                    }
                }
            })
            .layer(RetryLayer::new(schedule).expect("schedule")),
        );
        let net = serve(app).await;
        let t = StdInstant::now();
        let r = net.get("/r", &[]).await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok"));
        assert!(
            t.elapsed() >= StdDuration::from_secs(1),
            "waited the upstream's Retry-After"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    })
    .await;
}

/// A route: retry (with `deadline`) over a breaker that opens on one
/// failure for 1.5 s, over an upstream whose first answer is a `503`
/// without `Retry-After` and every later one `200`.
fn retry_over_breaker(
    deadline: Duration,
) -> (axum::routing::MethodRouter, Breaker, Arc<AtomicU32>) {
    let breaker = Breaker::new(
        "below",
        Config::new().open_duration(Duration::from_millis(1500)),
        ConsecutiveFailures::new(1).expect("threshold"),
    )
    .expect("breaker");
    let hits = Arc::new(AtomicU32::new(0));
    let h = Arc::clone(&hits);
    let schedule = fusebox::backoff::Config::constant(Duration::from_millis(10)).max_attempts(4);
    let stack = tower::ServiceBuilder::new()
        .layer(
            RetryLayer::new(schedule)
                .expect("schedule")
                .deadline(deadline),
        )
        .layer(BreakerLayer::new(breaker.clone()));
    let route = get(move || {
        let n = h.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
            } else {
                "ok".into_response()
            }
        }
    })
    .layer(stack);
    (route, breaker, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_layer_waits_for_the_breaker_below_within_its_deadline() {
    bounded(async {
        let (short, short_breaker, short_hits) = retry_over_breaker(Duration::from_secs(1));
        let (long, long_breaker, long_hits) = retry_over_breaker(Duration::from_secs(2));
        let net = serve(Router::new().route("/short", short).route("/long", long)).await;

        // The breaker's refusal asks for ~1.49 s: past a 1 s deadline, so
        // the refusal goes back at once, with its Retry-After, instead of
        // a timeout later.
        let t = StdInstant::now();
        let r = net.get("/short", &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.text().starts_with("circuit breaker open"), "{}", r.text());
        assert_eq!(r.header("retry-after"), Some("2"), "1.49 s rounded up");
        assert!(
            t.elapsed() < StdDuration::from_secs(1),
            "gave up at once, not after waiting ({:?})",
            t.elapsed()
        );
        assert_eq!(
            short_hits.load(Ordering::SeqCst),
            1,
            "the upstream saw one call"
        );
        assert_eq!(short_breaker.state(), State::Open);

        // Within a 2 s deadline the retry waits the breaker's exact
        // 1.49 s (its header's whole 2 s would pass the deadline), then
        // the probe goes through: the upstream is never asked while the
        // breaker is open, and no attempt is spent on it early.
        let t = StdInstant::now();
        let r = net.get("/long", &[]).await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok"));
        assert!(
            t.elapsed() >= StdDuration::from_millis(1450),
            "waited for the breaker ({:?})",
            t.elapsed()
        );
        assert_eq!(long_hits.load(Ordering::SeqCst), 2);
        assert_eq!(long_breaker.state(), State::Closed, "the probe closed it");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_layer_reads_retry_after_as_an_http_date() {
    bounded(async {
        // Fails its first call of each path with Retry-After `x-after-s`
        // seconds from now, as an HTTP-date.
        let upstream = |hits: Arc<AtomicU32>| {
            move |h: HeaderMap| {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    let secs: u64 = h["x-after-s"].to_str().expect("ascii").parse().expect("n");
                    if n == 0 {
                        let at = std::time::SystemTime::now() + StdDuration::from_secs(secs);
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [("retry-after", httpdate::fmt_http_date(at))],
                            "later",
                        )
                            .into_response()
                    } else {
                        "ok".into_response()
                    }
                }
            }
        };
        let schedule = fusebox::backoff::Config::constant(Duration::from_millis(10))
            .max_attempts(2)
            .max_hint(Duration::from_secs(3600));
        let retry = RetryLayer::new(schedule)
            .expect("schedule")
            .deadline(Duration::from_secs(5));
        let (near, far) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let app = Router::new()
            .route(
                "/near",
                get(upstream(Arc::clone(&near))).layer(retry.clone()),
            )
            .route("/far", get(upstream(Arc::clone(&far))).layer(retry));
        let net = serve(app).await;

        // Two seconds ahead (whole seconds, so 1 to 2 s from the answer):
        // waited for.
        let t = StdInstant::now();
        let r = net.get("/near", &[("x-after-s", "2")]).await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok"));
        assert!(
            t.elapsed() >= StdDuration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(near.load(Ordering::SeqCst), 2);

        // An hour ahead, past the 5 s deadline: the answer at once.
        let t = StdInstant::now();
        let r = net.get("/far", &[("x-after-s", "3600")]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(t.elapsed() < StdDuration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(far.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_layer_over_http() {
    bounded(async {
        let clock = manual();
        let store = MemoryIdempotencyStore::<64, ManualClock>::with_clock(
            fusebox::dedup::Config::new()
                .in_flight_ttl(Duration::from_secs(3600))
                .done_ttl(Duration::from_secs(60)),
            fusebox::hash::Seed::new(1, 2),
            clock.clone(),
        )
        .expect("store");
        let layer = IdempotencyLayer::new(store).required([Method::POST]);
        let up = Upstream::default();
        let app = Router::new()
            .route("/pay", up.route().layer(layer.clone()))
            .route("/pay2", up.route().layer(layer));
        let net = serve(app).await;
        let key = |k: &'static str| ("idempotency-key", k);

        assert_eq!(
            net.send(Method::POST, "/pay", &[], "a").await.status,
            StatusCode::BAD_REQUEST
        );
        let r = net.send(Method::POST, "/pay", &[key("abc")], "a").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "not an sf-string");
        assert!(r.text().contains("structured-field"), "{}", r.text());
        assert_eq!(
            net.get("/pay", &[]).await.status,
            StatusCode::OK,
            "GET needs no key"
        );
        assert_eq!(up.hits(), 1);

        let r = net
            .send(
                Method::POST,
                "/pay",
                &[key("\"k1\""), ("x-status", "201")],
                "a",
            )
            .await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::CREATED, "n=2"));
        assert!(r.header("idempotent-replayed").is_none());
        let r = net.send(Method::POST, "/pay", &[key("\"k1\"")], "a").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (StatusCode::CREATED, "n=2"),
            "replayed"
        );
        assert_eq!(r.header("x-hit"), Some("2"), "with its headers");
        assert_eq!(r.header("idempotent-replayed"), Some("true"));
        assert_eq!(
            net.send(Method::POST, "/pay", &[key("\"k1\"")], "b")
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            net.send(Method::POST, "/pay2", &[key("\"k1\"")], "a")
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "another path"
        );
        assert_eq!(up.hits(), 2);

        // A concurrent duplicate: 409 while the first runs.
        let net = Arc::new(net);
        let n1 = Arc::clone(&net);
        let first = tokio::spawn(async move {
            n1.send(
                Method::POST,
                "/pay",
                &[("idempotency-key", "\"k2\""), ("x-sleep-ms", "300")],
                "a",
            )
            .await
            .status
        });
        until("the first runs", || up.hits() == 3).await;
        let r = net.send(Method::POST, "/pay", &[key("\"k2\"")], "a").await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(first.await.expect("joined"), StatusCode::OK);
        assert_eq!(up.hits(), 3);

        // A 5xx abandons the key: the retry runs.
        assert_eq!(
            net.send(
                Method::POST,
                "/pay",
                &[key("\"k3\""), ("x-status", "500")],
                "a"
            )
            .await
            .status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            net.send(Method::POST, "/pay", &[key("\"k3\"")], "a")
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(up.hits(), 5);
        // A 4xx is final: stored.
        assert_eq!(
            net.send(
                Method::POST,
                "/pay",
                &[key("\"k4\""), ("x-status", "409")],
                "a"
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
        let r = net.send(Method::POST, "/pay", &[key("\"k4\"")], "a").await;
        assert_eq!(
            (r.status, r.header("idempotent-replayed")),
            (StatusCode::CONFLICT, Some("true"))
        );
        assert_eq!(up.hits(), 6);

        // A request dropped by its deadline abandons its key.
        let r = net
            .send(
                Method::POST,
                "/pay",
                &[
                    key("\"k5\""),
                    ("x-sleep-ms", "5000"),
                    ("x-deadline-ms", "100"),
                ],
                "a",
            )
            .await;
        assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
        // (the key is abandoned by a task the dropped future spawned)
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        assert_eq!(
            net.send(Method::POST, "/pay", &[key("\"k5\"")], "a")
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(up.hits(), 8);

        // The stored answer lives until its TTL, then the key runs again.
        clock.advance(Duration::from_secs(59));
        assert_eq!(
            net.send(Method::POST, "/pay", &[key("\"k1\"")], "a")
                .await
                .header("idempotent-replayed"),
            Some("true")
        );
        clock.advance(Duration::from_secs(2));
        let r = net.send(Method::POST, "/pay", &[key("\"k1\"")], "a").await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "n=9"));

        // A fusebox refusal below (a 429 from the rate limit) is not the
        // upstream's answer: the key is abandoned, not stored.
        let limiter = RateLimiter::with_clock(
            "below",
            Quota::per_second(1).build().expect("quota"),
            clock.clone(),
        )
        .expect("limiter");
        let store = MemoryIdempotencyStore::<16, ManualClock>::with_clock(
            fusebox::dedup::Config::new().done_ttl(Duration::from_secs(60)),
            fusebox::hash::Seed::new(5, 6),
            clock.clone(),
        )
        .expect("store");
        let app = Router::new().route(
            "/r",
            up.route().layer(
                tower::ServiceBuilder::new()
                    .layer(IdempotencyLayer::new(store))
                    .layer(RateLimitLayer::new(limiter)),
            ),
        );
        let limited = serve(app).await;
        assert_eq!(
            limited
                .send(Method::POST, "/r", &[key("\"r1\"")], "")
                .await
                .status,
            StatusCode::OK
        );
        let r = limited.send(Method::POST, "/r", &[key("\"r2\"")], "").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        clock.advance(Duration::from_secs(1));
        let r = limited.send(Method::POST, "/r", &[key("\"r2\"")], "").await;
        assert_eq!(r.status, StatusCode::OK, "ran, not a replayed 429");
        assert!(r.header("idempotent-replayed").is_none());

        // A full table refuses new keys (never forgets a stored one).
        let tiny = MemoryIdempotencyStore::<1>::new(
            fusebox::dedup::Config::new().done_ttl(Duration::from_secs(60)),
            fusebox::hash::Seed::new(3, 4),
        )
        .expect("store");
        let app = Router::new().route("/t", up.route().layer(IdempotencyLayer::new(tiny)));
        let net = serve(app).await;
        assert_eq!(
            net.send(Method::POST, "/t", &[key("\"a\"")], "")
                .await
                .status,
            StatusCode::OK
        );
        let r = net.send(Method::POST, "/t", &[key("\"b\"")], "").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(
            net.send(Method::POST, "/t", &[key("\"a\"")], "")
                .await
                .header("idempotent-replayed"),
            Some("true")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesce_layer_over_http() {
    bounded(async {
        let up = Upstream::default();
        let layer = CoalesceLayer::new();
        let app = Router::new()
            .route("/c", up.route().layer(layer.clone()))
            .route("/d", up.route().layer(layer.clone()));
        let net = Arc::new(serve(app).await);
        let fire = |path: &'static str, headers: Vec<(&'static str, &'static str)>| {
            let net = Arc::clone(&net);
            tokio::spawn(async move { net.get(path, &headers).await })
        };
        let slow = ("x-sleep-ms", "200");
        let mut all = Vec::new();
        for _ in 0..4 {
            all.push(fire("/c", vec![slow]));
        }
        all.push(fire("/c", vec![slow, ("authorization", "Bearer other")]));
        all.push(fire("/d", vec![slow]));
        until("three distinct requests in flight", || {
            layer.in_flight() == 3
        })
        .await;
        let mut bodies = Vec::new();
        for t in all {
            let r = t.await.expect("joined");
            assert_eq!(r.status, StatusCode::OK);
            bodies.push(r.text());
        }
        assert_eq!(layer.in_flight(), 0, "every entry given back");
        assert_eq!(
            up.hits(),
            3,
            "one run per (path, authorization): {bodies:?}"
        );
        assert!(bodies[..4].iter().all(|b| *b == bodies[0]), "{bodies:?}");
        // POST is never coalesced.
        let h = [slow];
        let (a, b) = tokio::join!(
            net.send(Method::POST, "/c", &h, ""),
            net.send(Method::POST, "/c", &h, "")
        );
        assert_ne!(a.text(), b.text());
        assert_eq!(up.hits(), 5);

        // The leader's client goes away: a waiter takes over, never two runs at once.
        up.max_running.store(0, Ordering::SeqCst);
        let leader = fire("/c", vec![("x-sleep-ms", "400"), ("x-deadline-ms", "200")]);
        until("the leader runs", || up.hits() == 6).await;
        let waiter = fire("/c", vec![("x-sleep-ms", "400")]);
        assert_eq!(
            leader.await.expect("joined").status,
            StatusCode::GATEWAY_TIMEOUT
        );
        let r = waiter.await.expect("joined");
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "n=7"));
        assert_eq!(
            up.max_running.load(Ordering::SeqCst),
            1,
            "never two runs at once"
        );
    })
    .await;
}

mod grpc {
    //! The gRPC classifier through a real tonic server and a tonic channel
    //! on loopback (HTTP/2), with no generated code and so no `protoc`: a
    //! raw-bytes codec and tonic's own `server::Grpc` / `client::Grpc`,
    //! which is what generated code calls. The breaker wraps the client's
    //! channel, as a gateway protects its upstream.

    use super::*;
    use bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::{Code, Status};

    /// Messages are the bytes themselves.
    #[derive(Debug, Clone, Copy, Default)]
    struct Raw;

    impl Codec for Raw {
        type Encode = Bytes;
        type Decode = Bytes;
        type Encoder = Raw;
        type Decoder = Raw;
        fn encoder(&mut self) -> Raw {
            Raw
        }
        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    impl Encoder for Raw {
        type Item = Bytes;
        type Error = Status;
        fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put(item);
            Ok(())
        }
    }

    impl Decoder for Raw {
        type Item = Bytes;
        type Error = Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
            Ok(Some(src.copy_to_bytes(src.remaining())))
        }
    }

    /// A tonic server on a loopback port whose one method answers the
    /// status code named by the request's first byte (0: a message).
    async fn upstream(calls: Arc<AtomicU32>) -> SocketAddr {
        let svc = tower::service_fn(move |req: axum::http::Request<tonic::body::Body>| {
            let calls = Arc::clone(&calls);
            let method = tower::service_fn(move |req: tonic::Request<Bytes>| {
                calls.fetch_add(1, Ordering::SeqCst);
                let code = req.get_ref().first().copied().unwrap_or(0);
                async move {
                    if code == 0 {
                        Ok(tonic::Response::new(Bytes::from_static(b"ok")))
                    } else {
                        Err(Status::new(Code::from(i32::from(code)), "upstream says no"))
                    }
                }
            });
            async move {
                Ok::<_, std::convert::Infallible>(
                    tonic::server::Grpc::new(Raw).unary(method, req).await,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .serve_with_incoming(svc, incoming)
                .await
                .expect("the gRPC server runs");
        });
        addr
    }

    /// One unary call through `client`: the message, or the status.
    macro_rules! call {
        ($client:expr, $code:expr) => {{
            let client = &mut $client;
            client.ready().await.expect("the channel is ready");
            client
                .unary(
                    tonic::Request::new(Bytes::from(vec![$code as u8])),
                    axum::http::uri::PathAndQuery::from_static("/fusebox.test.Upstream/Call"),
                    Raw,
                )
                .await
                .map(tonic::Response::into_inner)
        }};
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_classifier_through_a_tonic_server_and_channel() {
        bounded(async {
            let calls = Arc::new(AtomicU32::new(0));
            let addr = upstream(Arc::clone(&calls)).await;
            let clock = manual();
            let breaker = Breaker::builder("grpc")
                .expect("name")
                .clock(clock.clone())
                .build(
                    Config::new().open_duration(Duration::from_millis(2500)),
                    ConsecutiveFailures::new(2).expect("threshold"),
                )
                .expect("breaker");
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .expect("a valid URI")
                .connect()
                .await
                .expect("connect to the loopback gRPC server");
            let guarded = BreakerLayer::new(breaker.clone())
                .classifier(GrpcClassifier::new())
                .grpc()
                .layer(channel);
            // Every clone shares the one breaker.
            let mut a = tonic::client::Grpc::new(guarded.clone());
            let mut b = tonic::client::Grpc::new(guarded);

            assert_eq!(call!(a, Code::Ok).expect("a message"), "ok");
            // Codes that blame the request, or say nothing of the
            // upstream's health, are ignored: two in a row never trip it.
            for code in [
                Code::NotFound,
                Code::InvalidArgument,
                Code::Internal,
                Code::Cancelled,
                Code::PermissionDenied,
                Code::AlreadyExists,
            ] {
                let status = call!(b, code).expect_err("an error status");
                assert_eq!(status.code(), code);
                assert_eq!(status.message(), "upstream says no");
            }
            assert_eq!(breaker.state(), State::Closed, "ignored codes");
            let m = breaker.metrics();
            assert_eq!((m.ignored, m.failures), (6, 0));

            // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED count.
            assert_eq!(
                call!(a, Code::Unavailable).expect_err("").code(),
                Code::Unavailable
            );
            assert_eq!(call!(b, Code::Ok).expect("a message"), "ok");
            assert_eq!(breaker.state(), State::Closed, "a success in between");
            assert_eq!(
                call!(a, Code::DeadlineExceeded).expect_err("").code(),
                Code::DeadlineExceeded
            );
            assert_eq!(breaker.state(), State::Closed, "one failure of two");
            assert_eq!(
                call!(b, Code::ResourceExhausted).expect_err("").code(),
                Code::ResourceExhausted
            );
            assert_eq!(breaker.state(), State::Open, "two consecutive failures");
            assert_eq!(calls.load(Ordering::SeqCst), 11);

            // Open: the tonic client reads the refusal as UNAVAILABLE with
            // the server's pushback; the upstream is not called.
            let status = call!(a, Code::Ok).expect_err("refused");
            assert_eq!(status.code(), Code::Unavailable);
            assert!(
                status.message().starts_with("circuit breaker open"),
                "{}",
                status.message()
            );
            assert_eq!(
                status
                    .metadata()
                    .get("grpc-retry-pushback-ms")
                    .map(|v| v.to_str().expect("ascii")),
                Some("2500")
            );
            assert_eq!(calls.load(Ordering::SeqCst), 11, "not called while open");

            // After the open time, one probe through; its success closes it.
            clock.advance(Duration::from_millis(2500));
            assert_eq!(call!(b, Code::Ok).expect("the probe"), "ok");
            assert_eq!(breaker.state(), State::Closed);
            assert_eq!(calls.load(Ordering::SeqCst), 12);
        })
        .await;
    }
}

mod idempotency_model {
    //! Random interleavings of duplicates, completions, failures,
    //! cancellations and expiries through the idempotency layer (no
    //! network: the service is called directly on a current-thread
    //! runtime, so every interleaving is reproducible). Checked: each
    //! key's handler runs at most once per TTL unless a failure or a
    //! cancellation abandoned it, and every answer is the one the draft
    //! prescribes.

    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};
    use std::collections::HashMap;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    const KEYS: usize = 3;

    #[derive(Debug, Clone)]
    enum Op {
        Send { key: usize, body: u8 },
        Finish { pick: usize, status: u16 },
        Cancel { pick: usize },
        Expire,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..KEYS, 0..2_u8).prop_map(|(key, body)| Op::Send { key, body }),
            3 => (any::<usize>(), prop::sample::select(vec![200_u16, 201, 404, 500, 503]))
                .prop_map(|(pick, status)| Op::Finish { pick, status }),
            1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
            1 => Just(Op::Expire),
        ]
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Model {
        Idle,
        Running { body: u8 },
        Stored { body: u8, status: u16, run: u32 },
    }

    type Gates = Arc<std::sync::Mutex<HashMap<u32, oneshot::Sender<u16>>>>;

    async fn settle() {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
    }

    fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let clock = manual();
            let store = MemoryIdempotencyStore::<16, ManualClock>::with_clock(
                fusebox::dedup::Config::new()
                    .in_flight_ttl(Duration::from_secs(100_000))
                    .done_ttl(Duration::from_secs(60)),
                fusebox::hash::Seed::new(9, 9),
                clock.clone(),
            )
            .expect("store");
            let gates: Gates = Arc::default();
            let runs: Arc<std::sync::Mutex<Vec<u32>>> =
                Arc::new(std::sync::Mutex::new(vec![0; KEYS]));
            let next_id = Arc::new(AtomicU32::new(0));
            let handler = {
                let gates = Arc::clone(&gates);
                let runs = Arc::clone(&runs);
                let next_id = Arc::clone(&next_id);
                tower::service_fn(move |req: axum::http::Request<Body>| {
                    let gates = Arc::clone(&gates);
                    let runs = Arc::clone(&runs);
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let key: usize = req.headers()["x-key"]
                            .to_str()
                            .expect("ascii")
                            .parse()
                            .expect("n");
                        let run = {
                            let mut r = runs.lock().expect("lock");
                            r[key] += 1;
                            r[key]
                        };
                        let (tx, rx) = oneshot::channel();
                        gates.lock().expect("lock").insert(id, tx);
                        let status = rx.await.unwrap_or(500);
                        let r = axum::http::Response::builder()
                            .status(status)
                            .header("x-run", run.to_string())
                            .body(Body::from(format!("{key}:{run}")))
                            .expect("response");
                        Ok::<_, std::convert::Infallible>(r)
                    }
                })
            };
            let svc = IdempotencyLayer::new(store).layer(handler);
            // Model: per key; the runs allowed since the last abandon/expiry.
            let mut model = vec![Model::Idle; KEYS];
            let mut runs_since_reset = [0_u32; KEYS];
            let mut pending: Vec<(u32, usize, JoinHandle<Response>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Send { key, body } => {
                        let before = runs.lock().expect("lock")[key];
                        let req = axum::http::Request::post("/k")
                            .header("idempotency-key", format!("\"key-{key}\""))
                            .header("x-key", key.to_string())
                            .body(Body::from(vec![body]))
                            .expect("request");
                        let mut s = svc.clone();
                        let id = next_id.load(Ordering::SeqCst);
                        let task = tokio::spawn(async move {
                            s.ready().await.expect("ready");
                            s.call(req).await.expect("infallible")
                        });
                        settle().await;
                        let ran = runs.lock().expect("lock")[key] > before;
                        match model[key].clone() {
                            Model::Idle => {
                                prop_assert!(ran, "an idle key runs");
                                runs_since_reset[key] += 1;
                                prop_assert!(runs_since_reset[key] <= 1, "ran twice within a TTL");
                                model[key] = Model::Running { body };
                                pending.push((id, key, task));
                            }
                            Model::Running { .. } => {
                                prop_assert!(!ran);
                                let r = task.await.expect("joined");
                                prop_assert_eq!(r.status(), StatusCode::CONFLICT);
                            }
                            Model::Stored {
                                body: b,
                                status,
                                run,
                            } => {
                                prop_assert!(!ran);
                                let r = task.await.expect("joined");
                                if b == body {
                                    prop_assert_eq!(r.status().as_u16(), status);
                                    prop_assert_eq!(
                                        r.headers()["x-run"].to_str().expect("ascii"),
                                        run.to_string()
                                    );
                                    prop_assert_eq!(
                                        r.headers()["idempotent-replayed"].to_str().expect("ascii"),
                                        "true"
                                    );
                                } else {
                                    prop_assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
                                }
                            }
                        }
                    }
                    Op::Finish { pick, status } => {
                        if pending.is_empty() {
                            continue;
                        }
                        let (id, key, task) = pending.remove(pick % pending.len());
                        let tx = gates
                            .lock()
                            .expect("lock")
                            .remove(&id)
                            .expect("a waiting handler");
                        let _ = tx.send(status);
                        let r = task.await.expect("joined");
                        prop_assert_eq!(r.status().as_u16(), status);
                        let run = runs.lock().expect("lock")[key];
                        let Model::Running { body } = model[key] else {
                            return Err(TestCaseError::fail("finished a key that was not running"));
                        };
                        if status < 500 {
                            model[key] = Model::Stored { body, status, run };
                        } else {
                            model[key] = Model::Idle;
                            runs_since_reset[key] = 0;
                        }
                    }
                    Op::Cancel { pick } => {
                        if pending.is_empty() {
                            continue;
                        }
                        let (id, key, task) = pending.remove(pick % pending.len());
                        task.abort();
                        let _ = task.await;
                        gates.lock().expect("lock").remove(&id);
                        settle().await;
                        model[key] = Model::Idle;
                        runs_since_reset[key] = 0;
                    }
                    Op::Expire => {
                        clock.advance(Duration::from_secs(61));
                        for k in 0..KEYS {
                            if let Model::Stored { .. } = model[k] {
                                model[k] = Model::Idle;
                                runs_since_reset[k] = 0;
                            }
                        }
                    }
                }
            }
            Ok(())
        })
    }

    #[test]
    fn each_key_runs_at_most_once_per_ttl_unless_abandoned() {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(128);
        let mut runner = TestRunner::new_with_rng(
            PtConfig {
                cases,
                failure_persistence: None,
                ..PtConfig::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &[14; 32]),
        );
        runner
            .run(&prop::collection::vec(op(), 1..40), run)
            .expect("the idempotency layer keeps the draft's rules");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_is_in_call_not_poll_ready() {
    let bulkhead = Bulkhead::new("ready", 1, 0, Duration::from_millis(1)).expect("bulkhead");
    let limiter = RateLimiter::with_clock(
        "ready",
        Quota::per_second(1).build().expect("quota"),
        manual(),
    )
    .expect("limiter");
    let svc = tower::service_fn(|x: u32| async move { Ok::<u32, tower::BoxError>(x) });
    let stack = tower::ServiceBuilder::new()
        .layer(BulkheadLayer::new(bulkhead.clone()).typed())
        .layer(RateLimitLayer::new(limiter.clone()).typed())
        .service(svc);
    let mut a = stack.clone();
    let mut b = stack;
    // Readiness on two clones takes nothing.
    a.ready().await.expect("ready");
    b.ready().await.expect("ready");
    assert_eq!((bulkhead.in_use(), limiter.available()), (0, 1));
    // The first call is admitted; the second, on the other clone, sees
    // the shared state: the rate limit's token is gone.
    assert_eq!(a.call(1).await.expect("admitted"), 1);
    let err = b.call(2).await.expect_err("refused");
    let err = err.downcast::<fusebox_std::tower::Error>().expect("typed");
    assert_eq!(err.kind(), fusebox_std::tower::ErrorKind::RateLimited);
    assert_eq!(bulkhead.in_use(), 0, "the bulkhead slot came back");
    // A typed shed from the bulkhead, for a non-HTTP service.
    let _held = bulkhead.try_acquire().expect("the only slot");
    let mut c = a.clone();
    let err = c
        .ready()
        .await
        .expect("ready")
        .call(3)
        .await
        .expect_err("shed");
    let err = err.downcast::<fusebox_std::tower::Error>().expect("typed");
    assert_eq!(err.kind(), fusebox_std::tower::ErrorKind::Shed);
    assert_eq!(err.retry_after(), Some(StdDuration::from_secs(1)));
}

/// A fusebox refusal from below that is coalesced reaches every caller as a
/// refusal: each copy carries the typed `Error` in its extensions, so an
/// idempotency layer above abandons the key instead of storing a copy of a
/// `429` as a final answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_copies_of_a_refusal_stay_refusals() {
    bounded(async {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let refusing = tower::service_fn(move |_req: axum::http::Request<Body>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(StdDuration::from_millis(100)).await;
                let e = fusebox_std::tower::Error::new(
                    fusebox_std::tower::ErrorKind::RateLimited,
                    None,
                    Some(StdDuration::from_secs(2)),
                );
                Ok::<Response, std::convert::Infallible>(e.to_response())
            }
        });
        let svc = CoalesceLayer::new().layer(refusing);
        let get = || {
            let svc = svc.clone();
            tokio::spawn(async move {
                let req = axum::http::Request::get("/item")
                    .body(Body::empty())
                    .unwrap();
                svc.oneshot(req).await.unwrap()
            })
        };
        let (a, b, c) = (get(), get(), get());
        for r in [a, b, c] {
            let r = r.await.expect("joined");
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                r.extensions()
                    .get::<fusebox_std::tower::Error>()
                    .map(|e| e.kind()),
                Some(fusebox_std::tower::ErrorKind::RateLimited),
                "every copy is still a fusebox refusal"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "coalesced into one run");
    })
    .await;
}
