use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use fusebox::hash::Seed;
use http::{HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower_service::Service;

use super::ResponseFuture;
use super::future::KeyGuard;
use super::layer::{Fingerprint, Settings};
use super::record::{self, Record, TRUNCATED};
use crate::idempotency::{Begin, IdempotencyStore};
use crate::tower::future::ready;
use crate::tower::{Error, ErrorKind};

/// The service [`IdempotencyLayer`](super::IdempotencyLayer) makes.
#[derive(Debug)]
pub struct IdempotencyService<Svc, S> {
    pub(super) inner: Svc,
    pub(super) store: Arc<S>,
    pub(super) settings: Arc<Settings>,
}

impl<Svc: Clone, S> Clone for IdempotencyService<Svc, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The draft's key: an sf-string (RFC 8941 §3.3.3), unescaped.
pub(crate) fn parse_key(v: &HeaderValue) -> Option<Vec<u8>> {
    let b = v.as_bytes();
    let inner = b.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&c) = it.next() {
        match c {
            b'\\' => match it.next() {
                Some(&e @ (b'"' | b'\\')) => out.push(e),
                _ => return None,
            },
            b'"' => return None,
            0x20..=0x7e => out.push(c),
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

// Fixed seeds: a fingerprint must mean the same in every process of a
// fleet sharing a store.
const FP_SEEDS: [Seed; 2] = [
    Seed::new(0x6964_656d_706f_7465, 0x6e63_792d_6b65_7931),
    Seed::new(0x6675_7365_626f_782d, 0x6669_6e67_6572_7072),
];

fn fingerprint(kind: Fingerprint, method: &http::Method, uri: &http::Uri, body: &[u8]) -> [u8; 16] {
    let mut out = [0_u8; 16];
    if kind == Fingerprint::KeyOnly {
        return out;
    }
    for (seed, half) in FP_SEEDS.iter().zip(out.chunks_mut(8)) {
        let mut h = seed.build_hasher();
        h.write(method.as_str().as_bytes());
        h.write_u8(0xff);
        h.write(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
        h.write_u8(0xff);
        if kind == Fingerprint::MethodPathBody {
            h.write(body);
        }
        half.copy_from_slice(&h.finish().to_be_bytes());
    }
    out
}

fn reject<B: From<Bytes>>(
    kind: ErrorKind,
    retry_after: Option<std::time::Duration>,
) -> Response<B> {
    Error::new(kind, None, retry_after).to_response()
}

fn replay<B: From<Bytes>>(r: Record) -> Response<B> {
    let mut resp = Response::new(B::from(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    let replayed = if r.flags & TRUNCATED != 0 {
        "truncated"
    } else {
        "true"
    };
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static(replayed));
    resp
}

impl<Svc, S, B, ResBody> Service<Request<B>> for IdempotencyService<Svc, S>
where
    Svc: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Send + 'static,
    S: IdempotencyStore + 'static,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    ResBody: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResBody::Error: Send,
{
    type Response = Response<ResBody>;
    type Error = Svc::Error;
    type Future = ResponseFuture<Response<ResBody>, Svc::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Svc::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let settings = Arc::clone(&self.settings);
        let key = match req.headers().get(&settings.header) {
            None if settings.required.contains(req.method()) => {
                return ready(Ok(reject(ErrorKind::KeyMissing, None)));
            }
            None => return Box::pin(self.inner.call(req)),
            Some(v) => match parse_key(v) {
                Some(k) => k,
                None => return ready(Ok(reject(ErrorKind::KeyInvalid, None))),
            },
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let store = Arc::clone(&self.store);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let (body, fp) = if settings.fingerprint == Fingerprint::MethodPathBody {
                let bytes = match Limited::new(body, settings.max_request_body)
                    .collect()
                    .await
                {
                    Ok(c) => c.to_bytes(),
                    Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                        return Ok(reject(ErrorKind::BodyTooLarge, None));
                    }
                    Err(_) => return Ok(reject(ErrorKind::BodyUnreadable, None)),
                };
                let fp = fingerprint(settings.fingerprint, &parts.method, &parts.uri, &bytes);
                (B::from(bytes), fp)
            } else {
                let fp = fingerprint(settings.fingerprint, &parts.method, &parts.uri, &[]);
                (body, fp)
            };
            let claim = match store.begin(&key).await {
                Ok(Begin::New(claim)) => claim,
                Ok(Begin::InFlight) => {
                    return Ok(reject(
                        ErrorKind::Conflict,
                        Some(std::time::Duration::from_secs(1)),
                    ));
                }
                Ok(Begin::Done(bytes)) => {
                    return Ok(match record::decode(&bytes) {
                        Some(r) if r.fingerprint == fp => replay(r),
                        Some(_) => reject(ErrorKind::Mismatch, None),
                        None => reject(ErrorKind::StoreUnavailable, None),
                    });
                }
                Err(_) => return Ok(reject(ErrorKind::StoreUnavailable, None)),
            };
            let guard = KeyGuard {
                store,
                claim: Some(claim),
            };
            let result = inner.call(Request::from_parts(parts, body)).await;
            let resp = match result {
                Err(e) => {
                    guard.abandon().await;
                    return Err(e);
                }
                Ok(r) => r,
            };
            let refused = resp.extensions().get::<Error>().is_some();
            if refused || !(settings.store_if)(resp.status()) {
                guard.abandon().await;
                return Ok(resp);
            }
            let (mut parts, body) = resp.into_parts();
            let too_big = body
                .size_hint()
                .exact()
                .is_some_and(|n| n > settings.max_stored_body as u64);
            if too_big {
                let mut headers = parts.headers.clone();
                headers.remove(header::CONTENT_LENGTH);
                let r = Record {
                    fingerprint: fp,
                    flags: TRUNCATED,
                    status: parts.status,
                    headers,
                    body: Bytes::new(),
                };
                guard.complete(record::encode(&r)).await;
                return Ok(Response::from_parts(parts, body));
            }
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(_) => {
                    guard.abandon().await;
                    return Ok(reject(ErrorKind::UpstreamBody, None));
                }
            };
            let truncated = bytes.len() > settings.max_stored_body;
            let mut headers = parts.headers.clone();
            if truncated {
                headers.remove(header::CONTENT_LENGTH);
            }
            let r = Record {
                fingerprint: fp,
                flags: if truncated { TRUNCATED } else { 0 },
                status: parts.status,
                headers,
                body: if truncated {
                    Bytes::new()
                } else {
                    bytes.clone()
                },
            };
            guard.complete(record::encode(&r)).await;
            parts.extensions = http::Extensions::new();
            Ok(Response::from_parts(parts, ResBody::from(bytes)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sf_strings() {
        let k = |s: &'static str| parse_key(&HeaderValue::from_static(s));
        assert_eq!(k("\"8e03978e-40d5\""), Some(b"8e03978e-40d5".to_vec()));
        assert_eq!(k("\"a\\\"b\\\\c\""), Some(b"a\"b\\c".to_vec()));
        assert_eq!(k("8e03978e"), None, "a token, not a string");
        assert_eq!(k("\"\""), None, "empty");
        assert_eq!(k("\"a\\nb\""), None, "only \\\" and \\\\ escape");
        assert_eq!(k("\"a\"b\""), None);
        assert_eq!(k("\"abc"), None);
    }

    #[test]
    fn fingerprints_differ_by_method_path_and_body() {
        let get = http::Method::GET;
        let post = http::Method::POST;
        let a: http::Uri = "/pay?x=1".parse().expect("uri");
        let b: http::Uri = "/pay?x=2".parse().expect("uri");
        let f = |m, u, body| fingerprint(Fingerprint::MethodPathBody, m, u, body);
        assert_eq!(f(&post, &a, b"1"), f(&post, &a, b"1"));
        assert_ne!(f(&post, &a, b"1"), f(&get, &a, b"1"));
        assert_ne!(f(&post, &a, b"1"), f(&post, &b, b"1"));
        assert_ne!(f(&post, &a, b"1"), f(&post, &a, b"2"));
        assert_eq!(
            fingerprint(Fingerprint::MethodPath, &post, &a, b"1"),
            fingerprint(Fingerprint::MethodPath, &post, &a, b"2")
        );
    }
}
