//! Circuit breaker: stop calling a dependency that is failing, and find out
//! cheaply when it has recovered.
//!
//! A [`CircuitBreaker`] is a sans-IO state machine. Ask it before each call
//! ([`CircuitBreaker::try_acquire`]); it answers with a [`Permit`] or a
//! [`Rejected`] that says when to come back. After the call, hand the permit
//! back with the call's [`Outcome`] ([`CircuitBreaker::record`]). Every method
//! that changes state takes `now` and returns the state change it made, if
//! any, as a [`Transition`] value for the caller to log or count.
//!
//! ```
//! use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, State};
//! use fusebox::time::{Duration, Instant};
//!
//! let config = Config::new().open_duration(Duration::from_ticks(100));
//! let mut breaker = CircuitBreaker::new(config, ConsecutiveFailures::new(2)?)?;
//! let t = Instant::from_ticks;
//!
//! // Two failures in a row trip it.
//! for now in [t(0), t(1)] {
//!     let permit = breaker.try_acquire(now).expect("closed");
//!     breaker.record(permit, Outcome::Failure, now);
//! }
//! assert_eq!(breaker.state(t(2)), State::Open);
//!
//! // While open it rejects at once, and says when to come back.
//! let rejected = breaker.try_acquire(t(2)).unwrap_err();
//! assert_eq!(rejected.retry_after, Some(Duration::from_ticks(99)));
//!
//! // At t + open_duration it admits one probe; the probe's success closes it.
//! let probe = breaker.try_acquire(t(101)).expect("half-open probe");
//! assert!(breaker.try_acquire(t(101)).is_err()); // only one probe at a time
//! let change = breaker.record(probe, Outcome::Success, t(102)).expect("closes");
//! assert_eq!((change.from, change.to), (State::HalfOpen, State::Closed));
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # States and transitions
//!
//! | from | event | to |
//! |---|---|---|
//! | Closed | a recorded outcome makes the [`Policy`] trip | Open |
//! | Open | `try_acquire` at `now >= opened_at + open duration` (admits a probe) | HalfOpen |
//! | Closed | the counting interval of [`FailureCount`] (or of [`ConsecutiveFailures::interval`]) ends | Closed, its counts cleared |
//! | HalfOpen | a probe records a failure (or a slow call) | Open, for the [`BreakDuration`] of the next trip in a row |
//! | HalfOpen | the S-th probe success (S = [`Config::half_open_successes`]) | Closed |
//! | HalfOpen | no probe recorded within the probe timeout | HalfOpen, its probe slots freed |
//! | any | [`CircuitBreaker::isolate`] | ForcedOpen |
//! | any | [`CircuitBreaker::force_closed`] | ForcedClosed |
//! | any | [`CircuitBreaker::reset`] | Closed |
//!
//! # Conventions
//! - A breaker opened at `t` for `D` admits again at `now >= t + D`: the
//!   tick itself counts.
//! - Thresholds trip at `>=`: N consecutive failures trip at the N-th; a rate
//!   trips when it reaches its threshold, once the window holds the minimum
//!   number of calls.
//! - HalfOpen admits at most K probes ([`Config::half_open_probes`],
//!   default 1): at once ([`ProbeRule::InFlight`], the default) or per
//!   half-open round ([`ProbeRule::PerRound`], gobreaker's `MaxRequests`);
//!   [`ProbeRule`] gives a timeline of each. Any probe failure re-opens at
//!   once; S probe successes close.
//! - The open duration after the n-th trip without a close in between is
//!   [`BreakDuration::after`]`(n)`: constant, geometric or linear growth to a
//!   cap, or a table whose last entry repeats (Polly's break-duration
//!   generator). A close or a reset starts it over at n = 1.
//! - A counting interval (gobreaker's `Interval`, off by default) begins with
//!   the first outcome recorded in it and clears the policy's counts at
//!   `now >= start + interval`, while closed ([`FailureCount`]).
//! - Every transition starts a new *generation*. A permit carries the
//!   generation it was issued in; an outcome recorded for an older generation
//!   changes nothing (it is counted in [`Metrics::stale`]). No late success
//!   closes a breaker, and no late failure re-opens one.
//! - A probe permit that is never recorded (a cancelled future, a task that
//!   died) cannot keep the breaker half-open: once
//!   [`Config::probe_timeout`] has passed since the last probe was admitted,
//!   the outstanding probes are written off (the generation moves on, so
//!   their outcomes are stale) and new probes are admitted. Set the probe
//!   timeout above the call's own timeout.
//! - A call is *slow* when it took at least [`Config::slow_calls`]'s
//!   duration, measured from `try_acquire` to `record`. Rate policies judge
//!   the slow-call rate beside the failure rate; [`ConsecutiveFailures`]
//!   counts a slow call as a failure; in HalfOpen a slow probe re-opens.
//! - [`Outcome::Ignored`] (a 4xx that says nothing about the dependency's
//!   health) frees the permit's slot and is counted nowhere else.
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant (the
//!   breaker keeps the latest `now` it was given; a permit's start, its
//!   slow-call measure, the open and probe deadlines and the window all use
//!   it). Instants and durations near `u64::MAX` saturate.
//!
//! # Memory
//!
//! The breaker holds everything inline: no allocation, no heap. Sizes in
//! bytes, the same on x86_64 and thumbv6m (`u64` aligns to 8 on both, and
//! the one pointer-sized field, a [`BreakDuration::Table`]'s slice, fits in
//! the space its enum's `Linear` law takes anyway), asserted by the host
//! tests and by the Cortex-M0 runner:
//!
//! | type | bytes |
//! |---|---|
//! | `CircuitBreaker<ConsecutiveFailures>` | 144 |
//! | `CircuitBreaker<FailureCount>` | 152 |
//! | `CircuitBreaker<CountWindow<10>>` | 152 |
//! | `CircuitBreaker<CountWindow<100>>` | 248 (one byte per call in the window) |
//! | `CircuitBreaker<TimeWindow<10>>` | 384 (24 bytes per bucket) |
//! | [`Config`] | 56 |
//! | [`BreakDuration`] | 32 |
//! | [`Permit`] | 16 |
//!
//! In general `CircuitBreaker<CountWindow<N>>` is `128 + (N + 13 rounded up
//! to a multiple of 8)` and `CircuitBreaker<TimeWindow<B>>` is
//! `144 + 24 x B`.
//!
//! The state each option adds: a break-duration schedule reads only the
//! count of trips in a row (`u32`, there before); [`ProbeRule::PerRound`]
//! one count of probes admitted this round (`u16`, in padding); a counting
//! interval the end of the current interval (`u64`) beside its length.
//!
//! [`SharedCircuitBreaker`] (feature `sync`) differs per target: on x86_64
//! and aarch64 its control word and each of its 8 metrics stripes sit on a
//! 128-byte line of their own (so that threads on different cores do not
//! invalidate each other's lines), on thumbv6m nothing is padded (no data
//! cache; RAM is scarce) and there is one stripe.
//!
//! | type | x86_64 / aarch64 | thumbv6m |
//! |---|---|---|
//! | `SharedCircuitBreaker<ConsecutiveFailures>` | 1 280 | 128 |
//! | `SharedCircuitBreaker<FailureCount>` | 1 664 | 160 |
//! | `SharedCircuitBreaker<CountWindow<10>>` | 1 536 | 176 |
//! | `SharedCircuitBreaker<CountWindow<100>>` | 1 920 | 544 |
//! | `SharedCircuitBreaker<CountWindow<N>>` | `1408 + (4N + 5 rounded up to 128)` | `112 + (4N + 21 rounded up to 16)` |
//! | `SharedCircuitBreaker<TimeWindow<10>>` | 1 792 | 304 |
//! | `SharedCircuitBreaker<TimeWindow<B>>` | `1536 + (16B rounded up to 128)` | `144 + 16B` |
//! | [`Lane`] (a thread's success counter) | 4 | 4 |
//!
//! A shared time window or failure count keeps a 128-bit window word (on
//! its own line on servers) and one 128-bit bucket per time bucket (one
//! for [`FailureCount`]); the counting interval of [`ConsecutiveFailures`]
//! lives in the control word (its threshold and interval add 12 bytes).

use crate::time::{Duration, Instant};

mod config;
mod consecutive;
mod count_window;
mod interval;
mod machine;
mod schedule;
#[cfg(feature = "sync")]
mod shared;
mod time_window;

pub use config::Config;
pub use consecutive::ConsecutiveFailures;
pub use count_window::{CountWindow, CountWindowBuilder};
pub use interval::FailureCount;
pub use machine::CircuitBreaker;
pub use schedule::{BreakDuration, ProbeRule};
#[cfg(feature = "sync")]
pub use shared::{Lane, SharedBreaker, SharedCircuitBreaker, SharedPolicy, Unshared};
pub use time_window::{TimeWindow, TimeWindowBuilder};

/// The state of a [`CircuitBreaker`].
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, State};
/// use fusebox::time::Instant;
///
/// let mut b = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(3)?)?;
/// assert_eq!(b.state(Instant::from_ticks(0)), State::Closed);
/// b.isolate();
/// assert_eq!(b.state(Instant::from_ticks(0)), State::ForcedOpen);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Calls flow; outcomes feed the failure policy.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A limited number of probe calls test whether the dependency is back.
    HalfOpen,
    /// Held open by [`CircuitBreaker::isolate`] until released.
    ForcedOpen,
    /// Held closed by [`CircuitBreaker::force_closed`]: every call is
    /// admitted and nothing trips it until released.
    ForcedClosed,
}

