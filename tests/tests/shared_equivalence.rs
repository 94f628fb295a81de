//! Property test: `SharedCircuitBreaker` decides like the `&mut`
//! `CircuitBreaker`, for every policy and every option of issue #10.
//!
//! Random configurations (every break-duration law, both probe rules, K and
//! S, probe timeouts, slow calls) over every policy (`ConsecutiveFailures`
//! and `FailureCount` with and without a counting interval, `CountWindow`,
//! `TimeWindow`) and random timelines (acquire, record any outstanding
//! permit with any outcome, time forwards and huge jumps, manual control)
//! are run through both breakers, one operation at a time: every permit,
//! refusal, transition, state, hint, counter and window must agree. (The
//! `&mut` breaker is checked against reference models in `breaker.rs` and
//! `breaker_options.rs`.) Time only moves forwards here: when it goes
//! backwards the two apply different floors (the shared breaker judges at
//! the later of `now` and the instant its state records; see its docs).

use fusebox::breaker::{
    BreakDuration, CircuitBreaker, Config, ConsecutiveFailures, CountWindow, FailureCount, Outcome,
    Permit, Policy, ProbeRule, SharedCircuitBreaker, SharedPolicy, State, TimeWindow,
};
use fusebox::time::{Duration, Instant};
use proptest::prelude::*;

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

#[derive(Debug, Clone)]
enum PolicySpec {
    Consecutive(u32, Option<u64>),
    Count(u8, u32),
    Time(u64, u8, u32),
    FailureCount(u32, Option<u64>),
}

#[derive(Debug, Clone)]
struct Spec {
    schedule: BreakDuration,
    probes: u16,
    successes: u16,
    per_round: bool,
    probe_timeout: u64,
    slow: Option<(u64, u8)>,
    policy: PolicySpec,
}

impl Spec {
    fn config(&self) -> Config {
        let successes = if self.per_round {
            self.successes.min(self.probes)
        } else {
            self.successes
        };
        let mut c = Config::new()
            .break_duration(self.schedule)
            .half_open_probes(self.probes)
            .half_open_successes(successes)
            .probe_timeout(d(self.probe_timeout))
            .probe_rule(if self.per_round {
                ProbeRule::PerRound
            } else {
                ProbeRule::InFlight
            });
        if let Some((x, p)) = self.slow {
            c = c.slow_calls(d(x), p);
        }
        c
    }
}

fn schedule() -> impl Strategy<Value = BreakDuration> {
    prop_oneof![
        (1u64..60).prop_map(|x| BreakDuration::Constant(d(x))),
        (1u64..30, 1u32..4, 0u64..300).prop_map(|(i, f, extra)| BreakDuration::Geometric {
            initial: d(i),
            factor: f,
            max: d(i + extra),
        }),
        (1u64..30, 0u64..20, 0u64..300).prop_map(|(i, s, extra)| BreakDuration::Linear {
            initial: d(i),
            step: d(s),
            max: d(i + extra),
        }),
        proptest::collection::vec(1u64..80, 1..8).prop_map(|v| {
            let table: Vec<Duration> = v.into_iter().map(d).collect();
            BreakDuration::Table(Box::leak(table.into_boxed_slice()))
        }),
    ]
}

const COUNT_N: usize = 6;
const TIME_B: usize = 4;

