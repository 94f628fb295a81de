use std::sync::Arc;

use crate::idempotency::{Claim, IdempotencyStore};

/// [`IdempotencyService`](super::IdempotencyService)'s future.
pub type ResponseFuture<T, E> = crate::tower::ResponseFuture<T, E>;

/// A claimed key: completed or abandoned explicitly, or abandoned on drop
/// (a cancelled or timed-out request frees its key for the retry).
pub(super) struct KeyGuard<S: IdempotencyStore + 'static> {
    pub(super) store: Arc<S>,
    pub(super) claim: Option<Claim>,
}

impl<S: IdempotencyStore + 'static> KeyGuard<S> {
    pub(super) async fn abandon(mut self) {
        if let Some(claim) = self.claim.take() {
            let _expired_or_unreachable_both_free_the_key = self.store.abandon(claim).await;
        }
    }

    pub(super) async fn complete(mut self, record: Vec<u8>) {
        if let Some(claim) = self.claim.take() {
            let _expired_means_not_stored = self.store.complete(claim, record).await;
        }
    }
}

impl<S: IdempotencyStore + 'static> Drop for KeyGuard<S> {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        // The store is async: abandon on the runtime. Without one (the
        // runtime is shutting down) the key frees itself at the store's
        // in-flight TTL.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let store = Arc::clone(&self.store);
            drop(rt.spawn(async move {
                let _ = store.abandon(claim).await;
            }));
        }
    }
}
