//! [`Breaker`]: a shared circuit breaker with `call(future)` and an RAII
//! guard.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use fusebox::breaker::{
    CircuitBreaker, Config, ConsecutiveFailures, Metrics, Outcome, Permit, Policy, Rejected,
    SharedBreaker, State, Transition,
};
use fusebox::time::{Clock, Duration, Instant};

use super::lane::Lanes;
use super::{Hooks, lock};
use crate::telemetry::BreakerTelemetry;
use crate::{BuildError, FastClock, Name};

/// The seam between the handle and the core: the core's lock-free
/// [`SharedCircuitBreaker`](fusebox::breaker::SharedCircuitBreaker) (the
/// policy's [`Policy::Shared`]) where the policy and the config allow one
/// (every policy of the core); otherwise (a config beyond the shared
/// breaker's limits) the `&mut` [`CircuitBreaker`]
/// behind a mutex held for one sans-IO call. Both return
/// every transition, so the handle hands each to its hook either way.
enum Cell<P: Policy> {
    /// With this breaker's per-thread success lanes (see `handle::lane`).
    LockFree(P::Shared, Lanes),
    Locked(Mutex<CircuitBreaker<P>>),
}

impl<P: Policy> Cell<P> {
    /// The lock-free breaker if the core makes one for `policy` and
    /// `config`, else the `&mut` one under a lock.
    fn new(config: Config, policy: P) -> Result<Self, fusebox::ConfigError> {
        match P::Shared::share(config, &policy) {
            Ok(b) => Ok(Self::LockFree(b, Lanes::new())),
            Err(_) => Ok(Self::Locked(Mutex::new(CircuitBreaker::new(
                config, policy,
            )?))),
        }
    }
    /// Reads `now` only where the lock-free breaker's decision needs the
    /// time, unless `timed` (the permit then carries the call's start);
    /// the locked breaker always reads it.
    #[inline(always)]
    fn try_acquire(&self, now: impl FnOnce() -> Instant, timed: bool) -> Result<Permit, Rejected> {
        match self {
            Self::LockFree(b, _) if timed => b.try_acquire(now()),
            Self::LockFree(b, _) => b.try_acquire_with(now),
            Self::Locked(m) => Self::locked_acquire(m, now()),
        }
    }
    /// The locked breaker's `try_acquire` (kept out of the lock-free
    /// path, which it would otherwise weigh down with its spills).
    #[inline(never)]
    fn locked_acquire(m: &Mutex<CircuitBreaker<P>>, now: Instant) -> Result<Permit, Rejected> {
        lock(m).try_acquire(now)
    }
    /// The locked breaker's `record` (see `locked_acquire`).
    #[inline(never)]
    fn locked_record(
        m: &Mutex<CircuitBreaker<P>>,
        permit: Permit,
        outcome: Outcome,
        now: Instant,
    ) -> Option<Transition> {
        lock(m).record(permit, outcome, now)
    }
    /// As `try_acquire`.
    #[inline(always)]
    fn record(
        &self,
        permit: Permit,
        outcome: Outcome,
        now: impl FnOnce() -> Instant,
    ) -> Option<Transition> {
        match self {
            Self::LockFree(b, lanes) => match lanes.mine() {
                Some(lane) => b.record_with_lane(lane, permit, outcome, now),
                None => b.record_with(permit, outcome, now),
            },
            Self::Locked(m) => Self::locked_record(m, permit, outcome, now()),
        }
    }
    fn state(&self, now: Instant) -> State {
        match self {
            Self::LockFree(b, _) => b.state(now),
            Self::Locked(m) => lock(m).state(now),
        }
    }
    fn retry_after(&self, now: Instant) -> Option<Duration> {
        match self {
            Self::LockFree(b, _) => b.retry_after(now),
            Self::Locked(m) => lock(m).retry_after(now),
        }
    }
    fn probes_in_flight(&self, now: Instant) -> u32 {
        match self {
            Self::LockFree(b, _) => b.probes_in_flight(now),
            Self::Locked(m) => lock(m).probes_in_flight(now),
        }
    }
    fn metrics(&self) -> Metrics {
        match self {
            Self::LockFree(b, lanes) => lanes.add_to(b.metrics()),
            Self::Locked(m) => lock(m).metrics(),
        }
    }
    fn config(&self) -> Config {
        match self {
            Self::LockFree(b, _) => *b.config(),
            Self::Locked(m) => *lock(m).config(),
        }
    }
    fn isolate(&self) -> Option<Transition> {
        match self {
            Self::LockFree(b, _) => b.isolate(),
            Self::Locked(m) => lock(m).isolate(),
        }
    }
    fn force_closed(&self) -> Option<Transition> {
        match self {
            Self::LockFree(b, _) => b.force_closed(),
            Self::Locked(m) => lock(m).force_closed(),
        }
    }
    fn reset(&self) -> Option<Transition> {
        match self {
            Self::LockFree(b, _) => b.reset(),
            Self::Locked(m) => lock(m).reset(),
        }
    }
}

