//! Property test: the circuit breaker against a simple reference model.
//!
//! Random configurations and random timelines (acquire, record any
//! outstanding permit with any outcome, time forwards, backwards and huge
//! jumps, manual control) are run through `fusebox::breaker` and through
//! `Model`, a plain re-statement of the module docs with `Vec`s and `u128`
//! time. Every decision must agree, and the invariants must hold at every
//! step: never more than K probes in flight, never Closed while the window
//! says trip, a stale permit never changes the state.

use fusebox::breaker::{
    CircuitBreaker, Config, ConsecutiveFailures, CountWindow, Outcome, Permit, Rejected, State,
    TimeWindow, Transition,
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
        }
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
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn breaker_agrees_with_the_reference_model(spec in spec(), ops in proptest::collection::vec(op(), 1..120)) {
        let mut real = build(&spec);
        let mut model = Model::new(spec.clone());
        let mut now: u64 = 1_000;
        let mut outstanding: Vec<(Permit, ModelPermit)> = Vec::new();
        for op in ops {
            let recorded = matches!(op, Op::Record { .. });
            match op {
                Op::Acquire => {
                    let got = each!(&mut real, b => b.try_acquire(Instant::from_ticks(now)));
                    let want = model.acquire(now);
                    match (got, want) {
                        (Ok(p), Ok((mp, transition))) => {
                            prop_assert_eq!(p.transition(), transition);
                            outstanding.push((p, mp));
                        }
                        (Err(r), Err(mr)) => prop_assert_eq!(r, mr),
                        (got, want) => prop_assert!(false, "acquire at {}: got {:?}, model {:?}", now, got, want),
                    }
                }
                Op::Record { which, outcome } => {
                    if outstanding.is_empty() { continue; }
                    let (p, mp) = outstanding.remove(which % outstanding.len());
                    let got = each!(&mut real, b => b.record(p, outcome, Instant::from_ticks(now)));
                    let want = model.record(mp, outcome, now);
                    prop_assert_eq!(got, want, "record {:?} at {}", outcome, now);
                }
                Op::Forward(d) => now = now.saturating_add(d),
                Op::Backward(d) => now = now.saturating_sub(d),
                Op::Jump(d) => now = now.saturating_add(d),
                Op::Isolate => prop_assert_eq!(each!(&mut real, b => b.isolate()), model.force(State::ForcedOpen)),
                Op::ForceClosed => prop_assert_eq!(each!(&mut real, b => b.force_closed()), model.force(State::ForcedClosed)),
                Op::Reset => {
                    let got = each!(&mut real, b => b.reset());
                    model.trips_in_row = 0;
                    prop_assert_eq!(got, model.force(State::Closed));
                }
            }
            let t = Instant::from_ticks(now);
            // Same state and hint, as the next acquire would see them.
            let want_state = match model.state {
                State::Open if now as u128 >= model.until => State::HalfOpen,
                s => s,
            };
            prop_assert_eq!(each!(&real, b => b.state(t)), want_state);
            let want_after = match model.state {
                State::Open if (now as u128) < model.until => Some(Duration::from_ticks((model.until - now as u128) as u64)),
                State::HalfOpen if model.probes >= spec.probes && (now as u128) < model.until =>
                    Some(Duration::from_ticks((model.until - now as u128) as u64)),
                _ => None,
            };
            prop_assert_eq!(each!(&real, b => b.retry_after(t)), want_after);
            // Invariants.
            prop_assert!(model.probes <= spec.probes, "more than K probes in flight");
            // Windows are judged when an outcome is recorded (a time window's
            // rate may rise as old calls age out; the next record trips it).
            if model.state == State::Closed && (recorded || !matches!(spec.policy, PolicySpec::Time { .. })) {
                prop_assert!(!model.window_says_trip(now), "closed while the window says trip");
            }
            prop_assert_eq!(each!(&real, b => b.metrics().stale), model.stale);
        }
    }
}

#[test]
fn size_of_breakers_and_permits() {
    use core::mem::size_of;
    // The figures in the size table of `fusebox::breaker`'s module docs. The
    // state holds no pointer-sized field, so they are the same on thumbv6m
    // (asserted there by the Cortex-M0 runner).
    assert_eq!(size_of::<CircuitBreaker<ConsecutiveFailures>>(), 136);
    assert_eq!(
        size_of::<CircuitBreaker<fusebox::breaker::FailureCount>>(),
        144
    );
    assert_eq!(size_of::<CircuitBreaker<CountWindow<10>>>(), 144);
    assert_eq!(size_of::<CircuitBreaker<CountWindow<100>>>(), 240);
    assert_eq!(size_of::<CircuitBreaker<TimeWindow<10>>>(), 376);
    assert_eq!(size_of::<Config>(), 56);
    assert_eq!(size_of::<fusebox::breaker::BreakDuration>(), 32);
    assert_eq!(size_of::<Permit>(), 16);
}
