//! Circuit-breaker timelines: one scenario per row of the transition table
//! in `fusebox::breaker`, and one per convention.

use fusebox::ConfigError;
use fusebox::breaker::{
    CircuitBreaker, Config, ConsecutiveFailures, CountWindow, FailureCount, Metrics,
    Outcome as Call, Permit, Policy, ProbeRule, Rejected, State, TimeWindow, Transition,
    WindowStats,
};
#[cfg(feature = "sync")]
use fusebox::breaker::{SharedCircuitBreaker, SharedPolicy};
use fusebox::time::{Duration, Instant};

use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every breaker scenario on the `&mut` breaker (the shared breaker's
/// runs of the same definitions are in [`SYNC_SCENARIOS`] with feature
/// `sync`).
pub const SCENARIOS: &[Scenario] = &[
    s(
        "breaker::closed_stays_closed_below_threshold",
        closed_stays_closed_below_threshold::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::closed_to_open_at_nth_consecutive_failure",
        closed_to_open_at_nth_consecutive_failure::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::success_resets_the_consecutive_run",
        success_resets_the_consecutive_run::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::count_window_trips_at_rate_once_minimum_calls",
        count_window_trips_at_rate_once_minimum_calls::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::count_window_forgets_the_oldest_call",
        count_window_forgets_the_oldest_call::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::time_window_trips_at_rate_and_forgets_old_buckets",
        time_window_trips_at_rate_and_forgets_old_buckets::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::slow_calls_trip_a_rate_policy",
        slow_calls_trip_a_rate_policy::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::slow_call_counts_as_failure_for_consecutive",
        slow_call_counts_as_failure_for_consecutive::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::open_rejects_with_retry_after_until_its_tick",
        open_rejects_with_retry_after_until_its_tick::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::open_to_half_open_admits_k_probes",
        open_to_half_open_admits_k_probes::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::half_open_failure_reopens_at_once",
        half_open_failure_reopens_at_once::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::half_open_closes_after_s_successes",
        half_open_closes_after_s_successes::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::lost_probe_is_written_off_after_probe_timeout",
        lost_probe_is_written_off_after_probe_timeout::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::open_duration_grows_on_repeated_trips_to_cap",
        open_duration_grows_on_repeated_trips_to_cap::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::stale_outcomes_change_nothing",
        stale_outcomes_change_nothing::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::ignored_outcomes_count_nowhere",
        ignored_outcomes_count_nowhere::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::isolate_force_closed_and_reset",
        isolate_force_closed_and_reset::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::time_backwards_counts_as_no_time",
        time_backwards_counts_as_no_time,
    ),
    s(
        "breaker::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::bad_configs_name_their_field",
        bad_configs_name_their_field,
    ),
    s(
        "breaker::open_duration_grows_linearly_to_cap",
        open_duration_grows_linearly_to_cap::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::open_duration_follows_table_last_repeats",
        open_duration_follows_table_last_repeats::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::failure_count_trips_at_n_within_interval",
        failure_count_trips_at_n_within_interval::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::failure_count_clears_every_interval",
        failure_count_clears_every_interval::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::failure_count_without_interval_counts_until_close",
        failure_count_without_interval_counts_until_close::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::consecutive_run_older_than_interval_is_forgotten",
        consecutive_run_older_than_interval_is_forgotten::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::half_open_in_flight_rule_frees_reported_slots",
        half_open_in_flight_rule_frees_reported_slots::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::half_open_per_round_rule_admits_k_per_round",
        half_open_per_round_rule_admits_k_per_round::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::per_round_slots_come_back_when_ignored_or_lost",
        per_round_slots_come_back_when_ignored_or_lost::<CircuitBreaker<_>>,
    ),
    s(
        "breaker::new_options_name_their_field",
        new_options_name_their_field,
    ),
];

/// The breaker a scenario drives: the `&mut` [`CircuitBreaker`] or (feature
/// `sync`) the `SharedCircuitBreaker`. One scenario definition, two
/// drivers: every scenario generic over `Driver` runs on both, and both
/// must give the same decisions.
pub trait Driver<P: Policy>: Sized {
    /// Build one.
    fn build(config: Config, policy: P) -> Result<Self, ConfigError>;
    /// `try_acquire`.
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected>;
    /// `record`.
    fn record(&mut self, permit: Permit, outcome: Call, now: Instant) -> Option<Transition>;
    /// `state`.
    fn state(&self, now: Instant) -> State;
    /// `retry_after`.
    fn retry_after(&self, now: Instant) -> Option<Duration>;
    /// `isolate`.
    fn isolate(&mut self) -> Option<Transition>;
    /// `force_closed`.
    fn force_closed(&mut self) -> Option<Transition>;
    /// `reset`.
    fn reset(&mut self) -> Option<Transition>;
    /// `metrics`.
    fn metrics(&self) -> Metrics;
    /// The policy's window.
    fn window(&self, now: Instant) -> WindowStats;
}

impl<P: Policy> Driver<P> for CircuitBreaker<P> {
    fn build(config: Config, policy: P) -> Result<Self, ConfigError> {
        CircuitBreaker::new(config, policy)
    }
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        CircuitBreaker::try_acquire(self, now)
    }
    fn record(&mut self, permit: Permit, outcome: Call, now: Instant) -> Option<Transition> {
        CircuitBreaker::record(self, permit, outcome, now)
    }
    fn state(&self, now: Instant) -> State {
        CircuitBreaker::state(self, now)
    }
    fn retry_after(&self, now: Instant) -> Option<Duration> {
        CircuitBreaker::retry_after(self, now)
    }
    fn isolate(&mut self) -> Option<Transition> {
        CircuitBreaker::isolate(self)
    }
    fn force_closed(&mut self) -> Option<Transition> {
        CircuitBreaker::force_closed(self)
    }
    fn reset(&mut self) -> Option<Transition> {
        CircuitBreaker::reset(self)
    }
    fn metrics(&self) -> Metrics {
        CircuitBreaker::metrics(self)
    }
    fn window(&self, now: Instant) -> WindowStats {
        self.policy().window(now)
    }
}

