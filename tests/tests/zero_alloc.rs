//! Zero allocation: construction and every operation of every primitive,
//! `&mut` and shared, allocate nothing.
//!
//! A counting global allocator counts the allocations *of the calling
//! thread* (a thread-local counter), so the test harness's own threads,
//! which allocate as they please, do not count. Two lists are checked:
//!
//! - every scenario of `fusebox-scenarios` (each primitive's whole
//!   timeline, `&mut` and shared; the async runners' too in the feature
//!   run): a primitive joins with its scenario group, which it needs
//!   anyway;
//! - [`PRIMITIVES`]: what the scenarios do not build, such as the sharded
//!   tables with several shards and a server's lock. Adding one is one line
//!   (`entry!("name", || { ... })`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use fusebox::breaker::{CircuitBreaker, Config as BreakerConfig, ConsecutiveFailures};
use fusebox::bulkhead::{AimdConfig, Bulkhead, Outcome, SharedAdaptiveLimit};
use fusebox::dedup::{Config, SharedBegin, SharedDedupTable};
use fusebox::hash::Seed;
use fusebox::rate::{Quota, SharedKeyedLimiter, SharedRetryBudget, SharedTokenBucket, WhenFull};
use fusebox::time::{Duration, Instant};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's allocations.
struct Counting;

fn count() {
    // `try_with`: a thread being torn down has no counter, and counts not.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`; the counter is a
// thread-local `Cell` with a `const` initializer and no destructor, so
// touching it neither allocates nor reenters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations `f` made on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// The counter counts (a test that could not fail would prove nothing).
#[test]
fn the_counter_sees_an_allocation() {
    assert_eq!(allocations(|| drop(black_box(Box::new(7u64)))), 1);
    assert_eq!(allocations(|| drop(black_box(vec![1u8; 3]))), 1);
    assert_eq!(allocations(|| drop(black_box([7u64; 4].to_vec()))), 1);
    assert_eq!(allocations(|| assert_eq!(black_box(7u64), 7)), 0);
    // Another thread's allocations are not ours.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let v: Vec<Box<u64>> = (0..100).map(Box::new).collect();
        rx.recv().ok();
        v.len()
    });
    let ours = allocations(|| std::thread::sleep(std::time::Duration::from_millis(20)));
    tx.send(()).ok();
    assert_eq!(other.join().ok(), Some(100));
    assert_eq!(ours, 0);
}

/// Every scenario, `&mut` and shared variants alike, allocates nothing.
#[test]
fn every_scenario_allocates_nothing() {
    let mut ran = 0;
    let mut offenders = Vec::new();
    for group in fusebox_scenarios::GROUPS {
        for scenario in *group {
            let mut outcome = Ok(());
            let n = allocations(|| outcome = (scenario.run)());
            assert!(outcome.is_ok(), "{}: {:?}", scenario.name, outcome);
            if n != 0 {
                offenders.push((scenario.name, n));
            }
            ran += 1;
        }
    }
    assert!(ran > 100, "only {ran} scenarios ran");
    assert!(offenders.is_empty(), "allocated: {offenders:?}");
}

type Raw = parking_lot::RawMutex;

fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}

/// A primitive's construction and every operation, as the scenarios do not
/// build it. One line each.
macro_rules! entry {
    ($name:expr, $body:expr) => {
        ($name, || {
            let f: fn() = $body;
            f()
        })
    };
}

const PRIMITIVES: &[(&str, fn())] = &[
    entry!("dedup::SharedDedupTable<parking_lot, 4 shards>", || {
        let config = Config::new().in_flight_ttl(Duration::from_ticks(10));
        let table = SharedDedupTable::<Raw, u64, [u8; 16], 4, 64>::new(config, Seed::new(1, 2))
            .expect("valid");
        for key in 0..64u64 {
            if let SharedBegin::New(ticket) = table.begin(key, t(key)) {
                if key % 2 == 0 {
                    let _ = table.complete(ticket, [key as u8; 16], t(key));
                } else {
                    let _ = table.abandon(ticket, t(key));
                }
            }
            let _ = black_box(table.begin(key, t(key)));
            black_box(table.get(&key, t(key)));
        }
        black_box((table.occupied(t(70)), table.metrics(), table.shard_of(&3)));
        table.clear();
    }),
    entry!("rate::SharedKeyedLimiter<parking_lot, 4 shards>", || {
        let q = Quota::new(3, Duration::from_ticks(10), 2).expect("valid");
        let limiter = SharedKeyedLimiter::<Raw, u64, 4, 32>::new(
            q,
            Seed::new(3, 4),
            WhenFull::EvictLeastRecent,
        );
        for i in 0..500u64 {
            let _ = black_box(limiter.try_acquire(i % 150, t(i / 4)));
            let _ = black_box(limiter.try_acquire_n(i % 7, 2, t(i / 4)));
            let _ = black_box(limiter.time_until(&(i % 150), 1, t(i / 4)));
            black_box(limiter.available(&(i % 150), t(i / 4)));
        }
        black_box((limiter.len(), limiter.metrics(), limiter.contains(&1)));
        limiter.clear();
    }),
    entry!("rate::SharedRetryBudget<parking_lot>", || {
        let budget = SharedRetryBudget::<Raw>::new(20, 1, Duration::from_secs(10)).expect("ok");
        for i in 0..100 {
            budget.deposit(Instant::from_millis(i));
            black_box(budget.try_withdraw(Instant::from_millis(i)));
        }
        black_box((budget.available(Instant::from_secs(1)), budget.snapshot()));
    }),
    entry!("bulkhead::SharedAdaptiveLimit", || {
        let limit = SharedAdaptiveLimit::new(AimdConfig::new()).expect("valid");
        for i in 0..100 {
            let outcome = if i % 7 == 0 {
                Outcome::Dropped
            } else {
                Outcome::Success
            };
            black_box(limit.record(outcome, Duration::from_ticks(1), t(i)));
            black_box(limit.record_in_flight(outcome, Duration::from_ticks(1), 3, t(i)));
        }
        black_box((limit.limit(), limit.snapshot()));
    }),
    entry!("rate::SharedTokenBucket", || {
        let bucket = SharedTokenBucket::new(Quota::new(1, Duration::from_ticks(3), 4).expect("ok"));
        for i in 0..100 {
            let _ = black_box(bucket.try_acquire(t(i)));
        }
    }),
    entry!("bulkhead::Bulkhead", || {
        let bulkhead = Bulkhead::new(4).expect("valid");
        let a = bulkhead.try_acquire();
        let b = bulkhead.try_acquire();
        black_box((bulkhead.in_use(), &a, &b));
    }),
    entry!("breaker::CircuitBreaker<ConsecutiveFailures>", || {
        let policy = ConsecutiveFailures::new(3).expect("valid");
        let mut breaker = CircuitBreaker::new(BreakerConfig::new(), policy).expect("valid");
        for i in 0..100 {
            if let Ok(permit) = breaker.try_acquire(t(i)) {
                black_box(breaker.record(permit, fusebox::breaker::Outcome::Failure, t(i)));
            }
        }
    }),
];

/// Every entry of [`PRIMITIVES`] allocates nothing.
#[test]
fn every_primitive_allocates_nothing() {
    let offenders: Vec<(&str, u64)> = PRIMITIVES
        .iter()
        .map(|(name, run)| (*name, allocations(*run)))
        .filter(|(_, n)| *n != 0)
        .collect();
    assert!(offenders.is_empty(), "allocated: {offenders:?}");
}
