//! A mutex-held primitive that many tasks share, as the retry runner's
//! breaker or budget.

use std::sync::{Mutex, MutexGuard};

use fusebox::breaker::{CircuitBreaker, Outcome, Permit, Policy, Rejected};
use fusebox::retry::{Budget, Gate};
use fusebox::time::Instant;

/// A primitive behind a [`Mutex`], so that every request of a server can
/// use the same breaker or retry budget: `&Shared<CircuitBreaker<_>>` is a
/// [`Gate`] and `&Shared<B>` a [`Budget`] for any budget `B`
/// (`RetryBudget<_>`, `ConcurrentRetryBudget`), for
/// [`fusebox::retry::Retry`]. The lock is held only inside each sans-IO
/// call (tens of nanoseconds), never across an await.
///
/// A poisoned lock (a thread panicked while holding it) is used anyway: the
/// primitives' state is valid after every call, so there is nothing to
/// recover.
///
/// ```
/// use fusebox::rate::RetryBudget;
/// use fusebox::time::Instant;
/// use fusebox_std::Shared;
///
/// let budget = Shared::new(RetryBudget::default());
/// budget.lock().deposit(Instant::from_ticks(0));
/// assert_eq!(budget.lock().available(Instant::from_ticks(0)), 100);
/// ```
#[derive(Debug, Default)]
pub struct Shared<T>(Mutex<T>);

impl<T> Shared<T> {
    /// Share `inner`.
    pub const fn new(inner: T) -> Self {
        Self(Mutex::new(inner))
    }

    /// Lock it, for a call the runner does not make (metrics, state).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<P: Policy> Gate for &Shared<CircuitBreaker<P>> {
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.lock().try_acquire(now)
    }

    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        let _ = self.lock().record(permit, outcome, now);
    }
}

impl<B: Budget> Budget for &Shared<B> {
    fn request_started(&mut self, now: Instant) {
        self.lock().request_started(now);
    }

    fn deposit(&mut self, now: Instant) {
        self.lock().deposit(now);
    }

    fn try_withdraw(&mut self, now: Instant) -> bool {
        self.lock().try_withdraw(now)
    }

    fn retry_finished(&mut self, now: Instant) {
        self.lock().retry_finished(now);
    }

    fn request_finished(&mut self, now: Instant) {
        self.lock().request_finished(now);
    }
}
