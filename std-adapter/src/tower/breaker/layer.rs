use fusebox::breaker::{ConsecutiveFailures, Policy};
use fusebox::time::Clock;
use tower_layer::Layer;

use super::BreakerService;
use crate::tower::{Grpc, Http, HttpClassifier, Typed};
use crate::{Breaker, FastClock};

/// A [`Breaker`] as a tower layer: every service it wraps, and every clone
/// of those, shares the one breaker.
///
/// `K` classifies results ([`HttpClassifier`] by default,
/// [`GrpcClassifier`](crate::tower::GrpcClassifier),
/// [`ResultClassifier`](crate::tower::ResultClassifier)); `R` answers a
/// refusal ([`Http`]: `503` + `Retry-After`; [`Grpc`]: `UNAVAILABLE`
/// with pushback; [`Typed`]: the error).
///
/// ```
/// use fusebox::breaker::{Config, ConsecutiveFailures};
/// use fusebox_std::Breaker;
/// use fusebox_std::tower::BreakerLayer;
///
/// let breaker = Breaker::new("upstream", Config::new(), ConsecutiveFailures::new(5)?)?;
/// let http = BreakerLayer::new(breaker.clone()); // 503 + Retry-After
/// let grpc = BreakerLayer::new(breaker).classifier(fusebox_std::tower::GrpcClassifier::new()).grpc();
/// # let _ = (http, grpc);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BreakerLayer<
    P: Policy = ConsecutiveFailures,
    C: Clock = FastClock,
    K = HttpClassifier,
    R = Http,
> {
    breaker: Breaker<P, C>,
    classifier: K,
    reject: R,
}

impl<P: Policy, C: Clock, K: Clone, R: Clone> Clone for BreakerLayer<P, C, K, R> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<P: Policy, C: Clock> BreakerLayer<P, C> {
    /// An HTTP layer around `breaker`: [`HttpClassifier`], refusals as `503`.
    pub fn new(breaker: Breaker<P, C>) -> Self {
        Self {
            breaker,
            classifier: HttpClassifier::new(),
            reject: Http,
        }
    }
}

impl<P: Policy, C: Clock, K, R> BreakerLayer<P, C, K, R> {
    /// Classify results with `classifier`.
    pub fn classifier<K2>(self, classifier: K2) -> BreakerLayer<P, C, K2, R> {
        BreakerLayer {
            breaker: self.breaker,
            classifier,
            reject: self.reject,
        }
    }

    /// Answer refusals with the typed [`Error`](crate::tower::Error) (the
    /// inner service's error type must be `From<Error>`, as
    /// `tower::BoxError` is). For a service that is not HTTP, also set
    /// `.classifier(ResultClassifier)`.
    pub fn typed(self) -> BreakerLayer<P, C, K, Typed> {
        BreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            reject: Typed,
        }
    }

    /// Answer refusals with gRPC responses ([`Grpc`]: `UNAVAILABLE` with
    /// the server's pushback), for tonic servers and channels; pair it
    /// with `.classifier(GrpcClassifier::new())`.
    pub fn grpc(self) -> BreakerLayer<P, C, K, Grpc> {
        BreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            reject: Grpc,
        }
    }

    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker<P, C> {
        &self.breaker
    }
}

impl<S, P: Policy, C: Clock, K: Clone, R: Clone> Layer<S> for BreakerLayer<P, C, K, R> {
    type Service = BreakerService<S, P, C, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject.clone(),
        }
    }
}
