use std::task::{Context, Poll};

use fusebox::time::Clock;
use tower_service::Service;

use super::ResponseFuture;
use crate::tower::future::ready;
use crate::tower::{Error, ErrorKind, Http, Reject};
use crate::{CoarseClock, RateLimiter};

/// The service [`RateLimitLayer`](super::RateLimitLayer) makes.
#[derive(Debug, Clone)]
pub struct RateLimitService<S, C: Clock = CoarseClock, R = Http> {
    pub(super) inner: S,
    pub(super) limiter: RateLimiter<C>,
    pub(super) reject: R,
}

impl<S, Req, C, R> Service<Req> for RateLimitService<S, C, R>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
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
        match self.limiter.try_acquire() {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(rejected) => ready(self.reject.reject(Error::from_ticks(
                ErrorKind::RateLimited,
                self.limiter.name(),
                rejected.retry_after,
            ))),
        }
    }
}
