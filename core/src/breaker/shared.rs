//! [`SharedCircuitBreaker`]: the circuit breaker behind `&self` (feature
//! `sync`), lock-free where the CPU has a 128-bit compare-and-swap.

use super::{
    Call, Config, ConsecutiveFailures, CountWindow, Metrics, Outcome, Permit, Policy, ProbeRule,
    Rejected, State, Transition, WindowStats, reaches,
};
use crate::ConfigError;
use crate::atomic::{AtomicU32, AtomicU128, Ordering};
use crate::shard::Padded;
use crate::time::{self, Duration, Instant};

mod ledger;

// ---------------------------------------------------------------------------
// The control word.
//
// One `AtomicU128`, changed only by compare-and-swap; every transition is
// one successful CAS on it (or, for window policies leaving Closed, the CAS
// that completes an exit the window word has already sealed, see below).
//
//   bits   0..64   `at`: an instant in ticks. Closed: when it closed (the
//                  floor of every permit's start), or when the current
//                  counting interval began (an interval policy, once one
//                  has begun: the later of the two). Open: when it tripped
//                  (it admits again at `at + open duration`). HalfOpen: when
//                  the last probe was admitted (probes are written off at
//                  `at + probe timeout`). Forced states keep the last one.
//   bits  64..67   state (Closed 0, Open 1, HalfOpen 2, ForcedOpen 3,
//                  ForcedClosed 4)
//   bits  67..99   generation (32 bits, wrapping, as the `&mut` breaker's)
//   bits  99..128  29 bits of payload, laid out per breaker (`Layout`):
//                  Closed: the run of consecutive failures
//                          (`ConsecutiveFailures`; 0 for window policies),
//                          and with a counting interval bit 28 says whether
//                          the interval has begun (`at` is its start)
//                  other:  probes in flight (`kb` bits, enough for K),
//                          probe successes (`sb` bits, enough for S - 1),
//                          trips in a row (the rest, saturating at the
//                          schedule's `trip_cap`)
//
// The probes admitted in a half-open round (`ProbeRule::PerRound`) need no
// bits: they are the probes in flight plus the successes (the `&mut`
// breaker's counts keep that sum: an admission adds to both sides, a success
// moves one probe from flight to the successes, an ignored or written-off
// probe leaves both). The trip count matters only until the break-duration
// schedule reaches its last value: `trip_cap` is the first trip count from
// which `BreakDuration::after` no longer changes (up to `u32::MAX`, where
// the `&mut` breaker's count saturates), so counting to it and no further
// gives every open duration exactly.
// ---------------------------------------------------------------------------

const PAYLOAD_BITS: u32 = 29;
const RUN_MAX: u32 = (1 << PAYLOAD_BITS) - 1;
const INTERVAL_RUN_MAX: u32 = (1 << (PAYLOAD_BITS - 1)) - 1;

/// How a breaker lays out the control word's payload (fixed at `new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bits of the probes in flight.
    kb: u8,
    /// Bits of the probe successes.
    sb: u8,
    /// The trip count saturates here (see above).
    trip_cap: u32,
    /// The Closed payload holds an interval's "begun" bit.
    interval: bool,
}

/// Bits to hold `x`.
const fn bits(x: u32) -> u32 {
    u32::BITS.saturating_sub(x.leading_zeros())
}

impl Layout {
    #[cfg(test)]
    const WIDEST: Self = Self {
        kb: 11,
        sb: 11,
        trip_cap: 127,
        interval: false,
    };

    /// The layout for `config`, or the field that does not fit.
    fn new(config: &Config, interval: bool) -> Result<Self, ConfigError> {
        let kb = bits(u32::from(config.half_open_probes));
        let sb = bits(u32::from(config.half_open_successes).saturating_sub(1));
        let trip_cap = trip_cap(config);
        let tb = bits(trip_cap);
        if kb.saturating_add(sb).saturating_add(tb) > PAYLOAD_BITS {
            let field = if tb > 7 {
                "open_duration"
            } else if kb >= sb {
                "half_open_probes"
            } else {
                "half_open_successes"
            };
            return Err(ConfigError::new(
                field,
                "fit the SharedCircuitBreaker's 29-bit payload with half_open_probes and half_open_successes (bits of K + bits of S - 1 + bits of the trips until the break duration stops changing <= 29; e.g. K, S <= 2047 with a schedule settled by trip 127): lower them, or settle the schedule sooner (a shorter table, a larger linear step)",
            ));
        }
        Ok(Self {
            // Both at most 16 (u16 counts).
            kb: kb as u8,
            sb: sb as u8,
            trip_cap,
            interval,
        })
    }

    const fn mask(b: u32) -> u32 {
        match u32::MAX.checked_shr(32u32.saturating_sub(b)) {
            Some(m) if b != 0 => m,
            _ => 0,
        }
    }
}

/// The first trip count from which the open duration no longer changes.
fn trip_cap(config: &Config) -> u32 {
    use super::BreakDuration;
    match config.break_duration_schedule() {
        BreakDuration::Constant(_) => 1,
        // A table's entries may go up and down; it settles at its end.
        BreakDuration::Table(t) => u32::try_from(t.len()).unwrap_or(u32::MAX).max(1),
        // Non-decreasing laws: the first n that gives the last value.
        BreakDuration::Geometric { .. } | BreakDuration::Linear { .. } => {
            let last = config.open_duration_after(u32::MAX);
            let (mut lo, mut hi) = (1u32, u32::MAX);
            while lo < hi {
                let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
                if config.open_duration_after(mid) == last {
                    hi = mid;
                } else {
                    lo = mid.saturating_add(1);
                }
            }
            lo
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    at: u64,
    state: State,
    generation: u32,
    // Closed: the run of failures. Otherwise: probes in flight.
    a: u32,
    // Probe successes (not Closed).
    successes: u32,
    // Trips in a row (not Closed; 0 in Closed by construction).
    trips: u32,
    // Closed, interval policies: the interval has begun at `at`.
    begun: bool,
}

impl Word {
    const fn initial() -> Self {
        Self {
            at: 0,
            state: State::Closed,
            generation: 0,
            a: 0,
            successes: 0,
            trips: 0,
            begun: false,
        }
    }

    fn pack(self, l: Layout) -> u128 {
        let state: u64 = match self.state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::ForcedClosed => 4,
        };
        let payload = if self.state == State::Closed {
            if l.interval {
                (self.a & INTERVAL_RUN_MAX) | (u32::from(self.begun) << (PAYLOAD_BITS - 1))
            } else {
                self.a & RUN_MAX
            }
        } else {
            let (kb, sb) = (u32::from(l.kb), u32::from(l.sb));
            let tb = PAYLOAD_BITS.saturating_sub(kb).saturating_sub(sb);
            (self.a & Layout::mask(kb))
                | ((self.successes & Layout::mask(sb)) << kb)
                | ((self.trips & Layout::mask(tb)) << kb.saturating_add(sb))
        };
        let hi = state | (u64::from(self.generation) << 3) | (u64::from(payload) << 35);
        (u128::from(hi) << 64) | u128::from(self.at)
    }

    fn unpack(v: u128, l: Layout) -> Self {
        let hi = (v >> 64) as u64;
        let state = match hi & 7 {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            4 => State::ForcedClosed,
            _ => State::ForcedOpen,
        };
        let payload = (hi >> 35) as u32;
        let (a, successes, trips, begun) = if state == State::Closed {
            if l.interval {
                (
                    payload & INTERVAL_RUN_MAX,
                    0,
                    0,
                    (payload >> (PAYLOAD_BITS - 1)) & 1 == 1,
                )
            } else {
                (payload & RUN_MAX, 0, 0, false)
            }
        } else {
            let (kb, sb) = (u32::from(l.kb), u32::from(l.sb));
            let tb = PAYLOAD_BITS.saturating_sub(kb).saturating_sub(sb);
            (
                payload & Layout::mask(kb),
                (payload >> kb) & Layout::mask(sb),
                (payload >> kb.saturating_add(sb)) & Layout::mask(tb),
                false,
            )
        };
        Self {
            at: v as u64,
            state,
            generation: (hi >> 3) as u32,
            a,
            successes,
            trips,
            begun,
        }
    }

    /// The same word in a new generation, in state `to`, with the payload
    /// cleared (`trips` already capped by the caller).
    fn moved(self, to: State, at: u64, trips: u32) -> Self {
        Self {
            at,
            state: to,
            generation: self.generation.wrapping_add(1),
            a: 0,
            successes: 0,
            trips: if to == State::Closed { 0 } else { trips },
            begun: false,
        }
    }
}

/// What a policy's Closed-state count gets to work with.
pub struct Cx<'a> {
    /// The control word.
    pub ctrl: &'a AtomicU128,
    /// The breaker's configuration.
    pub config: &'a Config,
    /// The control word's layout.
    pub layout: Layout,
}

impl Cx<'_> {
    fn cas(&self, old: Word, new: Word) -> bool {
        self.ctrl
            .compare_exchange(
                old.pack(self.layout),
                new.pack(self.layout),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// An instant no earlier than what the state records: the time rule.
#[inline]
fn floor(now: Instant, at: u64) -> u64 {
    let n = now.as_ticks();
    if n < at { at } else { n }
}

/// The caller's clock, read at most once, and only when a decision needs
/// the time (see [`SharedCircuitBreaker::try_acquire_with`]).
struct LazyNow<F> {
    read: Option<F>,
    at: Instant,
}

impl<F: FnOnce() -> Instant> LazyNow<F> {
    #[inline(always)]
    const fn new(read: F) -> Self {
        Self {
            read: Some(read),
            at: Instant::from_ticks(0),
        }
    }

    /// The instant, read on first use.
    #[inline(always)]
    fn now(&mut self) -> Instant {
        if let Some(read) = self.read.take() {
            self.at = read();
        }
        self.at
    }

    /// The instant no earlier than `at` (the time rule), read on first use.
    #[inline(always)]
    fn floor(&mut self, at: u64) -> u64 {
        floor(self.now(), at)
    }
}

// ---------------------------------------------------------------------------
// Padding and striped metrics.
// ---------------------------------------------------------------------------

/// Metrics stripes: on servers each thread counts in one of 8 stripes
/// chosen by its stack address, so that counting does not bounce one cache
/// line between cores; on microcontrollers one (and under loom, whose
/// models need not explore the counters' interleavings eight times over).
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(loom)))]
const STRIPES: usize = 8;
#[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(loom))))]
const STRIPES: usize = 1;

