//! loom models of the shared (`&self`) primitives: every interleaving of
//! 2-3 threads (bounded preemption), with `crate::atomic` switched to
//! loom's types. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p fusebox --features sync --release --test loom
//! ```
//!
//! Without `--cfg loom` this file compiles to nothing.
#![cfg(all(loom, feature = "sync"))]

use fusebox::breaker::{
    Config, ConsecutiveFailures, CountWindow, FailureCount, Outcome, ProbeRule,
    SharedCircuitBreaker, SharedPolicy, State, TimeWindow, Transition,
};
use fusebox::bulkhead::SharedBulkhead;
use fusebox::rate::{Quota, SharedTokenBucket};
use fusebox::time::{Duration, Instant};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Bounded preemption keeps each model to seconds; 3 preemptions find the
/// known bugs of CAS protocols (lost updates, ABA over one step).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}

fn config(k: u16) -> Config {
    Config::new()
        .open_duration(Duration::from_ticks(10))
        .half_open_probes(k)
        .probe_timeout(Duration::from_ticks(100))
}

const TO_HALF_OPEN: Option<Transition> = Some(Transition {
    from: State::Open,
    to: State::HalfOpen,
});

/// Open past its duration; `threads` threads acquire at once: at most K
/// probes are admitted, and exactly one acquire makes the transition.
fn at_most_k_probes(k: u16, threads: usize) {
    model(move || {
        let b = Arc::new(
            SharedCircuitBreaker::new(config(k), ConsecutiveFailures::new(1).unwrap()).unwrap(),
        );
        let p = b.try_acquire(t(0)).unwrap();
        b.record(p, Outcome::Failure, t(0)).unwrap();
        let admitted = Arc::new(AtomicUsize::new(0));
        let moved = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let (b, admitted, moved) = (b.clone(), admitted.clone(), moved.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire(t(10)) {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        if p.transition() == TO_HALF_OPEN {
                            moved.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let admitted = admitted.load(Ordering::SeqCst);
        assert_eq!(admitted, usize::from(k).min(threads));
        assert_eq!(moved.load(Ordering::SeqCst), 1);
        // `admitted` is derived from recorded permits: the probes are out.
        assert_eq!(b.metrics().admitted, 1);
    });
}

#[test]
fn breaker_admits_one_probe_of_two_racing() {
    at_most_k_probes(1, 2);
}

#[test]
fn breaker_admits_two_probes_of_three_racing() {
    at_most_k_probes(2, 3);
}

/// Two permits of one Closed generation recorded as failures at once,
/// threshold 1: exactly one trips, the other is stale and changes nothing.
fn one_trip<P: SharedPolicy + Send + Sync + 'static>(
    policy: impl Fn() -> P + Sync + Send + 'static,
) {
    model(move || {
        let b = Arc::new(SharedCircuitBreaker::new(config(1), policy()).unwrap());
        let p1 = b.try_acquire(t(0)).unwrap();
        let p2 = b.try_acquire(t(0)).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record(p2, Outcome::Failure, t(1)));
        let mine = b.record(p1, Outcome::Failure, t(1));
        let theirs = h.join().unwrap();
        assert_eq!(
            usize::from(mine.is_some()) + usize::from(theirs.is_some()),
            1
        );
        let m = b.metrics();
        assert_eq!((m.trips, m.failures, m.stale), (1, 1, 1));
        assert_eq!(b.state(t(1)), State::Open);
        // Open from the trip's instant: admits again at 1 + 10.
        assert_eq!(b.retry_after(t(1)), Some(Duration::from_ticks(10)));
    });
}

#[test]
fn breaker_consecutive_trips_once_and_the_late_permit_is_stale() {
    one_trip(|| ConsecutiveFailures::new(1).unwrap());
}

#[test]
fn breaker_count_window_trips_once_and_the_late_permit_is_stale() {
    one_trip(|| {
        CountWindow::<2>::builder()
            .failure_rate(50)
            .minimum_calls(1)
            .build()
            .unwrap()
    });
}

#[test]
fn breaker_time_window_trips_once_and_the_late_permit_is_stale() {
    one_trip(|| {
        TimeWindow::<2>::builder(Duration::from_ticks(4))
            .failure_rate(50)
            .minimum_calls(1)
            .build()
            .unwrap()
    });
}

#[test]
fn breaker_failure_count_trips_once_and_the_late_permit_is_stale() {
    one_trip(|| {
        FailureCount::new(1)
            .unwrap()
            .interval(Duration::from_ticks(5))
            .unwrap()
    });
}

#[test]
fn breaker_consecutive_with_interval_trips_once_and_the_late_permit_is_stale() {
    one_trip(|| {
        ConsecutiveFailures::new(1)
            .unwrap()
            .interval(Duration::from_ticks(5))
            .unwrap()
    });
}

/// A trip racing a reset and an acquire: whatever the order, the trip is
/// never lost (it is reported, counted and either visible or undone by a
/// reset that reports it), and the acquire sees a state some order
/// explains.
fn trip_races_reset<P: SharedPolicy + Send + Sync + 'static>(
    policy: impl Fn() -> P + Sync + Send + 'static,
) {
    model(move || {
        let b = Arc::new(SharedCircuitBreaker::new(config(1), policy()).unwrap());
        let p = b.try_acquire(t(0)).unwrap();
        let (b1, b2) = (b.clone(), b.clone());
        let resetter = thread::spawn(move || b1.reset());
        let acquirer = thread::spawn(move || b2.try_acquire(t(2)).is_ok());
        let tripped = b.record(p, Outcome::Failure, t(1));
        let reset = resetter.join().unwrap();
        let admitted = acquirer.join().unwrap();
        let state = b.state(t(2));
        let m = b.metrics();
        match tripped {
            // The trip came first (a reset first would have made the
            // permit stale): the reset reports leaving Open.
            Some(_) => {
                assert_eq!(m.trips, 1);
                assert_eq!(
                    reset,
                    Some(Transition {
                        from: State::Open,
                        to: State::Closed
                    })
                );
                assert_eq!(state, State::Closed);
            }
            // The reset came first: the permit was stale.
            None => {
                assert_eq!((m.trips, m.stale), (0, 1));
                assert_eq!(reset, None);
                assert_eq!(state, State::Closed);
                assert!(admitted);
            }
        }
    });
}

