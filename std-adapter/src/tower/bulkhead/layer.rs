use fusebox::time::Clock;
use tower_layer::Layer;

use super::BulkheadService;
use crate::tower::{Grpc, Http, HttpClassifier, ResultClassifier, Typed};
use crate::{AdaptiveLimiter, Bulkhead, FastClock};

/// Which limit a [`BulkheadLayer`] applies.
#[derive(Debug)]
pub enum Limit<C: Clock = FastClock> {
    /// A fixed limit with a bounded queue and a maximum wait.
    Fixed(Bulkhead),
    /// An AIMD limit: no queue; the classified results move the limit.
    Adaptive(AdaptiveLimiter<C>),
}

impl<C: Clock> Clone for Limit<C> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(b) => Self::Fixed(b.clone()),
            Self::Adaptive(a) => Self::Adaptive(a.clone()),
        }
    }
}

/// A concurrency limit as a tower layer; every wrapped service and clone
/// shares the one limit.
///
/// ```
/// use fusebox::time::Duration;
/// use fusebox_std::Bulkhead;
/// use fusebox_std::tower::BulkheadLayer;
///
/// // 64 at once, 128 more may wait up to 50 ms each; beyond that, 503.
/// let layer = BulkheadLayer::new(Bulkhead::new("db", 64, 128, Duration::from_millis(50))?);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BulkheadLayer<C: Clock = FastClock, K = HttpClassifier, R = Http> {
    limit: Limit<C>,
    classifier: K,
    reject: R,
}

impl<C: Clock, K: Clone, R: Clone> Clone for BulkheadLayer<C, K, R> {
    fn clone(&self) -> Self {
        Self {
            limit: self.limit.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl BulkheadLayer<FastClock, ResultClassifier> {
    /// A fixed limit; sheds with `503` + `Retry-After`. (A fixed limit
    /// classifies nothing: its classifier, [`ResultClassifier`], fits any
    /// service, HTTP or not.)
    pub fn new(bulkhead: Bulkhead) -> Self {
        Self {
            limit: Limit::Fixed(bulkhead),
            classifier: ResultClassifier,
            reject: Http,
        }
    }
}

impl<C: Clock> BulkheadLayer<C> {
    /// An adaptive limit, moved by each result as [`HttpClassifier`] sees
    /// it (change with [`classifier`](Self::classifier)).
    pub fn adaptive(limiter: AdaptiveLimiter<C>) -> Self {
        Self {
            limit: Limit::Adaptive(limiter),
            classifier: HttpClassifier::new(),
            reject: Http,
        }
    }
}

impl<C: Clock, K, R> BulkheadLayer<C, K, R> {
    /// Classify results with `classifier` (used by the adaptive limit).
    pub fn classifier<K2>(self, classifier: K2) -> BulkheadLayer<C, K2, R> {
        BulkheadLayer {
            limit: self.limit,
            classifier,
            reject: self.reject,
        }
    }

    /// Shed with the typed [`Error`](crate::tower::Error).
    pub fn typed(self) -> BulkheadLayer<C, K, Typed> {
        BulkheadLayer {
            limit: self.limit,
            classifier: self.classifier,
            reject: Typed,
        }
    }

    /// Shed with gRPC responses ([`Grpc`]: `UNAVAILABLE` with the
    /// server's pushback), for tonic servers and channels.
    pub fn grpc(self) -> BulkheadLayer<C, K, Grpc> {
        BulkheadLayer {
            limit: self.limit,
            classifier: self.classifier,
            reject: Grpc,
        }
    }
}

impl<S, C: Clock, K: Clone, R: Clone> Layer<S> for BulkheadLayer<C, K, R> {
    type Service = BulkheadService<S, C, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService {
            inner,
            limit: self.limit.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject.clone(),
        }
    }
}
