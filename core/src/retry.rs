//! The async retry runner (feature `async`): call, classify, wait, call
//! again, on firmware and on servers with one code path.
//!
//! [`retry`] runs an async operation until it succeeds, its error is
//! permanent, or the [`Backoff`] schedule stops. It sleeps with any
//! [`DelayNs`] (embassy's `Delay` on firmware, `fusebox_std::TokioDelay` on
//! servers, a fake that records the delays in tests) and asks the time of a
//! [`Clock`] the caller passes; it never reads a clock or allocates itself.
//! [`Retry`] adds a [`CircuitBreaker`], a retry budget ([`RetryBudget`] or
//! [`ConcurrentRetryBudget`], through the [`Budget`] trait), a per-attempt
//! timeout and an overall deadline.
//!
//! ```
//! use fusebox::backoff::{Backoff, Config};
//! use fusebox::retry::{retry, Verdict};
//! use fusebox::time::{Clock, Duration, Instant};
//! # use core::cell::Cell;
//! # struct Fake<'a>(&'a Cell<u64>);
//! # impl embedded_hal_async::delay::DelayNs for Fake<'_> {
//! #     async fn delay_ns(&mut self, ns: u32) { self.0.set(self.0.get() + u64::from(ns) / 1000) }
//! # }
//! # struct C<'a>(&'a Cell<u64>);
//! # impl Clock for C<'_> { fn now(&self) -> Instant { Instant::from_ticks(self.0.get()) } }
//! # let t = Cell::new(0);
//! # let (mut delay, clock) = (Fake(&t), C(&t));
//!
//! #[derive(Debug, PartialEq)]
//! enum BusError { Nack, Busy { retry_after_ms: u64 }, BadAddress }
//!
//! let schedule = Backoff::new(Config::exponential(Duration::from_millis(2), 2, Duration::from_millis(50)), 7)?;
//! let mut calls = 0;
//! let read = retry(
//!     schedule,
//!     &mut delay,
//!     &clock,
//!     // An async closure: each attempt may borrow the captures mutably.
//!     async |_attempt| {
//!         calls += 1;
//!         if calls < 3 { Err(BusError::Nack) } else { Ok(21_u16) }
//!     },
//!     |e: &BusError| match e {
//!         BusError::Nack => Verdict::Retry,
//!         BusError::Busy { retry_after_ms } => Verdict::RetryAfter(Duration::from_millis(*retry_after_ms)),
//!         BusError::BadAddress => Verdict::Permanent,
//!     },
//! );
//! let value = embassy_futures::block_on(read).unwrap();
//! assert_eq!(value, 21);
//! assert_eq!(t.get(), 2_000 + 4_000); // slept 2 ms, then 4 ms (1 MHz ticks)
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # One attempt, step by step
//!
//! | step | when | then |
//! |---|---|---|
//! | breaker | [`CircuitBreaker::try_acquire`] refuses | no call; the refusal's `retry_after` is the hint for the next delay |
//! | start | the run begins | budget: [`request_started`](Budget::request_started) |
//! | call | the operation returns `Ok(v)` | breaker records Success, budget [`deposit`](Budget::deposit)s; returns `Ok(v)` |
//! | call | the attempt timeout (or the deadline) fires first | the attempt's future is dropped; breaker records Failure; [`Last::TimedOut`] |
//! | classify | [`Verdict::Permanent`] | breaker records Ignored; returns [`Stopped::Permanent`] |
//! | classify | [`Verdict::Retry`] / [`Verdict::RetryAfter`]`(h)` | breaker records Failure; next delay with hint `h` |
//! | schedule | [`Backoff::try_next`] stops | returns [`Stopped::Schedule`] |
//! | deadline | now + delay passes the deadline | returns [`Stopped::Deadline`], without sleeping |
//! | budget | [`Budget::try_withdraw`] refuses (the retry's start) | returns [`Stopped::Budget`] (no budget, no retry) |
//! | sleep | [`DelayNs`] for the delay | next attempt; when it ends (or the breaker refuses it), budget: [`retry_finished`](Budget::retry_finished) |
//! | end | the run returns, or its future is dropped | a permit still held (dropped mid-attempt): breaker records Ignored; budget: [`retry_finished`](Budget::retry_finished) if a retry was in flight, then [`request_finished`](Budget::request_finished) |
//!
//! # Conventions
//! - Attempts count the operation's calls; a call refused by the breaker is
//!   not an attempt, but does take a delay from the schedule.
//! - A permanent error says nothing of the dependency's health: the breaker
//!   records it as [`Outcome::Ignored`].
//! - The per-attempt timeout and the deadline need nothing but the same
//!   `DelayNs`: the attempt is raced against a delay of
//!   `min(timeout, time left before the deadline)`.
//! - Every retry withdraws from the budget, checked last, so a retry that
//!   the schedule or the deadline refuses costs no budget. A retry is in
//!   flight, for a [`ConcurrentRetryBudget`], from that withdrawal (before
//!   its backoff wait) until its attempt ends.
//! - The budget hears of every request's start and finish exactly once
//!   each, even when the run's future is dropped (a guard reports the
//!   finish on drop, reading the clock), so a concurrency budget never
//!   leaks a count.
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant (the
//!   runner keeps the latest clock reading; the time left before the
//!   deadline never grows back).
//! - Cancellation-safe: dropping the future at any await point leaves every
//!   primitive consistent. A breaker permit held by a dropped attempt is
//!   recorded as [`Outcome::Ignored`] on drop (a guard reads the clock), so
//!   a half-open probe slot is freed at once, not at the probe timeout; a
//!   withdrawal made before a sleep that is dropped is simply a retry not
//!   made (the budget errs on the side of fewer retries).
//! - The breaker and the budget are reached through the [`Gate`] and
//!   [`Budget`] traits: `&mut breaker` for one task, a shared handle for
//!   many (`&fusebox_std::Breaker` on a server; on firmware, your mutex
//!   wrapper). The runner calls them only between awaits, so no lock is
//!   held across one. It does not report the breaker's transitions: a gate
//!   that must log them does so in its own `record`.
//! - Delays are converted to microseconds rounding up (a retry never comes
//!   early) and slept in chunks of at most `u32::MAX` microseconds; a zero
//!   delay is still one `delay_us(0)`, so the loop yields between attempts.
//!
//! # Memory
//!
//! Nothing is allocated. The future that [`Retry::run`] returns holds the
//! schedule (96 bytes), the options, the budget's request and retry
//! events (a guard that reports them finished when the future is dropped)
//! and one attempt's state with its permit (a guard that records it
//! `Ignored` if the future is dropped): 368 bytes on x86_64 with a trivial
//! operation and delay (392 with a breaker, a budget, a timeout and a deadline; rustc
//! 1.95, release), plus the operation's and the `DelayNs`'s own futures
//! (`tests/benches/backoff.rs` prints the figures).

use core::convert::Infallible;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::Poll;

use embedded_hal_async::delay::DelayNs;

use crate::backoff::{Backoff, Stop};
use crate::breaker::{CircuitBreaker, Outcome, Permit, Policy, Rejected};
use crate::rate::{ConcurrentRetryBudget, RetryBudget};
use crate::time::{self, Clock, Duration, Instant};

/// What the classifier says of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Try again after the schedule's next delay.
    Retry,
    /// Try again, after at least this long (the dependency's retry-after).
    RetryAfter(Duration),
    /// Do not try again: another call would fail the same way.
    Permanent,
}

