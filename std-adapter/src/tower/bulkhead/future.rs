/// [`BulkheadService`](super::BulkheadService)'s future: waits for a slot
/// (if queued), then runs the inner call holding it.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;
