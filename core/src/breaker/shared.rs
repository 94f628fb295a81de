//! [`SharedCircuitBreaker`]: the circuit breaker behind `&self` (feature
//! `sync`), lock-free where the CPU has a 128-bit compare-and-swap.

use super::{
    Call, Config, ConsecutiveFailures, CountWindow, Metrics, Outcome, Permit, Policy, ProbeRule,
    Rejected, State, Transition, WindowStats, reaches,
};
use crate::ConfigError;
use crate::atomic::{AtomicU32, AtomicU128, Ordering};
use crate::time::{self, Duration, Instant};

// ---------------------------------------------------------------------------
// The control word.
//
// One `AtomicU128`, changed only by compare-and-swap; every transition is
// one successful CAS on it (or, for window policies leaving Closed, the CAS
// that completes an exit the window word has already sealed, see below).
//
//   bits   0..64   `at`: an instant in ticks. Closed: when it closed (the
//                  floor of every permit's start). Open: when it tripped
//                  (it admits again at `at + open duration`). HalfOpen: when
//                  the last probe was admitted (probes are written off at
//                  `at + probe timeout`). Forced states keep the last one.
//   bits  64..67   state (Closed 0, Open 1, HalfOpen 2, ForcedOpen 3,
//                  ForcedClosed 4)
//   bits  67..99   generation (32 bits, wrapping, as the `&mut` breaker's)
//   bits  99..128  29 bits of payload:
//                  Closed: the run of consecutive failures
//                          (`ConsecutiveFailures`; 0 for window policies)
//                  other:  probes in flight (11 bits), probe successes
//                          (11 bits), trips in a row (7 bits, saturating at
//                          127)
//
// Room for what comes next: a break-duration schedule indexed by the trip
// count reads the 7-bit count (exact for every schedule that reaches its cap
// within 127 trips, as doubling from 1 tick reaches `u64::MAX` within 64); a
// probes-per-round option needs no bits (a round ends when the probes in
// flight and the successes say so); an interval policy keeps its count in
// the Closed payload and its interval start in `at` (Closed has no other
// use for it than the time floor, which the interval start is too).
// ---------------------------------------------------------------------------

const RUN_MAX: u32 = (1 << 29) - 1;
const SMALL_MAX: u32 = (1 << 11) - 1;
const TRIPS_MAX: u32 = (1 << 7) - 1;

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
        }
    }

    fn pack(self) -> u128 {
        let state: u64 = match self.state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::ForcedClosed => 4,
        };
        let payload = if self.state == State::Closed {
            self.a & RUN_MAX
        } else {
            (self.a & SMALL_MAX)
                | ((self.successes & SMALL_MAX) << 11)
                | ((self.trips & TRIPS_MAX) << 22)
        };
        let hi = state | (u64::from(self.generation) << 3) | (u64::from(payload) << 35);
        (u128::from(hi) << 64) | u128::from(self.at)
    }

    fn unpack(v: u128) -> Self {
        let hi = (v >> 64) as u64;
        let state = match hi & 7 {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            4 => State::ForcedClosed,
            _ => State::ForcedOpen,
        };
        let payload = (hi >> 35) as u32;
        let (a, successes, trips) = if state == State::Closed {
            (payload & RUN_MAX, 0, 0)
        } else {
            (
                payload & SMALL_MAX,
                (payload >> 11) & SMALL_MAX,
                (payload >> 22) & TRIPS_MAX,
            )
        };
        Self {
            at: v as u64,
            state,
            generation: (hi >> 3) as u32,
            a,
            successes,
            trips,
        }
    }

    /// The same word in a new generation, in state `to`, with the payload
    /// cleared.
    fn moved(self, to: State, at: u64, trips: u32) -> Self {
        Self {
            at,
            state: to,
            generation: self.generation.wrapping_add(1),
            a: 0,
            successes: 0,
            trips: if to == State::Closed {
                0
            } else {
                trips.min(TRIPS_MAX)
            },
        }
    }
}

/// An instant no earlier than what the state records: the time rule.
#[inline]
fn floor(now: Instant, at: u64) -> u64 {
    let n = now.as_ticks();
    if n < at { at } else { n }
}

// ---------------------------------------------------------------------------
// Padding and striped metrics.
// ---------------------------------------------------------------------------

