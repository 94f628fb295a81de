//! Tower layers (feature `tower`): fusebox's primitives as middleware for
//! axum, tonic and hyper, composed with `tower::ServiceBuilder`.
//!
//! | layer | refuses with (HTTP) | shares |
//! |---|---|---|
//! | [`BreakerLayer`] | `503` + `Retry-After` (breaker open) | one [`Breaker`](crate::Breaker) |
//! | [`RateLimitLayer`] | `429` + `Retry-After` | one [`RateLimiter`](crate::RateLimiter) |
//! | [`KeyedRateLimitLayer`] | `429` + `Retry-After`, per client ([`ClientAddr`], [`Header`], [`ApiKey`]) | one [`KeyedLimiter`](crate::KeyedLimiter) |
//! | [`BulkheadLayer`] | `503` + `Retry-After` (shed) | one [`Bulkhead`](crate::Bulkhead) or [`AdaptiveLimiter`](crate::AdaptiveLimiter) |
//! | [`RetryLayer`] | (retries safe requests) | one [`RetryBudget`](crate::RetryBudget) |
//! | [`HedgeLayer`] | (hedges safe requests) | one [`HedgePolicy`](crate::HedgePolicy) |
//! | [`AdaptiveTimeoutLayer`] | `504` (timed out) | one [`AdaptiveTimeout`](crate::AdaptiveTimeout) |
//! | [`IdempotencyLayer`] | `400`, `409`, `422`, `503` (IETF Idempotency-Key draft) | one [`IdempotencyStore`](crate::idempotency::IdempotencyStore) |
//! | [`CoalesceLayer`] | `503` when the leader is gone (if so configured) | one [`Singleflight`](crate::Singleflight) |
//!
//! Every layer holds a handle: every service it wraps, and every clone of
//! those, shares one state. Admission happens in `call`, never in
//! `poll_ready` (a readiness check that took a permit would hold it for a
//! request that may never come); `poll_ready` only asks the inner service.
//! Dropping a response future cancels the request and gives back what it
//! held. HTTP layers answer refusals with responses ([`Http`]) so they need
//! no `HandleErrorLayer` in axum; `.grpc()` makes a layer answer with a
//! gRPC status instead ([`Grpc`]: trailers-only, `UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED` or `DEADLINE_EXCEEDED`, with the server's pushback)
//! for tonic servers and channels; `.typed()` makes it answer with the
//! typed [`Error`] ([`Typed`]) for services that are neither.
//! `Retry-After` is whole seconds, rounded up, at least 1. A refusal's
//! response carries the [`Error`] in its extensions: layers above (retry,
//! idempotency, breaker classifiers) can tell it from an upstream answer.
//!
//! Fixed timeouts are tower's own (`tower::timeout::TimeoutLayer`);
//! [`AdaptiveTimeoutLayer`] sets one per request from recent latency.
//!
//! # The recommended stack
//!
//! From the client's side inwards:
//!
//! 1. **Timeout per request** (outermost): the client's whole budget,
//!    retries included; when it fires, every layer below is cancelled and
//!    gives back its permit, slot and key.
//! 2. **Client-facing limits**: the keyed rate limit per client (refuse
//!    abusive clients before they cost anything).
//! 3. **Idempotency**: a duplicate is answered from the store (or `409`)
//!    before it takes capacity; below the client limits, so a replay still
//!    counts against its client.
//! 4. **Coalescing** (reads only): identical concurrent GETs share one
//!    trip below.
//! 5. **Retry**: above the limits that protect the upstream, so every
//!    retry is counted by them; it can never push the upstream past rate
//!    plus burst, nor through an open breaker. It waits out a refusal's
//!    `retry_after` (an open breaker's included) when that fits in its
//!    [`deadline`](RetryLayer::deadline), set to the per-request timeout;
//!    otherwise the refusal goes back at once.
//! 6. **Hedging**, just below retry: each attempt may send hedges; a
//!    hedge is one more request to the upstream, so it must be counted by
//!    the limits below (rate limit, bulkhead, breaker permit) as well as
//!    spend the hedge budget. Below retry, so that a retry is hedged too
//!    and a hedge is never retried on its own; the losing copy is
//!    cancelled and the breaker below records it `Ignored`.
//! 7. **Breaker**, 8. **bulkhead**, 9. **upstream rate limit**: what
//!    protects the upstream. The breaker first: when the upstream is down,
//!    requests fail fast without queueing in the bulkhead.
//! 10. **Timeout per attempt** (innermost): one slow attempt is cut short
//!     and counted by the breaker as a failure; the retry above tries again.
//!     [`AdaptiveTimeoutLayer`] sets it from recent latency; it should be
//!     well above the hedge delay (p99 x 2 against p95), or the hedge
//!     never gets its chance.
//!
//! ```
//! use std::time::Duration as StdDuration;
//! use fusebox::breaker::{Config, ConsecutiveFailures};
//! use fusebox::backoff::{Config as Backoff, Jitter};
//! use fusebox::rate::{Quota, WhenFull};
//! use fusebox::time::Duration;
//! use fusebox_std::idempotency::MemoryIdempotencyStore;
//! use fusebox_std::tower::{
//!     AdaptiveTimeoutLayer, BreakerLayer, BulkheadLayer, ClientAddr, CoalesceLayer, HedgeLayer,
//!     IdempotencyLayer, KeyedRateLimitLayer, RateLimitLayer, RetryLayer,
//! };
//! use fusebox_std::{
//!     AdaptiveTimeout, Breaker, Bulkhead, HedgePolicy, KeyedLimiter, RateLimiter, RetryBudget,
//!     TICK_HZ, os_seed,
//! };
//! use ::tower::ServiceBuilder;
//! use ::tower::timeout::TimeoutLayer;
//!
//! let per_client: KeyedLimiter<Option<std::net::IpAddr>, 4096> =
//!     KeyedLimiter::new("clients", Quota::per_second(20).allow_burst(10).build()?, WhenFull::EvictLeastRecent)?;
//! let store = MemoryIdempotencyStore::<1024>::new(
//!     fusebox::dedup::Config::new().done_ttl(Duration::from_secs(86_400)),
//!     fusebox::hash::Seed::from_bytes(os_seed()),
//! )?;
//! let schedule = Backoff::exponential(Duration::from_millis(50), 2, Duration::from_secs(1))
//!     .jitter(Jitter::Full)
//!     .max_attempts(3);
//! // Hedge after p95, at most 5 % more requests; time out at p99 x 2.
//! let hedge = HedgePolicy::new("up", fusebox::latency::hedge::Config::new().budget_percent(5), Duration::from_secs(10))?;
//! let ms = Duration::from_millis;
//! let timeout = fusebox::latency::timeout::Config::new(ms(2_000), ms(50), ms(2_000));
//! let timeout = AdaptiveTimeout::new("up", timeout, Duration::from_secs(30))?;
//!
//! let stack = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(StdDuration::from_secs(10))) // per request
//!     .layer(KeyedRateLimitLayer::new(per_client, ClientAddr))
//!     .layer(IdempotencyLayer::new(store))
//!     .layer(CoalesceLayer::new())
//!     .layer(
//!         RetryLayer::new(schedule)?
//!             // Finagle's defaults: 20 % of successes, 10 retries/s, 10 s.
//!             .budget(RetryBudget::new("up", fusebox::rate::RetryBudget::builder().build()?)?)
//!             .deadline(Duration::from_secs(10)), // = the per-request timeout
//!     )
//!     .layer(HedgeLayer::new(hedge))
//!     .layer(BreakerLayer::new(Breaker::new("up", Config::new(), ConsecutiveFailures::new(5)?)?))
//!     .layer(BulkheadLayer::new(Bulkhead::new("up", 64, 64, Duration::from_millis(50))?))
//!     .layer(RateLimitLayer::new(RateLimiter::new("up", Quota::per_second(500).allow_burst(50).build()?)?))
//!     .layer(AdaptiveTimeoutLayer::new(timeout)) // per attempt
//!     .service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
//!         Ok::<_, ::tower::BoxError>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
//!     });
//! # let _ = stack;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod breaker;
mod bulkhead;
mod classify;
mod coalesce;
mod error;
mod future;
mod hedge;
mod idempotency;
mod keyed;
mod rate;
mod retry;
mod timeout;

pub use breaker::{BreakerLayer, BreakerService, OwnedGuard};
pub use bulkhead::{BulkheadLayer, BulkheadService};
pub use classify::{
    Classify, GrpcClassifier, HttpClassifier, ResultClassifier, code, http_default,
};
pub use coalesce::{CoalesceLayer, CoalesceService};
pub use error::{Error, ErrorKind, Grpc, Http, Reject, Typed, retry_after_secs};
pub use future::ResponseFuture;
pub use hedge::{HedgeLayer, HedgeService};
pub use idempotency::{Fingerprint, IdempotencyLayer, IdempotencyService};
pub use keyed::{
    ApiKey, ClientAddr, Header, KeyExtractor, KeyedRateLimitLayer, KeyedRateLimitService,
};
pub use rate::{RateLimitLayer, RateLimitService};
pub use retry::{RetryLayer, RetryService};
pub use timeout::{AdaptiveTimeoutLayer, AdaptiveTimeoutService};
