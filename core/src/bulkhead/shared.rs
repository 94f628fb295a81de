//! [`SharedBulkhead`]: the shared (`&self`) bulkhead on portable-atomic (feature
//! `sync`).

use super::{Rejected, check_limit};
use crate::ConfigError;
use crate::atomic::{AtomicU64, Ordering};
use core::ops::Deref;

// One word: the limit in the high 32 bits, the slots in use in the low
// 32. Admission compares and increments both in one compare-and-swap,
// so a limit changed at runtime is never seen half-way. `in_use` never
// exceeds u32::MAX (it only grows while below a u32 limit), so a
// release (`fetch_sub(1)` on the word) never borrows from the limit.
const IN_USE: u64 = 0xFFFF_FFFF;

#[inline]
const fn pack(limit: u32, in_use: u32) -> u64 {
    ((limit as u64) << 32) | in_use as u64
}

#[inline]
const fn limit_of(word: u64) -> u32 {
    (word >> 32) as u32
}

#[inline]
const fn in_use_of(word: u64) -> u32 {
    (word & IN_USE) as u32
}

/// A shared bulkhead (`&self`, `Sync`): at most `limit` [`Permit`]s
/// live at once; a permit frees its slot when dropped. The limit can be
/// changed at runtime ([`SharedBulkhead::set_limit`]), e.g. by an
/// [`AdaptiveLimit`](super::AdaptiveLimit).
///
/// One `portable_atomic::AtomicU64`: lock-free where the CPU has a
/// 64-bit compare-and-swap (x86_64, aarch64, riscv64); on 32-bit CPUs
/// with only a 32-bit one (Cortex-M3/M4) portable-atomic's `fallback`
/// feature (on by default) serves it with a lock; on thumbv6m (the RP2040) the binary
/// enables `portable-atomic/critical-section`. Being `const
/// fn`-constructible, it can live in a `static`.
///
/// ```
/// use fusebox::bulkhead::SharedBulkhead;
///
/// static SENSOR_BUS: SharedBulkhead = match SharedBulkhead::new(2) {
///     Ok(b) => b,
///     Err(_) => panic!("limit 2 is valid"),
/// };
///
/// let a = SENSOR_BUS.try_acquire().expect("slot 1");
/// let b = SENSOR_BUS.try_acquire().expect("slot 2");
/// assert_eq!(SENSOR_BUS.try_acquire().unwrap_err().limit, 2);
/// drop(a); // the slot frees itself
/// assert_eq!(SENSOR_BUS.in_use(), 1);
/// let c = SENSOR_BUS.try_acquire().expect("slot freed by drop");
/// # drop((b, c));
/// ```
#[derive(Debug)]
pub struct SharedBulkhead {
    state: AtomicU64,
}

/// One slot of a [`SharedBulkhead`], freed when dropped.
#[derive(Debug)]
#[must_use = "dropping the permit frees its slot at once"]
pub struct Permit<'a> {
    bulkhead: &'a SharedBulkhead,
}

/// One slot of a [`SharedBulkhead`] reached through an owning handle `B`
/// (an `Arc<SharedBulkhead>`, a `&'static SharedBulkhead`), freed when dropped.
/// For permits that must outlive a borrow: a spawned task, a tower
/// future.
///
/// ```
/// use fusebox::bulkhead::SharedBulkhead;
/// use std::sync::Arc;
///
/// let pool = Arc::new(SharedBulkhead::new(1)?);
/// let permit = SharedBulkhead::try_acquire_owned(Arc::clone(&pool)).expect("free");
/// let worker = std::thread::spawn(move || drop(permit));
/// worker.join().unwrap();
/// assert_eq!(pool.in_use(), 0);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the permit frees its slot at once"]
pub struct OwnedPermit<B: Deref<Target = SharedBulkhead>> {
    bulkhead: B,
}

