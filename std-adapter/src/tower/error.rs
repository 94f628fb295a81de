//! One error type for every layer, and how a layer answers a rejection:
//! with an HTTP response ([`Http`]) or with the typed error ([`Typed`]).

use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};

/// Why a fusebox layer refused or could not serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The breaker is open (or half-open with every probe slot taken): `503`.
    BreakerOpen,
    /// The rate limit (plain or keyed) refused it: `429`.
    RateLimited,
    /// The bulkhead is full and its queue too, or the wait ran past the
    /// maximum: shed, `503`.
    Shed,
    /// `Idempotency-Key` missing where the layer requires one: `400`.
    KeyMissing,
    /// `Idempotency-Key` is not a structured-field string (`"..."`): `400`.
    KeyInvalid,
    /// A request with the same idempotency key is still running: `409`.
    Conflict,
    /// The idempotency key was used before for a different request
    /// (method, path or body differ): `422`.
    Mismatch,
    /// The request body is larger than the layer buffers: `413`.
    BodyTooLarge,
    /// The request body could not be read: `400`.
    BodyUnreadable,
    /// The idempotency store is full or unreachable: `503`.
    StoreUnavailable,
    /// The upstream's response body failed while a layer read it: `502`.
    UpstreamBody,
    /// Coalescing: the leader was dropped and this layer is configured to
    /// fail its waiters; or too many keys in flight: `503`.
    CoalesceFailed,
    /// The upstream did not answer within the adaptive timeout: `504`.
    Timeout,
}

impl ErrorKind {
    /// The HTTP status a layer answers with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::KeyMissing | Self::KeyInvalid | Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Mismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamBody => StatusCode::BAD_GATEWAY,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BreakerOpen | Self::Shed | Self::StoreUnavailable | Self::CoalesceFailed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The gRPC status code a layer answers with under [`Grpc`] (the
    /// codes' meanings in gRPC's `statuscodes.md`): `UNAVAILABLE` (14) for
    /// a refusal that says "not now" (breaker, shed, store, coalescing, a
    /// failed upstream body), `RESOURCE_EXHAUSTED` (8) for a rate limit or
    /// a body too large, `DEADLINE_EXCEEDED` (4) for a timeout,
    /// `INVALID_ARGUMENT` (3) for a missing, invalid or unreadable request
    /// part, `ABORTED` (10) for a concurrent duplicate and
    /// `FAILED_PRECONDITION` (9) for a reused key.
    pub const fn grpc_code(self) -> u8 {
        match self {
            Self::BreakerOpen
            | Self::Shed
            | Self::StoreUnavailable
            | Self::CoalesceFailed
            | Self::UpstreamBody => 14,
            Self::RateLimited | Self::BodyTooLarge => 8,
            Self::Timeout => 4,
            Self::KeyMissing | Self::KeyInvalid | Self::BodyUnreadable => 3,
            Self::Conflict => 10,
            Self::Mismatch => 9,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::BreakerOpen => {
                "circuit breaker open: the upstream is failing; retry after the delay"
            }
            Self::RateLimited => "rate limited: too many requests; retry after the delay",
            Self::Shed => "overloaded: every slot and queue place is taken; retry after the delay",
            Self::KeyMissing => {
                "this request needs an Idempotency-Key header (a quoted string, e.g. Idempotency-Key: \"8e03978e\")"
            }
            Self::KeyInvalid => {
                "the Idempotency-Key header must be a structured-field string: printable ASCII in double quotes"
            }
            Self::Conflict => {
                "a request with this Idempotency-Key is still being processed; retry once it has finished"
            }
            Self::Mismatch => {
                "this Idempotency-Key was already used for a different request (method, path or body); use a new key"
            }
            Self::BodyTooLarge => "request body too large for this endpoint",
            Self::BodyUnreadable => "the request body could not be read",
            Self::StoreUnavailable => {
                "the idempotency store is full or unreachable; retry after the delay"
            }
            Self::UpstreamBody => "the upstream's response body failed; retry",
            Self::CoalesceFailed => {
                "the shared request was abandoned or too many are in flight; retry"
            }
            Self::Timeout => {
                "the upstream did not answer within the timeout set from its recent latency; retry"
            }
        }
    }
}

/// A fusebox layer's refusal: what ([`kind`](Self::kind)), which handle
/// (its name), and when to try again ([`retry_after`](Self::retry_after)).
///
/// HTTP layers turn it into a response ([`to_response`](Self::to_response):
/// the status of [`ErrorKind::status`], `Retry-After` in whole seconds,
/// and the error itself in the response's extensions, so layers above can
/// tell a fusebox refusal from an upstream answer); with the `axum` feature
/// it is `IntoResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    name: Option<crate::Name>,
    retry_after: Option<Duration>,
}

impl Error {
    /// An error of `kind` from the handle `name`, to retry after `retry_after`.
    pub fn new(kind: ErrorKind, name: Option<crate::Name>, retry_after: Option<Duration>) -> Self {
        Self {
            kind,
            name,
            retry_after,
        }
    }

    pub(crate) fn from_ticks(
        kind: ErrorKind,
        name: &crate::Name,
        retry_after: Option<fusebox::time::Duration>,
    ) -> Self {
        Self::new(kind, Some(name.clone()), retry_after.map(crate::to_std))
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The name of the handle that refused (breaker, limiter, ...), if any.
    pub fn name(&self) -> Option<&crate::Name> {
        self.name.as_ref()
    }

    /// When the same request may succeed, where the layer knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// `Retry-After` for this error in whole seconds (RFC 9110 §10.2.3),
    /// rounded up, at least 1: set on every `503` and `429` (1 when the
    /// layer does not know), and on a `409` when known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        let d = match (self.retry_after, self.status()) {
            (Some(d), _) => d,
            (None, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) => {
                Duration::ZERO
            }
            (None, _) => return None,
        };
        Some(retry_after_secs(d))
    }

    /// The response an HTTP layer answers with: status, `Retry-After`,
    /// `Content-Type: text/plain`, a one-line message as the body, and a
    /// copy of `self` in the extensions.
    pub fn to_response<B: From<bytes::Bytes>>(&self) -> Response<B> {
        let mut r = Response::new(B::from(bytes::Bytes::from(self.to_string())));
        *r.status_mut() = self.status();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(s) = self.retry_after_secs() {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r.extensions_mut().insert(self.clone());
        r
    }
}

