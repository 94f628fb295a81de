//! [`HedgePolicy`] and [`AdaptiveTimeout`]: shared handles around the
//! core's [`fusebox::latency`] types, with their metrics as plain atomics.
//!
//! # The lock
//!
//! The core has no shared variant of its latency types (a histogram of
//! hundreds of buckets does not fit in atomics), so each handle holds the
//! core's `&mut` type behind one `parking_lot` mutex, held for one sans-IO
//! call (a quantile from the cursor, or a record: tens of nanoseconds; no
//! allocation, no await, no call out while held). A hedged request takes
//! it three times at most: to read the hedge time, to ask the budget (only
//! when the hedge is due) and to record its latency. The counters
//! ([`HedgeStats`], [`TimeoutStats`]) are atomics outside the lock: reading
//! them never contends with requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fusebox::latency;
use fusebox::time::{Clock, Duration, Instant};
use parking_lot::Mutex;

use crate::{BuildError, FastClock, Name};

/// What happened, at the one place every count is taken. The `metrics`
/// and `tracing` features (#13) hook in here: each event is one counter
/// increment today.
#[derive(Debug, Clone, Copy)]
enum Event {
    Request,
    HedgeSent,
    HedgeWon,
    BudgetRefused,
    TimedOut,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    hedges_sent: AtomicU64,
    hedges_won: AtomicU64,
    budget_refusals: AtomicU64,
    timeouts: AtomicU64,
    /// The adaptive timeout's last value handed out, in ticks.
    current: AtomicU64,
}

impl Counters {
    #[inline]
    fn note(&self, _name: &Name, e: Event) {
        // metrics/tracing hook (#13): `_name` is the label.
        let c = match e {
            Event::Request => &self.requests,
            Event::HedgeSent => &self.hedges_sent,
            Event::HedgeWon => &self.hedges_won,
            Event::BudgetRefused => &self.budget_refusals,
            Event::TimedOut => &self.timeouts,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The counts of a [`HedgePolicy`] handle since it was built (every clone
/// shares them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HedgeStats {
    /// Requests recorded (one per request, at its first answer).
    pub requests: u64,
    /// Hedges sent: extra copies the budget allowed.
    pub hedges_sent: u64,
    /// Requests whose answer came from a hedge rather than the first copy.
    pub hedges_won: u64,
    /// Hedges that were due but the budget refused (the request then
    /// waits for the copies already sent).
    pub budget_refusals: u64,
}

/// One core latency type behind its lock, with the handle's name, clock
/// and counts: the state both handles share between their clones.
struct Cell<T, C> {
    name: Name,
    clock: C,
    core: Mutex<T>,
    counters: Counters,
}

impl<T, C: Clock> Cell<T, C> {
    fn build(name: Name, core: T, clock: C) -> Arc<Self> {
        Arc::new(Self {
            name,
            clock,
            core: Mutex::new(core),
            counters: Counters::default(),
        })
    }

    #[inline]
    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// `f` on the core type and the clock's now, the lock held for `f` only.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T, Instant) -> R) -> R {
        let now = self.now();
        f(&mut self.core.lock(), now)
    }

    #[inline]
    fn note(&self, e: Event) {
        self.counters.note(&self.name, e);
    }
}

/// `Clone` (sharing the state), `Debug`, `name` and `now` for a handle
/// whose one field is `inner: Arc<Cell<core type, C>>`.
macro_rules! handle_basics {
    ($handle:ident, $stats:ident) => {
        impl<C: Clock> Clone for $handle<C> {
            fn clone(&self) -> Self {
                Self {
                    inner: Arc::clone(&self.inner),
                }
            }
        }

        impl<C: Clock> std::fmt::Debug for $handle<C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($handle))
                    .field("name", &self.inner.name)
                    .field("config", self.inner.core.lock().config())
                    .field("stats", &self.$stats())
                    .finish()
            }
        }

        impl<C: Clock> $handle<C> {
            /// The handle's name (its label in logs and metrics).
            pub fn name(&self) -> &Name {
                &self.inner.name
            }

            /// Now, on the handle's clock.
            #[inline]
            pub fn now(&self) -> Instant {
                self.inner.now()
            }
        }
    };
}

