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
//!
//! A shared time window or failure count keeps a 128-bit window word (on
//! its own line on servers) and one 128-bit bucket per time bucket (one
//! for [`FailureCount`]); the counting interval of [`ConsecutiveFailures`]
//! lives in the control word (its threshold and interval add 12 bytes).

use crate::ConfigError;
use crate::time::{self, Duration, Instant};

mod interval;
mod schedule;
#[cfg(feature = "sync")]
mod shared;

pub use interval::FailureCount;
pub use schedule::{BreakDuration, ProbeRule};
#[cfg(feature = "sync")]
pub use shared::{SharedBreaker, SharedCircuitBreaker, SharedPolicy, Unshared};

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

/// Settings shared by every failure policy: how long to stay open, how to
/// probe, what counts as slow.
///
/// Setters are `const fn` and do not check; [`CircuitBreaker::new`] checks
/// the whole configuration and names the first field out of range.
///
/// ```
/// use fusebox::breaker::Config;
/// use fusebox::time::Duration;
///
/// // Open 1 s, then 2 s, 4 s, ... up to 60 s while probes keep failing; two
/// // probes at a time, three successes to close; calls over 2 s are slow,
/// // and a window where 80 % of calls are slow trips like one that fails.
/// let config = Config::new()
///     .open_duration_growing(Duration::from_secs(1), 2, Duration::from_secs(60))
///     .half_open_probes(2)
///     .half_open_successes(3)
///     .probe_timeout(Duration::from_secs(5))
///     .slow_calls(Duration::from_secs(2), 80);
/// assert!(config.validate().is_ok());
/// assert_eq!(Config::new().half_open_probes(0).validate().unwrap_err().field(), "half_open_probes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    open: BreakDuration,
    probe_timeout: Duration,
    // `Duration::MAX` means "no slow-call detection".
    slow_duration: Duration,
    slow_percent: u8,
    half_open_probes: u16,
    half_open_successes: u16,
    probe_rule: ProbeRule,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults: open for 30 s (constant), one half-open probe at a
    /// time, one success to close, a 10 s probe timeout, no slow-call
    /// detection. Durations are converted at the binary's tick rate.
    pub const fn new() -> Self {
        Self {
            open: BreakDuration::Constant(Duration::from_secs(30)),
            probe_timeout: Duration::from_secs(10),
            slow_duration: Duration::MAX,
            slow_percent: 100,
            half_open_probes: 1,
            half_open_successes: 1,
            probe_rule: ProbeRule::InFlight,
        }
    }

    /// Stay open for `duration` after every trip (at least 1 tick).
    pub const fn open_duration(mut self, duration: Duration) -> Self {
        self.open = BreakDuration::Constant(duration);
        self
    }

    /// Stay open for `initial` after the first trip, and `factor` times
    /// longer after each further trip without a close in between, up to
    /// `max`. (`factor` at least 1, `max` at least `initial`.)
    pub const fn open_duration_growing(
        mut self,
        initial: Duration,
        factor: u32,
        max: Duration,
    ) -> Self {
        self.open = BreakDuration::Geometric {
            initial,
            factor,
            max,
        };
        self
    }

    /// Stay open for `initial` after the first trip, and `step` longer after
    /// each further trip without a close in between, up to `max` (`initial`
    /// at least 1 tick, `max` at least `initial`; a `step` of 0 keeps it
    /// constant).
    pub const fn open_duration_linear(
        mut self,
        initial: Duration,
        step: Duration,
        max: Duration,
    ) -> Self {
        self.open = BreakDuration::Linear { initial, step, max };
        self
    }

    /// Stay open for `table[n - 1]` after the `n`-th trip without a close in
    /// between; past the end of the table, for its last entry (1 to 255
    /// entries of at least 1 tick each).
    pub const fn open_duration_table(mut self, table: &'static [Duration]) -> Self {
        self.open = BreakDuration::Table(table);
        self
    }

    /// Set the open-duration schedule directly (see [`BreakDuration`]).
    pub const fn break_duration(mut self, schedule: BreakDuration) -> Self {
        self.open = schedule;
        self
    }

    /// The open-duration schedule.
    pub const fn break_duration_schedule(&self) -> BreakDuration {
        self.open
    }

    /// At most `k` probes in HalfOpen (at least 1; default 1): in flight at
    /// once, or admitted per half-open round, as [`probe_rule`](Self::probe_rule)
    /// says.
    pub const fn half_open_probes(mut self, k: u16) -> Self {
        self.half_open_probes = k;
        self
    }

    /// How the half-open probe limit K counts (default
    /// [`ProbeRule::InFlight`]; see [`ProbeRule`] for both timelines).
    pub const fn probe_rule(mut self, rule: ProbeRule) -> Self {
        self.probe_rule = rule;
        self
    }

    /// Close after `s` probe successes (at least 1; default 1). `s` may exceed
    /// the number of concurrent probes: probes then run in turns.
    pub const fn half_open_successes(mut self, s: u16) -> Self {
        self.half_open_successes = s;
        self
    }

    /// Write off unrecorded probes once `timeout` has passed since the last
    /// probe was admitted (at least 1 tick; default 10 s). Set it above the
    /// call's own timeout: a probe recorded later is stale.
    pub const fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Count a call that took at least `duration` (at least 1 tick) as slow;
    /// rate policies trip when `percent` (1..=100) of the calls in the window
    /// are slow. [`ConsecutiveFailures`] counts a slow call as a failure and
    /// ignores `percent`.
    pub const fn slow_calls(mut self, duration: Duration, percent: u8) -> Self {
        self.slow_duration = duration;
        self.slow_percent = percent;
        self
    }

    /// The slow-call duration set by [`slow_calls`](Self::slow_calls)
    /// ([`Duration::MAX`] when unset: no call is slow).
    pub const fn slow_call_duration(&self) -> Duration {
        self.slow_duration
    }

    /// Check every field; the error names the first one out of range.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = self.open.validate() {
            return Err(e);
        }
        if self.half_open_probes == 0 {
            return Err(ConfigError::new(
                "half_open_probes",
                "be in 1..=65535 (0 would never admit a probe)",
            ));
        }
        if self.half_open_successes == 0 {
            return Err(ConfigError::new(
                "half_open_successes",
                "be in 1..=65535 (0 would close without a probe)",
            ));
        }
        if matches!(self.probe_rule, ProbeRule::PerRound)
            && self.half_open_successes > self.half_open_probes
        {
            return Err(ConfigError::new(
                "half_open_successes",
                "be at most half_open_probes under ProbeRule::PerRound (a round admits no more probes than that, so more successes could never close it)",
            ));
        }
        if self.probe_timeout.as_ticks() == 0 {
            return Err(ConfigError::new("probe_timeout", "be at least 1 tick"));
        }
        if self.slow_duration.as_ticks() == 0 {
            return Err(ConfigError::new(
                "slow_calls.duration",
                "be at least 1 tick (0 would make every call slow)",
            ));
        }
        if self.slow_percent == 0 || self.slow_percent > 100 {
            return Err(ConfigError::new(
                "slow_calls.percent",
                "be in 1..=100 (percent)",
            ));
        }
        Ok(())
    }

    /// The open duration after `trips` consecutive trips without a close
    /// in between (1 for the first; 0 is taken as 1). See [`BreakDuration`].
    pub const fn open_duration_after(&self, trips: u32) -> Duration {
        self.open.after(trips)
    }
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

