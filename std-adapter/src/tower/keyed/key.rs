use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};

use http::{HeaderName, Request, header};

/// Which client a request comes from.
pub trait KeyExtractor<Req>: Clone + Send + Sync + 'static {
    /// The key type (hashed into the limiter's table).
    type Key: Hash + Eq + Send + 'static;
    /// The request's key, or `None` (those requests share one bucket).
    fn extract(&self, req: &Req) -> Option<Self::Key>;
}

/// The peer's IP address (port ignored): from a `SocketAddr` in the
/// request's extensions, or (feature `axum`) axum's
/// `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`). Behind a proxy,
/// use [`Header`] on the header the proxy sets instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientAddr;

impl<B> KeyExtractor<Request<B>> for ClientAddr {
    type Key = IpAddr;
    fn extract(&self, req: &Request<B>) -> Option<IpAddr> {
        if let Some(a) = req.extensions().get::<SocketAddr>() {
            return Some(a.ip());
        }
        #[cfg(feature = "axum")]
        if let Some(a) = req
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
        {
            return Some(a.0.ip());
        }
        None
    }
}

/// A header's value, byte for byte (e.g. `X-Forwarded-For` set by your own
/// proxy, or a tenant id).
#[derive(Debug, Clone)]
pub struct Header(pub HeaderName);

impl<B> KeyExtractor<Request<B>> for Header {
    type Key = Vec<u8>;
    fn extract(&self, req: &Request<B>) -> Option<Vec<u8>> {
        req.headers().get(&self.0).map(|v| v.as_bytes().to_vec())
    }
}

/// An API key: the `X-Api-Key` header (or the one given), else the token
/// of `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct ApiKey {
    header: HeaderName,
}

impl Default for ApiKey {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiKey {
    /// Read `X-Api-Key`, then `Authorization: Bearer`.
    pub fn new() -> Self {
        Self::header(HeaderName::from_static("x-api-key"))
    }

    /// Read `name`, then `Authorization: Bearer`.
    pub fn header(name: HeaderName) -> Self {
        Self { header: name }
    }
}

impl<B> KeyExtractor<Request<B>> for ApiKey {
    type Key = Vec<u8>;
    fn extract(&self, req: &Request<B>) -> Option<Vec<u8>> {
        if let Some(v) = req.headers().get(&self.header) {
            return Some(v.as_bytes().to_vec());
        }
        let auth = req.headers().get(header::AUTHORIZATION)?.as_bytes();
        let token = auth
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
            .and_then(|_| auth.get(7..))?;
        Some(token.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractors() {
        let mut req = Request::builder()
            .header("x-api-key", "k1")
            .header("x-tenant", "t9")
            .body(())
            .expect("valid");
        assert_eq!(ApiKey::new().extract(&req), Some(b"k1".to_vec()));
        assert_eq!(
            Header(HeaderName::from_static("x-tenant")).extract(&req),
            Some(b"t9".to_vec())
        );
        assert_eq!(ClientAddr.extract(&req), None);
        req.extensions_mut()
            .insert(SocketAddr::from(([10, 0, 0, 7], 4242)));
        assert_eq!(ClientAddr.extract(&req), Some(IpAddr::from([10, 0, 0, 7])));
        let req = Request::builder()
            .header("authorization", "Bearer tok")
            .body(())
            .expect("valid");
        assert_eq!(ApiKey::new().extract(&req), Some(b"tok".to_vec()));
        let req = Request::builder()
            .header("authorization", "Basic xyz")
            .body(())
            .expect("valid");
        assert_eq!(ApiKey::new().extract(&req), None);
    }
}
