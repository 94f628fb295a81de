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
//!
//! The handles run with fusebox-std's `tracing` and `metrics` features on
//! (this crate enables them), under a global [`sinks::Visiting`] subscriber
//! that enables every event and span and formats every field (a no-op
//! subscriber would let the macros skip building the events), and a global
//! [`sinks::Atomics`] recorder whose counters, gauges and histograms are
//! atomics (a handle's series are registered when it is built, which may
//! allocate; the calls must not).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use fusebox::breaker::{
    CircuitBreaker, Config as BreakerConfig, ConsecutiveFailures, CountWindow, FailureCount,
    Outcome as BreakerOutcome, ProbeRule, SharedCircuitBreaker, SharedPolicy, TimeWindow,
};
use fusebox::bulkhead::{AimdConfig, Outcome, SharedAdaptiveLimit, SharedBulkhead};
use fusebox::dedup::{Config, SharedBegin, SharedDedupTable};
use fusebox::hash::Seed;
use fusebox::rate::{
    Quota, RetryBudget, SharedKeyedLimiter, SharedRetryBudget, SharedTokenBucket, WhenFull,
};
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
        let q = Quota::per_period(3, Duration::from_ticks(10))
            .allow_burst(2)
            .build()
            .expect("valid");
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
        let budget = SharedRetryBudget::<Raw>::new(
            RetryBudget::builder()
                .percent_can_retry(20)
                .min_retries_per_sec(1)
                .ttl(Duration::from_secs(10))
                .build()
                .expect("ok"),
        );
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
        let bucket = SharedTokenBucket::new(
            Quota::per_period(1, Duration::from_ticks(3))
                .allow_burst(4)
                .build()
                .expect("ok"),
        );
        for i in 0..100 {
            let _ = black_box(bucket.try_acquire(t(i)));
        }
    }),
    entry!("bulkhead::SharedBulkhead", || {
        let bulkhead = SharedBulkhead::new(4).expect("valid");
        let a = bulkhead.try_acquire();
        let b = bulkhead.try_acquire();
        black_box((bulkhead.in_use(), &a, &b));
    }),
    entry!(
        "breaker::SharedCircuitBreaker<TimeWindow<8>>, per round",
        || {
            let policy = TimeWindow::<8>::builder(Duration::from_ticks(64))
                .failure_rate(50)
                .minimum_calls(2)
                .build()
                .expect("valid");
            shared_breaker_ops(
                BreakerConfig::new()
                    .half_open_probes(2)
                    .probe_rule(ProbeRule::PerRound),
                policy,
            );
        }
    ),
    entry!(
        "breaker::SharedCircuitBreaker<FailureCount>, interval",
        || {
            let policy = FailureCount::new(2)
                .and_then(|p| p.interval(Duration::from_ticks(10)))
                .expect("valid");
            shared_breaker_ops(BreakerConfig::new(), policy);
        }
    ),
    entry!(
        "breaker::SharedCircuitBreaker<ConsecutiveFailures>, interval, linear",
        || {
            let policy = ConsecutiveFailures::new(2)
                .and_then(|p| p.interval(Duration::from_ticks(10)))
                .expect("valid");
            let config = BreakerConfig::new().open_duration_linear(
                Duration::from_ticks(1),
                Duration::from_ticks(1),
                Duration::from_ticks(500),
            );
            shared_breaker_ops(config, policy);
        }
    ),
    entry!("breaker::SharedCircuitBreaker<CountWindow<16>>", || {
        let policy = CountWindow::<16>::builder()
            .failure_rate(50)
            .minimum_calls(4)
            .build()
            .expect("valid");
        shared_breaker_ops(BreakerConfig::new(), policy);
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

/// Construction and every operation of a shared breaker: trips, probes,
/// closes, the manual states, the read-outs.
fn shared_breaker_ops<P: SharedPolicy>(config: BreakerConfig, policy: P) {
    let b = SharedCircuitBreaker::new(config.open_duration(Duration::from_ticks(3)), policy)
        .expect("valid");
    for i in 0..300u64 {
        let outcome = match i % 4 {
            0 | 1 => BreakerOutcome::Failure,
            2 => BreakerOutcome::Ignored,
            _ => BreakerOutcome::Success,
        };
        if let Ok(permit) = b.try_acquire(t(i)) {
            black_box(b.record(permit, outcome, t(i)));
        }
        black_box((
            b.state(t(i)),
            b.retry_after(t(i)),
            b.metrics(),
            b.window(t(i)),
        ));
        if i % 97 == 0 {
            black_box((b.isolate(), b.force_closed(), b.reset()));
        }
    }
}

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

// ---------------------------------------------------------------------------
// fusebox-std handles (#12): building a handle allocates its shared state
// once (one `Arc`; the name is kept inline); every call after that
// allocates nothing. Clocks and hooks are built before counting (a
// `ManualClock` and a hook are `Arc`s of the caller's), and handed in as
// clones, which do not allocate.

/// A subscriber and a recorder that allocate nothing per event or value,
/// and count what they saw (so the test can check they saw something).
mod sinks {
    use std::fmt::{self, Write as _};
    use std::sync::Arc;
    use std::sync::Once;
    use std::sync::atomic::{AtomicU64, Ordering};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };
    use tracing::field::{Field, Visit};
    use tracing::level_filters::LevelFilter;
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Subscriber};

    /// Events seen, fields visited, bytes their values formatted to.
    pub static EVENTS: AtomicU64 = AtomicU64::new(0);
    pub static FIELDS: AtomicU64 = AtomicU64::new(0);
    pub static BYTES: AtomicU64 = AtomicU64::new(0);
    /// Counter increments, gauge sets and histogram samples recorded.
    pub static VALUES: AtomicU64 = AtomicU64::new(0);

    /// Enables everything; formats every field of every event and span
    /// into a byte count.
    pub struct Visiting {
        next_span: AtomicU64,
    }

    struct Bytes;
    impl fmt::Write for Bytes {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            BYTES.fetch_add(s.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    struct Fields;
    impl Visit for Fields {
        fn record_debug(&mut self, _: &Field, value: &dyn fmt::Debug) {
            FIELDS.fetch_add(1, Ordering::Relaxed);
            let _ = write!(Bytes, "{value:?}");
        }
    }

    impl Subscriber for Visiting {
        fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> Interest {
            Interest::always()
        }
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn max_level_hint(&self) -> Option<LevelFilter> {
            Some(LevelFilter::TRACE)
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            span.record(&mut Fields);
            Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Fields);
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            EVENTS.fetch_add(1, Ordering::Relaxed);
            event.record(&mut Fields);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// One atomic per series (registering allocates it; recording does not).
    struct Cell(AtomicU64);

    impl CounterFn for Cell {
        fn increment(&self, value: u64) {
            VALUES.fetch_add(1, Ordering::Relaxed);
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            VALUES.fetch_add(1, Ordering::Relaxed);
            self.0.fetch_max(value, Ordering::Relaxed);
        }
    }

    impl metrics::GaugeFn for Cell {
        fn increment(&self, _: f64) {
            VALUES.fetch_add(1, Ordering::Relaxed);
        }
        fn decrement(&self, _: f64) {
            VALUES.fetch_add(1, Ordering::Relaxed);
        }
        fn set(&self, value: f64) {
            VALUES.fetch_add(1, Ordering::Relaxed);
            self.0.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    impl HistogramFn for Cell {
        fn record(&self, value: f64) {
            VALUES.fetch_add(1, Ordering::Relaxed);
            // The sum of the samples, in nanoseconds.
            self.0.fetch_add((value * 1e9) as u64, Ordering::Relaxed);
        }
    }

    /// Counters, gauges and histograms as atomics.
    pub struct Atomics;

    impl Recorder for Atomics {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Cell(AtomicU64::new(0))))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Cell(AtomicU64::new(0))))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Cell(AtomicU64::new(0))))
        }
    }

    /// Install both, once per process.
    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            tracing::subscriber::set_global_default(Visiting {
                next_span: AtomicU64::new(0),
            })
            .expect("the only subscriber");
            metrics::set_global_recorder(Atomics).expect("the only recorder");
        });
    }
}