#[test]
fn breaker_consecutive_trip_is_never_lost_to_a_reset() {
    trip_races_reset(|| ConsecutiveFailures::new(1).unwrap());
}

#[test]
fn breaker_count_window_trip_is_never_lost_to_a_reset() {
    trip_races_reset(|| {
        CountWindow::<2>::builder()
            .failure_rate(50)
            .minimum_calls(1)
            .build()
            .unwrap()
    });
}

#[test]
fn breaker_time_window_trip_is_never_lost_to_a_reset() {
    trip_races_reset(|| {
        TimeWindow::<2>::builder(Duration::from_ticks(4))
            .failure_rate(50)
            .minimum_calls(1)
            .build()
            .unwrap()
    });
}

#[test]
fn breaker_failure_count_trip_is_never_lost_to_a_reset() {
    trip_races_reset(|| FailureCount::new(1).unwrap());
}

/// A success and a failure recorded at once on a time window that needs
/// both to judge (minimum 2 calls, 50 %): the trip comes exactly once,
/// whichever lands second.
#[test]
fn breaker_time_window_counts_both_racing_calls() {
    model(|| {
        let w = TimeWindow::<2>::builder(Duration::from_ticks(4))
            .failure_rate(50)
            .minimum_calls(2)
            .build()
            .unwrap();
        let b = Arc::new(SharedCircuitBreaker::new(config(1), w).unwrap());
        let p1 = b.try_acquire(t(0)).unwrap();
        let p2 = b.try_acquire(t(0)).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record(p2, Outcome::Success, t(1)));
        let a = b.record(p1, Outcome::Failure, t(1));
        let c = h.join().unwrap();
        assert_eq!(usize::from(a.is_some()) + usize::from(c.is_some()), 1);
        let m = b.metrics();
        assert_eq!((m.trips, m.failures, m.successes, m.stale), (1, 1, 1, 0));
    });
}