/// The last attempt's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Last<E> {
    /// The operation's error.
    Error(E),
    /// The attempt ran past the per-attempt timeout (or the deadline).
    TimedOut,
    /// The breaker refused the call.
    Rejected(Rejected),
}

/// Why the runner stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stopped {
    /// The classifier said the error is permanent.
    Permanent,
    /// The schedule gave no further delay (attempts, total-delay budget, or
    /// a hint too long: see [`Stop`]).
    Schedule(Stop),
    /// The retry budget held no retry.
    Budget,
    /// The next attempt would start past the deadline.
    Deadline,
}

/// The runner gave up: the last failure, how many calls were made, and why
/// it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryError<E> {
    /// The last attempt's failure.
    pub last: Last<E>,
    /// Calls of the operation made (a call the breaker refused is not one).
    pub attempts: u32,
    /// Why no further attempt was made.
    pub stopped: Stopped,
}

impl<E: core::fmt::Display> core::fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "gave up after {} attempt(s) (", self.attempts)?;
        match self.stopped {
            Stopped::Permanent => f.write_str("permanent error")?,
            Stopped::Schedule(s) => write!(f, "{s}")?,
            Stopped::Budget => f.write_str("retry budget exhausted")?,
            Stopped::Deadline => f.write_str("deadline reached")?,
        }
        f.write_str("): ")?;
        match &self.last {
            Last::Error(e) => write!(f, "{e}"),
            Last::TimedOut => f.write_str("attempt timed out"),
            Last::Rejected(r) => write!(f, "{r}"),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for RetryError<E> {}

/// Run `op` until it succeeds, `classify` calls its error permanent, or
/// `schedule` stops; sleep the schedule's delays with `delay` (by value, or
/// `&mut delay` to keep it). The
/// operation is given the attempt number (1 for the first call).
///
/// `op` is an async closure (`async |attempt| ...`), so each attempt may
/// borrow what the closure captured mutably (an I2C bus, a connection); a
/// plain closure that returns a future works too.
///
/// The same as `Retry::new(schedule).run(delay, clock, op, classify)`; see
/// [`Retry`] to add a breaker, a budget, a timeout or a deadline.
pub fn retry<T, E, F, C, D, K>(
    schedule: Backoff,
    delay: D,
    clock: &K,
    op: F,
    classify: C,
) -> impl Future<Output = Result<T, RetryError<E>>>
where
    F: AsyncFnMut(u32) -> Result<T, E>,
    C: FnMut(&E) -> Verdict,
    D: DelayNs,
    K: Clock,
{
    Retry::new(schedule).run(delay, clock, op, classify)
}

/// A retry runner with its options: a breaker, a retry budget, a
/// per-attempt timeout, an overall deadline. Built by value, run once.
///
/// ```
/// use fusebox::backoff::{Backoff, Config};
/// use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures};
/// use fusebox::rate::RetryBudget;
/// use fusebox::retry::{Retry, Stopped, Verdict};
/// use fusebox::time::{Clock, Duration, Instant};
/// # use core::cell::Cell;
/// # struct Fake<'a>(&'a Cell<u64>);
/// # impl embedded_hal_async::delay::DelayNs for Fake<'_> {
/// #     async fn delay_ns(&mut self, ns: u32) { self.0.set(self.0.get() + u64::from(ns) / 1000) }
/// # }
/// # struct C<'a>(&'a Cell<u64>);
/// # impl Clock for C<'_> { fn now(&self) -> Instant { Instant::from_ticks(self.0.get()) } }
/// # let t = Cell::new(0);
/// # let (mut delay, clock) = (Fake(&t), C(&t));
///
/// let mut breaker = CircuitBreaker::new(breaker::Config::new(), ConsecutiveFailures::new(5)?)?;
/// let mut budget = RetryBudget::<10>::builder()
///     .percent_can_retry(20)
///     .min_retries_per_sec(1)
///     .ttl(Duration::from_secs(10))
///     .build()?;
/// let schedule = Backoff::new(Config::constant(Duration::from_millis(10)).max_attempts(10), 1)?;
///
/// let result = embassy_futures::block_on(
///     Retry::new(schedule)
///         .breaker(&mut breaker)
///         .budget(&mut budget)
///         .timeout(Duration::from_millis(100))
///         .deadline(Duration::from_secs(1))
///         .run(&mut delay, &clock, |_| async { Err::<(), _>("503") }, |_| Verdict::Retry),
/// );
/// // The fifth failure opened the breaker; its refusal asked for 30 s, past
/// // the 1 s deadline, so the runner gave up without sleeping.
/// let err = result.unwrap_err();
/// assert_eq!(err.attempts, 5);
/// assert_eq!(err.stopped, Stopped::Deadline);
/// assert!(matches!(err.last, fusebox::retry::Last::Rejected(_)));
/// // Five retries were paid from the floor's 10 (1/s over a 10 s TTL); the
/// // one the deadline refused cost nothing.
/// assert_eq!(budget.available(clock.now()), 10 - 5);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Retry<G = Infallible, B = Infallible, O = ()> {
    schedule: Backoff,
    breaker: Option<G>,
    budget: Option<B>,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
    observer: O,
}

