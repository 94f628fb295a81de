//! The `rate` and `breaker` groups of fusebox-std's handles against
//! governor and recloser, each side with the same clock, shared by two
//! bench crates that build fusebox-std with different features:
//! `fusebox-tests` (`std_handles`: features `tracing` and `metrics` on,
//! groups `std/...`) and `fusebox-std-default-bench` (`std_default`:
//! fusebox-std's default features, what `fusebox-std = "..."` gives,
//! groups `std-default/...`). Cargo unifies a package's features over
//! the packages of one build, so each crate is benched on its own
//! (`cargo bench -p ...`). Each includes `common/threads.rs` as
//! `crate::threads` beside this file.
//!
//! - `rate`: `RateLimiter::try_acquire` (lock-free bucket, clock read
//!   included) against governor's `check()` with its `QuantaUpkeepClock`.
//!   The like-for-like row is `RateLimiter<RecentClock>` (the same quanta
//!   recent time as governor's clock); `RateLimiter` (default
//!   `CoarseClock`) is what a user gets. 1 and 2 threads (2 threads: time
//!   per call over both threads, i.e. 1 / total throughput).
//! - `breaker`: `Breaker::call` on a ready future and the guard path
//!   (`try_acquire` + `success`) against recloser's `call`, count window of
//!   100 at 50 % on both sides, 1 and 2 threads. The breaker handle holds
//!   the core's lock-free `SharedCircuitBreaker<CountWindow<100>>` (the
//!   seam in `std-adapter/src/handle/breaker.rs`). With feature `metrics`
//!   the default `Breaker` times every call for the duration histogram
//!   (two `FastClock` reads); the `durations off` rows build it with
//!   `BreakerBuilder::call_durations(false)`: a healthy breaker reads no
//!   clock, as the default `Breaker` of a build without `metrics`, and as
//!   recloser's closed path. The `core` row drives the core breaker under
//!   the handle the same way (`try_acquire_with` / `record_with`, no clock
//!   read): what the handle adds is the difference.
//!
//! Quotas are generous (burst 10^9) so that every call is admitted,
//! except in the `refused` rows: 1 token per hour, taken before they run,
//! so every call is refused, and each side computes the wait a 429 would
//! carry.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use criterion::Criterion;
use fusebox::breaker::{Config, CountWindow};
use fusebox::rate::Quota;
use fusebox_std::{Breaker, RateLimiter, RecentClock};

use crate::threads::bench_threads;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

/// governor's upkeep clock, one per process (quanta allows one upkeep
/// thread): built before any `RecentClock`, which then reads the same
/// recent time that this clock's thread keeps.
pub fn governor_upkeep_clock() -> governor::clock::QuantaUpkeepClock {
    static CLOCK: OnceLock<governor::clock::QuantaUpkeepClock> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            governor::clock::QuantaUpkeepClock::from_interval(StdDuration::from_millis(1))
                .expect("the first upkeep thread of the process")
        })
        .clone()
}

pub fn quota() -> Quota {
    Quota::per_second(1_000_000_000).build().expect("quota")
}

pub fn governor_limiter() -> governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::QuantaUpkeepClock,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
> {
    let clock = governor_upkeep_clock();
    governor::RateLimiter::direct_with_clock(
        governor::Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000_000_000)),
        clock,
    )
}

pub fn rate(c: &mut Criterion, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}/rate"));
    let gov = governor_limiter();
    let recent = RateLimiter::with_clock("bench", quota(), RecentClock::new()).expect("limiter");
    let coarse = RateLimiter::new("bench", quota()).expect("limiter");
    g.bench_function("governor check (QuantaUpkeepClock), 1 thread", |b| {
        b.iter(|| black_box(&gov).check().is_ok())
    });
    g.bench_function("RateLimiter<RecentClock> try_acquire, 1 thread", |b| {
        b.iter(|| black_box(&recent).try_acquire().is_ok())
    });
    g.bench_function("RateLimiter (CoarseClock) try_acquire, 1 thread", |b| {
        b.iter(|| black_box(&coarse).try_acquire().is_ok())
    });
    let gov2 = governor_limiter();
    let recent2 = RateLimiter::with_clock("bench", quota(), RecentClock::new()).expect("limiter");
    let coarse2 = RateLimiter::new("bench", quota()).expect("limiter");
    bench_threads(
        &mut g,
        "governor check (QuantaUpkeepClock), 2 threads",
        2,
        &|| gov2.check().is_ok(),
    );
    bench_threads(
        &mut g,
        "RateLimiter<RecentClock> try_acquire, 2 threads",
        2,
        &|| recent2.try_acquire().is_ok(),
    );
    bench_threads(
        &mut g,
        "RateLimiter (CoarseClock) try_acquire, 2 threads",
        2,
        &|| coarse2.try_acquire().is_ok(),
    );
    // Saturated: 1 token per hour, taken before the rows run, so every
    // call is refused (an overloaded limiter's path; `retry_after` is
    // computed on both sides, as a caller that answers 429 needs it).
    let gov_full = governor::RateLimiter::direct_with_clock(
        governor::Quota::per_hour(nz(1)),
        governor_upkeep_clock(),
    );
    let full = RateLimiter::with_clock(
        "bench",
        Quota::per_hour(1).build().expect("quota"),
        RecentClock::new(),
    )
    .expect("limiter");
    let upkeep = governor_upkeep_clock();
    assert!(gov_full.check().is_ok() && full.try_acquire().is_ok());
    g.bench_function(
        "governor check (QuantaUpkeepClock), refused, 1 thread",
        |b| {
            b.iter(|| match black_box(&gov_full).check() {
                Ok(()) => StdDuration::ZERO,
                Err(not_until) => not_until.wait_time_from(governor::clock::Clock::now(&upkeep)),
            })
        },
    );
    g.bench_function(
        "RateLimiter<RecentClock> try_acquire, refused, 1 thread",
        |b| {
            b.iter(|| match black_box(&full).try_acquire() {
                Ok(()) => None,
                Err(r) => r.retry_after,
            })
        },
    );
    bench_threads(
        &mut g,
        "governor check (QuantaUpkeepClock), refused, 2 threads",
        2,
        &|| match gov_full.check() {
            Ok(()) => true,
            Err(not_until) => {
                black_box(not_until.wait_time_from(governor::clock::Clock::now(&upkeep))).is_zero()
            }
        },
    );
    bench_threads(
        &mut g,
        "RateLimiter<RecentClock> try_acquire, refused, 2 threads",
        2,
        &|| match full.try_acquire() {
            Ok(()) => true,
            Err(r) => black_box(r.retry_after).is_none(),
        },
    );
    g.finish();
}