/// A hedge policy shared by every clone (`Clone + Send + Sync`): the
/// core's [`latency::HedgePolicy`] (p95 of recent latency by default,
/// [`ServerHistogram`](latency::ServerHistogram)'s buckets: 3.125 %, up
/// to 2^32 ticks, 5 slots) behind one lock, on clock `C` (default
/// [`FastClock`]: latencies need a precise clock).
///
/// `hedge(op)` (feature `tokio`) runs an async operation hedged;
/// `fusebox_std::tower::HedgeLayer` (feature `tower`) hedges HTTP
/// requests. A hedged request takes the lock three times at most: to read
/// its hedge time, to ask the budget (only when the hedge is due) and to
/// record its latency.
///
/// # The lock
///
/// The core has no shared variant of its latency types (hundreds of
/// buckets do not fit in atomics), so the handle holds the core's `&mut`
/// type behind one `parking_lot` mutex, held for one sans-IO call (a
/// quantile read from its cursor, or a record: no allocation, no await,
/// no call out while held). The counts are atomics outside it: reading
/// them never contends with requests.
///
/// ```
/// use fusebox::latency::hedge;
/// use fusebox::time::Duration;
/// use fusebox_std::HedgePolicy;
///
/// // Hedge after p95, at most 5 % extra requests, over 10 s.
/// let hedge = HedgePolicy::new("search", hedge::Config::new().budget_percent(5), Duration::from_secs(10))?;
/// assert_eq!(hedge.stats().hedges_sent, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HedgePolicy<C: Clock = FastClock> {
    inner: Arc<Cell<latency::HedgePolicy, C>>,
}

handle_basics!(HedgePolicy, stats);

impl HedgePolicy {
    /// A hedge policy named `name`, whose latency samples and budget
    /// deposits count for `window`, on [`FastClock`].
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// field out of range (the core's [`latency::HedgePolicy::new`] says
    /// which).
    pub fn new(
        name: &str,
        config: latency::hedge::Config,
        window: Duration,
    ) -> Result<Self, BuildError> {
        Self::with_clock(name, config, window, FastClock::new())
    }
}

impl<C: Clock> HedgePolicy<C> {
    /// As [`new`](HedgePolicy::new), on `clock`.
    ///
    /// # Errors
    /// As [`new`](HedgePolicy::new).
    pub fn with_clock(
        name: &str,
        config: latency::hedge::Config,
        window: Duration,
        clock: C,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let policy = latency::HedgePolicy::new(config, window)?;
        Ok(Self {
            inner: Cell::build(name, policy, clock),
        })
    }

    /// When hedge number `sent + 1` of a request started at `t0` may be
    /// sent (the core's [`next_hedge_at`](latency::HedgePolicy::next_hedge_at)):
    /// `None` once `max_hedges` are sent, or while the window holds too few
    /// samples.
    #[inline]
    pub fn next_hedge_at(&self, t0: Instant, sent: u32) -> Option<Instant> {
        self.inner.with(|p, now| p.next_hedge_at(t0, sent, now))
    }

    /// Ask the hedge budget for one hedge now: `true` (spent, and counted
    /// as sent) or `false` (counted as a refusal).
    #[inline]
    #[must_use = "send the hedge only when the budget allowed it"]
    pub fn try_hedge(&self) -> bool {
        let ok = self.inner.with(|p, now| p.try_hedge(now));
        let e = if ok {
            Event::HedgeSent
        } else {
            Event::BudgetRefused
        };
        self.inner.note(e);
        ok
    }

    /// Record one request that first answered after `latency` (a latency
    /// sample and a deposit into the hedge budget).
    #[inline]
    pub fn record(&self, latency: Duration) {
        self.inner.with(|p, now| p.record(latency, now));
        self.inner.note(Event::Request);
    }

    /// Count a request whose answer came from a hedge.
    #[inline]
    pub fn record_won(&self) {
        self.inner.note(Event::HedgeWon);
    }

    /// The delay after which a request is hedged now (`None` while the
    /// window holds too few samples).
    pub fn delay(&self) -> Option<Duration> {
        self.inner.with(|p, now| p.delay(now))
    }

    /// Whole hedges the budget would allow now.
    pub fn available(&self) -> u64 {
        self.inner.with(|p, now| p.available(now))
    }

    /// The counts so far (atomics; no lock).
    pub fn stats(&self) -> HedgeStats {
        let c = &self.inner.counters;
        HedgeStats {
            requests: c.requests.load(Ordering::Relaxed),
            hedges_sent: c.hedges_sent.load(Ordering::Relaxed),
            hedges_won: c.hedges_won.load(Ordering::Relaxed),
            budget_refusals: c.budget_refusals.load(Ordering::Relaxed),
        }
    }

