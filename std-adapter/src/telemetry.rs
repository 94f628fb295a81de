//! Tracing events and metrics of the handles (features `tracing` and
//! `metrics`; without them every call here compiles to nothing).
//!
//! # Tracing (feature `tracing`, target `fusebox_std::telemetry`)
//!
//! | event | level | fields |
//! |---|---|---|
//! | breaker transition into Open or ForcedOpen | WARN | `name`, `from`, `to`, `reason` ([`TransitionReason`](fusebox::breaker::TransitionReason)), `retry_after_s`, `failures`, `slow`, `calls`, `trips` |
//! | any other breaker transition | INFO | the same |
//! | breaker refusal | DEBUG | `name`, `state`, `retry_after_s` |
//! | rate limiter, keyed limiter, bulkhead, adaptive limiter, retry budget, concurrent retry budget, dedup table or named `Singleflight` refusal | DEBUG | `name`, `reason` (as the metric's label), `retry_after_s` (rate and keyed limiters) |
//! | adaptive limit change | DEBUG | `name`, `from`, `to` |
//! | span `call` around the future of [`Breaker::call`](crate::Breaker::call) | DEBUG | `name` |
//! | span `retry` around a run of [`retry()`](crate::retry) / `Retry::run` (feature `tokio`) | DEBUG | `name` (with a [`RetryTelemetry`]) |
//! | span `attempt` around each attempt of a run, inside `retry` | DEBUG | `attempt` (1 for the first call), `slept_s` (the backoff delays slept since the previous attempt) |
//!
//! A transition's message starts as the firmware's `defmt` lines do,
//! `<name> <from> -> <to>: <reason>`, the reason's words from the core's
//! [`TransitionReason::as_str`](fusebox::breaker::TransitionReason::as_str)
//! (examples-rp2040's gateway logs `uplink Closed -> Open: tripped; frames
//! dropped`), then gives the counts; a refusal reads as the gateway's
//! `uplink: frame 7 refused by the breaker`:
//!
//! ```text
//! WARN fusebox_std::telemetry: payments Closed -> Open: tripped, 3 of 4 calls failed, 0 slow name="payments" from=Closed to=Open reason="tripped" retry_after_s=30.0 failures=3 slow=0 calls=4 trips=1
//! DEBUG fusebox_std::telemetry: payments refused by the breaker: Open, retry after 29.5 s name="payments" state=Open retry_after_s=29.5
//! ```
//!
//! The counts (`failures`, `slow`, `calls` = successes + failures, `trips`)
//! are the breaker's counters since it was built ([`Breaker::metrics`]),
//! read lock-free when the event is made; `retry_after_s` is the time
//! until the breaker admits again (absent while it admits, or held open).
//!
//! # Metrics (feature `metrics`, the `metrics` facade)
//!
//! Prometheus conventions: counters end in `_total`, durations are in
//! seconds, every series has the handle's name as label `name`. Each
//! handle registers its series once, when built; a call only touches the
//! registered handles (atomics in most recorders).
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `fusebox_breaker_calls_admitted_total` | counter | `name` | permits handed out |
//! | `fusebox_breaker_calls_rejected_total` | counter | `name`, `reason` (`open`, `half_open`, `forced_open`) | calls refused, by the state that refused them |
//! | `fusebox_breaker_calls_successful_total` | counter | `name` | successes recorded (slow ones included) |
//! | `fusebox_breaker_calls_failed_total` | counter | `name` | failures recorded |
//! | `fusebox_breaker_calls_slow_total` | counter | `name` | timed calls that took at least the slow-call duration (with slow-call detection on, every call) |
//! | `fusebox_breaker_transitions_total` | counter | `name`, `to` | transitions, by the state entered |
//! | `fusebox_breaker_state` | gauge | `name`, `state` (`closed`, `open`, `half_open`, `forced_open`, `forced_closed`) | 1 for the state the breaker is in, 0 for the others (as resilience4j's `resilience4j_circuitbreaker_state`) |
//! | `fusebox_breaker_call_duration_seconds` | histogram | `name` | time from permit to recorded outcome, seconds (every call is timed for it: two clock reads; [`BreakerBuilder::call_durations`](crate::BreakerBuilder::call_durations)`(false)` turns it off) |
//! | `fusebox_rate_limiter_calls_admitted_total` | counter | `name` | `try_acquire` / `try_acquire_n` admitted |
//! | `fusebox_rate_limiter_calls_rejected_total` | counter | `name`, `reason` (`rate_limited`, `exceeds_burst`) | refused |
//! | `fusebox_rate_limiter_tokens` | gauge | `name` | whole tokens left: set on each refusal, on the first admission of each clock tick, and by `RateLimiter::publish_tokens` (call it before a scrape) |
//! | `fusebox_bulkhead_calls_admitted_total` | counter | `name` | permits handed out (at once or after a wait) |
//! | `fusebox_bulkhead_calls_rejected_total` | counter | `name`, `reason` (`full`, `queue_full`, `timed_out`) | refused by `try_acquire` (`full`) or `acquire` |
//! | `fusebox_bulkhead_in_flight` | gauge | `name` | permits live, set at each admission and release |
//! | `fusebox_bulkhead_queue_length` | gauge | `name` | callers waiting in `acquire` |
//! | `fusebox_adaptive_limiter_calls_admitted_total` | counter | `name` | permits handed out |
//! | `fusebox_adaptive_limiter_calls_rejected_total` | counter | `name`, `reason` (`full`) | refused |
//! | `fusebox_adaptive_limiter_in_flight` | gauge | `name` | permits live, set at each admission and recorded outcome |
//! | `fusebox_adaptive_limiter_limit` | gauge | `name` | the current limit |
//! | `fusebox_keyed_limiter_calls_admitted_total` | counter | `name` | `try_acquire` / `try_acquire_n` admitted, any key |
//! | `fusebox_keyed_limiter_calls_rejected_total` | counter | `name`, `reason` (`rate_limited`, `table_full`, `exceeds_burst`) | refused |
//! | `fusebox_retry_budget_retries_admitted_total` | counter | `name` | withdrawals that got a retry |
//! | `fusebox_retry_budget_retries_rejected_total` | counter | `name`, `reason` (`exhausted`) | withdrawals refused (no budget, no retry) |
//! | `fusebox_retry_budget_deposits_total` | counter | `name` | successes deposited |
//! | `fusebox_retry_budget_tokens` | gauge | `name` | whole retries available, set at each deposit and withdrawal |
//! | `fusebox_concurrent_retry_budget_retries_admitted_total` | counter | `name` | retries let start |
//! | `fusebox_concurrent_retry_budget_retries_rejected_total` | counter | `name`, `reason` (`exhausted`) | retries refused |
//! | `fusebox_concurrent_retry_budget_retries_in_flight` | gauge | `name` | retries in flight, set at each retry's start and end |
//! | `fusebox_concurrent_retry_budget_requests_in_flight` | gauge | `name` | requests in flight, set at each request's start and end |
//! | `fusebox_dedup_calls_admitted_total` | counter | `name` | `begin` answered `New` (the work runs) |
//! | `fusebox_dedup_calls_rejected_total` | counter | `name`, `reason` (`in_flight`, `full`) | `begin` answered `InFlight` or `Full` |
//! | `fusebox_dedup_calls_replayed_total` | counter | `name` | `begin` answered `Done` (the stored result) |
//! | `fusebox_retry_attempts_total` | counter | `name` | calls of the operation by runs with a [`RetryTelemetry`] |
//! | `fusebox_retry_retries_total` | counter | `name` | the attempts after each run's first |
//! | `fusebox_singleflight_runs_total` | counter | `name` | callers of a named [`Singleflight`](crate::Singleflight) (or `CoalesceLayer`) that ran their own future |
//! | `fusebox_singleflight_calls_coalesced_total` | counter | `name` | callers that got another caller's value |
//! | `fusebox_singleflight_calls_rejected_total` | counter | `name`, `reason` (`full`, `leader_dropped`) | callers refused |
//!
//! Not reported: the latency handles ([`HedgePolicy`](crate::HedgePolicy),
//! [`AdaptiveTimeout`](crate::AdaptiveTimeout)) keep their counts as
//! atomics (`stats()`), and the keyed limiter and the dedup table have no
//! size gauge (counting their entries takes every shard's lock). The
//! gauges of the retry budget read its slices once more under its lock at
//! each deposit (with `metrics` on).
//!
//! # What it costs
//!
//! fusebox's own code allocates nothing per call with both features on:
//! `tests/tests/zero_alloc.rs` runs every handle with a recorder and a
//! subscriber that enable and visit everything, and counts the
//! allocations. Building a handle registers its series (a label string
//! and the recorder's own handle each, once). What the exporter does is
//! its own: `metrics-exporter-prometheus` keeps a histogram's samples in a
//! bucket buffer that grows between scrapes (or a summary's quantile
//! sketch), and `tracing-subscriber`'s `fmt` layer formats each event into
//! a thread-local `String` and writes it; enable DEBUG only where refusals
//! are worth a line each.
//!
//! [`Breaker::metrics`]: crate::Breaker::metrics

