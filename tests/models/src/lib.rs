//! fusebox's reference models: each primitive's module docs restated with
//! no cleverness (`Vec`s, `HashMap`s, `u128` time, whole event logs
//! recomputed from scratch), so that a test can hold the primitive to them.
//!
//! The property tests in `tests/tests/` (crate `fusebox-tests`) and the fuzz
//! targets in `tests/fuzz` (crate `fusebox-fuzz`, run by `fuzz/`) drive the
//! primitive and its model with the same operations and compare them after
//! every step. A model keeps the crate's rule for time that goes backwards
//! (judged at the latest instant seen) unless its docs say otherwise.
//!
//! | module | primitive | model |
//! |---|---|---|
//! | [`breaker`] | `CircuitBreaker` (every policy, every break-duration schedule) | [`breaker::Model`], [`breaker::IntervalModel`], [`breaker::break_duration`] |
//! | [`rate`] | `TokenBucket`, `RetryBudget`, `ConcurrentRetryBudget` | [`rate::Bucket`], [`rate::Budget`], [`rate::ConcurrentBudget`] |
//! | [`bulkhead`] | `Bulkhead` / `SharedBulkhead`, `AdaptiveLimit` | [`bulkhead::Counter`], [`bulkhead::Aimd`] |
//! | [`dedup`] | `DedupTable` | [`dedup::Model`] |
//! | [`latency`] | `LatencyHistogram`, `AdaptiveTimeout` | [`latency::Window`], [`latency::timeout_bounds`] |
//! | [`backoff`] | `Backoff` | [`backoff::Schedule`] |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod breaker;
pub mod bulkhead;
pub mod dedup;
pub mod latency;
pub mod rate;
