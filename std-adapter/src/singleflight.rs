//! [`Singleflight`]: concurrent callers with the same key share one
//! execution and its result (Go's `singleflight`, for cache fills and
//! idempotent reads).
//!
//! | event | what happens |
//! |---|---|
//! | a key's first caller | becomes the *leader*: runs its own future |
//! | more callers, same key, while it runs | wait; get a clone of the leader's value |
//! | the leader finishes | its value goes to every waiter; the key is free again (no caching) |
//! | the leader's future is dropped | [`OnLeaderDrop::TakeOver`]: one waiter becomes leader and runs *its* future (the first run was cancelled, so never two at once); [`OnLeaderDrop::Fail`]: every waiter gets [`FlightError::LeaderDropped`] |
//! | the leader's value is not shareable ([`Singleflight::share_if`], e.g. an error with sharing off) | the leader keeps it; one waiter takes over as above |
//! | `max_keys` keys already in flight | [`WhenFull::RunAlone`]: run uncoalesced; [`WhenFull::Reject`]: [`FlightError::Full`] |
//!
//! Never a hang: a waiter wakes when the leader finishes or is dropped
//! (its drop guard wakes them). Memory: one map entry per key in flight,
//! at most `max_keys`.
//!
//! ```
//! use fusebox_std::Singleflight;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let flights: Singleflight<&str, u32> = Singleflight::new(1024);
//! let (a, b) = tokio::join!(
//!     flights.run("user:7", || async {
//!         tokio::task::yield_now().await; // (the call is in flight)
//!         7
//!     }),
//!     flights.run("user:7", || async { unreachable!("coalesced into the first") }),
//! );
//! assert_eq!((a, b), (Ok(7), Ok(7)));
//! # });
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::telemetry::FlightTelemetry;
use crate::{BuildError, Name};

/// What waiters do when the leader's future is dropped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnLeaderDrop {
    /// One waiter becomes the leader and runs its own future (default).
    #[default]
    TakeOver,
    /// Every waiter gets [`FlightError::LeaderDropped`].
    Fail,
}

/// What a new key does when `max_keys` keys are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Run it alone, not coalesced (default).
    #[default]
    RunAlone,
    /// Refuse it with [`FlightError::Full`].
    Reject,
}

/// Why [`Singleflight::run`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlightError {
    /// The leader was dropped and [`OnLeaderDrop::Fail`] is set.
    LeaderDropped,
    /// `max_keys` keys in flight and [`WhenFull::Reject`] is set.
    Full,
}

impl std::fmt::Display for FlightError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LeaderDropped => f.write_str(
                "the shared call was cancelled before it finished; call again (or set OnLeaderDrop::TakeOver)",
            ),
            Self::Full => f.write_str(
                "too many distinct keys in flight; call again later, raise max_keys, or set WhenFull::RunAlone",
            ),
        }
    }
}

impl std::error::Error for FlightError {}

#[derive(Clone)]
enum Slot<V> {
    Running,
    Done(V),
    // The leader finished without a shareable value, or was dropped.
    Gone,
}

enum Step<V> {
    Wait(watch::Receiver<Slot<V>>),
    Full,
    Lead(u64),
}

struct Flight<V> {
    id: u64,
    tx: watch::Sender<Slot<V>>,
}

struct Inner<K, V> {
    flights: Mutex<(u64, HashMap<K, Flight<V>>)>,
    max_keys: usize,
    on_drop: OnLeaderDrop,
    when_full: WhenFull,
    share_if: fn(&V) -> bool,
    telemetry: FlightTelemetry,
}

/// Request coalescing by key (see the [module docs](self)). `Clone` shares
/// the table.
pub struct Singleflight<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Singleflight<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V> std::fmt::Debug for Singleflight<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Singleflight")
            .field("max_keys", &self.inner.max_keys)
            .field("on_drop", &self.inner.on_drop)
            .field("when_full", &self.inner.when_full)
            .field("name", &self.inner.telemetry.name())
            .finish_non_exhaustive()
    }
}

fn always<V>(_: &V) -> bool {
    true
}

fn is_ok<T, E>(v: &Result<T, E>) -> bool {
    v.is_ok()
}

// Removes the leader's entry (if still its own) and wakes the waiters,
// whether the leader finished or was dropped.
struct Lead<'a, K: Hash + Eq, V> {
    sf: &'a Inner<K, V>,
    key: Option<K>,
    id: u64,
    value: Option<V>,
}

