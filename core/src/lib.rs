//! # fusebox
//!
//! Allocation-free, sans-IO resilience primitives that run the same way in
//! RP2040 firmware and in multi-core servers.
//!
//! Every state machine here takes the current time as an argument
//! (`now: Instant`) and returns its decision as a value: nothing reads a
//! clock, sleeps, logs or allocates. The same scenario therefore runs on a
//! host, under Miri and on an emulated Cortex-M0, and a test is a timeline of
//! plain numbers.
//!
//! | module | what it decides |
//! |---|---|
//! | [`backoff`] | how long to wait before the next try (schedules with jitter, hints and limits) |
//! | [`breaker`] | whether to call a dependency at all (circuit breaker) |
//! | [`bulkhead`] | how many calls may be in flight at once, and a limit (AIMD) that finds its own level |
//! | `config` | (feature `serde`) configuration from files: every configuration in human units (`"30s"`, `"100/s"`, `"50%"`), checked by the builders |
//! | [`dedup`] | whether to run the work a key names now, or answer with its stored result (dedup / idempotency table) |
//! | `i2c` | (feature `embedded-hal-async`) a resilient `embedded_hal_async` I2C bus: retries with backoff, a breaker per device |
//! | [`hash`] | the seeded hash of the fixed tables whose keys come from clients |
//! | [`latency`] | when a call is late: latency quantiles in fixed memory, adaptive timeouts, hedged requests under a budget |
//! | [`rate`] | how many requests to admit per unit of time (token buckets, per key), and whether a retry fits the retry budget |
//! | `retry` | (feature `async`) the async retry runner over `DelayNs`, with breaker, budget, timeout and deadline |
//! | [`rng`] | the small seedable PRNG behind jitter |
//! | [`time`] | the time types ([`time::Instant`], [`time::Duration`]) and the [`time::Clock`] trait |
//!
//! ## Conventions shared by every primitive
//! - Time is embassy-time's `Instant` / `Duration`, in ticks. fusebox never
//!   selects a tick rate or a time driver (the binary does) and is exact at
//!   any tick rate.
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant. Every
//!   primitive that takes time keeps (or its state already records) the
//!   latest instant it has seen, and is tested against a twin driven with
//!   the clamped times (`tests/tests/time_backwards.rs`). Arithmetic near
//!   `u64::MAX` saturates. No input panics.
//! - Configurations are validated when built and fail with a
//!   [`ConfigError`] that names the field and the allowed range.
//! - State changes are returned (`Option<Transition>`), never hidden in
//!   callbacks, so the caller logs them with defmt or tracing, or counts them.
//!
//! ## Features
//! - `defmt`: derive `defmt::Format` on every public type.
//! - `sync`: shared `&self` variants on `portable-atomic`. On targets without
//!   compare-and-swap (thumbv6m, the RP2040) the binary enables
//!   `portable-atomic/critical-section` and provides a critical-section
//!   implementation; this crate never picks one. The sharded shared
//!   tables (`dedup::SharedDedupTable`, `rate::SharedKeyedLimiter`) and
//!   `rate::SharedRetryBudget` lock through a `lock_api::RawMutex` whose
//!   implementation the binary picks as well (`parking_lot::RawMutex` on a
//!   server, `spin::mutex::SpinMutex<()>` over portable-atomic on firmware).
//! - `async`: the async retry runner over `embedded_hal_async::delay::DelayNs`.
//! - `serde`: the `config` module, file shapes of every configuration
//!   (serde without `std` or `alloc`: allocation-free, for firmware too).
//! - `embedded-hal-async` (implies `async`): the resilient I2C wrapper
//!   `i2c::ResilientI2c`, itself an `embedded_hal_async::i2c::I2c`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(feature = "sync")]
mod atomic;
pub mod backoff;
pub mod breaker;
pub mod bulkhead;
#[cfg(feature = "serde")]
pub mod config;
pub mod dedup;
mod error;
pub mod hash;
#[cfg(feature = "embedded-hal-async")]
pub mod i2c;
pub mod latency;
pub mod rate;
#[cfg(feature = "async")]
pub mod retry;
pub mod rng;
#[cfg(feature = "sync")]
mod shard;
pub mod time;
mod wide;

pub use error::ConfigError;
