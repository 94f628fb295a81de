//! The state machine: [`CircuitBreaker`] over a failure [`Policy`].

use super::{
    Call, Config, ConsecutiveFailures, Metrics, Outcome, Permit, Policy, ProbeRule, Rejected,
    State, Transition, WindowStats,
};
use crate::ConfigError;
use crate::time::{self, Duration, Instant};

/// A circuit breaker over failure policy `P`. See the [module docs](super)
/// for the state table and conventions.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CircuitBreaker<P: Policy = ConsecutiveFailures> {
    config: Config,
    policy: P,
    metrics: Metrics,
    // Open: admits again at `now >= until`. HalfOpen: outstanding probes
    // are written off at `now >= until`.
    until: Instant,
    generation: u32,
    // Trips without a close in between: grows the open duration.
    trips_in_row: u32,
    probes_in_flight: u16,
    // Probes admitted this half-open round, less those that gave their slot
    // back (ignored, written off): what `ProbeRule::PerRound` limits.
    probes_admitted: u16,
    probe_successes: u16,
    state: State,
    // The latest `now` seen: an earlier one is judged at it.
    latest: Instant,
}

impl<P: Policy> CircuitBreaker<P> {
    /// A closed breaker. Fails if a field of `config` is out of range
    /// (the policy checked its own fields when it was built).
    ///
    /// `const`, so a firmware can build it at compile time:
    ///
    /// ```
    /// use fusebox::breaker::{CircuitBreaker, Config, CountWindow};
    ///
    /// const BREAKER: CircuitBreaker<CountWindow<20>> = {
    ///     let policy = match CountWindow::builder().failure_rate(50).minimum_calls(10).build() {
    ///         Ok(p) => p,
    ///         Err(_) => panic!("bad window"),
    ///     };
    ///     match CircuitBreaker::new(Config::new(), policy) {
    ///         Ok(b) => b,
    ///         Err(_) => panic!("bad breaker config"),
    ///     }
    /// };
    /// let breaker = BREAKER; // e.g. in a `static` behind a mutex
    /// # let _ = breaker;
    /// ```
    pub const fn new(config: Config, policy: P) -> Result<Self, ConfigError> {
        if let Err(e) = config.validate() {
            // Policies own no resources; forgetting one is free, and lets this
            // function stay `const` (a generic value cannot be dropped there).
            core::mem::forget(policy);
            return Err(e);
        }
        Ok(Self {
            config,
            policy,
            metrics: Metrics {
                admitted: 0,
                rejected: 0,
                successes: 0,
                failures: 0,
                slow: 0,
                ignored: 0,
                stale: 0,
                trips: 0,
            },
            until: Instant::from_ticks(0),
            generation: 0,
            trips_in_row: 0,
            probes_in_flight: 0,
            probes_admitted: 0,
            probe_successes: 0,
            state: State::Closed,
            latest: Instant::from_ticks(0),
        })
    }