impl Retry {
    /// A runner over `schedule`, with no breaker, budget, timeout or deadline.
    pub const fn new(schedule: Backoff) -> Self {
        Self {
            schedule,
            breaker: None,
            budget: None,
            timeout: None,
            deadline: None,
            observer: (),
        }
    }
}

impl<G: Gate, B: Budget, O: Observe> Retry<G, B, O> {
    /// Ask `breaker` before every call and record every outcome in it. An
    /// open breaker is not called: its `retry_after` becomes the hint for
    /// the next delay. Pass `&mut breaker`, or a shared handle that
    /// implements [`Gate`] (`&fusebox_std::Breaker` on a
    /// server).
    pub fn breaker<H: Gate>(self, breaker: H) -> Retry<H, B, O> {
        Retry {
            schedule: self.schedule,
            breaker: Some(breaker),
            budget: self.budget,
            timeout: self.timeout,
            deadline: self.deadline,
            observer: self.observer,
        }
    }

    /// Withdraw every retry from `budget` (no budget, no retry), deposit a
    /// success in it, and report the request's and each retry's start and
    /// finish (see [`Budget`]). Pass `&mut budget` ([`RetryBudget`],
    /// [`ConcurrentRetryBudget`]), or a shared handle that implements
    /// [`Budget`] (`&fusebox_std::RetryBudget` on a server, where one
    /// budget serves every request).
    pub fn budget<C: Budget>(self, budget: C) -> Retry<G, C, O> {
        Retry {
            schedule: self.schedule,
            breaker: self.breaker,
            budget: Some(budget),
            timeout: self.timeout,
            deadline: self.deadline,
            observer: self.observer,
        }
    }

