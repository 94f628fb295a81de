//! [`AdaptiveLimiter`]: a bulkhead whose limit an AIMD controller moves.

use std::ops::Deref;
use std::sync::Arc;

use fusebox::bulkhead::{
    self, AdaptiveLimit, AimdConfig, LimitChange, Outcome, OwnedPermit, Rejected,
    SharedAdaptiveLimit,
};
use fusebox::time::{Clock, Duration, Instant};

use super::Hooks;
use crate::telemetry::{Kind, LimitTelemetry};
use crate::{BuildError, FastClock, Name};

/// The seam: the core's lock-free [`SharedAdaptiveLimit`] (one atomic word).
#[derive(Debug)]
struct Cell(SharedAdaptiveLimit);

impl Cell {
    #[inline]
    fn record(
        &self,
        outcome: Outcome,
        latency: Duration,
        in_flight: u32,
        now: Instant,
    ) -> Option<LimitChange> {
        self.0.record_in_flight(outcome, latency, in_flight, now)
    }
}

#[derive(Debug)]
struct Inner<C> {
    name: Name,
    clock: C,
    hooks: Hooks,
    slots: bulkhead::SharedBulkhead,
    cell: Cell,
    telemetry: LimitTelemetry,
}

#[derive(Debug)]
struct Slots<C>(Arc<Inner<C>>);

impl<C> Deref for Slots<C> {
    type Target = bulkhead::SharedBulkhead;
    fn deref(&self) -> &bulkhead::SharedBulkhead {
        &self.0.slots
    }
}

/// A concurrency limit that finds its own level (AIMD, as Netflix's
/// concurrency-limits): a success under the latency target adds to the
/// limit while the limit is in use, a drop or a slow call cuts it. Shared
/// by every clone (`Clone + Send + Sync`); the slots are the core's
/// lock-free bulkhead, the controller the core's lock-free
/// [`SharedAdaptiveLimit`] (one atomic word). Latencies are read from clock `C` (default
/// [`FastClock`]: a duration).
///
/// Every limit change is returned by [`AdaptivePermit::record`] and handed
/// to the [`Hooks::on_limit_change`] hook.
///
/// ```
/// use fusebox::bulkhead::{AimdConfig, Outcome};
/// use fusebox_std::AdaptiveLimiter;
///
/// let limiter = AdaptiveLimiter::new("search", AimdConfig::new().limits(1, 100).initial(4))?;
/// let permit = limiter.try_acquire()?;
/// let change = permit.record(Outcome::Dropped); // overload: the limit goes down
/// assert!(change.is_some_and(|c| !c.is_increase()));
/// assert!(limiter.limit() < 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AdaptiveLimiter<C: Clock = FastClock> {
    inner: Arc<Inner<C>>,
}

impl<C: Clock> Clone for AdaptiveLimiter<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock> std::fmt::Debug for AdaptiveLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("name", &self.inner.name)
            .field("slots", &self.inner.slots)
            .finish()
    }
}

impl AdaptiveLimiter {
    /// A limiter named `name` at the configuration's initial limit, on
    /// [`FastClock`], with no hooks.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// field out of range.
    pub fn new(name: &str, config: AimdConfig) -> Result<Self, BuildError> {
        Self::with_clock(name, config, FastClock::new(), Hooks::new())
    }
}

impl<C: Clock> AdaptiveLimiter<C> {
    /// As [`new`](AdaptiveLimiter::new), on `clock`, calling `hooks`.
    ///
    /// # Errors
    /// As [`new`](AdaptiveLimiter::new).
    pub fn with_clock(
        name: &str,
        config: AimdConfig,
        clock: C,
        hooks: Hooks,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let limit = AdaptiveLimit::new(config)?;
        let slots = bulkhead::SharedBulkhead::new(limit.limit())?;
        let telemetry = LimitTelemetry::new(&name, Kind::Adaptive);
        telemetry.second(limit.limit());
        Ok(Self {
            inner: Arc::new(Inner {
                telemetry,
                name,
                clock,
                hooks,
                slots,
                cell: Cell(SharedAdaptiveLimit::from_limit(limit)),
            }),
        })
    }

    /// The limiter's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// The limit now.
    pub fn limit(&self) -> u32 {
        self.inner.slots.limit()
    }

    /// Permits live now.
    pub fn in_use(&self) -> u32 {
        self.inner.slots.in_use()
    }

    /// Take a slot now, without waiting.
    ///
    /// # Errors
    /// [`Rejected`] (with the limit) if every slot is taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<AdaptivePermit<C>, Rejected> {
        let inner = &*self.inner;
        let in_flight = inner.slots.in_use();
        let permit = bulkhead::SharedBulkhead::try_acquire_owned(Slots(Arc::clone(&self.inner)))
            .inspect(|_| inner.telemetry.admitted(|| in_flight.saturating_add(1)))
            .inspect_err(|_| inner.telemetry.rejected(&inner.name, 0, None))?;
        Ok(AdaptivePermit {
            permit,
            inner: Arc::clone(&self.inner),
            started: self.inner.clock.now(),
            in_flight: in_flight.saturating_add(1),
        })
    }
}

/// One slot of an [`AdaptiveLimiter`]. [`record`](Self::record) the call's
/// outcome to feed the controller; dropped without one, it frees its slot
/// and teaches the controller nothing (as [`Outcome::Ignored`]).
#[must_use = "record the outcome to adapt the limit; dropping frees the slot"]
pub struct AdaptivePermit<C: Clock = FastClock> {
    permit: OwnedPermit<Slots<C>>,
    inner: Arc<Inner<C>>,
    started: Instant,
    in_flight: u32,
}

impl<C: Clock> std::fmt::Debug for AdaptivePermit<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("started", &self.started)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<C: Clock> AdaptivePermit<C> {
    /// Free the slot and record `outcome` with the latency since the permit
    /// was taken; returns the limit change it made (also given to the
    /// hook, and applied to the slots at once).
    pub fn record(self, outcome: Outcome) -> Option<LimitChange> {
        let Self {
            permit,
            inner,
            started,
            in_flight,
        } = self;
        drop(permit);
        inner.telemetry.level(|| inner.slots.in_use());
        let now = inner.clock.now();
        let latency = crate::clock::elapsed(started, now);
        let change = inner.cell.record(outcome, latency, in_flight, now);
        if change.is_some() {
            // The controller's limit now, not `c.to`: a change made by
            // another thread meanwhile is newer. A limit from the
            // controller is in min..=max, at least 1.
            let _ = inner.slots.set_limit(inner.cell.0.limit());
        }
        if let Some(c) = change {
            inner.telemetry.limit_changed(&inner.name, c);
        }
        inner.hooks.limit_change(&inner.name, change, now)
    }
}