/// A state change, returned by the method that made it.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, State, Transition};
/// use fusebox::time::Instant;
///
/// let mut b = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(1)?)?;
/// let now = Instant::from_ticks(0);
/// let permit = b.try_acquire(now).unwrap();
/// let change = b.record(permit, Outcome::Failure, now);
/// assert_eq!(change, Some(Transition { from: State::Closed, to: State::Open }));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
}

impl Transition {
    /// Why the breaker made this transition, as far as its two states tell
    /// (a reset out of half-open reads as probes passed).
    ///
    /// ```
    /// use fusebox::breaker::{State, Transition, TransitionReason};
    ///
    /// let t = Transition { from: State::Closed, to: State::Open };
    /// assert_eq!(t.reason(), TransitionReason::Tripped);
    /// assert_eq!(t.reason().as_str(), "tripped");
    /// ```
    pub const fn reason(&self) -> TransitionReason {
        match (self.from, self.to) {
            (State::HalfOpen, State::Open) => TransitionReason::ProbeFailed,
            (_, State::Open) => TransitionReason::Tripped,
            (_, State::HalfOpen) => TransitionReason::Probing,
            (State::HalfOpen, State::Closed) => TransitionReason::ProbesPassed,
            (State::ForcedOpen | State::ForcedClosed, State::Closed) => TransitionReason::Released,
            (_, State::Closed) => TransitionReason::Reset,
            (_, State::ForcedOpen) => TransitionReason::Isolated,
            (_, State::ForcedClosed) => TransitionReason::ForcedClosed,
        }
    }
}

