//! `DedupTable::begin` + `complete` on u64 keys in a 1024-entry table, `now`
//! supplied, against the hand-written baseline: a `HashMap<u64, Instant>`
//! (std's default hasher) with `get` + `insert`.
//!
//! Two workloads, the same key stream on both sides:
//! - `fresh`: 65 536 distinct ids in a scrambled cycle, the clock advancing one
//!   tick per id, ids forgotten after 512 ticks: every id is new when it comes
//!   back (get misses or finds an expired entry, then insert; begin answers
//!   `New`, then complete). The table stays at 1024 slots, evicting the oldest
//!   done id of a window when it must; the map grows to one entry per
//!   distinct id ever seen.
//! - `fresh_1k`: the same with 1024 distinct ids, so the map stays at 1024
//!   entries and in cache: the baseline at its best (about 20 ns here).
//! - `duplicates`: 256 distinct ids, never forgotten: after the first lap
//!   every lookup is a duplicate (get hits; begin answers `Done`).
//!
//! `dedup_shared`: `SharedDedupTable<parking_lot::RawMutex, u64, (), 8,
//! 128>` (8 shards of 128 slots, 1024 in all) against a
//! `std::sync::Mutex<HashMap<u64, Instant>>`, the `fresh_1k` workload on 1
//! and 2 threads hammering one instance (each thread its own half of the
//! 1024 ids; time per call over both threads).
//!
//! `dedup_cost`: how the cost grows with the table: 64 to 65 536 slots,
//! 10 %, 50 % and 95 % of them offered keys (done, never expiring, under
//! `EvictDone`; the table keeps what its windows hold and the bench prints
//! how many), then `begin` round-robin over the offered keys (hits, and
//! for keys the table could not keep, a miss that probes the whole window).
//! Both variants (the shared one in 16 shards, 4 for 64 slots) and a
//! `HashMap` of as many keys.
use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::dedup::{Begin, Config, DedupTable, Eviction, SharedBegin, SharedDedupTable};
use fusebox::hash::Seed;
use fusebox::time::{Duration, Instant};
use fusebox_tests::on_threads;

const FRESH_IDS: u64 = 1 << 16;
const FRESH_TTL: u64 = 512;
const DUP_IDS: u64 = 256;

/// The i-th id of a scrambled cycle over `ids` (a power of two) distinct ids.
#[inline]
fn id(i: u64, ids: u64) -> u64 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & (ids - 1)) | 0x00ab_cd00_0000_0000
}

fn table(ttl: u64) -> DedupTable<u64, (), 1024> {
    let config = Config::new()
        .in_flight_ttl(Duration::from_ticks(ttl))
        .done_ttl(Duration::from_ticks(ttl))
        .eviction(Eviction::EvictDone);
    DedupTable::new(
        config,
        Seed::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
    )
    .expect("valid config")
}

#[inline]
fn fusebox_op<const N: usize>(t: &mut DedupTable<u64, (), N>, key: u64, now: Instant) -> bool {
    match t.begin(key, now) {
        Begin::New(ticket) => t.complete(ticket, (), now).is_ok(),
        _ => false,
    }
}

#[inline]
fn hashmap_op(
    m: &mut HashMap<u64, std::time::Instant>,
    key: u64,
    now: std::time::Instant,
    ttl: std::time::Duration,
) -> bool {
    match m.get(&key) {
        Some(&seen) if now.saturating_duration_since(seen) < ttl => false,
        _ => {
            m.insert(key, now);
            true
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup_begin_complete_u64_1024");
    for (name, ids, ttl) in [
        ("fresh", FRESH_IDS, FRESH_TTL),
        ("fresh_1k", 1024, FRESH_TTL),
        ("duplicates", DUP_IDS, u64::MAX / 2),
    ] {
        let mut t = table(ttl);
        let mut i = 0u64;
        let mut new = 0u64;
        g.bench_function(format!("fusebox/{name}"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = black_box(id(i, ids));
                let now = black_box(Instant::from_ticks(i));
                new += u64::from(fusebox_op(&mut t, key, now));
            })
        });
        eprintln!(
            "fusebox/{name}: {} ops, {} new, {} evicted, {} full; memory {} bytes, fixed",
            i,
            new,
            t.metrics().evicted,
            t.metrics().full,
            std::mem::size_of_val(&t)
        );

        let mut m: HashMap<u64, std::time::Instant> = HashMap::new();
        let std_ttl = std::time::Duration::from_nanos(ttl);
        let mut now = std::time::Instant::now();
        let tick = std::time::Duration::from_nanos(1);
        let mut i = 0u64;
        let mut new = 0u64;
        g.bench_function(format!("hashmap_std/{name}"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                now += tick;
                let key = black_box(id(i, ids));
                new += u64::from(hashmap_op(&mut m, key, black_box(now), std_ttl));
            })
        });
        // A hashbrown table holds (key, value) pairs plus one control byte
        // per bucket, and its capacity only grows.
        let bytes = m.capacity() * (std::mem::size_of::<(u64, std::time::Instant)>() + 1);
        eprintln!(
            "hashmap_std/{name}: {} ops, {} new; {} entries, capacity {}, about {} bytes and growing with distinct ids",
            i,
            new,
            m.len(),
            m.capacity(),
            bytes
        );
    }
    g.finish();
}

