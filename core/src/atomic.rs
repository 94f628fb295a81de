//! The atomics every shared (`&self`) variant uses, named in one place.
//!
//! Shared variants import their atomic types from here, never from
//! `portable-atomic` directly, so that a model checker's types (loom, under
//! `--cfg loom`) can replace them for the whole crate in one edit. Today
//! they are `portable-atomic`'s: lock-free where the CPU has
//! compare-and-swap, and on thumbv6m (the RP2040) protected by the
//! critical-section implementation the *binary* selects.
#![allow(unused_imports)]

pub(crate) use portable_atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU128, AtomicUsize, Ordering,
};
