//! fusebox-std: the clocks side by side, and the handles against governor
//! and recloser, each side with the same clock.
//!
//! - `clock`: one read of each clock: `std::time::Instant::now`,
//!   fusebox-std's `StdClock`, `FastClock` (quanta TSC), `RecentClock`
//!   (quanta recent + upkeep), `CoarseClock` (fusebox's own, refreshed by a
//!   thread), and governor's `QuantaClock` / `QuantaUpkeepClock`.
//! - `std/rate`, `std/breaker`: the groups of `common/std_groups.rs`
//!   (its docs say what they measure), with fusebox-std built with
//!   features `tracing` and `metrics` (no subscriber, no recorder
//!   installed), as this crate's tests need them. The same groups with
//!   fusebox-std's default features are `std-default/...` in
//!   `tests/std-default` (`cargo bench -p fusebox-std-default-bench`).
//!
//! Quotas are generous (burst 10^9) so that every call is admitted.

use std::hint::black_box;
use std::time::Instant as StdInstant;

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::time::Clock;
use fusebox_std::{CoarseClock, FastClock, RecentClock, StdClock};
use governor::clock::Clock as GClock;

#[path = "common/std_groups.rs"]
mod std_groups;
#[path = "common/threads.rs"]
mod threads;

use std_groups::governor_upkeep_clock;

fn clocks(c: &mut Criterion) {
    let qu = governor_upkeep_clock();
    let mut g = c.benchmark_group("clock");
    g.bench_function("std Instant::now", |b| b.iter(StdInstant::now));
    let std_clock = StdClock::new();
    g.bench_function("StdClock", |b| b.iter(|| black_box(&std_clock).now()));
    let fast = FastClock::new();
    g.bench_function("FastClock (quanta TSC)", |b| {
        b.iter(|| black_box(&fast).now())
    });
    let recent = RecentClock::new();
    g.bench_function("RecentClock (quanta recent + upkeep)", |b| {
        b.iter(|| black_box(&recent).now())
    });
    let coarse = CoarseClock::new();
    g.bench_function("CoarseClock (fusebox, 1 ms thread)", |b| {
        b.iter(|| black_box(&coarse).now())
    });
    let q = governor::clock::QuantaClock::default();
    g.bench_function("governor QuantaClock", |b| {
        b.iter(|| GClock::now(black_box(&q)))
    });
    g.bench_function("governor QuantaUpkeepClock", |b| {
        b.iter(|| GClock::now(black_box(&qu)))
    });
    g.finish();
}

fn rate(c: &mut Criterion) {
    std_groups::rate(c, "std");
}

fn breakers(c: &mut Criterion) {
    std_groups::breakers(c, "std");
}

criterion_group!(benches, clocks, rate, breakers);
criterion_main!(benches);