/// The reasons, their docs and their words, written once: the enum,
/// [`TransitionReason::as_str`] and its `defmt::Format` (each word an
/// interned `defmt` literal, so the firmware's flash holds none of them)
/// are all made from this list.
macro_rules! transition_reasons {
    ($( $(#[doc = $doc:literal])* $variant:ident => $words:literal, )*) => {
        /// Why a breaker made a [`Transition`], in the words fusebox's logs
        /// use: fusebox-std's tracing events (`payments Closed -> Open:
        /// tripped, 3 of 4 calls failed, 0 slow`) and the firmware's
        /// `defmt` lines (`uplink Closed -> Open: tripped; host
        /// unreachable, frames dropped`) both print `<name> <from> -> <to>:
        /// <reason>`, the reason's words from one list in this crate
        /// ([`as_str`](Self::as_str), [`Display`](core::fmt::Display) and
        /// `defmt::Format` write the same words).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum TransitionReason {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl TransitionReason {
            /// The words: `tripped`, `probe failed`, `probing`, `probes
            /// passed`, `isolated`, `forced closed`, `released`, `reset`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $words, )*
                }
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for TransitionReason {
            fn format(&self, f: defmt::Formatter<'_>) {
                match self {
                    $( Self::$variant => defmt::write!(f, $words), )*
                }
            }
        }
    };
}

transition_reasons! {
    /// Closed to open: the failure policy (or the slow-call rate) tripped.
    Tripped => "tripped",
    /// Half-open to open: a probe failed (or was slow, or timed out).
    ProbeFailed => "probe failed",
    /// Open to half-open: the open duration is over; probes go through.
    Probing => "probing",
    /// Half-open to closed: the probes passed.
    ProbesPassed => "probes passed",
    /// Into forced-open: [`CircuitBreaker::isolate`].
    Isolated => "isolated",
    /// Into forced-closed: [`CircuitBreaker::force_closed`].
    ForcedClosed => "forced closed",
    /// Forced-open or forced-closed to closed: released by
    /// [`CircuitBreaker::reset`].
    Released => "released",
    /// Open to closed: [`CircuitBreaker::reset`].
    Reset => "reset",
}

impl core::fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of a call made under a [`Permit`].
///
/// ```
/// use fusebox::breaker::Outcome;
///
/// /// HTTP status to outcome: a 4xx is the caller's fault, not the server's.
/// fn judge(status: u16) -> Outcome {
///     match status {
///         200..=399 => Outcome::Success,
///         400..=499 => Outcome::Ignored,
///         _ => Outcome::Failure,
///     }
/// }
/// assert_eq!(judge(404), Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The dependency did its job (a slow success may still count against it:
    /// see [`Config::slow_calls`]).
    Success,
    /// The dependency failed (timeout, 5xx, connection refused, bus error).
    Failure,
    /// The call says nothing about the dependency's health (a 4xx, a
    /// cancelled request): it frees the permit's slot and counts nowhere.
    Ignored,
}

