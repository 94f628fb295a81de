//! Property tests of the breaker options of issue #10: the break-duration
//! laws, counting intervals (`FailureCount`, `ConsecutiveFailures::interval`)
//! against a reference model, and the per-round probe limit.

use fusebox::breaker::{
    BreakDuration, CircuitBreaker, Config, ConsecutiveFailures, FailureCount, Outcome, Permit,
    ProbeRule, State,
};
use fusebox::time::{Duration, Instant};
use fusebox_models::breaker::{IntervalModel, break_duration as law};
use proptest::prelude::*;

fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

/// A schedule, with the leaked table it may point into.
fn schedule() -> impl Strategy<Value = BreakDuration> {
    let any_ticks = prop_oneof![1u64..1_000, 1u64..u64::MAX, Just(u64::MAX)];
    prop_oneof![
        any_ticks
            .clone()
            .prop_map(|x| BreakDuration::Constant(d(x))),
        (any_ticks.clone(), 1u32..10, 0u64..u64::MAX).prop_map(|(i, f, extra)| {
            BreakDuration::Geometric {
                initial: d(i),
                factor: f,
                max: d(i.saturating_add(extra)),
            }
        }),
        (any_ticks.clone(), 0u64..u64::MAX, 0u64..u64::MAX).prop_map(|(i, step, extra)| {
            BreakDuration::Linear {
                initial: d(i),
                step: d(step >> (step % 64)),
                max: d(i.saturating_add(extra)),
            }
        }),
        proptest::collection::vec(any_ticks, 1..10).prop_map(|v| {
            let table: Vec<Duration> = v.into_iter().map(d).collect();
            BreakDuration::Table(Box::leak(table.into_boxed_slice()))
        }),
    ]
}