#[derive(Debug)]
struct Stripe {
    rejected: AtomicU32,
    successes: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
    ignored: AtomicU32,
    stale: AtomicU32,
    trips: AtomicU32,
}

impl Stripe {
    fn new() -> Padded<Self> {
        Padded(Self {
            rejected: AtomicU32::new(0),
            successes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            slow: AtomicU32::new(0),
            ignored: AtomicU32::new(0),
            stale: AtomicU32::new(0),
            trips: AtomicU32::new(0),
        })
    }
}

#[inline]
fn bump(c: &AtomicU32) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A success counter that one thread at a time writes, for
/// [`SharedCircuitBreaker::record_with_lane`]: the healthy path's count
/// without a locked read-modify-write (a relaxed load and a store; on
/// x86_64 a `lock xadd` on the breaker's own metrics stripe costs 5 to
/// 10 ns, more than the rest of a healthy call).
///
/// The caller owns the lanes and adds them to the breaker's
/// [`metrics`](SharedCircuitBreaker::metrics) when it reads them (see
/// [`Lane::add_to`]). A lane written by two threads at once loses counts
/// (never memory safety, never a panic): give each thread its own, as
/// fusebox-std's `Breaker` does with one lane per thread index. 4 bytes.
///
/// ```
/// use fusebox::breaker::{Config, CountWindow, Lane, Outcome, SharedCircuitBreaker};
/// use fusebox::time::Instant;
///
/// let b = SharedCircuitBreaker::new(Config::new(), CountWindow::<2>::builder().build()?)?;
/// let lane = Lane::new();
/// let t = Instant::from_ticks(0);
/// for _ in 0..3 {
///     let p = b.try_acquire(t).expect("closed");
///     b.record_with_lane(&lane, p, Outcome::Success, || t);
/// }
/// // The third success found the window settled: it went to the lane.
/// assert_eq!((b.metrics().successes, lane.successes()), (2, 1));
/// assert_eq!(lane.add_to(b.metrics()).successes, 3);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Lane {
    successes: AtomicU32,
}

impl Lane {
    crate::atomic::const_unless_loom! {
    /// A lane with no count.
    pub const fn new() -> Self {
        Self {
            successes: AtomicU32::new(0),
        }
    }
    }

    /// The successes counted here (wrapping at `u32::MAX`).
    pub fn successes(&self) -> u32 {
        self.successes.load(Ordering::Relaxed)
    }

    /// `metrics` (a breaker's [`metrics`](SharedCircuitBreaker::metrics))
    /// with this lane's successes added: to `successes` and to the
    /// derived `admitted`.
    #[must_use]
    pub fn add_to(&self, metrics: Metrics) -> Metrics {
        let n = self.successes();
        Metrics {
            successes: metrics.successes.wrapping_add(n),
            admitted: metrics.admitted.wrapping_add(n),
            ..metrics
        }
    }

