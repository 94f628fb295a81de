//! The `scaling` group: throughput from 1 thread up to the machine's
//! cores (1, 2, 4, 8, 16, as many of those as `available_parallelism`
//! allows), each side with the same clock, every thread calling one
//! shared limiter or breaker. Rows, at each thread count:
//! - `recloser call` and `Breaker call (ready future)` (count window of
//!   100 at 50 %, as the `breaker` group), and the core
//!   `SharedCircuitBreaker` under the handle (no clock read);
//! - governor's `check()` with its `QuantaUpkeepClock`,
//!   `RateLimiter<RecentClock>` (the same quanta recent time) and the
//!   default `RateLimiter` (`CoarseClock`), quotas as the `rate` group
//!   (every call admitted).
//!
//! Every row runs through `threads::n_threads` (`bench_threads`), the
//! 1-thread rows too (one spawned thread, the call behind a `&dyn Fn`), so
//! the rows of one thread count are alike. A row's time is per call over
//! all threads: 1 / total throughput.

use std::hint::black_box;

use criterion::Criterion;
use fusebox::breaker::{Outcome, SharedCircuitBreaker};
use fusebox::time::Instant;
use fusebox_std::{RateLimiter, RecentClock};

use crate::std_groups::{breaker, governor_limiter, quota, recloser, window};
use crate::threads::bench_threads;

/// 1, 2, 4, 8, 16, up to the cores this process may use.
fn thread_counts() -> Vec<u32> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    [1u32, 2, 4, 8, 16]
        .into_iter()
        .filter(|&n| n as usize <= cores)
        .collect()
}

pub fn scaling(c: &mut Criterion, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}/scaling"));
    for n in thread_counts() {
        let threads = if n == 1 { "thread" } else { "threads" };
        // Fresh state for every thread count.
        let r = recloser();
        let b = breaker();
        let core =
            SharedCircuitBreaker::new(fusebox::breaker::Config::new(), window()).expect("breaker");
        let gov = governor_limiter();
        let recent =
            RateLimiter::with_clock("bench", quota(), RecentClock::new()).expect("limiter");
        let coarse = RateLimiter::new("bench", quota()).expect("limiter");
        let zero = || Instant::from_ticks(0);
        let name = |row: &str| format!("{row}, {n} {threads}");
        bench_threads(&mut g, &name("recloser call"), n, &|| {
            r.call(|| black_box(Ok::<u32, u32>(1))).is_ok()
        });
        bench_threads(&mut g, &name("Breaker call (ready future)"), n, &|| {
            embassy_futures::block_on(b.call(async { black_box(Ok::<u32, u32>(1)) })).is_ok()
        });
        bench_threads(
            &mut g,
            &name("core SharedCircuitBreaker, no clock"),
            n,
            &|| match core.try_acquire_with(zero) {
                Ok(p) => core.record_with(p, Outcome::Success, zero).is_none(),
                Err(_) => false,
            },
        );
        bench_threads(
            &mut g,
            &name("governor check (QuantaUpkeepClock)"),
            n,
            &|| gov.check().is_ok(),
        );
        bench_threads(
            &mut g,
            &name("RateLimiter<RecentClock> try_acquire"),
            n,
            &|| recent.try_acquire().is_ok(),
        );
        bench_threads(
            &mut g,
            &name("RateLimiter (CoarseClock) try_acquire"),
            n,
            &|| coarse.try_acquire().is_ok(),
        );
    }
    g.finish();
}