#[cfg(feature = "metrics")]
use fusebox::breaker::Outcome;
#[cfg(any(feature = "metrics", feature = "tracing"))]
use fusebox::breaker::State;
use fusebox::breaker::{Metrics, Rejected, Transition};
use fusebox::time::Duration;

use crate::Name;
#[cfg(feature = "metrics")]
use crate::clock::to_std;

/// The state's label value (`open`, `half_open`, ...).
#[cfg(feature = "metrics")]
pub(crate) const fn state_label(s: State) -> &'static str {
    match s {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::ForcedClosed => "forced_closed",
    }
}

#[cfg(feature = "metrics")]
const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::ForcedClosed,
];

#[cfg(feature = "metrics")]
const REFUSING: [State; 3] = [State::Open, State::HalfOpen, State::ForcedOpen];

#[cfg(feature = "metrics")]
const fn state_index(s: State) -> usize {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::ForcedClosed => 4,
    }
}

/// A breaker's registered series.
#[cfg(feature = "metrics")]
struct BreakerSeries {
    admitted: metrics::Counter,
    /// By the refusing state: open, half-open, forced-open (the only
    /// states that refuse).
    rejected: [metrics::Counter; 3],
    successes: metrics::Counter,
    failures: metrics::Counter,
    slow: metrics::Counter,
    transitions: [metrics::Counter; 5],
    state: [metrics::Gauge; 5],
    duration: metrics::Histogram,
}