/// Two calls in different buckets (2 ticks each, 2 buckets) recorded at
/// once, the later one moving the window on (it clears the bucket it
/// enters) while the other's bucket write may still be pending: both are
/// counted once, in an order some linearization explains.
#[test]
fn breaker_time_window_counts_racing_calls_across_buckets() {
    model(|| {
        let w = TimeWindow::<2>::builder(Duration::from_ticks(4))
            .failure_rate(100)
            .minimum_calls(1)
            .build()
            .unwrap();
        let b = Arc::new(SharedCircuitBreaker::new(config(1), w).unwrap());
        // A call in epoch 0, so the window has something to expire.
        let p0 = b.try_acquire(t(0)).unwrap();
        assert_eq!(b.record(p0, Outcome::Success, t(0)), None);
        let p1 = b.try_acquire(t(1)).unwrap();
        let p2 = b.try_acquire(t(1)).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record(p2, Outcome::Success, t(4)));
        assert_eq!(b.record(p1, Outcome::Success, t(1)), None);
        assert_eq!(h.join().unwrap(), None);
        // At epoch 2 the bucket of epoch 0 is gone: the t=4 call, and the
        // t=1 call if it came second (judged then at epoch 2).
        let calls = b.window(t(4)).calls;
        assert!(calls == 1 || calls == 2, "{calls}");
        assert_eq!(b.metrics().successes, 3);
        // Epoch 3: only the epoch-2 bucket is left, the same calls.
        assert_eq!(b.window(t(6)).calls, calls);
        assert_eq!(b.window(t(8)).calls, 0);
    });
}

/// The bucket writes are helped home by later callers: one helper may be
/// preempted in the middle of its write while another applies the same
/// operation, counts its own call and helps that one home (its window
/// read helps) into the same bucket. The late helper must then write
/// nothing: every call is in the window exactly once.
#[test]
fn breaker_time_window_late_helper_writes_nothing() {
    model(|| {
        let w = TimeWindow::<2>::builder(Duration::from_ticks(4))
            .failure_rate(100)
            .minimum_calls(1)
            .build()
            .unwrap();
        let b = Arc::new(SharedCircuitBreaker::new(config(1), w).unwrap());
        let p1 = b.try_acquire(t(0)).unwrap();
        let p2 = b.try_acquire(t(0)).unwrap();
        let p3 = b.try_acquire(t(0)).unwrap();
        // Its bucket write is left to the next caller.
        assert_eq!(b.record(p1, Outcome::Success, t(0)), None);
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record(p2, Outcome::Success, t(0)));
        assert_eq!(b.record(p3, Outcome::Success, t(0)), None);
        let seen = b.window(t(0)).calls;
        assert!(seen == 2 || seen == 3, "{seen}");
        assert_eq!(h.join().unwrap(), None);
        assert_eq!(b.window(t(0)).calls, 3);
    });
}

