//! Host integration tests, property tests and comparative benchmarks for
//! fusebox. The tests live in `tests/tests/`, the criterion benches in
//! `tests/benches/`; this library holds what they share.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// For the benches: `iters` calls of `op(thread, i)` on each of `threads`
/// threads at once, started together; the wall time divided by `threads`,
/// so that criterion (which divides by `iters`) reports the time per call
/// over all threads, i.e. 1 / total throughput.
pub fn on_threads(
    threads: usize,
    iters: u64,
    op: &(dyn Fn(usize, u64) -> bool + Sync),
) -> std::time::Duration {
    use std::hint::black_box;
    use std::sync::Barrier;
    use std::time::Instant;
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut ok = 0u64;
                    for i in 0..iters {
                        ok += u64::from(black_box(op(thread, i)));
                    }
                    black_box(ok);
                    (start, Instant::now())
                })
            })
            .collect();
        // From the first thread's start to the last one's end.
        let spans: Vec<(Instant, Instant)> =
            workers.into_iter().filter_map(|w| w.join().ok()).collect();
        let start = spans.iter().map(|s| s.0).min();
        let end = spans.iter().map(|s| s.1).max();
        match (start, end) {
            (Some(start), Some(end)) => (end - start) / u32::try_from(threads.max(1)).unwrap_or(1),
            _ => std::time::Duration::ZERO,
        }
    })
}