/// Permission to make one call. Hand it back to
/// [`CircuitBreaker::record`] with the call's outcome.
///
/// A permit remembers when it was acquired (for slow-call detection) and the
/// breaker's generation (so an outcome from before a state change is
/// ignored). Dropping a permit without recording it is safe: in HalfOpen the
/// probe slot frees itself after the probe timeout.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome};
/// use fusebox::time::Instant;
///
/// let mut b = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(3)?)?;
/// let permit = b.try_acquire(Instant::from_ticks(10)).unwrap();
/// assert_eq!(permit.acquired_at(), Instant::from_ticks(10));
/// assert_eq!(permit.transition(), None); // it was closed already
/// b.record(permit, Outcome::Success, Instant::from_ticks(12));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "record the call's outcome with `CircuitBreaker::record`"]
pub struct Permit {
    acquired_at: Instant,
    generation: u32,
    transition: Option<Transition>,
}

impl Permit {
    /// When the permit was acquired.
    pub const fn acquired_at(&self) -> Instant {
        self.acquired_at
    }

    /// The transition that acquiring this permit made, if any (Open to
    /// HalfOpen, when this permit is the first probe).
    pub const fn transition(&self) -> Option<Transition> {
        self.transition
    }
}

/// The breaker refused a call.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, State};
/// use fusebox::time::Instant;
///
/// let mut b = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(3)?)?;
/// b.isolate();
/// let rejected = b.try_acquire(Instant::from_ticks(0)).unwrap_err();
/// assert_eq!(rejected.state, State::ForcedOpen);
/// assert_eq!(
///     rejected.to_string(),
///     "circuit breaker is isolated: calls are refused until it is reset"
/// );
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected {
    /// The state that refused it: [`State::Open`], [`State::HalfOpen`] (all
    /// probe slots taken) or [`State::ForcedOpen`].
    pub state: State,
    /// When to try again, where the breaker knows: the rest of the open
    /// duration; in HalfOpen, the time until the outstanding probes are
    /// written off at the latest. `None` while held open by
    /// [`CircuitBreaker::isolate`].
    pub retry_after: Option<Duration>,
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.state, self.retry_after) {
            (State::ForcedOpen, _) => {
                f.write_str("circuit breaker is isolated: calls are refused until it is reset")
            }
            (State::HalfOpen, Some(d)) => write!(
                f,
                "circuit breaker is half-open and its probe slots are taken: retry within {} ticks",
                d.as_ticks()
            ),
            (_, Some(d)) => write!(
                f,
                "circuit breaker is open: retry after {} ticks",
                d.as_ticks()
            ),
            (_, None) => f.write_str("circuit breaker refused the call"),
        }
    }
}

