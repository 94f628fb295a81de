/// [`CoalesceService`](super::CoalesceService)'s future.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;
