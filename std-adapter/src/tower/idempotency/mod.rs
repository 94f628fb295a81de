//! [`IdempotencyLayer`]: the IETF draft "The Idempotency-Key HTTP Header
//! Field" (draft-ietf-httpapi-idempotency-key-header) over an
//! [`IdempotencyStore`](crate::idempotency::IdempotencyStore).
//!
//! | request | answer |
//! |---|---|
//! | no `Idempotency-Key`, method not required to have one | passed through untouched |
//! | no key, method in [`required`](IdempotencyLayer::required) | `400` |
//! | key not a structured-field string (`"..."`, printable ASCII, `\"` `\\` escapes) | `400` |
//! | body over [`max_request_body`](IdempotencyLayer::max_request_body) (when the body is fingerprinted) | `413` |
//! | first with this key | runs; a *final* answer (`2xx`, `4xx`: [`store_if`](IdempotencyLayer::store_if)) is stored; a `5xx`, an error, a fusebox refusal from a layer below, or a dropped (timed-out) request abandons the key, so the client may retry |
//! | same key, first still running | `409` + `Retry-After: 1` |
//! | same key, stored, same fingerprint | the stored answer replayed (status, headers, body) with `Idempotent-Replayed: true` |
//! | same key, stored, different fingerprint | `422` |
//! | store full (every slot in flight or stored within its TTL) or unreachable | `503` + `Retry-After` |
//!
//! The fingerprint ([`Fingerprint`]) is the method, the path and query,
//! and a 128-bit SipHash of the body (or less, configurable). A stored
//! answer is replayed until the store's done TTL ends and never evicted
//! earlier (the memory store under [`Eviction::KeepDone`], the dedup
//! config's default, keeps done entries: a full table answers `503`, it
//! never forgets a stored payment).
//!
//! [`Eviction::KeepDone`]: fusebox::dedup::Eviction::KeepDone A concurrent duplicate gets
//! `409` even if its fingerprint differs (the running one's is not known
//! yet).
//!
//! Memory: the store's capacity `N` times (key + `max_stored_body` +
//! the response's status and headers). A response body larger than
//! `max_stored_body` is sent in full to the first client but stored
//! without its body; a replay then answers the status and headers with an
//! empty body and `Idempotent-Replayed: truncated`. While a request runs,
//! its body (at most `max_request_body`) and response are held once more.

mod future;
mod layer;
mod record;
mod service;

pub use future::ResponseFuture;
pub use layer::{Fingerprint, IdempotencyLayer};
pub use service::IdempotencyService;
