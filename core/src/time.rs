//! Time types and the clock trait.
//!
//! [`Instant`] and [`Duration`] are embassy-time's, re-exported, so firmware
//! passes `embassy_time::Instant::now()` straight in. They count ticks of a
//! rate the *binary* selects (1 MHz unless a `tick-hz-*` feature says
//! otherwise); fusebox never selects one, never links a time driver and never
//! calls `Instant::now()` itself.
//!
//! Where core code must ask the time itself (the async retry runner), it
//! takes a [`Clock`] from the caller: `fusebox-std` has a monotonic std clock
//! and a manual clock for tests; firmware implements it with one line that
//! calls embassy's `Instant::now()`.

pub use embassy_time::{Duration, Instant};

/// A source of the current time, for the few places where fusebox code must
/// ask the time itself.
///
/// It must be monotonic in spirit; fusebox tolerates a clock that goes
/// backwards (that counts as no time elapsed) but then makes no progress.
///
/// ```
/// use core::cell::Cell;
/// use fusebox::time::{Clock, Duration, Instant};
///
/// /// A clock a test moves by hand.
/// struct Manual(Cell<Instant>);
/// impl Clock for Manual {
///     fn now(&self) -> Instant {
///         self.0.get()
///     }
/// }
///
/// let clock = Manual(Cell::new(Instant::from_ticks(5)));
/// assert_eq!(clock.now().as_ticks(), 5);
/// clock.0.set(clock.now() + Duration::from_ticks(10));
/// assert_eq!(clock.now().as_ticks(), 15);
/// ```
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// Time elapsed from `earlier` to `now`; zero if time went backwards.
#[inline]
pub(crate) fn elapsed(earlier: Instant, now: Instant) -> Duration {
    Duration::from_ticks(now.as_ticks().saturating_sub(earlier.as_ticks()))
}

/// `at + d`, saturating at [`Instant::MAX`].
#[inline]
pub(crate) fn add(at: Instant, d: Duration) -> Instant {
    Instant::from_ticks(at.as_ticks().saturating_add(d.as_ticks()))
}