/// Trip after `threshold` failures in a row (a slow call counts as a
/// failure when slow-call detection is on). A success resets the run; so
/// does the end of the counting [`interval`](Self::interval), when one is
/// set (off by default).
///
/// ```
/// use fusebox::breaker::ConsecutiveFailures;
///
/// let five_in_a_row = ConsecutiveFailures::new(5)?;
/// # let _ = five_in_a_row;
/// assert!(ConsecutiveFailures::new(0).is_err());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConsecutiveFailures {
    threshold: u32,
    run: u32,
    // Off unless set: see `ConsecutiveFailures::interval`.
    interval: interval::Interval,
}

impl ConsecutiveFailures {
    /// Trip at the `threshold`-th failure in a row (at least 1).
    pub const fn new(threshold: u32) -> Result<Self, ConfigError> {
        if threshold == 0 {
            return Err(ConfigError::new(
                "failure_threshold",
                "be at least 1 (0 would trip on every call)",
            ));
        }
        Ok(Self {
            threshold,
            run: 0,
            interval: interval::Interval::OFF,
        })
    }
}

impl sealed::Judge for ConsecutiveFailures {
    #[inline]
    fn record(&mut self, call: Call, _config: &Config, now: Instant) -> bool {
        if self.interval.roll(now) {
            self.run = 0;
        }
        if call.failed || call.slow {
            self.run = self.run.saturating_add(1);
            self.run >= self.threshold
        } else {
            self.run = 0;
            false
        }
    }
    fn clear(&mut self) {
        self.run = 0;
        self.interval.clear();
    }
    fn stats(&self, now: Instant) -> WindowStats {
        let run = if self.interval.over(now) { 0 } else { self.run };
        WindowStats {
            calls: run,
            failures: run,
            slow: 0,
        }
    }
}
impl Policy for ConsecutiveFailures {
    #[cfg(feature = "sync")]
    type Shared = SharedCircuitBreaker<Self>;
}

