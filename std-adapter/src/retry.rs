//! [`retry()`] and [`Retry`]: the core's retry runner over tokio's timer
//! and a clock, in one call (feature `tokio`).

use core::convert::Infallible;
use std::future::Future;

use fusebox::backoff::Backoff;
use fusebox::retry::{self as core_retry, Budget, Gate, RetryError, Verdict};
use fusebox::time::{Clock, Duration};

use crate::telemetry::{Attempts, RetryTelemetry};
use crate::{FastClock, NoRuntime, TokioDelay};

/// Run `op` until it succeeds or `schedule` stops, sleeping the schedule's
/// delays on tokio's timer; every error is retryable. The operation gets
/// the attempt number (1 for the first call).
///
/// [`Retry`] adds a classifier (which errors are permanent, which carry a
/// retry-after hint), a breaker, a budget, a per-attempt timeout and a
/// deadline.
///
/// ```
/// use fusebox::backoff::{Backoff, Config};
/// use fusebox::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let schedule = Backoff::new(Config::constant(Duration::from_millis(10)).max_attempts(5), fusebox_std::os_seed_u64())?;
/// let value = fusebox_std::retry(schedule, async |attempt| {
///     if attempt < 3 { Err("busy") } else { Ok(attempt) }
/// })
/// .await?;
/// assert_eq!(value, 3);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`RetryFailed::GaveUp`] with the core's [`RetryError`] (the last error,
/// the attempts, why it stopped); [`RetryFailed::NoRuntime`] outside a tokio
/// runtime.
pub fn retry<T, E, F>(schedule: Backoff, op: F) -> impl Future<Output = Result<T, RetryFailed<E>>>
where
    F: AsyncFnMut(u32) -> Result<T, E>,
{
    Retry::new(schedule).run(op, |_: &E| Verdict::Retry)
}

/// Why [`retry()`] or [`Retry::run`] returned no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryFailed<E> {
    /// The runner stopped: the last error, the attempts made, and why.
    GaveUp(RetryError<E>),
    /// Called outside a tokio runtime: nothing was attempted.
    NoRuntime,
}

