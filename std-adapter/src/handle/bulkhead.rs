//! [`Bulkhead`]: a shared concurrency limit with a bounded FIFO wait queue.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fusebox::bulkhead::{self, OwnedPermit, Rejected};
use fusebox::time::Duration;

use crate::telemetry::{Kind, LimitTelemetry};
use crate::{BuildError, Name};

#[derive(Debug)]
struct Inner {
    name: Name,
    slots: bulkhead::SharedBulkhead,
    max_queue: u32,
    max_wait: Duration,
    // Callers inside `acquire` that found no free slot.
    waiting: AtomicU32,
    telemetry: LimitTelemetry,
    // FIFO among waiters: tokio's semaphore is fair, so the line's one
    // permit goes to waiters in the order they asked; the holder is the
    // only waiter that competes for a slot.
    #[cfg(feature = "tokio")]
    line: tokio::sync::Semaphore,
    // A slot was freed while someone waited.
    #[cfg(feature = "tokio")]
    freed: tokio::sync::Notify,
}

/// What a [`Permit`] holds: the bulkhead, as the core's owned permit wants
/// it (`Deref<Target = core SharedBulkhead>`). Dropped after the core permit has
/// returned its slot, it wakes the head waiter.
#[derive(Debug)]
struct Slot(Arc<Inner>);

impl Deref for Slot {
    type Target = bulkhead::SharedBulkhead;
    fn deref(&self) -> &bulkhead::SharedBulkhead {
        &self.0.slots
    }
}

impl Drop for Slot {
    #[inline]
    fn drop(&mut self) {
        self.0.telemetry.level(|| self.0.slots.in_use());
        // Also dropped, unused, when a take fails: a free slot is then the
        // only reason to wake the head (else a failing head would wake
        // itself for ever).
        #[cfg(feature = "tokio")]
        if self.0.waiting.load(Ordering::Acquire) > 0 && self.0.slots.available() > 0 {
            self.0.freed.notify_one();
        }
    }
}

/// At most `limit` calls in flight at once, shared by every clone
/// (`Clone + Send + Sync`), lock-free (the core's shared
/// [`bulkhead::SharedBulkhead`]: one compare-and-swap per permit).
///
/// [`try_acquire`](Self::try_acquire) never waits. With feature `tokio`,
/// [`acquire`](Self::acquire) waits for a slot in a bounded FIFO queue
/// (at most `max_queue` waiters, each at most `max_wait`): backpressure
/// that rejects at once, with the reason, when the queue is full or the
/// wait expires. Permits free their slot when dropped.
///
/// ```
/// use fusebox::time::Duration;
/// use fusebox_std::Bulkhead;
///
/// let pool = Bulkhead::new("db-pool", 2, 8, Duration::from_millis(50))?;
/// let a = pool.try_acquire()?;
/// let b = pool.clone().try_acquire()?; // clones share the slots
/// assert_eq!(pool.try_acquire().unwrap_err().limit, 2);
/// drop(a);
/// assert_eq!(pool.in_use(), 1);
/// # drop(b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

/// One slot of a [`Bulkhead`], freed when dropped. Owns a reference to the
/// bulkhead, so it can move into a spawned task.
#[derive(Debug)]
#[must_use = "dropping the permit frees its slot at once"]
pub struct Permit {
    _permit: OwnedPermit<Slot>,
}

/// Why [`Bulkhead::acquire`] gave no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireError {
    /// Every slot was taken and `max_queue` callers already waited:
    /// refused at once.
    QueueFull {
        /// The bulkhead's limit.
        limit: u32,
        /// The queue's bound.
        max_queue: u32,
    },
    /// No slot came free within `max_wait`.
    TimedOut {
        /// How long it waited.
        max_wait: Duration,
    },
    /// Called outside a tokio runtime.
    NoRuntime,
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::QueueFull { limit, max_queue } => write!(
                f,
                "bulkhead full: all {limit} slots taken and {max_queue} callers already waiting; shed load or retry later"
            ),
            Self::TimedOut { max_wait } => write!(
                f,
                "bulkhead full: no slot came free within {} ticks",
                max_wait.as_ticks()
            ),
            Self::NoRuntime => f.write_str(
                "no tokio runtime: call this inside #[tokio::main], #[tokio::test] or Runtime::block_on (with enable_all())",
            ),
        }
    }
}

impl std::error::Error for AcquireError {}