/// What a breaker handle reports, registered when the handle is built.
pub(crate) struct BreakerTelemetry {
    #[cfg(feature = "metrics")]
    series: BreakerSeries,
    #[cfg(feature = "metrics")]
    slow_after: Option<Duration>,
    /// Record the duration histogram (feature `metrics`).
    #[cfg(feature = "metrics")]
    durations: bool,
}

impl std::fmt::Debug for BreakerTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BreakerTelemetry")
    }
}

impl BreakerTelemetry {
    /// Register the series of breaker `name` (closed), whose calls are
    /// slow from `slow_after` (`None`: slow-call detection is off);
    /// `durations`: time every call for the duration histogram.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(name: &Name, slow_after: Option<Duration>, durations: bool) -> Self {
        #[cfg(feature = "metrics")]
        {
            // One string for every series's label (an `Arc`, cloned).
            let n = metrics::SharedString::from_shared(std::sync::Arc::<str>::from(name.as_str()));
            let series = BreakerSeries {
                admitted: metrics::counter!("fusebox_breaker_calls_admitted_total", "name" => n.clone()),
                rejected: REFUSING.map(|s| {
                    metrics::counter!("fusebox_breaker_calls_rejected_total", "name" => n.clone(), "reason" => state_label(s))
                }),
                successes: metrics::counter!("fusebox_breaker_calls_successful_total", "name" => n.clone()),
                failures: metrics::counter!("fusebox_breaker_calls_failed_total", "name" => n.clone()),
                slow: metrics::counter!("fusebox_breaker_calls_slow_total", "name" => n.clone()),
                transitions: STATES.map(|s| {
                    metrics::counter!("fusebox_breaker_transitions_total", "name" => n.clone(), "to" => state_label(s))
                }),
                state: STATES.map(|s| {
                    metrics::gauge!("fusebox_breaker_state", "name" => n.clone(), "state" => state_label(s))
                }),
                duration: metrics::histogram!("fusebox_breaker_call_duration_seconds", "name" => n),
            };
            series.state[state_index(State::Closed)].set(1.0);
            Self {
                series,
                slow_after,
                durations,
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// Whether every call must be timed (its start and end read) for what
    /// this reports: the duration histogram (feature `metrics`, unless
    /// turned off).
    #[inline]
    pub(crate) const fn times_calls(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.durations;
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// A permit was handed out.
    #[inline]
    pub(crate) fn admitted(&self) {
        #[cfg(feature = "metrics")]
        self.series.admitted.increment(1);
    }

    /// A call was refused.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn rejected(&self, name: &Name, r: &Rejected) {
        #[cfg(feature = "metrics")]
        self.series.rejected[match r.state {
            State::HalfOpen => 1,
            State::ForcedOpen => 2,
            _ => 0,
        }]
        .increment(1);
        #[cfg(feature = "tracing")]
        match r.retry_after {
            Some(d) => tracing::debug!(
                name = name.as_str(),
                state = ?r.state,
                retry_after_s = to_secs(d),
                "{} refused by the breaker: {:?}, retry after {} s",
                name,
                r.state,
                to_secs(d),
            ),
            None => tracing::debug!(
                name = name.as_str(),
                state = ?r.state,
                "{} refused by the breaker: {:?}",
                name,
                r.state,
            ),
        }
    }

    /// An outcome was recorded for a call admitted `took` ago (`None`: the
    /// call was not timed, see [`times_calls`](Self::times_calls); then
    /// slow-call detection is off too, and no call is slow).
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn recorded(&self, outcome: fusebox::breaker::Outcome, took: Option<Duration>) {
        #[cfg(feature = "metrics")]
        {
            let s = &self.series;
            match outcome {
                Outcome::Success => s.successes.increment(1),
                Outcome::Failure => s.failures.increment(1),
                Outcome::Ignored => return,
            }
            if let Some(took) = took {
                if self.slow_after.is_some_and(|slow| took >= slow) {
                    s.slow.increment(1);
                }
                if self.durations {
                    s.duration.record(to_std(took).as_secs_f64());
                }
            }
        }
    }

    /// The breaker made transition `t`; `counts` are its counters now and
    /// `retry_after` the time until it admits again.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn transition(
        &self,
        name: &Name,
        t: Transition,
        counts: impl FnOnce() -> (Metrics, Option<Duration>),
    ) {
        #[cfg(feature = "metrics")]
        {
            let s = &self.series;
            s.transitions[state_index(t.to)].increment(1);
            s.state[state_index(t.from)].set(0.0);
            s.state[state_index(t.to)].set(1.0);
        }
        #[cfg(feature = "tracing")]
        {
            let (m, retry_after) = counts();
            let calls = m.successes.saturating_add(m.failures);
            let retry_after_s = retry_after.map(to_secs);
            macro_rules! event {
                ($level:expr) => {
                    tracing::event!(
                        $level,
                        name = name.as_str(),
                        from = ?t.from,
                        to = ?t.to,
                        reason = t.reason().as_str(),
                        retry_after_s,
                        failures = m.failures,
                        slow = m.slow,
                        calls,
                        trips = m.trips,
                        "{} {:?} -> {:?}: {}, {} of {} calls failed, {} slow",
                        name,
                        t.from,
                        t.to,
                        t.reason(),
                        m.failures,
                        calls,
                        m.slow,
                    )
                };
            }
            match t.to {
                State::Open | State::ForcedOpen => event!(tracing::Level::WARN),
                _ => event!(tracing::Level::INFO),
            }
        }
    }
}

/// `call` under a DEBUG span `call` with the handle's name (feature
/// `tracing`; else `call` itself), so the events of the call are in it.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn in_call_span<F: std::future::Future>(name: &Name, call: F) -> InCallSpan<F> {
    #[cfg(feature = "tracing")]
    {
        use tracing::Instrument as _;
        call.instrument(tracing::debug_span!("call", name = name.as_str()))
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = name;
        call
    }
}