impl<P: Policy + std::fmt::Debug> std::fmt::Debug for Cell<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LockFree(b, _) => f.debug_tuple("LockFree").field(b).finish(),
            Self::Locked(m) => f.debug_tuple("Locked").field(m).finish(),
        }
    }
}

struct Inner<P: Policy, C> {
    name: Name,
    clock: C,
    hooks: Hooks,
    telemetry: BreakerTelemetry,
    /// Every call is timed: read the clock when it starts and when it
    /// ends (slow-call detection on, or the duration histogram of feature
    /// `metrics`). Otherwise the clock is read only where the breaker's
    /// decision needs the time (see [`Breaker`]'s clock section).
    timed: bool,
    cell: Cell<P>,
}

/// The breaker's clock for one operation, read at most once, on first
/// use.
struct Now<'a, C> {
    clock: &'a C,
    at: Option<Instant>,
}

impl<'a, C: Clock> Now<'a, C> {
    #[inline(always)]
    const fn lazy(clock: &'a C) -> Self {
        Self { clock, at: None }
    }
    #[inline(always)]
    fn get(&mut self) -> Instant {
        let clock = self.clock;
        *self.at.get_or_insert_with(|| clock.now())
    }
}

/// A circuit breaker shared by every clone (`Clone + Send + Sync`), over
/// failure policy `P` and clock `C` (default [`FastClock`]: the breaker
/// times its calls for slow-call detection, a duration).
///
/// # When it reads its clock
/// A call is *timed* (the clock read when it is admitted and when its
/// outcome is recorded) when slow-call detection is on
/// ([`Config::slow_calls`]), or with feature `metrics` for the
/// `fusebox_breaker_call_duration_seconds` histogram (unless
/// [`BreakerBuilder::call_durations`] turns it off). Otherwise the clock
/// is read only where the breaker's decision needs the time: admission
/// while Open or HalfOpen (the open duration, probes and their timeout),
/// an outcome that trips the breaker (the instant it opens), every
/// success or failure of a [`TimeWindow`](fusebox::breaker::TimeWindow), a
/// [`FailureCount`](fusebox::breaker::FailureCount) or a counting
/// interval (their buckets), every outcome recorded while HalfOpen, and
/// a transition handed to the hook. A healthy closed
/// [`ConsecutiveFailures`] or [`CountWindow`](fusebox::breaker::CountWindow)
/// breaker then reads no clock at all (as recloser's closed path), and
/// every decision is the one the core breaker makes with the instants
/// read (see
/// [`SharedCircuitBreaker::try_acquire_with`](fusebox::breaker::SharedCircuitBreaker::try_acquire_with)).
/// A breaker on the locked path (a config past the lock-free breaker's
/// limits) reads the clock at both ends of every call.
///
/// # Counting
/// On the lock-free path, a success that changes nothing in the breaker
/// (a full [`CountWindow`](fusebox::breaker::CountWindow) with no failure,
/// slow-call detection off) is counted in the recording thread's own
/// [`Lane`](fusebox::breaker::Lane), with no locked instruction and no
/// shared write: each breaker holds 32 lanes (4 KiB on the heap, one per
/// thread index; a thread gives its index back when it exits), and
/// threads past them count in the core breaker's striped metrics.
/// [`metrics`](Self::metrics) adds the lanes.
///
/// Three ways to use it:
/// - [`call`](Self::call) / [`call_with`](Self::call_with): run a future
///   under the breaker, classify its result, record it;
/// - [`try_acquire`](Self::try_acquire): a [`Guard`] for code that must
///   hold the permit itself; a guard dropped without an outcome (a
///   cancelled future) records [`Outcome::Ignored`], which frees a
///   half-open probe slot at once;
/// - as the [`fusebox::retry::Gate`] of the retry runner (`&breaker`).
///
/// Every transition is returned by the method that made it where that
/// method returns anything, and always handed to the
/// [`Hooks::on_transition`] hook.
///
/// ```
/// use fusebox::breaker::{Config, ConsecutiveFailures, State};
/// use fusebox_std::{Breaker, CallError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = Breaker::new("inventory", Config::new(), ConsecutiveFailures::new(2)?)?;
/// for _ in 0..2 {
///     let r = breaker.call(async { Err::<(), _>("503") }).await;
///     assert!(matches!(r, Err(CallError::Inner("503"))));
/// }
/// // Open: the next call is refused without running.
/// let r = breaker.call(async { Ok::<_, &str>(1) }).await;
/// assert!(matches!(r, Err(CallError::Rejected(_))));
/// assert_eq!(breaker.state(), State::Open);
/// # Ok(())
/// # }
/// ```
pub struct Breaker<P: Policy = ConsecutiveFailures, C: Clock = FastClock> {
    inner: Arc<Inner<P, C>>,
}