    /// Run `op` hedged: start one copy; each time the policy's hedge time
    /// passes (and the budget allows), start another; return the first
    /// output and drop (cancel) the others. The first output's latency is
    /// recorded, whatever it is (an error that came fast counts as a fast
    /// answer: wrap `op` to retry errors if they should not).
    ///
    /// `op` must be safe to run more than once concurrently (a read, an
    /// idempotent write). Each copy is boxed (one allocation per copy).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use fusebox::latency::hedge;
    /// use fusebox::time::Duration;
    /// use fusebox_std::HedgePolicy;
    ///
    /// let hedge = HedgePolicy::new("lookup", hedge::Config::new(), Duration::from_secs(10))?;
    /// let answer = hedge.hedge(|| async { 42 }).await;
    /// assert_eq!(answer, 42);
    /// assert_eq!(hedge.stats().requests, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn hedge<F, Fut>(&self, op: F) -> Fut::Output
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future,
    {
        self.hedge_with(op, |_| true).await
    }

    /// [`hedge`](Self::hedge), where an output for which `is_answer` is
    /// false (a local refusal: a limit or a breaker below the hedge said no
    /// at once) does not win while another copy still runs: it is set
    /// aside, and returned only if every copy started ends that way (the
    /// first one set aside). Without this a hedge refused by a bulkhead
    /// below would answer at once and beat the slower copy that was about
    /// to succeed. `tower::HedgeLayer` (feature `tower`) passes "not a
    /// fusebox refusal" here.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use fusebox::latency::hedge;
    /// use fusebox::time::Duration;
    /// use fusebox_std::HedgePolicy;
    ///
    /// let hedge = HedgePolicy::new("lookup", hedge::Config::new(), Duration::from_secs(10))?;
    /// // Every copy refused: the refusal comes back.
    /// let answer = hedge.hedge_with(|| async { Err::<u32, &str>("shed") }, Result::is_ok).await;
    /// assert_eq!(answer, Err("shed"));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn hedge_with<F, Fut, A>(&self, mut op: F, is_answer: A) -> Fut::Output
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future,
        A: Fn(&Fut::Output) -> bool,
    {
        use std::pin::Pin;
        use std::task::Poll;

        let t0 = self.now();
        let mut copies: Vec<Option<Pin<Box<Fut>>>> = vec![Some(Box::pin(op()))];
        let mut running = 1usize;
        let mut set_aside: Option<(usize, Fut::Output)> = None;
        let mut sent = 0u32;
        let mut timer = self.timer(t0, sent);
        let (winner, out) = std::future::poll_fn(|cx| {
            loop {
                for (i, slot) in copies.iter_mut().enumerate() {
                    let Some(f) = slot.as_mut() else { continue };
                    if let Poll::Ready(out) = f.as_mut().poll(cx) {
                        *slot = None;
                        running -= 1;
                        if is_answer(&out) {
                            return Poll::Ready((i, out));
                        }
                        if set_aside.is_none() {
                            set_aside = Some((i, out));
                        }
                    }
                }
                if running == 0 {
                    if let Some(refused) = set_aside.take() {
                        return Poll::Ready(refused);
                    }
                }
                let Some(t) = timer.as_mut() else {
                    return Poll::Pending;
                };
                if t.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                timer = None;
                // A refusal ends hedging for this request: the next hedge
                // time would be the same instant, asked again at once.
                if self.try_hedge() {
                    copies.push(Some(Box::pin(op())));
                    running += 1;
                    sent = sent.saturating_add(1);
                    timer = self.timer(t0, sent);
                }
                // Loop: poll the new copy once, so it registers its waker.
            }
        })
        .await;
        // The losers are cancelled here, before the caller sees the answer.
        drop(copies);
        self.record(self.now().saturating_duration_since(t0));
        if winner > 0 {
            self.record_won();
        }
        out
    }

    #[cfg(feature = "tokio")]
    fn timer(&self, t0: Instant, sent: u32) -> Option<std::pin::Pin<Box<tokio::time::Sleep>>> {
        let at = self.next_hedge_at(t0, sent)?;
        let wait = at.saturating_duration_since(self.now());
        Some(Box::pin(tokio::time::sleep(crate::to_std(wait))))
    }
}

/// The counts and the current value of an [`AdaptiveTimeout`] handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TimeoutStats {
    /// Calls recorded.
    pub requests: u64,
    /// Calls that ran past their timeout.
    pub timeouts: u64,
    /// The last timeout handed out, in ticks (the initial one before any).
    pub current_ticks: u64,
}