/// The window on both sides: the last 100 calls, tripping at 50 %.
pub fn window() -> CountWindow<100> {
    CountWindow::<100>::builder()
        .failure_rate(50)
        .minimum_calls(100)
        .build()
        .expect("window")
}

pub fn breaker() -> Breaker<CountWindow<100>> {
    Breaker::new("bench", Config::new(), window()).expect("breaker")
}

/// [`breaker`] with the duration histogram off: no clock on the
/// healthy path.
fn lazy_breaker() -> Breaker<CountWindow<100>> {
    Breaker::builder("bench")
        .expect("name")
        .call_durations(false)
        .build(Config::new(), window())
        .expect("breaker")
}

pub fn recloser() -> recloser::Recloser {
    recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .build()
}

pub fn breakers(c: &mut Criterion, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}/breaker"));
    let r = recloser();
    let b = breaker();
    g.bench_function("recloser call, 1 thread", |bench| {
        bench.iter(|| black_box(&r).call(|| black_box(Ok::<u32, u32>(1))).is_ok())
    });
    g.bench_function("Breaker call (ready future), 1 thread", |bench| {
        bench.iter(|| {
            embassy_futures::block_on(black_box(&b).call(async { black_box(Ok::<u32, u32>(1)) }))
                .is_ok()
        })
    });
    g.bench_function("Breaker guard (try_acquire + success), 1 thread", |bench| {
        bench.iter(|| match black_box(&b).try_acquire() {
            Ok(guard) => guard.success().is_none(),
            Err(_) => false,
        })
    });
    let lazy = lazy_breaker();
    g.bench_function(
        "Breaker call (ready future), durations off, 1 thread",
        |bench| {
            bench.iter(|| {
                embassy_futures::block_on(
                    black_box(&lazy).call(async { black_box(Ok::<u32, u32>(1)) }),
                )
                .is_ok()
            })
        },
    );
    g.bench_function(
        "Breaker guard (try_acquire + success), durations off, 1 thread",
        |bench| {
            bench.iter(|| match black_box(&lazy).try_acquire() {
                Ok(guard) => guard.success().is_none(),
                Err(_) => false,
            })
        },
    );
    let core =
        fusebox::breaker::SharedCircuitBreaker::new(Config::new(), window()).expect("breaker");
    let zero = || fusebox::time::Instant::from_ticks(0);
    g.bench_function(
        "core SharedCircuitBreaker (the handle's seam), lazy clock, 1 thread",
        |bench| {
            bench.iter(|| match black_box(&core).try_acquire_with(zero) {
                Ok(p) => black_box(&core)
                    .record_with(p, fusebox::breaker::Outcome::Success, zero)
                    .is_none(),
                Err(_) => false,
            })
        },
    );
    let r2 = recloser();
    let b2 = breaker();
    let lazy2 = lazy_breaker();
    bench_threads(&mut g, "recloser call, 2 threads", 2, &|| {
        r2.call(|| black_box(Ok::<u32, u32>(1))).is_ok()
    });
    bench_threads(&mut g, "Breaker call (ready future), 2 threads", 2, &|| {
        embassy_futures::block_on(b2.call(async { black_box(Ok::<u32, u32>(1)) })).is_ok()
    });
    bench_threads(
        &mut g,
        "Breaker call (ready future), durations off, 2 threads",
        2,
        &|| embassy_futures::block_on(lazy2.call(async { black_box(Ok::<u32, u32>(1)) })).is_ok(),
    );
    bench_threads(
        &mut g,
        "Breaker guard (try_acquire + success), durations off, 2 threads",
        2,
        &|| match lazy2.try_acquire() {
            Ok(guard) => guard.success().is_none(),
            Err(_) => false,
        },
    );
    g.finish();
}
