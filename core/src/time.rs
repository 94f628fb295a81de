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
/// backwards (time that goes backwards counts as no time elapsed: a `now`
/// earlier than the latest instant seen is judged as that latest instant)
/// but then makes no progress.
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

/// The rule every primitive that takes time follows, written once: a `now`
/// earlier than the latest instant the primitive has seen is judged as that
/// latest instant. Time that goes backwards counts as no time elapsed, and
/// never leaves less state than before.
///
/// Returns the instant to judge `now` at, and records it as the latest seen.
// Inlined on 64-bit targets (a compare and a store); on 32-bit ones the
// 64-bit compare is a dozen instructions, and one copy serves every caller.
#[cfg_attr(target_pointer_width = "64", inline(always))]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) fn observe(latest: &mut Instant, now: Instant) -> Instant {
    let at = at_latest(now, *latest);
    *latest = at;
    at
}

/// The instant to judge `now` at, given the `latest` seen, without recording
/// it (for `&self` queries): the later of the two. See [`observe`].
#[cfg_attr(target_pointer_width = "64", inline(always))]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) const fn at_latest(now: Instant, latest: Instant) -> Instant {
    Instant::from_ticks(at_latest_ticks(now.as_ticks(), latest.as_ticks()))
}

/// [`at_latest`] on raw ticks (or on any count that grows with time, such
/// as a window's epoch).
#[inline(always)]
pub(crate) const fn at_latest_ticks(now: u64, latest: u64) -> u64 {
    if now < latest { latest } else { now }
}