impl Bulkhead {
    /// A bulkhead named `name` of `limit` slots, at most `max_queue`
    /// waiters (0: never wait), each waiting at most `max_wait`.
    ///
    /// # Errors
    /// [`BuildError::Name`] for a bad name; [`BuildError::Config`] for a
    /// zero `limit`.
    pub fn new(
        name: &str,
        limit: u32,
        max_queue: u32,
        max_wait: Duration,
    ) -> Result<Self, BuildError> {
        let name = Name::new(name)?;
        let slots = bulkhead::SharedBulkhead::new(limit)?;
        let telemetry = LimitTelemetry::new(&name, Kind::Bulkhead);
        Ok(Self {
            inner: Arc::new(Inner {
                telemetry,
                name,
                slots,
                max_queue,
                max_wait,
                waiting: AtomicU32::new(0),
                #[cfg(feature = "tokio")]
                line: tokio::sync::Semaphore::new(1),
                #[cfg(feature = "tokio")]
                freed: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// Take a free slot now, without waiting.
    ///
    /// # Errors
    /// [`Rejected`] (with the limit) if every slot is taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let inner = &*self.inner;
        self.take()
            .inspect_err(|_| inner.telemetry.rejected(&inner.name, 0, None))
    }

    /// Take a free slot; an admission is reported, a refusal is left to
    /// the caller (a waiter's attempts are not refusals).
    #[inline]
    fn take(&self) -> Result<Permit, Rejected> {
        let inner = &*self.inner;
        bulkhead::SharedBulkhead::try_acquire_owned(Slot(Arc::clone(&self.inner)))
            .map(|p| Permit { _permit: p })
            .inspect(|_| inner.telemetry.admitted(|| inner.slots.in_use()))
    }

    /// The limit now.
    pub fn limit(&self) -> u32 {
        self.inner.slots.limit()
    }

    /// Permits live now.
    pub fn in_use(&self) -> u32 {
        self.inner.slots.in_use()
    }

    /// Free slots now.
    pub fn available(&self) -> u32 {
        self.inner.slots.available()
    }

    /// Callers waiting in [`acquire`](Self::acquire) now.
    pub fn waiting(&self) -> u32 {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// The queue's bound.
    pub fn max_queue(&self) -> u32 {
        self.inner.max_queue
    }

    /// The longest a waiter waits.
    pub fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// Change the limit (at least 1); returns the old one. Permits out stay
    /// valid. A raised limit wakes the head waiter.
    ///
    /// # Errors
    /// [`fusebox::ConfigError`] for a zero limit.
    pub fn set_limit(&self, limit: u32) -> Result<u32, fusebox::ConfigError> {
        let old = self.inner.slots.set_limit(limit)?;
        #[cfg(feature = "tokio")]
        if limit > old && self.waiting() > 0 {
            self.inner.freed.notify_one();
        }
        Ok(old)
    }
}

/// Counts a caller as waiting while it lives (cancelled or not).
#[cfg(feature = "tokio")]
struct Waiting<'a>(&'a Inner);

#[cfg(feature = "tokio")]
impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let left = self.0.waiting.fetch_sub(1, Ordering::AcqRel);
        self.0.telemetry.second(left.saturating_sub(1));
    }
}

#[cfg(feature = "tokio")]
impl Bulkhead {
    /// Take a slot, waiting for one if need be: at once if one is free and
    /// nobody waits; else in the FIFO queue (first come, first served), at
    /// most `max_wait`.
    ///
    /// Cancel-safe: a waiter dropped at any point leaves the queue and
    /// takes nothing with it; a slot it was about to take is taken by the
    /// next waiter.
    ///
    /// Waits on tokio's timer: needs a runtime with its timer enabled (a
    /// runtime built without `enable_time()` cannot be detected through
    /// tokio's public API; tokio then panics with "timers are disabled").
    ///
    /// ```
    /// use fusebox::time::Duration;
    /// use fusebox_std::{AcquireError, Bulkhead};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Bulkhead::new("db", 1, 1, Duration::from_millis(100))?;
    /// let held = pool.acquire().await?;
    /// // One waiter fits the queue; it gives up after 100 ms.
    /// assert_eq!(pool.acquire().await.unwrap_err(), AcquireError::TimedOut { max_wait: Duration::from_millis(100) });
    /// drop(held);
    /// let _again = pool.acquire().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`AcquireError::QueueFull`] at once when `max_queue` callers already
    /// wait; [`AcquireError::TimedOut`] after `max_wait`;
    /// [`AcquireError::NoRuntime`] outside a tokio runtime.
    pub async fn acquire(&self) -> Result<Permit, AcquireError> {
        crate::name::check_runtime().map_err(|_| AcquireError::NoRuntime)?;
        let inner = &*self.inner;
        if inner.waiting.load(Ordering::Acquire) == 0 {
            if let Ok(p) = self.take() {
                return Ok(p);
            }
        }
        let queued = inner
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < inner.max_queue).then(|| n.saturating_add(1))
            });
        if queued.is_err() {
            inner.telemetry.rejected(&inner.name, 1, None);
            return Err(AcquireError::QueueFull {
                limit: self.limit(),
                max_queue: inner.max_queue,
            });
        }
        let _waiting = Waiting(inner);
        inner
            .telemetry
            .second(queued.unwrap_or(0).saturating_add(1));
        let wait = async {
            // The semaphore is never closed.
            let _line = inner.line.acquire().await;
            loop {
                let freed = inner.freed.notified();
                let mut freed = std::pin::pin!(freed);
                // Registered before the check: a slot freed in between
                // still wakes this waiter.
                freed.as_mut().enable();
                if let Ok(p) = self.take() {
                    return p;
                }
                freed.await;
            }
        };
        tokio::time::timeout(crate::to_std(inner.max_wait), wait)
            .await
            .map_err(|_| {
                inner.telemetry.rejected(&inner.name, 2, None);
                AcquireError::TimedOut {
                    max_wait: inner.max_wait,
                }
            })
    }
}
