use fusebox::time::Clock;
use tower_layer::Layer;

use super::KeyedRateLimitService;
use crate::tower::{Grpc, Http, Typed};
use crate::{CoarseClock, KeyedLimiter};

/// A [`KeyedLimiter`] as a tower layer, keyed by `X`; every wrapped service
/// and clone shares the one table.
///
/// ```
/// use std::net::IpAddr;
/// use fusebox::rate::{Quota, WhenFull};
/// use fusebox_std::{KeyedLimiter, TICK_HZ};
/// use fusebox_std::tower::{ClientAddr, KeyedRateLimitLayer};
///
/// // 10 requests per second per client address, bursts of 5; 4096 clients tracked.
/// let limiter: KeyedLimiter<Option<IpAddr>, 4096> =
///     KeyedLimiter::new("per-client", Quota::per_second(10).allow_burst(5).build()?, WhenFull::EvictLeastRecent)?;
/// let layer = KeyedRateLimitLayer::new(limiter, ClientAddr);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyedRateLimitLayer<X, K, const N: usize, C: Clock = CoarseClock, R = Http> {
    limiter: KeyedLimiter<Option<K>, N, C>,
    extract: X,
    reject: R,
}

impl<X: std::fmt::Debug, K, const N: usize, C: Clock, R> std::fmt::Debug
    for KeyedRateLimitLayer<X, K, N, C, R>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("extract", &self.extract)
            .field("capacity", &N)
            .finish_non_exhaustive()
    }
}

impl<X: Clone, K, const N: usize, C: Clock, R: Clone> Clone for KeyedRateLimitLayer<X, K, N, C, R> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            extract: self.extract.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<X, K, const N: usize, C: Clock> KeyedRateLimitLayer<X, K, N, C> {
    /// An HTTP layer (refusals `429` + `Retry-After`) keyed by `extract`.
    pub fn new(limiter: KeyedLimiter<Option<K>, N, C>, extract: X) -> Self {
        Self {
            limiter,
            extract,
            reject: Http,
        }
    }

    /// Refusals as the typed [`Error`](crate::tower::Error).
    pub fn typed(self) -> KeyedRateLimitLayer<X, K, N, C, Typed> {
        KeyedRateLimitLayer {
            limiter: self.limiter,
            extract: self.extract,
            reject: Typed,
        }
    }

    /// Refusals as gRPC responses ([`Grpc`]: `RESOURCE_EXHAUSTED` with the
    /// server's pushback), for tonic servers.
    pub fn grpc(self) -> KeyedRateLimitLayer<X, K, N, C, Grpc> {
        KeyedRateLimitLayer {
            limiter: self.limiter,
            extract: self.extract,
            reject: Grpc,
        }
    }
}

impl<S, X, K, const N: usize, C: Clock, R: Clone> Layer<S> for KeyedRateLimitLayer<X, K, N, C, R>
where
    X: Clone,
{
    type Service = KeyedRateLimitService<S, X, K, N, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            extract: self.extract.clone(),
            reject: self.reject.clone(),
        }
    }
}
