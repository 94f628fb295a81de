//! [`RetryLayer`]: retries with a fusebox backoff schedule and an optional
//! [`RetryBudget`](crate::RetryBudget).
//!
//! Only requests that are safe to repeat are retried: idempotent methods
//! (`GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT`, `DELETE`, RFC 9110 §9.2.2)
//! or any request carrying an `Idempotency-Key`. The body is buffered to
//! replay it, if its length is known and at most
//! [`max_body`](RetryLayer::max_body) (default 64 KiB); a larger body, or
//! one of unknown length (streamed), is sent once and never retried.
//!
//! An attempt is retried when it failed ([`HttpClassifier`](super::HttpClassifier):
//! an error, a `5xx`, including a fusebox `503` from a breaker or
//! bulkhead below) or answered `429`, the schedule allows another
//! attempt, the [deadline](RetryLayer::deadline) leaves time for it, and
//! the budget has a token (every request that ends in a success
//! deposits; every retry withdraws: Finagle's retry budget). When no
//! retry is allowed, the last answer is returned as it is.
//!
//! # Retry-After and the deadline
//!
//! The delay before a retry is the schedule's, raised to what the answer
//! asked for:
//! - a fusebox refusal from a layer below (its [`Error`](super::Error) in
//!   the response's extensions): its exact `retry_after`. A breaker below
//!   that is open is asked again only once it lets a probe through, not
//!   after the whole seconds of its `Retry-After` header, and never
//!   before: no attempt is spent on a breaker that will refuse it;
//! - otherwise the upstream's `Retry-After` (RFC 9110 §10.2.3):
//!   delay-seconds or an HTTP-date (IMF-fixdate, or the obsolete RFC 850
//!   and asctime forms; a date already past asks for no wait).
//!
//! The wait is given up, and the last answer (with its `503` or `429` and
//! `Retry-After`) goes back at once, when
//! - it would end past the [`deadline`](RetryLayer::deadline) (set it to
//!   the client's per-request timeout): waiting would only turn a refusal
//!   the client can act on into a timeout;
//! - the hint is longer than the schedule's
//!   [`max_hint`](fusebox::backoff::Config::max_hint) (60 s unless set)
//!   or than what is left of its total-delay budget.
//!
//! This is what Polly users get from a retry strategy whose delay
//! generator reads `BrokenCircuitException.RetryAfter` inside a pipeline
//! timeout, what Envoy's `rate_limited_retry_back_off` does with a
//! `Retry-After`, and gRPC's retry with server pushback under a call
//! deadline (gRFC A6): the server's wait is honoured, never shortened,
//! and no retry is waited for that could not start in time.
//! resilience4j retries a `CallNotPermittedException` on its own fixed
//! interval, which spends attempts on a breaker that is still open; here
//! the retry waits for the breaker instead.
//!
//! Put it above the breaker, bulkhead and upstream rate limit, so every
//! retry is counted by them (see [the recommended stack](super#the-recommended-stack)).

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use service::RetryService;
pub(crate) use service::{rebuild, safe_to_repeat};
