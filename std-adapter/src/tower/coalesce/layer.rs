use std::sync::Arc;

use http::{HeaderName, header};
use tower_layer::Layer;

use super::CoalesceService;
use super::service::{Flights, is_shareable};
use crate::singleflight::Singleflight;
use crate::singleflight::{OnLeaderDrop, WhenFull};
use crate::{BuildError, Name};

/// Request coalescing as a tower layer; every wrapped service and clone
/// shares the one table of requests in flight (see the
/// [module docs](super)).
///
/// ```
/// use fusebox_std::tower::CoalesceLayer;
///
/// let layer = CoalesceLayer::new().max_keys(10_000);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct CoalesceLayer {
    max_keys: usize,
    on_drop: OnLeaderDrop,
    when_full: WhenFull,
    vary: Arc<[HeaderName]>,
    name: Option<Name>,
    flights: Flights,
}

impl Default for CoalesceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CoalesceLayer {
    /// 1024 keys in flight at most (then run alone); a dropped leader
    /// hands over; default vary headers.
    pub fn new() -> Self {
        Self {
            flights: build(1024, OnLeaderDrop::TakeOver, WhenFull::RunAlone, None),
            name: None,
            max_keys: 1024,
            on_drop: OnLeaderDrop::TakeOver,
            when_full: WhenFull::RunAlone,
            vary: Arc::from(vec![
                header::AUTHORIZATION,
                header::COOKIE,
                header::ACCEPT,
                header::ACCEPT_ENCODING,
                header::ACCEPT_LANGUAGE,
            ]),
        }
    }

    /// The most distinct requests in flight.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self.flights = build(
            self.max_keys,
            self.on_drop,
            self.when_full,
            self.name.as_ref(),
        );
        self
    }

    /// What waiters do when the leader is dropped.
    pub fn on_leader_drop(mut self, on_drop: OnLeaderDrop) -> Self {
        self.on_drop = on_drop;
        self.flights = build(
            self.max_keys,
            self.on_drop,
            self.when_full,
            self.name.as_ref(),
        );
        self
    }

    /// What a new key does when `max_keys` are in flight.
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.when_full = when_full;
        self.flights = build(
            self.max_keys,
            self.on_drop,
            self.when_full,
            self.name.as_ref(),
        );
        self
    }

    /// Name the layer's table and register its series (features
    /// `metrics`, `tracing`): requests that ran, requests coalesced into
    /// another's trip, refusals (see [`telemetry`](crate::telemetry)).
    ///
    /// ```
    /// use fusebox_std::tower::CoalesceLayer;
    ///
    /// let layer = CoalesceLayer::new().name("catalog")?;
    /// # let _ = layer;
    /// # Ok::<(), fusebox_std::BuildError>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::Name`] if `name` is not a valid [`Name`].
    pub fn name(mut self, name: &str) -> Result<Self, BuildError> {
        self.name = Some(Name::new(name)?);
        self.flights = build(
            self.max_keys,
            self.on_drop,
            self.when_full,
            self.name.as_ref(),
        );
        Ok(self)
    }

    /// Distinct requests in flight now, shared by every service this
    /// layer made (each one led by one caller, the others waiting on it):
    /// zero when no request is running, so a leak check.
    pub fn in_flight(&self) -> usize {
        self.flights.in_flight()
    }

    /// The request headers that are part of the key.
    pub fn vary(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.vary = headers.into_iter().collect::<Vec<_>>().into();
        self
    }
}

fn build(
    max_keys: usize,
    on_drop: OnLeaderDrop,
    when_full: WhenFull,
    name: Option<&Name>,
) -> Flights {
    let flights = Singleflight::new(max_keys)
        .on_leader_drop(on_drop)
        .when_full(when_full)
        .share_if(is_shareable);
    match name {
        Some(n) => flights.named(n.clone()),
        None => flights,
    }
}

impl<S> Layer<S> for CoalesceLayer {
    type Service = CoalesceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CoalesceService {
            inner,
            flights: self.flights.clone(),
            vary: Arc::clone(&self.vary),
        }
    }
}
