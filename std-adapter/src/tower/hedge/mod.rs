//! [`HedgeLayer`]: hedged requests ("The Tail at Scale") under a
//! [`HedgePolicy`](crate::HedgePolicy)'s budget.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::HedgeLayer;
pub use service::HedgeService;