impl<P: Policy, C: Clock> Clone for Breaker<P, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: Policy + std::fmt::Debug, C: Clock + std::fmt::Debug> std::fmt::Debug for Breaker<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.inner.name)
            .field("clock", &self.inner.clock)
            .field("breaker", &self.inner.cell)
            .finish()
    }
}

/// Builds a [`Breaker`] with a clock and hooks other than the defaults.
#[derive(Debug)]
pub struct BreakerBuilder<C> {
    name: Name,
    clock: C,
    hooks: Hooks,
    call_durations: bool,
}

impl<C: Clock> BreakerBuilder<C> {
    /// Read time from `clock` (a clone of a
    /// [`ManualClock`](crate::ManualClock) in tests,
    /// [`TokioClock`](crate::TokioClock) under paused tokio time).
    pub fn clock<D: Clock>(self, clock: D) -> BreakerBuilder<D> {
        BreakerBuilder {
            name: self.name,
            clock,
            hooks: self.hooks,
            call_durations: self.call_durations,
        }
    }

    /// With feature `metrics`, whether to time every call for the
    /// `fusebox_breaker_call_duration_seconds` histogram (default: yes).
    /// Timing a call reads the clock when it is admitted and when it ends
    /// (two reads of [`FastClock`], about 10 to 15 ns each on x86_64,
    /// more than the rest of a healthy call); off, the histogram is not
    /// recorded and a healthy breaker reads no clock (see [`Breaker`]'s
    /// clock section). Slow-call detection times every call either way.
    /// Without feature `metrics` there is no histogram and this does
    /// nothing.
    pub fn call_durations(mut self, on: bool) -> Self {
        self.call_durations = on;
        self
    }

    /// Call these hooks (every transition goes to
    /// [`Hooks::on_transition`]).
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// The breaker, closed.
    ///
    /// # Errors
    /// [`BuildError::Config`] if a field of `config` is out of range.
    pub fn build<P: Policy>(self, config: Config, policy: P) -> Result<Breaker<P, C>, BuildError> {
        let cell = Cell::new(config, policy)?;
        let telemetry =
            BreakerTelemetry::new(&self.name, config.slow_call_duration(), self.call_durations);
        let slow_calls = config.slow_call_duration().is_some();
        let timed = slow_calls || telemetry.times_calls() || matches!(cell, Cell::Locked(_));
        Ok(Breaker {
            inner: Arc::new(Inner {
                name: self.name,
                clock: self.clock,
                hooks: self.hooks,
                telemetry,
                timed,
                cell,
            }),
        })
    }
}