#[cfg(feature = "sync")]
impl<P: SharedPolicy> Driver<P> for SharedCircuitBreaker<P> {
    fn build(config: Config, policy: P) -> Result<Self, ConfigError> {
        SharedCircuitBreaker::new(config, policy)
    }
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        SharedCircuitBreaker::try_acquire(self, now)
    }
    fn record(&mut self, permit: Permit, outcome: Call, now: Instant) -> Option<Transition> {
        SharedCircuitBreaker::record(self, permit, outcome, now)
    }
    fn state(&self, now: Instant) -> State {
        SharedCircuitBreaker::state(self, now)
    }
    fn retry_after(&self, now: Instant) -> Option<Duration> {
        SharedCircuitBreaker::retry_after(self, now)
    }
    fn isolate(&mut self) -> Option<Transition> {
        SharedCircuitBreaker::isolate(self)
    }
    fn force_closed(&mut self) -> Option<Transition> {
        SharedCircuitBreaker::force_closed(self)
    }
    fn reset(&mut self) -> Option<Transition> {
        SharedCircuitBreaker::reset(self)
    }
    fn metrics(&self) -> Metrics {
        SharedCircuitBreaker::metrics(self)
    }
    fn window(&self, now: Instant) -> WindowStats {
        SharedCircuitBreaker::window(self, now)
    }
}

/// The same scenarios through [`SharedCircuitBreaker`] (feature `sync`):
/// every scenario of [`SCENARIOS`] whose policy it shares, and the time
/// rule as the shared breaker states it.
#[cfg(feature = "sync")]
pub const SYNC_SCENARIOS: &[Scenario] = &[
    s(
        "breaker::shared::closed_stays_closed_below_threshold",
        closed_stays_closed_below_threshold::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::closed_to_open_at_nth_consecutive_failure",
        closed_to_open_at_nth_consecutive_failure::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::success_resets_the_consecutive_run",
        success_resets_the_consecutive_run::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::slow_call_counts_as_failure_for_consecutive",
        slow_call_counts_as_failure_for_consecutive::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::open_rejects_with_retry_after_until_its_tick",
        open_rejects_with_retry_after_until_its_tick::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::open_to_half_open_admits_k_probes",
        open_to_half_open_admits_k_probes::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::half_open_failure_reopens_at_once",
        half_open_failure_reopens_at_once::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::half_open_closes_after_s_successes",
        half_open_closes_after_s_successes::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::lost_probe_is_written_off_after_probe_timeout",
        lost_probe_is_written_off_after_probe_timeout::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::open_duration_grows_on_repeated_trips_to_cap",
        open_duration_grows_on_repeated_trips_to_cap::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::stale_outcomes_change_nothing",
        stale_outcomes_change_nothing::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::isolate_force_closed_and_reset",
        isolate_force_closed_and_reset::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::count_window_trips_at_rate_once_minimum_calls",
        count_window_trips_at_rate_once_minimum_calls::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::count_window_forgets_the_oldest_call",
        count_window_forgets_the_oldest_call::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::slow_calls_trip_a_rate_policy",
        slow_calls_trip_a_rate_policy::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::ignored_outcomes_count_nowhere",
        ignored_outcomes_count_nowhere::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::time_backwards_counts_as_no_time",
        shared_time_backwards_counts_as_no_time,
    ),
    s(
        "breaker::shared::open_duration_grows_linearly_to_cap",
        open_duration_grows_linearly_to_cap::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::takes_every_option",
        shared_takes_every_option,
    ),
    s(
        "breaker::shared::time_window_trips_at_rate_and_forgets_old_buckets",
        time_window_trips_at_rate_and_forgets_old_buckets::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::failure_count_trips_at_n_within_interval",
        failure_count_trips_at_n_within_interval::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::failure_count_clears_every_interval",
        failure_count_clears_every_interval::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::failure_count_without_interval_counts_until_close",
        failure_count_without_interval_counts_until_close::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::consecutive_run_older_than_interval_is_forgotten",
        consecutive_run_older_than_interval_is_forgotten::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::half_open_in_flight_rule_frees_reported_slots",
        half_open_in_flight_rule_frees_reported_slots::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::half_open_per_round_rule_admits_k_per_round",
        half_open_per_round_rule_admits_k_per_round::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::per_round_slots_come_back_when_ignored_or_lost",
        per_round_slots_come_back_when_ignored_or_lost::<SharedCircuitBreaker<_>>,
    ),
    s(
        "breaker::shared::open_duration_follows_table_last_repeats",
        open_duration_follows_table_last_repeats::<SharedCircuitBreaker<_>>,
    ),
];

/// The shared breaker's scenarios: none without feature `sync`.
#[cfg(not(feature = "sync"))]
pub const SYNC_SCENARIOS: &[Scenario] = &[];

