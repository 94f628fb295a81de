//! [`RetryBudget`]: a shared retry budget (a share of recent successes).

use std::sync::{Arc, Mutex};

use fusebox::rate;
use fusebox::time::{Clock, Duration, Instant};

use super::lock;
use crate::telemetry::{Kind, LimitTelemetry};
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
    telemetry: LimitTelemetry,
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
/// use fusebox::rate;
/// use fusebox::time::Duration;
/// use fusebox_std::RetryBudget;
///
/// let core = rate::RetryBudget::builder()
///     .percent_can_retry(20)
///     .min_retries_per_sec(1)
///     .ttl(Duration::from_secs(10))
///     .build()?;
/// let budget = RetryBudget::<10>::new("upstream", core)?;
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
    /// `budget` (built by [`rate::RetryBudget::builder`], which checks its
    /// values), shared and named `name`; on [`CoarseClock`].
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name.
    pub fn new(name: &str, budget: rate::RetryBudget<S>) -> Result<Self, BuildError> {
        Self::with_clock(name, budget, CoarseClock::new())
    }
}

impl<const S: usize, C: Clock> RetryBudget<S, C> {
    /// As [`new`](RetryBudget::new), on `clock`.
    ///
    /// # Errors
    /// As [`new`](RetryBudget::new).
    pub fn with_clock(
        name: &str,
        budget: rate::RetryBudget<S>,
        clock: C,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        Ok(Self {
            inner: Arc::new(Inner {
                telemetry: LimitTelemetry::new(&name, Kind::Budget),
                name,
                clock,
                cell: Cell(rate::SharedRetryBudget::new(budget)),
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
        let inner = &*self.inner;
        let now = inner.clock.now();
        inner.cell.deposit(now);
        inner.telemetry.other();
        inner
            .telemetry
            .level(|| saturate(inner.cell.available(now)));
    }

    /// Take one retry from the budget, if it has one.
    #[inline]
    pub fn try_withdraw(&self) -> bool {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let ok = inner.cell.try_withdraw(now);
        if ok {
            inner
                .telemetry
                .admitted(|| saturate(inner.cell.available(now)));
        } else {
            inner.telemetry.rejected(&inner.name, 0, None);
        }
        ok
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

/// A count for a gauge.
#[cfg(feature = "metrics")]
fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
#[cfg(not(feature = "metrics"))]
fn saturate(_: u64) -> u32 {
    0
}

/// The retry runner's budget: reads the budget's own clock (the runner's
/// `now` is ignored).
#[cfg(feature = "tokio")]
impl<const S: usize, C: Clock> fusebox::retry::Budget for &RetryBudget<S, C> {
    /// Nothing: this budget counts successes, not requests in flight.
    #[inline]
    fn request_started(&mut self, _now: Instant) {}
    #[inline]
    fn deposit(&mut self, _now: Instant) {
        RetryBudget::deposit(self);
    }
    #[inline]
    fn try_withdraw(&mut self, _now: Instant) -> bool {
        RetryBudget::try_withdraw(self)
    }
    /// Nothing: this budget counts successes, not retries in flight.
    #[inline]
    fn retry_finished(&mut self, _now: Instant) {}
    /// Nothing: this budget counts successes, not requests in flight.
    #[inline]
    fn request_finished(&mut self, _now: Instant) {}
}

/// Envoy's concurrency retry budget (`retry_budget`: retries in flight at
/// most `budget_percent` % of the requests in flight, with
/// `min_retry_concurrency` always allowed) shared by every clone
/// (`Clone + Send + Sync`): the core's [`rate::ConcurrentRetryBudget`]
/// behind a mutex, held only inside one call.
///
/// `&budget` is the retry runner's [`fusebox::retry::Budget`]: the runner
/// reports every request's and every retry's start and finish, so the
/// counts go back to 0 when the requests end (also when a run's future is
/// dropped). It reads no clock: the counts are of calls in flight now.
///
/// ```
/// use fusebox::rate;
/// use fusebox_std::ConcurrentRetryBudget;
///
/// let core = rate::ConcurrentRetryBudget::builder()
///     .budget_percent(20)
///     .min_retry_concurrency(3)
///     .build()?;
/// let budget = ConcurrentRetryBudget::new("upstream", core)?;
/// assert_eq!(budget.limit(), 3); // no requests in flight: the minimum
/// assert_eq!((budget.requests_in_flight(), budget.retries_in_flight()), (0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConcurrentRetryBudget {
    inner: Arc<ConcurrentInner>,
}

#[derive(Debug)]
struct ConcurrentInner {
    name: Name,
    budget: Mutex<rate::ConcurrentRetryBudget>,
    // Read by the async retry runner's calls only (feature `tokio`).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    telemetry: LimitTelemetry,
}

impl std::fmt::Debug for ConcurrentRetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrentRetryBudget")
            .field("name", &self.inner.name)
            .field("budget", &self.inner.budget)
            .finish()
    }
}

impl ConcurrentRetryBudget {
    /// `budget` (built by [`rate::ConcurrentRetryBudget::builder`], which
    /// checks its values), shared and named `name`.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name.
    pub fn new(name: &str, budget: rate::ConcurrentRetryBudget) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let core = budget;
        Ok(Self {
            inner: Arc::new(ConcurrentInner {
                telemetry: LimitTelemetry::new(&name, Kind::ConcurrentBudget),
                name,
                budget: Mutex::new(core),
            }),
        })
    }

    /// The budget's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    fn with<T>(&self, f: impl FnOnce(&mut rate::ConcurrentRetryBudget) -> T) -> T {
        f(&mut lock(&self.inner.budget))
    }

    /// How many retries may be in flight now (see
    /// [`rate::ConcurrentRetryBudget::limit`]).
    pub fn limit(&self) -> u32 {
        self.with(|b| b.limit())
    }

    /// Requests in flight (retries included).
    pub fn requests_in_flight(&self) -> u32 {
        self.with(|b| b.requests_in_flight())
    }

    /// Retries in flight.
    pub fn retries_in_flight(&self) -> u32 {
        self.with(|b| b.retries_in_flight())
    }
}

/// The retry runner's budget: the core budget's events, under the lock.
#[cfg(feature = "tokio")]
impl fusebox::retry::Budget for &ConcurrentRetryBudget {
    #[inline]
    fn request_started(&mut self, now: Instant) {
        let n = self.with(|b| {
            fusebox::retry::Budget::request_started(b, now);
            b.requests_in_flight()
        });
        self.inner.telemetry.second(n);
    }
    #[inline]
    fn deposit(&mut self, now: Instant) {
        self.with(|b| fusebox::retry::Budget::deposit(b, now));
    }
    #[inline]
    fn try_withdraw(&mut self, now: Instant) -> bool {
        let (ok, retries) = self.with(|b| {
            let ok = fusebox::retry::Budget::try_withdraw(b, now);
            (ok, b.retries_in_flight())
        });
        let t = &self.inner.telemetry;
        if ok {
            t.admitted(|| retries);
        } else {
            t.rejected(&self.inner.name, 0, None);
        }
        ok
    }
    #[inline]
    fn retry_finished(&mut self, now: Instant) {
        let n = self.with(|b| {
            fusebox::retry::Budget::retry_finished(b, now);
            b.retries_in_flight()
        });
        self.inner.telemetry.level(|| n);
    }
    #[inline]
    fn request_finished(&mut self, now: Instant) {
        let n = self.with(|b| {
            fusebox::retry::Budget::request_finished(b, now);
            b.requests_in_flight()
        });
        self.inner.telemetry.second(n);
    }
}