/// A cache line (two on x86_64, whose adjacent-line prefetcher pairs them,
/// and on Apple's aarch64 cores, whose lines are 128 bytes) of its own for a
/// hot word, on server CPUs only. On microcontrollers (thumbv6m, the RP2040:
/// no data cache) padding buys nothing and costs RAM, so it is not done.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[derive(Debug)]
struct Padded<T>(T);

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
        /// Check the policy's fields against the shared word's limits and
        /// build the shared data.
        fn share(self) -> Result<Self::Shared, ConfigError>;
        /// The exit sealed for Closed generation `generation`, if any.
        fn sealed_exit(s: &Self::Shared, generation: u32) -> Option<Exit>;
        /// Seal a manual exit from Closed generation `generation`.
        fn seal(s: &Self::Shared, generation: u32, to: State) -> Seal;
        /// Count `call` in Closed word `w` (whose generation is the
        /// permit's) at `t`.
        fn count(
            s: &Self::Shared,
            ctrl: &AtomicU128,
            w: Word,
            call: Call,
            t: u64,
            config: &Config,
        ) -> Step;
        /// The window's counts in Closed generation `generation`.
        fn stats(s: &Self::Shared, w: Word) -> WindowStats;
    }
}

/// A failure policy a [`SharedCircuitBreaker`] can share: today
/// [`ConsecutiveFailures`] (its run lives in the control word) and
/// [`CountWindow`] (a window word and a ring of atomic slots). Sealed.
///
/// [`TimeWindow`](super::TimeWindow) is not one yet: a call there may
/// expire any number of buckets and must judge their sum, which does not fit
/// one compare-and-swap, and an exact lock-free form needs a helping
/// protocol over the buckets that is not built. Share a time window behind
/// a mutex (as `fusebox_std::Breaker` does) meanwhile.
pub trait SharedPolicy: Policy + sealed::Share {}

impl sealed::Share for ConsecutiveFailures {
    type Shared = u32;

