//! `Clone + Send + Sync` handles of every primitive: cloning shares the
//! state (one breaker for every request of a server, one limiter for every
//! route of an axum app).
//!
//! Every handle
//! - has a [`Name`](crate::Name), checked when built (its label in logs and
//!   metrics);
//! - reads its own clock (a type parameter with a default chosen for its
//!   use, see [`clock`](crate::clock)), so no caller can feed it an instant
//!   from another clock;
//! - exposes operations, never a lock guard: no caller can hold the state
//!   across a call into it, so no handle deadlocks itself;
//! - hands every state change to its caller: the methods that make a
//!   transition return it, and the hook given at build time
//!   ([`Hooks`]) sees every one, whichever path made it (the `call`
//!   future, a guard's drop, the retry runner). #13 plugs tracing and
//!   metrics in there.
//!
//! Each handle holds the core's shared variant behind one private seam (a
//! `Cell` type in each file): lock-free for the token bucket, the
//! bulkhead, the adaptive limit and the breaker; one `parking_lot` lock per
//! shard, held for one sans-IO call, for the keyed limiter, the dedup
//! table and the retry budget (their entries do not fit in atomics). A
//! breaker whose config has no lock-free form (beyond the shared
//! breaker's limits, see
//! [`SharedCircuitBreaker`](fusebox::breaker::SharedCircuitBreaker)) holds
//! the core's `&mut` breaker behind a `std::sync::Mutex` instead, behind
//! the same API.

use std::sync::{Arc, Mutex, MutexGuard};

use fusebox::time::Instant;

use crate::Name;

pub mod adaptive;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod dedup;
pub mod keyed;
mod lane;
pub mod latency;
pub mod rate;

/// A callback that sees every event of type `E` a handle makes, with the
/// handle's name and the instant (on the handle's clock) it happened.
/// Called on the thread that made the change, after the state's lock (if
/// any) is released: it may call into the handle.
pub type Hook<E> = Arc<dyn Fn(&Name, E, Instant) + Send + Sync>;

/// The hooks a handle calls: breaker transitions, adaptive-limit changes.
/// Empty by default (the events are still returned to the caller).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use fusebox::breaker::{Config, ConsecutiveFailures, State};
/// use fusebox_std::{Breaker, Hooks};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let hooks = Hooks::new().on_transition(move |name, t, _at| {
///     log.lock().unwrap().push(format!("{name}: {:?} -> {:?}", t.from, t.to));
/// });
/// let breaker = Breaker::builder("db")?.hooks(hooks).build(Config::new(), ConsecutiveFailures::new(1)?)?;
/// breaker.try_acquire()?.failure();
/// assert_eq!(seen.lock().unwrap().as_slice(), ["db: Closed -> Open"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Hooks {
    pub(crate) transition: Option<Hook<fusebox::breaker::Transition>>,
    pub(crate) limit_change: Option<Hook<fusebox::bulkhead::LimitChange>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("transition", &self.transition.is_some())
            .field("limit_change", &self.limit_change.is_some())
            .finish()
    }
}

impl Hooks {
    /// No hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Call `f` with every breaker transition.
    pub fn on_transition(
        mut self,
        f: impl Fn(&Name, fusebox::breaker::Transition, Instant) + Send + Sync + 'static,
    ) -> Self {
        self.transition = Some(Arc::new(f));
        self
    }

    /// Call `f` with every change of an adaptive limit.
    pub fn on_limit_change(
        mut self,
        f: impl Fn(&Name, fusebox::bulkhead::LimitChange, Instant) + Send + Sync + 'static,
    ) -> Self {
        self.limit_change = Some(Arc::new(f));
        self
    }

    #[inline]
    pub(crate) fn transition(
        &self,
        name: &Name,
        t: Option<fusebox::breaker::Transition>,
        at: Instant,
    ) -> Option<fusebox::breaker::Transition> {
        if let (Some(h), Some(t)) = (&self.transition, t) {
            h(name, t, at);
        }
        t
    }

    #[inline]
    pub(crate) fn limit_change(
        &self,
        name: &Name,
        c: Option<fusebox::bulkhead::LimitChange>,
        at: Instant,
    ) -> Option<fusebox::bulkhead::LimitChange> {
        if let (Some(h), Some(c)) = (&self.limit_change, c) {
            h(name, c, at);
        }
        c
    }
}

/// Lock a handle's state for one sans-IO call. A poisoned lock (a panic in
/// a hook or in the core, which has none) is used anyway: the core's state
/// is valid after every call.
#[inline]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