type Raw = parking_lot::RawMutex;

fn shared_table(ttl: u64) -> SharedDedupTable<Raw, u64, (), 8, 128> {
    let config = Config::new()
        .in_flight_ttl(Duration::from_ticks(ttl))
        .done_ttl(Duration::from_ticks(ttl))
        .eviction(Eviction::EvictDone);
    SharedDedupTable::new(
        config,
        Seed::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
    )
    .expect("valid config")
}

#[inline]
fn shared_op<const S: usize, const P: usize>(
    t: &SharedDedupTable<Raw, u64, (), S, P>,
    key: u64,
    now: Instant,
) -> bool {
    match t.begin(key, now) {
        SharedBegin::New(ticket) => t.complete(ticket, (), now).is_ok(),
        _ => false,
    }
}

/// The `fresh_1k` stream, thread `thread` of `threads`: its own ids.
#[inline]
fn thread_id(thread: usize, threads: usize, i: u64) -> u64 {
    id(
        i.wrapping_mul(threads as u64).wrapping_add(thread as u64),
        1024,
    )
}

fn shared(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup_shared");
    for threads in [1usize, 2] {
        let table = shared_table(FRESH_TTL);
        g.bench_function(
            format!("fusebox SharedDedupTable 8x128 begin+complete, fresh_1k, {threads} thread(s)"),
            |b| {
                b.iter_custom(|iters| {
                    on_threads(threads, iters, &|thread, i| {
                        let key = thread_id(thread, threads, i);
                        shared_op(&table, black_box(key), Instant::from_ticks(i))
                    })
                })
            },
        );
        eprintln!(
            "fusebox SharedDedupTable, {threads} thread(s): {} new, {} evicted, {} full; {} bytes, fixed",
            table.metrics().new,
            table.metrics().evicted,
            table.metrics().full,
            std::mem::size_of_val(&table)
        );
        let map: std::sync::Mutex<HashMap<u64, std::time::Instant>> =
            std::sync::Mutex::new(HashMap::new());
        let base = std::time::Instant::now();
        let ttl = std::time::Duration::from_nanos(FRESH_TTL);
        g.bench_function(
            format!("Mutex<HashMap> get+insert, fresh_1k, {threads} thread(s)"),
            |b| {
                b.iter_custom(|iters| {
                    on_threads(threads, iters, &|thread, i| {
                        let key = thread_id(thread, threads, i);
                        let now = base + std::time::Duration::from_nanos(i);
                        let mut m = map.lock().expect("not poisoned");
                        hashmap_op(&mut m, black_box(key), now, ttl)
                    })
                })
            },
        );
    }
    g.finish();
}

/// Offer `fill` % of `n` keys to a table (done, never expiring), then
/// measure `begin` round-robin over them.
macro_rules! cost_rows {
    ($g:expr, $n:literal, $shards:literal, $per:literal) => {{
        let config = Config::new()
            .in_flight_ttl(Duration::from_ticks(u64::MAX / 2))
            .done_ttl(Duration::from_ticks(u64::MAX / 2))
            .eviction(Eviction::EvictDone);
        let seed = Seed::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        for fill in [10u64, 50, 95] {
            let keys = ($n as u64 * fill / 100).max(1);
            let now = Instant::from_ticks(1);
            let mut local: Box<DedupTable<u64, (), $n>> =
                Box::new(DedupTable::new(config, seed).expect("valid"));
            let shared: Box<SharedDedupTable<Raw, u64, (), $shards, $per>> =
                Box::new(SharedDedupTable::new(config, seed).expect("valid"));
            let mut map: HashMap<u64, u64> = HashMap::new();
            for k in 0..keys {
                fusebox_op(&mut *local, id(k, 1 << 20), now);
                shared_op(&*shared, id(k, 1 << 20), now);
                map.insert(id(k, 1 << 20), 1);
            }
            eprintln!(
                "dedup_cost {} slots, {fill} % offered: &mut keeps {}, shared keeps {}",
                $n,
                local.occupied(now),
                shared.occupied(now)
            );
            let mut i = 0u64;
            $g.bench_function(format!("fusebox DedupTable/{}/{fill}%", $n), |b| {
                b.iter(|| {
                    i = (i + 1) % keys;
                    matches!(local.begin(black_box(id(i, 1 << 20)), now), Begin::Done(_))
                })
            });
            $g.bench_function(
                format!(
                    "fusebox SharedDedupTable {}x{}/{}/{fill}%",
                    $shards, $per, $n
                ),
                |b| {
                    b.iter(|| {
                        i = (i + 1) % keys;
                        matches!(
                            shared.begin(black_box(id(i, 1 << 20)), now),
                            SharedBegin::Done(_)
                        )
                    })
                },
            );
            $g.bench_function(format!("HashMap get/{}/{fill}%", $n), |b| {
                b.iter(|| {
                    i = (i + 1) % keys;
                    map.get(&black_box(id(i, 1 << 20))).is_some()
                })
            });
        }
    }};
}

fn cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup_cost");
    cost_rows!(g, 64, 4, 16);
    cost_rows!(g, 1024, 16, 64);
    cost_rows!(g, 16384, 16, 1024);
    cost_rows!(g, 65536, 16, 4096);
    g.finish();
}

criterion_group!(benches, bench, shared, cost);
criterion_main!(benches);