    fn share(self) -> Result<u32, ConfigError> {
        if self.counting_interval().is_some() {
            return Err(ConfigError::new(
                "interval",
                "be unset for a SharedCircuitBreaker (its state word has no room for the interval's end yet): share a breaker with a counting interval behind a mutex",
            ));
        }
        if self.threshold > RUN_MAX {
            return Err(ConfigError::new(
                "failure_threshold",
                "be in 1..=536870911 for a SharedCircuitBreaker (the run shares its 128-bit state word)",
            ));
        }
        Ok(self.threshold)
    }
    fn sealed_exit(_: &u32, _: u32) -> Option<Exit> {
        None
    }
    fn seal(_: &u32, _: u32, _: State) -> Seal {
        // The run lives in the control word, whose CAS is the exit itself.
        Seal::Nothing
    }
    #[inline]
    fn count(
        threshold: &u32,
        ctrl: &AtomicU128,
        w: Word,
        call: Call,
        t: u64,
        _config: &Config,
    ) -> Step {
        let new = if call.failed || call.slow {
            let run = w.a.saturating_add(1).min(RUN_MAX);
            if run >= *threshold {
                w.moved(State::Open, t, 1)
            } else {
                Word { a: run, ..w }
            }
        } else if w.a == 0 {
            // A success with no run to reset: nothing changes, nothing is
            // written.
            return Step::Counted(false);
        } else {
            Word { a: 0, ..w }
        };
        match ctrl.compare_exchange(w.pack(), new.pack(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Step::Counted(new.state == State::Open),
            Err(_) => Step::Retry,
        }
    }
    fn stats(_: &u32, w: Word) -> WindowStats {
        WindowStats {
            calls: w.a,
            failures: w.a,
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

    /// `w` after one more call of `code` (evicting `old` if full) at `t`.
    fn advanced(&self, w: Win, code: u8, old: u8, t: u64, config: &Config) -> Win {
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
                || (config.slow_duration.as_ticks() != u64::MAX
                    && reaches(n.slow, n.len, config.slow_percent)));
        if trips {
            // Sealed: the counts give way to the instant, and the ring's
            // position to the next generation's fresh start.
            return Win {
                exit: EXIT_TRIP,
                at: t,
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

    fn sealed_exit(s: &SharedCountWindow<N>, generation: u32) -> Option<Exit> {
        let w = s.load();
        if w.generation != generation {
            return None;
        }
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

    fn count(
        s: &SharedCountWindow<N>,
        _ctrl: &AtomicU128,
        cw: Word,
        call: Call,
        t: u64,
        config: &Config,
    ) -> Step {
        let code = u8::from(call.failed) | (u8::from(call.slow) << 1);
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
            let next = s.advanced(w, code, old, t, config);
            if s.cas(w, next) {
                return Step::Counted(next.exit == EXIT_TRIP);
            }
        }
    }

    fn stats(s: &SharedCountWindow<N>, cw: Word) -> WindowStats {
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
/// lock is taken. [`CountWindow`] keeps its counts in a second
/// `AtomicU128` and its ring in `AtomicU32` slots, counted by one CAS per
/// call (see the source for the protocol). Concurrent calls are
/// *linearizable*: every run is explained by the `&mut` breaker fed the same
/// operations in one order consistent with real time (tested on recorded
/// histories, and with loom). On a healthy breaker, `try_acquire` only
/// reads the shared words, and `record` of a success writes nothing to
/// them when nothing changes (no failure run to reset; a full window with
/// no failure); otherwise one CAS per word touched.
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
/// `half_open_probes` and `half_open_successes` in 1..=2047,
/// [`ConsecutiveFailures`] thresholds up to 2^29 - 1, [`CountWindow`]
/// lengths up to 65 535: [`new`](Self::new) rejects more with a
/// [`ConfigError`]. The trip count that grows the open duration saturates at
/// 127 (a doubling duration reaches any cap within 64 trips), so a
/// [`BreakDuration`](super::BreakDuration) must reach its last value
/// within 127 trips (any constant or geometric law does; a table of at
/// most 127 entries; a linear law whose step reaches the cap by then). A
/// permit is judged stale by a 32-bit generation, as in the `&mut` breaker.
///
/// Not supported yet, refused by [`new`](Self::new) with a [`ConfigError`]
/// naming the field: [`ProbeRule::PerRound`] (`probe_rule`), a counting
/// interval ([`ConsecutiveFailures::interval`], `interval`), and
/// [`FailureCount`](super::FailureCount), which is not a [`SharedPolicy`].
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
        if u32::from(config.half_open_probes) > SMALL_MAX {
            return Err(ConfigError::new(
                "half_open_probes",
                "be in 1..=2047 for a SharedCircuitBreaker (the count shares its 128-bit state word)",
            ));
        }
        if u32::from(config.half_open_successes) > SMALL_MAX {
            return Err(ConfigError::new(
                "half_open_successes",
                "be in 1..=2047 for a SharedCircuitBreaker (the count shares its 128-bit state word)",
            ));
        }
        if matches!(config.probe_rule, ProbeRule::PerRound) {
            return Err(ConfigError::new(
                "probe_rule",
                "be ProbeRule::InFlight for a SharedCircuitBreaker (its state word does not count the probes of a round yet): share a per-round breaker behind a mutex",
            ));
        }
        if config.open_duration_after(TRIPS_MAX) != config.open_duration_after(u32::MAX) {
            return Err(ConfigError::new(
                "open_duration",
                "reach its last value within 127 trips in a row for a SharedCircuitBreaker (the trip count shares its 128-bit state word): a table of at most 127 entries, or a linear step that reaches the cap by then",
            ));
        }
        Ok(Self {
            ctrl: Padded(AtomicU128::new(Word::initial().pack())),
            policy: policy.share()?,
            config,
            stripes: core::array::from_fn(|_| Stripe::new()),
        })
    }

    #[inline]
    fn load(&self) -> Word {
        Word::unpack(self.ctrl.0.load(Ordering::Acquire))
    }

    #[inline]
    fn cas(&self, old: Word, new: Word) -> bool {
        self.ctrl
            .0
            .compare_exchange(old.pack(), new.pack(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
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
        loop {
            let w = self.load();
            let t = floor(now, w.at);
            match w.state {
                State::Closed | State::ForcedClosed => {
                    if w.state == State::Closed {
                        if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                            self.complete(w, exit);
                            continue;
                        }
                    }
                    // Nothing written: `admitted` is derived (see
                    // `metrics`).
                    return Ok(Permit {
                        acquired_at: Instant::from_ticks(t),
                        generation: w.generation,
                        transition: None,
                    });
                }
                State::Open => {
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
                    let deadline = self.probe_deadline(w);
                    let mut new = w;
                    if w.a > 0 && Instant::from_ticks(t) >= deadline {
                        // Write off the lost probes: a new generation.
                        new.a = 0;
                        new.generation = w.generation.wrapping_add(1);
                    }
                    if new.a >= u32::from(self.config.half_open_probes) {
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

    #[inline]
    fn is_slow(&self, permit: &Permit, t: u64) -> bool {
        self.config.slow_duration.as_ticks() != u64::MAX
            && time::elapsed(permit.acquired_at, Instant::from_ticks(t))
                >= self.config.slow_duration
    }

    /// Hand back `permit` with its call's outcome at `now`: as
    /// [`CircuitBreaker::record`](super::CircuitBreaker::record). Returns
    /// the transition this call made, if any.
    #[inline]
    pub fn record(&self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition> {
        loop {
            let w = self.load();
            let t = floor(now, w.at);
            if w.state == State::Closed && permit.generation == w.generation {
                if let Some(exit) = P::sealed_exit(&self.policy, w.generation) {
                    self.complete(w, exit);
                    continue;
                }
                let failed = match outcome {
                    Outcome::Success => false,
                    Outcome::Failure => true,
                    Outcome::Ignored => {
                        bump(&self.stripe().ignored);
                        return None;
                    }
                };
                let call = Call {
                    failed,
                    slow: self.is_slow(&permit, t),
                };
                match P::count(&self.policy, &self.ctrl.0, w, call, t, &self.config) {
                    Step::Retry => continue,
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
            if let Some(done) = self.record_other(w, t, &permit, outcome) {
                return done;
            }
        }
    }

    /// `record` outside the Closed fast path; `None` to read again.
    #[inline(never)]
    fn record_other(
        &self,
        w: Word,
        t: u64,
        permit: &Permit,
        outcome: Outcome,
    ) -> Option<Option<Transition>> {
        let mut new = w;
        if w.state == State::HalfOpen && w.a > 0 && Instant::from_ticks(t) >= self.probe_deadline(w)
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
            slow: self.is_slow(permit, t),
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
                new.a = new.a.saturating_sub(1);
                let (next, change) = if call.failed || call.slow {
                    let trips = w.trips.saturating_add(1);
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
            State::HalfOpen
                if w.a >= u32::from(self.config.half_open_probes) && t < self.probe_deadline(w) =>
            {
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
    pub fn window(&self, _now: Instant) -> WindowStats {
        let w = self.load();
        if w.state != State::Closed {
            return WindowStats::default();
        }
        <P as sealed::Share>::stats(&self.policy, w)
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }
}

/// A circuit breaker shared by `&self`, as a policy names it in
/// [`Policy::Shared`]: the lock-free [`SharedCircuitBreaker`], or
/// [`Unshared`] for a policy that has no shared form yet. Code generic over
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

/// The [`Policy::Shared`] of a policy with no shared form yet
/// ([`TimeWindow`](super::TimeWindow), see [`SharedPolicy`]): no value of
/// it exists, and [`SharedBreaker::share`] always refuses, naming the
/// policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unshared {}

impl sealed::Form for Unshared {}

impl<P: Policy + ?Sized> SharedBreaker<P> for Unshared {
    fn share(_config: Config, _policy: &P) -> Result<Self, ConfigError> {
        Err(ConfigError::new(
            "policy",
            "be ConsecutiveFailures or CountWindow for a SharedCircuitBreaker (this policy has no shared form yet): share the CircuitBreaker behind a lock",
        ))
    }
    fn try_acquire(&self, _now: Instant) -> Result<Permit, Rejected> {
        match *self {}
    }
    fn record(&self, _permit: Permit, _outcome: Outcome, _now: Instant) -> Option<Transition> {
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
    use super::super::CircuitBreaker;
    use super::*;

    fn t(ticks: u64) -> Instant {
        Instant::from_ticks(ticks)
    }

    #[test]
    fn words_round_trip() {
        let w = Word {
            at: u64::MAX - 3,
            state: State::HalfOpen,
            generation: u32::MAX,
            a: SMALL_MAX,
            successes: 5,
            trips: TRIPS_MAX,
        };
        assert_eq!(Word::unpack(w.pack()), w);
        let c = Word {
            at: 7,
            state: State::Closed,
            generation: 9,
            a: RUN_MAX,
            successes: 0,
            trips: 0,
        };
        assert_eq!(Word::unpack(c.pack()), c);
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

    /// The #10 options the packed word cannot hold yet are refused, naming
    /// the field; the break-duration laws it can hold (those that reach
    /// their last value within 127 trips) are taken and followed.
    #[test]
    fn refuses_the_options_it_cannot_honour() {
        use super::super::{BreakDuration, ProbeRule};
        let d = Duration::from_ticks;
        let field = |r: Result<SharedCircuitBreaker, ConfigError>| r.err().map(|e| e.field());
        let cf = || ConsecutiveFailures::new(1).unwrap();
        let per_round = Config::new().probe_rule(ProbeRule::PerRound);
        assert_eq!(
            field(SharedCircuitBreaker::new(per_round, cf())),
            Some("probe_rule")
        );
        let interval = cf().interval(d(100)).unwrap();
        assert_eq!(
            field(SharedCircuitBreaker::new(Config::new(), interval)),
            Some("interval")
        );
        // 128 entries whose last differs: trip 128 would read it.
        static LONG: [Duration; 128] = {
            let mut table = [Duration::from_ticks(5); 128];
            if let Some(last) = table.last_mut() {
                *last = Duration::from_ticks(6);
            }
            table
        };
        static EXACT: [Duration; 127] = [Duration::from_ticks(5); 127];
        let long = Config::new().open_duration_table(&LONG);
        assert_eq!(
            field(SharedCircuitBreaker::new(long, cf())),
            Some("open_duration")
        );
        let slow_linear = Config::new().open_duration_linear(d(1), d(1), d(1000));
        assert_eq!(
            field(SharedCircuitBreaker::new(slow_linear, cf())),
            Some("open_duration")
        );
        let table = Config::new().open_duration_table(&EXACT);
        assert!(SharedCircuitBreaker::new(table, cf()).is_ok());
        let linear = Config::new().open_duration_linear(d(1), d(1), d(127));
        assert!(SharedCircuitBreaker::new(linear, cf()).is_ok());

        // A supported schedule is followed trip after trip, as the &mut
        // breaker follows it.
        static STEPS: [Duration; 3] = [
            Duration::from_ticks(10),
            Duration::from_ticks(30),
            Duration::from_ticks(20),
        ];
        let config = Config::new().break_duration(BreakDuration::Table(&STEPS));
        let shared = SharedCircuitBreaker::new(config, cf()).unwrap();
        let mut now = 0;
        for expected in [10, 30, 20, 20] {
            let p = shared.try_acquire(t(now)).unwrap();
            let _ = shared.record(p, Outcome::Failure, t(now));
            assert_eq!(shared.state(t(now + expected - 1)), State::Open);
            assert_eq!(shared.state(t(now + expected)), State::HalfOpen);
            now += expected;
        }
    }

    /// Slots untouched for half the lap range look *later* than the lap
    /// being written; the window must still count exactly (and not spin).
    #[test]
    fn count_window_survives_lap_wraparound() {
        let config = Config::new();
        let shared =
            SharedCircuitBreaker::new(config, CountWindow::<4>::new(50, 4).unwrap()).unwrap();
        let mut reference =
            CircuitBreaker::new(config, CountWindow::<4>::new(50, 4).unwrap()).unwrap();
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
        let b = SharedCircuitBreaker::new(config, W::new(50, 2).unwrap()).unwrap();
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
        let step = <W as sealed::Share>::count(&b.policy, &b.ctrl.0, stale, call, 11, &config);
        assert!(matches!(step, Step::Retry));
        assert_eq!(b.window(t(11)), before);
        assert_eq!(b.state(t(11)), State::Closed);
        assert_eq!(b.load(), now);
    }

    #[test]
    fn shared_limits_are_config_errors() {
        let e = SharedCircuitBreaker::new(
            Config::new().half_open_probes(2048),
            ConsecutiveFailures::new(1).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.field(), "half_open_probes");
        let e = SharedCircuitBreaker::new(
            Config::new().half_open_successes(2048),
            ConsecutiveFailures::new(1).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.field(), "half_open_successes");
        let e =
            SharedCircuitBreaker::new(Config::new(), ConsecutiveFailures::new(1 << 29).unwrap())
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
                CountWindow::<1000>::new(50, 1).unwrap()
            )
            .is_ok()
        );
    }

    /// The trip count saturates at 127 and the open duration with it: the
    /// same durations as the `&mut` breaker's u32 count for any doubling
    /// schedule (which reaches `u64::MAX` within 64 trips).
    #[test]
    fn trip_count_saturation_changes_no_duration() {
        let c = Config::new().open_duration_growing(Duration::from_ticks(1), 2, Duration::MAX);
        assert_eq!(
            c.open_duration_after(TRIPS_MAX),
            c.open_duration_after(u32::MAX)
        );
        assert_eq!(c.open_duration_after(65), Duration::MAX);
    }
}
