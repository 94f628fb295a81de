//! The tower layers over loopback HTTP (an axum server, a hyper client),
//! one test per layer; the gRPC classifier through tonic's status
//! responses; and a property test of the idempotency layer.
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
    TICK_HZ,
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
        let quota = Quota::per_second(1, 2, TICK_HZ).expect("quota");
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
            Quota::per_second(1, 1, TICK_HZ).expect("quota"),
            WhenFull::EvictLeastRecent,
            clock.clone(),
        )
        .expect("limiter");
        let by_ip: KeyedLimiter<Option<IpAddr>, 64, ManualClock> = KeyedLimiter::with_clock(
            "per-ip",
            Quota::per_second(1, 2, TICK_HZ).expect("quota"),
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
        Quota::per_second(1, 1, TICK_HZ).expect("quota"),
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
        let budget = RetryBudget::new("retries", 100, 0, Duration::from_secs(60)).expect("budget");
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
            Quota::per_second(1, 1, TICK_HZ).expect("quota"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_classifier_through_tonic_statuses() {
    let clock = manual();
    let breaker = Breaker::builder("grpc")
        .expect("name")
        .clock(clock.clone())
        .build(
            Config::new(),
            ConsecutiveFailures::new(2).expect("threshold"),
        )
        .expect("breaker");
    // The upstream answers as a tonic server does: an error is a
    // trailers-only response made by `tonic::Status::into_http`.
    let upstream = tower::service_fn(|code: i32| async move {
        let resp: axum::http::Response<Body> = if code == 0 {
            let mut r = axum::http::Response::new(Body::empty());
            r.headers_mut()
                .insert("content-type", "application/grpc".parse().expect("value"));
            r
        } else {
            tonic::Status::new(tonic::Code::from(code), "upstream says no").into_http()
        };
        Ok::<_, std::convert::Infallible>(resp)
    });
    let mut svc = BreakerLayer::new(breaker.clone())
        .classifier(GrpcClassifier::new())
        .layer(upstream);
    let mut call = |code: tonic::Code| {
        let f = svc.call(code as i32);
        async move { f.await.expect("infallible") }
    };
    assert_eq!(call(tonic::Code::NotFound).await.status(), StatusCode::OK);
    assert_eq!(
        call(tonic::Code::InvalidArgument).await.status(),
        StatusCode::OK
    );
    assert_eq!(call(tonic::Code::Internal).await.status(), StatusCode::OK);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "codes that blame the request are ignored"
    );
    call(tonic::Code::Unavailable).await;
    call(tonic::Code::Ok).await;
    call(tonic::Code::DeadlineExceeded).await;
    assert_eq!(
        breaker.state(),
        State::Closed,
        "a success in between resets the count"
    );
    call(tonic::Code::ResourceExhausted).await;
    assert_eq!(breaker.state(), State::Open);
    let r = call(tonic::Code::Ok).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "refused while open"
    );
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
        Quota::per_second(1, 1, TICK_HZ).expect("quota"),
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