    /// Count one success: one writer at a time (see the type's docs).
    #[inline]
    fn count(&self) {
        let c = &self.successes;
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

impl Default for Lane {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// Policies.
// ---------------------------------------------------------------------------

/// How a window policy's exit from Closed is sealed in its window word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Tripped at this instant.
    Trip(u64),
    /// A manual change to this state.
    Force(State),
}

/// What sealing a manual exit from Closed did.
pub enum Seal {
    /// The policy keeps nothing to seal: the control word's CAS decides.
    Nothing,
    /// Sealed: the exit is this call's; complete it.
    Sealed,
    /// Another exit was sealed first: complete that one, then look again.
    Taken,
}

/// What recording a Closed-state call did.
pub enum Step {
    /// Counted; `true` if it tripped the breaker (the exit may still need
    /// completing in the control word).
    Counted(bool),
    /// The state moved on before the call was counted: read again.
    Retry,
}

pub(crate) mod sealed {
    use super::*;

    /// Seals [`SharedBreaker`](super::SharedBreaker).
    pub trait Form {}

    /// The shared side of a policy: where its Closed-state data lives and
    /// how a call is counted there. A policy whose data fits in the control
    /// word's payload keeps it there; a window keeps a window word of its
    /// own that seals every exit from Closed before the control word moves.
    pub trait Share: Sized {
        /// The shared data.
        type Shared: Sync + core::fmt::Debug;
        /// Whether the control word's Closed payload holds an interval's
        /// "begun" bit.
        fn has_interval(&self) -> bool {
            false
        }
        /// Check the policy's fields against the shared word's limits and
        /// build the shared data.
        fn share(self) -> Result<Self::Shared, ConfigError>;
        /// The exit sealed for Closed generation `generation`, if any.
        fn sealed_exit(s: &Self::Shared, generation: u32) -> Option<Exit>;
        /// Seal a manual exit from Closed generation `generation`.
        fn seal(s: &Self::Shared, generation: u32, to: State) -> Seal;
        /// Count `call` in Closed word `w` (whose generation is the
        /// permit's) at `t`.
        fn count(s: &Self::Shared, cx: &Cx<'_>, w: Word, call: Call, t: u64) -> Step;
        /// [`count`](Self::count), reading the instant from `t` only if
        /// the count needs it (by default it always does: a time window's
        /// bucket, a counting interval). `t` gives the same instant on
        /// every call.
        #[inline]
        fn count_lazy(
            s: &Self::Shared,
            cx: &Cx<'_>,
            w: Word,
            call: Call,
            mut t: impl FnMut() -> u64,
        ) -> Step {
            Self::count(s, cx, w, call, t())
        }
        /// The window's counts in Closed word `w`, judged at `t`.
        fn stats(s: &Self::Shared, w: Word, t: u64) -> WindowStats;
        /// Whether a success (not slow) of a permit of Closed generation
        /// `generation` would change nothing in the policy's data, judged
        /// on that data alone: then the control word is still Closed in
        /// that generation (every exit from Closed is sealed in the data
        /// first), and the breaker only counts the success. `false` where
        /// the data cannot tell (the default: the control word decides).
        #[inline(always)]
        fn settled_success(_s: &Self::Shared, _generation: u32) -> bool {
            false
        }
    }
}

/// A failure policy a [`SharedCircuitBreaker`] can share: every policy,
/// [`ConsecutiveFailures`] (its run lives in the control word, and so does a
/// counting interval), [`CountWindow`] (a window word and a ring of atomic
/// slots), [`TimeWindow`](super::TimeWindow) and
/// [`FailureCount`](super::FailureCount) (a window word and one 128-bit
/// atomic per bucket, see the source of `shared/ledger.rs`). Sealed.
///
/// ```
/// use fusebox::breaker::{Config, Outcome, SharedCircuitBreaker, State, TimeWindow};
/// use fusebox::time::{Duration, Instant};
///
/// // 50 % of the calls of the last 10 s (ten 1 s buckets), once 4 are in.
/// let policy = TimeWindow::<10>::builder(Duration::from_secs(10)).failure_rate(50).minimum_calls(4).build()?;
/// let breaker = SharedCircuitBreaker::new(Config::new(), policy)?;
/// let t = Instant::from_secs;
/// std::thread::scope(|s| {
///     for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success] {
///         let breaker = &breaker;
///         s.spawn(move || {
///             let permit = breaker.try_acquire(t(1)).expect("closed");
///             breaker.record(permit, outcome, t(1));
///         });
///     }
/// });
/// assert_eq!(breaker.window(t(1)).calls, 3);
/// // The 4th call, a failure: 2 of 4 failed, 50 %.
/// let permit = breaker.try_acquire(t(2)).expect("closed");
/// assert!(breaker.record(permit, Outcome::Failure, t(2)).is_some());
/// assert_eq!(breaker.state(t(2)), State::Open);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub trait SharedPolicy: Policy + sealed::Share {}

/// The shared data of [`ConsecutiveFailures`]: its threshold and counting
/// interval (0 when off).
#[derive(Debug, Clone, Copy)]
pub struct SharedRun {
    threshold: u32,
    interval: u64,
}

impl sealed::Share for ConsecutiveFailures {
    type Shared = SharedRun;

    fn has_interval(&self) -> bool {
        self.counting_interval().is_some()
    }

    fn share(self) -> Result<SharedRun, ConfigError> {
        let interval = self.counting_interval().map_or(0, |d| d.as_ticks());
        if interval != 0 && self.threshold > INTERVAL_RUN_MAX {
            return Err(ConfigError::new(
                "failure_threshold",
                "be in 1..=268435455 for a SharedCircuitBreaker with a counting interval (the run and the interval's begun bit share its 128-bit state word)",
            ));
        }
        if self.threshold > RUN_MAX {
            return Err(ConfigError::new(
                "failure_threshold",
                "be in 1..=536870911 for a SharedCircuitBreaker (the run shares its 128-bit state word)",
            ));
        }
        Ok(SharedRun {
            threshold: self.threshold,
            interval,
        })
    }
    fn sealed_exit(_: &SharedRun, _: u32) -> Option<Exit> {
        None
    }
    fn seal(_: &SharedRun, _: u32, _: State) -> Seal {
        // The run lives in the control word, whose CAS is the exit itself.
        Seal::Nothing
    }
    #[inline]
    fn count(s: &SharedRun, cx: &Cx<'_>, w: Word, call: Call, t: u64) -> Step {
        Self::count_lazy(s, cx, w, call, || t)
    }
    /// Time is read only with a counting interval, or by a failure that
    /// trips: a success, or a failure that only lengthens the run, changes
    /// no instant.
    #[inline]
    fn count_lazy(
        s: &SharedRun,
        cx: &Cx<'_>,
        w: Word,
        call: Call,
        mut t: impl FnMut() -> u64,
    ) -> Step {
        // A counting interval: `at` is its start once begun; an outcome at
        // or after its end begins a new one at `t` with the run cleared.
        let roll = s.interval != 0 && {
            let t = t();
            !w.begun || t >= w.at.saturating_add(s.interval)
        };
        let base = if roll {
            Word {
                a: 0,
                at: t(),
                begun: true,
                ..w
            }
        } else {
            w
        };
        let new = if call.failed || call.slow {
            let run = base.a.saturating_add(1).min(RUN_MAX);
            if run >= s.threshold {
                w.moved(State::Open, t(), 1)
            } else {
                Word { a: run, ..base }
            }
        } else if base == w && w.a == 0 {
            // A success with no run to reset (and no interval to begin):
            // nothing changes, nothing is written.
            return Step::Counted(false);
        } else {
            Word { a: 0, ..base }
        };
        if cx.cas(w, new) {
            Step::Counted(new.state == State::Open)
        } else {
            Step::Retry
        }
    }
    fn stats(s: &SharedRun, w: Word, t: u64) -> WindowStats {
        let over = s.interval != 0 && w.begun && t >= w.at.saturating_add(s.interval);
        let run = if over { 0 } else { w.a };
        WindowStats {
            calls: run,
            failures: run,
            slow: 0,
        }
    }
}
impl SharedPolicy for ConsecutiveFailures {}

// ---------------------------------------------------------------------------
// CountWindow, shared.
//
// The window word (one `AtomicU128`) is the truth while Closed:
//
//   bits   0..32   the Closed generation it counts for
//   bits  32..35   sealed exit: 0 none, 1 trip, 2 ForcedOpen,
//                  3 ForcedClosed, 4 Closed (reset)
//   bits  35..99   open:   head (next slot), len, failures, slow (16 bits
//                          each: N <= 65535)
//                  sealed: the instant of the trip (64 bits)
//   bits  99..101  the pending call's code, bit 101 whether one is pending
//   bits 102..128  lap: how many times head wrapped (26 bits, wrapping)
//
// A call is counted by one CAS on the window word, its linearization point:
// it advances head, updates the counts with the evicted call's code, and
// leaves its own code *pending*. The slot write (`slot[head] = code`) comes
// after, by whoever counts next (every counter first helps the pending
// write home), so the ring needs no lock. Each slot holds `lap << 2 | code`
// and a helper writes only over an older lap: a helper delayed past the
// next lap writes nothing.
//
// A call that trips seals the exit, with its instant, in that same CAS, so
// anyone who sees the sealed word can complete the exit in the control word;
// `try_acquire` in Closed checks the window word for a sealed exit, so no
// call is admitted once the trip is linearized. Manual changes seal their
// exit the same way. The next Closed generation starts an empty window at
// head 0 of the next lap. A healthy success (full window, no failure,
// nothing slow) changes nothing and writes nothing.
// ---------------------------------------------------------------------------

const LAP_BITS: u32 = 26;
const LAP_MASK: u32 = (1 << LAP_BITS) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Win {
    generation: u32,
    exit: u8,
    head: u32,
    len: u32,
    failures: u32,
    slow: u32,
    // The instant of the trip, when sealed by one.
    at: u64,
    pending: Option<u8>,
    lap: u32,
}

impl Win {
    /// The generation of packed word `v`.
    #[inline(always)]
    const fn generation_of(v: u128) -> u32 {
        v as u32
    }

    /// The sealed exit code of packed word `v` (0: open).
    #[inline(always)]
    const fn exit_of(v: u128) -> u8 {
        ((v >> 32) as u8) & 7
    }

    /// Packed word `v` counts for `generation`, is not sealed, holds `n`
    /// calls or more, and none failed or was slow.
    #[inline(always)]
    const fn healthy(v: u128, generation: u32, n: usize) -> bool {
        let middle = (v >> 35) as u64;
        Self::generation_of(v) == generation
            && Self::exit_of(v) == 0
            && ((middle >> 16) & 0xFFFF) as usize >= n
            && (middle >> 32) & 0xFFFF_FFFF == 0
    }

    fn pack(self) -> u128 {
        let f = |x: u32| u128::from(x & 0xFFFF);
        let middle = if self.exit == 0 {
            f(self.head) | (f(self.len) << 16) | (f(self.failures) << 32) | (f(self.slow) << 48)
        } else {
            u128::from(self.at)
        };
        u128::from(self.generation)
            | (u128::from(self.exit & 7) << 32)
            | (middle << 35)
            | (u128::from(self.pending.unwrap_or(0) & 3) << 99)
            | (u128::from(self.pending.is_some()) << 101)
            | (u128::from(self.lap & LAP_MASK) << 102)
    }
    fn unpack(v: u128) -> Self {
        let exit = ((v >> 32) as u8) & 7;
        let middle = (v >> 35) as u64;
        let f = |shift: u32| ((middle >> shift) as u32) & 0xFFFF;
        let open = exit == 0;
        Self {
            generation: v as u32,
            exit,
            head: if open { f(0) } else { 0 },
            len: if open { f(16) } else { 0 },
            failures: if open { f(32) } else { 0 },
            slow: if open { f(48) } else { 0 },
            at: if open { 0 } else { middle },
            pending: if (v >> 101) & 1 == 1 {
                Some(((v >> 99) as u8) & 3)
            } else {
                None
            },
            lap: ((v >> 102) as u32) & LAP_MASK,
        }
    }
}

const EXIT_TRIP: u8 = 1;

fn exit_code(to: State) -> u8 {
    match to {
        State::ForcedOpen => 2,
        State::ForcedClosed => 3,
        _ => 4,
    }
}

/// `a` is a later lap than `b` (26-bit wrapping laps, half the range
/// ahead).
fn later_lap(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b) & LAP_MASK;
    d != 0 && d < (1 << (LAP_BITS - 1))
}

/// The shared side of a [`CountWindow`]: its window word and its ring of
/// slots.
#[derive(Debug)]
pub struct SharedCountWindow<const N: usize> {
    word: Padded<AtomicU128>,
    slots: [AtomicU32; N],
    minimum_calls: u32,
    failure_percent: u8,
}

impl<const N: usize> SharedCountWindow<N> {
    fn load(&self) -> Win {
        Win::unpack(self.word.0.load(Ordering::Acquire))
    }

    fn cas(&self, old: Win, new: Win) -> bool {
        self.word
            .0
            .compare_exchange(old.pack(), new.pack(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Write the pending call of `w` into its slot, unless done already.
    fn help(&self, w: Win) {
        let Some(code) = w.pending else { return };
        let (index, lap) = if w.head == 0 {
            (N.saturating_sub(1), w.lap.wrapping_sub(1) & LAP_MASK)
        } else {
            (w.head.wrapping_sub(1) as usize, w.lap)
        };
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let mut seen = slot.load(Ordering::Acquire);
        // Only over an older lap: anything else means the write was done,
        // or the window moved on past it. A slot left untouched for 2^25
        // laps or more (every generation starts a lap, and a short one may
        // not reach it) looks *later*: while the window word is still `w`
        // nothing later can have been written, so it is overwritten then.
        while (seen >> 2) != lap
            && (later_lap(lap, seen >> 2) || self.word.0.load(Ordering::Acquire) == w.pack())
        {
            match slot.compare_exchange(
                seen,
                (lap << 2) | u32::from(code),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }

    /// The code of the call at `w`'s head, which the next call evicts (the
    /// window is full). `None` if the window word moved on meanwhile.
    fn evicted(&self, w: Win) -> Option<u8> {
        if N == 1 {
            return Some(w.pending.unwrap_or(0));
        }
        let v = self.slots.get(w.head as usize)?.load(Ordering::Acquire);
        ((v >> 2) == (w.lap.wrapping_sub(1) & LAP_MASK)).then_some((v & 3) as u8)
    }

    /// `w` after one more call of `code` (evicting `old` if full) at `t`
    /// (read only if the call trips the breaker).
    fn advanced(
        &self,
        w: Win,
        code: u8,
        old: u8,
        t: &mut impl FnMut() -> u64,
        config: &Config,
    ) -> Win {
        let mut n = w;
        let reached_minimum = if w.len as usize >= N {
            n.failures = n.failures.wrapping_sub(u32::from(old & 1));
            n.slow = n.slow.wrapping_sub(u32::from(old >> 1));
            false
        } else {
            n.len = n.len.wrapping_add(1);
            n.len == self.minimum_calls
        };
        n.failures = n.failures.wrapping_add(u32::from(code & 1));
        n.slow = n.slow.wrapping_add(u32::from(code >> 1));
        n.pending = Some(code);
        let next = n.head.wrapping_add(1);
        if next as usize >= N {
            n.head = 0;
            n.lap = n.lap.wrapping_add(1) & LAP_MASK;
        } else {
            n.head = next;
        }
        let trips = (code != 0 || reached_minimum)
            && n.len >= self.minimum_calls
            && (reaches(n.failures, n.len, self.failure_percent)
                || (config.slow_call_duration().is_some()
                    && reaches(n.slow, n.len, config.slow_percent)));
        if trips {
            // Sealed: the counts give way to the instant, and the ring's
            // position to the next generation's fresh start.
            return Win {
                exit: EXIT_TRIP,
                at: t(),
                pending: None,
                ..w
            };
        }
        n
    }

    /// The window word for Closed generation `generation`: `w` itself, or
    /// an empty window for it at head 0 of the next lap (installed by CAS)
    /// when `w` counted for an earlier generation. `None` if the CAS lost.
    /// `Err(Stale)` when `w` counts for a *later* generation: the caller's
    /// control word is stale (its Closed generation has been left, which
    /// takes an exit sealed in this word first), so it must read it again;
    /// installing a window for it would count into, and could seal an
    /// exit of, a generation that is over. Generations compare by wrapping
    /// difference (a caller 2^31 generations behind is not expected).
    fn current(&self, w: Win, generation: u32) -> Result<Option<Win>, Stale> {
        if w.generation == generation {
            return Ok(Some(w));
        }
        if (generation.wrapping_sub(w.generation) as i32) < 0 {
            return Err(Stale);
        }
        let fresh = Win {
            generation,
            exit: 0,
            head: 0,
            len: 0,
            failures: 0,
            slow: 0,
            at: 0,
            pending: None,
            lap: w.lap.wrapping_add(1) & LAP_MASK,
        };
        Ok(self.cas(w, fresh).then_some(fresh))
    }
}

/// The caller's Closed generation is over (see `SharedCountWindow::current`).
struct Stale;

impl<const N: usize> sealed::Share for CountWindow<N> {
    type Shared = SharedCountWindow<N>;

    fn share(self) -> Result<SharedCountWindow<N>, ConfigError> {
        if N > 0xFFFF {
            return Err(ConfigError::new(
                "CountWindow::<N>",
                "have N in 1..=65535 calls for a SharedCircuitBreaker (its counts share one 128-bit word)",
            ));
        }
        Ok(SharedCountWindow {
            word: Padded(AtomicU128::new(
                Win {
                    generation: 0,
                    exit: 0,
                    head: 0,
                    len: 0,
                    failures: 0,
                    slow: 0,
                    at: 0,
                    pending: None,
                    lap: 0,
                }
                .pack(),
            )),
            // Every slot starts in the lap before the first.
            slots: core::array::from_fn(|_| AtomicU32::new(LAP_MASK << 2)),
            minimum_calls: self.minimum_calls,
            failure_percent: self.failure_percent,
        })
    }

    #[inline]
    fn sealed_exit(s: &SharedCountWindow<N>, generation: u32) -> Option<Exit> {
        // Judged on the raw word first: the common answer (no exit) needs
        // no unpacking.
        let v = s.word.0.load(Ordering::Acquire);
        if Win::generation_of(v) != generation || Win::exit_of(v) == 0 {
            return None;
        }
        let w = Win::unpack(v);
        match w.exit {
            0 => None,
            EXIT_TRIP => Some(Exit::Trip(w.at)),
            2 => Some(Exit::Force(State::ForcedOpen)),
            3 => Some(Exit::Force(State::ForcedClosed)),
            _ => Some(Exit::Force(State::Closed)),
        }
    }

    fn seal(s: &SharedCountWindow<N>, generation: u32, to: State) -> Seal {
        loop {
            let w = match s.current(s.load(), generation) {
                Ok(Some(w)) => w,
                Ok(None) => continue,
                // Left already: the caller reads the control word again.
                Err(Stale) => return Seal::Taken,
            };
            if w.exit != 0 {
                return Seal::Taken;
            }
            let sealed = Win {
                exit: exit_code(to),
                at: 0,
                pending: None,
                ..w
            };
            if s.cas(w, sealed) {
                return Seal::Sealed;
            }
        }
    }

    fn count(s: &SharedCountWindow<N>, cx: &Cx<'_>, cw: Word, call: Call, t: u64) -> Step {
        Self::count_lazy(s, cx, cw, call, || t)
    }

    /// Time is read only by a call that trips (the instant sealed in the
    /// window word): the counts and the ring hold no instants.
    fn count_lazy(
        s: &SharedCountWindow<N>,
        cx: &Cx<'_>,
        cw: Word,
        call: Call,
        mut t: impl FnMut() -> u64,
    ) -> Step {
        let config = cx.config;
        let code = u8::from(call.failed) | (u8::from(call.slow) << 1);
        // A healthy success, judged on the raw word (this generation's,
        // not sealed, full, no failure, nothing slow): the window's content
        // does not change. Unpacking the word first costs more than the
        // rest of the call (its fields go through the stack).
        if code == 0 && Win::healthy(s.word.0.load(Ordering::Acquire), cw.generation, N) {
            return Step::Counted(false);
        }
        loop {
            let w = match s.current(s.load(), cw.generation) {
                Ok(Some(w)) => w,
                Ok(None) => continue,
                // Left already: the caller reads the control word again and
                // finds its permit stale.
                Err(Stale) => return Step::Retry,
            };
            if w.exit != 0 {
                // Sealed: the caller completes the exit and finds its
                // permit stale.
                return Step::Retry;
            }
            // A healthy success: the window's content does not change.
            if code == 0 && w.len as usize >= N && w.failures == 0 && w.slow == 0 {
                return Step::Counted(false);
            }
            s.help(w);
            let old = if w.len as usize >= N {
                match s.evicted(w) {
                    Some(old) => old,
                    None => continue,
                }
            } else {
                0
            };
            let next = s.advanced(w, code, old, &mut t, config);
            if s.cas(w, next) {
                return Step::Counted(next.exit == EXIT_TRIP);
            }
        }
    }

    /// The window word of `generation`, not sealed, full, with no failure
    /// and nothing slow: a success evicts a success.
    #[inline(always)]
    fn settled_success(s: &SharedCountWindow<N>, generation: u32) -> bool {
        Win::healthy(s.word.0.load(Ordering::Acquire), generation, N)
    }

    fn stats(s: &SharedCountWindow<N>, cw: Word, _t: u64) -> WindowStats {
        let w = s.load();
        if w.generation != cw.generation {
            return WindowStats::default();
        }
        WindowStats {
            calls: w.len,
            failures: w.failures,
            slow: w.slow,
        }
    }
}
impl<const N: usize> SharedPolicy for CountWindow<N> {}

// ---------------------------------------------------------------------------
// The breaker.
// ---------------------------------------------------------------------------

/// The [`CircuitBreaker`](super::CircuitBreaker) behind `&self`, for many
/// threads or cores at once (feature `sync`), with the same [`Config`], the
/// same [`Permit`], [`Rejected`] and [`Transition`] values and the same
/// conventions (generations, K probes, probe timeout, growing open
/// duration, [`isolate`](Self::isolate) / [`force_closed`](Self::force_closed)
/// / [`reset`](Self::reset)).
///
/// # How it decides
/// The state, generation, probe counts, trip count and one instant live in
/// one `AtomicU128`; every transition is one compare-and-swap on it, and no
/// lock is taken. [`ConsecutiveFailures`] keeps its run there too, and its
/// counting interval's start in the instant. [`CountWindow`] keeps its
/// counts in a second `AtomicU128` and its ring in `AtomicU32` slots,
/// counted by one CAS per call; [`TimeWindow`](super::TimeWindow) and
/// [`FailureCount`](super::FailureCount) keep a second `AtomicU128` and one
/// `AtomicU128` per bucket, counted by one CAS on that word per call, the
/// bucket writes helped home by the next caller (see the sources for the
/// protocols). Concurrent calls are
/// *linearizable*: every run is explained by the `&mut` breaker fed the same
/// operations in one order consistent with real time (tested on recorded
/// histories, and with loom). On a healthy breaker, `try_acquire` only
/// reads the shared words, and `record` of a success writes nothing to
/// them when nothing changes (no failure run to reset, no interval to
/// begin; a full count window with no failure); otherwise one CAS per word
/// touched (a time window or failure count counts every call: one CAS on
/// its word, and one on each bucket the call's operation touches, at most
/// three unless the window moved past buckets, which are cleared).
///
/// Time rule: a decision is taken at the later of `now` and the instant the
/// state records (when it closed, tripped or last admitted a probe), so
/// time that goes backwards counts as no time elapsed.
///
/// # Metrics
/// [`metrics`](Self::metrics) counters are *striped*: on x86_64 and
/// aarch64 each thread counts in one of 8 cache-line-padded stripes chosen
/// by its stack address, and the stripes are summed when read (so a read
/// during concurrent calls is not a snapshot of one instant). On other
/// targets there is one stripe. Counting is one relaxed `fetch_add` on the
/// thread's own stripe, made by `record` (and by a rejection); `admitted`
/// is *derived* from the recorded outcomes, so `try_acquire` on a healthy
/// breaker writes nothing at all.
///
/// # Limits (from the packed words)
/// Every policy and every option of [`Config`] is taken
/// ([`ProbeRule::PerRound`], counting intervals, every
/// [`BreakDuration`](super::BreakDuration) law), within what the words
/// hold; [`new`](Self::new) rejects more with a [`ConfigError`] naming the
/// field. In HalfOpen the word's 29-bit payload holds the probes in flight
/// (enough bits for K), the probe successes (for S - 1) and the trips in a
/// row, counted only up to the trip from which the schedule stops changing
/// (1 for a constant law, at most 65 for a geometric one, the table's
/// length, or where a linear law reaches its cap): those bits together
/// must fit 29 (K = S = 2047 leave 7 bits, 127 trips; the defaults leave
/// 28), so only a linear law still growing after 2^28 trips, or K and S
/// near 65 535 each, are refused. [`ConsecutiveFailures`] thresholds up to
/// 2^29 - 1 (2^28 - 1 with a counting interval), [`CountWindow`] lengths up
/// to 65 535, [`TimeWindow`](super::TimeWindow) buckets up to 4 095. A
/// permit is judged stale by a 32-bit generation, as in the `&mut` breaker.
///
/// # Memory
/// See the [module docs](super#memory) for the sizes per target.
///
/// ```
/// use fusebox::breaker::{Config, ConsecutiveFailures, Outcome, SharedCircuitBreaker, State};
/// use fusebox::time::{Duration, Instant};
///
/// let config = Config::new().open_duration(Duration::from_ticks(100));
/// let breaker = SharedCircuitBreaker::new(config, ConsecutiveFailures::new(2)?)?;
/// let t = Instant::from_ticks;
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let permit = breaker.try_acquire(t(0)).expect("closed");
///             breaker.record(permit, Outcome::Failure, t(1));
///         });
///     }
/// });
/// assert_eq!(breaker.state(t(2)), State::Open);
/// assert_eq!(breaker.metrics().trips, 1);
/// let probe = breaker.try_acquire(t(101)).expect("half-open probe");
/// assert!(breaker.try_acquire(t(101)).is_err());
/// let change = breaker.record(probe, Outcome::Success, t(102)).expect("closes");
/// assert_eq!((change.from, change.to), (State::HalfOpen, State::Closed));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct SharedCircuitBreaker<P: SharedPolicy = ConsecutiveFailures> {
    ctrl: Padded<AtomicU128>,
    policy: <P as sealed::Share>::Shared,
    config: Config,
    layout: Layout,
    stripes: [Padded<Stripe>; STRIPES],
}

#[cfg(feature = "defmt")]
impl<P: SharedPolicy> defmt::Format for SharedCircuitBreaker<P> {
    fn format(&self, f: defmt::Formatter<'_>) {
        let w = self.load();
        defmt::write!(
            f,
            "SharedCircuitBreaker {{ state: {}, generation: {=u32}, at: {=u64} }}",
            w.state,
            w.generation,
            w.at
        )
    }
}

impl<P: SharedPolicy> SharedCircuitBreaker<P> {
    /// A closed breaker. Fails if a field of `config` is out of range, or
    /// beyond the shared breaker's limits (see the type's docs).
    pub fn new(config: Config, policy: P) -> Result<Self, ConfigError> {
        config.validate()?;
        let layout = Layout::new(&config, policy.has_interval())?;
        Ok(Self {
            ctrl: Padded(AtomicU128::new(Word::initial().pack(layout))),
            policy: policy.share()?,
            config,
            layout,
            stripes: core::array::from_fn(|_| Stripe::new()),
        })
    }

    #[inline]
    fn load(&self) -> Word {
        Word::unpack(self.ctrl.0.load(Ordering::Acquire), self.layout)
    }

    #[inline]
    fn cx(&self) -> Cx<'_> {
        Cx {
            ctrl: &self.ctrl.0,
            config: &self.config,
            layout: self.layout,
        }
    }

    #[inline]
    fn cas(&self, old: Word, new: Word) -> bool {
        self.cx().cas(old, new)
    }

    /// This thread's metrics stripe.
    #[inline]
    fn stripe(&self) -> &Stripe {
        #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(loom)))]
        let index = {
            let probe = 0u8;
            let addr = core::ptr::addr_of!(probe) as usize as u64;
            // Threads' stacks lie far apart; 64 KiB granules, hashed.
            ((addr >> 16).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) as usize
        };
        #[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(loom))))]
        let index = 0;
        match self.stripes.get(index) {
            Some(s) => &s.0,
            None => &self.stripes[0].0,
        }
    }

    /// Complete the exit sealed for Closed word `w` (window policies).
    fn complete(&self, w: Word, exit: Exit) {
        let new = match exit {
            Exit::Trip(at) => w.moved(State::Open, at, 1),
            Exit::Force(to) => w.moved(to, w.at, 0),
        };
        // The control word of a window policy does not change in Closed
        // except by an exit, so one CAS either completes it or finds it
        // completed.
        let _ = self.cas(w, new);
    }

    /// Ask to make a call at `now`: as
    /// [`CircuitBreaker::try_acquire`](super::CircuitBreaker::try_acquire).
    #[inline]
    pub fn try_acquire(&self, now: Instant) -> Result<Permit, Rejected> {
        self.acquire(|| now, true)
    }

    /// [`try_acquire`](Self::try_acquire), reading the clock (`now`, called
    /// at most once) only where the decision needs the time: in Open and
    /// HalfOpen (the open duration, probe admission and the probe
    /// timeout), and in Closed only when slow-call detection is on (the
    /// permit then carries its start). Closed with slow calls off (a
    /// healthy breaker's every call), ForcedClosed and ForcedOpen read
    /// nothing: admission there does not depend on the time.
    ///
    /// The decision is the one [`try_acquire`](Self::try_acquire) makes
    /// with the instant `now` returns; only
    /// [`Permit::acquired_at`] differs where the clock was not read: it is
    /// then the latest instant the state records (when the breaker closed,
    /// or its counting interval began), a lower bound of the true start
    /// that nothing in the breaker uses (slow-call detection is off).
    /// Pair it with [`record_with`](Self::record_with). With a precise
    /// clock (a TSC read costs about as much as this whole call) this is
    /// how a server handle keeps the clock off a healthy breaker's path;
    /// `fusebox_std::Breaker` does.
    ///
    /// ```
    /// use core::cell::Cell;
    /// use fusebox::breaker::{Config, CountWindow, Outcome, SharedCircuitBreaker};
    /// use fusebox::time::Instant;
    ///
    /// let b = SharedCircuitBreaker::new(Config::new(), CountWindow::<10>::builder().failure_rate(50).minimum_calls(10).build()?)?;
    /// let reads = Cell::new(0);
    /// let clock = || {
    ///     reads.set(reads.get() + 1);
    ///     Instant::from_ticks(5)
    /// };
    /// let permit = b.try_acquire_with(clock).expect("closed");
    /// assert_eq!(b.record_with(permit, Outcome::Success, clock), None);
    /// assert_eq!(reads.get(), 0); // a healthy closed call reads no time
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_with(&self, now: impl FnOnce() -> Instant) -> Result<Permit, Rejected> {
        self.acquire(now, self.slow_calls_on())
    }

    /// `try_acquire`, the clock read lazily; `time_closed`: read it (for
    /// the permit's start) in Closed and ForcedClosed too.
    ///
    /// The admission of a closed breaker (no exit sealed) is decided here,
    /// small enough to inline into the caller, which then keeps the permit
    /// in registers; everything else is [`acquire_slow`](Self::acquire_slow).
    #[inline(always)]
    fn acquire(
        &self,
        now: impl FnOnce() -> Instant,
        time_closed: bool,
    ) -> Result<Permit, Rejected> {
        let w = self.load();
        let closed = match w.state {
            State::Closed => P::sealed_exit(&self.policy, w.generation).is_none(),
            State::ForcedClosed => true,
            _ => false,
        };
        if !closed {
            return self.acquire_slow(now, time_closed);
        }
        let t = if time_closed {
            floor(now(), w.at)
        } else {
            w.at
        };
        // Nothing written: `admitted` is derived (see `metrics`).
        Ok(Permit {
            acquired_at: Instant::from_ticks(t),
            generation: w.generation,
            transition: None,
        })
    }

    /// [`acquire`](Self::acquire) past its closed fast path.
    #[inline(never)]
    fn acquire_slow(
        &self,
        now: impl FnOnce() -> Instant,
        time_closed: bool,
    ) -> Result<Permit, Rejected> {
        let mut clock = LazyNow::new(now);
        loop {
            let w = self.load();
            match w.state {
                State::Closed | State::ForcedClosed => {
                    if w.state == State::Closed {
                        if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                            self.complete(w, exit);
                            continue;
                        }
                    }
                    let t = if time_closed { clock.floor(w.at) } else { w.at };
                    // Nothing written: `admitted` is derived (see
                    // `metrics`).
                    return Ok(Permit {
                        acquired_at: Instant::from_ticks(t),
                        generation: w.generation,
                        transition: None,
                    });
                }
                State::Open => {
                    let t = clock.floor(w.at);
                    let until = time::add(
                        Instant::from_ticks(w.at),
                        self.config.open_duration_after(w.trips.max(1)),
                    );
                    if Instant::from_ticks(t) < until {
                        return Err(self.reject(
                            State::Open,
                            Some(time::elapsed(Instant::from_ticks(t), until)),
                        ));
                    }
                    let new = Word {
                        a: 1,
                        ..w.moved(State::HalfOpen, t, w.trips)
                    };
                    if self.cas(w, new) {
                        return Ok(Permit {
                            acquired_at: Instant::from_ticks(t),
                            generation: new.generation,
                            transition: Some(Transition {
                                from: State::Open,
                                to: State::HalfOpen,
                            }),
                        });
                    }
                }
                State::HalfOpen => {
                    let t = clock.floor(w.at);
                    let deadline = self.probe_deadline(w);
                    let mut new = w;
                    if w.a > 0 && Instant::from_ticks(t) >= deadline {
                        // Write off the lost probes: a new generation.
                        new.a = 0;
                        new.generation = w.generation.wrapping_add(1);
                    }
                    if self.probe_slots_taken(new) {
                        return Err(self.reject(
                            State::HalfOpen,
                            Some(time::elapsed(Instant::from_ticks(t), deadline)),
                        ));
                    }
                    new.a = new.a.wrapping_add(1);
                    new.at = t;
                    if self.cas(w, new) {
                        return Ok(Permit {
                            acquired_at: Instant::from_ticks(t),
                            generation: new.generation,
                            transition: None,
                        });
                    }
                }
                State::ForcedOpen => return Err(self.reject(State::ForcedOpen, None)),
            }
        }
    }

    /// Whether HalfOpen word `w` must refuse another probe, under the
    /// probe rule: K in flight, or K admitted this round (in flight plus
    /// successes, see the control word's layout).
    #[inline]
    fn probe_slots_taken(&self, w: Word) -> bool {
        let counted = match self.config.probe_rule {
            ProbeRule::InFlight => w.a,
            ProbeRule::PerRound => w.a.saturating_add(w.successes),
        };
        counted >= u32::from(self.config.half_open_probes)
    }

    fn probe_deadline(&self, w: Word) -> Instant {
        time::add(Instant::from_ticks(w.at), self.config.probe_timeout)
    }

    #[inline]
    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        bump(&self.stripe().rejected);
        Rejected { state, retry_after }
    }

    #[inline]
    fn count_metrics(&self, call: Call) {
        let s = self.stripe();
        bump(if call.failed {
            &s.failures
        } else {
            &s.successes
        });
        if call.slow {
            bump(&s.slow);
        }
    }

    /// Slow-call detection is on.
    #[inline(always)]
    fn slow_calls_on(&self) -> bool {
        self.config.slow_call_duration().is_some()
    }

    /// Whether the call of `permit` is slow, judged at the clock's instant
    /// (read only when slow-call detection is on).
    #[inline]
    fn is_slow<F: FnOnce() -> Instant>(
        &self,
        permit: &Permit,
        clock: &mut LazyNow<F>,
        at: u64,
    ) -> bool {
        match self.config.slow_call_duration() {
            Some(slow) => {
                time::elapsed(permit.acquired_at, Instant::from_ticks(clock.floor(at))) >= slow
            }
            None => false,
        }
    }

    /// Hand back `permit` with its call's outcome at `now`: as
    /// [`CircuitBreaker::record`](super::CircuitBreaker::record). Returns
    /// the transition this call made, if any.
    #[inline]
    pub fn record(&self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition> {
        self.record_with(permit, outcome, || now)
    }

    /// [`record`](Self::record), reading the clock (`now`, called at most
    /// once) only where the decision needs the time: slow-call detection
    /// on, an outcome that trips a [`ConsecutiveFailures`] or
    /// [`CountWindow`] breaker (the instant it opens: a failure, or a
    /// success that completes a window's minimum), any success or failure of a
    /// counting interval, a [`TimeWindow`](super::TimeWindow) or a
    /// [`FailureCount`](super::FailureCount) (its bucket), and every
    /// outcome recorded while HalfOpen (probes, the probe timeout). With
    /// slow calls off, an outcome recorded in Closed that does not trip
    /// reads nothing. The decision is the
    /// one [`record`](Self::record) makes with the instant `now` returns.
    /// See [`try_acquire_with`](Self::try_acquire_with).
    #[inline]
    pub fn record_with(
        &self,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        if self.settled_success(&permit, outcome) {
            bump(&self.stripe().successes);
            return None;
        }
        self.record_lazy(permit, outcome, now)
    }

    /// [`record_with`](Self::record_with), counting a success that changes
    /// nothing in the breaker (a full [`CountWindow`] with no failure and
    /// nothing slow, slow-call detection off) in `lane` instead of the
    /// breaker's metrics, with no locked instruction: such a success then
    /// writes nothing shared at all. Only a [`CountWindow`]'s settled
    /// success goes to the lane; every other outcome, and every outcome
    /// of the other policies ([`ConsecutiveFailures`], `TimeWindow`,
    /// `FailureCount`), is counted in the breaker as by `record_with`.
    /// The caller adds its lanes to [`metrics`](Self::metrics)
    /// ([`Lane::add_to`]).
    #[inline]
    pub fn record_with_lane(
        &self,
        lane: &Lane,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        if self.settled_success(&permit, outcome) {
            lane.count();
            return None;
        }
        self.record_lazy(permit, outcome, now)
    }

    /// Whether recording `outcome` for `permit` only counts a success: a
    /// success (not judged slow: slow-call detection off) in a settled
    /// window (see `Share::settled_success`), judged on the window word
    /// alone, without reading the control word.
    #[inline(always)]
    fn settled_success(&self, permit: &Permit, outcome: Outcome) -> bool {
        outcome == Outcome::Success
            && !self.slow_calls_on()
            && P::settled_success(&self.policy, permit.generation)
    }

    #[inline(always)]
    fn record_lazy(
        &self,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        let mut clock = LazyNow::new(now);
        loop {
            let w = self.load();
            if w.state == State::Closed && permit.generation == w.generation {
                let failed = match outcome {
                    Outcome::Success => false,
                    Outcome::Failure => true,
                    Outcome::Ignored => {
                        // After a sealed exit the permit is stale.
                        if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                            self.complete(w, exit);
                            continue;
                        }
                        bump(&self.stripe().ignored);
                        return None;
                    }
                };
                let call = Call {
                    failed,
                    slow: self.is_slow(&permit, &mut clock, w.at),
                };
                // A sealed exit makes the count answer `Retry` (the window
                // word refuses it): it is completed then, which spares a
                // load of the window word on every call.
                match P::count_lazy(&self.policy, &self.cx(), w, call, || clock.floor(w.at)) {
                    Step::Retry => {
                        if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                            self.complete(w, exit);
                        }
                        continue;
                    }
                    Step::Counted(tripped) => {
                        self.count_metrics(call);
                        if !tripped {
                            return None;
                        }
                        if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                            self.complete(w, exit);
                        }
                        bump(&self.stripe().trips);
                        return Some(Transition {
                            from: State::Closed,
                            to: State::Open,
                        });
                    }
                }
            }
            if let Some(done) = self.record_other(w, &mut clock, &permit, outcome) {
                return done;
            }
        }
    }

    /// `record` outside the Closed fast path; `None` to read again.
    #[inline(never)]
    fn record_other<F: FnOnce() -> Instant>(
        &self,
        w: Word,
        clock: &mut LazyNow<F>,
        permit: &Permit,
        outcome: Outcome,
    ) -> Option<Option<Transition>> {
        let mut new = w;
        if w.state == State::HalfOpen
            && w.a > 0
            && Instant::from_ticks(clock.floor(w.at)) >= self.probe_deadline(w)
        {
            new.a = 0;
            new.generation = w.generation.wrapping_add(1);
        }
        if permit.generation != new.generation {
            if new != w && !self.cas(w, new) {
                return None;
            }
            bump(&self.stripe().stale);
            return Some(None);
        }
        let call = Call {
            failed: outcome == Outcome::Failure,
            slow: self.is_slow(permit, clock, w.at),
        };
        if outcome == Outcome::Ignored {
            if w.state == State::HalfOpen {
                new.a = new.a.saturating_sub(1);
                if !self.cas(w, new) {
                    return None;
                }
            }
            bump(&self.stripe().ignored);
            return Some(None);
        }
        match w.state {
            State::HalfOpen => {
                let t = clock.floor(w.at);
                new.a = new.a.saturating_sub(1);
                let (next, change) = if call.failed || call.slow {
                    let trips = w.trips.saturating_add(1).min(self.layout.trip_cap);
                    (
                        new.moved(State::Open, t, trips),
                        Some(Transition {
                            from: State::HalfOpen,
                            to: State::Open,
                        }),
                    )
                } else {
                    new.successes = new.successes.saturating_add(1);
                    if new.successes >= u32::from(self.config.half_open_successes) {
                        (
                            new.moved(State::Closed, t, 0),
                            Some(Transition {
                                from: State::HalfOpen,
                                to: State::Closed,
                            }),
                        )
                    } else {
                        (new, None)
                    }
                };
                if !self.cas(w, next) {
                    return None;
                }
                self.count_metrics(call);
                if next.state == State::Open {
                    bump(&self.stripe().trips);
                }
                Some(change)
            }
            // A window policy's Closed with this generation took the fast
            // path; Open and ForcedOpen issue no permits, so a permit of
            // the current generation cannot reach them; ForcedClosed only
            // counts.
            State::Closed | State::Open | State::ForcedOpen | State::ForcedClosed => {
                self.count_metrics(call);
                Some(None)
            }
        }
    }

    /// The state as the next [`try_acquire`](Self::try_acquire) will see it
    /// (an Open breaker whose open duration has passed reports HalfOpen).
    pub fn state(&self, now: Instant) -> State {
        let w = self.load();
        match w.state {
            State::Closed => match P::sealed_exit(&self.policy, w.generation) {
                Some(Exit::Trip(_)) => State::Open,
                Some(Exit::Force(to)) => to,
                None => State::Closed,
            },
            State::Open if Instant::from_ticks(floor(now, w.at)) >= self.open_until(w) => {
                State::HalfOpen
            }
            s => s,
        }
    }

    /// Half-open probe permits held at `now`: as
    /// [`CircuitBreaker::probes_in_flight`](super::CircuitBreaker::probes_in_flight).
    ///
    /// ```
    /// use fusebox::breaker::{Config, ConsecutiveFailures, Outcome, SharedCircuitBreaker, State};
    /// use fusebox::time::{Duration, Instant};
    ///
    /// let t = Instant::from_ticks;
    /// let config = Config::new().open_duration(Duration::from_ticks(10)).half_open_probes(2);
    /// let b = SharedCircuitBreaker::new(config, ConsecutiveFailures::new(1)?)?;
    /// let call = b.try_acquire(t(0)).expect("closed");
    /// b.record(call, Outcome::Failure, t(0)); // trips
    /// let probe = b.try_acquire(t(10)).expect("half-open: a probe");
    /// assert_eq!((b.state(t(10)), b.probes_in_flight(t(10))), (State::HalfOpen, 1));
    /// b.record(probe, Outcome::Ignored, t(11)); // the call was cancelled
    /// assert_eq!(b.probes_in_flight(t(11)), 0);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn probes_in_flight(&self, now: Instant) -> u32 {
        let w = self.load();
        match w.state {
            State::HalfOpen if Instant::from_ticks(floor(now, w.at)) < self.probe_deadline(w) => {
                w.a
            }
            _ => 0,
        }
    }