    /// Hand every attempt's future to `observer` before it runs, with the
    /// attempt's number, and tell it every delay before sleeping it (see
    /// [`Observe`]): the std adapter opens a tracing span per attempt and
    /// counts the retries there. The default, `()`, does nothing.
    pub fn observe<P: Observe>(self, observer: P) -> Retry<G, B, P> {
        Retry {
            schedule: self.schedule,
            breaker: self.breaker,
            budget: self.budget,
            timeout: self.timeout,
            deadline: self.deadline,
            observer,
        }
    }

    /// Give each attempt at most `timeout`; an attempt that takes longer is
    /// dropped and counts as a retryable failure ([`Last::TimedOut`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Start no attempt, and let none run, past `deadline` from the start
    /// of [`run`](Self::run), as the clock tells.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Run `op` until it succeeds, `classify` calls its error permanent, or
    /// a limit stops the retries. See the [module docs](self) for the steps.
    // Not an `async fn` on purpose: see the comment in the body.
    #[allow(clippy::manual_async_fn)]
    pub fn run<T, E, F, C, D, K>(
        mut self,
        mut delay: D,
        clock: &K,
        mut op: F,
        mut classify: C,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        F: AsyncFnMut(u32) -> Result<T, E>,
        C: FnMut(&E) -> Verdict,
        D: DelayNs,
        K: Clock,
    {
        // An `async move` block rather than an `async fn`: an async fn keeps
        // its arguments twice in its future (rust-lang/rust#62958).
        async move {
            let mut latest = clock.now();
            let end = self.deadline.map(|d| time::add(latest, d));
            let mut attempts: u32 = 0;
            // The budget's request and retry events; dropping it (the run
            // returned, or its future was dropped) reports them finished.
            let mut flight = Flight::begin(self.budget.take(), clock);
            loop {
                let now = time::observe(&mut latest, clock.now());
                let (last, hint, now) = match self.breaker.as_mut().map(|b| b.try_acquire(now)) {
                    Some(Err(rejected)) => (Last::Rejected(rejected), rejected.retry_after, now),
                    acquired => {
                        // The permit, held while the attempt runs: dropped
                        // with the run's future (a cancelled run), it records
                        // `Ignored`, which frees a half-open probe slot at
                        // once rather than at the probe timeout.
                        let mut held = Held {
                            gate: self.breaker.as_mut(),
                            permit: acquired.and_then(Result::ok),
                            clock,
                            latest,
                        };
                        attempts = attempts.saturating_add(1);
                        let limit = match (self.timeout, end) {
                            (Some(t), Some(e)) => Some(min(t, time::elapsed(now, e))),
                            (Some(t), None) => Some(t),
                            (None, Some(e)) => Some(time::elapsed(now, e)),
                            (None, None) => None,
                        };
                        // One await point for the attempt, raced or not, so the
                        // future holds one attempt's state.
                        let result = {
                            let work = pin!(self.observer.attempt(attempts, op(attempts)));
                            let timer = pin!(async {
                                match limit {
                                    Some(limit) => sleep(&mut delay, limit).await,
                                    None => core::future::pending::<()>().await,
                                }
                            });
                            race(work, timer).await
                        };
                        let now = time::observe(&mut latest, clock.now());
                        let (outcome, last, hint) = match result {
                            Some(Ok(value)) => {
                                held.record(Outcome::Success, now);
                                if let Some(budget) = flight.budget.as_mut() {
                                    budget.deposit(now);
                                }
                                return Ok(value);
                            }
                            Some(Err(e)) => match classify(&e) {
                                Verdict::Permanent => {
                                    held.record(Outcome::Ignored, now);
                                    return Err(RetryError {
                                        last: Last::Error(e),
                                        attempts,
                                        stopped: Stopped::Permanent,
                                    });
                                }
                                Verdict::Retry => (Outcome::Failure, Last::Error(e), None),
                                Verdict::RetryAfter(h) => {
                                    (Outcome::Failure, Last::Error(e), Some(h))
                                }
                            },
                            None => (Outcome::Failure, Last::TimedOut, None),
                        };
                        held.record(outcome, now);
                        (last, hint, now)
                    }
                };
                // The retry (if this was one) is over: its attempt ended,
                // or the breaker refused it.
                flight.retry_finished(now);
                let wait = match self.plan(&mut flight, hint, now, end) {
                    Ok(wait) => wait,
                    Err(stopped) => {
                        return Err(RetryError {
                            last,
                            attempts,
                            stopped,
                        });
                    }
                };
                self.observer.sleeping(wait);
                sleep(&mut delay, wait).await;
            }
        }
    }

    /// The delay before the next attempt, or why there is none. The budget
    /// is asked last, so a retry refused for another reason costs nothing.
    fn plan<K: Clock>(
        &mut self,
        flight: &mut Flight<'_, B, K>,
        hint: Option<Duration>,
        now: Instant,
        end: Option<Instant>,
    ) -> Result<Duration, Stopped> {
        let wait = self.schedule.try_next(hint).map_err(Stopped::Schedule)?;
        if let Some(end) = end {
            if time::add(now, wait) >= end {
                return Err(Stopped::Deadline);
            }
        }
        if let Some(budget) = flight.budget.as_mut() {
            if !budget.try_withdraw(now) {
                return Err(Stopped::Budget);
            }
            flight.retry = true;
        }
        Ok(wait)
    }
}

/// An attempt's breaker permit while the attempt runs. [`record`](Self::record)
/// hands it back with the attempt's outcome; dropped still holding it (the
/// run's future was dropped mid-attempt), it records [`Outcome::Ignored`] at
/// the clock's latest instant (the time rule: never before `latest`).
struct Held<'a, G: Gate, K: Clock> {
    gate: Option<&'a mut G>,
    permit: Option<Permit>,
    clock: &'a K,
    latest: Instant,
}