/// `true` when `part / whole >= percent / 100`, exactly.
#[inline]
fn reaches(part: u32, whole: u32, percent: u8) -> bool {
    u64::from(part).saturating_mul(100) >= u64::from(whole).saturating_mul(u64::from(percent))
}

const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// Trip when, of the last `N` calls (a count window), at least
/// `failure_percent` % failed or at least the slow-call percentage were
/// slow, once the window holds at least `minimum_calls` calls.
///
/// Memory: one byte per call in the window.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, CountWindow, Outcome, Policy, State};
/// use fusebox::time::Instant;
///
/// // Half of the last 10 calls, judged from the 4th call on.
/// let mut b = CircuitBreaker::new(Config::new(), CountWindow::<10>::new(50, 4)?)?;
/// let t = Instant::from_ticks(0);
/// for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success] {
///     let p = b.try_acquire(t).unwrap();
///     b.record(p, outcome, t);
/// }
/// assert_eq!(b.policy().window(t).failures, 1);
/// let p = b.try_acquire(t).unwrap();
/// b.record(p, Outcome::Failure, t); // 2 of 4: 50 %
/// assert_eq!(b.state(t), State::Open);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CountWindow<const N: usize> {
    ring: [u8; N],
    head: u32,
    len: u32,
    failures: u32,
    slow: u32,
    minimum_calls: u32,
    failure_percent: u8,
}

impl<const N: usize> CountWindow<N> {
    /// A window of the last `N` calls (`N` in 1..=2^32-1) that trips at
    /// `failure_percent` (1..=100) failures once it holds `minimum_calls`
    /// (1..=N) calls.
    pub const fn new(failure_percent: u8, minimum_calls: u32) -> Result<Self, ConfigError> {
        if N == 0 || N > u32::MAX as usize {
            return Err(ConfigError::new(
                "CountWindow::<N>",
                "have N in 1..=4294967295 calls",
            ));
        }
        if failure_percent == 0 || failure_percent > 100 {
            return Err(ConfigError::new(
                "failure_percent",
                "be in 1..=100 (percent)",
            ));
        }
        if minimum_calls == 0 || minimum_calls as usize > N {
            return Err(ConfigError::new(
                "minimum_calls",
                "be in 1..=N, the window's length (more could never be reached)",
            ));
        }
        Ok(Self {
            ring: [0; N],
            head: 0,
            len: 0,
            failures: 0,
            slow: 0,
            minimum_calls,
            failure_percent,
        })
    }
}

