//! fusebox's rate limiters against governor 0.10, side by side.
//!
//! - `direct`: governor's `check()` (its quanta clock read included, as a
//!   user calls it) against `TokenBucket::try_acquire(now)` with `now`
//!   supplied, and with the same clock read (governor's own `QuantaClock`
//!   and `duration_since(start)`, exactly what its `check()` does).
//! - `shared`: `SharedTokenBucket` with that clock read, against governor,
//!   on one thread and on 2 threads hammering one instance (time per
//!   operation summed over both threads, i.e. 1 / total throughput); and,
//!   on one thread, a bucket whose state has moved to its 16-byte word
//!   (see `SharedTokenBucket`'s docs: past the 8-byte word's range).
//! - `keyed`: 1024 u64 keys round-robin, governor's dashmap-keyed limiter
//!   against `KeyedLimiter<u64, 2048>` (with `now` supplied and with the
//!   clock read).
//!
//! - `keyed_shared`: `SharedKeyedLimiter<parking_lot::RawMutex, u64, 16,
//!   128>` (16 shards of 128 entries, now supplied and with the clock read)
//!   against governor's keyed limiter, with one hot key and with 1024 keys
//!   round-robin, on 1 and 2 threads hammering one instance.
//! - `keyed_cost`: how the cost grows with the table: 64 to 65 536
//!   entries, 10 %, 50 % and 95 % of them tracked keys, `try_acquire`
//!   round-robin over those keys; `KeyedLimiter`, `SharedKeyedLimiter` (16
//!   shards, 4 for 64 entries) and governor keyed with as many keys.
//!
//! Quotas are generous so that every call is admitted (the common path);
//! `reject` rows measure a refused call.

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/threads.rs"]
mod threads;
use threads::bench_threads;

use fusebox::hash::Seed;
use fusebox::rate::{
    KeyedLimiter, Quota, SharedKeyedLimiter, SharedTokenBucket, TokenBucket, WhenFull,
};
use fusebox::time::{Duration, Instant};
use fusebox_tests::on_threads;
use governor::clock::{Clock as GClock, Reference};
use governor::{Quota as GQuota, RateLimiter};

const TICK_HZ: u64 = 1_000_000_000; // the bench's clock counts nanoseconds

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

/// governor's own clock (`QuantaClock`, what its `check()` reads), as
/// fusebox ticks of 1 ns since the bench started: the same work governor
/// does per call (`clock.now()`, then `duration_since(start)`).
struct Clock {
    clock: governor::clock::QuantaClock,
    start: governor::clock::QuantaInstant,
}
impl Clock {
    fn new() -> Self {
        let clock = governor::clock::QuantaClock::default();
        let start = GClock::now(&clock);
        Self { clock, start }
    }
    #[inline(always)]
    fn now(&self) -> Instant {
        Instant::from_ticks(GClock::now(&self.clock).duration_since(self.start).as_u64())
    }
}

fn generous() -> Quota {
    // 10^9 per second at a 1 GHz tick, burst 1000: never refuses a
    // single caller.
    Quota::per_period(1_000_000_000, Duration::from_ticks(TICK_HZ))
        .allow_burst(1_000)
        .build()
        .expect("quota")
}

fn direct(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/direct");
    let gov = RateLimiter::direct(GQuota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000)));
    g.bench_function("governor check (clock read included)", |b| {
        b.iter(|| black_box(&gov).check().is_ok())
    });
    let mut bucket = TokenBucket::new(generous());
    let mut now = 0u64;
    g.bench_function("fusebox TokenBucket try_acquire (now supplied)", |b| {
        b.iter(|| {
            now += 1;
            black_box(&mut bucket)
                .try_acquire(black_box(Instant::from_ticks(now)))
                .is_ok()
        })
    });
    let clock = Clock::new();
    let mut bucket = TokenBucket::new(generous());
    g.bench_function(
        "fusebox TokenBucket try_acquire (clock read included)",
        |b| b.iter(|| black_box(&mut bucket).try_acquire(clock.now()).is_ok()),
    );

    // Refused calls: an exhausted bucket.
    let gov = RateLimiter::direct(GQuota::per_hour(nz(1)));
    let _ = gov.check();
    g.bench_function("governor check, refused", |b| {
        b.iter(|| black_box(&gov).check().is_err())
    });
    let mut bucket = TokenBucket::new(
        Quota::per_period(1, Duration::from_ticks(3_600 * TICK_HZ))
            .build()
            .expect("quota"),
    );
    let _ = bucket.try_acquire(Instant::from_ticks(0));
    let mut now = 0u64;
    g.bench_function(
        "fusebox TokenBucket try_acquire, refused (now supplied)",
        |b| {
            b.iter(|| {
                now += 1;
                black_box(&mut bucket)
                    .try_acquire(black_box(Instant::from_ticks(now)))
                    .is_err()
            })
        },
    );
    g.finish();
}

