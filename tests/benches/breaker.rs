//! Circuit breaker: fusebox against recloser 1.x and failsafe 1.x, side by
//! side in one run. `cargo bench -p fusebox-tests --bench breaker`, then
//! `python3 tests/bench_table.py breaker` for the table with ratios.
//!
//! fusebox is `&mut` and sans-IO: `now` is supplied by the caller (a counter
//! here). The `+clock` rows add a `StdClock` read per call, the cost a
//! server pays that reads `std::time::Instant` for every call, for a
//! like-for-like comparison with crates that read the clock themselves.
//! recloser and failsafe are `&self` (atomics and a lock inside).

use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, CountWindow, Outcome};
use fusebox::time::{Clock, Duration, Instant};
use fusebox_std::StdClock;

/// What a caller reads of a rejection. Every contender hands `black_box` a
/// scalar: a multi-word value (a `Result` holding an `Option<Duration>`)
/// costs a store-forwarding stall of a few nanoseconds that measures the
/// harness, not the breaker.
fn retry_ticks(r: Result<fusebox::breaker::Permit, fusebox::breaker::Rejected>) -> u64 {
    match r {
        Ok(_) => panic!("the breaker under test is open"),
        Err(rejected) => rejected.retry_after.map_or(0, |d| d.as_ticks()),
    }
}

fn closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker_closed_success");

    let mut b = CircuitBreaker::new(Config::new(), ConsecutiveFailures::new(5).unwrap()).unwrap();
    let mut now = 0u64;
    g.bench_function("fusebox_consecutive", |bench| {
        bench.iter(|| {
            now = now.wrapping_add(1);
            let t = black_box(Instant::from_ticks(now));
            let p = b.try_acquire(t).unwrap();
            black_box(b.record(p, black_box(Outcome::Success), t).is_some())
        })
    });

    let mut b =
        CircuitBreaker::new(Config::new(), CountWindow::<100>::new(50, 100).unwrap()).unwrap();
    g.bench_function("fusebox_count_window_100", |bench| {
        bench.iter(|| {
            now = now.wrapping_add(1);
            let t = black_box(Instant::from_ticks(now));
            let p = b.try_acquire(t).unwrap();
            black_box(b.record(p, black_box(Outcome::Success), t).is_some())
        })
    });

    let clock = StdClock::new();
    let mut b =
        CircuitBreaker::new(Config::new(), CountWindow::<100>::new(50, 100).unwrap()).unwrap();
    g.bench_function("fusebox_count_window_100+clock", |bench| {
        bench.iter(|| {
            let t = clock.now();
            let p = b.try_acquire(t).unwrap();
            black_box(b.record(p, black_box(Outcome::Success), t).is_some())
        })
    });

    let r = recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .build();
    g.bench_function("recloser", |bench| {
        bench.iter(|| black_box(r.call(|| black_box(Ok::<u32, u32>(1))).is_ok()))
    });

    let f = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            5,
            failsafe::backoff::constant(StdDuration::from_secs(30)),
        ))
        .build();
    g.bench_function("failsafe", |bench| {
        use failsafe::CircuitBreaker as _;
        bench.iter(|| black_box(f.call(|| black_box(Ok::<u32, u32>(1))).is_ok()))
    });
    g.finish();
}

fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker_open_reject");

    let config = Config::new().open_duration(Duration::from_ticks(u64::MAX / 2));
    let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1).unwrap()).unwrap();
    let p = b.try_acquire(Instant::from_ticks(0)).unwrap();
    b.record(p, Outcome::Failure, Instant::from_ticks(0));
    let mut now = 0u64;
    g.bench_function("fusebox", |bench| {
        bench.iter(|| {
            now = now.wrapping_add(1);
            black_box(retry_ticks(
                b.try_acquire(black_box(Instant::from_ticks(now))),
            ))
        })
    });

    let clock = StdClock::new();
    let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1).unwrap()).unwrap();
    let p = b.try_acquire(clock.now()).unwrap();
    b.record(p, Outcome::Failure, clock.now());
    g.bench_function("fusebox+clock", |bench| {
        bench.iter(|| black_box(retry_ticks(b.try_acquire(clock.now()))))
    });

    let r = recloser::Recloser::custom()
        .closed_len(1)
        .open_wait(StdDuration::from_secs(3600))
        .build();
    for _ in 0..2 {
        let _ = r.call(|| Err::<u32, u32>(1));
    }
    assert!(matches!(
        r.call(|| Ok::<u32, u32>(1)),
        Err(recloser::Error::Rejected)
    ));
    g.bench_function("recloser", |bench| {
        bench.iter(|| black_box(r.call(|| black_box(Ok::<u32, u32>(1))).is_ok()))
    });

    let f = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(StdDuration::from_secs(3600)),
        ))
        .build();
    {
        use failsafe::CircuitBreaker as _;
        let _ = f.call(|| Err::<u32, u32>(1));
        assert!(matches!(
            f.call(|| Ok::<u32, u32>(1)),
            Err(failsafe::Error::Rejected)
        ));
    }
    g.bench_function("failsafe", |bench| {
        use failsafe::CircuitBreaker as _;
        bench.iter(|| black_box(f.call(|| black_box(Ok::<u32, u32>(1))).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, closed, open);
criterion_main!(benches);
