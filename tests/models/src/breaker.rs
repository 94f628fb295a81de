//! The circuit breaker, restated: [`Model`] follows `fusebox::breaker`'s
//! module docs for every policy and break-duration schedule (probe rule
//! `InFlight`, the default); [`IntervalModel`] recomputes the counting
//! intervals of `FailureCount` and `ConsecutiveFailures::interval` from the
//! whole history; [`break_duration`] is `BreakDuration`'s table of laws.

use fusebox::breaker::{
    BreakDuration, Config, ConsecutiveFailures, CountWindow, FailureCount, Outcome, Rejected,
    State, TimeWindow, Transition,
};
use fusebox::time::Duration;

const MAX: u128 = u64::MAX as u128;

/// N of the count windows the model stands for (`CountWindow<COUNT_N>`).
pub const COUNT_N: usize = 8;
/// B of the time windows the model stands for (`TimeWindow<TIME_B>`).
pub const TIME_B: usize = 4;

/// The policy of a [`Spec`], with its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySpec {
    /// `ConsecutiveFailures::new(threshold)`, with `.interval(i)` if set.
    Consecutive {
        /// Failures in a row that trip.
        threshold: u32,
        /// The counting interval in ticks, if any.
        interval: Option<u64>,
    },
    /// `FailureCount::new(threshold)`, with `.interval(i)` if set.
    FailureCount {
        /// Failures counted in the interval that trip.
        threshold: u32,
        /// The counting interval in ticks, if any.
        interval: Option<u64>,
    },
    /// `CountWindow::<COUNT_N>::builder().failure_rate(pct).minimum_calls(min).build()`.
    Count {
        /// Failure (or slow) percentage that trips.
        pct: u8,
        /// Calls in the window before it may trip.
        min: u32,
    },
    /// `TimeWindow::<TIME_B>::builder(window).failure_rate(pct).minimum_calls(min).build()`.
    Time {
        /// The window in ticks.
        window: u64,
        /// Failure (or slow) percentage that trips.
        pct: u8,
        /// Calls in the window before it may trip.
        min: u32,
    },
}

impl PolicySpec {
    /// `ConsecutiveFailures::new(threshold)` without an interval.
    pub const fn consecutive(threshold: u32) -> Self {
        PolicySpec::Consecutive {
            threshold,
            interval: None,
        }
    }

    /// The `ConsecutiveFailures` policy of this spec, if it is one.
    pub fn consecutive_policy(&self) -> Option<ConsecutiveFailures> {
        match *self {
            PolicySpec::Consecutive {
                threshold,
                interval,
            } => with_interval(
                ConsecutiveFailures::new(threshold).ok()?,
                interval,
                |p, i| p.interval(i).ok(),
            ),
            _ => None,
        }
    }

    /// The `FailureCount` policy of this spec, if it is one.
    pub fn failure_count_policy(&self) -> Option<FailureCount> {
        match *self {
            PolicySpec::FailureCount {
                threshold,
                interval,
            } => with_interval(FailureCount::new(threshold).ok()?, interval, |p, i| {
                p.interval(i).ok()
            }),
            _ => None,
        }
    }

    /// The `CountWindow<COUNT_N>` policy of this spec, if it is one.
    pub fn count_policy(&self) -> Option<CountWindow<COUNT_N>> {
        let PolicySpec::Count { pct, min } = *self else {
            return None;
        };
        CountWindow::builder()
            .failure_rate(pct)
            .minimum_calls(min)
            .build()
            .ok()
    }

    /// The `TimeWindow<TIME_B>` policy of this spec, if it is one.
    pub fn time_policy(&self) -> Option<TimeWindow<TIME_B>> {
        let PolicySpec::Time { window, pct, min } = *self else {
            return None;
        };
        TimeWindow::builder(Duration::from_ticks(window))
            .failure_rate(pct)
            .minimum_calls(min)
            .build()
            .ok()
    }
}