fn shared(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/shared");
    let gov = RateLimiter::direct(GQuota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000)));
    let clock = Clock::new();
    let bucket = SharedTokenBucket::new(generous());
    g.bench_function("governor check, 1 thread", |b| {
        b.iter(|| black_box(&gov).check().is_ok())
    });
    g.bench_function(
        "fusebox SharedTokenBucket (clock read included), 1 thread",
        |b| b.iter(|| black_box(&bucket).try_acquire(clock.now()).is_ok()),
    );
    // The same bucket once its state has moved to the 16-byte word (an
    // instant past the 8-byte word's range: 2^54 ticks for this quota's
    // 10-bit capacity), the form of every bucket after that range.
    let moved = SharedTokenBucket::new(generous());
    let far = 1u64 << 62;
    assert!(moved.try_acquire(Instant::from_ticks(far)).is_ok());
    g.bench_function(
        "fusebox SharedTokenBucket, moved to its 16-byte word (clock read included), 1 thread",
        |b| {
            b.iter(|| {
                black_box(&moved)
                    .try_acquire(Instant::from_ticks(far + clock.now().as_ticks()))
                    .is_ok()
            })
        },
    );
    // 2 threads: the same quotas (10^9 per second is still more than 2
    // threads ask for; a faster governor quota would round its emission
    // interval to 0 ns and measure a degenerate limiter).
    let gov2 = RateLimiter::direct(GQuota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000)));
    let bucket2 = SharedTokenBucket::new(generous());
    bench_threads(
        &mut g,
        "governor check, 2 threads (per call, both threads)",
        2,
        &|| gov2.check().is_ok(),
    );
    bench_threads(
        &mut g,
        "fusebox SharedTokenBucket (clock read included), 2 threads (per call, both threads)",
        2,
        &|| bucket2.try_acquire(clock.now()).is_ok(),
    );
    g.finish();
}

fn keyed(c: &mut Criterion) {
    const KEYS: u64 = 1024;
    let mut g = c.benchmark_group("rate/keyed");
    let gov = RateLimiter::keyed(GQuota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000)));
    let mut k = 0u64;
    g.bench_function("governor check_key, 1024 u64 keys", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            black_box(&gov).check_key(&black_box(k)).is_ok()
        })
    });
    // 2048 entries for 1024 keys: a fixed 80 KiB, half full.
    let seed = Seed::new(0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9);
    let mut table: Box<KeyedLimiter<u64, 2048>> =
        Box::new(KeyedLimiter::new(generous(), seed, WhenFull::RejectNew));
    for key in 0..KEYS {
        table
            .try_acquire(key, Instant::from_ticks(0))
            .expect("a slot");
    }
    let mut now = 0u64;
    g.bench_function(
        "fusebox KeyedLimiter<u64, 2048> (now supplied), 1024 keys",
        |b| {
            b.iter(|| {
                k = (k + 1) % KEYS;
                now += 1;
                black_box(&mut *table)
                    .try_acquire(black_box(k), black_box(Instant::from_ticks(now)))
                    .is_ok()
            })
        },
    );
    let clock = Clock::new();
    g.bench_function(
        "fusebox KeyedLimiter<u64, 2048> (clock read included), 1024 keys",
        |b| {
            b.iter(|| {
                k = (k + 1) % KEYS;
                black_box(&mut *table)
                    .try_acquire(black_box(k), clock.now())
                    .is_ok()
            })
        },
    );
    assert_eq!(table.len() as u64, KEYS);
    assert_eq!(
        table.metrics().refused_full,
        0,
        "every key has an entry: no row measured a TableFull"
    );
    g.finish();
}

fn sizes(_: &mut Criterion) {
    use std::mem::size_of;
    let gov = RateLimiter::direct(GQuota::per_second(nz(1)));
    eprintln!(
        "size_of: governor DefaultDirectRateLimiter {} B; fusebox TokenBucket {} B, SharedTokenBucket {} B, KeyedLimiter<u64, 2048> {} B",
        size_of_val(&gov),
        size_of::<TokenBucket>(),
        size_of::<SharedTokenBucket>(),
        size_of::<KeyedLimiter<u64, 2048>>(),
    );
}

type Raw = parking_lot::RawMutex;