/// gRPC's `grpc-message`: percent-encoded (gRPC's HTTP/2 protocol: every
/// byte outside printable ASCII, and `%`).
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

impl Error {
    /// The response a layer answers with under [`Grpc`]: a gRPC
    /// "trailers-only" response (HTTP `200`, `content-type:
    /// application/grpc`, no message), with `grpc-status`
    /// ([`ErrorKind::grpc_code`]), `grpc-message` (the one-line message),
    /// `grpc-retry-pushback-ms` when the wait is known (gRFC A6's server
    /// pushback: a gRPC client's retry waits that long), and a copy of
    /// `self` in the extensions.
    pub fn to_grpc_response<B: Default>(&self) -> Response<B> {
        let mut r = Response::new(B::default());
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert(
            "grpc-status",
            HeaderValue::from(u16::from(self.kind.grpc_code())),
        );
        let message =
            percent_encoding::utf8_percent_encode(&self.to_string(), GRPC_MESSAGE).to_string();
        if let Ok(v) = HeaderValue::try_from(message) {
            h.insert("grpc-message", v);
        }
        if let Some(d) = self.retry_after {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            h.insert("grpc-retry-pushback-ms", HeaderValue::from(ms));
        }
        r.extensions_mut().insert(self.clone());
        r
    }
}

/// `d` in whole seconds, rounded up, at least 1 (a `Retry-After` of 0
/// invites an immediate retry storm).
pub fn retry_after_secs(d: Duration) -> u64 {
    let s = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    s.max(1)
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind.what())?;
        if let Some(n) = &self.name {
            write!(f, " [{n}]")?;
        }
        if let Some(s) = self.retry_after_secs() {
            write!(f, " (retry after {s} s)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        self.to_response()
    }
}

/// How a layer answers a refusal: a response (`Ok`) or an error (`Err`).
pub trait Reject<Res, E>: Clone + Send + Sync + 'static {
    /// The answer to a request refused with `error`.
    fn reject(&self, error: Error) -> Result<Res, E>;
}

/// HTTP services: a refusal is a response ([`Error::to_response`]), so
/// the layer composes in axum without `HandleErrorLayer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

impl<B: From<bytes::Bytes>, E> Reject<Response<B>, E> for Http {
    fn reject(&self, error: Error) -> Result<Response<B>, E> {
        Ok(error.to_response())
    }
}

/// gRPC services (tonic servers, or a tonic `Channel` on the client side):
/// a refusal is a trailers-only gRPC response ([`Error::to_grpc_response`]),
/// which a gRPC client reads as a status (`UNAVAILABLE` for an open
/// breaker) with the server's pushback. A plain HTTP `503` would reach a
/// tonic client as a body it cannot decode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grpc;

impl<B: Default, E> Reject<Response<B>, E> for Grpc {
    fn reject(&self, error: Error) -> Result<Response<B>, E> {
        Ok(error.to_grpc_response())
    }
}

/// Any service: a refusal is the service's error, made from [`Error`]
/// (`tower::BoxError` qualifies; downcast it to read `retry_after()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed;

impl<Res, E: From<Error>> Reject<Res, E> for Typed {
    fn reject(&self, error: Error) -> Result<Res, E> {
        Err(E::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn responses_carry_status_retry_after_and_the_error() {
        let e = Error::new(
            ErrorKind::RateLimited,
            None,
            Some(Duration::from_millis(2500)),
        );
        let r: Response<http_body_util::Full<bytes::Bytes>> = e.to_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        assert_eq!(r.extensions().get::<Error>(), Some(&e));
        let e = Error::new(ErrorKind::BreakerOpen, None, None);
        assert_eq!(
            e.to_response::<http_body_util::Full<bytes::Bytes>>()
                .headers()[header::RETRY_AFTER],
            "1"
        );
        let e = Error::new(ErrorKind::Mismatch, None, None);
        let r: Response<http_body_util::Full<bytes::Bytes>> = e.to_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn grpc_responses_are_trailers_only_with_pushback() {
        let e = Error::new(
            ErrorKind::BreakerOpen,
            Some(crate::Name::new("up-stream").expect("a name")),
            Some(Duration::from_millis(1500)),
        );
        let r: Response<http_body_util::Empty<bytes::Bytes>> = e.to_grpc_response();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/grpc");
        assert_eq!(h["grpc-status"], "14");
        assert_eq!(h["grpc-retry-pushback-ms"], "1500");
        assert_eq!(
            h["grpc-message"],
            "circuit breaker open: the upstream is failing; retry after the delay [up-stream] (retry after 2 s)"
        );
        assert_eq!(r.extensions().get::<Error>(), Some(&e));
        let r: Response<http_body_util::Empty<bytes::Bytes>> =
            Error::new(ErrorKind::RateLimited, None, None).to_grpc_response();
        assert_eq!(r.headers()["grpc-status"], "8");
        assert!(r.headers().get("grpc-retry-pushback-ms").is_none());
        assert_eq!(ErrorKind::Timeout.grpc_code(), 4);
    }
}