/// An outcome in a timeline: the time step before it and what it was.
fn steps() -> impl Strategy<Value = Vec<(u64, Outcome)>> {
    let outcome = prop_oneof![
        3 => Just(Outcome::Failure),
        2 => Just(Outcome::Success),
        1 => Just(Outcome::Ignored),
    ];
    proptest::collection::vec((0u64..40, outcome), 1..80)
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(1000))]

    /// `open_duration_after(n)` is the law of `BreakDuration`'s table, and a
    /// breaker tripped n times in a row stays open exactly that long.
    #[test]
    fn break_duration_follows_its_law(schedule in schedule(), n in 0u32..300, big in any::<u32>()) {
        let config = Config::new().break_duration(schedule).probe_timeout(d(1));
        prop_assert!(config.validate().is_ok());
        prop_assert_eq!(config.open_duration_after(n).as_ticks(), law(&schedule, n));
        prop_assert_eq!(config.open_duration_after(big).as_ticks(), law(&schedule, big));
        // Through a breaker: trips in a row, each probe failing at once.
        let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1).unwrap()).unwrap();
        let mut now = 0u64;
        let p = b.try_acquire(t(now)).unwrap();
        b.record(p, Outcome::Failure, t(now));
        for trip in 1..=(n % 12).max(1) {
            let open = b.retry_after(t(now)).map_or(0, |x| x.as_ticks());
            let want = law(&schedule, trip).min(u64::MAX - now);
            prop_assert_eq!(open, want, "trip {}", trip);
            if now.checked_add(open).is_none_or(|x| x == u64::MAX) {
                break; // saturated: the breaker opens for ever from here
            }
            now += open;
            let p = b.try_acquire(t(now)).unwrap();
            prop_assert_eq!(b.record(p, Outcome::Failure, t(now)).map(|x| x.to), Some(State::Open));
        }
    }

    /// `FailureCount` and `ConsecutiveFailures` with or without an interval
    /// trip exactly when the reference model does, on monotone timelines.
    #[test]
    fn counting_intervals_agree_with_the_model(
        threshold in 1u32..5,
        interval in proptest::option::of(1u64..120),
        consecutive in any::<bool>(),
        steps in steps(),
    ) {
        let config = Config::new().open_duration(d(30)).probe_timeout(d(1_000));
        let mut model = IntervalModel::new(threshold, interval, consecutive);
        let mut fc = FailureCount::new(threshold).unwrap();
        let mut cf = ConsecutiveFailures::new(threshold).unwrap();
        if let Some(i) = interval {
            fc = fc.interval(d(i)).unwrap();
            cf = cf.interval(d(i)).unwrap();
        }
        let mut a = CircuitBreaker::new(config, fc).unwrap();
        let mut c = CircuitBreaker::new(config, cf).unwrap();
        let mut now = 0u64;
        for (dt, outcome) in steps {
            now += dt;
            let tripped = if consecutive {
                step(&mut c, now, outcome)
            } else {
                step(&mut a, now, outcome)
            };
            let Some(tripped) = tripped else { continue };
            let want = match outcome {
                Outcome::Ignored => false,
                o => model.record(now, o == Outcome::Failure),
            };
            prop_assert_eq!(tripped, want, "at {} ({:?})", now, outcome);
            if tripped {
                // Let one probe through and close, as the model assumes.
                now += 30;
                let b_state = if consecutive { c.state(t(now)) } else { a.state(t(now)) };
                prop_assert_eq!(b_state, State::HalfOpen);
                let closed = if consecutive {
                    step_close(&mut c, now)
                } else {
                    step_close(&mut a, now)
                };
                prop_assert!(closed);
            }
        }
    }

    /// Under `ProbeRule::PerRound` a half-open round admits at most K probes
    /// that count (ignored ones give their slot back), however they report;
    /// under `InFlight` at most K are outstanding at once.
    #[test]
    fn probes_per_round_never_exceed_k(
        k in 1u16..4,
        s_extra in 0u16..3,
        per_round in any::<bool>(),
        ops in proptest::collection::vec((0u8..6, 0usize..4, 0u64..3), 1..150),
    ) {
        let s = if per_round { (1 + s_extra).min(k) } else { 1 + s_extra };
        let rule = if per_round { ProbeRule::PerRound } else { ProbeRule::InFlight };
        let config = Config::new()
            .open_duration(d(10))
            .half_open_probes(k)
            .half_open_successes(s)
            .probe_timeout(d(1_000_000))
            .probe_rule(rule);
        let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1).unwrap()).unwrap();
        let mut now = 0u64;
        let mut out: Vec<Permit> = Vec::new();
        let mut counted_this_round = 0u16;
        for (op, which, dt) in ops {
            now += dt;
            if op < 3 {
                let before = b.state(t(now));
                if let Ok(p) = b.try_acquire(t(now)) {
                    if p.transition().is_some() {
                        counted_this_round = 0;
                        out.clear(); // earlier permits are stale now
                    }
                    if before == State::HalfOpen {
                        counted_this_round += 1;
                        out.push(p);
                        let limit = if per_round { counted_this_round } else { out.len() as u16 };
                        prop_assert!(limit <= k, "{} > K = {}", limit, k);
                    } else {
                        // Closed: fail at once to keep the breaker busy with rounds.
                        b.record(p, Outcome::Failure, t(now));
                    }
                }
            } else if !out.is_empty() {
                let p = out.remove(which % out.len());
                let outcome = [Outcome::Success, Outcome::Failure, Outcome::Ignored][usize::from(op - 3)];
                if outcome == Outcome::Ignored {
                    counted_this_round -= 1;
                }
                if b.record(p, outcome, t(now)).is_some() {
                    out.clear();
                    counted_this_round = 0;
                }
            }
        }
    }
}

/// One call at `now`; `Some(tripped)` if it was admitted.
fn step<P: fusebox::breaker::Policy>(
    b: &mut CircuitBreaker<P>,
    now: u64,
    outcome: Outcome,
) -> Option<bool> {
    let p = b.try_acquire(t(now)).ok()?;
    Some(
        b.record(p, outcome, t(now))
            .is_some_and(|x| x.to == State::Open),
    )
}

fn step_close<P: fusebox::breaker::Policy>(b: &mut CircuitBreaker<P>, now: u64) -> bool {
    let Ok(p) = b.try_acquire(t(now)) else {
        return false;
    };
    b.record(p, Outcome::Success, t(now))
        .is_some_and(|x| x.to == State::Closed)
}
