//! Classifiers: what a response (or an error) says about the upstream's
//! health, as a breaker [`Outcome`].
//!
//! | classifier | failure | ignored | success |
//! |---|---|---|---|
//! | [`HttpClassifier`] (default) | an error (timeout, connection), `5xx` | `4xx`, a fusebox refusal from a layer below | anything else |
//! | [`GrpcClassifier`] (default) | an error; `grpc-status` `UNAVAILABLE` (14), `DEADLINE_EXCEEDED` (4), `RESOURCE_EXHAUSTED` (8); an HTTP status other than `200` | any other non-zero `grpc-status` | `grpc-status` 0 or absent |
//! | [`ResultClassifier`] | `Err` | | `Ok` |
//!
//! The conventions are Envoy's and gRPC's retry/outlier policies (`5xx`,
//! and the gRPC codes that say "the server could not do it now").
//! A 4xx says the request was wrong, not that the upstream is sick.

use fusebox::breaker::Outcome;
use http::{Response, StatusCode};

/// Response (or error) -> [`Outcome`].
pub trait Classify<Res, E>: Clone + Send + Sync + 'static {
    /// What this result says about the upstream.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

/// HTTP: `5xx` and errors are failures, `4xx` is ignored (configurable
/// with [`HttpClassifier::status`]).
#[derive(Clone, Copy)]
pub struct HttpClassifier {
    status: fn(StatusCode) -> Outcome,
}

impl std::fmt::Debug for HttpClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClassifier").finish_non_exhaustive()
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

/// The default HTTP rule: `5xx` failure, `4xx` ignored, else success.
pub fn http_default(status: StatusCode) -> Outcome {
    if status.is_server_error() {
        Outcome::Failure
    } else if status.is_client_error() {
        Outcome::Ignored
    } else {
        Outcome::Success
    }
}

impl HttpClassifier {
    /// The default rule ([`http_default`]).
    pub const fn new() -> Self {
        Self {
            status: http_default,
        }
    }

    /// Classify statuses with `rule` instead (e.g. count `429` as a
    /// failure, or `501` as ignored).
    pub const fn status(rule: fn(StatusCode) -> Outcome) -> Self {
        Self { status: rule }
    }

    /// The outcome of one status.
    pub fn of(&self, status: StatusCode) -> Outcome {
        (self.status)(status)
    }
}

impl<B, E> Classify<Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Err(_) => Outcome::Failure,
            Ok(r) if r.extensions().get::<super::Error>().is_some() => Outcome::Ignored,
            Ok(r) => self.of(r.status()),
        }
    }
}

/// gRPC status codes (`grpc-status`), as numbers.
pub mod code {
    /// `DEADLINE_EXCEEDED`
    pub const DEADLINE_EXCEEDED: u8 = 4;
    /// `RESOURCE_EXHAUSTED`
    pub const RESOURCE_EXHAUSTED: u8 = 8;
    /// `INTERNAL`
    pub const INTERNAL: u8 = 13;
    /// `UNAVAILABLE`
    pub const UNAVAILABLE: u8 = 14;
}

