use std::task::{Context, Poll};

use fusebox::time::Clock;
use tower_service::Service;

use super::ResponseFuture;
use crate::tower::{Error, ErrorKind, Http, Reject};
use crate::{AdaptiveTimeout, FastClock};

/// The service [`AdaptiveTimeoutLayer`](super::AdaptiveTimeoutLayer) makes.
#[derive(Debug)]
pub struct AdaptiveTimeoutService<S, C: Clock = FastClock, R = Http> {
    pub(super) inner: S,
    pub(super) timeout: AdaptiveTimeout<C>,
    pub(super) reject: R,
}

impl<S: Clone, C: Clock, R: Clone> Clone for AdaptiveTimeoutService<S, C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout: self.timeout.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<S, Req, C, R> Service<Req> for AdaptiveTimeoutService<S, C, R>
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
        let call = self.inner.call(req);
        let timeout = self.timeout.clone();
        let reject = self.reject.clone();
        Box::pin(async move {
            match timeout.run(call).await {
                Ok(r) => r,
                Err(_) => reject.reject(Error::new(
                    ErrorKind::Timeout,
                    Some(timeout.name().clone()),
                    None,
                )),
            }
        })
    }
}