impl<G: Gate, K: Clock> Held<'_, G, K> {
    #[inline]
    fn record(&mut self, outcome: Outcome, now: Instant) {
        if let (Some(g), Some(p)) = (self.gate.as_mut(), self.permit.take()) {
            g.record(p, outcome, now);
        }
    }
}

impl<G: Gate, K: Clock> Drop for Held<'_, G, K> {
    fn drop(&mut self) {
        if self.permit.is_some() {
            let now = time::observe(&mut self.latest, self.clock.now());
            self.record(Outcome::Ignored, now);
        }
    }
}

/// One run's events for its budget: the request, started when the run
/// starts, and the retry in flight, if any. Dropping it reports both
/// finished, so a run whose future is dropped mid-retry leaves no count
/// behind in a [`ConcurrentRetryBudget`].
struct Flight<'k, B: Budget, K: Clock> {
    budget: Option<B>,
    clock: &'k K,
    retry: bool,
}

impl<'k, B: Budget, K: Clock> Flight<'k, B, K> {
    fn begin(mut budget: Option<B>, clock: &'k K) -> Self {
        if let Some(b) = budget.as_mut() {
            b.request_started(clock.now());
        }
        Self {
            budget,
            clock,
            retry: false,
        }
    }

    fn retry_finished(&mut self, now: Instant) {
        if core::mem::take(&mut self.retry) {
            if let Some(b) = self.budget.as_mut() {
                b.retry_finished(now);
            }
        }
    }
}