impl Breaker {
    /// A builder for a breaker named `name`, on [`FastClock`], with no
    /// hooks.
    ///
    /// # Errors
    /// [`BuildError::Name`] if `name` is not 1 to 64 bytes of
    /// `[a-zA-Z0-9_.-]`.
    pub fn builder(name: &str) -> Result<BreakerBuilder<FastClock>, BuildError> {
        Ok(BreakerBuilder {
            name: Name::new(name)?,
            clock: FastClock::new(),
            hooks: Hooks::new(),
            call_durations: true,
        })
    }
}

impl<P: Policy> Breaker<P> {
    /// A closed breaker named `name` on [`FastClock`], with no hooks.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name, [`BuildError::Config`] if a
    /// field of `config` is out of range.
    pub fn new(name: &str, config: Config, policy: P) -> Result<Self, BuildError> {
        Breaker::builder(name)?.build(config, policy)
    }
}

/// Why [`Breaker::call`] returned no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker refused the call; the future was not polled.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> CallError<E> {
    /// How long until the breaker admits calls again, where it knows (a
    /// refusal's `retry_after`; `None` for the inner error).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected(r) => r.retry_after,
            Self::Inner(_) => None,
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(r) => r.fmt(f),
            Self::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(r) => Some(r),
            Self::Inner(e) => Some(e),
        }
    }
}