    fn open_until(&self, w: Word) -> Instant {
        time::add(
            Instant::from_ticks(w.at),
            self.config.open_duration_after(w.trips.max(1)),
        )
    }

    /// How long until the breaker admits a call again: as
    /// [`CircuitBreaker::retry_after`](super::CircuitBreaker::retry_after).
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        let mut w = self.load();
        if w.state == State::Closed {
            if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                self.complete(w, exit);
                w = self.load();
            }
        }
        let t = Instant::from_ticks(floor(now, w.at));
        match w.state {
            State::Open if t < self.open_until(w) => Some(time::elapsed(t, self.open_until(w))),
            State::HalfOpen if self.probe_slots_taken(w) && t < self.probe_deadline(w) => {
                Some(time::elapsed(t, self.probe_deadline(w)))
            }
            _ => None,
        }
    }

    /// Hold the breaker open: as
    /// [`CircuitBreaker::isolate`](super::CircuitBreaker::isolate).
    pub fn isolate(&self) -> Option<Transition> {
        self.force(State::ForcedOpen)
    }

    /// Hold the breaker closed: as
    /// [`CircuitBreaker::force_closed`](super::CircuitBreaker::force_closed).
    pub fn force_closed(&self) -> Option<Transition> {
        self.force(State::ForcedClosed)
    }

    /// Back to Closed with an empty window and the initial open duration:
    /// as [`CircuitBreaker::reset`](super::CircuitBreaker::reset).
    pub fn reset(&self) -> Option<Transition> {
        self.force(State::Closed)
    }

    fn force(&self, to: State) -> Option<Transition> {
        loop {
            let w = self.load();
            if w.state == State::Closed {
                match P::seal(&self.policy, w.generation, to) {
                    Seal::Nothing => {}
                    Seal::Taken => {
                        if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                            self.complete(w, exit);
                        }
                        continue;
                    }
                    Seal::Sealed => {
                        self.complete(w, Exit::Force(to));
                        return (to != State::Closed).then_some(Transition {
                            from: State::Closed,
                            to,
                        });
                    }
                }
            }
            let trips = if to == State::Closed { 0 } else { w.trips };
            if self.cas(w, w.moved(to, w.at, trips)) {
                return (w.state != to).then_some(Transition { from: w.state, to });
            }
        }
    }

    /// The counters, summed over the stripes (see the type's docs).
    ///
    /// `admitted` is *derived*, not counted: it is the number of permits
    /// recorded (successes, failures, ignored and stale), so that
    /// `try_acquire` writes nothing. A permit not yet recorded, or dropped
    /// unrecorded, is not in it (the `&mut` breaker counts a permit when it
    /// issues it).
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::default();
        for s in &self.stripes {
            let s = &s.0;
            let r = |c: &AtomicU32| c.load(Ordering::Relaxed);
            m.rejected = m.rejected.wrapping_add(r(&s.rejected));
            m.successes = m.successes.wrapping_add(r(&s.successes));
            m.failures = m.failures.wrapping_add(r(&s.failures));
            m.slow = m.slow.wrapping_add(r(&s.slow));
            m.ignored = m.ignored.wrapping_add(r(&s.ignored));
            m.stale = m.stale.wrapping_add(r(&s.stale));
            m.trips = m.trips.wrapping_add(r(&s.trips));
        }
        // Derived: every permit recorded, whatever became of it.
        m.admitted = m
            .successes
            .wrapping_add(m.failures)
            .wrapping_add(m.ignored)
            .wrapping_add(m.stale);
        m
    }

    /// What the policy's window holds in Closed (zero in other states: the
    /// shared breaker keeps no window outside Closed).
    pub fn window(&self, now: Instant) -> WindowStats {
        let w = self.load();
        if w.state != State::Closed {
            return WindowStats::default();
        }
        <P as sealed::Share>::stats(&self.policy, w, floor(now, w.at))
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }
}

