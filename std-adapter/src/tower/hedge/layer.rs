use fusebox::time::Clock;
use tower_layer::Layer;

use super::HedgeService;
use crate::{FastClock, HedgePolicy};

/// Hedging as a tower layer (see the [module docs](super)); every wrapped
/// service and clone shares the one [`HedgePolicy`] (its histogram, its
/// budget, its counts).
///
/// ```
/// use fusebox::latency::HedgeConfig;
/// use fusebox::time::Duration;
/// use fusebox_std::HedgePolicy;
/// use fusebox_std::tower::HedgeLayer;
///
/// // Hedge after p95 of the last 10 s, at most 5 % more requests.
/// let policy = HedgePolicy::new("upstream", HedgeConfig::new().budget(5, 0), Duration::from_secs(10))?;
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
