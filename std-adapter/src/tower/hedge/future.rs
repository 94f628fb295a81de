/// [`HedgeService`](super::HedgeService)'s future: the copies in flight
/// and the hedge timer; dropping it cancels every copy.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;
