use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use super::ResponseFuture;
use crate::Singleflight;
use crate::singleflight::FlightError;
use crate::tower::{Error, ErrorKind};

#[derive(Debug)]
pub(crate) struct Stored {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    // A fusebox refusal from below (breaker, bulkhead, rate limit): every
    // copy carries it too, so the layers above (idempotency, retry, hedge)
    // still tell it from an upstream answer.
    refusal: Option<Error>,
}

// `Err(())`: the leader's error or failed body, kept by the leader.
pub(crate) type Shared = Result<Arc<Stored>, ()>;
pub(crate) type Flights = Singleflight<Vec<u8>, Shared>;

// The leader's own answer when it is not shared.
type Own<T, E> = Arc<Mutex<Option<Result<T, E>>>>;

pub(crate) fn is_shareable(v: &Shared) -> bool {
    v.is_ok()
}

/// The service [`CoalesceLayer`](super::CoalesceLayer) makes.
#[derive(Debug)]
pub struct CoalesceService<S> {
    pub(super) inner: S,
    pub(super) flights: Flights,
    pub(super) vary: Arc<[http::HeaderName]>,
}

impl<S: Clone> Clone for CoalesceService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            flights: self.flights.clone(),
            vary: Arc::clone(&self.vary),
        }
    }
}

fn key<B>(req: &Request<B>, vary: &[http::HeaderName]) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.extend_from_slice(req.method().as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(req.uri().to_string().as_bytes());
    for name in vary {
        for v in req.headers().get_all(name) {
            k.push(0);
            k.extend_from_slice(name.as_str().as_bytes());
            k.push(b':');
            k.extend_from_slice(v.as_bytes());
        }
    }
    k
}

impl<S, B, ResBody> Service<Request<B>> for CoalesceService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResBody::Error: Send,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Box::pin(self.inner.call(req));
        }
        let key = key(&req, &self.vary);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let flights = self.flights.clone();
        Box::pin(async move {
            // The leader's own error, which is not shared.
            let own: Own<Response<ResBody>, S::Error> = Arc::default();
            let mine = Arc::clone(&own);
            let shared = flights
                .run(key, move || async move {
                    let result = inner.call(req).await;
                    let resp = match result {
                        Ok(r) => r,
                        Err(e) => {
                            *crate::handle::lock(&mine) = Some(Err(e));
                            return Err(());
                        }
                    };
                    let (parts, body) = resp.into_parts();
                    match body.collect().await {
                        Ok(c) => Ok(Arc::new(Stored {
                            status: parts.status,
                            refusal: parts.extensions.get::<Error>().cloned(),
                            headers: parts.headers,
                            body: c.to_bytes(),
                        })),
                        Err(_) => {
                            let e = Error::new(ErrorKind::UpstreamBody, None, None);
                            *crate::handle::lock(&mine) = Some(Ok(e.to_response()));
                            Err(())
                        }
                    }
                })
                .await;
            match shared {
                Ok(Ok(stored)) => {
                    let mut r = Response::new(ResBody::from(stored.body.clone()));
                    *r.status_mut() = stored.status;
                    *r.headers_mut() = stored.headers.clone();
                    if let Some(e) = &stored.refusal {
                        r.extensions_mut().insert(e.clone());
                    }
                    Ok(r)
                }
                Ok(Err(())) => match crate::handle::lock(&own).take() {
                    Some(r) => r,
                    None => Ok(Error::new(ErrorKind::UpstreamBody, None, None).to_response()),
                },
                Err(FlightError::LeaderDropped | FlightError::Full) => Ok(Error::new(
                    ErrorKind::CoalesceFailed,
                    None,
                    Some(std::time::Duration::from_secs(1)),
                )
                .to_response()),
            }
        })
    }
}
