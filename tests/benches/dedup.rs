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
use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::dedup::{Begin, Config, DedupTable, Eviction};
use fusebox::hash::Seed;
use fusebox::time::{Duration, Instant};

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
fn fusebox_op(t: &mut DedupTable<u64, (), 1024>, key: u64, now: Instant) -> bool {
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

criterion_group!(benches, bench);
criterion_main!(benches);