/// A call under its span ([`in_call_span`]).
#[cfg(feature = "tracing")]
pub(crate) type InCallSpan<F> = tracing::instrument::Instrumented<F>;
/// A call under its span ([`in_call_span`]; without feature `tracing`, the
/// call itself).
#[cfg(not(feature = "tracing"))]
pub(crate) type InCallSpan<F> = F;

/// `run` (a retry runner's whole run) under a DEBUG span `retry`, with
/// the runner's name if it has one (feature `tracing`; else `run` itself).
#[cfg(feature = "tokio")]
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn in_retry_span<F: std::future::Future>(
    telemetry: Option<&RetryTelemetry>,
    run: F,
) -> impl std::future::Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    {
        use tracing::Instrument as _;
        let span = match telemetry {
            Some(t) => tracing::debug_span!("retry", name = t.0.name.as_str()),
            None => tracing::debug_span!("retry"),
        };
        run.instrument(span)
    }
    #[cfg(not(feature = "tracing"))]
    run
}

/// A retry runner's name and its registered series, built once and shared
/// by every run ([`Retry::telemetry`](crate::Retry::telemetry)): a clone
/// shares the series. Runs without one still get their spans, unnamed,
/// and count nothing.
///
/// | what | feature | name | fields / labels |
/// |---|---|---|---|
/// | span around a run | `tracing` | `retry` (DEBUG) | `name` |
/// | span around each attempt | `tracing` | `attempt` (DEBUG) | `attempt` (1 for the first call), `slept_s` (the backoff delay slept before it, seconds) |
/// | counter | `metrics` | `fusebox_retry_attempts_total` | `name`: the operation's calls |
/// | counter | `metrics` | `fusebox_retry_retries_total` | `name`: the calls after a run's first |
///
/// ```
/// use fusebox::backoff::{Backoff, Config};
/// use fusebox::time::Duration;
/// use fusebox_std::Retry;
/// use fusebox_std::telemetry::RetryTelemetry;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let payments = RetryTelemetry::new("payments")?; // once, at start-up
/// let schedule = Backoff::new(Config::constant(Duration::from_millis(10)).max_attempts(5), 1)?;
/// let value = Retry::new(schedule)
///     .telemetry(&payments)
///     .run(async |attempt| if attempt < 3 { Err("busy") } else { Ok(attempt) }, |_| fusebox::retry::Verdict::Retry)
///     .await?;
/// assert_eq!(value, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RetryTelemetry(std::sync::Arc<RetryInner>);