impl<P: Policy, C: Clock> Breaker<P, C> {
    /// The breaker's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// The breaker's clock.
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    /// Now, on the breaker's clock.
    #[inline]
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// Ask to make a call now. The guard records the call's outcome
    /// ([`Guard::success`], [`Guard::failure`], [`Guard::record`]), or
    /// `Ignored` when dropped without one.
    ///
    /// # Errors
    /// [`Rejected`] while open, or half-open with every probe slot taken;
    /// its `retry_after` says for how long where the breaker knows.
    #[inline]
    pub fn try_acquire(&self) -> Result<Guard<'_, P, C>, Rejected> {
        let permit = self.acquire()?;
        Ok(Guard {
            breaker: self,
            permit: Some(permit),
        })
    }

    /// Run `call` under the breaker: refused at once while open; otherwise
    /// awaited, and its result recorded (`Ok` a success, `Err` a failure,
    /// a slow call judged by the breaker's [`Config::slow_calls`]). A
    /// future dropped before it completes records `Ignored` (it says
    /// nothing of the dependency) and frees its probe slot at once.
    ///
    /// Needs no runtime and no timer: put a timeout inside `call` (as
    /// `tokio::time::timeout`) to count a hung call as a failure.
    ///
    /// # Errors
    /// [`CallError::Rejected`] if the breaker refused; [`CallError::Inner`]
    /// with the call's own error.
    pub fn call<T, E, F>(&self, call: F) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_with(call, |r: &Result<T, E>| match r {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
    }

    /// [`call`](Self::call), with `classify` saying what each result means
    /// for the dependency's health: an HTTP 503 in an `Ok` response can be
    /// a [`Outcome::Failure`], a 404 in an `Err` an [`Outcome::Ignored`].
    ///
    /// ```
    /// use fusebox::breaker::{Config, ConsecutiveFailures, Outcome};
    /// use fusebox_std::Breaker;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let breaker = Breaker::new("api", Config::new(), ConsecutiveFailures::new(1)?)?;
    /// let status = breaker
    ///     .call_with(async { Ok::<u16, std::io::Error>(404) }, |r| match r {
    ///         Ok(s) if *s >= 500 => Outcome::Failure,
    ///         Ok(s) if *s >= 400 => Outcome::Ignored, // the caller's fault
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     })
    ///     .await?;
    /// assert_eq!(status, 404);
    /// assert_eq!(breaker.metrics().ignored, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn call_with<T, E, F, K>(&self, call: F, classify: K) -> CallFuture<'_, P, C, F, K>
    where
        F: Future<Output = Result<T, E>>,
        K: FnOnce(&Result<T, E>) -> Outcome,
    {
        CallFuture {
            breaker: self,
            permit: None,
            classify: Some(classify),
            call: crate::telemetry::in_call_span(&self.inner.name, call),
        }
    }

    /// The state as the next call will see it (an Open breaker whose open
    /// duration has passed reports HalfOpen).
    pub fn state(&self) -> State {
        self.inner.cell.state(self.now())
    }

    /// How long until the breaker admits a call again (`None`: it admits
    /// now, or is held open by [`isolate`](Self::isolate)).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.cell.retry_after(self.now())
    }

    /// Half-open probe permits held now: admitted in this half-open round
    /// and not yet recorded (a [`Guard`] dropped without an outcome records
    /// `Ignored` and gives its slot back); 0 outside HalfOpen and once the
    /// probe timeout has written them off. 0 whenever no call is in
    /// flight: a leak check (the soak test reads it).
    ///
    /// ```
    /// use fusebox::breaker::{Config, ConsecutiveFailures, State};
    /// use fusebox::time::{Duration, Instant};
    /// use fusebox_std::{Breaker, ManualClock};
    ///
    /// let clock = ManualClock::new(Instant::from_ticks(0));
    /// let breaker = Breaker::builder("db")?
    ///     .clock(clock.clone())
    ///     .build(Config::new().open_duration(Duration::from_secs(1)), ConsecutiveFailures::new(1)?)?;
    /// breaker.try_acquire()?.failure(); // trips
    /// clock.advance(Duration::from_secs(1));
    /// let probe = breaker.try_acquire()?;
    /// assert_eq!((breaker.state(), breaker.probes_in_flight()), (State::HalfOpen, 1));
    /// drop(probe); // cancelled: recorded Ignored, its slot given back
    /// assert_eq!(breaker.probes_in_flight(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn probes_in_flight(&self) -> u32 {
        self.inner.cell.probes_in_flight(self.now())
    }

    /// The counters (each wraps at `u32::MAX`). On the lock-free path
    /// (every policy, within the shared breaker's limits) `admitted` counts the permits
    /// recorded, so a guard still held is not in it yet (see
    /// [`SharedCircuitBreaker::metrics`](fusebox::breaker::SharedCircuitBreaker::metrics)).
    pub fn metrics(&self) -> Metrics {
        self.inner.cell.metrics()
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.inner.cell.config()
    }

    /// Hold the breaker open until [`reset`](Self::reset); returns the
    /// transition (also given to the hook).
    pub fn isolate(&self) -> Option<Transition> {
        let t = self.inner.cell.isolate();
        self.changed(t)
    }

    /// Hold the breaker closed until [`reset`](Self::reset); returns the
    /// transition (also given to the hook).
    pub fn force_closed(&self) -> Option<Transition> {
        let t = self.inner.cell.force_closed();
        self.changed(t)
    }

    /// Back to Closed with an empty window; returns the transition (also
    /// given to the hook).
    pub fn reset(&self) -> Option<Transition> {
        let t = self.inner.cell.reset();
        self.changed(t)
    }

    #[inline]
    fn record(&self, permit: Permit, outcome: Outcome) -> Option<Transition> {
        let inner = &*self.inner;
        let mut now = Now::lazy(&inner.clock);
        // Time going backwards: a call of no time.
        let took = inner.timed.then(|| {
            now.get()
                .checked_duration_since(permit.acquired_at())
                .unwrap_or(Duration::from_ticks(0))
        });
        let t = inner.cell.record(permit, outcome, || now.get());
        inner.telemetry.recorded(outcome, took);
        self.transitioned(t, &mut now)
    }

    /// Take a permit, reporting the refusal, or the admission and the
    /// transition it made.
    #[inline(always)]
    fn acquire(&self) -> Result<Permit, Rejected> {
        let inner = &*self.inner;
        let mut now = Now::lazy(&inner.clock);
        match inner.cell.try_acquire(|| now.get(), inner.timed) {
            Ok(permit) => {
                inner.telemetry.admitted();
                self.transitioned(permit.transition(), &mut now);
                Ok(permit)
            }
            Err(r) => Err(self.refused(r)),
        }
    }

    /// Report refusal `r`.
    #[cold]
    #[inline(never)]
    fn refused(&self, r: Rejected) -> Rejected {
        self.inner.telemetry.rejected(&self.inner.name, &r);
        r
    }

    /// [`acquire`](Self::acquire) returning the permit in registers (an
    /// `Option<Permit>` is 16 bytes; a `Result<Permit, Rejected>` goes
    /// through memory, and reading it back stalled store forwarding: about
    /// a third of a healthy call's samples in `perf`); a refusal goes to
    /// `refused`.
    #[inline]
    fn admit(&self, refused: &mut Option<Rejected>) -> Option<Permit> {
        match self.acquire() {
            Ok(p) => Some(p),
            Err(r) => {
                *refused = Some(r);
                None
            }
        }
    }

    /// Hand transition `t` (if any) to telemetry and to the hook, at the
    /// instant the operation read (read now if it read none).
    #[inline(always)]
    fn transitioned(&self, t: Option<Transition>, now: &mut Now<'_, C>) -> Option<Transition> {
        match t {
            None => None,
            Some(t) => self.hand_over(t, now),
        }
    }

    /// `transitioned` for a transition made (rare: kept out of the call
    /// path).
    #[cold]
    #[inline(never)]
    fn hand_over(&self, t: Transition, now: &mut Now<'_, C>) -> Option<Transition> {
        let inner = &self.inner;
        let now = now.get();
        inner.telemetry.transition(&inner.name, t, || {
            (inner.cell.metrics(), inner.cell.retry_after(now))
        });
        inner.hooks.transition(&inner.name, Some(t), now)
    }

    /// `transitioned` for a manual change.
    fn changed(&self, t: Option<Transition>) -> Option<Transition> {
        self.transitioned(t, &mut Now::lazy(&self.inner.clock))
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Breaker::call_with`]; [`Breaker::call`] returns an
    /// opaque `impl Future` built on it. It asks the breaker for a permit
    /// when first polled (refused: it resolves to [`CallError::Rejected`]
    /// without polling the call), then polls the call and records its
    /// classified result. Dropped after the permit was taken and before
    /// the call finished (cancelled), it records [`Outcome::Ignored`],
    /// which frees a half-open probe slot at once.
    ///
    /// It is `Send` when the call `F` and the classifier `K` are (the
    /// breaker is `Sync`), so it can go to `tokio::spawn`. `F` (an `async`
    /// block) and `K` (a closure) usually have no name: to keep one in a
    /// struct field, box the call and pass a `fn` classifier, as below, or
    /// keep the field generic.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use fusebox::breaker::{Config, ConsecutiveFailures, Outcome};
    /// use fusebox_std::{Breaker, CallFuture, FastClock};
    ///
    /// type Call = Pin<Box<dyn Future<Output = Result<u16, std::io::Error>> + Send>>;
    /// type Classify = fn(&Result<u16, std::io::Error>) -> Outcome;
    ///
    /// fn get(status: u16) -> Call {
    ///     Box::pin(async move { Ok(status) }) // a real client's request here
    /// }
    ///
    /// fn by_status(r: &Result<u16, std::io::Error>) -> Outcome {
    ///     match r {
    ///         Ok(s) if *s >= 500 => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     }
    /// }
    ///
    /// struct Pending<'a> {
    ///     call: CallFuture<'a, ConsecutiveFailures, FastClock, Call, Classify>,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let breaker = Breaker::new("api", Config::new(), ConsecutiveFailures::new(3)?)?;
    /// let pending = Pending {
    ///     call: breaker.call_with(get(503), by_status as Classify),
    /// };
    /// assert!(pending.call.await.is_ok()); // the response, recorded as a failure
    /// assert_eq!(breaker.metrics().failures, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<'a, P: Policy, C: Clock, F, K> {
        breaker: &'a Breaker<P, C>,
        permit: Option<Permit>,
        // `None` once the call has finished (or was refused).
        classify: Option<K>,
        #[pin]
        call: crate::telemetry::InCallSpan<F>,
    }

    impl<P: Policy, C: Clock, F, K> PinnedDrop for CallFuture<'_, P, C, F, K> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(permit) = this.permit.take() {
                let _transition_went_to_the_hook = this.breaker.record(permit, Outcome::Ignored);
            }
        }
    }
}

impl<P: Policy, C: Clock, F, K> std::fmt::Debug for CallFuture<'_, P, C, F, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture")
            .field("breaker", &self.breaker.inner.name)
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}

impl<P, C, F, K, T, E> Future for CallFuture<'_, P, C, F, K>
where
    P: Policy,
    C: Clock,
    F: Future<Output = Result<T, E>>,
    K: FnOnce(&Result<T, E>) -> Outcome,
{
    type Output = Result<T, CallError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.permit.is_none() {
            if this.classify.is_none() {
                // Polled after completion: as an async fn would, refuse
                // to run the call twice.
                panic!("CallFuture polled after completion");
            }
            let mut refused = None;
            *this.permit = this.breaker.admit(&mut refused);
            if let Some(r) = refused {
                *this.classify = None;
                return Poll::Ready(Err(CallError::Rejected(r)));
            }
        }
        let result = ready!(this.call.poll(cx));
        if let (Some(permit), Some(classify)) = (this.permit.take(), this.classify.take()) {
            this.breaker.record(permit, classify(&result));
        }
        Poll::Ready(result.map_err(CallError::Inner))
    }
}

/// One admitted call of a [`Breaker`]. Record its outcome with
/// [`success`](Self::success), [`failure`](Self::failure) or
/// [`record`](Self::record); dropped without one (the future that held it
/// was cancelled), it records [`Outcome::Ignored`], which frees a half-open
/// probe slot at once instead of after the probe timeout.
///
/// ```
/// use fusebox::breaker::{Config, ConsecutiveFailures, State};
/// use fusebox_std::Breaker;
///
/// let breaker = Breaker::new("db", Config::new().half_open_probes(1), ConsecutiveFailures::new(1)?)?;
/// breaker.isolate();
/// breaker.reset();
/// let guard = breaker.try_acquire()?;
/// drop(guard); // cancelled: Ignored
/// assert_eq!(breaker.metrics().ignored, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "record the call's outcome; a dropped guard records Ignored"]
pub struct Guard<'a, P: Policy = ConsecutiveFailures, C: Clock = FastClock> {
    breaker: &'a Breaker<P, C>,
    permit: Option<Permit>,
}