/// `policy` with the counting interval set, if one is (`None` if refused).
fn with_interval<P>(
    policy: P,
    interval: Option<u64>,
    set: impl FnOnce(P, Duration) -> Option<P>,
) -> Option<P> {
    match interval {
        Some(i) => set(policy, Duration::from_ticks(i)),
        None => Some(policy),
    }
}

/// A breaker's configuration, as the model reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The open-duration schedule.
    pub schedule: BreakDuration,
    /// K: probes in flight at once in HalfOpen.
    pub probes: u16,
    /// Probe successes that close.
    pub successes: u16,
    /// Ticks after which an unanswered probe is written off.
    pub probe_timeout: u64,
    /// Slow-call detection: (threshold in ticks, percentage), if on.
    pub slow: Option<(u64, u8)>,
    /// When a closed breaker trips.
    pub policy: PolicySpec,
}

impl Spec {
    /// The breaker's `Config` for this spec (probe rule `InFlight`).
    pub fn config(&self) -> Config {
        let mut c = Config::new()
            .break_duration(self.schedule)
            .half_open_probes(self.probes)
            .half_open_successes(self.successes)
            .probe_timeout(Duration::from_ticks(self.probe_timeout));
        if let Some((d, p)) = self.slow {
            c = c.slow_calls(Duration::from_ticks(d), p);
        }
        c
    }
}

/// The open duration after the `n`-th trip in a row (`n = 0` as 1), as
/// `BreakDuration`'s docs tabulate it, in exact (`u128`) arithmetic and
/// saturated to `u64::MAX` ticks.
pub fn break_duration(s: &BreakDuration, n: u32) -> u64 {
    let k = u128::from(n.max(1) - 1);
    let v: u128 = match *s {
        BreakDuration::Constant(x) => u128::from(x.as_ticks()),
        BreakDuration::Geometric {
            initial,
            factor,
            max,
        } => {
            let mut v = u128::from(initial.as_ticks());
            let max = u128::from(max.as_ticks());
            // A factor of at least 2 passes any u64 within 64 steps; a
            // factor of 1 never moves.
            for _ in 0..k.min(200) {
                if v >= max {
                    break;
                }
                v *= u128::from(factor);
            }
            v.min(max)
        }
        BreakDuration::Linear { initial, step, max } => (u128::from(initial.as_ticks())
            + k * u128::from(step.as_ticks()))
        .min(u128::from(max.as_ticks())),
        BreakDuration::Table(table) => table
            .get((k as usize).min(table.len().saturating_sub(1)))
            .map_or(0, |d| u128::from(d.as_ticks())),
    };
    v.min(MAX) as u64
}

/// The breaker as its module docs define it, with no cleverness: `Vec`s
/// for the windows and `u128` time. A `now` earlier than the latest instant
/// seen is judged as that latest instant. Drive it with the same
/// operations as a `CircuitBreaker` and compare every answer.
#[derive(Debug, Clone)]
pub struct Model {
    /// The configuration.
    pub spec: Spec,
    /// The state, as of the latest operation (an Open whose time is up is
    /// still `Open` here until the next acquire; see [`Model::state_at`]).
    pub state: State,
    /// Bumped at every state change and every write-off of lost probes.
    pub generation: u64,
    /// Open: when it may probe. HalfOpen: when the probes in flight are
    /// written off.
    pub until: u128,
    /// Trips since the breaker last closed.
    pub trips_in_row: u32,
    /// Probes in flight (HalfOpen).
    pub probes: u16,
    /// Probe successes this round (HalfOpen).
    pub probe_successes: u16,
    /// `ConsecutiveFailures`: the run of failures.
    pub run: u32,
    /// `FailureCount`: the failures counted in the interval.
    pub failures: u32,
    /// `CountWindow`: (failed, slow) of the last N calls.
    pub calls: Vec<(bool, bool)>,
    /// `TimeWindow`: (epoch, failed, slow) of each call.
    pub timed: Vec<(u64, bool, bool)>,
    /// `TimeWindow`: the newest epoch recorded.
    pub latest_epoch: u64,
    /// Counting intervals: the end of the current one (`None` before the
    /// first outcome since the breaker closed).
    pub interval_ends: Option<u64>,
    /// Stale permits recorded.
    pub stale: u32,
    /// The latest instant seen: an earlier `now` is judged at it.
    pub latest: u64,
    /// Whether the last record was judged by the policy (a current
    /// permit's Success or Failure while Closed).
    pub judged: bool,
}

