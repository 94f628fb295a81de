//! # fusebox-std
//!
//! The std shell around fusebox's sans-IO core, for servers: fast clocks
//! on one process-wide epoch, `Clone + Send + Sync` handles of every
//! primitive (cloning shares the state), and async calls on tokio.
//!
//! | item | what |
//! |---|---|
//! | [`clock`] | [`CoarseClock`] (admission), [`FastClock`] (durations), [`RecentClock`], [`StdClock`], [`TokioClock`] (paused tests), [`ManualClock`] |
//! | [`Breaker`] | a circuit breaker: `call(future)`, an RAII [`Guard`], transitions to a hook |
//! | [`RateLimiter`] | a token bucket (lock-free): `try_acquire`, `until_ready().await` in a FIFO line of waiters |
//! | [`KeyedLimiter`] | a token bucket per key, OS-seeded hash |
//! | [`RetryBudget`] | a retry budget (share of successes plus a floor) |
//! | [`Bulkhead`] | a concurrency limit (lock-free) with a bounded FIFO wait queue |
//! | [`AdaptiveLimiter`] | a concurrency limit found by AIMD |
//! | [`DedupTable`] | request dedup / idempotency keys, OS-seeded hash |
//! | [`retry()`], [`Retry`] | the core's retry runner over tokio's timer, with breaker, budget, timeout, deadline |
//! | [`TokioDelay`] | tokio's timer as `embedded_hal_async`'s `DelayNs` |
//! | [`HedgePolicy`], [`AdaptiveTimeout`] | hedged requests under a budget (`hedge(op).await`) and a timeout from recent latency, counts as atomics |
//! | [`Singleflight`] | concurrent callers with one key share one execution, cancel-safe |
//! | `tower` | (feature `tower`) tower layers: breaker, rate limits, bulkhead, retry, hedging, adaptive timeout, idempotency, coalescing; the recommended stack |
//! | `idempotency` | (feature `tower`) the async idempotency store trait and its in-memory store |
//!
//! Every handle has a [`Name`] (1 to 64 bytes of `[a-zA-Z0-9_.-]`, its
//! label in logs and metrics), reads its own clock (a type parameter whose
//! default suits its use), and exposes operations, never lock guards.
//! Misuse is an error value, never a panic: a bad name or a zero capacity
//! is a [`BuildError`], an async call outside a tokio runtime an error
//! that says so ([`NoRuntime`]).
//!
//! ## Features
//! - `tokio` (default): the async parts ([`Breaker::call`] needs no
//!   runtime and is always there; `until_ready`, `acquire`, [`retry()`],
//!   [`TokioClock`] and [`TokioDelay`] need this feature). Without it the
//!   crate gives the clocks and the sync handles.
//! - `tower`: the tower layers (`fusebox_std::tower`) and idempotency
//!   stores (`fusebox_std::idempotency`).
//! - `axum`: `IntoResponse` for the layers' error, and the client address
//!   from axum's `ConnectInfo`.
//! - `redis`: fleet-wide rate limits and idempotency keys in Redis
//!   (`fusebox_std::redis`).
//! - `serde`: configuration from TOML, YAML or JSON files
//!   (`fusebox_std::config`).
//! - `tracing`, `metrics`: an event on every breaker transition and every
//!   refusal of every handle, spans around `Breaker::call`, retry runs and
//!   each attempt, and counters, gauges and a call-duration histogram
//!   through the `metrics` facade; [`telemetry`] lists them and what they
//!   cost.
//!
//! ```
//! use fusebox::breaker::{Config, ConsecutiveFailures};
//! use fusebox::rate::Quota;
//! use fusebox_std::{Breaker, RateLimiter};
//!
//! let breaker = Breaker::new("payments", Config::new(), ConsecutiveFailures::new(5)?)?;
//! let limiter = RateLimiter::new("payments", Quota::per_second(100).allow_burst(20).build()?)?;
//! if limiter.try_acquire().is_ok() {
//!     let guard = breaker.try_acquire()?;
//!     // ... make the call ...
//!     guard.success();
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
#[cfg(feature = "serde")]
pub mod config;
#[cfg(feature = "tokio")]
mod delay;
mod handle;
#[cfg(any(feature = "tower", feature = "redis"))]
pub mod idempotency;
mod name;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "tokio")]
mod retry;
#[cfg(feature = "tokio")]
pub mod singleflight;
pub mod telemetry;
#[cfg(feature = "tower")]
pub mod tower;

#[cfg(feature = "tokio")]
pub use clock::TokioClock;
pub use clock::{
    CoarseClock, EPOCH_OFFSET, FastClock, ManualClock, RecentClock, StdClock, TICK_HZ, epoch,
    from_std, to_std,
};
#[cfg(feature = "tokio")]
pub use delay::TokioDelay;
pub use handle::adaptive::{AdaptiveLimiter, AdaptivePermit};
pub use handle::breaker::{Breaker, BreakerBuilder, CallError, CallFuture, Guard};
pub use handle::budget::{ConcurrentRetryBudget, RetryBudget};
pub use handle::bulkhead::{AcquireError, Bulkhead, Permit};
pub use handle::dedup::{Begin, DedupTable, Pending};
pub use handle::keyed::KeyedLimiter;
pub use handle::latency::{AdaptiveTimeout, HedgePolicy, HedgeStats, TimeoutStats};
pub use handle::rate::{RateLimiter, WaitError};
pub use handle::{Hook, Hooks};
#[cfg(feature = "tokio")]
pub use name::NoRuntime;
pub use name::{BuildError, MAX_NAME_LEN, Name, NameError, os_seed, os_seed_u64};
#[cfg(feature = "tokio")]
pub use retry::{Retry, RetryAfterHint, RetryFailed, retry};
#[cfg(feature = "tokio")]
pub use singleflight::Singleflight;