impl<E> RetryFailed<E> {
    /// The runner's error, if it ran.
    pub fn gave_up(self) -> Option<RetryError<E>> {
        match self {
            Self::GaveUp(e) => Some(e),
            Self::NoRuntime => None,
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for RetryFailed<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GaveUp(e) => e.fmt(f),
            Self::NoRuntime => NoRuntime.fmt(f),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for RetryFailed<E> {}

/// An error that may carry a retry-after hint (an HTTP `Retry-After`, a
/// refusal's `retry_after`): [`Retry::run_hinted`] turns it into
/// [`Verdict::RetryAfter`]. Implemented by fusebox-std's own errors; for a
/// client's error type (which this crate cannot implement it for), pass a
/// classifier to [`Retry::run`].
pub trait RetryAfterHint {
    /// How long the dependency asked to be left alone, if it said.
    fn retry_after_hint(&self) -> Option<Duration>;
}

impl<E> RetryAfterHint for crate::CallError<E> {
    fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after()
    }
}

impl RetryAfterHint for crate::WaitError {
    fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after()
    }
}

impl RetryAfterHint for fusebox::rate::Rejected {
    fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl RetryAfterHint for fusebox::breaker::Rejected {
    fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// The core runner with tokio's timer and a clock (default [`FastClock`]:
/// timeouts and deadlines are durations), plus a breaker, a budget, a
/// per-attempt timeout and a deadline. Built by value, run once.
///
/// The breaker and the budget are fusebox-std handles (`&Breaker`,
/// `&RetryBudget`, `&RateLimiter`) or anything that implements the core's
/// [`Gate`] / [`Budget`]. Handles read their own clocks, so the runner's
/// clock only times the attempts and the deadline. The breaker's
/// transitions go to its hook: none is lost.
///
/// ```
/// use fusebox::backoff::{Backoff, Config};
/// use fusebox::breaker::{self, ConsecutiveFailures};
/// use fusebox::retry::{Last, Stopped, Verdict};
/// use fusebox::time::Duration;
/// use fusebox_std::{Breaker, Retry, RetryBudget, RetryFailed, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = Breaker::builder("upstream")?.clock(TokioClock).build(breaker::Config::new(), ConsecutiveFailures::new(3)?)?;
/// let budget = fusebox::rate::RetryBudget::builder()
///     .percent_can_retry(20)
///     .min_retries_per_sec(1)
///     .ttl(Duration::from_secs(10))
///     .build()?;
/// let budget = RetryBudget::<10, _>::with_clock("upstream", budget, TokioClock)?;
/// let schedule = Backoff::new(Config::constant(Duration::from_millis(10)).max_attempts(10), 1)?;
/// let r = Retry::new(schedule)
///     .clock(TokioClock)
///     .breaker(&breaker)
///     .budget(&budget)
///     .timeout(Duration::from_millis(100))
///     .deadline(Duration::from_secs(1))
///     .run(async |_| Err::<(), _>(503), |_| Verdict::Retry)
///     .await;
/// let Err(RetryFailed::GaveUp(e)) = r else { panic!("it fails") };
/// // Three failures opened the breaker; its 30 s refusal ran past the deadline.
/// assert_eq!((e.attempts, e.stopped), (3, Stopped::Deadline));
/// assert!(matches!(e.last, Last::Rejected(_)));
/// # Ok(())
/// # }
/// ```
pub struct Retry<G = Infallible, B = Infallible, K = FastClock> {
    runner: core_retry::Retry<G, B>,
    clock: K,
    telemetry: Option<RetryTelemetry>,
}

impl<G, B, K: std::fmt::Debug> std::fmt::Debug for Retry<G, B, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Retry {
    /// A runner over `schedule`, on [`FastClock`], with no breaker, budget,
    /// timeout or deadline.
    pub fn new(schedule: Backoff) -> Self {
        Self {
            runner: core_retry::Retry::new(schedule),
            clock: FastClock::new(),
            telemetry: None,
        }
    }
}

impl<G: Gate, B: Budget, K: Clock> Retry<G, B, K> {
    /// Time the attempts and the deadline with `clock`
    /// ([`TokioClock`](crate::TokioClock) under paused tokio time).
    pub fn clock<L: Clock>(self, clock: L) -> Retry<G, B, L> {
        Retry {
            runner: self.runner,
            clock,
            telemetry: self.telemetry,
        }
    }

    /// Ask `breaker` before every call and record every outcome in it (an
    /// open breaker is not called; its `retry_after` becomes the next
    /// delay's hint).
    pub fn breaker<H: Gate>(self, breaker: H) -> Retry<H, B, K> {
        Retry {
            runner: self.runner.breaker(breaker),
            clock: self.clock,
            telemetry: self.telemetry,
        }
    }

    /// Withdraw every retry from `budget` (no budget, no retry), deposit
    /// every success.
    pub fn budget<C: Budget>(self, budget: C) -> Retry<G, C, K> {
        Retry {
            runner: self.runner.budget(budget),
            clock: self.clock,
            telemetry: self.telemetry,
        }
    }

    /// Give each attempt at most `timeout`; a longer one is dropped and
    /// counts as a retryable failure.
    pub fn timeout(self, timeout: Duration) -> Self {
        Self {
            runner: self.runner.timeout(timeout),
            clock: self.clock,
            telemetry: self.telemetry,
        }
    }

    /// Start no attempt, and let none run, past `deadline` from the start.
    pub fn deadline(self, deadline: Duration) -> Self {
        Self {
            runner: self.runner.deadline(deadline),
            clock: self.clock,
            telemetry: self.telemetry,
        }
    }

    /// Name the runs after `telemetry` (spans `retry` and `attempt`) and
    /// count their attempts and retries in its series (see
    /// [`RetryTelemetry`]). Cloning it does not allocate.
    pub fn telemetry(self, telemetry: &RetryTelemetry) -> Self {
        Self {
            telemetry: Some(telemetry.clone()),
            ..self
        }
    }

    /// Run `op` until it succeeds, `classify` calls its error permanent
    /// ([`Verdict::Permanent`]), or a limit stops it; a
    /// [`Verdict::RetryAfter`] hint raises the next delay to at least the
    /// hint (up to the schedule's `max_hint`).
    ///
    /// Sleeps on tokio's timer: needs a runtime with its timer enabled (a
    /// runtime built without `enable_time()` cannot be detected through
    /// tokio's public API; tokio then panics with "timers are disabled").
    ///
    /// # Errors
    /// [`RetryFailed::GaveUp`] when the runner stops without a value;
    /// [`RetryFailed::NoRuntime`] outside a tokio runtime.
    pub async fn run<T, E, F, C>(self, op: F, classify: C) -> Result<T, RetryFailed<E>>
    where
        F: AsyncFnMut(u32) -> Result<T, E>,
        C: FnMut(&E) -> Verdict,
    {
        if crate::name::check_runtime().is_err() {
            return Err(RetryFailed::NoRuntime);
        }
        let span = self.telemetry.clone();
        let runner = self.runner.observe(Attempts {
            telemetry: self.telemetry,
            slept: fusebox::time::Duration::from_ticks(0),
        });
        crate::telemetry::in_retry_span(
            span.as_ref(),
            runner.run(TokioDelay, &self.clock, op, classify),
        )
        .await
        .map_err(RetryFailed::GaveUp)
    }

    /// [`run`](Self::run) with every error retryable, after at least the
    /// hint it carries ([`RetryAfterHint`]).
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn run_hinted<T, E, F>(self, op: F) -> Result<T, RetryFailed<E>>
    where
        F: AsyncFnMut(u32) -> Result<T, E>,
        E: RetryAfterHint,
    {
        self.run(op, |e: &E| match e.retry_after_hint() {
            Some(h) => Verdict::RetryAfter(h),
            None => Verdict::Retry,
        })
        .await
    }
}
