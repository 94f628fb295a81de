//! [`AdaptiveTimeoutLayer`]: a per-request timeout set from recent
//! latency by an [`AdaptiveTimeout`](crate::AdaptiveTimeout).
//!
//! Each request gets the timeout of the moment it starts
//! (`clamp(quantile x num / den + margin, min, max)`, the initial value
//! until `min_samples` samples); its latency is recorded when it answers
//! (a response or an error), and the timeout itself when it runs past it
//! (it took at least that long: recording nothing would let the quantile
//! fall as the tail grows). A request that ran past its timeout is dropped
//! (cancelled: a breaker below records `Ignored` unless the breaker is
//! told otherwise by a classifier above it) and answered with `504` +
//! [`ErrorKind::Timeout`](crate::tower::ErrorKind::Timeout) ([`Http`](crate::tower::Http)),
//! or the typed [`Error`](crate::tower::Error) (`.typed()`).
//!
//! Where to put it: as the **timeout per attempt** (innermost) of [the
//! recommended stack](super#the-recommended-stack), in place of a fixed
//! `tower::timeout::TimeoutLayer`; keep a fixed timeout outermost as the
//! client's whole budget.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AdaptiveTimeoutLayer;
pub use service::AdaptiveTimeoutService;