impl<const N: usize> sealed::Judge for CountWindow<N> {
    #[inline]
    fn record(&mut self, call: Call, config: &Config, _now: Instant) -> bool {
        let code = u8::from(call.failed) | (u8::from(call.slow) << 1);
        let Some(slot) = self.ring.get_mut(self.head as usize) else {
            return false;
        };
        let old = core::mem::replace(slot, code);
        let reached_minimum = if self.len as usize == N {
            // The window is full: the oldest call (the one replaced) leaves
            // it. The counters include it, so they cannot underflow.
            if old != 0 {
                self.failures = self.failures.wrapping_sub(u32::from(old & FAILED));
                self.slow = self.slow.wrapping_sub(u32::from((old & SLOW) >> 1));
            }
            false
        } else {
            self.len = self.len.wrapping_add(1);
            self.len == self.minimum_calls
        };
        // Both stay at most `len`, which is at most N <= u32::MAX.
        if code != 0 {
            self.failures = self.failures.wrapping_add(u32::from(call.failed));
            self.slow = self.slow.wrapping_add(u32::from(call.slow));
        }
        let next = self.head.wrapping_add(1);
        self.head = if next as usize >= N { 0 } else { next };
        // A good call can only lower the rates, except the one that brings
        // the window to its minimum, after which rates are judged at all.
        (code != 0 || reached_minimum)
            && self.len >= self.minimum_calls
            && (reaches(self.failures, self.len, self.failure_percent)
                || (config.slow_duration.as_ticks() != u64::MAX
                    && reaches(self.slow, self.len, config.slow_percent)))
    }
    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.failures = 0;
        self.slow = 0;
    }
    fn stats(&self, _now: Instant) -> WindowStats {
        WindowStats {
            calls: self.len,
            failures: self.failures,
            slow: self.slow,
        }
    }
}
impl<const N: usize> Policy for CountWindow<N> {
    #[cfg(feature = "sync")]
    type Shared = SharedCircuitBreaker<Self>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Bucket {
    epoch: u64,
    calls: u32,
    failures: u32,
    slow: u32,
}

/// Trip when, of the calls in the last `window` of time (kept in `B`
/// buckets), at least `failure_percent` % failed or at least the slow-call
/// percentage were slow, once the window holds at least `minimum_calls`.
///
/// Time is cut into buckets of `window / B` ticks (rounded down); the
/// window is the current bucket and the `B - 1` before it, so it holds
/// between `(B - 1) / B` and all of `window` of history, as in resilience4j
/// and Polly. Time is the caller's monotonic `now`, never a wall clock.
///
/// The window is judged when an outcome is recorded: as old calls age out
/// the failure rate may rise, and the next recorded call (even a success)
/// then trips the breaker.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, Outcome, Policy, TimeWindow};
/// use fusebox::time::{Duration, Instant};
///
/// // 30 % of the calls in the last 10 s (ten 1 s buckets), once 20 calls are in.
/// let policy = TimeWindow::<10>::new(Duration::from_secs(10), 30, 20)?;
/// let mut b = CircuitBreaker::new(Config::new(), policy)?;
/// let p = b.try_acquire(Instant::from_secs(1)).unwrap();
/// b.record(p, Outcome::Failure, Instant::from_secs(1));
/// assert_eq!(b.policy().window(Instant::from_secs(10)).failures, 1);
/// assert_eq!(b.policy().window(Instant::from_secs(11)).failures, 0); // aged out
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeWindow<const B: usize> {
    buckets: [Bucket; B],
    bucket_ticks: u64,
    // The newest epoch seen: time that goes backwards lands in it.
    latest: u64,
    minimum_calls: u32,
    failure_percent: u8,
}

impl<const B: usize> TimeWindow<B> {
    /// A window of `window` (at least `B` ticks) in `B` buckets (1..=2^32-1)
    /// that trips at `failure_percent` (1..=100) failures once it holds
    /// `minimum_calls` (at least 1) calls.
    pub const fn new(
        window: Duration,
        failure_percent: u8,
        minimum_calls: u32,
    ) -> Result<Self, ConfigError> {
        if B == 0 || B > u32::MAX as usize {
            return Err(ConfigError::new(
                "TimeWindow::<B>",
                "have B in 1..=4294967295 buckets",
            ));
        }
        // B fits in u32 here, so in u64 too.
        let bucket_ticks = match window.as_ticks().checked_div(B as u64) {
            Some(t) => t,
            None => 0,
        };
        if bucket_ticks == 0 {
            return Err(ConfigError::new(
                "window",
                "be at least B ticks (one tick per bucket)",
            ));
        }
        if failure_percent == 0 || failure_percent > 100 {
            return Err(ConfigError::new(
                "failure_percent",
                "be in 1..=100 (percent)",
            ));
        }
        if minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", "be at least 1"));
        }
        Ok(Self {
            buckets: [Bucket {
                epoch: 0,
                calls: 0,
                failures: 0,
                slow: 0,
            }; B],
            bucket_ticks,
            latest: 0,
            minimum_calls,
            failure_percent,
        })
    }