/// Two failures of a failure count racing the end of its interval: each
/// is counted in the interval some order puts it in, never twice, never
/// lost (threshold 2: trips only if both land in one interval).
#[test]
fn breaker_failure_count_racing_the_interval_end() {
    model(|| {
        let fc = FailureCount::new(2)
            .unwrap()
            .interval(Duration::from_ticks(5))
            .unwrap();
        let b = Arc::new(SharedCircuitBreaker::new(config(1), fc).unwrap());
        let p0 = b.try_acquire(t(0)).unwrap();
        assert_eq!(b.record(p0, Outcome::Success, t(0)), None); // [0, 5)
        let p1 = b.try_acquire(t(1)).unwrap();
        let p2 = b.try_acquire(t(1)).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record(p2, Outcome::Failure, t(5)));
        let a = b.record(p1, Outcome::Failure, t(4));
        let c = h.join().unwrap();
        let m = b.metrics();
        assert_eq!(m.failures + m.stale, 2);
        // t=4 first: it lands in [0, 5), the t=5 one begins [5, 10): no
        // trip. t=5 first: [5, 10) begins, the t=4 one is judged at 5 and
        // joins it: the second failure trips.
        match (a, c) {
            (None, None) => assert_eq!(b.window(t(5)).failures, 1),
            (Some(_), None) => assert_eq!(b.state(t(5)), State::Open),
            other => panic!("{other:?}"),
        }
    });
}

/// Probes per round, K = 2, S = 2: the first probe succeeds while another
/// thread asks twice; the round admits exactly one more probe, whichever
/// order (in flight, the success would have freed a slot for a third).
#[test]
fn breaker_per_round_admits_k_per_round() {
    model(|| {
        let c = config(2)
            .half_open_successes(2)
            .probe_rule(ProbeRule::PerRound);
        let b =
            Arc::new(SharedCircuitBreaker::new(c, ConsecutiveFailures::new(1).unwrap()).unwrap());
        let p = b.try_acquire(t(0)).unwrap();
        b.record(p, Outcome::Failure, t(0)).unwrap();
        let first = b.try_acquire(t(10)).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || {
            let x = b2.try_acquire(t(10));
            let y = b2.try_acquire(t(10));
            usize::from(x.is_ok()) + usize::from(y.is_ok())
        });
        assert_eq!(b.record(first, Outcome::Success, t(10)), None);
        assert_eq!(h.join().unwrap(), 1);
        assert_eq!(b.state(t(10)), State::HalfOpen);
    });
}

/// A success and a failure recorded at once on a count window that needs
/// both to judge (minimum 2 calls, 50 %): the trip comes exactly once,
/// whichever lands second, and the window holds both.
#[test]
fn breaker_count_window_counts_both_racing_calls() {
    model(|| {
        let b = Arc::new(
            SharedCircuitBreaker::new(
                config(1),
                CountWindow::<4>::builder()
                    .failure_rate(50)
                    .minimum_calls(2)
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        );
        let p1 = b.try_acquire(t(0)).unwrap();
        let p2 = b.try_acquire(t(0)).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record(p2, Outcome::Success, t(1)));
        let a = b.record(p1, Outcome::Failure, t(1));
        let c = h.join().unwrap();
        assert_eq!(usize::from(a.is_some()) + usize::from(c.is_some()), 1);
        let m = b.metrics();
        assert_eq!((m.trips, m.failures, m.successes, m.stale), (1, 1, 1, 0));
    });
}

/// The lazy-clock path (`try_acquire_with` / `record_with`, as
/// `fusebox_std::Breaker` takes it) on a full, healthy count window: a
/// success recorded by the raw-word fast path races a failure that trips
/// (one of two failed: 50 %). The trip comes exactly once; the success is
/// counted before it or found stale after it, never lost; only the trip
/// reads the clock.
#[test]
fn breaker_count_window_lazy_success_races_a_trip() {
    model(|| {
        let b = settled_count_window();
        let unread = || -> Instant { panic!("no clock read on this path") };
        let p1 = b.try_acquire_with(unread).unwrap();
        let p2 = b.try_acquire_with(unread).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record_with(p2, Outcome::Success, unread));
        let trip = b.record_with(p1, Outcome::Failure, || t(1));
        assert_eq!(h.join().unwrap(), None);
        assert_eq!(trip.map(|c| c.to), Some(State::Open));
        let m = b.metrics();
        assert_eq!((m.trips, m.failures), (1, 1));
        assert_eq!(m.successes + m.stale, 3);
        assert!(m.stale <= 1);
        assert!(b.try_acquire_with(|| t(1)).is_err());
        assert_eq!(b.retry_after(t(1)), Some(Duration::from_ticks(10)));
    });
}