/// An adaptive timeout shared by every clone (`Clone + Send + Sync`): the
/// core's [`latency::AdaptiveTimeout`] (`clamp(quantile x num / den +
/// margin, min, max)` over [`ServerHistogram`](latency::ServerHistogram)'s
/// buckets) behind one lock, on clock `C` (default [`FastClock`]).
///
/// `fusebox_std::tower::AdaptiveTimeoutLayer` (feature `tower`) applies
/// it per request; `run(future)` (feature `tokio`) applies it to one call.
/// A call takes the lock twice: to read its timeout and to record its
/// latency.
///
/// # The lock
///
/// The core has no shared variant of its latency types (hundreds of
/// buckets do not fit in atomics), so the handle holds the core's `&mut`
/// type behind one `parking_lot` mutex, held for one sans-IO call (a
/// quantile read from its cursor, or a record: no allocation, no await,
/// no call out while held). The counts are atomics outside it: reading
/// them never contends with requests.
///
/// ```
/// use fusebox::latency::timeout;
/// use fusebox::time::Duration;
/// use fusebox_std::AdaptiveTimeout;
///
/// let ms = Duration::from_millis;
/// // p99 x 2, between 50 ms and 5 s, 1 s until 100 samples.
/// let config = timeout::Config::new(ms(1_000), ms(50), ms(5_000)).min_samples(100);
/// let timeout = AdaptiveTimeout::new("upstream", config, Duration::from_secs(30))?;
/// assert_eq!(timeout.timeout(), ms(1_000));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AdaptiveTimeout<C: Clock = FastClock> {
    inner: Arc<Cell<latency::AdaptiveTimeout, C>>,
}

handle_basics!(AdaptiveTimeout, stats);

impl AdaptiveTimeout {
    /// An adaptive timeout named `name`, whose samples count for `window`,
    /// on [`FastClock`].
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// field out of range (the core's [`latency::AdaptiveTimeout::new`]
    /// says which).
    pub fn new(
        name: &str,
        config: latency::timeout::Config,
        window: Duration,
    ) -> Result<Self, BuildError> {
        Self::with_clock(name, config, window, FastClock::new())
    }
}

impl<C: Clock> AdaptiveTimeout<C> {
    /// As [`new`](AdaptiveTimeout::new), on `clock`.
    ///
    /// # Errors
    /// As [`new`](AdaptiveTimeout::new).
    pub fn with_clock(
        name: &str,
        config: latency::timeout::Config,
        window: Duration,
        clock: C,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let timeout = latency::AdaptiveTimeout::new(config, window)?;
        let inner = Cell::build(name, timeout, clock);
        inner
            .counters
            .current
            .store(config.initial().as_ticks(), Ordering::Relaxed);
        Ok(Self { inner })
    }

    /// The timeout for a call starting now (also kept as the current
    /// timeout, [`TimeoutStats::current_ticks`]).
    #[inline]
    pub fn timeout(&self) -> Duration {
        let t = self.inner.with(|a, now| a.timeout(now));
        self.inner
            .counters
            .current
            .store(t.as_ticks(), Ordering::Relaxed);
        t
    }

    /// Record a call that answered after `latency`.
    #[inline]
    pub fn record(&self, latency: Duration) {
        self.inner.with(|a, now| a.record(latency, now));
        self.inner.note(Event::Request);
    }

    /// Record a call that ran past its timeout `timeout` (recorded as that
    /// latency: the call took at least as long).
    #[inline]
    pub fn record_timeout(&self, timeout: Duration) {
        self.inner.with(|a, now| a.record(timeout, now));
        self.inner.note(Event::Request);
        self.inner.note(Event::TimedOut);
    }

    /// The counts and the current timeout (atomics; no lock).
    pub fn stats(&self) -> TimeoutStats {
        let c = &self.inner.counters;
        TimeoutStats {
            requests: c.requests.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            current_ticks: c.current.load(Ordering::Relaxed),
        }
    }

    /// The last timeout handed out (the initial one before any).
    pub fn current(&self) -> Duration {
        Duration::from_ticks(self.inner.counters.current.load(Ordering::Relaxed))
    }

    /// Run `fut` under the timeout for a call starting now; records its
    /// latency, or the timeout if it ran past it. `Err(timeout)` when it
    /// did.
    ///
    /// # Errors
    /// The timeout that passed, when `fut` did not finish within it.
    #[cfg(feature = "tokio")]
    pub async fn run<F: std::future::Future>(&self, fut: F) -> Result<F::Output, Duration> {
        let t0 = self.now();
        let limit = self.timeout();
        match tokio::time::timeout(crate::to_std(limit), fut).await {
            Ok(out) => {
                self.record(self.now().saturating_duration_since(t0));
                Ok(out)
            }
            Err(_) => {
                self.record_timeout(limit);
                Err(limit)
            }
        }
    }
}
