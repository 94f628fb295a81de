//! Property test: the circuit breaker against a simple reference model.
//!
//! Random configurations and random timelines (acquire, record any
//! outstanding permit with any outcome, time forwards, backwards and huge
//! jumps, manual control) are run through `fusebox::breaker` and through
//! `Model`, a plain re-statement of the module docs with `Vec`s and `u128`
//! time. Every decision must agree, and the invariants must hold at every
//! step: never more than K probes in flight, never Closed while the window
//! says trip after an outcome the breaker judged, a stale permit never
//! changes the state. The model keeps the crate's rule for time that goes
//! backwards: a `now` earlier than the latest instant seen is judged as that
//! latest instant.
//!
//! The same timelines drive `SharedCircuitBreaker` (one definition, two
//! drivers) for every policy it shares, and it must agree with the `&mut`
//! breaker on every decision, permit, hint, window and counter, for as long
//! as time does not go backwards: from then on the two apply different
//! floors (the shared breaker judges at the later of `now` and the instant
//! its state records; see its docs), and the case stops driving it.

use fusebox::breaker::{
    CircuitBreaker, Config, ConsecutiveFailures, CountWindow, Outcome, Permit, Rejected,
    SharedCircuitBreaker, State, TimeWindow, Transition,
};
use fusebox::time::{Duration, Instant};
use proptest::prelude::*;

const MAX: u128 = u64::MAX as u128;

#[derive(Debug, Clone)]
enum PolicySpec {
    Consecutive(u32),
    Count { pct: u8, min: u32 },
    Time { window: u64, pct: u8, min: u32 },
}

/// N and B of the windows under test.
const COUNT_N: usize = 8;
const TIME_B: usize = 4;

#[derive(Debug, Clone)]
struct Spec {
    open: u64,
    growth: u32,
    open_max: u64,
    probes: u16,
    successes: u16,
    probe_timeout: u64,
    slow: Option<(u64, u8)>,
    policy: PolicySpec,
}

impl Spec {
    fn config(&self) -> Config {
        let mut c = Config::new()
            .open_duration_growing(
                Duration::from_ticks(self.open),
                self.growth,
                Duration::from_ticks(self.open_max),
            )
            .half_open_probes(self.probes)
            .half_open_successes(self.successes)
            .probe_timeout(Duration::from_ticks(self.probe_timeout));
        if let Some((d, p)) = self.slow {
            c = c.slow_calls(Duration::from_ticks(d), p);
        }
        c
    }
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record { which: usize, outcome: Outcome },
    Forward(u64),
    Backward(u64),
    Jump(u64),
    Isolate,
    ForceClosed,
    Reset,
}