/// A circuit breaker shared by `&self`, as a policy names it in
/// [`Policy::Shared`]: the lock-free [`SharedCircuitBreaker`] (every
/// policy of this crate), or [`Unshared`] for a policy that has no shared
/// form. Code generic over
/// every [`Policy`] builds one with [`share`](Self::share) and falls back
/// to the `&mut` [`CircuitBreaker`](super::CircuitBreaker) behind a lock of
/// its own when it is refused. Every method is the
/// [`SharedCircuitBreaker`] method of the same name. Sealed.
pub trait SharedBreaker<P: Policy + ?Sized>:
    Sized + Send + Sync + core::fmt::Debug + sealed::Form
{
    /// A closed breaker over `config` and a copy of `policy`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field when `config` is out of range,
    /// beyond the shared breaker's limits, or when the policy has no shared
    /// form ([`Unshared`]): share the `&mut` breaker behind a lock then.
    fn share(config: Config, policy: &P) -> Result<Self, ConfigError>;
    /// Ask to make a call at `now`.
    ///
    /// # Errors
    /// [`Rejected`] while open, or half-open with every probe slot taken.
    fn try_acquire(&self, now: Instant) -> Result<Permit, Rejected>;
    /// Record an admitted call's outcome at `now`; the transition it made.
    fn record(&self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition>;
    /// [`try_acquire`](Self::try_acquire), calling `now` only where the
    /// decision needs the time (see
    /// [`SharedCircuitBreaker::try_acquire_with`]).
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    fn try_acquire_with(&self, now: impl FnOnce() -> Instant) -> Result<Permit, Rejected>;
    /// [`record`](Self::record), calling `now` only where the decision
    /// needs the time (see [`SharedCircuitBreaker::record_with`]).
    fn record_with(
        &self,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition>;
    /// [`record_with`](Self::record_with), counting a success that
    /// changes nothing in `lane` (see
    /// [`SharedCircuitBreaker::record_with_lane`]).
    fn record_with_lane(
        &self,
        lane: &Lane,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition>;
    /// The state as the next call at `now` will see it.
    fn state(&self, now: Instant) -> State;
    /// How long from `now` until the breaker admits a call again.
    fn retry_after(&self, now: Instant) -> Option<Duration>;
    /// Half-open probe permits held at `now`.
    fn probes_in_flight(&self, now: Instant) -> u32;
    /// The counters.
    fn metrics(&self) -> Metrics;
    /// The configuration.
    fn config(&self) -> &Config;
    /// Hold the breaker open until [`reset`](Self::reset).
    fn isolate(&self) -> Option<Transition>;
    /// Hold the breaker closed until [`reset`](Self::reset).
    fn force_closed(&self) -> Option<Transition>;
    /// Back to Closed with an empty window.
    fn reset(&self) -> Option<Transition>;
}

impl<P: SharedPolicy + Clone> sealed::Form for SharedCircuitBreaker<P> {}

impl<P: SharedPolicy + Clone + core::fmt::Debug> SharedBreaker<P> for SharedCircuitBreaker<P>
where
    Self: Send + Sync,
{
    fn share(config: Config, policy: &P) -> Result<Self, ConfigError> {
        Self::new(config, policy.clone())
    }
    #[inline]
    fn try_acquire(&self, now: Instant) -> Result<Permit, Rejected> {
        Self::try_acquire(self, now)
    }
    #[inline]
    fn record(&self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition> {
        Self::record(self, permit, outcome, now)
    }
    #[inline]
    fn try_acquire_with(&self, now: impl FnOnce() -> Instant) -> Result<Permit, Rejected> {
        Self::try_acquire_with(self, now)
    }
    #[inline]
    fn record_with(
        &self,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        Self::record_with(self, permit, outcome, now)
    }
    #[inline]
    fn record_with_lane(
        &self,
        lane: &Lane,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        Self::record_with_lane(self, lane, permit, outcome, now)
    }
    #[inline]
    fn state(&self, now: Instant) -> State {
        Self::state(self, now)
    }
    #[inline]
    fn retry_after(&self, now: Instant) -> Option<Duration> {
        Self::retry_after(self, now)
    }
    #[inline]
    fn probes_in_flight(&self, now: Instant) -> u32 {
        Self::probes_in_flight(self, now)
    }
    #[inline]
    fn metrics(&self) -> Metrics {
        Self::metrics(self)
    }
    #[inline]
    fn config(&self) -> &Config {
        Self::config(self)
    }
    #[inline]
    fn isolate(&self) -> Option<Transition> {
        Self::isolate(self)
    }
    #[inline]
    fn force_closed(&self) -> Option<Transition> {
        Self::force_closed(self)
    }
    #[inline]
    fn reset(&self) -> Option<Transition> {
        Self::reset(self)
    }
}

/// The [`Policy::Shared`] of a policy with no shared form (none of this
/// crate's policies since every one became a [`SharedPolicy`]; kept so that
/// code naming it still builds): no value of it exists, and
/// [`SharedBreaker::share`] always refuses, naming the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unshared {}

impl sealed::Form for Unshared {}

impl<P: Policy + ?Sized> SharedBreaker<P> for Unshared {
    fn share(_config: Config, _policy: &P) -> Result<Self, ConfigError> {
        Err(ConfigError::new(
            "policy",
            "be a SharedPolicy for a SharedCircuitBreaker (this policy has no shared form): share the CircuitBreaker behind a lock",
        ))
    }
    fn try_acquire(&self, _now: Instant) -> Result<Permit, Rejected> {
        match *self {}
    }
    fn record(&self, _permit: Permit, _outcome: Outcome, _now: Instant) -> Option<Transition> {
        match *self {}
    }
    fn try_acquire_with(&self, _now: impl FnOnce() -> Instant) -> Result<Permit, Rejected> {
        match *self {}
    }
    fn record_with(
        &self,
        _permit: Permit,
        _outcome: Outcome,
        _now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        match *self {}
    }
    fn record_with_lane(
        &self,
        _lane: &Lane,
        _permit: Permit,
        _outcome: Outcome,
        _now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        match *self {}
    }
    fn state(&self, _now: Instant) -> State {
        match *self {}
    }
    fn retry_after(&self, _now: Instant) -> Option<Duration> {
        match *self {}
    }
    fn probes_in_flight(&self, _now: Instant) -> u32 {
        match *self {}
    }
    fn metrics(&self) -> Metrics {
        match *self {}
    }
    fn config(&self) -> &Config {
        match *self {}
    }
    fn isolate(&self) -> Option<Transition> {
        match *self {}
    }
    fn force_closed(&self) -> Option<Transition> {
        match *self {}
    }
    fn reset(&self) -> Option<Transition> {
        match *self {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::{CircuitBreaker, FailureCount};
    use super::*;

    fn t(ticks: u64) -> Instant {
        Instant::from_ticks(ticks)
    }

    #[test]
    fn words_round_trip() {
        let l = Layout::WIDEST;
        let w = Word {
            at: u64::MAX - 3,
            state: State::HalfOpen,
            generation: u32::MAX,
            a: 2047,
            successes: 5,
            trips: 127,
            begun: false,
        };
        assert_eq!(Word::unpack(w.pack(l), l), w);
        let c = Word {
            at: 7,
            state: State::Closed,
            generation: 9,
            a: RUN_MAX,
            successes: 0,
            trips: 0,
            begun: false,
        };
        assert_eq!(Word::unpack(c.pack(l), l), c);
        let li = Layout {
            interval: true,
            kb: 1,
            sb: 0,
            trip_cap: (1 << 28) - 1,
        };
        let ci = Word {
            a: INTERVAL_RUN_MAX,
            begun: true,
            ..c
        };
        assert_eq!(Word::unpack(ci.pack(li), li), ci);
        let oi = Word {
            a: 1,
            successes: 0,
            trips: (1 << 28) - 1,
            ..w
        };
        assert_eq!(Word::unpack(oi.pack(li), li), oi);
        let open = Win {
            generation: 3,
            exit: 0,
            head: 0xFFFF,
            len: 12,
            failures: 11,
            slow: 10,
            at: 0,
            pending: Some(3),
            lap: LAP_MASK,
        };
        assert_eq!(Win::unpack(open.pack()), open);
        let sealed = Win {
            exit: EXIT_TRIP,
            head: 0,
            len: 0,
            failures: 0,
            slow: 0,
            at: u64::MAX,
            pending: None,
            ..open
        };
        assert_eq!(Win::unpack(sealed.pack()), sealed);
    }

    /// The trip count saturates where the schedule stops changing.
    #[test]
    fn trip_cap_is_where_the_schedule_settles() {
        let d = Duration::from_ticks;
        static TABLE: [Duration; 3] = [
            Duration::from_ticks(10),
            Duration::from_ticks(30),
            Duration::from_ticks(10),
        ];
        let cap = |c: Config| trip_cap(&c);
        assert_eq!(cap(Config::new()), 1);
        assert_eq!(cap(Config::new().open_duration_table(&TABLE)), 3);
        assert_eq!(
            cap(Config::new().open_duration_growing(d(1), 2, Duration::MAX)),
            65
        );
        assert_eq!(cap(Config::new().open_duration_growing(d(5), 1, d(9))), 1);
        assert_eq!(
            cap(Config::new().open_duration_linear(d(1), d(1), d(1000))),
            1000
        );
        assert_eq!(
            cap(Config::new().open_duration_linear(d(1), d(1), Duration::MAX)),
            u32::MAX
        );
        for c in [
            Config::new().open_duration_linear(d(3), d(7), d(1000)),
            Config::new().open_duration_growing(d(3), 3, d(1_000_000)),
            Config::new().open_duration_table(&TABLE),
        ] {
            let n = trip_cap(&c);
            assert_eq!(c.open_duration_after(n), c.open_duration_after(u32::MAX));
            assert!(n == 1 || c.open_duration_after(n - 1) != c.open_duration_after(n));
        }
    }

    /// Every #10 option is taken; only a schedule (or K and S) too wide for
    /// the 29-bit payload is refused, naming the field; a long schedule is
    /// followed trip after trip as the `&mut` breaker follows it.
    #[test]
    fn takes_the_options_and_follows_long_schedules() {
        use super::super::{BreakDuration, ProbeRule};
        let d = Duration::from_ticks;
        let field = |r: Result<SharedCircuitBreaker, ConfigError>| r.err().map(|e| e.field());
        let cf = || ConsecutiveFailures::new(1).unwrap();
        let per_round = Config::new().probe_rule(ProbeRule::PerRound);
        assert_eq!(field(SharedCircuitBreaker::new(per_round, cf())), None);
        let interval = cf().interval(d(100)).unwrap();
        assert_eq!(
            field(SharedCircuitBreaker::new(Config::new(), interval)),
            None
        );
        // Still changing at trip 2^32 - 1: no room for the count.
        let endless = Config::new().open_duration_linear(d(1), d(1), Duration::MAX);
        assert_eq!(
            field(SharedCircuitBreaker::new(endless, cf())),
            Some("open_duration")
        );
        static LONG: [Duration; 255] = {
            let mut table = [Duration::from_ticks(5); 255];
            if let Some(last) = table.last_mut() {
                *last = Duration::from_ticks(6);
            }
            table
        };
        let long = Config::new().open_duration_table(&LONG);
        assert_eq!(field(SharedCircuitBreaker::new(long, cf())), None);

        static STEPS: [Duration; 3] = [
            Duration::from_ticks(10),
            Duration::from_ticks(30),
            Duration::from_ticks(20),
        ];
        for config in [
            Config::new().break_duration(BreakDuration::Table(&STEPS)),
            Config::new().open_duration_linear(d(1), d(1), d(300)),
            Config::new().open_duration_table(&LONG),
        ] {
            let config = config.probe_timeout(d(1_000_000));
            let shared = SharedCircuitBreaker::new(config, cf()).unwrap();
            let mut reference = CircuitBreaker::new(config, cf()).unwrap();
            let mut now = 0;
            // Past the table's 255 entries and the linear law's cap (trip
            // 300); under Miri (slow) the first 30 trips only.
            let trips = if cfg!(miri) { 30 } else { 310 };
            for trip in 0..trips {
                let p = shared.try_acquire(t(now)).unwrap();
                let q = reference.try_acquire(t(now)).unwrap();
                assert_eq!(
                    shared.record(p, Outcome::Failure, t(now)),
                    reference.record(q, Outcome::Failure, t(now)),
                    "trip {trip}"
                );
                let left = reference.retry_after(t(now)).unwrap();
                assert_eq!(shared.retry_after(t(now)), Some(left), "trip {trip}");
                now += left.as_ticks();
            }
        }
    }

    /// Slots untouched for half the lap range look *later* than the lap
    /// being written; the window must still count exactly (and not spin).
    #[test]
    fn count_window_survives_lap_wraparound() {
        let config = Config::new();
        let window = || {
            CountWindow::<4>::builder()
                .failure_rate(50)
                .minimum_calls(4)
                .build()
                .unwrap()
        };
        let shared = SharedCircuitBreaker::new(config, window()).unwrap();
        let mut reference = CircuitBreaker::new(config, window()).unwrap();
        let lap = 1000;
        let w = shared.policy.load();
        shared
            .policy
            .word
            .0
            .store(Win { lap, ..w }.pack(), Ordering::SeqCst);
        for slot in &shared.policy.slots {
            let ancient = lap.wrapping_sub((1 << 25) + 5) & LAP_MASK;
            slot.store(ancient << 2, Ordering::SeqCst);
        }
        let outcomes = [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Success,
            Outcome::Success,
            Outcome::Success,
            Outcome::Success,
            Outcome::Failure,
            Outcome::Success,
            Outcome::Failure,
        ];
        for (i, o) in outcomes.into_iter().enumerate() {
            let now = t(i as u64);
            let a = shared.try_acquire(now).unwrap();
            let b = reference.try_acquire(now).unwrap();
            assert_eq!(
                shared.record(a, o, now),
                reference.record(b, o, now),
                "call {i}"
            );
            if reference.state(now) == State::Closed {
                assert_eq!(
                    shared.window(now),
                    reference.policy().window(now),
                    "call {i}"
                );
            }
        }
        assert_eq!(shared.state(t(20)), State::Open);
    }

    /// A caller that read the control word in a Closed generation that is
    /// over (it was preempted while the breaker tripped, probed and closed
    /// again) can neither seal an exit nor count a call in it: it is told
    /// to read again, and the current window is left as it was.
    #[test]
    fn a_stale_closed_generation_seals_and_counts_nothing() {
        type W = CountWindow<4>;
        let config = Config::new()
            .open_duration(Duration::from_ticks(10))
            .half_open_probes(1);
        let b = SharedCircuitBreaker::new(
            config,
            W::builder()
                .failure_rate(50)
                .minimum_calls(2)
                .build()
                .unwrap(),
        )
        .unwrap();
        let stale = b.load();
        for _ in 0..2 {
            let p = b.try_acquire(t(0)).unwrap();
            let _ = b.record(p, Outcome::Failure, t(0));
        }
        assert_eq!(b.state(t(0)), State::Open);
        let probe = b.try_acquire(t(10)).unwrap();
        let closed = b.record(probe, Outcome::Success, t(10)).unwrap();
        assert_eq!(closed.to, State::Closed);
        // One call of the new Closed generation installs its window.
        let p = b.try_acquire(t(11)).unwrap();
        assert_eq!(b.record(p, Outcome::Failure, t(11)), None);
        let now = b.load();
        assert_ne!(now.generation, stale.generation);
        let before = b.window(t(11));
        assert_eq!(before.failures, 1);

        let seal = <W as sealed::Share>::seal(&b.policy, stale.generation, State::ForcedOpen);
        assert!(matches!(seal, Seal::Taken));
        let call = Call {
            failed: true,
            slow: false,
        };
        let step = <W as sealed::Share>::count(&b.policy, &b.cx(), stale, call, 11);
        assert!(matches!(step, Step::Retry));
        assert_eq!(b.window(t(11)), before);
        assert_eq!(b.state(t(11)), State::Closed);
        assert_eq!(b.load(), now);
    }

    #[test]
    fn shared_limits_are_config_errors() {
        let wide = Config::new()
            .half_open_probes(u16::MAX)
            .half_open_successes(u16::MAX);
        let e = SharedCircuitBreaker::new(wide, ConsecutiveFailures::new(1).unwrap()).unwrap_err();
        assert_eq!(e.field(), "half_open_probes");
        let e = SharedCircuitBreaker::new(
            Config::new()
                .half_open_probes(2)
                .half_open_successes(u16::MAX),
            FailureCount::new(1)
                .unwrap()
                .interval(Duration::from_ticks(1))
                .unwrap(),
        );
        assert!(e.is_ok(), "16 + 2 + 1 bits fit");
        let e =
            SharedCircuitBreaker::new(Config::new(), ConsecutiveFailures::new(1 << 29).unwrap())
                .unwrap_err();
        assert_eq!(e.field(), "failure_threshold");
        let e = SharedCircuitBreaker::new(
            Config::new(),
            ConsecutiveFailures::new(1 << 28)
                .unwrap()
                .interval(Duration::from_ticks(5))
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.field(), "failure_threshold");
        // (`CountWindow::<65536>` is refused the same way; its 64 KiB ring
        // and 256 KiB of slots in a debug build's frames overflow a test
        // thread's stack, so it is not built here.)
        assert!(
            SharedCircuitBreaker::new(
                Config::new()
                    .half_open_probes(2047)
                    .half_open_successes(2047),
                CountWindow::<1000>::builder()
                    .failure_rate(50)
                    .minimum_calls(1)
                    .build()
                    .unwrap()
            )
            .is_ok()
        );
    }
}
