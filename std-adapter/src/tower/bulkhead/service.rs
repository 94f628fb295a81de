use std::task::{Context, Poll};
use std::time::Duration;

use fusebox::breaker::Outcome;
use fusebox::time::Clock;
use tower_service::Service;

use super::ResponseFuture;
use super::layer::Limit;
use crate::FastClock;
use crate::tower::future::ready;
use crate::tower::{Classify, Error, ErrorKind, Http, HttpClassifier, Reject};

/// The service [`BulkheadLayer`](super::BulkheadLayer) makes.
#[derive(Debug)]
pub struct BulkheadService<S, C: Clock = FastClock, K = HttpClassifier, R = Http> {
    pub(super) inner: S,
    pub(super) limit: Limit<C>,
    pub(super) classifier: K,
    pub(super) reject: R,
}

impl<S: Clone, C: Clock, K: Clone, R: Clone> Clone for BulkheadService<S, C, K, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limit: self.limit.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<S, Req, C, K, R> Service<Req> for BulkheadService<S, C, K, R>
where
    S: Service<Req> + Clone + Send + 'static,
    Req: Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
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
        let shed = |name: &crate::Name| {
            Error::new(
                ErrorKind::Shed,
                Some(name.clone()),
                Some(Duration::from_secs(1)),
            )
        };
        match &self.limit {
            Limit::Adaptive(limiter) => match limiter.try_acquire() {
                Err(_) => ready(self.reject.reject(shed(limiter.name()))),
                Ok(permit) => {
                    let call = self.inner.call(req);
                    let classifier = self.classifier.clone();
                    Box::pin(async move {
                        let result = call.await;
                        let _limit_change_went_to_the_hook =
                            permit.record(load(classifier.classify(&result)));
                        result
                    })
                }
            },
            Limit::Fixed(bulkhead) => {
                if let Ok(permit) = bulkhead.try_acquire() {
                    let call = self.inner.call(req);
                    return Box::pin(async move {
                        let result = call.await;
                        drop(permit);
                        result
                    });
                }
                if bulkhead.max_queue() == 0 {
                    return ready(self.reject.reject(shed(bulkhead.name())));
                }
                // Queued: the inner service made ready by `poll_ready` is
                // taken along (tower's clone-and-swap: this handle keeps a
                // fresh clone, which the next `poll_ready` readies).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let bulkhead = bulkhead.clone();
                let reject = self.reject.clone();
                Box::pin(async move {
                    match bulkhead.acquire().await {
                        Ok(permit) => {
                            let result = inner.call(req).await;
                            drop(permit);
                            result
                        }
                        // Queue full, waited too long, or no runtime: shed.
                        Err(_) => reject.reject(shed(bulkhead.name())),
                    }
                })
            }
        }
    }
}

// A failure says the upstream is overloaded (a timeout, a 5xx, a 503 from
// below): the adaptive limit backs off.
fn load(outcome: Outcome) -> fusebox::bulkhead::Outcome {
    match outcome {
        Outcome::Success => fusebox::bulkhead::Outcome::Success,
        Outcome::Failure => fusebox::bulkhead::Outcome::Dropped,
        Outcome::Ignored => fusebox::bulkhead::Outcome::Ignored,
    }
}
