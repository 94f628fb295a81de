use fusebox::breaker::{Outcome, Permit, Policy, Rejected};
use fusebox::retry::Gate;
use fusebox::time::Clock;

use crate::Breaker;

/// A breaker permit that owns its handle (so a `'static` response future
/// can hold it): records its outcome once; dropped unrecorded, it records
/// `Ignored` (a cancelled call says nothing of the upstream).
#[derive(Debug)]
#[must_use = "record the outcome; a dropped guard records Ignored"]
pub struct OwnedGuard<P: Policy, C: Clock> {
    breaker: Breaker<P, C>,
    permit: Option<Permit>,
}

impl<P: Policy, C: Clock> OwnedGuard<P, C> {
    /// Ask `breaker` for a permit.
    pub fn acquire(breaker: &Breaker<P, C>) -> Result<Self, Rejected> {
        let mut gate = breaker;
        let permit = <&Breaker<P, C> as Gate>::try_acquire(&mut gate, breaker.now())?;
        Ok(Self {
            breaker: breaker.clone(),
            permit: Some(permit),
        })
    }

    /// Record the call's outcome.
    pub fn record(mut self, outcome: Outcome) {
        self.finish(outcome);
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            let mut gate = &self.breaker;
            let now = self.breaker.now();
            <&Breaker<P, C> as Gate>::record(&mut gate, permit, outcome, now);
        }
    }
}

impl<P: Policy, C: Clock> Drop for OwnedGuard<P, C> {
    fn drop(&mut self) {
        self.finish(Outcome::Ignored);
    }
}
