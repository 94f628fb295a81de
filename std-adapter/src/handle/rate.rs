//! [`RateLimiter`]: a shared token bucket (GCRA), lock-free, with
//! `until_ready().await`.

use std::sync::Arc;

use fusebox::rate::{ExceedsBurst, Quota, Rejected, SharedTokenBucket};
use fusebox::time::{Clock, Duration, Instant};

use crate::telemetry::{Kind, LimitTelemetry};
use crate::{BuildError, CoarseClock, Name};

#[derive(Debug)]
struct Inner<C> {
    name: Name,
    clock: C,
    bucket: SharedTokenBucket,
    telemetry: LimitTelemetry,
    // The clock tick at which the tokens gauge was last set (see
    // `try_acquire_n`).
    #[cfg(feature = "metrics")]
    gauge_tick: std::sync::atomic::AtomicU64,
    // Tokens asked for by the waiters in `until_n_ready` now.
    #[cfg(feature = "tokio")]
    queued: std::sync::atomic::AtomicU64,
    // The waiters' line: tokio's semaphore is fair (FIFO), and only the
    // holder of its one permit waits for tokens.
    #[cfg(feature = "tokio")]
    line: tokio::sync::Semaphore,
}

/// A token bucket shared by every clone (`Clone + Send + Sync`): the core's
/// lock-free [`SharedTokenBucket`] (one compare-and-swap per admission),
/// on clock `C` (default [`CoarseClock`]: an admission decision).
///
/// Its compare-and-swap is on 8 bytes (governor's cost) while the clock's
/// instants fit beside the quota's capacity, and on 16 bytes after (20 to
/// 30 % slower per call here, the same decisions; BENCHMARKS.md): for a
/// quota of 1 000/s or 10 000/s with a burst of one second's tokens, for
/// about 203 days after the process epoch; less for quotas whose ticks per
/// token are not whole (1 234/s, burst 1 234: 4.8 hours).
/// [`SharedTokenBucket::compact_until`] on the core type gives the instant
/// for a quota; the clock's ticks count from the process epoch (see
/// [`crate::clock`]).
///
/// The law is the core's: over any window of `W` ticks at most
/// `burst + floor(W x rate / period)` requests are admitted, across every
/// clone and thread.
///
/// ```
/// use fusebox::rate::Quota;
/// use fusebox_std::RateLimiter;
///
/// let limiter = RateLimiter::new("search", Quota::per_second(100).allow_burst(10).build()?)?;
/// let per_route = limiter.clone(); // the same bucket
/// for _ in 0..10 {
///     assert!(per_route.try_acquire().is_ok());
/// }
/// assert!(limiter.try_acquire().is_err()); // the burst of 10 is spent
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RateLimiter<C: Clock = CoarseClock> {
    inner: Arc<Inner<C>>,
}

impl<C: Clock> Clone for RateLimiter<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock + std::fmt::Debug> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.name)
            .field("bucket", &self.inner.bucket)
            .finish()
    }
}

impl RateLimiter {
    /// A full bucket named `name` on [`CoarseClock`].
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name. (A zero rate or burst is
    /// refused earlier, by [`QuotaBuilder::build`](fusebox::rate::QuotaBuilder::build).)
    pub fn new(name: &str, quota: Quota) -> Result<Self, BuildError> {
        Self::with_clock(name, quota, CoarseClock::new())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A full bucket named `name` on `clock`.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name.
    pub fn with_clock(name: &str, quota: Quota, clock: C) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        Ok(Self {
            inner: Arc::new(Inner {
                telemetry: LimitTelemetry::new(&name, Kind::Rate),
                name,
                clock,
                bucket: SharedTokenBucket::new(quota),
                #[cfg(feature = "metrics")]
                gauge_tick: std::sync::atomic::AtomicU64::new(u64::MAX),
                #[cfg(feature = "tokio")]
                queued: std::sync::atomic::AtomicU64::new(0),
                #[cfg(feature = "tokio")]
                line: tokio::sync::Semaphore::new(1),
            }),
        })
    }

    /// The limiter's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.inner.bucket.quota()
    }

    /// Now, on the limiter's clock.
    #[inline]
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// Take one token now.
    ///
    /// # Errors
    /// [`Rejected`] with the time until a token is there; refusing changes
    /// nothing.
    #[inline]
    pub fn try_acquire(&self) -> Result<(), Rejected> {
        self.try_acquire_n(1)
    }

