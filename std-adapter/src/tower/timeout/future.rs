/// [`AdaptiveTimeoutService`](super::AdaptiveTimeoutService)'s future: the
/// call and its timer; dropping it cancels the call.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;
