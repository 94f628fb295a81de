//! [`HedgeLayer`]: hedged requests ("The Tail at Scale") under a
//! [`HedgePolicy`](crate::HedgePolicy)'s budget.
//!
//! A request that is safe to repeat (the [`RetryLayer`](super::RetryLayer)'s
//! rule: an idempotent method, RFC 9110 §9.2.2, or an `Idempotency-Key`)
//! and whose body has a known length of at most
//! [`max_body`](HedgeLayer::max_body) (default 64 KiB) is buffered and
//! sent once; when the policy's hedge time passes (by default p95 of
//! recent latency) and the hedge budget holds a hedge, a copy is sent
//! through a clone of the inner service, up to `max_hedges` copies. The
//! first answer (response or error) is returned; the other copies are
//! dropped, which cancels them: a breaker below records the loser as
//! `Ignored` (its end says nothing of the upstream), a bulkhead below gets
//! its slot back. A request that is not safe to repeat, or whose body is
//! too large or streamed, is sent once, never hedged, and still recorded
//! (its latency is a sample; it pays into the budget).
//!
//! Every request's latency to its first answer is recorded in the policy
//! (the hedges are not requests: they spend the budget, never fill it).
//! The counts (hedges sent, won, refused by the budget) are
//! [`HedgePolicy::stats`](crate::HedgePolicy::stats).
//!
//! Put it above the breaker, bulkhead and upstream rate limit, so every
//! hedge is counted by them, and next to retry (see [the recommended
//! stack](super#the-recommended-stack)).

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::HedgeLayer;
pub use service::HedgeService;