/// Open | time goes backwards | still Open, judged at the instant the state
/// records (the shared breaker's time rule: the later of `now` and the
/// trip's instant)
#[cfg(feature = "sync")]
pub fn shared_time_backwards_counts_as_no_time() -> Outcome {
    let mut b: SharedCircuitBreaker = take!(consecutive(1, open_for_100()));
    check_eq!(
        take!(call(&mut b, t(1_000), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check!(b.try_acquire(t(0)).is_err());
    // Judged at 1 000, the trip's instant: the whole open duration is left.
    check_eq!(b.retry_after(t(0)), Some(d(100)));
    check_eq!(b.state(t(1_099)), State::Open);
    check_eq!(b.state(t(1_100)), State::HalfOpen);
    // A permit starts no earlier than the state's instant; a call recorded
    // before it was acquired took no time: not slow.
    let b: SharedCircuitBreaker = take!(consecutive(1, open_for_100().slow_calls(d(1), 100)));
    let p = take!(b.try_acquire(t(500)));
    check_eq!(p.acquired_at(), t(500));
    check_eq!(b.record(p, Call::Success, t(400)), None);
    check_eq!(b.metrics().slow, 0);
    Ok(())
}

fn moved(from: State, to: State) -> Option<Transition> {
    Some(Transition { from, to })
}

/// One call at `now` that ends at `now` with `outcome`; the transition its
/// record made (`Err(())` if it was rejected).
fn call<P: Policy, B: Driver<P>>(
    b: &mut B,
    now: Instant,
    outcome: Call,
) -> Result<Option<Transition>, ()> {
    let permit = b.try_acquire(now).map_err(|_| ())?;
    Ok(b.record(permit, outcome, now))
}

fn consecutive<B: Driver<ConsecutiveFailures>>(n: u32, config: Config) -> Option<B> {
    B::build(config, ConsecutiveFailures::new(n).ok()?).ok()
}

fn open_for_100() -> Config {
    Config::new().open_duration(d(100)).probe_timeout(d(50))
}

/// Closed | failures below the threshold | Closed
pub fn closed_stays_closed_below_threshold<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(3, open_for_100()));
    check_eq!(take!(call(&mut b, t(0), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(1), Call::Failure)), None);
    check_eq!(b.state(t(2)), State::Closed);
    check_eq!(b.metrics().failures, 2);
    check_eq!(b.metrics().admitted, 2);
    Ok(())
}

/// Closed | N-th consecutive failure | Open (thresholds trip at >=)
pub fn closed_to_open_at_nth_consecutive_failure<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(3, open_for_100()));
    for i in 0..2 {
        check_eq!(take!(call(&mut b, t(i), Call::Failure)), None);
    }
    check_eq!(
        take!(call(&mut b, t(2), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check_eq!(b.state(t(2)), State::Open);
    check_eq!(b.metrics().trips, 1);
    Ok(())
}

/// Closed | a success between failures | Closed (the run restarts)
pub fn success_resets_the_consecutive_run<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(2, open_for_100()));
    for (i, o) in [Call::Failure, Call::Success, Call::Failure, Call::Success]
        .into_iter()
        .enumerate()
    {
        check_eq!(take!(call(&mut b, t(i as u64), o)), None);
    }
    check_eq!(b.state(t(9)), State::Closed);
    Ok(())
}