impl<P: Policy, C: Clock> std::fmt::Debug for Guard<'_, P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("breaker", &self.breaker.inner.name)
            .field("permit", &self.permit)
            .finish()
    }
}

impl<P: Policy, C: Clock> Guard<'_, P, C> {
    /// The transition acquiring this guard made (Open to HalfOpen for the
    /// first probe); it went to the hook already.
    pub fn transition(&self) -> Option<Transition> {
        self.permit.as_ref().and_then(Permit::transition)
    }

    /// When the call was admitted, on the breaker's clock, where the
    /// breaker read its clock to admit it (a timed call, a probe: see
    /// [`Breaker`]'s clock section); otherwise the latest instant the
    /// breaker's state records (when it closed), a lower bound.
    pub fn acquired_at(&self) -> Option<Instant> {
        self.permit.as_ref().map(Permit::acquired_at)
    }

    /// Record `outcome`; returns the transition it made (also given to the
    /// hook).
    pub fn record(mut self, outcome: Outcome) -> Option<Transition> {
        let permit = self.permit.take()?;
        self.breaker.record(permit, outcome)
    }

    /// Record a success (a slow one counts as the breaker's config says).
    pub fn success(self) -> Option<Transition> {
        self.record(Outcome::Success)
    }

    /// Record a failure.
    pub fn failure(self) -> Option<Transition> {
        self.record(Outcome::Failure)
    }

    /// Record that the call says nothing of the dependency's health.
    pub fn ignore(self) -> Option<Transition> {
        self.record(Outcome::Ignored)
    }
}

impl<P: Policy, C: Clock> Drop for Guard<'_, P, C> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let _transition_went_to_the_hook = self.breaker.record(permit, Outcome::Ignored);
        }
    }
}

/// The retry runner's breaker: reads the breaker's own clock (the `now` the
/// runner passes is ignored, so the two clocks cannot disagree) and hands
/// every transition to the hook.
#[cfg(feature = "tokio")]
impl<P: Policy, C: Clock> fusebox::retry::Gate for &Breaker<P, C> {
    #[inline]
    fn try_acquire(&mut self, _now: Instant) -> Result<Permit, Rejected> {
        self.acquire()
    }

    #[inline]
    fn record(&mut self, permit: Permit, outcome: Outcome, _now: Instant) {
        let _transition_went_to_the_hook = Breaker::record(self, permit, outcome);
    }
}
