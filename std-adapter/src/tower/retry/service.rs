use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use fusebox::backoff::Backoff;
use fusebox::breaker::Outcome;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use super::ResponseFuture;
use super::layer::Settings;
use crate::tower::{Error, ErrorKind};

/// The service [`RetryLayer`](super::RetryLayer) makes.
#[derive(Debug)]
pub struct RetryService<S> {
    pub(super) inner: S,
    pub(super) settings: Arc<Settings>,
}

impl<S: Clone> Clone for RetryService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

/// Safe to repeat: an idempotent method (RFC 9110 §9.2.2) or an
/// `Idempotency-Key`.
pub(crate) fn safe_to_repeat(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || headers.contains_key("idempotency-key")
}

/// `Retry-After` as delay-seconds (an HTTP-date is not read).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    let s = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    s.trim()
        .parse::<u64>()
        .ok()
        .map(std::time::Duration::from_secs)
}

impl<S, B, ResBody> Service<Request<B>> for RetryService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let settings = Arc::clone(&self.settings);
        let buffered = safe_to_repeat(req.method(), req.headers())
            && req
                .body()
                .size_hint()
                .exact()
                .is_some_and(|n| n <= settings.max_body);
        if !buffered {
            let call = self.inner.call(req);
            return Box::pin(async move {
                let r = call.await;
                if let (Some(b), Ok(resp)) = (&settings.budget, &r) {
                    if settings.classifier.of(resp.status()) != Outcome::Failure {
                        b.deposit();
                    }
                }
                r
            });
        }
        let clone = self.inner.clone();
        let mut svc = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
                return Ok(Error::new(ErrorKind::BodyUnreadable, None, None).to_response());
            };
            let mut backoff = match Backoff::new(settings.schedule, settings.seed()) {
                Ok(b) => b,
                // Checked when the layer was built; a schedule cannot
                // become invalid. Never retry rather than panic.
                Err(_) => return svc.call(rebuild(&parts, &body)).await,
            };
            let mut first = true;
            loop {
                if !first {
                    // The moved-in service was readied by the caller's
                    // poll_ready; later attempts ready it here.
                    std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
                }
                first = false;
                let result = svc.call(rebuild(&parts, &body)).await;
                let retryable = match &result {
                    Err(_) => true,
                    Ok(r) => {
                        r.status() == StatusCode::TOO_MANY_REQUESTS
                            || settings.classifier.of(r.status()) == Outcome::Failure
                    }
                };
                if !retryable {
                    if let Some(b) = &settings.budget {
                        b.deposit();
                    }
                    return result;
                }
                let hint = match &result {
                    Ok(r) => retry_after(r.headers()).map(crate::from_std),
                    Err(_) => None,
                };
                let Some(delay) = backoff.next_delay(hint) else {
                    return result;
                };
                if let Some(b) = &settings.budget {
                    if !b.try_withdraw() {
                        return result;
                    }
                }
                drop(result);
                tokio::time::sleep(crate::to_std(delay)).await;
            }
        })
    }
}

pub(crate) fn rebuild<B: From<Bytes>>(parts: &http::request::Parts, body: &Bytes) -> Request<B> {
    let mut req = Request::new(B::from(body.clone()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safety_and_retry_after() {
        let mut h = HeaderMap::new();
        assert!(safe_to_repeat(&Method::GET, &h));
        assert!(safe_to_repeat(&Method::PUT, &h));
        assert!(!safe_to_repeat(&Method::POST, &h));
        h.insert("idempotency-key", http::HeaderValue::from_static("\"k\""));
        assert!(safe_to_repeat(&Method::POST, &h));
        assert_eq!(retry_after(&h), None);
        h.insert(header::RETRY_AFTER, http::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(std::time::Duration::from_secs(7)));
        h.insert(
            header::RETRY_AFTER,
            http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