struct RetryInner {
    name: Name,
    #[cfg(feature = "metrics")]
    attempts: metrics::Counter,
    #[cfg(feature = "metrics")]
    retries: metrics::Counter,
}

impl std::fmt::Debug for RetryTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RetryTelemetry").field(&self.0.name).finish()
    }
}

impl RetryTelemetry {
    /// Register the series of retry runner `name`.
    ///
    /// # Errors
    /// [`BuildError::Name`](crate::BuildError::Name) if the name is not a
    /// valid [`Name`].
    pub fn new(name: &str) -> Result<Self, crate::BuildError> {
        let name = Name::new(name)?;
        #[cfg(feature = "metrics")]
        let n = metrics::SharedString::from_shared(std::sync::Arc::<str>::from(name.as_str()));
        Ok(Self(std::sync::Arc::new(RetryInner {
            #[cfg(feature = "metrics")]
            attempts: metrics::counter!("fusebox_retry_attempts_total", "name" => n.clone()),
            #[cfg(feature = "metrics")]
            retries: metrics::counter!("fusebox_retry_retries_total", "name" => n),
            name,
        })))
    }

    /// The runner's name.
    pub fn name(&self) -> &Name {
        &self.0.name
    }

    /// An attempt starts (a retry if `retry`): the counters of a runner
    /// that runs its own loop (the tower `RetryLayer`).
    #[cfg(feature = "tower")]
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn attempted(&self, retry: bool) {
        #[cfg(feature = "metrics")]
        {
            self.0.attempts.increment(1);
            if retry {
                self.0.retries.increment(1);
            }
        }
    }
}

/// The std runner's observer of attempts: a span per attempt (feature
/// `tracing`) and the counters of its [`RetryTelemetry`], if any.
#[cfg(feature = "tokio")]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct Attempts {
    pub(crate) telemetry: Option<RetryTelemetry>,
    /// The delays slept since the last attempt.
    pub(crate) slept: Duration,
}