    #[inline]
    fn epoch(&self, now: Instant) -> u64 {
        let e = now.as_ticks().checked_div(self.bucket_ticks).unwrap_or(0);
        // The epoch is a non-decreasing function of time: judging at the
        // latest epoch seen is judging at the latest instant seen.
        time::at_latest_ticks(e, self.latest)
    }

    fn sum(&self, epoch: u64) -> WindowStats {
        let mut s = WindowStats::default();
        for b in &self.buckets {
            // A bucket belongs to the window if it is one of the last B.
            if b.calls != 0 && epoch.saturating_sub(b.epoch) < self.buckets.len() as u64 {
                s.calls = s.calls.saturating_add(b.calls);
                s.failures = s.failures.saturating_add(b.failures);
                s.slow = s.slow.saturating_add(b.slow);
            }
        }
        s
    }
}

impl<const B: usize> sealed::Judge for TimeWindow<B> {
    fn record(&mut self, call: Call, config: &Config, now: Instant) -> bool {
        let epoch = self.epoch(now);
        self.latest = epoch;
        let index = epoch.checked_rem(self.buckets.len() as u64).unwrap_or(0) as usize;
        let Some(b) = self.buckets.get_mut(index) else {
            return false;
        };
        if b.epoch != epoch {
            *b = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        b.calls = b.calls.saturating_add(1);
        b.failures = b.failures.saturating_add(u32::from(call.failed));
        b.slow = b.slow.saturating_add(u32::from(call.slow));
        // Old buckets leave the window as time passes, so any call, good or
        // bad, may be the one after which the rates are judged.
        let s = self.sum(epoch);
        s.calls >= self.minimum_calls
            && (reaches(s.failures, s.calls, self.failure_percent)
                || (config.slow_duration.as_ticks() != u64::MAX
                    && reaches(s.slow, s.calls, config.slow_percent)))
    }
    fn clear(&mut self) {
        for b in &mut self.buckets {
            *b = Bucket::default();
        }
    }
    fn stats(&self, now: Instant) -> WindowStats {
        self.sum(self.epoch(now))
    }
}
impl<const B: usize> Policy for TimeWindow<B> {
    #[cfg(feature = "sync")]
    type Shared = SharedCircuitBreaker<Self>;
}

/// A circuit breaker over failure policy `P`. See the [module docs](self)
/// for the state table and conventions.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CircuitBreaker<P: Policy = ConsecutiveFailures> {
    config: Config,
    policy: P,
    metrics: Metrics,
    // Open: admits again at `now >= until`. HalfOpen: outstanding probes
    // are written off at `now >= until`.
    until: Instant,
    generation: u32,
    // Trips without a close in between: grows the open duration.
    trips_in_row: u32,
    probes_in_flight: u16,
    // Probes admitted this half-open round, less those that gave their slot
    // back (ignored, written off): what `ProbeRule::PerRound` limits.
    probes_admitted: u16,
    probe_successes: u16,
    state: State,
    // The latest `now` seen: an earlier one is judged at it.
    latest: Instant,
}

impl<P: Policy> CircuitBreaker<P> {
    /// A closed breaker. Fails if a field of `config` is out of range
    /// (the policy checked its own fields when it was built).
    ///
    /// `const`, so a firmware can build it at compile time:
    ///
    /// ```
    /// use fusebox::breaker::{CircuitBreaker, Config, CountWindow};
    ///
    /// const BREAKER: CircuitBreaker<CountWindow<20>> = {
    ///     let policy = match CountWindow::new(50, 10) {
    ///         Ok(p) => p,
    ///         Err(_) => panic!("bad window"),
    ///     };
    ///     match CircuitBreaker::new(Config::new(), policy) {
    ///         Ok(b) => b,
    ///         Err(_) => panic!("bad breaker config"),
    ///     }
    /// };
    /// let breaker = BREAKER; // e.g. in a `static` behind a mutex
    /// # let _ = breaker;
    /// ```
    pub const fn new(config: Config, policy: P) -> Result<Self, ConfigError> {
        if let Err(e) = config.validate() {
            // Policies own no resources; forgetting one is free, and lets this
            // function stay `const` (a generic value cannot be dropped there).
            core::mem::forget(policy);
            return Err(e);
        }
        Ok(Self {
            config,
            policy,
            metrics: Metrics {
                admitted: 0,
                rejected: 0,
                successes: 0,
                failures: 0,
                slow: 0,
                ignored: 0,
                stale: 0,
                trips: 0,
            },
            until: Instant::from_ticks(0),
            generation: 0,
            trips_in_row: 0,
            probes_in_flight: 0,
            probes_admitted: 0,
            probe_successes: 0,
            state: State::Closed,
            latest: Instant::from_ticks(0),
        })
    }