/// A permit of the model: when it was issued, in which generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPermit {
    /// The instant it was judged at.
    pub at: u64,
    /// The generation it belongs to.
    pub generation: u64,
}

impl Model {
    /// A closed breaker that has seen no time.
    pub fn new(spec: Spec) -> Self {
        Model {
            spec,
            state: State::Closed,
            generation: 0,
            until: 0,
            trips_in_row: 0,
            probes: 0,
            probe_successes: 0,
            run: 0,
            failures: 0,
            calls: Vec::new(),
            timed: Vec::new(),
            latest_epoch: 0,
            interval_ends: None,
            stale: 0,
            latest: 0,
            judged: false,
        }
    }

    /// Slow-call detection, if on (a duration of `u64::MAX` ticks leaves it off,
    /// as `Config::slow_calls` documents).
    fn slow_calls(&self) -> Option<(u64, u8)> {
        self.spec.slow.filter(|&(d, _)| d != u64::MAX)
    }

    /// The instant to judge `now` at, recorded as the latest seen.
    fn observe(&mut self, now: u64) -> u64 {
        self.latest = self.latest.max(now);
        self.latest
    }

    fn bucket_ticks(&self) -> u64 {
        match self.spec.policy {
            PolicySpec::Time { window, .. } => (window / TIME_B as u64).max(1),
            _ => 1,
        }
    }

    fn epoch(&self, now: u64) -> u64 {
        (now / self.bucket_ticks()).max(self.latest_epoch)
    }