    /// Take `n` tokens now, all or none.
    ///
    /// # Errors
    /// [`Rejected`]: `retry_after` is `None` when `n` exceeds the burst
    /// (never admitted).
    ///
    /// With the `metrics` feature the `fusebox_rate_limiter_tokens` gauge
    /// is set on every refusal and on the first admission of each tick of
    /// the limiter's clock (1 ms for the default [`CoarseClock`]), not on
    /// every admission: reading the tokens back costs more than the
    /// admission itself (12 ns against 17 ns measured, see BENCHMARKS.md),
    /// and a scrape every few seconds sees no difference.
    #[inline]
    pub fn try_acquire_n(&self, n: u32) -> Result<(), Rejected> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        inner
            .bucket
            .try_acquire_n(n, now)
            .inspect(|()| self.admitted(now))
            .inspect_err(|r| {
                let reason = usize::from(r.retry_after.is_none());
                inner.telemetry.rejected(&inner.name, reason, r.retry_after);
                inner.telemetry.level(|| inner.bucket.available(now));
            })
    }

    /// Count an admission; set the tokens gauge if the clock has ticked
    /// since it was last set.
    #[inline]
    fn admitted(&self, now: Instant) {
        let inner = &*self.inner;
        #[cfg(feature = "metrics")]
        {
            use std::sync::atomic::Ordering::Relaxed;
            let tick = now.as_ticks();
            if inner.gauge_tick.load(Relaxed) != tick {
                inner.gauge_tick.store(tick, Relaxed);
                inner.telemetry.admitted(|| inner.bucket.available(now));
                return;
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = now;
        inner.telemetry.counted();
    }

    /// Set the `fusebox_rate_limiter_tokens` gauge (feature `metrics`) to
    /// the tokens available now. Admissions set it at most once per clock
    /// tick (see [`try_acquire_n`](Self::try_acquire_n)), so a `/metrics`
    /// handler calls this before it renders, to show the level at scrape
    /// time, as a Prometheus collector computes a gauge when scraped.
    /// Without the `metrics` feature it does nothing.
    pub fn publish_tokens(&self) {
        let inner = &*self.inner;
        let now = inner.clock.now();
        inner.telemetry.level(|| inner.bucket.available(now));
    }

    /// Tokens available now.
    pub fn available(&self) -> u32 {
        self.inner.bucket.available(self.now())
    }

    /// Time until `n` tokens are available (zero if they are now).
    ///
    /// # Errors
    /// [`ExceedsBurst`] if `n` is over the burst.
    pub fn time_until(&self, n: u32) -> Result<Duration, ExceedsBurst> {
        self.inner.bucket.time_until(n, self.now())
    }

    /// Ticks per token (period / rate, rounded up): how far the line
    /// moves per token.
    #[cfg(feature = "tokio")]
    fn ticks_per_token(&self) -> u64 {
        let q = self.quota();
        q.period().as_ticks().div_ceil(u64::from(q.rate().max(1)))
    }
}

/// Why [`RateLimiter::until_ready`] did not admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// The tokens come only after `retry_after`, more than `max_wait`:
    /// refused at once, nothing reserved.
    TooLong {
        /// How long until the tokens are there.
        retry_after: Duration,
        /// The caller's limit.
        max_wait: Duration,
    },
    /// More tokens asked than the burst: never admitted.
    ExceedsBurst {
        /// The bucket's burst.
        burst: u32,
    },
    /// Called outside a tokio runtime.
    #[cfg(feature = "tokio")]
    NoRuntime,
}

impl WaitError {
    /// When to try again, where known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooLong { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong {
                retry_after,
                max_wait,
            } => write!(
                f,
                "rate limited: the next token is {} ticks away, more than the {} ticks this caller waits",
                retry_after.as_ticks(),
                max_wait.as_ticks()
            ),
            Self::ExceedsBurst { burst } => write!(
                f,
                "asked for more tokens than the burst of {burst}: never admitted; ask for fewer"
            ),
            #[cfg(feature = "tokio")]
            Self::NoRuntime => crate::NoRuntime.fmt(f),
        }
    }
}

impl std::error::Error for WaitError {}

#[cfg(feature = "tokio")]
impl<C: Clock> RateLimiter<C> {
    /// Wait until a token is there, at most `max_wait`, and take it.
    /// See [`until_n_ready`](Self::until_n_ready).
    ///
    /// # Errors
    /// As [`until_n_ready`](Self::until_n_ready).
    pub async fn until_ready(&self, max_wait: Duration) -> Result<(), WaitError> {
        self.until_n_ready(1, max_wait).await
    }

