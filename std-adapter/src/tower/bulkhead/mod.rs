//! [`BulkheadLayer`]: a concurrency limit in front of a service.
//!
//! Fixed ([`Bulkhead`](crate::Bulkhead)): `call` takes a free slot at once;
//! with none free it joins the bulkhead's bounded FIFO queue and waits at
//! most its maximum wait; with the queue full, or past the wait, the
//! request is shed (`503` + `Retry-After: 1` with [`Http`](super::Http),
//! the typed [`Error`](super::Error) with [`Typed`](super::Typed)).
//! Adaptive ([`AdaptiveLimiter`](crate::AdaptiveLimiter), AIMD): no
//! queue, shed at once, and each result (classified) moves the limit.
//!
//! The slot is held until the inner service's future completes (for HTTP,
//! until the response head arrives, not the end of its body) and is freed
//! when the response future is dropped: a cancelled request, or one that
//! left the queue, gives its slot or queue place back at once.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::BulkheadLayer;
pub use service::BulkheadService;
