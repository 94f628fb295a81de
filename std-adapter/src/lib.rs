//! # fusebox-std
//!
//! The std shell around fusebox's sans-IO core. This release carries the
//! clocks: [`StdClock`], a monotonic clock in fusebox's time types, and
//! [`ManualClock`], a clock that tests move by hand; and [`TokioDelay`],
//! tokio's timer as the `DelayNs` that fusebox's async retry runner sleeps
//! with, and [`Shared`], a breaker or retry budget that every request of a
//! server uses at once. With the feature `serde`, `config` loads every
//! configuration from TOML, YAML or JSON files.
//!
//! ```
//! use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome};
//! use fusebox::time::Clock;
//! use fusebox_std::StdClock;
//!
//! let clock = StdClock::new();
//! let mut breaker = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(5)?)?;
//! let permit = breaker.try_acquire(clock.now()).expect("a new breaker is closed");
//! breaker.record(permit, Outcome::Success, clock.now());
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
#[cfg(feature = "serde")]
pub mod config;
mod delay;
mod shared;

pub use clock::{ManualClock, StdClock, TICK_HZ, to_std};
pub use delay::TokioDelay;
pub use shared::Shared;
