//! The response future every layer returns.

use std::future::Future;
use std::pin::Pin;

/// A layer's response future: boxed (one allocation per request), `Send`,
/// `'static`. Dropping it cancels the request and releases what it held
/// (permit, probe, queue place, idempotency key, coalescing leadership).
pub type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

pub(crate) fn ready<T: Send + 'static, E: Send + 'static>(r: Result<T, E>) -> ResponseFuture<T, E> {
    Box::pin(std::future::ready(r))
}
