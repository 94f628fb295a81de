//! [`RetryBudget`]: a shared retry budget (a share of recent successes).

use std::sync::Arc;

use fusebox::rate;
use fusebox::time::{Clock, Duration, Instant};

use crate::{BuildError, CoarseClock, Name};

/// The seam: the core's [`rate::SharedRetryBudget`] (one
/// `parking_lot` lock held for one sans-IO call: the slices do not fit in
/// atomics).
#[derive(Debug)]
struct Cell<const S: usize>(rate::SharedRetryBudget<parking_lot::RawMutex, S>);

impl<const S: usize> Cell<S> {
    #[inline]
    fn deposit(&self, now: Instant) {
        self.0.deposit(now);
    }
    #[inline]
    fn try_withdraw(&self, now: Instant) -> bool {
        self.0.try_withdraw(now)
    }
    fn available(&self, now: Instant) -> u64 {
        self.0.available(now)
    }
    fn slice_duration(&self) -> Duration {
        self.0.slice_duration()
    }
}

#[derive(Debug)]
struct Inner<const S: usize, C> {
    name: Name,
    clock: C,
    cell: Cell<S>,
}

/// A retry budget (Finagle's: each success deposits `percent` % of a
/// retry, each retry withdraws one, both expire after a TTL, plus a floor
/// of retries per second) shared by every clone (`Clone + Send + Sync`),
/// over `S` time slices, on clock `C` (default [`CoarseClock`]).
///
/// `&budget` is the retry runner's [`fusebox::retry::Budget`]. The other
/// kind of retry budget, a fixed rate of retries, is a
/// [`RateLimiter`](crate::RateLimiter) passed as the budget.
///
/// ```
/// use fusebox::time::Duration;
/// use fusebox_std::RetryBudget;
///
/// let budget = RetryBudget::<10>::new("upstream", 20, 1, Duration::from_secs(10))?;
/// for _ in 0..5 {
///     budget.deposit(); // five successes pay for one retry
/// }
/// assert_eq!(budget.available(), 10 + 1); // the floor (1/s over 10 s) and one earned
/// assert!(budget.try_withdraw());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RetryBudget<const S: usize = 10, C: Clock = CoarseClock> {
    inner: Arc<Inner<S, C>>,
}

impl<const S: usize, C: Clock> Clone for RetryBudget<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<const S: usize, C: Clock> std::fmt::Debug for RetryBudget<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("name", &self.inner.name)
            .field("budget", &self.inner.cell.0)
            .finish()
    }
}

impl<const S: usize> RetryBudget<S> {
    /// A budget named `name`: `percent` % of successes (0..=1000), plus
    /// `floor` retries per second, each living `ttl`; on [`CoarseClock`].
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// field out of range (the core's [`rate::RetryBudget::new`] says which).
    pub fn new(name: &str, percent: u16, floor: u32, ttl: Duration) -> Result<Self, BuildError> {
        Self::with_clock(name, percent, floor, ttl, CoarseClock::new())
    }
}

impl<const S: usize, C: Clock> RetryBudget<S, C> {
    /// As [`new`](RetryBudget::new), on `clock`.
    ///
    /// # Errors
    /// As [`new`](RetryBudget::new).
    pub fn with_clock(
        name: &str,
        percent: u16,
        floor: u32,
        ttl: Duration,
        clock: C,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let core = rate::RetryBudget::new(percent, floor, ttl)?;
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                clock,
                cell: Cell(rate::SharedRetryBudget::from_budget(core)),
            }),
        })
    }

    /// The budget's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// Record a success (deposits `percent` % of a retry).
    #[inline]
    pub fn deposit(&self) {
        self.inner.cell.deposit(self.inner.clock.now());
    }

    /// Take one retry from the budget, if it has one.
    #[inline]
    pub fn try_withdraw(&self) -> bool {
        self.inner.cell.try_withdraw(self.inner.clock.now())
    }

    /// Whole retries available now.
    pub fn available(&self) -> u64 {
        self.inner.cell.available(self.inner.clock.now())
    }

    /// The length of one of the `S` slices (ttl / S).
    pub fn slice_duration(&self) -> Duration {
        self.inner.cell.slice_duration()
    }
}

/// The retry runner's budget: reads the budget's own clock (the runner's
/// `now` is ignored).
#[cfg(feature = "tokio")]
impl<const S: usize, C: Clock> fusebox::retry::Budget for &RetryBudget<S, C> {
    #[inline]
    fn deposit(&mut self, _now: Instant) {
        RetryBudget::deposit(self);
    }
    #[inline]
    fn try_withdraw(&mut self, _now: Instant) -> bool {
        RetryBudget::try_withdraw(self)
    }
}
