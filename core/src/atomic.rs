//! The atomics every shared (`&self`) variant uses, named in one place.
//!
//! Shared variants import their atomic types from here, never from
//! `portable-atomic` directly, so that a model checker's types replace them
//! for the whole crate in one place. Normally they are `portable-atomic`'s:
//! lock-free where the CPU has compare-and-swap, and on thumbv6m (the
//! RP2040) protected by the critical-section implementation the *binary*
//! selects.
//!
//! Under `--cfg loom` (the model-checking build, `core/tests/loom.rs`) they
//! are [loom](https://docs.rs/loom)'s, which explore every interleaving of a
//! few threads. loom has no `AtomicU128`: [`AtomicU128`] is then a stand-in
//! over a loom `Mutex<u128>`, which loom explores like any other shared
//! access (each operation is one atomic step, as on hardware). loom's
//! constructors are not `const`: the shared types' `new` are `const fn`
//! only when not under loom (see `const_unless_loom!`).
#![allow(unused_imports)]

#[cfg(not(loom))]
pub(crate) use portable_atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU128, AtomicUsize, Ordering,
};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom_u128::AtomicU128;

#[cfg(loom)]
mod loom_u128 {
    use super::Ordering;

    // `pub` in a crate-private module: unreachable from outside, and as
    // public as portable-atomic's type it stands in for.
    /// A 128-bit atomic for loom models: every operation takes loom's
    /// mutex once, so it is one indivisible step in the model, like a
    /// `cmpxchg16b` (or a critical section on thumbv6m). Orderings are
    /// accepted and ignored (a mutex orders more strongly than any).
    #[derive(Debug)]
    pub struct AtomicU128(loom::sync::Mutex<u128>);

    #[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
    impl AtomicU128 {
        pub fn new(v: u128) -> Self {
            Self(loom::sync::Mutex::new(v))
        }
        fn with<R>(&self, f: impl FnOnce(&mut u128) -> R) -> R {
            // A poisoned lock means a model thread panicked: the model has
            // failed already, so the value is still the one to explore.
            let mut g = match self.0.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            f(&mut g)
        }
        pub fn load(&self, _: Ordering) -> u128 {
            self.with(|v| *v)
        }
        pub fn store(&self, new: u128, _: Ordering) {
            self.with(|v| *v = new);
        }
        pub fn swap(&self, new: u128, _: Ordering) -> u128 {
            self.with(|v| core::mem::replace(v, new))
        }
        pub fn compare_exchange(
            &self,
            current: u128,
            new: u128,
            _: Ordering,
            _: Ordering,
        ) -> Result<u128, u128> {
            self.with(|v| {
                if *v == current {
                    *v = new;
                    Ok(current)
                } else {
                    Err(*v)
                }
            })
        }
        pub fn fetch_max(&self, new: u128, _: Ordering) -> u128 {
            self.with(|v| core::mem::replace(v, (*v).max(new)))
        }
        pub fn compare_exchange_weak(
            &self,
            current: u128,
            new: u128,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u128, u128> {
            self.compare_exchange(current, new, success, failure)
        }
    }
}

/// Emits `fn` item(s) as `const fn` normally and as plain `fn` under
/// `--cfg loom`, whose atomics have no `const` constructors.
macro_rules! const_unless_loom {
    ($(#[$m:meta])* $vis:vis const fn $name:ident $($rest:tt)*) => {
        $(#[$m])* #[cfg(not(loom))] $vis const fn $name $($rest)*
        $(#[$m])* #[cfg(loom)] $vis fn $name $($rest)*
    };
}
pub(crate) use const_unless_loom;
