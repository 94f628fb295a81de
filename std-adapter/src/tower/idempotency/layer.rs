use std::sync::Arc;

use http::{HeaderName, Method, StatusCode};
use tower_layer::Layer;

use super::IdempotencyService;
use crate::idempotency::IdempotencyStore;

/// What makes two requests with one key "the same request".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fingerprint {
    /// Method, path and query, and a hash of the body (default; the body
    /// is buffered, up to `max_request_body`).
    #[default]
    MethodPathBody,
    /// Method, path and query (the body streams through untouched).
    MethodPath,
    /// The key alone.
    KeyOnly,
}

#[derive(Debug)]
pub(super) struct Settings {
    pub header: HeaderName,
    pub required: Vec<Method>,
    pub fingerprint: Fingerprint,
    pub max_request_body: usize,
    pub max_stored_body: usize,
    pub store_if: fn(StatusCode) -> bool,
}

/// Final answers: `2xx` and `4xx` (not `5xx`, `1xx`, `3xx`).
pub fn final_answer(status: StatusCode) -> bool {
    status.is_success() || status.is_client_error()
}

/// Idempotency keys as a tower layer over store `S` (see the
/// [module docs](super)); every wrapped service and clone shares the store.
///
/// ```
/// use fusebox::dedup::Config;
/// use fusebox::hash::Seed;
/// use fusebox::time::Duration;
/// use fusebox_std::idempotency::MemoryIdempotencyStore;
/// use fusebox_std::tower::IdempotencyLayer;
///
/// // 4096 keys, answers kept a day, bodies up to 16 KiB stored:
/// // at most about 4096 x (16 KiB + headers) of stored answers.
/// let store = MemoryIdempotencyStore::<4096>::new(
///     Config::new().done_ttl(Duration::from_secs(86_400)),
///     Seed::from_bytes(fusebox_std::os_seed()),
/// )?;
/// let layer = IdempotencyLayer::new(store)
///     .required([http::Method::POST])
///     .max_stored_body(16 * 1024);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IdempotencyLayer<S> {
    store: Arc<S>,
    settings: Arc<Settings>,
}

impl<S> Clone for IdempotencyLayer<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<S: IdempotencyStore> IdempotencyLayer<S> {
    /// The layer over `store`: header `Idempotency-Key`, required for no
    /// method, fingerprint [`Fingerprint::MethodPathBody`], request bodies
    /// up to 1 MiB, stored bodies up to 64 KiB, `2xx`/`4xx` stored.
    pub fn new(store: S) -> Self {
        Self::shared(Arc::new(store))
    }

    /// As [`new`](Self::new), over a store shared with others.
    pub fn shared(store: Arc<S>) -> Self {
        Self {
            store,
            settings: Arc::new(Settings {
                header: HeaderName::from_static("idempotency-key"),
                required: Vec::new(),
                fingerprint: Fingerprint::default(),
                max_request_body: 1 << 20,
                max_stored_body: 64 << 10,
                store_if: final_answer,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut s = Settings {
            header: self.settings.header.clone(),
            required: self.settings.required.clone(),
            ..*self.settings
        };
        f(&mut s);
        self.settings = Arc::new(s);
        self
    }

    /// Requests with these methods must carry a key (`400` without one).
    pub fn required(self, methods: impl IntoIterator<Item = Method>) -> Self {
        let methods: Vec<Method> = methods.into_iter().collect();
        self.with(|s| s.required = methods)
    }

    /// Read the key from `name` instead of `Idempotency-Key`.
    pub fn header(self, name: HeaderName) -> Self {
        self.with(|s| s.header = name)
    }

    /// What fingerprints a request.
    pub fn fingerprint(self, fingerprint: Fingerprint) -> Self {
        self.with(|s| s.fingerprint = fingerprint)
    }

    /// The largest request body buffered for the fingerprint (`413` above).
    pub fn max_request_body(self, bytes: usize) -> Self {
        self.with(|s| s.max_request_body = bytes)
    }

    /// The largest response body stored (larger: stored without it).
    pub fn max_stored_body(self, bytes: usize) -> Self {
        self.with(|s| s.max_stored_body = bytes)
    }

    /// Which statuses are final answers, stored (default [`final_answer`]:
    /// `2xx`, `4xx`); others abandon the key.
    pub fn store_if(self, rule: fn(StatusCode) -> bool) -> Self {
        self.with(|s| s.store_if = rule)
    }

    /// The shared store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }
}

impl<Svc, S> Layer<Svc> for IdempotencyLayer<S> {
    type Service = IdempotencyService<Svc, S>;

    fn layer(&self, inner: Svc) -> Self::Service {
        IdempotencyService {
            inner,
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
        }
    }
}
