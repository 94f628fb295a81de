use fusebox::time::Clock;
use tower_layer::Layer;

use super::RateLimitService;
use crate::tower::{Grpc, Http, Typed};
use crate::{CoarseClock, RateLimiter};

/// A [`RateLimiter`] as a tower layer; every wrapped service and clone
/// shares the one bucket.
///
/// ```
/// use fusebox::rate::Quota;
/// use fusebox_std::{RateLimiter, TICK_HZ};
/// use fusebox_std::tower::RateLimitLayer;
///
/// // 100 requests per second, bursts of 20: beyond that, 429 + Retry-After.
/// let limiter = RateLimiter::new("api", Quota::per_second(100).allow_burst(20).build()?)?;
/// let layer = RateLimitLayer::new(limiter);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitLayer<C: Clock = CoarseClock, R = Http> {
    limiter: RateLimiter<C>,
    reject: R,
}

impl<C: Clock> RateLimitLayer<C> {
    /// An HTTP layer: refusals are `429` + `Retry-After`.
    pub fn new(limiter: RateLimiter<C>) -> Self {
        Self {
            limiter,
            reject: Http,
        }
    }

    /// Refusals as the typed [`Error`](crate::tower::Error).
    pub fn typed(self) -> RateLimitLayer<C, Typed> {
        RateLimitLayer {
            limiter: self.limiter,
            reject: Typed,
        }
    }

    /// Refusals as gRPC responses ([`Grpc`]: `RESOURCE_EXHAUSTED` with the
    /// server's pushback), for tonic servers and channels.
    pub fn grpc(self) -> RateLimitLayer<C, Grpc> {
        RateLimitLayer {
            limiter: self.limiter,
            reject: Grpc,
        }
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &RateLimiter<C> {
        &self.limiter
    }
}

impl<S, C: Clock, R: Clone> Layer<S> for RateLimitLayer<C, R> {
    type Service = RateLimitService<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            reject: self.reject.clone(),
        }
    }
}
