/// [`RateLimitService`](super::RateLimitService)'s future: the inner
/// service's, or a ready refusal.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;
