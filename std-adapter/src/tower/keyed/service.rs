use std::task::{Context, Poll};

use fusebox::time::Clock;
use tower_service::Service;

use super::{KeyExtractor, ResponseFuture};
use crate::tower::future::ready;
use crate::tower::{Error, ErrorKind, Http, Reject};
use crate::{CoarseClock, KeyedLimiter};

/// The service [`KeyedRateLimitLayer`](super::KeyedRateLimitLayer) makes.
pub struct KeyedRateLimitService<S, X, K, const N: usize, C: Clock = CoarseClock, R = Http> {
    pub(super) inner: S,
    pub(super) limiter: KeyedLimiter<Option<K>, N, C>,
    pub(super) extract: X,
    pub(super) reject: R,
}

impl<S: std::fmt::Debug, X: std::fmt::Debug, K, const N: usize, C: Clock, R> std::fmt::Debug
    for KeyedRateLimitService<S, X, K, N, C, R>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("inner", &self.inner)
            .field("extract", &self.extract)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, X: Clone, K, const N: usize, C: Clock, R: Clone> Clone
    for KeyedRateLimitService<S, X, K, N, C, R>
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            extract: self.extract.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<S, Req, X, const N: usize, C, R> Service<Req> for KeyedRateLimitService<S, X, X::Key, N, C, R>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    X: KeyExtractor<Req>,
    C: Clock + Send + Sync + 'static,
    R: Reject<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = self.extract.extract(&req);
        match self.limiter.try_acquire(key) {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(rejected) => ready(self.reject.reject(Error::from_ticks(
                ErrorKind::RateLimited,
                self.limiter.name(),
                rejected.retry_after(),
            ))),
        }
    }
}
