use std::task::{Context, Poll};

use fusebox::breaker::{ConsecutiveFailures, Policy};
use fusebox::time::Clock;
use tower_service::Service;

use super::OwnedGuard;
use crate::tower::future::{ResponseFuture, ready};
use crate::tower::{Classify, Error, ErrorKind, Http, HttpClassifier, Reject};
use crate::{Breaker, FastClock};

/// The service [`BreakerLayer`](super::BreakerLayer) makes.
#[derive(Debug)]
pub struct BreakerService<
    S,
    P: Policy = ConsecutiveFailures,
    C: Clock = FastClock,
    K = HttpClassifier,
    R = Http,
> {
    pub(super) inner: S,
    pub(super) breaker: Breaker<P, C>,
    pub(super) classifier: K,
    pub(super) reject: R,
}

impl<S: Clone, P: Policy, C: Clock, K: Clone, R: Clone> Clone for BreakerService<S, P, C, K, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<S, Req, P, C, K, R> Service<Req> for BreakerService<S, P, C, K, R>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    P: Policy + Send + 'static,
    C: Clock + Send + Sync + 'static,
    K: Classify<S::Response, S::Error>,
    R: Reject<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let guard = match OwnedGuard::acquire(&self.breaker) {
            Ok(g) => g,
            Err(rejected) => {
                let e = Error::from_ticks(
                    ErrorKind::BreakerOpen,
                    self.breaker.name(),
                    rejected.retry_after,
                );
                return ready(self.reject.reject(e));
            }
        };
        let call = self.inner.call(req);
        let classifier = self.classifier.clone();
        Box::pin(async move {
            let result = call.await;
            guard.record(classifier.classify(&result));
            result
        })
    }
}
