//! `threads`: the multi-thread runner of the criterion benches (included
//! with `#[path]` by each bench that needs it).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration as StdDuration, Instant as StdInstant};

/// `iters` calls of `op` on each of `n` threads at once; the time per
/// call over all threads (wall time from the first thread's start to the
/// last one's end, divided by the `n x iters` calls): the reciprocal of
/// the total throughput.
pub fn n_threads(n: u32, iters: u64, op: &(dyn Fn() -> bool + Sync)) -> StdDuration {
    let barrier = Barrier::new(n as usize);
    let start = std::sync::Mutex::new(None::<StdInstant>);
    let elapsed = std::thread::scope(|s| {
        let worker = || {
            barrier.wait();
            {
                let mut st = start.lock().expect("lock");
                if st.is_none() {
                    *st = Some(StdInstant::now());
                }
            }
            let mut ok = 0u64;
            for _ in 0..iters {
                ok += u64::from(black_box(op()));
            }
            black_box(ok);
            StdInstant::now()
        };
        let handles: Vec<_> = (0..n).map(|_| s.spawn(worker)).collect();
        let end = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .max()
            .expect("at least one thread");
        end - start.lock().expect("lock").expect("started")
    });
    // Criterion divides by `iters`: per call over all threads.
    elapsed / n
}

/// Register `name` in `g`: `op` on `n` threads at once ([`n_threads`]).
pub fn bench_threads(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: u32,
    op: &(dyn Fn() -> bool + Sync),
) {
    g.bench_function(name, |b| b.iter_custom(|iters| n_threads(n, iters, op)));
}
