use std::task::{Context, Poll};

use bytes::Bytes;
use fusebox::time::Clock;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use super::ResponseFuture;
use crate::tower::retry::{rebuild, safe_to_repeat};
use crate::tower::{Error, ErrorKind};
use crate::{FastClock, HedgePolicy};

/// The service [`HedgeLayer`](super::HedgeLayer) makes.
#[derive(Debug)]
pub struct HedgeService<S, C: Clock = FastClock> {
    pub(super) inner: S,
    pub(super) policy: HedgePolicy<C>,
    pub(super) max_body: u64,
}

impl<S: Clone, C: Clock> Clone for HedgeService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            max_body: self.max_body,
        }
    }
}

impl<S, B, ResBody, C> Service<Request<B>> for HedgeService<S, C>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
    C: Clock + Send + Sync + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let policy = self.policy.clone();
        let hedgeable = safe_to_repeat(req.method(), req.headers())
            && req
                .body()
                .size_hint()
                .exact()
                .is_some_and(|n| n <= self.max_body);
        if !hedgeable {
            let call = self.inner.call(req);
            return Box::pin(async move {
                let t0 = policy.now();
                let r = call.await;
                policy.record(policy.now().saturating_duration_since(t0));
                r
            });
        }
        // The readied service answers the first copy; each hedge readies
        // a clone of it.
        let template = self.inner.clone();
        let first = std::mem::replace(&mut self.inner, template.clone());
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
                return Ok(Error::new(ErrorKind::BodyUnreadable, None, None).to_response());
            };
            let mut first = Some(first);
            policy
                .hedge_with(
                    move || {
                        let mut svc = first.take().unwrap_or_else(|| template.clone());
                        let req = rebuild::<B>(&parts, &body);
                        async move {
                            // Ready already for the first copy (the caller's
                            // poll_ready); a hedge readies its clone here, so
                            // the limits below see it as one more request.
                            std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
                            svc.call(req).await
                        }
                    },
                    |r: &Result<Response<ResBody>, S::Error>| {
                        // A fusebox refusal from below (breaker, bulkhead, rate
                        // limit) wins only if every copy is refused.
                        !matches!(r, Ok(resp) if resp.extensions().get::<Error>().is_some())
                    },
                )
                .await
        })
    }
}
