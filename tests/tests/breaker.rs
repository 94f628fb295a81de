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
    BreakDuration, CircuitBreaker, ConsecutiveFailures, CountWindow, FailureCount, Outcome, Permit,
    SharedCircuitBreaker, State, TimeWindow, Transition,
};
use fusebox::time::{Duration, Instant};
use fusebox_models::breaker::{COUNT_N, Model, ModelPermit, PolicySpec, Spec, TIME_B};
use proptest::prelude::*;

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
            (1u32..5, proptest::option::of(1u64..120)).prop_map(|(threshold, interval)| {
                PolicySpec::Consecutive {
                    threshold,
                    interval,
                }
            }),
            (1u32..5, proptest::option::of(1u64..120)).prop_map(|(threshold, interval)| {
                PolicySpec::FailureCount {
                    threshold,
                    interval,
                }
            }),
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
                schedule: BreakDuration::Geometric {
                    initial: Duration::from_ticks(open),
                    factor: growth,
                    max: Duration::from_ticks(open + extra),
                },
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

enum Any {
    Consecutive(CircuitBreaker<ConsecutiveFailures>),
    FailureCount(CircuitBreaker<FailureCount>),
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

/// The shared twin, where the policy (with its settings) has one.
fn build_shared(spec: &Spec) -> Option<Shared> {
    let c = spec.config();
    if let Some(p) = spec.policy.consecutive_policy() {
        return SharedCircuitBreaker::new(c, p)
            .ok()
            .map(Shared::Consecutive);
    }
    let p = spec.policy.count_policy()?;
    Some(Shared::Count(SharedCircuitBreaker::new(c, p).unwrap()))
}

macro_rules! each {
    ($any:expr, $b:ident => $e:expr) => {
        match $any {
            Any::Consecutive($b) => $e,
            Any::FailureCount($b) => $e,
            Any::Count($b) => $e,
            Any::Time($b) => $e,
        }
    };
}

fn build(spec: &Spec) -> Any {
    let c = spec.config();
    let p = &spec.policy;
    match *p {
        PolicySpec::Consecutive { .. } => {
            Any::Consecutive(CircuitBreaker::new(c, p.consecutive_policy().unwrap()).unwrap())
        }
        PolicySpec::FailureCount { .. } => {
            Any::FailureCount(CircuitBreaker::new(c, p.failure_count_policy().unwrap()).unwrap())
        }
        PolicySpec::Count { .. } => {
            Any::Count(CircuitBreaker::new(c, p.count_policy().unwrap()).unwrap())
        }
        PolicySpec::Time { .. } => {
            Any::Time(CircuitBreaker::new(c, p.time_policy().unwrap()).unwrap())
        }
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
    let mut model = Model::new(*spec);
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
        let at = now.max(model.latest);
        prop_assert_eq!(each!(&real, b => b.state(t)), model.state_at(now));
        let want_after = model.retry_after_at(now);
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
                !model.window_says_trip(at),
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
        schedule: BreakDuration::Geometric {
            initial: Duration::from_ticks(1),
            factor: 1,
            max: Duration::from_ticks(1),
        },
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