mod handles {
    use std::future::Future;
    use std::hint::black_box;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::task::{Context, Poll, Waker};

    use fusebox::backoff::{Backoff, Config as BackoffConfig};
    use fusebox::breaker::{
        Config as BreakerConfig, ConsecutiveFailures, CountWindow, FailureCount,
        Outcome as BreakerOutcome, Policy, State, TimeWindow,
    };
    use fusebox::bulkhead::{AimdConfig, Outcome};
    use fusebox::dedup::Config;
    use fusebox::rate::{Quota, WhenFull};
    use fusebox::time::{Duration, Instant};
    use fusebox_std::telemetry::RetryTelemetry;
    use fusebox_std::{
        AdaptiveLimiter, AdaptiveTimeout, Begin, Breaker, Bulkhead, ConcurrentRetryBudget,
        DedupTable, HedgePolicy, Hooks, KeyedLimiter, ManualClock, RateLimiter, Retry, RetryBudget,
    };

    use super::{allocations, sinks};

    /// Poll `f` once with a waker that does nothing: the calls measured
    /// here complete on their first poll (a free slot, a token there, a
    /// refusal at once).
    fn poll_once<F: Future>(f: F) -> Poll<F::Output> {
        let mut f = pin!(f);
        f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Build with `build` (counted), then run `calls` on the handle
    /// (counted): returns (allocations to build, allocations of the calls).
    fn measure<H>(build: impl FnOnce() -> H, calls: impl FnOnce(&H)) -> (u64, u64) {
        let mut handle = None;
        let built = allocations(|| handle = Some(build()));
        let handle = handle.expect("built");
        let called = allocations(|| calls(&handle));
        drop(handle);
        (built, called)
    }

    /// Every call of a breaker handle over policy `P`, through every path
    /// (guard, `call`, `call_with`, a dropped guard, the manual states),
    /// with the hook counting transitions.
    fn breaker_calls<P: Policy>(b: &Breaker<P, ManualClock>, clock: &ManualClock) {
        for i in 0..200u64 {
            clock.advance(Duration::from_ticks(1));
            match b.try_acquire() {
                Ok(g) if i % 3 == 0 => black_box(g.failure()),
                Ok(g) if i % 5 == 0 => {
                    drop(g); // cancelled: Ignored
                    None
                }
                Ok(g) => black_box(g.success()),
                Err(r) => {
                    black_box(r.retry_after);
                    None
                }
            };
            let _ = black_box(poll_once(b.call(async { Err::<u32, u8>(1) })));
            let _ =
                black_box(poll_once(b.call_with(async { Ok::<u32, u8>(2) }, |_| {
                    BreakerOutcome::Success
                })));
            black_box((b.state(), b.retry_after(), b.metrics(), b.config(), b.now()));
        }
        black_box(b.isolate());
        black_box(b.reset());
        black_box(b.force_closed());
        black_box(b.reset());
        black_box(b.name().as_str());
    }

    fn breaker<P: Policy>(policy: P, config: BreakerConfig) -> (u64, u64, u32, State) {
        let clock = ManualClock::new(Instant::from_ticks(0));
        let seen = Arc::new(AtomicU32::new(0));
        let count = Arc::clone(&seen);
        let hooks = Hooks::new().on_transition(move |_, _, _| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        let mut last = State::Closed;
        let (built, called) = measure(
            || {
                Breaker::builder("db")
                    .expect("name")
                    .clock(clock.clone())
                    .hooks(hooks.clone())
                    .build(config, policy)
                    .expect("valid")
            },
            |b| {
                breaker_calls(b, &clock);
                last = b.state();
            },
        );
        (built, called, seen.load(Ordering::Relaxed), last)
    }

    #[test]
    fn every_handle_allocates_once_to_build_and_never_to_call() {
        sinks::install();
        let seen = |s: &std::sync::atomic::AtomicU64| s.load(Ordering::Relaxed);
        let (events, fields, values) = (
            seen(&sinks::EVENTS),
            seen(&sinks::FIELDS),
            seen(&sinks::VALUES),
        );
        let open = Duration::from_ticks(4);
        let mut report: Vec<(&str, u64, u64)> = Vec::new();

        // The breaker: lock-free (every policy), and the locked fallback
        // (a config past the shared word's limits). The hook sees
        // transitions on every path.
        let config = BreakerConfig::new().open_duration(open);
        let runs = [
            (
                "Breaker<ConsecutiveFailures>",
                breaker(ConsecutiveFailures::new(2).expect("valid"), config),
            ),
            (
                "Breaker<CountWindow<16>>",
                breaker(
                    CountWindow::<16>::builder()
                        .failure_rate(50)
                        .minimum_calls(4)
                        .build()
                        .expect("valid"),
                    config,
                ),
            ),
            (
                "Breaker<TimeWindow<8>>",
                breaker(
                    TimeWindow::<8>::builder(Duration::from_ticks(64))
                        .failure_rate(50)
                        .minimum_calls(4)
                        .build()
                        .expect("valid"),
                    config,
                ),
            ),
            (
                "Breaker<FailureCount> with an interval",
                breaker(
                    FailureCount::new(2)
                        .and_then(|p| p.interval(Duration::from_ticks(16)))
                        .expect("valid"),
                    config,
                ),
            ),
            (
                "Breaker<ConsecutiveFailures>, a schedule growing for ever (locked)",
                breaker(
                    ConsecutiveFailures::new(2).expect("valid"),
                    config.open_duration_linear(open, Duration::from_ticks(1), Duration::MAX),
                ),
            ),
        ];
        for (name, (built, called, transitions, _)) in runs {
            // Trips, probes, closes, manual states: many transitions, all
            // seen by the hook.
            assert!(transitions >= 10, "{name}: the hook saw {transitions}");
            report.push((name, built, called));
        }

        let clock = ManualClock::new(Instant::from_ticks(0));
        let quota = Quota::per_period(1, Duration::from_ticks(3))
            .allow_burst(4)
            .build()
            .expect("valid");

        let (b, c) = measure(
            || RateLimiter::with_clock("rate", quota, clock.clone()).expect("valid"),
            |r| {
                for i in 0..200 {
                    clock.advance(Duration::from_ticks(i % 2));
                    let _ = black_box(r.try_acquire());
                    let _ = black_box(r.try_acquire_n(2));
                    let _ = black_box(r.time_until(1));
                    black_box((r.available(), r.quota(), r.now()));
                }
            },
        );
        report.push(("RateLimiter", b, c));

        let (b, c) = measure(
            || {
                KeyedLimiter::<u64, 64, _>::with_clock(
                    "keyed",
                    quota,
                    WhenFull::EvictLeastRecent,
                    clock.clone(),
                )
                .expect("valid")
            },
            |k| {
                for i in 0..500u64 {
                    clock.advance(Duration::from_ticks(i % 2));
                    let _ = black_box(k.try_acquire(i % 150));
                    let _ = black_box(k.try_acquire_n(i % 7, 2));
                    let _ = black_box(k.time_until(&(i % 150), 1));
                    black_box((k.available(&(i % 150)), k.len(), k.is_empty()));
                }
                black_box((k.metrics(), k.quota(), k.now()));
            },
        );
        report.push(("KeyedLimiter<u64, 64>", b, c));

        let (b, c) = measure(
            || {
                RetryBudget::<10, _>::with_clock(
                    "budget",
                    fusebox::rate::RetryBudget::builder()
                        .percent_can_retry(20)
                        .min_retries_per_sec(1)
                        .ttl(Duration::from_secs(10))
                        .build()
                        .expect("valid"),
                    clock.clone(),
                )
                .expect("valid")
            },
            |r| {
                for i in 0..200 {
                    clock.advance(Duration::from_millis(i % 3));
                    r.deposit();
                    black_box(r.try_withdraw());
                    black_box((r.available(), r.slice_duration()));
                }
            },
        );
        report.push(("RetryBudget<10>", b, c));

        let (b, c) = measure(
            || {
                AdaptiveLimiter::with_clock(
                    "adaptive",
                    AimdConfig::new(),
                    clock.clone(),
                    Hooks::new(),
                )
                .expect("valid")
            },
            |a| {
                for i in 0..200u32 {
                    clock.advance(Duration::from_ticks(1));
                    if let Ok(p) = a.try_acquire() {
                        let outcome = if i % 7 == 0 {
                            Outcome::Dropped
                        } else {
                            Outcome::Success
                        };
                        black_box(p.record(outcome));
                    }
                    black_box((a.limit(), a.in_use()));
                }
            },
        );
        report.push(("AdaptiveLimiter", b, c));

        let (b, c) = measure(
            || {
                let config = Config::new().in_flight_ttl(Duration::from_ticks(10));
                DedupTable::<u64, [u8; 16], 64, _>::with_clock("dedup", config, clock.clone())
                    .expect("valid")
            },
            |d| {
                for key in 0..200u64 {
                    clock.advance(Duration::from_ticks(1));
                    match d.begin(key % 80) {
                        Begin::New(work) if key % 2 == 0 => {
                            let _ = black_box(work.complete([key as u8; 16]));
                        }
                        Begin::New(work) if key % 3 == 0 => {
                            black_box(work.abandon());
                        }
                        Begin::New(work) => drop(work), // dropped: abandoned
                        other => {
                            let _ = black_box(other);
                        }
                    }
                    black_box((d.get(&(key % 80)), d.occupied()));
                }
                black_box(d.metrics());
            },
        );
        report.push(("DedupTable<u64, [u8; 16], 64>", b, c));

        // The latency handles' sync calls (`hedge(op)` boxes each copy, and
        // the layers box their futures, as every layer does).
        let (b, c) = measure(
            || {
                let config = fusebox::latency::hedge::Config::new().min_samples(5);
                HedgePolicy::with_clock("hedge", config, Duration::from_secs(10), clock.clone())
                    .expect("valid")
            },
            |h| {
                for i in 0..200u64 {
                    clock.advance(Duration::from_ticks(i % 5));
                    let t0 = h.now();
                    black_box(h.next_hedge_at(t0, 0));
                    black_box(h.try_hedge());
                    h.record(Duration::from_ticks(100 + i % 17));
                    if i % 9 == 0 {
                        h.record_won();
                    }
                    black_box((h.delay(), h.available(), h.stats()));
                }
            },
        );
        report.push(("HedgePolicy", b, c));

        let (b, c) = measure(
            || {
                let ms = Duration::from_millis;
                let config = fusebox::latency::timeout::Config::new(ms(100), ms(1), ms(1_000))
                    .min_samples(5);
                AdaptiveTimeout::with_clock(
                    "timeout",
                    config,
                    Duration::from_secs(10),
                    clock.clone(),
                )
                .expect("valid")
            },
            |t| {
                for i in 0..200u64 {
                    clock.advance(Duration::from_ticks(i % 5));
                    black_box(t.timeout());
                    if i % 13 == 0 {
                        t.record_timeout(t.current());
                    } else {
                        t.record(Duration::from_ticks(100 + i % 17));
                    }
                    black_box(t.stats());
                }
            },
        );
        report.push(("AdaptiveTimeout", b, c));

        // The bulkhead's async `acquire` needs a runtime (built before
        // counting); its fast path and its refusals complete at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let _entered = rt.enter();
        let (b, c) = measure(
            || Bulkhead::new("pool", 2, 0, fusebox::time::Duration::from_millis(5)).expect("valid"),
            |p| {
                for _ in 0..100 {
                    let a = black_box(p.try_acquire());
                    let b = black_box(poll_once(p.acquire()));
                    // Full, queue of 0: refused at once.
                    let _ = black_box(poll_once(p.acquire()));
                    black_box((p.limit(), p.in_use(), p.available(), p.waiting()));
                    let _ = black_box((p.max_queue(), p.max_wait(), p.set_limit(2)));
                    drop((a, b));
                }
            },
        );
        report.push(("Bulkhead", b, c));

        let (b, c) = measure(
            || RateLimiter::with_clock("waits", quota, clock.clone()).expect("valid"),
            |r| {
                for _ in 0..100 {
                    // A token there: at once; none within 0 ticks: refused
                    // at once, reserving nothing.
                    let _ = black_box(poll_once(r.until_ready(Duration::from_ticks(0))));
                }
            },
        );
        report.push(("RateLimiter::until_ready", b, c));

        // The concurrency retry budget, through the runner's `Budget`
        // events (its in-flight gauges set at each).
        let (b, c) = measure(
            || {
                ConcurrentRetryBudget::new(
                    "concurrent",
                    fusebox::rate::ConcurrentRetryBudget::builder()
                        .budget_percent(20)
                        .min_retry_concurrency(2)
                        .build()
                        .expect("valid"),
                )
                .expect("valid")
            },
            |r| {
                use fusebox::retry::Budget as _;
                let mut r = r;
                for i in 0..200u64 {
                    let now = Instant::from_ticks(i);
                    r.request_started(now);
                    if black_box(r.try_withdraw(now)) {
                        r.retry_finished(now);
                    }
                    // Some requests stay in flight, so some withdrawals
                    // are refused.
                    if i % 3 != 0 {
                        r.request_finished(now);
                    }
                    r.deposit(now);
                    black_box((r.limit(), r.requests_in_flight(), r.retries_in_flight()));
                }
            },
        );
        report.push(("ConcurrentRetryBudget", b, c));

        // A retry run with its telemetry (a span per run and per attempt,
        // two counters): three attempts, zero delays, on the runtime built
        // above. The runtime's `block_on` and tokio's timer allocate
        // nothing for it either.
        let telemetry = RetryTelemetry::new("runs").expect("name");
        let run = || {
            let schedule =
                Backoff::new(BackoffConfig::constant(Duration::from_ticks(0)), 1).expect("valid");
            let r = rt.block_on(
                Retry::new(schedule)
                    .clock(clock.clone())
                    .telemetry(&telemetry)
                    .run(
                        async |attempt| {
                            if attempt < 3 {
                                Err(attempt)
                            } else {
                                Ok(attempt)
                            }
                        },
                        |_| fusebox::retry::Verdict::Retry,
                    ),
            );
            assert_eq!(black_box(r), Ok(3));
        };
        run(); // the timer's first use
        report.push(("Retry::run with RetryTelemetry", 0, allocations(run)));

        // `Singleflight` allocates per run by design (a map entry and a
        // channel per key in flight); naming it (its counters, a refusal's
        // event) adds nothing to that.
        let flights = |named: bool| {
            let f = fusebox_std::Singleflight::<u64, u64>::new(1)
                .when_full(fusebox_std::singleflight::WhenFull::Reject);
            if named {
                f.name("flights").expect("name")
            } else {
                f
            }
        };
        let per_runs = |f: &fusebox_std::Singleflight<u64, u64>| {
            allocations(|| {
                for i in 0..50u64 {
                    let r = rt.block_on(async {
                        tokio::join!(
                            f.run(i, || async {
                                tokio::task::yield_now().await;
                                i
                            }),
                            f.run(i, || async { i + 1 }),
                            f.run(i + 1, || async { i + 2 }),
                        )
                    });
                    // Led, coalesced, refused (one key in flight at most).
                    let full = Err(fusebox_std::singleflight::FlightError::Full);
                    assert_eq!(black_box(r), (Ok(i), Ok(i), full));
                }
            })
        };
        let (plain, named) = (flights(false), flights(true));
        let (plain, named) = (per_runs(&plain), per_runs(&named));
        assert!(plain > 0, "the runs allocate their table entries");
        assert_eq!(
            named, plain,
            "a named Singleflight allocates as an unnamed one"
        );

        // The breakers reported through both: events with their fields
        // formatted, and metric values.
        assert!(seen(&sinks::EVENTS) > events + 100, "events");
        assert!(seen(&sinks::FIELDS) > fields + 500, "fields");
        assert!(seen(&sinks::BYTES) > 0, "bytes");
        assert!(seen(&sinks::VALUES) > values + 1000, "metric values");

        // A handle with metrics registers its series when built: its own
        // `Arc`, the name's `Arc<str>` shared by every label, per series
        // the key's label list and this recorder's handle, and for the
        // limiters the boxed list of refusal counters. Breaker: 18 series,
        // 38, and a lock-free one its boxed per-thread success lanes, 39;
        // bulkhead: 6, 15; rate limiter, keyed limiter, both retry
        // budgets, adaptive limiter, dedup table: 4, 11. The latency
        // handles allocate their one `Arc`. No call allocates.
        let to_build = |name: &str| match name {
            n if n.starts_with("Breaker") && n.ends_with("(locked)") => 38,
            n if n.starts_with("Breaker") => 39,
            "Bulkhead" => 15,
            "HedgePolicy" | "AdaptiveTimeout" => 1,
            n if n.starts_with("Retry::run") => 0,
            _ => 11,
        };
        let wrong: Vec<_> = report
            .iter()
            .filter(|(name, built, called)| *called != 0 || *built != to_build(name))
            .collect();
        assert!(
            wrong.is_empty(),
            "(handle, allocations to build, allocations of the calls): {wrong:?} of {report:?}"
        );
    }
}
