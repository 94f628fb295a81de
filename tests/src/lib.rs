//! Host integration tests, property tests and comparative benchmarks for
//! fusebox. The tests live in `tests/tests/`, the criterion benches in
//! `tests/benches/`; this library holds what they share.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
