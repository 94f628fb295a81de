//! Fleet limiter checks per second against a local redis-server (started
//! by the bench on a free loopback port, persistence off), next to the
//! in-memory bucket.
//!
//! - `redis/round_trip`: one `FleetLimiter::try_acquire` (one `EVALSHA`).
//! - `redis/pipelined_64`: 64 checks in one `try_acquire_many` (one
//!   pipeline), reported per check.
//! - `redis/local_fallback`: degraded mode (Redis stopped, breaker open):
//!   the breaker's refusal and this instance's local share bucket.
//! - `redis/in_memory_bucket`: a `TokenBucket` behind a `Mutex`, with the
//!   std clock read: one instance, no fleet.
//!
//! Quotas are generous so that every check is admitted.
//!
//! Without `redis-server` on `PATH` (or `$FUSEBOX_REDIS_SERVER`) the Redis
//! rows are skipped with a message on stderr and only
//! `redis/in_memory_bucket` runs.
//!
//! `cargo bench -p fusebox-tests --bench redis`

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use fusebox::rate::{Quota, TokenBucket};
use fusebox::time::{Clock, Duration};
use fusebox_std::StdClock;
use fusebox_std::redis::{Fallback, FleetConfig, FleetLimiter, Mode, Source};
use support::{RedisServer, instance};

fn config() -> FleetConfig {
    // 10^9 per second, burst 10^6, for the whole fleet of 4.
    FleetConfig::new(1_000_000_000, std::time::Duration::from_secs(1), 1_000_000).fallback(
        Fallback::LocalShare {
            fleet_size: NonZeroU32::new(4).expect("non-zero"),
        },
    )
}

fn limiter(c: &mut Criterion) {
    let mut group = c.benchmark_group("redis");
    group.throughput(Throughput::Elements(1));
    let quota = Quota::per_second(1_000_000_000)
        .allow_burst(1_000_000)
        .build()
        .expect("quota");
    let bucket = Mutex::new(TokenBucket::new(quota));
    let clock = StdClock::new();
    group.bench_function("in_memory_bucket", |b| {
        b.iter(|| {
            let now = clock.now();
            black_box(bucket.lock().expect("not poisoned").try_acquire(now))
        })
    });
    match RedisServer::try_start() {
        Ok(server) => against_redis(&mut group, server),
        Err(why) => {
            eprintln!("redis/round_trip, redis/pipelined_64, redis/local_fallback skipped: {why}")
        }
    }
    group.finish();
}

fn against_redis(group: &mut BenchmarkGroup<'_, WallTime>, mut server: RedisServer) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (guard, _) = rt.block_on(instance(&server.url(), 3, Duration::from_secs(3600)));
    let fleet = FleetLimiter::new(Arc::clone(&guard), config()).expect("quota");
    assert_eq!(
        rt.block_on(fleet.try_acquire(b"bench")).source,
        Source::Redis
    );
    group.throughput(Throughput::Elements(1));
    group.bench_function("round_trip", |b| {
        b.iter(|| black_box(rt.block_on(fleet.try_acquire(black_box(b"bench")))))
    });

    let requests: Vec<(&[u8], u32)> = (0..64).map(|_| (&b"bench"[..], 1)).collect();
    group.throughput(Throughput::Elements(64));
    group.bench_function("pipelined_64", |b| {
        b.iter(|| black_box(rt.block_on(fleet.try_acquire_many(black_box(&requests)))))
    });

    // Degraded: Redis gone, the breaker (open for an hour) answers at once.
    server.stop();
    while guard.mode() == Mode::Shared {
        rt.block_on(fleet.try_acquire(b"bench"));
    }
    assert_eq!(
        rt.block_on(fleet.try_acquire(b"bench")).source,
        Source::LocalShare
    );
    group.throughput(Throughput::Elements(1));
    group.bench_function("local_fallback", |b| {
        b.iter(|| black_box(rt.block_on(fleet.try_acquire(black_box(b"bench")))))
    });
}

criterion_group!(benches, limiter);
criterion_main!(benches);
