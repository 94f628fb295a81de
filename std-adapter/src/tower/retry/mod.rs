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
//! attempt and the budget has a token (every request that ends in a success
//! deposits; every retry withdraws: Finagle's retry budget). The delay is
//! the schedule's, raised to the upstream's `Retry-After` (delay-seconds)
//! where that is longer (capped by the schedule's `max_hint`). When no
//! retry is allowed, the last answer is returned as it is.
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
