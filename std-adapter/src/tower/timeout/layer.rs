use fusebox::time::Clock;
use tower_layer::Layer;

use super::AdaptiveTimeoutService;
use crate::tower::{Grpc, Http, Typed};
use crate::{AdaptiveTimeout, FastClock};

/// An [`AdaptiveTimeout`] as a tower layer; every wrapped service and
/// clone shares the one handle. `R` answers a request that timed out
/// ([`Http`]: `504`; [`Typed`]: the error).
///
/// Each request gets the timeout of the moment it starts
/// (`clamp(quantile x num / den + margin, min, max)`, the initial value
/// until `min_samples` samples); its latency is recorded when it answers
/// (a response or an error), and the timeout itself when it runs past it
/// (it took at least that long: recording nothing would let the quantile
/// fall as the tail grows). A request that ran past its timeout is dropped
/// (cancelled: whatever it held below is given back) and answered with
/// `504` +
/// [`ErrorKind::Timeout`](crate::tower::ErrorKind::Timeout) ([`Http`](crate::tower::Http)),
/// or the typed [`Error`](crate::tower::Error) (`.typed()`); a breaker
/// above counts either as a failure.
///
/// Where to put it: as the **timeout per attempt** (innermost) of [the
/// recommended stack](crate::tower#the-recommended-stack), in place of a fixed
/// `tower::timeout::TimeoutLayer`; keep a fixed timeout outermost as the
/// client's whole budget.
///
/// ```
/// use fusebox::latency::timeout;
/// use fusebox::time::Duration;
/// use fusebox_std::AdaptiveTimeout;
/// use fusebox_std::tower::AdaptiveTimeoutLayer;
///
/// let ms = Duration::from_millis;
/// let config = timeout::Config::new(ms(1_000), ms(20), ms(2_000)).min_samples(50);
/// let timeout = AdaptiveTimeout::new("upstream", config, Duration::from_secs(30))?;
/// let layer = AdaptiveTimeoutLayer::new(timeout.clone());
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AdaptiveTimeoutLayer<C: Clock = FastClock, R = Http> {
    timeout: AdaptiveTimeout<C>,
    reject: R,
}

impl<C: Clock, R: Clone> Clone for AdaptiveTimeoutLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            timeout: self.timeout.clone(),
            reject: self.reject.clone(),
        }
    }
}

impl<C: Clock> AdaptiveTimeoutLayer<C> {
    /// An HTTP layer around `timeout`: a request past it is answered `504`.
    pub fn new(timeout: AdaptiveTimeout<C>) -> Self {
        Self {
            timeout,
            reject: Http,
        }
    }
}

impl<C: Clock, R> AdaptiveTimeoutLayer<C, R> {
    /// Answer a timeout with the typed [`Error`](crate::tower::Error) (the
    /// inner service's error type must be `From<Error>`, as
    /// `tower::BoxError` is).
    pub fn typed(self) -> AdaptiveTimeoutLayer<C, Typed> {
        AdaptiveTimeoutLayer {
            timeout: self.timeout,
            reject: Typed,
        }
    }

    /// Answer a timeout with a gRPC response ([`Grpc`]:
    /// `DEADLINE_EXCEEDED`), for tonic servers and channels.
    pub fn grpc(self) -> AdaptiveTimeoutLayer<C, Grpc> {
        AdaptiveTimeoutLayer {
            timeout: self.timeout,
            reject: Grpc,
        }
    }

    /// The shared handle (its [`stats`](AdaptiveTimeout::stats)).
    pub fn timeout(&self) -> &AdaptiveTimeout<C> {
        &self.timeout
    }
}

impl<S, C: Clock, R: Clone> Layer<S> for AdaptiveTimeoutLayer<C, R> {
    type Service = AdaptiveTimeoutService<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveTimeoutService {
            inner,
            timeout: self.timeout.clone(),
            reject: self.reject.clone(),
        }
    }
}
