//! Shared pieces of the RP2040 examples. See `README.md`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod probe;
pub mod size;
