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
use std::cell::Cell;

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
///
/// A third breaker, the shared one driven through its lazy-clock methods
/// (`try_acquire_with` / `record_with`, as `fusebox_std::Breaker` drives
/// it), must decide as the eager one, read the clock at most once per
/// operation, and read none where the time cannot matter: admission in
/// Closed, ForcedClosed or ForcedOpen with slow calls off, and (for a
/// policy whose success stores no instant, `lazy_successes`) a success
/// or ignored outcome recorded in Closed with slow calls off that does
/// not trip the breaker.
fn agree<P: SharedPolicy + Clone>(
    config: Config,
    policy: P,
    lazy_successes: bool,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut real = CircuitBreaker::new(config, policy.clone()).unwrap();
    let shared = SharedCircuitBreaker::new(config, policy.clone()).unwrap();
    let lazy = SharedCircuitBreaker::new(config, policy).unwrap();
    let slow_off = config.slow_call_duration().is_none();
    let reads = Cell::new(0u32);
    let mut now: u64 = 1_000;
    let mut out: Vec<(Permit, Permit, Permit)> = Vec::new();
    for op in ops {
        let t = Instant::from_ticks(now);
        let clock = || {
            reads.set(reads.get() + 1);
            t
        };
        let before = lazy.state(t);
        reads.set(0);
        match *op {
            Op::Acquire => {
                let a = real.try_acquire(t);
                let b = shared.try_acquire(t);
                let c = lazy.try_acquire_with(clock);
                prop_assert_eq!(&a, &b, "acquire at {}", now);
                prop_assert!(reads.get() <= 1);
                if slow_off
                    && matches!(
                        before,
                        State::Closed | State::ForcedClosed | State::ForcedOpen
                    )
                {
                    prop_assert_eq!(reads.get(), 0, "a read to admit in {:?}", before);
                }
                match (&b, &c) {
                    (Ok(b), Ok(c)) => {
                        prop_assert_eq!(b.transition(), c.transition());
                        // Unread, the permit carries a lower bound.
                        if reads.get() == 1 {
                            prop_assert_eq!(b.acquired_at(), c.acquired_at());
                        } else {
                            prop_assert!(c.acquired_at() <= b.acquired_at());
                        }
                    }
                    (Err(b), Err(c)) => prop_assert_eq!(b, c),
                    _ => prop_assert!(false, "lazy acquire differs: {:?} {:?}", b, c),
                }
                if let (Ok(a), Ok(b), Ok(c)) = (a, b, c) {
                    out.push((a, b, c));
                }
            }
            Op::Record { which, outcome } => {
                if out.is_empty() {
                    continue;
                }
                let (a, b, c) = out.remove(which % out.len());
                let want = real.record(a, outcome, t);
                prop_assert_eq!(
                    want,
                    shared.record(b, outcome, t),
                    "record {:?} at {}",
                    outcome,
                    now
                );
                prop_assert_eq!(want, lazy.record_with(c, outcome, clock), "lazy record");
                prop_assert!(reads.get() <= 1);
                // (A success trips a count window whose minimum it
                // completes: that reads the instant it opens.)
                if lazy_successes
                    && slow_off
                    && before == State::Closed
                    && outcome != Outcome::Failure
                    && want.is_none()
                {
                    prop_assert_eq!(reads.get(), 0, "a read to record {:?}", outcome);
                }
            }
            Op::Forward(x) => now = now.saturating_add(x),
            Op::Jump(x) => now = now.saturating_add(x),
            Op::Isolate => {
                prop_assert_eq!(real.isolate(), shared.isolate());
                lazy.isolate();
            }
            Op::ForceClosed => {
                prop_assert_eq!(real.force_closed(), shared.force_closed());
                lazy.force_closed();
            }
            Op::Reset => {
                prop_assert_eq!(real.reset(), shared.reset());
                lazy.reset();
            }
        }
        let t = Instant::from_ticks(now);
        prop_assert_eq!(real.state(t), shared.state(t), "state at {}", now);
        prop_assert_eq!(shared.state(t), lazy.state(t), "lazy state at {}", now);
        prop_assert_eq!(
            real.retry_after(t),
            shared.retry_after(t),
            "hint at {}",
            now
        );
        prop_assert_eq!(shared.retry_after(t), lazy.retry_after(t));
        // `admitted` is derived from recorded permits in the shared
        // breaker: the outstanding ones are not in it yet.
        let mut want = real.metrics();
        want.admitted -= out.len() as u32;
        prop_assert_eq!(want, shared.metrics());
        prop_assert_eq!(want, lazy.metrics());
        if real.state(t) == State::Closed {
            prop_assert_eq!(real.window(t), shared.window(t), "window at {}", now);
            prop_assert_eq!(shared.window(t), lazy.window(t));
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
            agree(c, p, i.is_none(), ops)
        }
        PolicySpec::Count(pct, min) => agree(
            c,
            CountWindow::<COUNT_N>::builder()
                .failure_rate(pct)
                .minimum_calls(min)
                .build()
                .unwrap(),
            true,
            ops,
        ),
        PolicySpec::Time(w, pct, min) => agree(
            c,
            TimeWindow::<TIME_B>::builder(d(w))
                .failure_rate(pct)
                .minimum_calls(min)
                .build()
                .unwrap(),
            false,
            ops,
        ),
        PolicySpec::FailureCount(n, i) => {
            let mut p = FailureCount::new(n).unwrap();
            if let Some(i) = i {
                p = p.interval(d(i)).unwrap();
            }
            agree(c, p, false, ops)
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
        agree(config, policy, false, &ops).unwrap();
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

/// The lazy-clock methods read the clock exactly where the decision needs
/// the time (counted with a test clock): never for a healthy closed call
/// of `ConsecutiveFailures` or `CountWindow` with slow calls off; once for
/// the failure that trips (the instant it opens), for admission while
/// Open and HalfOpen, for every probe's outcome, for every outcome of a
/// `TimeWindow` and of a counting interval, and at both ends of a call
/// when slow-call detection is on. The eager methods decide the same.
#[test]
fn the_lazy_clock_is_read_only_where_time_matters() {
    let reads = Cell::new(0u32);
    let at = Cell::new(0u64);
    let clock = || {
        reads.set(reads.get() + 1);
        Instant::from_ticks(at.get())
    };
    let take = || reads.replace(0);
    let config = Config::new().open_duration(d(100)).half_open_probes(1);

    // CountWindow<4>, 50 % of at least 4: healthy successes read nothing,
    // nor do failures that do not trip; the trip reads once.
    let b = SharedCircuitBreaker::new(
        config,
        CountWindow::<4>::builder()
            .failure_rate(50)
            .minimum_calls(4)
            .build()
            .unwrap(),
    )
    .unwrap();
    at.set(10);
    for outcome in [
        Outcome::Success,
        Outcome::Success,
        Outcome::Failure,
        Outcome::Success,
        Outcome::Ignored,
        Outcome::Success,
    ] {
        let p = b.try_acquire_with(clock).unwrap();
        assert_eq!(take(), 0, "admission in Closed");
        assert_eq!(b.record_with(p, outcome, clock), None);
        assert_eq!(take(), 0, "{outcome:?} in Closed");
    }
    let p = b.try_acquire_with(clock).unwrap();
    assert_eq!(
        p.acquired_at(),
        Instant::from_ticks(0),
        "unread: when it closed"
    );
    let trip = b.record_with(p, Outcome::Failure, clock).unwrap();
    assert_eq!((trip.to, take()), (State::Open, 1));
    // Open: admission reads (the open duration), and refuses until 110.
    at.set(50);
    assert_eq!(
        b.try_acquire_with(clock).unwrap_err().retry_after,
        Some(d(60))
    );
    assert_eq!(take(), 1);
    at.set(110);
    let probe = b.try_acquire_with(clock).unwrap();
    assert_eq!(take(), 1);
    assert_eq!(probe.acquired_at(), Instant::from_ticks(110));
    // HalfOpen: a refusal reads (the probe timeout), the probe's outcome
    // reads.
    assert!(b.try_acquire_with(clock).is_err());
    assert_eq!(take(), 1);
    let closed = b.record_with(probe, Outcome::Success, clock).unwrap();
    assert_eq!((closed.to, take()), (State::Closed, 1));
    // ForcedOpen and ForcedClosed admit without reading.
    b.isolate();
    assert!(b.try_acquire_with(clock).is_err());
    b.force_closed();
    let p = b.try_acquire_with(clock).unwrap();
    assert_eq!(b.record_with(p, Outcome::Failure, clock), None);
    assert_eq!(take(), 0);

    // ConsecutiveFailures(2): the second failure in a row trips, and
    // reads; the first and every success do not.
    let b = SharedCircuitBreaker::new(config, ConsecutiveFailures::new(2).unwrap()).unwrap();
    for outcome in [Outcome::Failure, Outcome::Success, Outcome::Failure] {
        let p = b.try_acquire_with(clock).unwrap();
        assert_eq!(b.record_with(p, outcome, clock), None);
        assert_eq!(take(), 0, "{outcome:?}");
    }
    let p = b.try_acquire_with(clock).unwrap();
    assert!(b.record_with(p, Outcome::Failure, clock).is_some());
    assert_eq!(take(), 1);
    assert_eq!(b.retry_after(Instant::from_ticks(at.get())), Some(d(100)));

    // A counting interval and a TimeWindow read at every outcome (their
    // buckets), never to admit.
    let interval = ConsecutiveFailures::new(3)
        .unwrap()
        .interval(d(50))
        .unwrap();
    let b = SharedCircuitBreaker::new(config, interval).unwrap();
    let p = b.try_acquire_with(clock).unwrap();
    assert_eq!(take(), 0);
    b.record_with(p, Outcome::Success, clock);
    assert_eq!(take(), 1);
    let b = SharedCircuitBreaker::new(
        config,
        TimeWindow::<4>::builder(d(40))
            .failure_rate(50)
            .minimum_calls(4)
            .build()
            .unwrap(),
    )
    .unwrap();
    let p = b.try_acquire_with(clock).unwrap();
    assert_eq!(take(), 0);
    b.record_with(p, Outcome::Success, clock);
    assert_eq!(take(), 1);
    assert_eq!(b.window(Instant::from_ticks(at.get())).calls, 1);

    // Slow-call detection on: both ends of every call are read, and a
    // slow success counts as the eager breaker counts it.
    let slow = config.slow_calls(d(5), 100);
    let lazy = SharedCircuitBreaker::new(slow, ConsecutiveFailures::new(1).unwrap()).unwrap();
    let eager = SharedCircuitBreaker::new(slow, ConsecutiveFailures::new(1).unwrap()).unwrap();
    at.set(200);
    let p = lazy.try_acquire_with(clock).unwrap();
    assert_eq!((take(), p.acquired_at()), (1, Instant::from_ticks(200)));
    let q = eager.try_acquire(Instant::from_ticks(200)).unwrap();
    at.set(205);
    let change = lazy.record_with(p, Outcome::Success, clock);
    assert_eq!(take(), 1);
    assert_eq!(
        change,
        eager.record(q, Outcome::Success, Instant::from_ticks(205))
    );
    assert_eq!(change.map(|t| t.to), Some(State::Open));
    assert_eq!(lazy.metrics(), eager.metrics());
}
