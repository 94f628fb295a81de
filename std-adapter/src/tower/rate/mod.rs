//! [`RateLimitLayer`]: a [`RateLimiter`](crate::RateLimiter) (GCRA token
//! bucket) in front of a service.
//!
//! `call` takes a token; refused, it answers at once (`429` +
//! `Retry-After`, the time until a token is due, with
//! [`Http`](super::Http); the typed [`Error`](super::Error) with
//! [`Typed`](super::Typed)). A token taken is spent whether or not the
//! request completes: a rate limit counts arrivals, not completions.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RateLimitLayer;
pub use service::RateLimitService;