#[cfg(feature = "tokio")]
impl fusebox::retry::Observe for Attempts {
    #[cfg(feature = "tracing")]
    type Attempt<F: std::future::Future> = tracing::instrument::Instrumented<F>;
    #[cfg(not(feature = "tracing"))]
    type Attempt<F: std::future::Future> = F;

    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn attempt<F: std::future::Future>(&mut self, attempt: u32, work: F) -> Self::Attempt<F> {
        let slept = core::mem::replace(&mut self.slept, Duration::from_ticks(0));
        #[cfg(feature = "metrics")]
        if let Some(t) = &self.telemetry {
            t.0.attempts.increment(1);
            if attempt > 1 {
                t.0.retries.increment(1);
            }
        }
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            work.instrument(tracing::debug_span!(
                "attempt",
                attempt,
                slept_s = to_secs(slept)
            ))
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = slept;
            work
        }
    }

    #[inline]
    fn sleeping(&mut self, delay: Duration) {
        self.slept = Duration::from_ticks(self.slept.as_ticks().saturating_add(delay.as_ticks()));
    }
}

/// A duration in seconds, for a field.
#[cfg(feature = "tracing")]
fn to_secs(d: Duration) -> f64 {
    crate::clock::to_std(d).as_secs_f64()
}

/// Which admission handle a [`LimitTelemetry`] reports for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// [`RateLimiter`](crate::RateLimiter): reasons `rate_limited`,
    /// `exceeds_burst`; gauge `tokens`.
    Rate,
    /// [`Bulkhead`](crate::Bulkhead): reasons `full`, `queue_full`,
    /// `timed_out`; gauges `in_flight`, `queue_length`.
    Bulkhead,
    /// [`AdaptiveLimiter`](crate::AdaptiveLimiter): reason `full`; gauges
    /// `in_flight`, `limit`.
    Adaptive,
    /// [`KeyedLimiter`](crate::KeyedLimiter): reasons `rate_limited`,
    /// `table_full`, `exceeds_burst`.
    Keyed,
    /// [`RetryBudget`](crate::RetryBudget): retries admitted, refused
    /// (`exhausted`); gauge `tokens`; counter of deposits.
    Budget,
    /// [`ConcurrentRetryBudget`](crate::ConcurrentRetryBudget): retries
    /// admitted, refused (`exhausted`); gauges retries and requests in
    /// flight.
    ConcurrentBudget,
    /// [`DedupTable`](crate::DedupTable): new work admitted, refused
    /// (`in_flight`, `full`); counter of stored results replayed.
    Dedup,
}

impl Kind {
    #[cfg(feature = "tracing")]
    const fn words(self) -> &'static str {
        match self {
            Kind::Rate => "rate limiter",
            Kind::Bulkhead => "bulkhead",
            Kind::Adaptive => "adaptive limiter",
            Kind::Keyed => "keyed limiter",
            Kind::Budget => "retry budget",
            Kind::ConcurrentBudget => "concurrent retry budget",
            Kind::Dedup => "dedup table",
        }
    }
    /// What is refused: a call, or a retry (the budgets).
    #[cfg(feature = "tracing")]
    const fn noun(self) -> &'static str {
        match self {
            Kind::Budget | Kind::ConcurrentBudget => "retry",
            _ => "call",
        }
    }
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    const fn reasons(self) -> &'static [&'static str] {
        match self {
            Kind::Rate => &["rate_limited", "exceeds_burst"],
            Kind::Bulkhead => &["full", "queue_full", "timed_out"],
            Kind::Adaptive => &["full"],
            Kind::Keyed => &["rate_limited", "table_full", "exceeds_burst"],
            Kind::Budget | Kind::ConcurrentBudget => &["exhausted"],
            Kind::Dedup => &["in_flight", "full"],
        }
    }
    /// admitted, rejected, first gauge, second gauge, other counter ("":
    /// none).
    #[cfg(feature = "metrics")]
    const fn names(self) -> [&'static str; 5] {
        match self {
            Kind::Rate => [
                "fusebox_rate_limiter_calls_admitted_total",
                "fusebox_rate_limiter_calls_rejected_total",
                "fusebox_rate_limiter_tokens",
                "",
                "",
            ],
            Kind::Bulkhead => [
                "fusebox_bulkhead_calls_admitted_total",
                "fusebox_bulkhead_calls_rejected_total",
                "fusebox_bulkhead_in_flight",
                "fusebox_bulkhead_queue_length",
                "",
            ],
            Kind::Adaptive => [
                "fusebox_adaptive_limiter_calls_admitted_total",
                "fusebox_adaptive_limiter_calls_rejected_total",
                "fusebox_adaptive_limiter_in_flight",
                "fusebox_adaptive_limiter_limit",
                "",
            ],
            Kind::Keyed => [
                "fusebox_keyed_limiter_calls_admitted_total",
                "fusebox_keyed_limiter_calls_rejected_total",
                "",
                "",
                "",
            ],
            Kind::Budget => [
                "fusebox_retry_budget_retries_admitted_total",
                "fusebox_retry_budget_retries_rejected_total",
                "fusebox_retry_budget_tokens",
                "",
                "fusebox_retry_budget_deposits_total",
            ],
            Kind::ConcurrentBudget => [
                "fusebox_concurrent_retry_budget_retries_admitted_total",
                "fusebox_concurrent_retry_budget_retries_rejected_total",
                "fusebox_concurrent_retry_budget_retries_in_flight",
                "fusebox_concurrent_retry_budget_requests_in_flight",
                "",
            ],
            Kind::Dedup => [
                "fusebox_dedup_calls_admitted_total",
                "fusebox_dedup_calls_rejected_total",
                "",
                "",
                "fusebox_dedup_calls_replayed_total",
            ],
        }
    }
}

