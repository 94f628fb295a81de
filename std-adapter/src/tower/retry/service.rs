use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

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

/// `Retry-After` (RFC 9110 §10.2.3) as a wait from now: delay-seconds, or
/// an HTTP-date in any of the three forms of §5.6.7 (a date already past
/// is a wait of zero). Anything else is ignored, as the RFC's recipients
/// do with a value they cannot parse.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    retry_after_at(headers, SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<std::time::Duration> {
    let s = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // delay-seconds = 1*DIGIT: a number too long for u64 is a very
        // long wait, not no wait.
        let secs = s.parse().unwrap_or(u64::MAX);
        return Some(std::time::Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(s).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// The wait an answer asks for: a fusebox refusal's exact `retry_after`
/// (a breaker, bulkhead or rate limit below this layer; its header says
/// the same rounded up to whole seconds), else the `Retry-After` header.
pub(crate) fn wait_hint<B>(r: &Response<B>) -> Option<std::time::Duration> {
    r.extensions()
        .get::<Error>()
        .and_then(Error::retry_after)
        .or_else(|| retry_after(r.headers()))
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
            let end = settings
                .deadline
                .and_then(|d| tokio::time::Instant::now().checked_add(crate::to_std(d)));
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
                if let Some(t) = &settings.telemetry {
                    t.attempted(!first);
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
                    Ok(r) => wait_hint(r).map(crate::from_std),
                    Err(_) => None,
                };
                let Some(delay) = backoff.next_delay(hint) else {
                    return result;
                };
                let delay = crate::to_std(delay);
                // A retry that would start past the deadline is not made:
                // the answer goes back now, while the client waits for it
                // (and costs no budget).
                let wake = tokio::time::Instant::now().checked_add(delay);
                if end.is_some_and(|end| wake.is_none_or(|wake| wake > end)) {
                    return result;
                }
                if let Some(b) = &settings.budget {
                    if !b.try_withdraw() {
                        return result;
                    }
                }
                drop(result);
                tokio::time::sleep(delay).await;
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
    }

    #[test]
    fn retry_after_forms() {
        use std::time::Duration as D;
        let at = |v: &'static str, now: SystemTime| {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, http::HeaderValue::from_static(v));
            retry_after_at(&h, now)
        };
        // RFC 9110 §10.2.3's own examples; 1445412480 is 07:28:00 that day.
        let date = SystemTime::UNIX_EPOCH + D::from_secs(1_445_412_480);
        let before = date - D::from_secs(90);
        assert_eq!(at("120", before), Some(D::from_secs(120)));
        assert_eq!(at(" 0 ", before), Some(D::ZERO));
        assert_eq!(
            at("Wed, 21 Oct 2015 07:28:00 GMT", before),
            Some(D::from_secs(90))
        );
        // The obsolete forms a recipient must accept (§5.6.7).
        assert_eq!(
            at("Wednesday, 21-Oct-15 07:28:00 GMT", before),
            Some(D::from_secs(90))
        );
        assert_eq!(
            at("Wed Oct 21 07:28:00 2015", before),
            Some(D::from_secs(90))
        );
        // A date already past: retry now (the schedule's delay still applies).
        assert_eq!(
            at("Wed, 21 Oct 2015 07:28:00 GMT", date + D::from_secs(5)),
            Some(D::ZERO)
        );
        // Too many seconds for u64: a very long wait, not none.
        assert_eq!(
            at("99999999999999999999999", before),
            Some(D::from_secs(u64::MAX))
        );
        // Not a Retry-After value: ignored.
        for junk in ["-5", "1.5", "soon", "", "Wed, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(at(junk, before), None, "{junk:?}");
        }
    }

    #[test]
    fn a_refusal_below_gives_its_exact_wait() {
        let e = Error::new(
            ErrorKind::BreakerOpen,
            None,
            Some(std::time::Duration::from_millis(1_200)),
        );
        let r: Response<http_body_util::Full<Bytes>> = e.to_response();
        assert_eq!(
            r.headers()[header::RETRY_AFTER],
            "2",
            "the header rounds up"
        );
        assert_eq!(wait_hint(&r), Some(std::time::Duration::from_millis(1_200)));
        // An upstream's answer: its header.
        let mut r = Response::new(());
        r.headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from_static("3"));
        assert_eq!(wait_hint(&r), Some(std::time::Duration::from_secs(3)));
    }
}
