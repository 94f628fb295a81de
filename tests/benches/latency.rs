//! fusebox's latency histogram against `hdrhistogram` 7.5 (what tower's
//! hedge middleware keeps, two at a time), side by side.
//!
//! - `latency/record`: one sample recorded. fusebox's `ServerHistogram`
//!   (3.125 %, up to 2^32 ticks, a 1 s window of 5 slots, `now` supplied
//!   and moving 1 µs per sample so slot rotations are included, amortized)
//!   against `hdrhistogram::Histogram<u64>` over the same range at 1
//!   significant digit (the same bucket layout: 32 sub-buckets) and at 3
//!   (tower's precision). hdrhistogram has no window: tower rotates two
//!   histograms, which costs nothing per record.
//! - `latency/quantile`: p99 of 4096 samples, nothing recorded in between
//!   (a per-request read of the hedge delay), and `latency/record+quantile`:
//!   one record then p99, the pattern of a hedging client. hdrhistogram's
//!   `value_at_quantile` walks its buckets from the start each time;
//!   fusebox walks from its last answer.
//!
//! Memory (asserted in `tests/tests/latency.rs`, `hdrhistogram_memory`):
//! `ServerHistogram` is 11 192 bytes, fixed, window included;
//! `hdrhistogram` at 1 significant digit over 1..2^32 holds 480 `u64`
//! counts (3 840 bytes on the heap plus a 96-byte struct), at 3 digits
//! 24 576 counts (196 608 bytes), each with no window (tower keeps two).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::latency::{McuHistogram, ServerHistogram};
use fusebox::time::{Duration, Instant};
use hdrhistogram::Histogram;

const SAMPLES: usize = 4096;

/// Latencies in ns from 50 µs to about 10 ms, most near 1 ms (a log-uniform
/// mixture), from a fixed xorshift seed: the same on every run.
fn samples() -> Vec<u64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..SAMPLES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let octave = 15 + (x % 100 / 20) as u32 + u32::from(x % 100 > 97) * 2;
            (1u64 << octave) + (x >> 40) % (1u64 << octave)
        })
        .collect()
}

fn hdr(sigfig: u8) -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 1 << 32, sigfig).expect("bounds")
}

fn server() -> ServerHistogram {
    ServerHistogram::new(Duration::from_ticks(1_000_000_000)).expect("window")
}

fn record(c: &mut Criterion) {
    let data = samples();
    let mut g = c.benchmark_group("latency/record");
    for sigfig in [1u8, 3] {
        let mut h = hdr(sigfig);
        let mut i = 0usize;
        g.bench_function(format!("hdrhistogram record (sigfig {sigfig})"), |b| {
            b.iter(|| {
                i = (i + 1) % SAMPLES;
                black_box(&mut h).saturating_record(black_box(data[i]));
            })
        });
    }
    let mut h = server();
    let (mut i, mut now) = (0usize, 0u64);
    g.bench_function("fusebox ServerHistogram record (now supplied)", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            now += 1_000;
            black_box(&mut h).record(
                Duration::from_ticks(black_box(data[i])),
                Instant::from_ticks(now),
            );
        })
    });
    let mut h = McuHistogram::new(Duration::from_ticks(1_000_000_000)).expect("window");
    let (mut i, mut now) = (0usize, 0u64);
    g.bench_function("fusebox McuHistogram record (now supplied)", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            now += 1_000;
            black_box(&mut h).record(
                Duration::from_ticks(black_box(data[i] >> 8)),
                Instant::from_ticks(now),
            );
        })
    });
    g.finish();
}

fn quantile(c: &mut Criterion) {
    let data = samples();
    let mut g = c.benchmark_group("latency/quantile");
    for sigfig in [1u8, 3] {
        let mut h = hdr(sigfig);
        for &v in &data {
            h.saturating_record(v);
        }
        g.bench_function(
            format!("hdrhistogram value_at_quantile p99 (sigfig {sigfig})"),
            |b| b.iter(|| black_box(&h).value_at_quantile(black_box(0.99))),
        );
    }
    let mut h = server();
    for &v in &data {
        h.record(Duration::from_ticks(v), Instant::from_ticks(1));
    }
    g.bench_function("fusebox ServerHistogram quantile p99", |b| {
        b.iter(|| black_box(&mut h).quantile(black_box(990_000), Instant::from_ticks(2)))
    });
    g.finish();

    let mut g = c.benchmark_group("latency/record+quantile");
    for sigfig in [1u8, 3] {
        let mut h = hdr(sigfig);
        for &v in &data {
            h.saturating_record(v);
        }
        let mut i = 0usize;
        g.bench_function(
            format!("hdrhistogram record + p99 (sigfig {sigfig})"),
            |b| {
                b.iter(|| {
                    i = (i + 1) % SAMPLES;
                    h.saturating_record(black_box(data[i]));
                    black_box(&h).value_at_quantile(black_box(0.99))
                })
            },
        );
    }
    let mut h = server();
    for &v in &data {
        h.record(Duration::from_ticks(v), Instant::from_ticks(0));
    }
    let (mut i, mut now) = (0usize, 0u64);
    g.bench_function("fusebox ServerHistogram record + p99 (now supplied)", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            now += 1_000;
            let at = Instant::from_ticks(now);
            h.record(Duration::from_ticks(black_box(data[i])), at);
            black_box(&mut h).quantile(black_box(990_000), at)
        })
    });
    g.finish();
}

criterion_group!(benches, record, quantile);
criterion_main!(benches);