/// What a rate limiter, bulkhead or adaptive limiter reports, registered
/// when the handle is built.
pub(crate) struct LimitTelemetry {
    #[cfg(feature = "tracing")]
    kind: Kind,
    #[cfg(feature = "metrics")]
    admitted: metrics::Counter,
    #[cfg(feature = "metrics")]
    rejected: Box<[metrics::Counter]>,
    /// Tokens (rate) or permits in flight (bulkhead, adaptive).
    #[cfg(feature = "metrics")]
    level: metrics::Gauge,
    /// Queue length (bulkhead) or the limit (adaptive); a no-op gauge for
    /// the rate limiter.
    #[cfg(feature = "metrics")]
    second: metrics::Gauge,
    /// Deposits (retry budget) or results replayed (dedup); a no-op
    /// counter for the others.
    #[cfg(feature = "metrics")]
    other: metrics::Counter,
}

impl std::fmt::Debug for LimitTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LimitTelemetry")
    }
}

impl LimitTelemetry {
    /// Register the series of handle `name` of kind `kind`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(name: &Name, kind: Kind) -> Self {
        #[cfg(feature = "metrics")]
        {
            let n = metrics::SharedString::from_shared(std::sync::Arc::<str>::from(name.as_str()));
            let [admitted, rejected, level, second, other] = kind.names();
            let gauge = |g: &'static str| {
                if g.is_empty() {
                    metrics::Gauge::noop()
                } else {
                    metrics::gauge!(g, "name" => n.clone())
                }
            };
            Self {
                #[cfg(feature = "tracing")]
                kind,
                admitted: metrics::counter!(admitted, "name" => n.clone()),
                rejected: kind
                    .reasons()
                    .iter()
                    .map(|r| metrics::counter!(rejected, "name" => n.clone(), "reason" => *r))
                    .collect(),
                level: gauge(level),
                second: gauge(second),
                other: if other.is_empty() {
                    metrics::Counter::noop()
                } else {
                    metrics::counter!(other, "name" => n.clone())
                },
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {
            #[cfg(feature = "tracing")]
            kind,
        }
    }

