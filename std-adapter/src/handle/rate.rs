//! [`RateLimiter`]: a shared token bucket (GCRA), lock-free, with
//! `until_ready().await`.

use std::sync::Arc;

use fusebox::rate::{ExceedsBurst, Quota, Rejected, SharedTokenBucket};
use fusebox::time::{Clock, Duration, Instant};

use crate::{BuildError, CoarseClock, Name};

#[derive(Debug)]
struct Inner<C> {
    name: Name,
    clock: C,
    bucket: SharedTokenBucket,
}

/// A token bucket shared by every clone (`Clone + Send + Sync`): the core's
/// lock-free [`SharedTokenBucket`] (one compare-and-swap per admission),
/// on clock `C` (default [`CoarseClock`]: an admission decision).
///
/// The law is the core's: over any window of `W` ticks at most
/// `burst + floor(W x rate / period)` requests are admitted, across every
/// clone and thread.
///
/// ```
/// use fusebox::rate::Quota;
/// use fusebox_std::RateLimiter;
///
/// let limiter = RateLimiter::new("search", Quota::per_second(100, 10, fusebox_std::TICK_HZ)?)?;
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
    /// refused earlier, by [`Quota::new`].)
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
        Ok(Self {
            inner: Arc::new(Inner {
                name: Name::new(name)?,
                clock,
                bucket: SharedTokenBucket::new(quota),
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
        self.inner.bucket.try_acquire(self.inner.clock.now())
    }

    /// Take `n` tokens now, all or none.
    ///
    /// # Errors
    /// [`Rejected`]: `retry_after` is `None` when `n` exceeds the burst
    /// (never admitted).
    #[inline]
    pub fn try_acquire_n(&self, n: u32) -> Result<(), Rejected> {
        self.inner.bucket.try_acquire_n(n, self.inner.clock.now())
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

    #[cfg(feature = "tokio")]
    /// Reserve `n` tokens for the instant they will be there: the bucket
    /// goes into debt at once (as Go's `rate.Reserve`), so later callers
    /// are refused or queue behind, and returns how long to wait.
    fn reserve(&self, n: u32, max_wait: Duration) -> Result<Duration, WaitError> {
        loop {
            let now = self.now();
            let wait =
                self.inner
                    .bucket
                    .time_until(n, now)
                    .map_err(|_| WaitError::ExceedsBurst {
                        burst: self.quota().burst(),
                    })?;
            if wait > max_wait {
                return Err(WaitError::TooLong {
                    retry_after: wait,
                    max_wait,
                });
            }
            // Taking at the instant the tokens are there is a reservation:
            // the core judges `at`, and its TAT moves past it.
            let at = crate::clock::add(now, wait);
            if self.inner.bucket.try_acquire_n(n, at).is_ok() {
                return Ok(wait);
            }
            // Another caller took or reserved them between the two reads:
            // ask again (every turn of this loop is someone else's success).
        }
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
    /// The waiter reserves its tokens when it starts waiting (the bucket
    /// goes into debt, as Go's `rate.Reserve`): waiters are served in the
    /// order they arrive, each at the instant its tokens come, and a crowd
    /// of waiters does not stampede when a token appears. The law holds
    /// with reservations counted at the instant they are for.
    ///
    /// Cancelling the future (a dropped request) does not give the
    /// reservation back: the core's `SharedTokenBucket` has no operation to
    /// move its arrival time back, and moving it back blindly could break
    /// the law for reservations made since. The tokens of a cancelled
    /// waiter are lost (the limiter errs on the side of admitting fewer).
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
    /// let limiter = RateLimiter::with_clock("uplink", Quota::per_second(10, 1, fusebox_std::TICK_HZ)?, TokioClock)?;
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
    /// [`WaitError::TooLong`] at once if the tokens are further than
    /// `max_wait`; [`WaitError::ExceedsBurst`]; [`WaitError::NoRuntime`]
    /// outside a tokio runtime.
    pub async fn until_n_ready(&self, n: u32, max_wait: Duration) -> Result<(), WaitError> {
        crate::name::check_runtime().map_err(|_| WaitError::NoRuntime)?;
        let wait = self.reserve(n, max_wait)?;
        if wait.as_ticks() > 0 {
            tokio::time::sleep(crate::to_std(wait)).await;
        }
        Ok(())
    }
}

/// A token bucket as a retry budget (the other kind of retry budget: a
/// fixed rate of retries rather than a share of successes): every retry
/// takes a token, successes deposit nothing.
#[cfg(feature = "tokio")]
impl<C: Clock> fusebox::retry::Budget for &RateLimiter<C> {
    fn deposit(&mut self, _now: Instant) {}

    fn try_withdraw(&mut self, _now: Instant) -> bool {
        self.try_acquire().is_ok()
    }
}
