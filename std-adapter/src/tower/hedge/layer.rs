use fusebox::time::Clock;
use tower_layer::Layer;

use super::HedgeService;
use crate::{FastClock, HedgePolicy};

/// Hedging as a tower layer; every wrapped service and clone shares the
/// one [`HedgePolicy`] (its histogram, its budget, its counts).
///
/// A request that is safe to repeat (the [`RetryLayer`](crate::tower::RetryLayer)'s
/// rule: an idempotent method, RFC 9110 §9.2.2, or an `Idempotency-Key`)
/// and whose body has a known length of at most
/// [`max_body`](HedgeLayer::max_body) (default 64 KiB) is buffered and
/// sent once; when the policy's hedge time passes (by default p95 of
/// recent latency) and the hedge budget holds a hedge, a copy is sent
/// through a clone of the inner service, up to `max_hedges` copies. The
/// first answer (response or error) is returned; the other copies are
/// dropped, which cancels them: a breaker below records the loser as
/// `Ignored` (its end says nothing of the upstream), a bulkhead below gets
/// its slot back. A request that is not safe to repeat, or whose body is
/// too large or streamed, is sent once, never hedged, and still recorded
/// (its latency is a sample; it pays into the budget).
///
/// Every request's latency to its first answer is recorded in the policy
/// (the hedges are not requests: they spend the budget, never fill it).
/// The counts (hedges sent, won, refused by the budget) are
/// [`HedgePolicy::stats`](crate::HedgePolicy::stats).
///
/// Put it above the breaker, bulkhead and upstream rate limit, so every
/// hedge is counted by them, and just below retry (see [the recommended
/// stack](crate::tower#the-recommended-stack)).
///
/// ```
/// use fusebox::latency::hedge;
/// use fusebox::time::Duration;
/// use fusebox_std::HedgePolicy;
/// use fusebox_std::tower::HedgeLayer;
///
/// // Hedge after p95 of the last 10 s, at most 5 % more requests.
/// let policy = HedgePolicy::new("upstream", hedge::Config::new().budget_percent(5), Duration::from_secs(10))?;
/// let layer = HedgeLayer::new(policy.clone()).max_body(16 << 10);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HedgeLayer<C: Clock = FastClock> {
    policy: HedgePolicy<C>,
    max_body: u64,
}

impl<C: Clock> Clone for HedgeLayer<C> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
            max_body: self.max_body,
        }
    }
}

impl<C: Clock> HedgeLayer<C> {
    /// Hedge with `policy`, bodies up to 64 KiB.
    pub fn new(policy: HedgePolicy<C>) -> Self {
        Self {
            policy,
            max_body: 64 << 10,
        }
    }

    /// Buffer (and so hedge) bodies up to `bytes` long.
    #[must_use]
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// The shared policy (its [`stats`](HedgePolicy::stats)).
    pub fn policy(&self) -> &HedgePolicy<C> {
        &self.policy
    }
}

impl<S, C: Clock> Layer<S> for HedgeLayer<C> {
    type Service = HedgeService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            inner,
            policy: self.policy.clone(),
            max_body: self.max_body,
        }
    }
}
