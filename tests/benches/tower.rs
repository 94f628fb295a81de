//! fusebox-std's tower layers: the cost each adds to one request, against
//! the bare service and tower's own `ConcurrencyLimitLayer`.
//!
//! - `tower/bare`: a `service_fn` answering a ready response (the floor:
//!   one `block_on` on a current-thread runtime, one request and response
//!   built).
//! - `tower/breaker`, `tower/rate`, `tower/bulkhead`: one fusebox layer
//!   (every call admitted: quotas and limits generous).
//! - `tower/stack`: breaker + bulkhead + rate limit, as in the recommended
//!   stack's upstream half.
//! - `tower/tower_concurrency_limit`: tower's `ConcurrencyLimitLayer`, the
//!   anchor for the bulkhead row.
//!
//! Each layer boxes its response future (one allocation per request).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::breaker::{Config, ConsecutiveFailures};
use fusebox::rate::Quota;
use fusebox::time::Duration;
use fusebox_std::tower::{BreakerLayer, BulkheadLayer, RateLimitLayer};
use fusebox_std::{Breaker, Bulkhead, RateLimiter};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt};

type Req = Request<Full<Bytes>>;
type Resp = Response<Full<Bytes>>;

fn upstream()
-> impl Service<Req, Response = Resp, Error = tower::BoxError, Future: Send> + Clone + Send {
    tower::service_fn(|_r: Req| async {
        Ok::<_, tower::BoxError>(Response::new(Full::new(Bytes::new())))
    })
}

fn run<S>(c: &mut Criterion, id: &str, mut svc: S)
where
    S: Service<Req, Response = Resp, Error = tower::BoxError>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function(id, |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = svc
                    .ready()
                    .await
                    .expect("ready")
                    .call(Request::new(Full::new(Bytes::new())))
                    .await
                    .expect("admitted");
                black_box(r)
            })
        })
    });
}

fn breaker() -> Breaker {
    Breaker::new(
        "bench",
        Config::new(),
        ConsecutiveFailures::new(5).expect("threshold"),
    )
    .expect("breaker")
}

fn limiter() -> RateLimiter {
    RateLimiter::new(
        "bench",
        Quota::per_second(1_000_000_000).build().expect("quota"),
    )
    .expect("limiter")
}

fn bulkhead() -> Bulkhead {
    Bulkhead::new("bench", 1024, 0, Duration::from_millis(1)).expect("bulkhead")
}

fn benches(c: &mut Criterion) {
    run(c, "tower/bare", upstream());
    run(
        c,
        "tower/breaker",
        BreakerLayer::new(breaker()).typed().layer_on(upstream()),
    );
    run(
        c,
        "tower/rate",
        RateLimitLayer::new(limiter()).typed().layer_on(upstream()),
    );
    run(
        c,
        "tower/bulkhead",
        BulkheadLayer::new(bulkhead()).typed().layer_on(upstream()),
    );
    run(
        c,
        "tower/stack",
        ServiceBuilder::new()
            .layer(BreakerLayer::new(breaker()).typed())
            .layer(BulkheadLayer::new(bulkhead()).typed())
            .layer(RateLimitLayer::new(limiter()).typed())
            .service(upstream()),
    );
    run(
        c,
        "tower/tower_concurrency_limit",
        ServiceBuilder::new()
            .concurrency_limit(1024)
            .service(upstream()),
    );
}

trait LayerOn<S>: tower::Layer<S> + Sized {
    fn layer_on(self, s: S) -> Self::Service {
        self.layer(s)
    }
}
impl<S, L: tower::Layer<S>> LayerOn<S> for L {}

criterion_group!(tower_layers, benches);
criterion_main!(tower_layers);