impl<B: Budget, K: Clock> Drop for Flight<'_, B, K> {
    fn drop(&mut self) {
        if self.budget.is_none() {
            return;
        }
        let now = self.clock.now();
        self.retry_finished(now);
        if let Some(b) = self.budget.as_mut() {
            b.request_finished(now);
        }
    }
}

/// What the runner tells an observer: each attempt, whose future the
/// observer may wrap, and each backoff delay before it sleeps. The std
/// adapter opens a tracing span around each attempt (with its number and
/// the delay slept before it) and counts the retries. Implemented by `()`,
/// which does nothing and costs nothing; nothing is allocated either way.
///
/// An observer wraps the attempt's future rather than receiving a
/// callback, so the wrapper (a span) is in force while the operation runs;
/// the wrapper must poll the operation's future as it is polled.
///
/// ```
/// use core::future::Future;
/// use fusebox::retry::Observe;
/// use fusebox::time::Duration;
///
/// /// Counts the retries (attempts after the first) and the ticks slept.
/// #[derive(Default)]
/// struct Tally { retries: u32, slept: u64 }
///
/// impl Observe for Tally {
///     type Attempt<F: Future> = F;
///     fn attempt<F: Future>(&mut self, attempt: u32, work: F) -> F {
///         if attempt > 1 {
///             self.retries += 1;
///         }
///         work
///     }
///     fn sleeping(&mut self, delay: Duration) {
///         self.slept += delay.as_ticks();
///     }
/// }
/// ```
pub trait Observe {
    /// The attempt's future as the observer hands it back.
    type Attempt<F: Future>: Future<Output = F::Output>;
    /// Attempt number `attempt` (1 for the first call) starts; `work` is
    /// the operation's future for it.
    fn attempt<F: Future>(&mut self, attempt: u32, work: F) -> Self::Attempt<F>;
    /// The runner sleeps `delay` now, before its next try (an attempt, or
    /// a breaker's refusal). Does nothing by default.
    #[inline]
    fn sleeping(&mut self, delay: Duration) {
        let _ = delay;
    }
}

impl Observe for () {
    type Attempt<F: Future> = F;
    #[inline]
    fn attempt<F: Future>(&mut self, _: u32, work: F) -> F {
        work
    }
}