/// A `CountWindow<2>` breaker (50 %, at least 2 calls) whose window holds
/// two successes: full, no failure, settled.
fn settled_count_window() -> Arc<SharedCircuitBreaker<CountWindow<2>>> {
    let b = Arc::new(
        SharedCircuitBreaker::new(
            config(1),
            CountWindow::<2>::builder()
                .failure_rate(50)
                .minimum_calls(2)
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    for _ in 0..2 {
        let p = b.try_acquire(t(0)).unwrap();
        assert_eq!(b.record(p, Outcome::Success, t(0)), None);
    }
    b
}

/// A success in a settled window (full, no failure: judged on the window
/// word alone, without the control word) races `isolate` (a manual exit,
/// sealed in the window word first): the success is counted before the
/// exit or found stale after it, never lost and never counted into the
/// forced state.
#[test]
fn breaker_count_window_settled_success_races_isolate() {
    model(|| {
        let b = settled_count_window();
        let unread = || -> Instant { panic!("no clock read on this path") };
        let p = b.try_acquire_with(unread).unwrap();
        let b2 = b.clone();
        let h = thread::spawn(move || b2.record_with(p, Outcome::Success, unread));
        let forced = b.isolate();
        assert_eq!(h.join().unwrap(), None);
        assert_eq!(forced.map(|c| c.to), Some(State::ForcedOpen));
        let m = b.metrics();
        assert_eq!(m.successes + m.stale, 3);
        assert!(m.stale <= 1);
        assert_eq!(b.state(t(0)), State::ForcedOpen);
    });
}

/// Burst 1: two threads take a token at the same instant; exactly one
/// gets it.
#[test]
fn token_bucket_admits_one_of_two_racing() {
    model(|| {
        let q = Quota::per_period(1, Duration::from_ticks(10))
            .build()
            .unwrap();
        let bucket = Arc::new(SharedTokenBucket::new(q));
        let b2 = bucket.clone();
        let h = thread::spawn(move || b2.try_acquire(t(5)).is_ok());
        let a = bucket.try_acquire(t(5)).is_ok();
        let c = h.join().unwrap();
        assert_eq!(usize::from(a) + usize::from(c), 1);
        // The next token is due at 15, whoever won.
        assert!(bucket.try_acquire(t(14)).is_err());
        assert!(bucket.try_acquire(t(15)).is_ok());
    });
}

/// 1 token per 2^60 ticks, burst 2: capacity 2^61 units (62 bits of
/// offset), so the 8-byte word holds the latest instants 0, 1 and 2 only
/// and an instant of 3 or more moves the state to the 16-byte word.
fn narrow_bucket() -> SharedTokenBucket {
    let q = Quota::per_period(1, Duration::from_ticks(1 << 60))
        .allow_burst(2)
        .build()
        .unwrap();
    SharedTokenBucket::new(q)
}

/// After two admissions at `a` and `b` ticks (in either order), the wait
/// for a third token asked at `at`: the sequential bucket's answer.
fn third_wait(first: u64, second: u64, at: u64) -> Duration {
    let q = Quota::per_period(1, Duration::from_ticks(1 << 60))
        .allow_burst(2)
        .build()
        .unwrap();
    let mut b = fusebox::rate::TokenBucket::new(q);
    assert!(b.try_acquire(t(first)).is_ok());
    assert!(b.try_acquire(t(second)).is_ok());
    b.try_acquire(t(at)).unwrap_err().retry_after.unwrap()
}

/// Two requests at `a` and `b` ticks race on a fresh narrow bucket: both
/// are admitted, and the state after them is that of one sequential order
/// (the wait for a third token tells the two apart).
fn race_two(a: u64, b: u64) {
    model(move || {
        let bucket = Arc::new(narrow_bucket());
        let b2 = bucket.clone();
        let h = thread::spawn(move || b2.try_acquire(t(a)).is_ok());
        let mine = bucket.try_acquire(t(b)).is_ok();
        assert!(h.join().unwrap() && mine);
        let last = a.max(b);
        let wait = bucket
            .try_acquire(t(last))
            .unwrap_err()
            .retry_after
            .unwrap();
        assert!(
            wait == third_wait(a, b, last) || wait == third_wait(b, a, last),
            "{wait:?}"
        );
    });
}

/// One request inside the 8-byte word's range races one that moves the
/// state: nothing lost or counted twice by the move.
#[test]
fn token_bucket_move_races_a_small_request() {
    race_two(1, 5);
}

/// Two requests both past the range race to move the state: one move.
#[test]
fn token_bucket_two_movers_race() {
    race_two(4, 6);
}

/// A mover that read the 8-byte word before another thread changed it and
/// then moved the state itself: the stale raise changes nothing, and the
/// stale mover's own request is decided on the moved state.
#[test]
fn token_bucket_stale_mover_changes_nothing() {
    model(|| {
        let bucket = Arc::new(narrow_bucket());
        let b2 = bucket.clone();
        let h = thread::spawn(move || {
            // Inside the range, then past it: this thread moves the state.
            let first = b2.try_acquire(t(1)).is_ok();
            let second = b2.try_acquire(t(7)).is_ok();
            (first, second)
        });
        let mine = bucket.try_acquire(t(4)).is_ok();
        let (first, second) = h.join().unwrap();
        // Three requests for a burst of 2 with no refill worth a token:
        // exactly two admitted, whatever the order.
        assert_eq!(
            usize::from(mine) + usize::from(first) + usize::from(second),
            2
        );
        assert!(bucket.try_acquire(t(7)).is_err());
    });
}

/// Limit 1: two threads take a slot and drop it; never both inside, and
/// the slot is free at the end.
#[test]
fn bulkhead_never_admits_over_its_limit() {
    model(|| {
        let bh = Arc::new(SharedBulkhead::new(1).unwrap());
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (bh, inside) = (bh.clone(), inside.clone());
                thread::spawn(move || {
                    if let Ok(permit) = bh.try_acquire() {
                        let n = inside.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(n, 0, "two callers inside a bulkhead of 1");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(bh.try_acquire().is_ok(), "the slot is free again");
    });
}

/// Real-time order across a sealed trip: once any thread has seen the
/// count window's trip (here through `state`), an acquire that starts after
/// that must be rejected, even while the tripping thread has not yet
/// completed the exit in the control word.
#[test]
fn breaker_count_window_admits_nothing_after_a_seen_trip() {
    model(|| {
        use loom::sync::atomic::AtomicBool;
        let b = Arc::new(
            SharedCircuitBreaker::new(
                config(1),
                CountWindow::<2>::builder()
                    .failure_rate(50)
                    .minimum_calls(1)
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        );
        let seen = Arc::new(AtomicBool::new(false));
        let p = b.try_acquire(t(0)).unwrap();
        let (b1, seen1) = (b.clone(), seen.clone());
        let watcher = thread::spawn(move || {
            if b1.state(t(1)) == State::Open {
                seen1.store(true, Ordering::SeqCst);
            }
        });
        let (b2, seen2) = (b.clone(), seen.clone());
        let caller = thread::spawn(move || {
            if seen2.load(Ordering::SeqCst) {
                assert!(b2.try_acquire(t(1)).is_err(), "admitted after a seen trip");
            }
        });
        assert!(b.record(p, Outcome::Failure, t(1)).is_some());
        watcher.join().unwrap();
        caller.join().unwrap();
    });
}

// ---------------------------------------------------------------------------
// The sharded tables: a shard is the `&mut` table behind a lock of the
// binary's `lock_api::RawMutex`; here a spin lock on a loom atomic, so that
// loom explores every interleaving of the threads around and under it.
// ---------------------------------------------------------------------------

/// A spin lock over a loom `AtomicBool`. `lock_api` wants a `const INIT`,
/// which loom's atomics do not have: the flag is made on first use (every
/// model below takes each shard's lock once on its own thread first, so no
/// two threads race to make it).
struct LoomRaw(std::sync::OnceLock<loom::sync::atomic::AtomicBool>);

impl LoomRaw {
    fn flag(&self) -> &loom::sync::atomic::AtomicBool {
        self.0
            .get_or_init(|| loom::sync::atomic::AtomicBool::new(false))
    }
}

// SAFETY: `try_lock` takes the flag from false to true with an acquiring
// CAS, so one holder at a time; `unlock` (called only by the holder, as
// `lock_api` guarantees) releases it with a releasing store.
unsafe impl lock_api::RawMutex for LoomRaw {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = LoomRaw(std::sync::OnceLock::new());
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        while !self.try_lock() {
            thread::yield_now();
        }
    }

    fn try_lock(&self) -> bool {
        self.flag()
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    unsafe fn unlock(&self) {
        self.flag().store(false, Ordering::Release);
    }
}

/// The keyed limiter's slot protocol: two threads take the one token of
/// the same key at once (burst 1) in a shard whose other slot is taken:
/// the key admits exactly once, the table holds both keys, and the key's
/// next token is due one period later. (Two contenders: with the main
/// thread spinning too the spin lock's branches exceed loom's bound.)
#[test]
fn keyed_limiter_slot_admits_one_of_two_racing() {
    use fusebox::hash::Seed;
    use fusebox::rate::{SharedKeyedLimiter, WhenFull};
    model(|| {
        let q = Quota::per_period(1, Duration::from_ticks(10))
            .build()
            .unwrap();
        let limiter = Arc::new(SharedKeyedLimiter::<LoomRaw, u32, 1, 2>::new(
            q,
            Seed::new(1, 2),
            WhenFull::EvictLeastRecent,
        ));
        assert_eq!(limiter.len(), 0); // makes the shard's lock flag
        assert!(limiter.try_acquire(8, t(5)).is_ok());
        let admitted = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (l, admitted) = (limiter.clone(), admitted.clone());
                thread::spawn(move || {
                    if l.try_acquire(7, t(5)).is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 1);
        assert_eq!(limiter.len(), 2);
        assert!(limiter.try_acquire(7, t(14)).is_err());
        assert!(limiter.try_acquire(7, t(15)).is_ok());
    });
}

/// The dedup shard protocol: two threads begin the same key at once;
/// exactly one gets the ticket (the other sees the work in flight), and
/// once it completes, a later begin gets the stored value by copy.
#[test]
fn dedup_shard_hands_one_ticket_and_then_the_value() {
    use fusebox::dedup::{Config as DedupConfig, SharedBegin, SharedDedupTable};
    use fusebox::hash::Seed;
    model(|| {
        let config = DedupConfig::new().in_flight_ttl(Duration::from_ticks(100));
        let table = Arc::new(
            SharedDedupTable::<LoomRaw, u32, u32, 1, 4>::new(config, Seed::new(3, 4)).unwrap(),
        );
        assert_eq!(table.get(&1, t(0)), None); // makes the shard's lock flag
        let won = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (table, won) = (table.clone(), won.clone());
                thread::spawn(move || match table.begin(1, t(1)) {
                    SharedBegin::New(ticket) => {
                        won.fetch_add(1, Ordering::SeqCst);
                        table.complete(ticket, 42, t(2)).unwrap();
                    }
                    SharedBegin::InFlight | SharedBegin::Done(42) => {}
                    other => panic!("unexpected {other:?}"),
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(won.load(Ordering::SeqCst), 1);
        assert!(matches!(table.begin(1, t(3)), SharedBegin::Done(42)));
    });
}
