/// [`RetryService`](super::RetryService)'s future: the attempts and the
/// sleeps between them; dropping it cancels the attempt in progress.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;