fn spec() -> impl Strategy<Value = Spec> {
    let policy =
        prop_oneof![
            (1u32..5).prop_map(PolicySpec::Consecutive),
            (1u8..=100, 1u32..=COUNT_N as u32)
                .prop_map(|(pct, min)| PolicySpec::Count { pct, min }),
            (TIME_B as u64..200, 1u8..=100, 1u32..6)
                .prop_map(|(window, pct, min)| PolicySpec::Time { window, pct, min }),
        ];
    (
        1u64..100,
        1u32..4,
        0u64..300,
        1u16..4,
        1u16..4,
        1u64..100,
        proptest::option::of((1u64..50, 1u8..=100)),
        policy,
    )
        .prop_map(
            |(open, growth, extra, probes, successes, probe_timeout, slow, policy)| Spec {
                open,
                growth,
                open_max: open + extra,
                probes,
                successes,
                probe_timeout,
                slow,
                policy,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        3 => Just(Outcome::Failure),
        2 => Just(Outcome::Success),
        1 => Just(Outcome::Ignored),
    ];
    prop_oneof![
        6 => Just(Op::Acquire),
        6 => (0usize..8, outcome).prop_map(|(which, outcome)| Op::Record { which, outcome }),
        4 => (0u64..60).prop_map(Op::Forward),
        1 => (0u64..60).prop_map(Op::Backward),
        1 => (0u64..u64::MAX).prop_map(Op::Jump),
        1 => Just(Op::Isolate),
        1 => Just(Op::ForceClosed),
        1 => Just(Op::Reset),
    ]
}

/// The reference: the module docs, restated with no cleverness.
#[derive(Debug)]
struct Model {
    spec: Spec,
    state: State,
    generation: u64,
    until: u128,
    trips_in_row: u32,
    probes: u16,
    probe_successes: u16,
    run: u32,
    calls: Vec<(bool, bool)>,
    // Time window: (epoch, failed, slow) of each call, and the newest epoch.
    timed: Vec<(u64, bool, bool)>,
    latest_epoch: u64,
    stale: u32,
    // The latest instant seen: an earlier `now` is judged at it.
    latest: u64,
    // Whether the last record was judged by the policy (a current permit's
    // Success or Failure while Closed).
    judged: bool,
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    at: u64,
    generation: u64,
}

impl Model {
    fn new(spec: Spec) -> Self {
        Model {
            spec,
            state: State::Closed,
            generation: 0,
            until: 0,
            trips_in_row: 0,
            probes: 0,
            probe_successes: 0,
            run: 0,
            calls: Vec::new(),
            timed: Vec::new(),
            latest_epoch: 0,
            stale: 0,
            latest: 0,
            judged: false,
        }
    }

    /// The instant to judge `now` at, recorded as the latest seen.
    fn observe(&mut self, now: u64) -> u64 {
        self.latest = self.latest.max(now);
        self.latest
    }

    fn bucket_ticks(&self) -> u64 {
        match self.spec.policy {
            PolicySpec::Time { window, .. } => window / TIME_B as u64,
            _ => 1,
        }
    }

    fn epoch(&self, now: u64) -> u64 {
        (now / self.bucket_ticks()).max(self.latest_epoch)
    }

    fn open_for(&self) -> u128 {
        let mut d = self.spec.open as u128;
        for _ in 1..self.trips_in_row {
            if d >= self.spec.open_max as u128 {
                break;
            }
            d *= self.spec.growth as u128;
        }
        d.min(self.spec.open_max as u128)
    }

    fn new_generation(&mut self, to: State) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        Transition { from, to }
    }

    fn clear_window(&mut self) {
        self.run = 0;
        self.calls.clear();
        self.timed.clear();
    }

    fn write_off(&mut self, now: u64) {
        if self.state == State::HalfOpen && self.probes > 0 && now as u128 >= self.until {
            self.probes = 0;
            self.generation += 1;
        }
    }

    fn acquire(&mut self, now: u64) -> Result<(ModelPermit, Option<Transition>), Rejected> {
        let now = self.observe(now);
        let mut transition = None;
        match self.state {
            State::ForcedOpen => {
                return Err(Rejected {
                    state: State::ForcedOpen,
                    retry_after: None,
                });
            }
            State::Open if (now as u128) < self.until => {
                return Err(Rejected {
                    state: State::Open,
                    retry_after: Some(Duration::from_ticks((self.until - now as u128) as u64)),
                });
            }
            State::Open => {
                self.probes = 0;
                self.probe_successes = 0;
                transition = Some(self.new_generation(State::HalfOpen));
            }
            State::HalfOpen => {
                self.write_off(now);
                if self.probes >= self.spec.probes {
                    let left = self.until.saturating_sub(now as u128) as u64;
                    return Err(Rejected {
                        state: State::HalfOpen,
                        retry_after: Some(Duration::from_ticks(left)),
                    });
                }
            }
            State::Closed | State::ForcedClosed => {}
        }
        if self.state == State::HalfOpen {
            self.probes += 1;
            self.until = (now as u128 + self.spec.probe_timeout as u128).min(MAX);
        }
        Ok((
            ModelPermit {
                at: now,
                generation: self.generation,
            },
            transition,
        ))
    }

    fn window_says_trip(&self, now: u64) -> bool {
        let rate_trips = |calls: u64, failures: u64, slow: u64, pct: u8, min: u32| {
            calls >= min as u64
                && (failures * 100 >= pct as u64 * calls
                    || self
                        .spec
                        .slow
                        .is_some_and(|(_, sp)| slow * 100 >= sp as u64 * calls))
        };
        match self.spec.policy {
            PolicySpec::Consecutive(n) => self.run >= n,
            PolicySpec::Count { pct, min } => {
                let failures = self.calls.iter().filter(|c| c.0).count() as u64;
                let slow = self.calls.iter().filter(|c| c.1).count() as u64;
                rate_trips(self.calls.len() as u64, failures, slow, pct, min)
            }
            PolicySpec::Time { pct, min, .. } => {
                let e = self.epoch(now);
                let inside: Vec<_> = self
                    .timed
                    .iter()
                    .filter(|c| e - c.0 < TIME_B as u64)
                    .collect();
                let failures = inside.iter().filter(|c| c.1).count() as u64;
                let slow = inside.iter().filter(|c| c.2).count() as u64;
                rate_trips(inside.len() as u64, failures, slow, pct, min)
            }
        }
    }

    fn trip(&mut self, now: u64) -> Transition {
        self.trips_in_row += 1;
        self.until = (now as u128 + self.open_for()).min(MAX);
        self.probes = 0;
        self.probe_successes = 0;
        self.new_generation(State::Open)
    }

    fn record(&mut self, p: ModelPermit, outcome: Outcome, now: u64) -> Option<Transition> {
        let now = self.observe(now);
        self.judged = false;
        self.write_off(now);
        if p.generation != self.generation {
            self.stale += 1;
            return None;
        }
        let slow = self
            .spec
            .slow
            .is_some_and(|(d, _)| now.saturating_sub(p.at) >= d);
        let failed = match outcome {
            Outcome::Ignored => {
                if self.state == State::HalfOpen {
                    self.probes -= 1;
                }
                return None;
            }
            Outcome::Failure => true,
            Outcome::Success => false,
        };
        match self.state {
            State::Closed => {
                match self.spec.policy {
                    PolicySpec::Consecutive(_) => {
                        self.run = if failed || slow { self.run + 1 } else { 0 }
                    }
                    PolicySpec::Count { .. } => {
                        if self.calls.len() == COUNT_N {
                            self.calls.remove(0);
                        }
                        self.calls.push((failed, slow));
                    }
                    PolicySpec::Time { .. } => {
                        let e = self.epoch(now);
                        self.latest_epoch = e;
                        self.timed.push((e, failed, slow));
                    }
                }
                self.judged = true;
                self.window_says_trip(now).then(|| self.trip(now))
            }
            State::HalfOpen => {
                self.probes -= 1;
                if failed || slow {
                    return Some(self.trip(now));
                }
                self.probe_successes += 1;
                if self.probe_successes >= self.spec.successes {
                    self.trips_in_row = 0;
                    self.clear_window();
                    Some(self.new_generation(State::Closed))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn force(&mut self, to: State) -> Option<Transition> {
        self.clear_window();
        self.probes = 0;
        self.probe_successes = 0;
        let t = self.new_generation(to);
        (t.from != t.to).then_some(t)
    }
}

enum Any {
    Consecutive(CircuitBreaker<ConsecutiveFailures>),
    Count(CircuitBreaker<CountWindow<COUNT_N>>),
    Time(CircuitBreaker<TimeWindow<TIME_B>>),
}

/// The shared twin of an [`Any`], where the policy has one.
#[allow(clippy::large_enum_variant)] // one per test case, on the stack
enum Shared {
    Consecutive(SharedCircuitBreaker<ConsecutiveFailures>),
    Count(SharedCircuitBreaker<CountWindow<COUNT_N>>),
}

macro_rules! each_shared {
    ($any:expr, $b:ident => $e:expr) => {
        match $any {
            Shared::Consecutive($b) => $e,
            Shared::Count($b) => $e,
        }
    };
}

fn build_shared(spec: &Spec) -> Option<Shared> {
    let c = spec.config();
    match spec.policy {
        PolicySpec::Consecutive(n) => Some(Shared::Consecutive(
            SharedCircuitBreaker::new(c, ConsecutiveFailures::new(n).unwrap()).unwrap(),
        )),
        PolicySpec::Count { pct, min } => Some(Shared::Count(
            SharedCircuitBreaker::new(c, CountWindow::new(pct, min).unwrap()).unwrap(),
        )),
        PolicySpec::Time { .. } => None,
    }
}

macro_rules! each {
    ($any:expr, $b:ident => $e:expr) => {
        match $any {
            Any::Consecutive($b) => $e,
            Any::Count($b) => $e,
            Any::Time($b) => $e,
        }
    };
}

fn build(spec: &Spec) -> Any {
    let c = spec.config();
    match spec.policy {
        PolicySpec::Consecutive(n) => {
            Any::Consecutive(CircuitBreaker::new(c, ConsecutiveFailures::new(n).unwrap()).unwrap())
        }
        PolicySpec::Count { pct, min } => {
            Any::Count(CircuitBreaker::new(c, CountWindow::new(pct, min).unwrap()).unwrap())
        }
        PolicySpec::Time { window, pct, min } => Any::Time(
            CircuitBreaker::new(
                c,
                TimeWindow::new(Duration::from_ticks(window), pct, min).unwrap(),
            )
            .unwrap(),
        ),
    }
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(2000))]

    #[test]
    fn breaker_agrees_with_the_reference_model(spec in spec(), ops in proptest::collection::vec(op(), 1..120)) {
        agree(&spec, ops)?;
    }
}

/// Run `ops` through the breaker, its shared twin (for the policies it
/// shares, until time first steps back) and the model: every decision
/// agrees and the invariants hold at every step.
fn agree(spec: &Spec, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut real = build(spec);
    let mut shared = build_shared(spec);
    let mut model = Model::new(spec.clone());
    let mut now: u64 = 1_000;
    let mut outstanding: Vec<(Permit, ModelPermit, Option<Permit>)> = Vec::new();
    for op in ops {
        model.judged = false;
        match op {
            Op::Acquire => {
                let got = each!(&mut real, b => b.try_acquire(Instant::from_ticks(now)));
                let twin = shared
                    .as_ref()
                    .map(|s| each_shared!(s, b => b.try_acquire(Instant::from_ticks(now))));
                if let Some(twin) = &twin {
                    prop_assert_eq!(twin, &got, "shared acquire at {}", now);
                }
                let want = model.acquire(now);
                match (got, want) {
                    (Ok(p), Ok((mp, transition))) => {
                        prop_assert_eq!(p.transition(), transition);
                        outstanding.push((p, mp, twin.and_then(Result::ok)));
                    }
                    (Err(r), Err(mr)) => prop_assert_eq!(r, mr),
                    (got, want) => {
                        prop_assert!(false, "acquire at {}: got {:?}, model {:?}", now, got, want)
                    }
                }
            }
            Op::Record { which, outcome } => {
                if outstanding.is_empty() {
                    continue;
                }
                let (p, mp, sp) = outstanding.remove(which % outstanding.len());
                let got = each!(&mut real, b => b.record(p, outcome, Instant::from_ticks(now)));
                if let (Some(s), Some(sp)) = (&shared, sp) {
                    let twin =
                        each_shared!(s, b => b.record(sp, outcome, Instant::from_ticks(now)));
                    prop_assert_eq!(twin, got, "shared record {:?} at {}", outcome, now);
                }
                let want = model.record(mp, outcome, now);
                prop_assert_eq!(got, want, "record {:?} at {}", outcome, now);
            }
            Op::Forward(d) => now = now.saturating_add(d),
            Op::Backward(d) => {
                if d > 0 && now > 0 {
                    // Time goes backwards: the `&mut` breaker judges at the
                    // latest instant it has seen, the shared one at the
                    // latest its state records (see the file's docs); the
                    // shared twin stops here.
                    shared = None;
                }
                now = now.saturating_sub(d);
            }
            Op::Jump(d) => now = now.saturating_add(d),
            Op::Isolate => {
                let got = each!(&mut real, b => b.isolate());
                if let Some(s) = &shared {
                    prop_assert_eq!(each_shared!(s, b => b.isolate()), got);
                }
                prop_assert_eq!(got, model.force(State::ForcedOpen));
            }
            Op::ForceClosed => {
                let got = each!(&mut real, b => b.force_closed());
                if let Some(s) = &shared {
                    prop_assert_eq!(each_shared!(s, b => b.force_closed()), got);
                }
                prop_assert_eq!(got, model.force(State::ForcedClosed));
            }
            Op::Reset => {
                let got = each!(&mut real, b => b.reset());
                if let Some(s) = &shared {
                    prop_assert_eq!(each_shared!(s, b => b.reset()), got);
                }
                model.trips_in_row = 0;
                prop_assert_eq!(got, model.force(State::Closed));
            }
        }
        let t = Instant::from_ticks(now);
        if let Some(s) = &shared {
            prop_assert_eq!(
                each_shared!(s, b => b.state(t)),
                each!(&real, b => b.state(t))
            );
            prop_assert_eq!(
                each_shared!(s, b => b.retry_after(t)),
                each!(&real, b => b.retry_after(t))
            );
            // `admitted` is derived from recorded permits in the shared
            // breaker: the outstanding ones are not in it yet.
            let mut want = each!(&real, b => b.metrics());
            want.admitted -= outstanding.len() as u32;
            prop_assert_eq!(each_shared!(s, b => b.metrics()), want);
            if each!(&real, b => b.state(t)) == State::Closed {
                prop_assert_eq!(
                    each_shared!(s, b => b.window(t)),
                    each!(&real, b => b.window(t))
                );
            }
        }
        // Same state and hint, as the next acquire would see them: judged
        // at the latest instant seen when `now` is earlier.
        let at = now.max(model.latest) as u128;
        let want_state = match model.state {
            State::Open if at >= model.until => State::HalfOpen,
            s => s,
        };
        prop_assert_eq!(each!(&real, b => b.state(t)), want_state);
        let want_after = match model.state {
            State::Open if at < model.until => {
                Some(Duration::from_ticks((model.until - at) as u64))
            }
            State::HalfOpen if model.probes >= spec.probes && at < model.until => {
                Some(Duration::from_ticks((model.until - at) as u64))
            }
            _ => None,
        };
        prop_assert_eq!(each!(&real, b => b.retry_after(t)), want_after);
        // Invariants.
        prop_assert!(model.probes <= spec.probes, "more than K probes in flight");
        // The window is judged when the breaker judges an outcome (a time
        // window's rate may rise as old calls age out, and a stale permit
        // or an Ignored outcome is not judged; the next judged record trips
        // it). Count and consecutive windows change only then.
        if model.state == State::Closed
            && (model.judged || !matches!(spec.policy, PolicySpec::Time { .. }))
        {
            prop_assert!(
                !model.window_says_trip(at as u64),
                "closed while the window says trip"
            );
        }
        prop_assert_eq!(each!(&real, b => b.metrics().stale), model.stale);
    }
    Ok(())
}

/// The input of issue 9 that failed "closed while the window says trip"
/// about one run in fifteen: a time window (120 ticks, 51 %, minimum 1
/// call; open 1 tick, growth 1, 1 probe, 1 success, probe timeout 1), with
/// records the breaker never judged (stale permits) and a step back.
#[test]
fn issue_9_time_window_timeline() {
    let spec = Spec {
        open: 1,
        growth: 1,
        open_max: 1,
        probes: 1,
        successes: 1,
        probe_timeout: 1,
        slow: None,
        policy: PolicySpec::Time {
            window: 120,
            pct: 51,
            min: 1,
        },
    };
    let rec = |outcome| Op::Record { which: 0, outcome };
    let ops = vec![
        Op::Acquire,
        Op::Forward(7),
        Op::Acquire,
        Op::Acquire,
        Op::Reset,
        rec(Outcome::Failure), // the first permit: stale after the reset
        Op::Backward(35),
        Op::Acquire,
        rec(Outcome::Success),
        Op::Acquire,
        Op::Forward(15),
        rec(Outcome::Failure),
        Op::Forward(51),
        rec(Outcome::Failure),
        Op::Forward(42),
        rec(Outcome::Failure),
    ];
    agree(&spec, ops).expect("the breaker, the model and the invariant agree");

    // The same timeline, step by step, on the breaker alone.
    let Any::Time(mut b) = build(&spec) else {
        unreachable!("a time-window spec")
    };
    let t = Instant::from_ticks;
    let p1 = b.try_acquire(t(1_000)).expect("closed");
    let p2 = b.try_acquire(t(1_007)).expect("closed");
    let p3 = b.try_acquire(t(1_007)).expect("closed");
    assert_eq!(b.reset(), None); // closed already; a new generation
    assert_eq!(b.record(p1, Outcome::Failure, t(1_007)), None); // stale
    // 35 ticks back: judged at 1 007, the latest instant seen.
    let p4 = b.try_acquire(t(972)).expect("closed");
    assert_eq!(p4.acquired_at(), t(1_007));
    assert_eq!(b.record(p2, Outcome::Success, t(972)), None); // stale
    let p5 = b.try_acquire(t(972)).expect("closed");
    assert_eq!(b.record(p3, Outcome::Failure, t(987)), None); // stale
    assert_eq!(b.metrics().stale, 3);
    assert_eq!(b.window(t(987)).calls, 0); // nothing judged yet
    // The first judged outcome, a failure: 1 of 1 calls, 100 % >= 51 %.
    assert_eq!(
        b.record(p4, Outcome::Failure, t(1_038)),
        Some(Transition {
            from: State::Closed,
            to: State::Open
        })
    );
    assert_eq!(b.record(p5, Outcome::Failure, t(1_080)), None); // stale
    assert_eq!(b.state(t(1_080)), State::HalfOpen);
    assert_eq!(b.metrics().stale, 4);
}

#[test]
fn size_of_breakers_and_permits() {
    use core::mem::size_of;
    // The figures in the size table of `fusebox::breaker`'s module docs. The
    // state holds no pointer-sized field, so they are the same on thumbv6m
    // (asserted there by the Cortex-M0 runner).
    assert_eq!(size_of::<CircuitBreaker<ConsecutiveFailures>>(), 144);
    assert_eq!(
        size_of::<CircuitBreaker<fusebox::breaker::FailureCount>>(),
        152
    );
    assert_eq!(size_of::<CircuitBreaker<CountWindow<10>>>(), 152);
    assert_eq!(size_of::<CircuitBreaker<CountWindow<100>>>(), 248);
    assert_eq!(size_of::<CircuitBreaker<TimeWindow<10>>>(), 384);
    assert_eq!(size_of::<Config>(), 56);
    assert_eq!(size_of::<fusebox::breaker::BreakDuration>(), 32);
    assert_eq!(size_of::<Permit>(), 16);
}
