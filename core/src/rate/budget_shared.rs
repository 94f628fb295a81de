//! [`SharedRetryBudget`]: the retry budget behind `&self` (feature `sync`).

use lock_api::{Mutex, RawMutex};

use super::budget::RetryBudget;
use crate::time::{Duration, Instant};

/// The [`RetryBudget`] behind `&self`, for many threads or cores at once
/// (feature `sync`): the `&mut` budget behind one lock of the
/// [`lock_api::RawMutex`] type the binary picks (`parking_lot::RawMutex`
/// on a server, `spin::mutex::SpinMutex<()>` over portable-atomic on
/// firmware).
///
/// **Same decisions, never over-spent.** Every call runs the `&mut`
/// budget's own code under the lock, so the decisions are those of
/// [`RetryBudget`] fed the calls in the order they take the lock (its law,
/// its transitions, its conventions; time going backwards counts as no
/// time elapsed, judged at the newest slice the budget records), and a
/// retry is allowed only if the balance covers it at that moment: the
/// budget is never over-spent, whatever the threads do.
///
/// **Why a lock, not atomics.** A withdrawal reads the balance of all `S`
/// slices and writes one; a slice (epoch and net amount) is 16 bytes, so
/// the state is `16 x S` bytes, and no compare-and-swap covers the read of
/// the balance and the write together. Per-slice atomics would let two
/// threads both spend the last retry, or spend a deposit that a third
/// thread is expiring, which is exactly what a budget exists to prevent
/// (Finagle's own `TokenRetryBudget` takes a lock for the same reason).
/// The lock is held for one pass over `S` slices (10 by default): tens of
/// nanoseconds. Not padded to a cache line.
///
/// **The other budget kind.** Envoy's concurrency budget (retries in flight
/// at most a share of requests in flight) keeps two counters, which pack
/// into one 64-bit word: its shared variant is a compare-and-swap loop on
/// that word, as [`SharedBulkhead`](crate::bulkhead::SharedBulkhead)'s is, with no
/// lock, and both shared budgets serve the retry runner the same way (an
/// implementation of its budget trait for `&SharedX`, forwarding each
/// method to `&self`).
///
/// ```
/// use fusebox::rate::{RetryBudget, SharedRetryBudget};
/// use fusebox::time::{Duration, Instant};
///
/// // 20 % of successes, no floor, deposits live for 10 s.
/// let budget = SharedRetryBudget::<parking_lot::RawMutex>::new(
///     RetryBudget::builder()
///         .percent_can_retry(20)
///         .min_retries_per_sec(0)
///         .ttl(Duration::from_secs(10))
///         .build()?,
/// );
/// let now = Instant::from_secs(1);
/// std::thread::scope(|s| {
///     for _ in 0..5 {
///         s.spawn(|| budget.deposit(now)); // five successes, on five threads...
///     }
/// });
/// assert!(budget.try_withdraw(now)); // ...pay for exactly one retry
/// assert!(!budget.try_withdraw(now));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Memory
///
/// The `&mut` budget (`32 + 16 x S` bytes) plus the raw mutex, rounded up
/// to 8: 200 bytes for `S = 10` with a one-byte lock (parking_lot's,
/// spin's), on x86_64 and thumbv6m.
pub struct SharedRetryBudget<R: RawMutex, const S: usize = 10> {
    budget: Mutex<R, RetryBudget<S>>,
}

#[cfg(feature = "defmt")]
impl<R: RawMutex, const S: usize> defmt::Format for SharedRetryBudget<R, S> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "SharedRetryBudget {{ slices: {=usize} }}", S)
    }
}

impl<R: RawMutex, const S: usize> core::fmt::Debug for SharedRetryBudget<R, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedRetryBudget")
            .field("slices", &S)
            .finish_non_exhaustive()
    }
}

impl<R: RawMutex, const S: usize> SharedRetryBudget<R, S> {
    /// Share `budget` (its deposits and withdrawals included), built by
    /// [`RetryBudget::builder`]. `const`, so it can be a `static`.
    pub const fn new(budget: RetryBudget<S>) -> Self {
        Self {
            budget: Mutex::const_new(R::INIT, budget),
        }
    }

    /// Record one success at `now`: as [`RetryBudget::deposit`].
    #[inline]
    pub fn deposit(&self, now: Instant) {
        self.budget.lock().deposit(now);
    }

    /// Take one retry at `now` if the budget holds one: as
    /// [`RetryBudget::try_withdraw`].
    #[inline]
    #[must_use = "retry only when the budget allowed it"]
    pub fn try_withdraw(&self, now: Instant) -> bool {
        self.budget.lock().try_withdraw(now)
    }

    /// Whole retries the budget would allow at `now`.
    pub fn available(&self, now: Instant) -> u64 {
        self.budget.lock().available(now)
    }

    /// The length of one slice, in ticks.
    pub fn slice_duration(&self) -> Duration {
        self.budget.lock().slice_duration()
    }

    /// A copy of the `&mut` budget as it is now.
    pub fn snapshot(&self) -> RetryBudget<S> {
        self.budget.lock().clone()
    }
}