impl<T: Observe + ?Sized> Observe for &mut T {
    type Attempt<F: Future> = T::Attempt<F>;
    #[inline]
    fn attempt<F: Future>(&mut self, attempt: u32, work: F) -> T::Attempt<F> {
        (**self).attempt(attempt, work)
    }
    #[inline]
    fn sleeping(&mut self, delay: Duration) {
        (**self).sleeping(delay);
    }
}

/// What the runner asks of a circuit breaker: implemented by
/// [`CircuitBreaker`], by `&mut` of any gate, by `&SharedCircuitBreaker`
/// (feature `sync`, lock-free), and by shared handles (the std
/// adapter's `Breaker`; on firmware, implement it for your own mutex
/// wrapper, locking only inside each call: the runner never holds it across
/// an await).
pub trait Gate {
    /// As [`CircuitBreaker::try_acquire`].
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected>;
    /// As [`CircuitBreaker::record`] (the transition is the gate's to log).
    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant);
}

impl<P: Policy> Gate for CircuitBreaker<P> {
    #[inline]
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        CircuitBreaker::try_acquire(self, now)
    }
    #[inline]
    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        let _ = CircuitBreaker::record(self, permit, outcome, now);
    }
}

/// The lock-free shared breaker, shared by reference (feature `sync`).
#[cfg(feature = "sync")]
impl<P: crate::breaker::SharedPolicy> Gate for &crate::breaker::SharedCircuitBreaker<P> {
    #[inline]
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        crate::breaker::SharedCircuitBreaker::try_acquire(self, now)
    }
    #[inline]
    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        let _ = crate::breaker::SharedCircuitBreaker::record(self, permit, outcome, now);
    }
}

impl<T: Gate + ?Sized> Gate for &mut T {
    #[inline]
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        (**self).try_acquire(now)
    }
    #[inline]
    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        (**self).record(permit, outcome, now);
    }
}

/// The runner's placeholder for "no breaker": never built.
impl Gate for Infallible {
    fn try_acquire(&mut self, _: Instant) -> Result<Permit, Rejected> {
        match *self {}
    }
    fn record(&mut self, _: Permit, _: Outcome, _: Instant) {
        match *self {}
    }
}

/// What the runner asks of a retry budget, and the events it reports:
/// implemented by [`RetryBudget`] (Finagle's, by successes over time), by
/// [`ConcurrentRetryBudget`] (Envoy's, by concurrency), by `&mut` of any
/// budget, and by shared handles (see [`Gate`]).
///
/// For each run the runner calls, in this order: `request_started` once;
/// for each retry `try_withdraw` (the retry's start, which the budget may
/// refuse) and then `retry_finished` once its attempt has ended (or the
/// breaker refused it); `deposit` on success; `request_finished` once, last,
/// also when the run's future is dropped (a retry in flight is then
/// finished first). A budget ignores the events it does not need:
/// [`RetryBudget`] the starts and finishes, [`ConcurrentRetryBudget`] the
/// deposits. A wrapper must forward every method: none has a default, so
/// that a handle cannot lose events silently.
///
/// | event | [`RetryBudget`] | [`ConcurrentRetryBudget`] |
/// |---|---|---|
/// | `request_started` | nothing | requests + 1 |
/// | `deposit` (a success) | deposits `percent` % of a retry | nothing |
/// | `try_withdraw` (a retry starts) | withdraws one retry, if the balance holds one | retries + 1, if under the limit |
/// | `retry_finished` | nothing | retries - 1 |
/// | `request_finished` | nothing | requests - 1 |
pub trait Budget {
    /// A request (a run, with all its attempts) starts.
    fn request_started(&mut self, now: Instant);
    /// The request succeeded: as [`RetryBudget::deposit`].
    fn deposit(&mut self, now: Instant);
    /// A retry asks to start: `true` if the budget allows it (it is then in
    /// flight until `retry_finished`), as [`RetryBudget::try_withdraw`] and
    /// [`ConcurrentRetryBudget::try_start_retry`].
    fn try_withdraw(&mut self, now: Instant) -> bool;
    /// A retry that `try_withdraw` allowed has ended.
    fn retry_finished(&mut self, now: Instant);
    /// The request has ended, whatever its outcome.
    fn request_finished(&mut self, now: Instant);
}