impl SharedBulkhead {
    crate::atomic::const_unless_loom! {
    /// A bulkhead of `limit` slots (at least 1), all free.
    pub const fn new(limit: u32) -> Result<Self, ConfigError> {
        match check_limit(limit) {
            Ok(()) => Ok(Self {
                state: AtomicU64::new(pack(limit, 0)),
            }),
            Err(e) => Err(e),
        }
    }
    }

    /// Take a slot if one is free (`in_use < limit` at the instant of
    /// the take); the permit frees it when dropped.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.take()?;
        Ok(Permit { bulkhead: self })
    }

    /// [`try_acquire`](Self::try_acquire) through an owning handle, for
    /// a permit that keeps the bulkhead alive (`Arc<SharedBulkhead>`).
    #[inline]
    pub fn try_acquire_owned<B: Deref<Target = SharedBulkhead>>(
        bulkhead: B,
    ) -> Result<OwnedPermit<B>, Rejected> {
        bulkhead.take()?;
        Ok(OwnedPermit { bulkhead })
    }

    #[inline]
    fn take(&self) -> Result<(), Rejected> {
        let mut word = self.state.load(Ordering::Relaxed);
        loop {
            let limit = limit_of(word);
            let in_use = in_use_of(word);
            if in_use >= limit {
                return Err(Rejected { limit });
            }
            // in_use < limit <= u32::MAX: the low half cannot carry.
            match self.state.compare_exchange_weak(
                word,
                pack(limit, in_use.saturating_add(1)),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => word = now,
            }
        }
    }

    #[inline]
    fn give_back(&self) {
        // Every permit stands for one increment of `in_use`, so it is
        // at least 1 here and the subtraction stays in the low half.
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// Change the limit (at least 1); returns the old one. Permits
    /// already out stay valid: after a decrease, calls are refused until
    /// enough of them are dropped.
    pub fn set_limit(&self, limit: u32) -> Result<u32, ConfigError> {
        check_limit(limit)?;
        let mut word = self.state.load(Ordering::Relaxed);
        loop {
            match self.state.compare_exchange_weak(
                word,
                pack(limit, in_use_of(word)),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(limit_of(word)),
                Err(now) => word = now,
            }
        }
    }

    /// The limit now.
    pub fn limit(&self) -> u32 {
        limit_of(self.state.load(Ordering::Relaxed))
    }

    /// Permits live now (a snapshot: other threads may change it at
    /// once).
    pub fn in_use(&self) -> u32 {
        in_use_of(self.state.load(Ordering::Relaxed))
    }

    /// Free slots now (zero while a lowered limit is below `in_use`).
    pub fn available(&self) -> u32 {
        let word = self.state.load(Ordering::Relaxed);
        limit_of(word).saturating_sub(in_use_of(word))
    }
}

impl Permit<'_> {
    /// The bulkhead this permit belongs to.
    pub const fn bulkhead(&self) -> &SharedBulkhead {
        self.bulkhead
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.give_back();
    }
}

impl<B: Deref<Target = SharedBulkhead>> OwnedPermit<B> {
    /// The bulkhead this permit belongs to.
    pub fn bulkhead(&self) -> &SharedBulkhead {
        &self.bulkhead
    }
}

impl<B: Deref<Target = SharedBulkhead>> Drop for OwnedPermit<B> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.give_back();
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for SharedBulkhead {
    fn format(&self, f: defmt::Formatter<'_>) {
        let word = self.state.load(Ordering::Relaxed);
        defmt::write!(
            f,
            "SharedBulkhead {{ limit: {=u32}, in_use: {=u32} }}",
            limit_of(word),
            in_use_of(word)
        );
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Permit<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Permit {{ {} }}", self.bulkhead);
    }
}

#[cfg(feature = "defmt")]
impl<B: Deref<Target = SharedBulkhead>> defmt::Format for OwnedPermit<B> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "OwnedPermit {{ {} }}", *self.bulkhead);
    }
}
