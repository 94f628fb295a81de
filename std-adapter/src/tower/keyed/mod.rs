//! [`KeyedRateLimitLayer`]: one token bucket per client, chosen by a
//! [`KeyExtractor`]: [`ClientAddr`] (the peer's IP address), [`Header`]
//! (a header's value), [`ApiKey`] (`X-Api-Key`, or an `Authorization:
//! Bearer` token).
//!
//! A request whose key cannot be extracted shares one bucket with every
//! other such request (key `None`): omitting the header never escapes the
//! limit. Memory is the [`KeyedLimiter`](crate::KeyedLimiter)'s `N`
//! entries; when full, idle keys are evicted first (see its policy).

mod future;
mod key;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use key::{ApiKey, ClientAddr, Header, KeyExtractor};
pub use layer::KeyedRateLimitLayer;
pub use service::KeyedRateLimitService;