impl<K: Hash + Eq, V> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut g = lock(&self.sf.flights);
        if g.1.get(&key).is_some_and(|f| f.id == self.id) {
            if let Some(flight) = g.1.remove(&key) {
                let slot = match self.value.take() {
                    Some(v) => Slot::Done(v),
                    None => Slot::Gone,
                };
                flight.tx.send_replace(slot);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<K: Hash + Eq + Clone, V: Clone> Singleflight<K, V> {
    /// At most `max_keys` keys in flight; leader drop: take over; full: run
    /// alone; every value shared.
    pub fn new(max_keys: usize) -> Self {
        Self::with(
            max_keys,
            OnLeaderDrop::TakeOver,
            WhenFull::RunAlone,
            always::<V>,
            FlightTelemetry::default(),
        )
    }

    fn with(
        max_keys: usize,
        on_drop: OnLeaderDrop,
        when_full: WhenFull,
        share_if: fn(&V) -> bool,
        telemetry: FlightTelemetry,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                flights: Mutex::new((0, HashMap::new())),
                max_keys,
                on_drop,
                when_full,
                share_if,
                telemetry,
            }),
        }
    }

    /// What waiters do when the leader is dropped.
    pub fn on_leader_drop(self, on_drop: OnLeaderDrop) -> Self {
        let i = &self.inner;
        Self::with(
            i.max_keys,
            on_drop,
            i.when_full,
            i.share_if,
            i.telemetry.clone(),
        )
    }

    /// What a new key does when `max_keys` are in flight.
    pub fn when_full(self, when_full: WhenFull) -> Self {
        let i = &self.inner;
        Self::with(
            i.max_keys,
            i.on_drop,
            when_full,
            i.share_if,
            i.telemetry.clone(),
        )
    }

    /// Share a leader's value with its waiters only if `share` says so;
    /// otherwise the leader keeps it and a waiter takes over (or fails,
    /// per [`OnLeaderDrop`]).
    pub fn share_if(self, share: fn(&V) -> bool) -> Self {
        let i = &self.inner;
        Self::with(
            i.max_keys,
            i.on_drop,
            i.when_full,
            share,
            i.telemetry.clone(),
        )
    }

    /// Name the table and register its series (features `metrics`,
    /// `tracing`; [`telemetry`](crate::telemetry) lists them): runs made
    /// (`fusebox_singleflight_runs_total`), callers that got another's
    /// value (`fusebox_singleflight_calls_coalesced_total`), refusals by
    /// reason (`fusebox_singleflight_calls_rejected_total`, a DEBUG event
    /// each). An unnamed table reports nothing.
    ///
    /// # Errors
    /// [`BuildError::Name`] if `name` is not a valid [`Name`].
    pub fn name(self, name: &str) -> Result<Self, BuildError> {
        Ok(self.named(Name::new(name)?))
    }

    /// [`name`](Self::name) with a checked name.
    pub(crate) fn named(self, name: Name) -> Self {
        let i = &self.inner;
        let telemetry = FlightTelemetry::new(name);
        Self::with(i.max_keys, i.on_drop, i.when_full, i.share_if, telemetry)
    }

    /// Keys in flight now.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.flights).1.len()
    }

    /// Run `f()` for `key`, or share the value of a run of `key` already
    /// in flight. `f` is called at most once, and only when this caller
    /// leads.
    pub async fn run<F, Fut>(&self, key: K, f: F) -> Result<V, FlightError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let sf = &*self.inner;
        let mut f = Some(f);
        loop {
            let step = {
                let mut g = lock(&sf.flights);
                let (next_id, flights) = &mut *g;
                if let Some(flight) = flights.get(&key) {
                    Step::Wait(flight.tx.subscribe())
                } else if flights.len() >= sf.max_keys {
                    Step::Full
                } else {
                    *next_id = next_id.wrapping_add(1);
                    let (tx, _) = watch::channel(Slot::Running);
                    flights.insert(key.clone(), Flight { id: *next_id, tx });
                    Step::Lead(*next_id)
                }
            };
            let mut rx = match step {
                Step::Wait(rx) => rx,
                Step::Full => {
                    return match (sf.when_full, f.take()) {
                        (WhenFull::RunAlone, Some(f)) => {
                            sf.telemetry.ran();
                            Ok(f().await)
                        }
                        _ => {
                            sf.telemetry.rejected(0);
                            Err(FlightError::Full)
                        }
                    };
                }
                Step::Lead(id) => {
                    let Some(f) = f.take() else {
                        sf.telemetry.rejected(1);
                        return Err(FlightError::LeaderDropped);
                    };
                    sf.telemetry.ran();
                    let mut lead = Lead {
                        sf,
                        key: Some(key),
                        id,
                        value: None,
                    };
                    let v = f().await;
                    if (sf.share_if)(&v) {
                        lead.value = Some(v.clone());
                    }
                    drop(lead);
                    return Ok(v);
                }
            };
            let slot = match rx.wait_for(|s| !matches!(s, Slot::Running)).await {
                Ok(s) => (*s).clone(),
                Err(_) => Slot::Gone,
            };
            match slot {
                Slot::Done(v) => {
                    sf.telemetry.coalesced();
                    return Ok(v);
                }
                Slot::Gone if sf.on_drop == OnLeaderDrop::Fail => {
                    sf.telemetry.rejected(1);
                    return Err(FlightError::LeaderDropped);
                }
                // Contend again: the first to lock the table leads.
                Slot::Gone | Slot::Running => {}
            }
        }
    }
}