    fn new_generation(&mut self, to: State) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        Transition { from, to }
    }

    fn clear_window(&mut self) {
        self.run = 0;
        self.failures = 0;
        self.calls.clear();
        self.timed.clear();
        self.interval_ends = None;
    }

    fn write_off(&mut self, now: u64) {
        if self.state == State::HalfOpen && self.probes > 0 && now as u128 >= self.until {
            self.probes = 0;
            self.generation += 1;
        }
    }

    /// `try_acquire` at `now`: a permit and the transition it made, or the
    /// rejection.
    pub fn acquire(&mut self, now: u64) -> Result<(ModelPermit, Option<Transition>), Rejected> {
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

    /// Whether the closed breaker's window says trip at `now`.
    pub fn window_says_trip(&self, now: u64) -> bool {
        let rate_trips = |calls: u64, failures: u64, slow: u64, pct: u8, min: u32| {
            calls >= min as u64
                && (failures * 100 >= pct as u64 * calls
                    || self
                        .slow_calls()
                        .is_some_and(|(_, sp)| slow * 100 >= sp as u64 * calls))
        };
        match self.spec.policy {
            PolicySpec::Consecutive { threshold, .. } => self.run >= threshold,
            PolicySpec::FailureCount { threshold, .. } => self.failures >= threshold,
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
        self.trips_in_row = self.trips_in_row.saturating_add(1);
        let open = break_duration(&self.spec.schedule, self.trips_in_row);
        self.until = (now as u128 + open as u128).min(MAX);
        self.probes = 0;
        self.probe_successes = 0;
        self.new_generation(State::Open)
    }

    /// Whether an outcome at `now` begins a new counting interval (gobreaker's
    /// `Interval`: the first outcome since closing begins one; one at or
    /// past its end begins the next).
    fn roll(&mut self, interval: Option<u64>, now: u64) -> bool {
        let Some(len) = interval else { return false };
        match self.interval_ends {
            Some(end) if now < end => false,
            _ => {
                self.interval_ends = Some(now.saturating_add(len));
                true
            }
        }
    }

    /// `record` of `p` with `outcome` at `now`: the transition it made.
    pub fn record(&mut self, p: ModelPermit, outcome: Outcome, now: u64) -> Option<Transition> {
        let now = self.observe(now);
        self.judged = false;
        self.write_off(now);
        if p.generation != self.generation {
            self.stale += 1;
            return None;
        }
        let slow = self
            .slow_calls()
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
                    PolicySpec::Consecutive { interval, .. } => {
                        if self.roll(interval, now) {
                            self.run = 0;
                        }
                        self.run = if failed || slow {
                            self.run.saturating_add(1)
                        } else {
                            0
                        }
                    }
                    PolicySpec::FailureCount { interval, .. } => {
                        if self.roll(interval, now) {
                            self.failures = 0;
                        }
                        if failed || slow {
                            self.failures = self.failures.saturating_add(1);
                        }
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

    /// `isolate` (`ForcedOpen`), `force_closed` (`ForcedClosed`) or, with
    /// `trips_in_row` cleared first, `reset` (`Closed`).
    pub fn force(&mut self, to: State) -> Option<Transition> {
        if to == State::Closed {
            self.trips_in_row = 0;
        }
        self.clear_window();
        self.probes = 0;
        self.probe_successes = 0;
        let t = self.new_generation(to);
        (t.from != t.to).then_some(t)
    }

    /// `state(now)`: judged at the later of `now` and the latest instant
    /// seen (an Open whose time is up reads HalfOpen).
    pub fn state_at(&self, now: u64) -> State {
        let at = now.max(self.latest) as u128;
        match self.state {
            State::Open if at >= self.until => State::HalfOpen,
            s => s,
        }
    }

    /// `retry_after(now)`, judged as [`state_at`](Self::state_at).
    pub fn retry_after_at(&self, now: u64) -> Option<Duration> {
        let at = now.max(self.latest) as u128;
        match self.state {
            State::Open if at < self.until => Some(Duration::from_ticks((self.until - at) as u64)),
            State::HalfOpen if self.probes >= self.spec.probes && at < self.until => {
                Some(Duration::from_ticks((self.until - at) as u64))
            }
            _ => None,
        }
    }
}

/// The reference for counting intervals, separate from [`Model`]: every
/// outcome since the breaker last closed, with its time, and the intervals
/// recomputed from scratch at each record. Times must be monotone.
#[derive(Debug, Clone)]
pub struct IntervalModel {
    /// Failures (in a row, or counted) that trip.
    pub threshold: u32,
    /// The counting interval in ticks, if any.
    pub interval: Option<u64>,
    /// `ConsecutiveFailures` (true) or `FailureCount` (false).
    pub consecutive: bool,
    /// (instant, failed) of every outcome since the breaker last closed.
    pub history: Vec<(u64, bool)>,
}

impl IntervalModel {
    /// A model that has recorded nothing.
    pub fn new(threshold: u32, interval: Option<u64>, consecutive: bool) -> Self {
        Self {
            threshold,
            interval,
            consecutive,
            history: Vec::new(),
        }
    }

    /// Record, and say whether the breaker trips now (the history is then
    /// cleared, as if the breaker closed again).
    pub fn record(&mut self, now: u64, failed: bool) -> bool {
        self.history.push((now, failed));
        // The interval holding the last outcome begins at the first outcome
        // at or after the end of the one before (times are monotone here).
        let mut start = self.history[0].0;
        let mut first = 0;
        if let Some(len) = self.interval {
            for (i, &(at, _)) in self.history.iter().enumerate() {
                if at >= start.saturating_add(len) {
                    start = at;
                    first = i;
                }
            }
        }
        let current = &self.history[first..];
        let trips = if self.consecutive {
            let run = current.iter().rev().take_while(|c| c.1).count();
            run as u32 >= self.threshold
        } else {
            current.iter().filter(|c| c.1).count() as u32 >= self.threshold
        };
        if trips {
            self.history.clear();
        }
        trips
    }
}