/// Closed | failure rate >= threshold with >= minimum calls | Open
pub fn count_window_trips_at_rate_once_minimum_calls<B: Driver<CountWindow<10>>>() -> Outcome {
    // 50 % of the last 10 calls, judged from the 4th call on.
    let mut b = take!(B::build(
        open_for_100(),
        take!(
            CountWindow::<10>::builder()
                .failure_rate(50)
                .minimum_calls(4)
                .build()
        )
    ));
    // Three failures: 100 %, but only 3 calls in the window.
    for i in 0..3 {
        check_eq!(take!(call(&mut b, t(i), Call::Failure)), None);
    }
    check_eq!(b.window(t(3)).calls, 3);
    // The 4th call is a success: 3/4 = 75 % >= 50 % with 4 calls: trips,
    // even though the call that tipped it succeeded.
    check_eq!(
        take!(call(&mut b, t(3), Call::Success)),
        moved(State::Closed, State::Open)
    );

    // Exactly at the threshold trips; one below does not.
    let mut b = take!(B::build(
        open_for_100(),
        take!(
            CountWindow::<10>::builder()
                .failure_rate(50)
                .minimum_calls(10)
                .build()
        )
    ));
    for i in 0..6 {
        check_eq!(take!(call(&mut b, t(i), Call::Success)), None);
    }
    for i in 6..9 {
        check_eq!(take!(call(&mut b, t(i), Call::Failure)), None);
    }
    // 10 calls, 4 failures: 40 %.
    check_eq!(take!(call(&mut b, t(9), Call::Failure)), None);
    // The oldest success leaves the window: 5 failures of 10 = 50 %.
    check_eq!(
        take!(call(&mut b, t(10), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

/// Closed | old failures leave a count window | Closed
pub fn count_window_forgets_the_oldest_call<B: Driver<CountWindow<4>>>() -> Outcome {
    let mut b = take!(B::build(
        open_for_100(),
        take!(
            CountWindow::<4>::builder()
                .failure_rate(75)
                .minimum_calls(4)
                .build()
        )
    ));
    check_eq!(take!(call(&mut b, t(0), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(1), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(2), Call::Success)), None);
    check_eq!(take!(call(&mut b, t(3), Call::Success)), None);
    // 2/4; the next failure pushes out a failure: still 2/4.
    check_eq!(take!(call(&mut b, t(4), Call::Failure)), None);
    let w = b.window(t(4));
    check_eq!((w.calls, w.failures), (4, 2));
    check_eq!(b.state(t(5)), State::Closed);
    Ok(())
}

/// Closed | failure rate over the time window | Open; old buckets expire
pub fn time_window_trips_at_rate_and_forgets_old_buckets<B: Driver<TimeWindow<10>>>() -> Outcome {
    // 100 ticks in 10 buckets of 10; 50 % of at least 4 calls.
    let policy = take!(
        TimeWindow::<10>::builder(d(100))
            .failure_rate(50)
            .minimum_calls(4)
            .build()
    );
    let mut b = take!(B::build(open_for_100(), policy));
    // Three failures early on, then the window moves past them.
    for i in 0..3 {
        check_eq!(take!(call(&mut b, t(i), Call::Failure)), None);
    }
    check_eq!(b.window(t(99)).failures, 3);
    // At t=100 the bucket [0, 10) has left the window.
    check_eq!(b.window(t(100)).calls, 0);
    check_eq!(take!(call(&mut b, t(100), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(105), Call::Success)), None);
    check_eq!(take!(call(&mut b, t(110), Call::Success)), None);
    // 2 of 4 in the window: trips at 50 %.
    check_eq!(
        take!(call(&mut b, t(120), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

/// Closed | slow-call rate >= threshold | Open (calls that succeeded slowly)
pub fn slow_calls_trip_a_rate_policy<B: Driver<CountWindow<4>>>() -> Outcome {
    let config = open_for_100().slow_calls(d(10), 50);
    let mut b = take!(B::build(
        config,
        take!(
            CountWindow::<4>::builder()
                .failure_rate(100)
                .minimum_calls(2)
                .build()
        )
    ));
    // A 9-tick success is not slow; a 10-tick one is (at least the duration).
    let p = take!(b.try_acquire(t(0)));
    check_eq!(b.record(p, Call::Success, t(9)), None);
    let p = take!(b.try_acquire(t(10)));
    check_eq!(
        b.record(p, Call::Success, t(20)),
        moved(State::Closed, State::Open)
    );
    check_eq!(b.metrics().slow, 1);
    check_eq!(b.metrics().successes, 2);
    Ok(())
}

/// Closed | slow successes in a row, consecutive policy | Open
pub fn slow_call_counts_as_failure_for_consecutive<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(2, open_for_100().slow_calls(d(5), 100)));
    let p = take!(b.try_acquire(t(0)));
    check_eq!(b.record(p, Call::Success, t(5)), None);
    let p = take!(b.try_acquire(t(5)));
    check_eq!(
        b.record(p, Call::Success, t(50)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

fn tripped_at_10<B: Driver<ConsecutiveFailures>>() -> Option<B> {
    let mut b: B = consecutive(1, open_for_100().half_open_probes(2).half_open_successes(2))?;
    call(&mut b, t(10), Call::Failure).ok()?;
    Some(b)
}

/// Open | try_acquire before t + D | rejected, retry_after = rest
pub fn open_rejects_with_retry_after_until_its_tick<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(tripped_at_10::<B>());
    let r = match b.try_acquire(t(10)) {
        Err(r) => r,
        Ok(_) => return Err(failure("admitted while open")),
    };
    check_eq!(r.state, State::Open);
    check_eq!(r.retry_after, Some(d(100)));
    check_eq!(b.retry_after(t(109)), Some(d(1)));
    check!(b.try_acquire(t(109)).is_err());
    check_eq!(b.metrics().rejected, 2);
    // Opened at 10 for 100: the tick 110 itself admits.
    check_eq!(b.state(t(110)), State::HalfOpen);
    check_eq!(b.retry_after(t(110)), None);
    check!(b.try_acquire(t(110)).is_ok());
    Ok(())
}

fn failure(check: &'static str) -> crate::Failure {
    crate::Failure { check, line: 0 }
}

/// Open | try_acquire at t + D | HalfOpen, at most K probes in flight
pub fn open_to_half_open_admits_k_probes<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(tripped_at_10::<B>());
    let p1 = take!(b.try_acquire(t(110)));
    check_eq!(p1.transition(), moved(State::Open, State::HalfOpen));
    let p2 = take!(b.try_acquire(t(111)));
    check_eq!(p2.transition(), None);
    // K = 2: the third is refused, told when the probes are written off.
    let r = match b.try_acquire(t(112)) {
        Err(r) => r,
        Ok(_) => return Err(failure("third probe admitted with K = 2")),
    };
    check_eq!(r.state, State::HalfOpen);
    check_eq!(r.retry_after, Some(d(111 + 50 - 112)));
    // An ignored probe frees its slot.
    check_eq!(b.record(p1, Call::Ignored, t(113)), None);
    let p3 = take!(b.try_acquire(t(113)));
    check_eq!(b.state(t(113)), State::HalfOpen);
    drop((p2, p3));
    Ok(())
}

/// HalfOpen | any probe failure | Open
pub fn half_open_failure_reopens_at_once<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(tripped_at_10::<B>());
    let p1 = take!(b.try_acquire(t(110)));
    let p2 = take!(b.try_acquire(t(110)));
    check_eq!(b.record(p1, Call::Success, t(111)), None);
    check_eq!(
        b.record(p2, Call::Failure, t(112)),
        moved(State::HalfOpen, State::Open)
    );
    check_eq!(b.retry_after(t(112)), Some(d(100)));
    check_eq!(b.metrics().trips, 2);
    Ok(())
}

/// HalfOpen | S-th probe success | Closed
pub fn half_open_closes_after_s_successes<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(tripped_at_10::<B>());
    let p1 = take!(b.try_acquire(t(110)));
    check_eq!(b.record(p1, Call::Success, t(111)), None);
    check_eq!(b.state(t(111)), State::HalfOpen);
    let p2 = take!(b.try_acquire(t(111)));
    check_eq!(
        b.record(p2, Call::Success, t(112)),
        moved(State::HalfOpen, State::Closed)
    );
    // Closed again with a fresh run: one failure trips (threshold 1).
    check_eq!(take!(call(&mut b, t(113), Call::Success)), None);
    check_eq!(
        take!(call(&mut b, t(114), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

/// HalfOpen | no probe recorded within the probe timeout | HalfOpen, slots freed
pub fn lost_probe_is_written_off_after_probe_timeout<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(1, open_for_100()));
    check_eq!(
        take!(call(&mut b, t(0), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    let lost = take!(b.try_acquire(t(100)));
    // The probe's task is cancelled: the permit is never recorded.
    core::mem::drop(lost);
    check!(b.try_acquire(t(149)).is_err());
    // 50 ticks after it was admitted, its slot is free again.
    let probe = take!(b.try_acquire(t(150)));
    check_eq!(
        b.record(probe, Call::Success, t(151)),
        moved(State::HalfOpen, State::Closed)
    );

    // A probe recorded after its timeout is stale: it neither closes nor
    // re-opens the breaker.
    let mut b = take!(consecutive::<B>(1, open_for_100()));
    check_eq!(
        take!(call(&mut b, t(0), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    let late = take!(b.try_acquire(t(100)));
    check_eq!(b.record(late, Call::Failure, t(150)), None);
    check_eq!(b.metrics().stale, 1);
    check_eq!(b.state(t(150)), State::HalfOpen);
    Ok(())
}

/// Open duration grows by the factor on each trip without a close, to the cap
pub fn open_duration_grows_on_repeated_trips_to_cap<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let config = Config::new()
        .open_duration_growing(d(10), 2, d(35))
        .probe_timeout(d(1000));
    let mut b = take!(consecutive::<B>(1, config));
    let mut now = 0;
    let mut seen = [0u64; 4];
    check_eq!(
        take!(call(&mut b, t(now), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    for slot in &mut seen {
        let open_for = take!(b.retry_after(t(now))).as_ticks();
        *slot = open_for;
        now += open_for;
        // The probe fails: re-open for longer.
        check_eq!(
            take!(call(&mut b, t(now), Call::Failure)),
            moved(State::HalfOpen, State::Open)
        );
    }
    check_eq!(seen, [10, 20, 35, 35]);
    // A close resets the growth.
    now += 35;
    check_eq!(
        take!(call(&mut b, t(now), Call::Success)),
        moved(State::HalfOpen, State::Closed)
    );
    check_eq!(
        take!(call(&mut b, t(now), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check_eq!(b.retry_after(t(now)), Some(d(10)));
    Ok(())
}

/// Any state | outcome of a permit from an earlier generation | unchanged
pub fn stale_outcomes_change_nothing<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(1, open_for_100()));
    // A slow call is admitted while closed...
    let old = take!(b.try_acquire(t(0)));
    // ...meanwhile another call trips the breaker.
    check_eq!(
        take!(call(&mut b, t(1), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    // The late success is ignored: it does not close the breaker.
    check_eq!(b.record(old, Call::Success, t(2)), None);
    check_eq!(b.state(t(2)), State::Open);
    // A probe closes it; then a failure from the half-open generation...
    let p1 = take!(b.try_acquire(t(101)));
    check_eq!(
        b.record(p1, Call::Success, t(101)),
        moved(State::HalfOpen, State::Closed)
    );
    let old = take!(b.try_acquire(t(102)));
    check_eq!(b.reset(), None); // same state, new generation
    // ...a failure from before the reset does not re-open it.
    check_eq!(b.record(old, Call::Failure, t(103)), None);
    check_eq!(b.state(t(103)), State::Closed);
    check_eq!(b.metrics().stale, 2);
    Ok(())
}

/// Closed / HalfOpen | Outcome::Ignored | unchanged, counted only as ignored
pub fn ignored_outcomes_count_nowhere<B: Driver<CountWindow<4>>>() -> Outcome {
    let mut b = take!(B::build(
        open_for_100(),
        take!(
            CountWindow::<4>::builder()
                .failure_rate(50)
                .minimum_calls(1)
                .build()
        )
    ));
    for i in 0..10 {
        check_eq!(take!(call(&mut b, t(i), Call::Ignored)), None);
    }
    check_eq!(b.window(t(10)).calls, 0);
    check_eq!(b.metrics().ignored, 10);
    check_eq!(b.state(t(10)), State::Closed);
    Ok(())
}

/// any | isolate / force_closed / reset | ForcedOpen / ForcedClosed / Closed
pub fn isolate_force_closed_and_reset<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b = take!(consecutive::<B>(1, open_for_100()));
    check_eq!(b.isolate(), moved(State::Closed, State::ForcedOpen));
    let r = match b.try_acquire(t(1_000_000)) {
        Err(r) => r,
        Ok(_) => return Err(failure("isolated breaker admitted a call")),
    };
    check_eq!((r.state, r.retry_after), (State::ForcedOpen, None));
    check_eq!(
        b.force_closed(),
        moved(State::ForcedOpen, State::ForcedClosed)
    );
    // Held closed: failures do not trip it.
    for i in 0..5 {
        check_eq!(take!(call(&mut b, t(i), Call::Failure)), None);
    }
    check_eq!(b.state(t(5)), State::ForcedClosed);
    check_eq!(b.reset(), moved(State::ForcedClosed, State::Closed));
    check_eq!(
        take!(call(&mut b, t(6), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check_eq!(b.reset(), moved(State::Open, State::Closed));
    check!(b.try_acquire(t(7)).is_ok());
    Ok(())
}

/// Open | time goes backwards | judged at the latest instant: still Open, same hint
pub fn time_backwards_counts_as_no_time() -> Outcome {
    let mut b: CircuitBreaker<ConsecutiveFailures> = take!(consecutive(1, open_for_100()));
    check_eq!(
        take!(call(&mut b, t(1_000), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check_eq!(
        b.try_acquire(t(0)).map(|_| ()),
        Err(Rejected {
            state: State::Open,
            retry_after: Some(d(100)),
        })
    );
    check_eq!(b.retry_after(t(0)), Some(d(100)));
    // A call recorded before it was acquired took no time: not slow.
    let mut b: CircuitBreaker<ConsecutiveFailures> =
        take!(consecutive(1, open_for_100().slow_calls(d(1), 100)));
    let p = take!(b.try_acquire(t(500)));
    check_eq!(b.record(p, Call::Success, t(400)), None);
    check_eq!(b.metrics().slow, 0);
    // A permit acquired after a step back starts at the latest instant.
    let p = take!(b.try_acquire(t(300)));
    check_eq!(p.acquired_at(), t(500));
    Ok(())
}

/// Instants and durations near u64::MAX saturate instead of overflowing
pub fn instants_near_u64_max_saturate<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let config = Config::new()
        .open_duration_growing(d(u64::MAX / 4), u32::MAX, Duration::MAX)
        .probe_timeout(Duration::MAX);
    let mut b = take!(consecutive::<B>(1, config));
    let late = t(u64::MAX - 5);
    check_eq!(
        take!(call(&mut b, late, Call::Failure)),
        moved(State::Closed, State::Open)
    );
    // Open until the end of time, saturated.
    check_eq!(b.retry_after(late), Some(d(5)));
    check!(b.try_acquire(t(u64::MAX - 1)).is_err());
    // The saturated deadline is reached at the last instant; the probe's
    // deadline saturates too, and the last instant reaches it: the probe is
    // written off rather than overflowing.
    let p = take!(b.try_acquire(Instant::MAX));
    check_eq!(b.record(p, Call::Success, Instant::MAX), None);
    check_eq!(b.metrics().stale, 1);
    check_eq!(b.state(Instant::MAX), State::HalfOpen);
    Ok(())
}

fn err_field<T>(r: Result<T, fusebox::ConfigError>) -> &'static str {
    match r {
        Ok(_) => "accepted",
        Err(e) => e.field(),
    }
}

/// Bad configurations give a ConfigError naming the field
pub fn bad_configs_name_their_field() -> Outcome {
    fn field_of<P: Policy>(r: Result<CircuitBreaker<P>, fusebox::ConfigError>) -> &'static str {
        match r {
            Ok(_) => "accepted",
            Err(e) => e.field(),
        }
    }
    let ok = take!(ConsecutiveFailures::new(1));
    check_eq!(err_field(ConsecutiveFailures::new(0)), "failure_threshold");
    check_eq!(
        err_field(
            CountWindow::<10>::builder()
                .failure_rate(0)
                .minimum_calls(1)
                .build()
        ),
        "failure_rate"
    );
    check_eq!(
        err_field(
            CountWindow::<10>::builder()
                .failure_rate(101)
                .minimum_calls(1)
                .build()
        ),
        "failure_rate"
    );
    check_eq!(
        err_field(
            CountWindow::<10>::builder()
                .failure_rate(50)
                .minimum_calls(11)
                .build()
        ),
        "minimum_calls"
    );
    check_eq!(
        err_field(
            CountWindow::<0>::builder()
                .failure_rate(50)
                .minimum_calls(1)
                .build()
        ),
        "CountWindow::<N>"
    );
    check_eq!(
        err_field(
            TimeWindow::<10>::builder(d(9))
                .failure_rate(50)
                .minimum_calls(1)
                .build()
        ),
        "window"
    );
    check_eq!(
        err_field(
            TimeWindow::<10>::builder(d(10))
                .failure_rate(50)
                .minimum_calls(0)
                .build()
        ),
        "minimum_calls"
    );
    let cases: [(Config, &str); 7] = [
        (Config::new().open_duration(d(0)), "open_duration"),
        (
            Config::new().open_duration_growing(d(10), 0, d(20)),
            "open_duration_growing.factor",
        ),
        (
            Config::new().open_duration_growing(d(10), 2, d(5)),
            "open_duration_growing.max",
        ),
        (Config::new().half_open_probes(0), "half_open_probes"),
        (Config::new().half_open_successes(0), "half_open_successes"),
        (Config::new().probe_timeout(d(0)), "probe_timeout"),
        (Config::new().slow_calls(d(5), 101), "slow_calls.percent"),
    ];
    for (config, field) in cases {
        check_eq!(field_of(CircuitBreaker::new(config, ok.clone())), field);
    }
    check_eq!(field_of(CircuitBreaker::new(Config::new(), ok)), "accepted");
    Ok(())
}

/// Config | every option of #10 (ProbeRule::PerRound, a counting interval,
/// every break-duration law, FailureCount, TimeWindow) | taken; only what
/// does not fit the 29-bit payload (a schedule still growing at trip
/// 2^32 - 1, K and S of 16 bits each) | ConfigError naming the field
#[cfg(feature = "sync")]
pub fn shared_takes_every_option() -> Outcome {
    static LONG: [Duration; 255] = {
        let mut table = [Duration::from_ticks(5); 255];
        if let Some(last) = table.last_mut() {
            *last = Duration::from_ticks(6);
        }
        table
    };
    let policy = || ConsecutiveFailures::new(2);
    let per_round = Config::new().probe_rule(ProbeRule::PerRound);
    check_eq!(
        err_field(SharedCircuitBreaker::new(per_round, take!(policy().ok()))),
        "accepted"
    );
    let interval = take!(take!(policy().ok()).interval(d(60)).ok());
    check_eq!(
        err_field(SharedCircuitBreaker::new(Config::new(), interval)),
        "accepted"
    );
    let fc = take!(take!(FailureCount::new(2).ok()).interval(d(60)).ok());
    check_eq!(
        err_field(SharedCircuitBreaker::new(Config::new(), fc)),
        "accepted"
    );
    let tw = take!(
        TimeWindow::<10>::builder(d(100))
            .failure_rate(50)
            .minimum_calls(4)
            .build()
            .ok()
    );
    check_eq!(
        err_field(SharedCircuitBreaker::new(Config::new(), tw)),
        "accepted"
    );
    let table = Config::new().open_duration_table(&LONG);
    check_eq!(
        err_field(SharedCircuitBreaker::new(table, take!(policy().ok()))),
        "accepted"
    );
    let linear = Config::new().open_duration_linear(d(1), d(1), d(1_000_000));
    check_eq!(
        err_field(SharedCircuitBreaker::new(linear, take!(policy().ok()))),
        "accepted"
    );
    let endless = Config::new().open_duration_linear(d(1), d(1), Duration::MAX);
    check_eq!(
        err_field(SharedCircuitBreaker::new(endless, take!(policy().ok()))),
        "open_duration"
    );
    let wide = Config::new()
        .half_open_probes(u16::MAX)
        .half_open_successes(u16::MAX);
    check_eq!(
        err_field(SharedCircuitBreaker::new(wide, take!(policy().ok()))),
        "half_open_probes"
    );
    Ok(())
}

/// The open durations a breaker tripping on every failure goes through:
/// trip, then `N` failed probes, each at the end of the open duration.
fn open_durations<B: Driver<ConsecutiveFailures>, const N: usize>(
    config: Config,
) -> Option<[u64; N]> {
    let mut b: B = consecutive(1, config.probe_timeout(d(1000)))?;
    let mut now = 0;
    call(&mut b, t(now), Call::Failure).ok()?;
    let mut seen = [0u64; N];
    for slot in &mut seen {
        let open_for = b.retry_after(t(now))?.as_ticks();
        *slot = open_for;
        now += open_for;
        if call(&mut b, t(now), Call::Failure).ok()? != moved(State::HalfOpen, State::Open) {
            return None;
        }
    }
    Some(seen)
}

/// HalfOpen | probe fails again | Open for initial + (n-1) x step, up to the cap
pub fn open_duration_grows_linearly_to_cap<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let config = Config::new().open_duration_linear(d(10), d(15), d(50));
    check_eq!(take!(open_durations::<B, 5>(config)), [10, 25, 40, 50, 50]);
    check_eq!(config.open_duration_after(0), d(10));
    check_eq!(config.open_duration_after(u32::MAX), d(50));
    // No overflow with a huge step and cap.
    let huge = Config::new().open_duration_linear(d(1), Duration::MAX, Duration::MAX);
    check_eq!(huge.open_duration_after(3), Duration::MAX);
    Ok(())
}

static TABLE: [Duration; 3] = [
    Duration::from_ticks(5),
    Duration::from_ticks(30),
    Duration::from_ticks(300),
];

/// HalfOpen | probe fails again | Open for table[n-1]; the last entry repeats;
/// a close starts the table over
pub fn open_duration_follows_table_last_repeats<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let config = Config::new().open_duration_table(&TABLE);
    check_eq!(
        take!(open_durations::<B, 5>(config)),
        [5, 30, 300, 300, 300]
    );
    check_eq!(config.open_duration_after(u32::MAX), d(300));
    let mut b: B = take!(consecutive(1, config));
    check_eq!(
        take!(call(&mut b, t(0), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check_eq!(
        take!(call(&mut b, t(5), Call::Failure)),
        moved(State::HalfOpen, State::Open)
    );
    check_eq!(
        take!(call(&mut b, t(35), Call::Success)),
        moved(State::HalfOpen, State::Closed)
    );
    check_eq!(
        take!(call(&mut b, t(40), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    check_eq!(b.retry_after(t(40)), Some(d(5)));
    Ok(())
}

fn failure_count<B: Driver<FailureCount>>(n: u32, interval: Option<u64>) -> Option<B> {
    let policy = FailureCount::new(n).ok()?;
    let policy = match interval {
        Some(i) => policy.interval(d(i)).ok()?,
        None => policy,
    };
    B::build(open_for_100(), policy).ok()
}

/// Closed | N-th failure within the interval, successes between | Open
pub fn failure_count_trips_at_n_within_interval<B: Driver<FailureCount>>() -> Outcome {
    let mut b: B = take!(failure_count(3, Some(60)));
    // The interval begins with the first outcome, at 10: [10, 70).
    for (at, o) in [
        (10, Call::Failure),
        (20, Call::Success),
        (30, Call::Failure),
        (40, Call::Success),
    ] {
        check_eq!(take!(call(&mut b, t(at), o)), None);
    }
    check_eq!(b.window(t(40)).failures, 2);
    check_eq!(b.window(t(40)).calls, 4);
    // 69 is the interval's last tick: the 3rd failure in it trips.
    check_eq!(
        take!(call(&mut b, t(69), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

/// Closed | interval [s, s + I) over at now >= s + I | counts cleared, a new
/// interval begins at now
pub fn failure_count_clears_every_interval<B: Driver<FailureCount>>() -> Outcome {
    let mut b: B = take!(failure_count(3, Some(60)));
    check_eq!(take!(call(&mut b, t(0), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(59), Call::Failure)), None);
    check_eq!(b.window(t(59)).failures, 2);
    // The tick itself counts: at 60 the interval [0, 60) is over.
    check_eq!(b.window(t(60)).failures, 0);
    check_eq!(take!(call(&mut b, t(60), Call::Failure)), None);
    check_eq!(b.window(t(60)).failures, 1);
    // The new interval is [60, 120); time going backwards stays in it.
    check_eq!(take!(call(&mut b, t(5), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(100), Call::Success)), None);
    // Five failures spread thin never trip it.
    for k in 0..5 {
        check_eq!(take!(call(&mut b, t(200 + 100 * k), Call::Failure)), None);
    }
    check_eq!(
        take!(call(&mut b, t(601), Call::Failure)),
        None // 2 in [600, 660)
    );
    check_eq!(
        take!(call(&mut b, t(602), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

/// Closed | no interval: failures count until the breaker closes | Open at N
pub fn failure_count_without_interval_counts_until_close<B: Driver<FailureCount>>() -> Outcome {
    let mut b: B = take!(failure_count(2, None));
    check_eq!(take!(call(&mut b, t(0), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(10_000), Call::Success)), None);
    check_eq!(
        take!(call(&mut b, t(1_000_000), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    // A close clears the counts.
    check_eq!(
        take!(call(&mut b, t(1_000_100), Call::Success)),
        moved(State::HalfOpen, State::Closed)
    );
    check_eq!(b.window(t(1_000_100)).failures, 0);
    check_eq!(take!(call(&mut b, t(1_000_101), Call::Failure)), None);
    Ok(())
}

/// Closed | a run begun in an earlier interval | forgotten: the run restarts
pub fn consecutive_run_older_than_interval_is_forgotten<B: Driver<ConsecutiveFailures>>() -> Outcome
{
    let policy = take!(take!(ConsecutiveFailures::new(3)).interval(d(60)));
    check_eq!(policy.counting_interval(), Some(d(60)));
    let mut b = take!(B::build(open_for_100(), policy));
    check_eq!(take!(call(&mut b, t(0), Call::Failure)), None);
    check_eq!(take!(call(&mut b, t(30), Call::Failure)), None);
    // 60: a new interval, the run of two is forgotten.
    check_eq!(take!(call(&mut b, t(60), Call::Failure)), None);
    check_eq!(b.window(t(60)).failures, 1);
    check_eq!(take!(call(&mut b, t(61), Call::Failure)), None);
    check_eq!(
        take!(call(&mut b, t(62), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    // Off by default: the same run without an interval trips.
    let mut plain: B = take!(consecutive(3, open_for_100()));
    for at in [0, 30] {
        check_eq!(take!(call(&mut plain, t(at), Call::Failure)), None);
    }
    check_eq!(
        take!(call(&mut plain, t(60), Call::Failure)),
        moved(State::Closed, State::Open)
    );
    Ok(())
}

/// The breaker open until 100 with K = 2 probes, S = 2 successes, under `rule`.
fn half_open_k2<B: Driver<ConsecutiveFailures>>(rule: ProbeRule) -> Option<B> {
    let config = open_for_100()
        .half_open_probes(2)
        .half_open_successes(2)
        .probe_rule(rule);
    let mut b = consecutive(1, config)?;
    call(&mut b, t(0), Call::Failure).ok()?;
    Some(b)
}

/// HalfOpen, InFlight | a probe reports success | its slot is free again
/// (the timeline of `ProbeRule`'s docs, left column)
pub fn half_open_in_flight_rule_frees_reported_slots<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b: B = take!(half_open_k2(ProbeRule::InFlight));
    let a = take!(b.try_acquire(t(100)));
    let p2 = take!(b.try_acquire(t(100)));
    check!(b.try_acquire(t(101)).is_err());
    check_eq!(b.record(a, Call::Success, t(102)), None);
    let c = take!(b.try_acquire(t(103)));
    check_eq!(
        b.record(p2, Call::Success, t(104)),
        moved(State::HalfOpen, State::Closed)
    );
    // `c` is from the closed generation's predecessor: stale.
    check_eq!(b.record(c, Call::Success, t(105)), None);
    check_eq!(b.metrics().stale, 1);
    Ok(())
}

/// HalfOpen, PerRound | K probes admitted this round, some reported | refused
/// until the round ends (the timeline of `ProbeRule`'s docs, right column)
pub fn half_open_per_round_rule_admits_k_per_round<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b: B = take!(half_open_k2(ProbeRule::PerRound));
    let a = take!(b.try_acquire(t(100)));
    let p2 = take!(b.try_acquire(t(100)));
    check!(b.try_acquire(t(101)).is_err());
    check_eq!(b.record(a, Call::Success, t(102)), None);
    let refused = b.try_acquire(t(103));
    check_eq!(
        refused.map(|_| ()).map_err(|r| r.state),
        Err(State::HalfOpen)
    );
    // Until the outstanding probe is written off, at the latest.
    check_eq!(b.retry_after(t(103)), Some(d(47)));
    check_eq!(
        b.record(p2, Call::Success, t(104)),
        moved(State::HalfOpen, State::Closed)
    );
    // A failed probe ends the round; the next round admits K again.
    let mut b: B = take!(half_open_k2(ProbeRule::PerRound));
    let a = take!(b.try_acquire(t(100)));
    check_eq!(
        b.record(a, Call::Failure, t(101)),
        moved(State::HalfOpen, State::Open)
    );
    let reopened_until = 101 + 100;
    check!(b.try_acquire(t(reopened_until)).is_ok());
    check!(b.try_acquire(t(reopened_until)).is_ok());
    check!(b.try_acquire(t(reopened_until)).is_err());
    Ok(())
}

/// HalfOpen, PerRound | an ignored probe, or probes written off after the
/// probe timeout | their slots come back: a round never stalls
pub fn per_round_slots_come_back_when_ignored_or_lost<B: Driver<ConsecutiveFailures>>() -> Outcome {
    let mut b: B = take!(half_open_k2(ProbeRule::PerRound));
    let a = take!(b.try_acquire(t(100)));
    let _lost = take!(b.try_acquire(t(100)));
    check_eq!(b.record(a, Call::Ignored, t(101)), None);
    // The ignored probe gave its slot back.
    let c = take!(b.try_acquire(t(102)));
    check_eq!(b.record(c, Call::Success, t(103)), None);
    check!(b.try_acquire(t(104)).is_err());
    // `_lost` never reports: 50 ticks after the last probe (102) it is
    // written off and its slot comes back; the success stays.
    check!(b.try_acquire(t(151)).is_err());
    let e = take!(b.try_acquire(t(152)));
    check_eq!(
        b.record(e, Call::Success, t(153)),
        moved(State::HalfOpen, State::Closed)
    );
    Ok(())
}

/// The new options refuse bad values, naming the field
pub fn new_options_name_their_field() -> Outcome {
    fn field(c: Config) -> &'static str {
        match c.validate() {
            Ok(()) => "accepted",
            Err(e) => e.field(),
        }
    }
    static ZERO_ENTRY: [Duration; 2] = [Duration::from_ticks(5), Duration::from_ticks(0)];
    check_eq!(
        field(Config::new().open_duration_linear(d(0), d(1), d(5))),
        "open_duration_linear.initial"
    );
    check_eq!(
        field(Config::new().open_duration_linear(d(10), d(1), d(5))),
        "open_duration_linear.max"
    );
    check_eq!(
        field(Config::new().open_duration_linear(d(5), d(0), d(5))),
        "accepted"
    );
    check_eq!(
        field(Config::new().open_duration_table(&[])),
        "open_duration_table"
    );
    check_eq!(
        field(Config::new().open_duration_table(&ZERO_ENTRY)),
        "open_duration_table"
    );
    check_eq!(field(Config::new().open_duration_table(&TABLE)), "accepted");
    check_eq!(
        field(
            Config::new()
                .half_open_probes(2)
                .half_open_successes(3)
                .probe_rule(ProbeRule::PerRound)
        ),
        "half_open_successes"
    );
    // Under the in-flight rule probes run in turns, so S > K is fine.
    check_eq!(
        field(Config::new().half_open_probes(2).half_open_successes(3)),
        "accepted"
    );
    check_eq!(err_field(FailureCount::new(0)), "failure_threshold");
    check_eq!(
        err_field(take!(FailureCount::new(1)).interval(d(0))),
        "interval"
    );
    check_eq!(
        err_field(take!(ConsecutiveFailures::new(1)).interval(d(0))),
        "interval"
    );
    Ok(())
}