    /// Ask to make a call at `now`.
    ///
    /// Closed (or ForcedClosed): always a permit. Open: rejected with the
    /// rest of the open duration, until `now` reaches its end; then the
    /// breaker moves to HalfOpen and this permit is the first probe
    /// ([`Permit::transition`] says so). HalfOpen: a permit while fewer than
    /// K probes are outstanding.
    #[inline]
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        let now = time::observe(&mut self.latest, now);
        let transition = match self.state {
            State::Closed | State::ForcedClosed => {
                self.metrics.admitted = self.metrics.admitted.wrapping_add(1);
                return Ok(Permit {
                    acquired_at: now,
                    generation: self.generation,
                    transition: None,
                });
            }
            State::Open => {
                if now < self.until {
                    return Err(self.reject(State::Open, Some(time::elapsed(now, self.until))));
                }
                self.probe_successes = 0;
                self.probes_in_flight = 0;
                self.probes_admitted = 0;
                Some(self.move_to(State::HalfOpen))
            }
            State::HalfOpen => {
                self.write_off_lost_probes(now);
                if self.probe_slots_taken() {
                    return Err(self.reject(State::HalfOpen, Some(time::elapsed(now, self.until))));
                }
                None
            }
            State::ForcedOpen => return Err(self.reject(State::ForcedOpen, None)),
        };
        // HalfOpen, with a free probe slot.
        self.probes_in_flight = self.probes_in_flight.saturating_add(1);
        self.probes_admitted = self.probes_admitted.saturating_add(1);
        self.until = time::add(now, self.config.probe_timeout);
        self.metrics.admitted = self.metrics.admitted.wrapping_add(1);
        Ok(Permit {
            acquired_at: now,
            generation: self.generation,
            transition,
        })
    }

    /// Hand back `permit` with the outcome of its call, at `now`. Returns the
    /// transition this made, if any.
    ///
    /// A permit from an older generation (issued before a state change, or a
    /// probe written off after the probe timeout) changes nothing.
    #[inline]
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition> {
        let now = time::observe(&mut self.latest, now);
        // The common case first: a call admitted while closed, recorded
        // while still closed.
        if self.state == State::Closed && permit.generation == self.generation {
            let failed = match outcome {
                Outcome::Success => false,
                Outcome::Failure => true,
                Outcome::Ignored => {
                    self.metrics.ignored = self.metrics.ignored.wrapping_add(1);
                    return None;
                }
            };
            let call = Call {
                failed,
                slow: self.is_slow(&permit, now),
            };
            self.count(call);
            return if self.policy.record(call, &self.config, now) {
                Some(self.trip(now))
            } else {
                None
            };
        }
        self.record_other(permit, outcome, now)
    }

    /// `record` outside the closed fast path: half-open probes, stale
    /// permits, a held-closed breaker. Kept out of line so that the fast
    /// path stays small where flash is scarce.
    #[inline(never)]
    fn record_other(
        &mut self,
        permit: Permit,
        outcome: Outcome,
        now: Instant,
    ) -> Option<Transition> {
        if self.state == State::HalfOpen {
            self.write_off_lost_probes(now);
        }
        if permit.generation != self.generation {
            self.metrics.stale = self.metrics.stale.wrapping_add(1);
            return None;
        }
        let slow = self.is_slow(&permit, now);
        let call = match outcome {
            Outcome::Success => Call {
                failed: false,
                slow,
            },
            Outcome::Failure => Call { failed: true, slow },
            Outcome::Ignored => {
                self.metrics.ignored = self.metrics.ignored.wrapping_add(1);
                if self.state == State::HalfOpen {
                    // It says nothing of the dependency: its slot goes back,
                    // under either probe rule.
                    self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                    self.probes_admitted = self.probes_admitted.saturating_sub(1);
                }
                return None;
            }
        };
        self.count(call);
        match self.state {
            State::HalfOpen => {
                self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                if call.failed || call.slow {
                    return Some(self.trip(now));
                }
                self.probe_successes = self.probe_successes.saturating_add(1);
                if self.probe_successes >= self.config.half_open_successes {
                    self.trips_in_row = 0;
                    self.policy.clear();
                    Some(self.move_to(State::Closed))
                } else {
                    None
                }
            }
            // Closed with this generation took the fast path; Open and
            // ForcedOpen issue no permits, so a permit of the current
            // generation cannot reach them; ForcedClosed only counts.
            State::Closed | State::Open | State::ForcedOpen | State::ForcedClosed => None,
        }
    }

    /// The state as the next [`try_acquire`](Self::try_acquire) will see it:
    /// an Open breaker whose open duration has passed reports HalfOpen (the
    /// transition itself is returned by the `try_acquire` that makes it).
    pub fn state(&self, now: Instant) -> State {
        let now = time::at_latest(now, self.latest);
        match self.state {
            State::Open if now >= self.until => State::HalfOpen,
            s => s,
        }
    }

    /// Half-open probe permits held at `now`: admitted in this half-open
    /// round and not yet recorded (a dropped permit is recorded Ignored by
    /// its holder); 0 outside HalfOpen, and 0 once the probe timeout has
    /// written them off. With no call in flight it must be 0: a leak check.
    ///
    /// ```
    /// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, State};
    /// use fusebox::time::{Duration, Instant};
    ///
    /// let t = Instant::from_ticks;
    /// let config = Config::new().open_duration(Duration::from_ticks(10)).half_open_probes(2);
    /// let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1)?)?;
    /// let call = b.try_acquire(t(0)).expect("closed");
    /// b.record(call, Outcome::Failure, t(0)); // trips
    /// let probe = b.try_acquire(t(10)).expect("half-open: a probe");
    /// assert_eq!((b.state(t(10)), b.probes_in_flight(t(10))), (State::HalfOpen, 1));
    /// b.record(probe, Outcome::Ignored, t(11)); // the call was cancelled
    /// assert_eq!(b.probes_in_flight(t(11)), 0);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn probes_in_flight(&self, now: Instant) -> u32 {
        let now = time::at_latest(now, self.latest);
        match self.state {
            State::HalfOpen if now < self.until => u32::from(self.probes_in_flight),
            _ => 0,
        }
    }

    /// How long until the breaker admits a call again: `Some` while Open
    /// (the rest of the open duration) or HalfOpen with every probe slot
    /// taken (the time until they are written off, at the latest); `None`
    /// when it admits now, or is held open by [`isolate`](Self::isolate)
    /// with no end.
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        let now = time::at_latest(now, self.latest);
        match self.state {
            State::Open if now < self.until => Some(time::elapsed(now, self.until)),
            State::HalfOpen if self.probe_slots_taken() && now < self.until => {
                Some(time::elapsed(now, self.until))
            }
            _ => None,
        }
    }

    /// Hold the breaker open, rejecting every call, until
    /// [`reset`](Self::reset) or [`force_closed`](Self::force_closed).
    pub fn isolate(&mut self) -> Option<Transition> {
        self.force(State::ForcedOpen)
    }

    /// Hold the breaker closed, admitting every call and never tripping
    /// (outcomes are still counted in [`metrics`](Self::metrics)), until
    /// [`reset`](Self::reset) or [`isolate`](Self::isolate).
    pub fn force_closed(&mut self) -> Option<Transition> {
        self.force(State::ForcedClosed)
    }

    /// Back to Closed with an empty window and the open duration back at its
    /// initial value. Metrics are kept.
    pub fn reset(&mut self) -> Option<Transition> {
        self.trips_in_row = 0;
        self.force(State::Closed)
    }

    /// The counters.
    pub const fn metrics(&self) -> Metrics {
        self.metrics
    }

    /// What the policy's window holds at `now`, judged at the latest
    /// instant the breaker has seen if `now` is earlier (the policy's own
    /// [`Policy::window`] knows only the instants of the outcomes it was
    /// given).
    pub fn window(&self, now: Instant) -> WindowStats {
        self.policy.window(time::at_latest(now, self.latest))
    }

    /// The failure policy (its [`Policy::window`] gives the window's counts).
    pub const fn policy(&self) -> &P {
        &self.policy
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    fn force(&mut self, to: State) -> Option<Transition> {
        self.policy.clear();
        self.probes_in_flight = 0;
        self.probes_admitted = 0;
        self.probe_successes = 0;
        // A new generation even when the state stays: outcomes of calls made
        // before a manual change must not count after it.
        let t = self.move_to(to);
        (t.from != t.to).then_some(t)
    }

    #[inline]
    fn is_slow(&self, permit: &Permit, now: Instant) -> bool {
        match self.config.slow_call_duration() {
            Some(slow) => time::elapsed(permit.acquired_at, now) >= slow,
            None => false,
        }
    }

    #[inline]
    fn reject(&mut self, state: State, retry_after: Option<Duration>) -> Rejected {
        self.metrics.rejected = self.metrics.rejected.wrapping_add(1);
        Rejected { state, retry_after }
    }

    #[inline]
    fn count(&mut self, call: Call) {
        let m = &mut self.metrics;
        if call.failed {
            m.failures = m.failures.wrapping_add(1);
        } else {
            m.successes = m.successes.wrapping_add(1);
        }
        if call.slow {
            m.slow = m.slow.wrapping_add(1);
        }
    }

    /// Whether HalfOpen must refuse another probe now, under the rule.
    #[inline]
    fn probe_slots_taken(&self) -> bool {
        let counted = match self.config.probe_rule {
            ProbeRule::InFlight => self.probes_in_flight,
            ProbeRule::PerRound => self.probes_admitted,
        };
        counted >= self.config.half_open_probes
    }

    fn write_off_lost_probes(&mut self, now: Instant) {
        if self.probes_in_flight > 0 && now >= self.until {
            // Lost probes give their slots back under either rule.
            self.probes_admitted = self.probes_admitted.saturating_sub(self.probes_in_flight);
            self.probes_in_flight = 0;
            self.generation = self.generation.wrapping_add(1);
        }
    }

    fn trip(&mut self, now: Instant) -> Transition {
        self.trips_in_row = self.trips_in_row.saturating_add(1);
        self.metrics.trips = self.metrics.trips.wrapping_add(1);
        self.until = time::add(now, self.config.open.after(self.trips_in_row));
        self.probes_in_flight = 0;
        self.probes_admitted = 0;
        self.probe_successes = 0;
        self.move_to(State::Open)
    }

    fn move_to(&mut self, to: State) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation = self.generation.wrapping_add(1);
        Transition { from, to }
    }
}