impl core::error::Error for Rejected {}

/// Counters of what the breaker decided. Each wraps at `u32::MAX` (take
/// differences with `wrapping_sub`, as with any hardware counter).
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome};
/// use fusebox::time::Instant;
///
/// let mut b = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(3)?)?;
/// let before = b.metrics();
/// let p = b.try_acquire(Instant::from_ticks(0)).unwrap();
/// b.record(p, Outcome::Failure, Instant::from_ticks(1));
/// let after = b.metrics();
/// assert_eq!(after.failures.wrapping_sub(before.failures), 1);
/// assert_eq!(after.admitted, 1);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Metrics {
    /// Permits handed out.
    pub admitted: u32,
    /// Calls refused.
    pub rejected: u32,
    /// Successes recorded (slow ones included).
    pub successes: u32,
    /// Failures recorded.
    pub failures: u32,
    /// Calls recorded that took at least the slow-call duration.
    pub slow: u32,
    /// `Outcome::Ignored` recorded.
    pub ignored: u32,
    /// Outcomes recorded for an older generation, and so ignored.
    pub stale: u32,
    /// Transitions into Open (from Closed or HalfOpen).
    pub trips: u32,
}

/// How the outcome of one admitted call was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Call {
    /// The dependency failed.
    pub failed: bool,
    /// The call took at least the slow-call duration.
    pub slow: bool,
}

/// What a rate policy's window holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct WindowStats {
    /// Calls in the window (ignored outcomes are not calls).
    pub calls: u32,
    /// Of which failed.
    pub failures: u32,
    /// Of which were slow.
    pub slow: u32,
}

mod sealed {
    use super::{Call, Config, WindowStats};
    use crate::time::Instant;

    pub trait Judge {
        /// Take in one call; `true` if the breaker must trip now. The
        /// condition was false before (the breaker trips as soon as it holds),
        /// so a policy need only look again when this call can have made it
        /// true.
        fn record(&mut self, call: Call, config: &Config, now: Instant) -> bool;
        fn clear(&mut self);
        fn stats(&self, now: Instant) -> WindowStats;
    }
}

/// When a closed breaker trips: one of [`ConsecutiveFailures`],
/// [`FailureCount`], [`CountWindow`] or [`TimeWindow`], chosen at
/// construction.
///
/// The trait is sealed; its methods are the breaker's business.
pub trait Policy: sealed::Judge {
    /// The policy's breaker shared by `&self` (feature `sync`):
    /// [`SharedCircuitBreaker<Self>`] for every policy of this crate
    /// ([`Unshared`] names a policy with no shared form). Lets code generic
    /// over every policy take the lock-free path, and a lock of its own
    /// where [`SharedBreaker::share`] refuses a configuration (as
    /// `fusebox_std::Breaker` does).
    #[cfg(feature = "sync")]
    type Shared: SharedBreaker<Self>;

    /// What the policy's window holds at `now` (for metrics and logs).
    fn window(&self, now: Instant) -> WindowStats {
        self.stats(now)
    }
}

/// `true` when `part / whole >= percent / 100`, exactly.
#[inline]
fn reaches(part: u32, whole: u32, percent: u8) -> bool {
    u64::from(part).saturating_mul(100) >= u64::from(whole).saturating_mul(u64::from(percent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_comparison_is_exact_at_the_threshold() {
        assert!(reaches(1, 2, 50));
        assert!(!reaches(49, 100, 50));
        assert!(reaches(u32::MAX, u32::MAX, 100));
    }
}
