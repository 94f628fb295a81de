//! Acquire + release of one slot, fusebox's bulkheads against
//! `tokio::sync::Semaphore::try_acquire` (the permit a tokio server takes),
//! single-threaded and with two threads on one instance.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, Bulkhead, Outcome, SharedBulkhead};
use fusebox::time::{Duration, Instant};

const LIMIT: u32 = 64;

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulkhead/acquire+release");

    let shared = SharedBulkhead::new(LIMIT).unwrap();
    g.bench_function("fusebox SharedBulkhead (&self)", |b| {
        b.iter(|| drop(black_box(black_box(&shared).try_acquire())))
    });

    let mut local = Bulkhead::new(LIMIT).unwrap();
    g.bench_function("fusebox Bulkhead (&mut)", |b| {
        b.iter(|| {
            if let Ok(t) = black_box(&mut local).try_acquire() {
                local.release(black_box(t));
            }
        })
    });

    let sem = tokio::sync::Semaphore::new(LIMIT as usize);
    g.bench_function("tokio Semaphore::try_acquire", |b| {
        b.iter(|| drop(black_box(black_box(&sem).try_acquire())))
    });
    g.finish();

    let mut g = c.benchmark_group("bulkhead/rejected");
    let full = SharedBulkhead::new(1).unwrap();
    let _held = full.try_acquire().unwrap();
    g.bench_function("fusebox SharedBulkhead (&self)", |b| {
        b.iter(|| black_box(black_box(&full).try_acquire()).is_err())
    });
    let full_sem = tokio::sync::Semaphore::new(1);
    let _held_sem = full_sem.try_acquire().unwrap();
    g.bench_function("tokio Semaphore::try_acquire", |b| {
        b.iter(|| black_box(black_box(&full_sem).try_acquire()).is_err())
    });
    g.finish();

    let mut g = c.benchmark_group("bulkhead/adaptive");
    let mut limit = AdaptiveLimit::new(AimdConfig::new().limits(1, 1_000).initial(500)).unwrap();
    let mut i = 0u64;
    g.bench_function("AdaptiveLimit::record", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            // 9 successes under the target, 1 drop: the limit moves each time.
            let outcome = if i.is_multiple_of(10) {
                Outcome::Dropped
            } else {
                Outcome::Success
            };
            black_box(limit.record(
                black_box(outcome),
                black_box(Duration::from_ticks(10)),
                black_box(Instant::from_ticks(i)),
            ))
        })
    });
    g.finish();
}

/// Two threads on one instance; the figure is time per operation per
/// thread (total throughput = 2 / that).
fn two_threads(c: &mut Criterion) {
    fn run<F: Fn() + Sync>(iters: u64, op: F) -> StdDuration {
        let start = StdInstant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..iters {
                        op();
                    }
                });
            }
        });
        start.elapsed()
    }
    let mut g = c.benchmark_group("bulkhead/2 threads");
    let shared = Arc::new(SharedBulkhead::new(LIMIT).unwrap());
    g.bench_function("fusebox SharedBulkhead (&self)", |b| {
        b.iter_custom(|iters| run(iters, || drop(black_box(shared.try_acquire()))))
    });
    let sem = Arc::new(tokio::sync::Semaphore::new(LIMIT as usize));
    g.bench_function("tokio Semaphore::try_acquire", |b| {
        b.iter_custom(|iters| run(iters, || drop(black_box(sem.try_acquire()))))
    });
    g.finish();
}

criterion_group!(benches, single_thread, two_threads);
criterion_main!(benches);
