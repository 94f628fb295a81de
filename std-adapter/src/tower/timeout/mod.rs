//! [`AdaptiveTimeoutLayer`]: a per-request timeout set from recent
//! latency by an [`AdaptiveTimeout`](crate::AdaptiveTimeout).

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AdaptiveTimeoutLayer;
pub use service::AdaptiveTimeoutService;