impl<K: Hash + Eq + Clone, T: Clone, E: Clone> Singleflight<K, Result<T, E>> {
    /// Share errors with waiters (`true`, the default) or only successes
    /// (`false`: after a leader's error one waiter runs again).
    pub fn share_errors(self, share: bool) -> Self {
        if share {
            self.share_if(always)
        } else {
            self.share_if(is_ok::<T, E>)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn one_run_shared_by_all() {
        let sf: Singleflight<u8, u32> = Singleflight::new(8);
        let runs = AtomicU32::new(0);
        let call = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            42
        };
        let (a, b, c) = tokio::join!(sf.run(1, call), sf.run(1, call), sf.run(1, call));
        assert_eq!((a, b, c), (Ok(42), Ok(42), Ok(42)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(sf.in_flight(), 0);
        // Not a cache: the next call runs again.
        assert_eq!(sf.run(1, call).await, Ok(42));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_leader_hands_over_or_fails_never_hangs() {
        for on_drop in [OnLeaderDrop::TakeOver, OnLeaderDrop::Fail] {
            let sf: Singleflight<u8, u32> = Singleflight::new(8).on_leader_drop(on_drop);
            let running = Arc::new(AtomicU32::new(0));
            let max_running = Arc::new(AtomicU32::new(0));
            let mk = |v: u32| {
                let running = Arc::clone(&running);
                let max_running = Arc::clone(&max_running);
                move || async move {
                    let n = running.fetch_add(1, Ordering::SeqCst) + 1;
                    max_running.fetch_max(n, Ordering::SeqCst);
                    struct Dec(Arc<AtomicU32>);
                    impl Drop for Dec {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _dec = Dec(running);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    v
                }
            };
            let leader = sf.run(1, mk(1));
            let waiter = sf.run(1, mk(2));
            let leader = tokio::time::timeout(Duration::from_millis(5), leader);
            let (l, w) = tokio::join!(leader, waiter);
            assert!(l.is_err(), "the leader was cancelled by its timeout");
            match on_drop {
                OnLeaderDrop::TakeOver => assert_eq!(w, Ok(2)),
                OnLeaderDrop::Fail => assert_eq!(w, Err(FlightError::LeaderDropped)),
            }
            assert_eq!(
                max_running.load(Ordering::SeqCst),
                1,
                "never two runs at once"
            );
            assert_eq!(sf.in_flight(), 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn errors_shared_or_not_and_bounded_keys() {
        let sf: Singleflight<u8, Result<u32, &str>> = Singleflight::new(8).share_errors(false);
        let runs = AtomicU32::new(0);
        let fail_first = || async {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            if n == 0 { Err("boom") } else { Ok(n) }
        };
        let (a, b) = tokio::join!(sf.run(1, fail_first), sf.run(1, fail_first));
        assert_eq!(a, Ok(Err("boom")));
        assert_eq!(
            b,
            Ok(Ok(1)),
            "the waiter ran again after the unshared error"
        );

        let sf: Singleflight<u8, Result<u32, &str>> = Singleflight::new(8);
        let (a, b) = tokio::join!(
            sf.run(1, || async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err("boom")
            }),
            sf.run(1, || async { Ok(5) })
        );
        assert_eq!((a, b), (Ok(Err("boom")), Ok(Err("boom"))));

        let sf: Singleflight<u8, u32> = Singleflight::new(1).when_full(WhenFull::Reject);
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            1
        };
        let (a, b) = tokio::join!(sf.run(1, slow), sf.run(2, slow));
        assert_eq!((a, b), (Ok(1), Err(FlightError::Full)));
        let sf: Singleflight<u8, u32> = Singleflight::new(1);
        let (a, b) = tokio::join!(sf.run(1, slow), sf.run(2, slow));
        assert_eq!((a, b), (Ok(1), Ok(1)), "run alone when full");
    }
}