    /// Ask to make a call at `now`.
    ///
    /// Closed (or ForcedClosed): always a permit. Open: rejected with the
    /// rest of the open duration, until `now` reaches its end; then the
    /// breaker moves to HalfOpen and this permit is the first probe
    /// ([`Permit::transition`] says so). HalfOpen: a permit while fewer than
    /// K probes are outstanding.
    #[inline]
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        let now = time::observe(&mut self.latest, now);
        let transition = match self.state {
            State::Closed | State::ForcedClosed => {
                self.metrics.admitted = self.metrics.admitted.wrapping_add(1);
                return Ok(Permit {
                    acquired_at: now,
                    generation: self.generation,
                    transition: None,
                });
            }
            State::Open => {
                if now < self.until {
                    return Err(self.reject(State::Open, Some(time::elapsed(now, self.until))));
                }
                self.probe_successes = 0;
                self.probes_in_flight = 0;
                self.probes_admitted = 0;
                Some(self.move_to(State::HalfOpen))
            }
            State::HalfOpen => {
                self.write_off_lost_probes(now);
                if self.probe_slots_taken() {
                    return Err(self.reject(State::HalfOpen, Some(time::elapsed(now, self.until))));
                }
                None
            }
            State::ForcedOpen => return Err(self.reject(State::ForcedOpen, None)),
        };
        // HalfOpen, with a free probe slot.
        self.probes_in_flight = self.probes_in_flight.saturating_add(1);
        self.probes_admitted = self.probes_admitted.saturating_add(1);
        self.until = time::add(now, self.config.probe_timeout);
        self.metrics.admitted = self.metrics.admitted.wrapping_add(1);
        Ok(Permit {
            acquired_at: now,
            generation: self.generation,
            transition,
        })
    }

    /// Hand back `permit` with the outcome of its call, at `now`. Returns the
    /// transition this made, if any.
    ///
    /// A permit from an older generation (issued before a state change, or a
    /// probe written off after the probe timeout) changes nothing.
    #[inline]
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition> {
        let now = time::observe(&mut self.latest, now);
        // The common case first: a call admitted while closed, recorded
        // while still closed.
        if self.state == State::Closed && permit.generation == self.generation {
            let failed = match outcome {
                Outcome::Success => false,
                Outcome::Failure => true,
                Outcome::Ignored => {
                    self.metrics.ignored = self.metrics.ignored.wrapping_add(1);
                    return None;
                }
            };
            let call = Call {
                failed,
                slow: self.is_slow(&permit, now),
            };
            self.count(call);
            return if self.policy.record(call, &self.config, now) {
                Some(self.trip(now))
            } else {
                None
            };
        }
        self.record_other(permit, outcome, now)
    }

    /// `record` outside the closed fast path: half-open probes, stale
    /// permits, a held-closed breaker. Kept out of line so that the fast
    /// path stays small where flash is scarce.
    #[inline(never)]
    fn record_other(
        &mut self,
        permit: Permit,
        outcome: Outcome,
        now: Instant,
    ) -> Option<Transition> {
        if self.state == State::HalfOpen {
            self.write_off_lost_probes(now);
        }
        if permit.generation != self.generation {
            self.metrics.stale = self.metrics.stale.wrapping_add(1);
            return None;
        }
        let slow = self.is_slow(&permit, now);
        let call = match outcome {
            Outcome::Success => Call {
                failed: false,
                slow,
            },
            Outcome::Failure => Call { failed: true, slow },
            Outcome::Ignored => {
                self.metrics.ignored = self.metrics.ignored.wrapping_add(1);
                if self.state == State::HalfOpen {
                    // It says nothing of the dependency: its slot goes back,
                    // under either probe rule.
                    self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                    self.probes_admitted = self.probes_admitted.saturating_sub(1);
                }
                return None;
            }
        };
        self.count(call);
        match self.state {
            State::HalfOpen => {
                self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                if call.failed || call.slow {
                    return Some(self.trip(now));
                }
                self.probe_successes = self.probe_successes.saturating_add(1);
                if self.probe_successes >= self.config.half_open_successes {
                    self.trips_in_row = 0;
                    self.policy.clear();
                    Some(self.move_to(State::Closed))
                } else {
                    None
                }
            }
            // Closed with this generation took the fast path; Open and
            // ForcedOpen issue no permits, so a permit of the current
            // generation cannot reach them; ForcedClosed only counts.
            State::Closed | State::Open | State::ForcedOpen | State::ForcedClosed => None,
        }
    }

    /// The state as the next [`try_acquire`](Self::try_acquire) will see it:
    /// an Open breaker whose open duration has passed reports HalfOpen (the
    /// transition itself is returned by the `try_acquire` that makes it).
    pub fn state(&self, now: Instant) -> State {
        let now = time::at_latest(now, self.latest);
        match self.state {
            State::Open if now >= self.until => State::HalfOpen,
            s => s,
        }
    }

    /// Half-open probe permits held at `now`: admitted in this half-open
    /// round and not yet recorded (a dropped permit is recorded Ignored by
    /// its holder); 0 outside HalfOpen, and 0 once the probe timeout has
    /// written them off. With no call in flight it must be 0: a leak check.
    ///
    /// ```
    /// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, State};
    /// use fusebox::time::{Duration, Instant};
    ///
    /// let t = Instant::from_ticks;
    /// let config = Config::new().open_duration(Duration::from_ticks(10)).half_open_probes(2);
    /// let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1)?)?;
    /// let call = b.try_acquire(t(0)).expect("closed");
    /// b.record(call, Outcome::Failure, t(0)); // trips
    /// let probe = b.try_acquire(t(10)).expect("half-open: a probe");
    /// assert_eq!((b.state(t(10)), b.probes_in_flight(t(10))), (State::HalfOpen, 1));
    /// b.record(probe, Outcome::Ignored, t(11)); // the call was cancelled
    /// assert_eq!(b.probes_in_flight(t(11)), 0);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn probes_in_flight(&self, now: Instant) -> u32 {
        let now = time::at_latest(now, self.latest);
        match self.state {
            State::HalfOpen if now < self.until => u32::from(self.probes_in_flight),
            _ => 0,
        }
    }

    /// How long until the breaker admits a call again: `Some` while Open
    /// (the rest of the open duration) or HalfOpen with every probe slot
    /// taken (the time until they are written off, at the latest); `None`
    /// when it admits now, or is held open by [`isolate`](Self::isolate)
    /// with no end.
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        let now = time::at_latest(now, self.latest);
        match self.state {
            State::Open if now < self.until => Some(time::elapsed(now, self.until)),
            State::HalfOpen if self.probe_slots_taken() && now < self.until => {
                Some(time::elapsed(now, self.until))
            }
            _ => None,
        }
    }

    /// Hold the breaker open, rejecting every call, until
    /// [`reset`](Self::reset) or [`force_closed`](Self::force_closed).
    pub fn isolate(&mut self) -> Option<Transition> {
        self.force(State::ForcedOpen)
    }

    /// Hold the breaker closed, admitting every call and never tripping
    /// (outcomes are still counted in [`metrics`](Self::metrics)), until
    /// [`reset`](Self::reset) or [`isolate`](Self::isolate).
    pub fn force_closed(&mut self) -> Option<Transition> {
        self.force(State::ForcedClosed)
    }

    /// Back to Closed with an empty window and the open duration back at its
    /// initial value. Metrics are kept.
    pub fn reset(&mut self) -> Option<Transition> {
        self.trips_in_row = 0;
        self.force(State::Closed)
    }

    /// The counters.
    pub const fn metrics(&self) -> Metrics {
        self.metrics
    }

    /// What the policy's window holds at `now`, judged at the latest
    /// instant the breaker has seen if `now` is earlier (the policy's own
    /// [`Policy::window`] knows only the instants of the outcomes it was
    /// given).
    pub fn window(&self, now: Instant) -> WindowStats {
        self.policy.window(time::at_latest(now, self.latest))
    }

    /// The failure policy (its [`Policy::window`] gives the window's counts).
    pub const fn policy(&self) -> &P {
        &self.policy
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    fn force(&mut self, to: State) -> Option<Transition> {
        self.policy.clear();
        self.probes_in_flight = 0;
        self.probes_admitted = 0;
        self.probe_successes = 0;
        // A new generation even when the state stays: outcomes of calls made
        // before a manual change must not count after it.
        let t = self.move_to(to);
        (t.from != t.to).then_some(t)
    }

    #[inline]
    fn is_slow(&self, permit: &Permit, now: Instant) -> bool {
        self.config.slow_duration.as_ticks() != u64::MAX
            && time::elapsed(permit.acquired_at, now) >= self.config.slow_duration
    }

    #[inline]
    fn reject(&mut self, state: State, retry_after: Option<Duration>) -> Rejected {
        self.metrics.rejected = self.metrics.rejected.wrapping_add(1);
        Rejected { state, retry_after }
    }

    #[inline]
    fn count(&mut self, call: Call) {
        let m = &mut self.metrics;
        if call.failed {
            m.failures = m.failures.wrapping_add(1);
        } else {
            m.successes = m.successes.wrapping_add(1);
        }
        if call.slow {
            m.slow = m.slow.wrapping_add(1);
        }
    }

    /// Whether HalfOpen must refuse another probe now, under the rule.
    #[inline]
    fn probe_slots_taken(&self) -> bool {
        let counted = match self.config.probe_rule {
            ProbeRule::InFlight => self.probes_in_flight,
            ProbeRule::PerRound => self.probes_admitted,
        };
        counted >= self.config.half_open_probes
    }

    fn write_off_lost_probes(&mut self, now: Instant) {
        if self.probes_in_flight > 0 && now >= self.until {
            // Lost probes give their slots back under either rule.
            self.probes_admitted = self.probes_admitted.saturating_sub(self.probes_in_flight);
            self.probes_in_flight = 0;
            self.generation = self.generation.wrapping_add(1);
        }
    }

    fn trip(&mut self, now: Instant) -> Transition {
        self.trips_in_row = self.trips_in_row.saturating_add(1);
        self.metrics.trips = self.metrics.trips.wrapping_add(1);
        self.until = time::add(now, self.config.open.after(self.trips_in_row));
        self.probes_in_flight = 0;
        self.probes_admitted = 0;
        self.probe_successes = 0;
        self.move_to(State::Open)
    }

    fn move_to(&mut self, to: State) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation = self.generation.wrapping_add(1);
        Transition { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ticks: u64) -> Instant {
        Instant::from_ticks(ticks)
    }

    #[test]
    fn open_duration_grows_and_saturates_at_the_cap() {
        let c = Config::new().open_duration_growing(
            Duration::from_ticks(10),
            3,
            Duration::from_ticks(200),
        );
        let got: [u64; 5] = [1, 2, 3, 4, 5].map(|n| c.open_duration_after(n).as_ticks());
        assert_eq!(got, [10, 30, 90, 200, 200]);
        assert_eq!(c.open_duration_after(u32::MAX).as_ticks(), 200);
        let huge = Config::new().open_duration_growing(
            Duration::from_ticks(u64::MAX / 2),
            u32::MAX,
            Duration::MAX,
        );
        assert_eq!(huge.open_duration_after(3), Duration::MAX);
    }

    #[test]
    fn rate_comparison_is_exact_at_the_threshold() {
        assert!(reaches(1, 2, 50));
        assert!(!reaches(49, 100, 50));
        assert!(reaches(u32::MAX, u32::MAX, 100));
    }

    #[test]
    fn time_window_forgets_buckets_older_than_b() {
        let mut w = TimeWindow::<4>::new(Duration::from_ticks(40), 50, 1).unwrap();
        use sealed::Judge;
        w.record(
            Call {
                failed: true,
                slow: false,
            },
            &Config::new(),
            t(5),
        );
        assert_eq!(w.stats(t(39)).failures, 1);
        assert_eq!(w.stats(t(40)).failures, 0);
        // Backwards time lands in the newest bucket seen.
        w.record(
            Call {
                failed: false,
                slow: false,
            },
            &Config::new(),
            t(35),
        );
        w.record(
            Call {
                failed: false,
                slow: false,
            },
            &Config::new(),
            t(1),
        );
        assert_eq!(w.stats(t(0)).calls, 3);
    }
}