    /// A call was admitted; `level` is the tokens left (rate) or the
    /// permits in flight now.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn admitted(&self, level: impl FnOnce() -> u32) {
        #[cfg(feature = "metrics")]
        {
            self.admitted.increment(1);
            self.level.set(f64::from(level()));
        }
    }

    /// A call was admitted; the gauges are left as they are (the rate
    /// limiter sets its tokens gauge at most once per clock tick).
    #[inline]
    pub(crate) fn counted(&self) {
        #[cfg(feature = "metrics")]
        self.admitted.increment(1);
    }

    /// The first gauge changed (a permit returned, tokens refilled).
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn level(&self, level: impl FnOnce() -> u32) {
        #[cfg(feature = "metrics")]
        self.level.set(f64::from(level()));
    }

    /// The other counter's event (a deposit, a result replayed).
    #[inline]
    pub(crate) fn other(&self) {
        #[cfg(feature = "metrics")]
        self.other.increment(1);
    }

    /// The second gauge changed (queue length, limit).
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn second(&self, value: u32) {
        #[cfg(feature = "metrics")]
        self.second.set(f64::from(value));
    }

    /// A call was refused for reason number `reason` of the kind's list
    /// (see the module's table), `retry_after` the wait where known.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn rejected(&self, name: &Name, reason: usize, retry_after: Option<Duration>) {
        #[cfg(feature = "metrics")]
        if let Some(c) = self.rejected.get(reason) {
            c.increment(1);
        }
        #[cfg(feature = "tracing")]
        {
            let why = self.kind.reasons().get(reason).copied().unwrap_or("");
            match retry_after {
                Some(d) => tracing::debug!(
                    name = name.as_str(),
                    reason = why,
                    retry_after_s = to_secs(d),
                    "{} {} refused a {}: {}, retry after {} s",
                    self.kind.words(),
                    name,
                    self.kind.noun(),
                    why,
                    to_secs(d),
                ),
                None => tracing::debug!(
                    name = name.as_str(),
                    reason = why,
                    "{} {} refused a {}: {}",
                    self.kind.words(),
                    name,
                    self.kind.noun(),
                    why,
                ),
            }
        }
    }

    /// An adaptive limit changed.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn limit_changed(&self, name: &Name, c: fusebox::bulkhead::LimitChange) {
        #[cfg(feature = "metrics")]
        self.second.set(f64::from(c.to));
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name = name.as_str(),
            from = c.from,
            to = c.to,
            "{} {} limit {} -> {}",
            self.kind.words(),
            name,
            c.from,
            c.to,
        );
    }
}

/// What a named [`Singleflight`](crate::Singleflight) reports (an unnamed
/// one reports nothing): runs made, callers coalesced into another's run,
/// refusals by reason.
#[cfg(feature = "tokio")]
#[derive(Clone, Default)]
pub(crate) struct FlightTelemetry {
    name: Option<Name>,
    #[cfg(feature = "metrics")]
    runs: Option<metrics::Counter>,
    #[cfg(feature = "metrics")]
    coalesced: Option<metrics::Counter>,
    /// `full`, `leader_dropped`.
    #[cfg(feature = "metrics")]
    rejected: Option<[metrics::Counter; 2]>,
}

/// The reasons of a [`FlightTelemetry`] refusal, as labels.
#[cfg(all(feature = "tokio", any(feature = "metrics", feature = "tracing")))]
const FLIGHT_REASONS: [&str; 2] = ["full", "leader_dropped"];

#[cfg(feature = "tokio")]
impl FlightTelemetry {
    /// Register the series of the table `name`.
    pub(crate) fn new(name: Name) -> Self {
        #[cfg(feature = "metrics")]
        {
            let n = metrics::SharedString::from_shared(std::sync::Arc::<str>::from(name.as_str()));
            Self {
                runs: Some(metrics::counter!("fusebox_singleflight_runs_total", "name" => n.clone())),
                coalesced: Some(
                    metrics::counter!("fusebox_singleflight_calls_coalesced_total", "name" => n.clone()),
                ),
                rejected: Some(FLIGHT_REASONS.map(|r| {
                    metrics::counter!("fusebox_singleflight_calls_rejected_total", "name" => n.clone(), "reason" => r)
                })),
                name: Some(name),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self { name: Some(name) }
    }

    /// The table's name, if it has one.
    pub(crate) fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }

    /// A caller ran its own future (as leader, or alone when full).
    #[inline]
    pub(crate) fn ran(&self) {
        #[cfg(feature = "metrics")]
        if let Some(c) = &self.runs {
            c.increment(1);
        }
    }

    /// A caller got the value of another caller's run.
    #[inline]
    pub(crate) fn coalesced(&self) {
        #[cfg(feature = "metrics")]
        if let Some(c) = &self.coalesced {
            c.increment(1);
        }
    }

    /// A caller was refused: reason 0 `full`, 1 `leader_dropped`.
    #[inline]
    #[cfg_attr(
        not(any(feature = "metrics", feature = "tracing")),
        allow(unused_variables)
    )]
    pub(crate) fn rejected(&self, reason: usize) {
        #[cfg(feature = "metrics")]
        if let Some(c) = self.rejected.as_ref().and_then(|r| r.get(reason)) {
            c.increment(1);
        }
        #[cfg(feature = "tracing")]
        if let Some(name) = &self.name {
            let why = FLIGHT_REASONS.get(reason).copied().unwrap_or("");
            tracing::debug!(
                name = name.as_str(),
                reason = why,
                "singleflight {} refused a call: {}",
                name,
                why,
            );
        }
    }
}