    /// Wait until `n` tokens are there, at most `max_wait`, and take them.
    ///
    /// Waiters form a line, served first come, first served (tokio's fair
    /// semaphore): only the waiter at its head waits for tokens, so a crowd
    /// of waiters does not stampede when a token appears. On arrival a
    /// waiter reserves its place: the tokens of everyone ahead plus its
    /// own must come within `max_wait` (`time_until(n)` plus one emission
    /// interval per token queued ahead), else it is refused at once and
    /// takes nothing. The tokens themselves are taken from the core's
    /// bucket at the instant they are there, so the law is the core's and
    /// a cancelled waiter gives its place back whole (it had taken no
    /// token yet). Callers of [`try_acquire`](Self::try_acquire) do not
    /// queue: one that takes the token the head waits for makes the head
    /// wait one interval more (never past its `max_wait`).
    ///
    /// Sleeps on tokio's timer: needs a runtime with its timer enabled (a
    /// runtime built without `enable_time()` cannot be detected through
    /// tokio's public API; tokio then panics with "timers are disabled").
    ///
    /// ```
    /// use fusebox::rate::Quota;
    /// use fusebox::time::Duration;
    /// use fusebox_std::{RateLimiter, TokioClock};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let limiter = RateLimiter::with_clock("uplink", Quota::per_second(10).allow_burst(1).build()?, TokioClock)?;
    /// limiter.until_ready(Duration::from_secs(1)).await?; // the burst
    /// let start = tokio::time::Instant::now();
    /// limiter.until_ready(Duration::from_secs(1)).await?; // 100 ms later
    /// assert_eq!(start.elapsed(), std::time::Duration::from_millis(100));
    /// assert!(limiter.until_ready(Duration::from_millis(10)).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`WaitError::TooLong`] at once if the tokens (after those queued
    /// ahead) are further than `max_wait`, or when tokens taken by
    /// non-waiting callers push them past it; [`WaitError::ExceedsBurst`];
    /// [`WaitError::NoRuntime`] outside a tokio runtime.
    pub async fn until_n_ready(&self, n: u32, max_wait: Duration) -> Result<(), WaitError> {
        use std::sync::atomic::Ordering;
        crate::name::check_runtime().map_err(|_| WaitError::NoRuntime)?;
        let inner = &*self.inner;
        let burst = self.quota().burst();
        let too_big = WaitError::ExceedsBurst { burst };
        let start = self.now();
        // Nobody waits: take the tokens at once if they are there.
        if inner.queued.load(Ordering::Acquire) == 0 {
            match inner.bucket.try_acquire_n(n, start) {
                Ok(()) => return Ok(()),
                Err(r) if r.retry_after.is_none() => return Err(too_big),
                Err(_) => {}
            }
        }
        let own = inner.bucket.time_until(n, start).map_err(|_| too_big)?;
        let ahead = inner.queued.fetch_add(u64::from(n), Ordering::AcqRel);
        let _place = Queued(&inner.queued, u64::from(n));
        let expected = Duration::from_ticks(
            own.as_ticks()
                .saturating_add(ahead.saturating_mul(self.ticks_per_token())),
        );
        if expected > max_wait {
            return Err(WaitError::TooLong {
                retry_after: expected,
                max_wait,
            });
        }
        let deadline = crate::clock::add(start, max_wait);
        let waited = async {
            // The semaphore is never closed.
            let _head = inner.line.acquire().await;
            loop {
                let now = self.now();
                let wait = inner.bucket.time_until(n, now).map_err(|_| too_big)?;
                if crate::clock::add(now, wait) > deadline {
                    return Err(WaitError::TooLong {
                        retry_after: wait,
                        max_wait,
                    });
                }
                if wait.as_ticks() > 0 {
                    tokio::time::sleep(crate::to_std(wait)).await;
                }
                if inner.bucket.try_acquire_n(n, self.now()).is_ok() {
                    return Ok(());
                }
                // A caller that does not queue took them first: wait again.
            }
        };
        // The line itself may be slower than expected (non-waiting callers
        // take tokens): never past `max_wait`.
        match tokio::time::timeout(crate::to_std(max_wait), waited).await {
            Ok(r) => r,
            Err(_) => Err(WaitError::TooLong {
                retry_after: inner.bucket.time_until(n, self.now()).unwrap_or(max_wait),
                max_wait,
            }),
        }
    }
}

/// A waiter's tokens in the line, given back when it leaves (served,
/// refused or cancelled).
#[cfg(feature = "tokio")]
struct Queued<'a>(&'a std::sync::atomic::AtomicU64, u64);

#[cfg(feature = "tokio")]
impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0
            .fetch_sub(self.1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A token bucket as a retry budget (the other kind of retry budget: a
/// fixed rate of retries rather than a share of successes): every retry
/// takes a token, successes deposit nothing.
#[cfg(feature = "tokio")]
impl<C: Clock> fusebox::retry::Budget for &RateLimiter<C> {
    fn request_started(&mut self, _now: Instant) {}

    fn deposit(&mut self, _now: Instant) {}

    fn try_withdraw(&mut self, _now: Instant) -> bool {
        self.try_acquire().is_ok()
    }

    fn retry_finished(&mut self, _now: Instant) {}

    fn request_finished(&mut self, _now: Instant) {}
}