fn spec() -> impl Strategy<Value = Spec> {
    let interval = proptest::option::of(1u64..120);
    let policy = prop_oneof![
        (1u32..5, interval.clone()).prop_map(|(n, i)| PolicySpec::Consecutive(n, i)),
        (1u8..=100, 1u32..=COUNT_N as u32).prop_map(|(p, m)| PolicySpec::Count(p, m)),
        (TIME_B as u64..200, 1u8..=100, 1u32..6).prop_map(|(w, p, m)| PolicySpec::Time(w, p, m)),
        (1u32..5, interval).prop_map(|(n, i)| PolicySpec::FailureCount(n, i)),
    ];
    (
        schedule(),
        1u16..4,
        1u16..4,
        any::<bool>(),
        1u64..100,
        proptest::option::of((1u64..50, 1u8..=100)),
        policy,
    )
        .prop_map(
            |(schedule, probes, successes, per_round, probe_timeout, slow, policy)| Spec {
                schedule,
                probes,
                successes,
                per_round,
                probe_timeout,
                slow,
                policy,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record { which: usize, outcome: Outcome },
    Forward(u64),
    Jump(u64),
    Isolate,
    ForceClosed,
    Reset,
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
        5 => (0u64..60).prop_map(Op::Forward),
        1 => (0u64..u64::MAX / 4).prop_map(Op::Jump),
        1 => Just(Op::Isolate),
        1 => Just(Op::ForceClosed),
        1 => Just(Op::Reset),
    ]
}

/// Run `ops` through both breakers; every observable agrees after every
/// operation.
fn agree<P: SharedPolicy + Clone>(
    config: Config,
    policy: P,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut real = CircuitBreaker::new(config, policy.clone()).unwrap();
    let shared = SharedCircuitBreaker::new(config, policy).unwrap();
    let mut now: u64 = 1_000;
    let mut out: Vec<(Permit, Permit)> = Vec::new();
    for op in ops {
        let t = Instant::from_ticks(now);
        match *op {
            Op::Acquire => {
                let a = real.try_acquire(t);
                let b = shared.try_acquire(t);
                prop_assert_eq!(&a, &b, "acquire at {}", now);
                if let (Ok(a), Ok(b)) = (a, b) {
                    out.push((a, b));
                }
            }
            Op::Record { which, outcome } => {
                if out.is_empty() {
                    continue;
                }
                let (a, b) = out.remove(which % out.len());
                prop_assert_eq!(
                    real.record(a, outcome, t),
                    shared.record(b, outcome, t),
                    "record {:?} at {}",
                    outcome,
                    now
                );
            }
            Op::Forward(x) => now = now.saturating_add(x),
            Op::Jump(x) => now = now.saturating_add(x),
            Op::Isolate => prop_assert_eq!(real.isolate(), shared.isolate()),
            Op::ForceClosed => prop_assert_eq!(real.force_closed(), shared.force_closed()),
            Op::Reset => prop_assert_eq!(real.reset(), shared.reset()),
        }
        let t = Instant::from_ticks(now);
        prop_assert_eq!(real.state(t), shared.state(t), "state at {}", now);
        prop_assert_eq!(
            real.retry_after(t),
            shared.retry_after(t),
            "hint at {}",
            now
        );
        // `admitted` is derived from recorded permits in the shared
        // breaker: the outstanding ones are not in it yet.
        let mut want = real.metrics();
        want.admitted -= out.len() as u32;
        prop_assert_eq!(want, shared.metrics());
        if real.state(t) == State::Closed {
            prop_assert_eq!(real.window(t), shared.window(t), "window at {}", now);
        }
    }
    Ok(())
}

fn run(spec: &Spec, ops: &[Op]) -> Result<(), TestCaseError> {
    let c = spec.config();
    match spec.policy {
        PolicySpec::Consecutive(n, i) => {
            let mut p = ConsecutiveFailures::new(n).unwrap();
            if let Some(i) = i {
                p = p.interval(d(i)).unwrap();
            }
            agree(c, p, ops)
        }
        PolicySpec::Count(pct, min) => agree(
            c,
            CountWindow::<COUNT_N>::builder()
                .failure_rate(pct)
                .minimum_calls(min)
                .build()
                .unwrap(),
            ops,
        ),
        PolicySpec::Time(w, pct, min) => agree(
            c,
            TimeWindow::<TIME_B>::builder(d(w))
                .failure_rate(pct)
                .minimum_calls(min)
                .build()
                .unwrap(),
            ops,
        ),
        PolicySpec::FailureCount(n, i) => {
            let mut p = FailureCount::new(n).unwrap();
            if let Some(i) = i {
                p = p.interval(d(i)).unwrap();
            }
            agree(c, p, ops)
        }
    }
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(3000))]

    #[test]
    fn shared_breaker_agrees_with_the_mut_breaker(
        spec in spec(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        run(&spec, &ops)?;
    }
}

/// A time window with one bucket and one with many, through long quiet
/// gaps (every bucket expires) and dense bursts in one bucket.
#[test]
fn time_windows_agree_through_gaps_and_bursts() {
    fn go<const B: usize>(window: u64) {
        let config = Config::new().open_duration(d(7)).probe_timeout(d(3));
        let policy = TimeWindow::<B>::builder(d(window))
            .failure_rate(40)
            .minimum_calls(3)
            .build()
            .unwrap();
        let mut ops = Vec::new();
        for k in 0..400u64 {
            ops.push(Op::Acquire);
            ops.push(Op::Record {
                which: 0,
                outcome: if k % 3 == 0 {
                    Outcome::Failure
                } else {
                    Outcome::Success
                },
            });
            ops.push(Op::Forward(match k % 17 {
                0 => window * 3,
                1..=5 => 0,
                n => n,
            }));
        }
        agree(config, policy, &ops).unwrap();
    }
    go::<1>(5);
    go::<3>(30);
    go::<10>(100);
    go::<64>(640);
}

/// Every policy type is a `SharedPolicy` now: generic code takes the
/// lock-free path for each.
#[test]
fn every_policy_shares() {
    fn shares<P: Policy + SharedPolicy + Clone>(p: P) -> bool {
        SharedCircuitBreaker::new(Config::new(), p).is_ok()
    }
    assert!(shares(ConsecutiveFailures::new(3).unwrap()));
    assert!(shares(
        ConsecutiveFailures::new(3)
            .unwrap()
            .interval(d(60))
            .unwrap()
    ));
    assert!(shares(
        CountWindow::<10>::builder()
            .failure_rate(50)
            .minimum_calls(5)
            .build()
            .unwrap()
    ));
    assert!(shares(
        TimeWindow::<10>::builder(d(100))
            .failure_rate(50)
            .minimum_calls(5)
            .build()
            .unwrap()
    ));
    assert!(shares(FailureCount::new(3).unwrap()));
    assert!(shares(
        FailureCount::new(3).unwrap().interval(d(60)).unwrap()
    ));
}
