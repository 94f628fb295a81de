//! [`BreakerLayer`]: a [`Breaker`](crate::Breaker) around a service.
//!
//! `call` asks the breaker for a permit; refused, it answers at once
//! (`503` + `Retry-After` with [`Http`](super::Http), the typed
//! [`Error`](super::Error) with [`Typed`](super::Typed)) and never calls the
//! inner service. Admitted, the inner call's result is classified
//! ([`Classify`](super::Classify)) and recorded. A dropped response future
//! records `Ignored`, which frees a half-open probe at once.

mod future;
mod layer;
mod service;

pub use future::OwnedGuard;
pub use layer::BreakerLayer;
pub use service::BreakerService;