impl<const S: usize> Budget for RetryBudget<S> {
    #[inline]
    fn request_started(&mut self, _: Instant) {}
    #[inline]
    fn deposit(&mut self, now: Instant) {
        RetryBudget::deposit(self, now);
    }
    #[inline]
    fn try_withdraw(&mut self, now: Instant) -> bool {
        RetryBudget::try_withdraw(self, now)
    }
    #[inline]
    fn retry_finished(&mut self, _: Instant) {}
    #[inline]
    fn request_finished(&mut self, _: Instant) {}
}

impl Budget for ConcurrentRetryBudget {
    #[inline]
    fn request_started(&mut self, _: Instant) {
        ConcurrentRetryBudget::request_started(self);
    }
    #[inline]
    fn deposit(&mut self, _: Instant) {}
    #[inline]
    fn try_withdraw(&mut self, _: Instant) -> bool {
        self.try_start_retry()
    }
    #[inline]
    fn retry_finished(&mut self, _: Instant) {
        ConcurrentRetryBudget::retry_finished(self);
    }
    #[inline]
    fn request_finished(&mut self, _: Instant) {
        ConcurrentRetryBudget::request_finished(self);
    }
}

impl<T: Budget + ?Sized> Budget for &mut T {
    #[inline]
    fn request_started(&mut self, now: Instant) {
        (**self).request_started(now);
    }
    #[inline]
    fn deposit(&mut self, now: Instant) {
        (**self).deposit(now);
    }
    #[inline]
    fn try_withdraw(&mut self, now: Instant) -> bool {
        (**self).try_withdraw(now)
    }
    #[inline]
    fn retry_finished(&mut self, now: Instant) {
        (**self).retry_finished(now);
    }
    #[inline]
    fn request_finished(&mut self, now: Instant) {
        (**self).request_finished(now);
    }
}

/// The runner's placeholder for "no budget": never built.
impl Budget for Infallible {
    fn request_started(&mut self, _: Instant) {
        match *self {}
    }
    fn deposit(&mut self, _: Instant) {
        match *self {}
    }
    fn try_withdraw(&mut self, _: Instant) -> bool {
        match *self {}
    }
    fn retry_finished(&mut self, _: Instant) {
        match *self {}
    }
    fn request_finished(&mut self, _: Instant) {
        match *self {}
    }
}

fn min(a: Duration, b: Duration) -> Duration {
    if a < b { a } else { b }
}

/// Sleep `d` with `delay`: ticks to microseconds, rounding up, in chunks
/// that fit a `u32`. At least one call, even for a zero delay: a retry loop
/// always yields to the executor between attempts. Shared with the resilient
/// I2C wrapper (`crate::i2c`).
pub(crate) fn sleep<D: DelayNs>(delay: &mut D, d: Duration) -> impl Future<Output = ()> {
    let tick_hz = u128::from(Duration::from_secs(1).as_ticks());
    let micros = u128::from(d.as_ticks())
        .saturating_mul(1_000_000)
        .div_ceil(tick_hz.max(1));
    let mut left = u64::try_from(micros).unwrap_or(u64::MAX);
    async move {
        loop {
            let chunk = u32::try_from(left).unwrap_or(u32::MAX);
            delay.delay_us(chunk).await;
            left = left.saturating_sub(u64::from(chunk));
            if left == 0 {
                break;
            }
        }
    }
}

/// Poll `work` and `timer` together; `Some` of the work's output if it
/// finished first (or together), `None` if the timer did. Both are pinned
/// by the caller, so this future is two pointers.
fn race<W: Future, T: Future<Output = ()>>(
    mut work: Pin<&mut W>,
    mut timer: Pin<&mut T>,
) -> impl Future<Output = Option<W::Output>> {
    poll_fn(move |cx| {
        if let Poll::Ready(v) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
}