/// gRPC: `UNAVAILABLE`, `DEADLINE_EXCEEDED` and `RESOURCE_EXHAUSTED` are
/// failures; other codes ignored; configurable with
/// [`failure`](Self::failure) / [`not_failure`](Self::not_failure).
///
/// Reads `grpc-status` from the response *headers*: a gRPC error is a
/// "trailers-only" response that carries it there (tonic's
/// `Status::into_http`, grpc-go, grpc-java). A status sent in the trailers
/// after a streamed body is not seen (it classifies as success): put the
/// breaker where errors are trailers-only (every unary error is).
#[derive(Debug, Clone, Copy)]
pub struct GrpcClassifier {
    failures: u32,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcClassifier {
    /// The default failure codes.
    pub const fn new() -> Self {
        Self {
            failures: (1 << code::UNAVAILABLE)
                | (1 << code::DEADLINE_EXCEEDED)
                | (1 << code::RESOURCE_EXHAUSTED),
        }
    }

    /// Count `code` (0..=16) as a failure too; other numbers change nothing.
    pub const fn failure(mut self, code: u8) -> Self {
        if code <= 16 {
            self.failures |= 1 << code;
        }
        self
    }

    /// Do not count `code` as a failure.
    pub const fn not_failure(mut self, code: u8) -> Self {
        if code <= 16 {
            self.failures &= !(1 << code);
        }
        self
    }

    /// The outcome of one `grpc-status` code.
    pub const fn of(&self, code: u32) -> Outcome {
        if code == 0 {
            Outcome::Success
        } else if code <= 16 && self.failures & (1 << code) != 0 {
            Outcome::Failure
        } else {
            Outcome::Ignored
        }
    }
}

impl<B, E> Classify<Response<B>, E> for GrpcClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        let r = match result {
            Err(_) => return Outcome::Failure,
            Ok(r) => r,
        };
        if r.extensions().get::<super::Error>().is_some() {
            return Outcome::Ignored;
        }
        if r.status() != StatusCode::OK {
            // A gRPC server answers 200; anything else is a proxy or
            // transport fault.
            return Outcome::Failure;
        }
        match r.headers().get("grpc-status") {
            None => Outcome::Success,
            Some(v) => match v.to_str().ok().and_then(|s| s.parse::<u32>().ok()) {
                Some(c) => self.of(c),
                None => Outcome::Failure,
            },
        }
    }
}

/// Any service: `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResultClassifier;

impl<Res, E> Classify<Res, E> for ResultClassifier {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, grpc: Option<&str>) -> Result<Response<()>, ()> {
        let mut r = Response::builder().status(status);
        if let Some(g) = grpc {
            r = r.header("grpc-status", g);
        }
        Ok(r.body(()).expect("valid"))
    }

    #[test]
    fn http_rules() {
        let k = HttpClassifier::new();
        assert_eq!(k.classify(&resp(200, None)), Outcome::Success);
        assert_eq!(k.classify(&resp(302, None)), Outcome::Success);
        assert_eq!(k.classify(&resp(404, None)), Outcome::Ignored);
        assert_eq!(k.classify(&resp(503, None)), Outcome::Failure);
        assert_eq!(k.classify(&Err::<Response<()>, ()>(())), Outcome::Failure);
        let strict = HttpClassifier::status(|s| {
            if s == StatusCode::TOO_MANY_REQUESTS {
                Outcome::Failure
            } else {
                http_default(s)
            }
        });
        assert_eq!(strict.classify(&resp(429, None)), Outcome::Failure);
    }

    #[test]
    fn grpc_rules() {
        let k = GrpcClassifier::new();
        assert_eq!(k.classify(&resp(200, None)), Outcome::Success);
        assert_eq!(k.classify(&resp(200, Some("0"))), Outcome::Success);
        assert_eq!(k.classify(&resp(200, Some("14"))), Outcome::Failure);
        assert_eq!(k.classify(&resp(200, Some("4"))), Outcome::Failure);
        assert_eq!(k.classify(&resp(200, Some("8"))), Outcome::Failure);
        assert_eq!(k.classify(&resp(200, Some("5"))), Outcome::Ignored);
        assert_eq!(k.classify(&resp(200, Some("13"))), Outcome::Ignored);
        assert_eq!(k.classify(&resp(200, Some("junk"))), Outcome::Failure);
        assert_eq!(k.classify(&resp(502, None)), Outcome::Failure);
        let k = k
            .failure(code::INTERNAL)
            .not_failure(code::RESOURCE_EXHAUSTED);
        assert_eq!(k.classify(&resp(200, Some("13"))), Outcome::Failure);
        assert_eq!(k.classify(&resp(200, Some("8"))), Outcome::Ignored);
    }
}