fn keyed_shared(c: &mut Criterion) {
    const KEYS: u64 = 1024;
    let mut g = c.benchmark_group("rate/keyed_shared");
    let seed = Seed::new(0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9);
    let clock = Clock::new();
    for threads in [1usize, 2] {
        for (load, keys) in [("one hot key", 1u64), ("1024 keys round-robin", KEYS)] {
            // 2048 entries for 1024 keys, as the `&mut` row.
            let limiter: Box<SharedKeyedLimiter<Raw, u64, 16, 128>> = Box::new(
                SharedKeyedLimiter::new(generous(), seed, WhenFull::RejectNew),
            );
            let key = move |thread: usize, i: u64| (i * threads as u64 + thread as u64) % keys;
            g.bench_function(
                format!(
                    "fusebox SharedKeyedLimiter 16x128 (now supplied), {load}, {threads} thread(s)"
                ),
                |b| {
                    b.iter_custom(|iters| {
                        on_threads(threads, iters, &|thread, i| {
                            limiter
                                .try_acquire(black_box(key(thread, i)), Instant::from_ticks(i))
                                .is_ok()
                        })
                    })
                },
            );
            g.bench_function(
                format!("fusebox SharedKeyedLimiter 16x128 (clock read included), {load}, {threads} thread(s)"),
                |b| {
                    b.iter_custom(|iters| {
                        on_threads(threads, iters, &|thread, i| {
                            limiter.try_acquire(black_box(key(thread, i)), clock.now()).is_ok()
                        })
                    })
                },
            );
            assert_eq!(
                limiter.metrics().refused_full,
                0,
                "no row measured a TableFull"
            );
            let gov =
                RateLimiter::keyed(GQuota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000)));
            g.bench_function(
                format!("governor check_key, {load}, {threads} thread(s)"),
                |b| {
                    b.iter_custom(|iters| {
                        on_threads(threads, iters, &|thread, i| {
                            gov.check_key(&black_box(key(thread, i))).is_ok()
                        })
                    })
                },
            );
        }
    }
    g.finish();
}

/// Track `fill` % of `n` keys, then `try_acquire` round-robin over them.
macro_rules! keyed_cost_rows {
    ($g:expr, $n:literal, $shards:literal, $per:literal) => {{
        let seed = Seed::new(0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9);
        for fill in [10u64, 50, 95] {
            let keys = ($n as u64 * fill / 100).max(1);
            let mut local: Box<KeyedLimiter<u64, $n>> =
                Box::new(KeyedLimiter::new(generous(), seed, WhenFull::EvictLeastRecent));
            let shared: Box<SharedKeyedLimiter<Raw, u64, $shards, $per>> =
                Box::new(SharedKeyedLimiter::new(generous(), seed, WhenFull::EvictLeastRecent));
            let gov =
                RateLimiter::keyed(GQuota::per_second(nz(1_000_000_000)).allow_burst(nz(1_000)));
            let at = |i: u64| Instant::from_ticks(i);
            for k in 0..keys {
                let _ = local.try_acquire(k, at(0));
                let _ = shared.try_acquire(k, at(0));
                let _ = gov.check_key(&k);
            }
            eprintln!(
                "keyed_cost {} entries, {fill} % tracked: &mut {} entries used, {} busy evicted; shared {} used, {} busy evicted",
                $n,
                local.len(),
                local.metrics().evicted_busy,
                shared.len(),
                shared.metrics().evicted_busy
            );
            let mut i = 0u64;
            $g.bench_function(format!("fusebox KeyedLimiter/{}/{fill}%", $n), |b| {
                b.iter(|| {
                    i += 1;
                    local.try_acquire(black_box(i % keys), at(i)).is_ok()
                })
            });
            $g.bench_function(
                format!("fusebox SharedKeyedLimiter {}x{}/{}/{fill}%", $shards, $per, $n),
                |b| {
                    b.iter(|| {
                        i += 1;
                        shared.try_acquire(black_box(i % keys), at(i)).is_ok()
                    })
                },
            );
            $g.bench_function(format!("governor check_key/{}/{fill}%", $n), |b| {
                b.iter(|| {
                    i += 1;
                    gov.check_key(&black_box(i % keys)).is_ok()
                })
            });
        }
    }};
}

fn keyed_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/keyed_cost");
    keyed_cost_rows!(g, 64, 4, 16);
    keyed_cost_rows!(g, 1024, 16, 64);
    keyed_cost_rows!(g, 16384, 16, 1024);
    keyed_cost_rows!(g, 65536, 16, 4096);
    g.finish();
}

criterion_group!(
    benches,
    sizes,
    direct,
    shared,
    keyed,
    keyed_shared,
    keyed_cost
);
criterion_main!(benches);
