//! [`CoalesceLayer`]: identical concurrent `GET`/`HEAD` requests share one
//! trip to the inner service (a [`Singleflight`](crate::Singleflight) keyed
//! by method, URI and the headers that vary the answer).
//!
//! For safe, read-only requests only: other methods pass through. The key
//! includes `Authorization`, `Cookie`, `Accept`, `Accept-Encoding` and
//! `Accept-Language` by default ([`vary`](CoalesceLayer::vary)), so two
//! users never share an answer. The leader's response body is buffered
//! (each waiter gets a copy). A leader's error (or a failed body) is not
//! shared: one waiter runs instead. A dropped leader (its client went
//! away) hands over to one waiter, or fails them with `503`
//! ([`OnLeaderDrop`](crate::singleflight::OnLeaderDrop)); at most
//! `max_keys` distinct requests in flight, beyond which requests run
//! uncoalesced (or `503`, [`WhenFull`](crate::singleflight::WhenFull)).

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::CoalesceLayer;
pub use service::CoalesceService;
