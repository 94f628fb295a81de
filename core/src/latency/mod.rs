//! Tail latency: a fixed-memory latency histogram, timeouts set from it,
//! and hedged requests under a budget.
//!
//! - [`LatencyHistogram`]: log-linear buckets over durations in ticks
//!   (HdrHistogram's layout), windowed by `now`, with quantiles in parts
//!   per million. Integer-only (the Cortex-M0 has no FPU).
//! - [`AdaptiveTimeout`]: `clamp(quantile x num / den + margin, min, max)`.
//! - [`HedgePolicy`]: when a request may be hedged, how many times, and
//!   whether the hedge budget allows it.
//!
//! At scale the 99th percentile, not the median, is what users feel; the
//! standard tools are timeouts set from the observed distribution and
//! hedged requests (Dean and Barroso, "The Tail at Scale", CACM 56(2),
//! 2013: a second copy sent after the 95th-percentile latency cuts the
//! 99.9th percentile sharply for a few percent more load).
//!
//! ```
//! use fusebox::latency::{hedge, HedgePolicy, McuHistogram};
//! use fusebox::time::{Duration, Instant};
//!
//! let ms = Duration::from_millis;
//! let mut h = McuHistogram::new(ms(10_000))?; // 6.25 %, a 10 s window
//! let now = Instant::from_millis(1);
//! for i in 0..100u64 {
//!     h.record(ms(10 + i % 10), now);
//! }
//! let p99 = h.quantile(990_000, now).unwrap();
//! assert!(p99 >= ms(18) && p99 <= ms(20));
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # The buckets (HdrHistogram)
//!
//! With `P` bits of precision, a duration `v` (in ticks) below `2^P` has a
//! bucket of its own. Above, with `m` the position of its top bit and
//! `s = m - (P - 1)`, it goes to bucket
//!
//! ```text
//! index(v) = s x 2^(P-1) + (v >> s)          (v >> s in [2^(P-1), 2^P))
//! ```
//!
//! so each power-of-two range `[2^m, 2^(m+1))` is cut into `2^(P-1)`
//! buckets of width `2^s`. A bucket's lower bound is at least `2^(P-1+s)`
//! and its midpoint is within `2^(s-1)` of any value in it, hence a
//! relative error of at most `2^-P`. Covering `[0, 2^R)` takes
//! `B = (R - P + 2) x 2^(P-1)` buckets ([`buckets_for`]). This is
//! HdrHistogram's layout (Gil Tene, HdrHistogram, "sub-buckets" of half a
//! power of two) with `P = sub_bucket_bits`, counting from 1 tick.
//!
//! # Quantiles
//!
//! For `N` samples in the window and `q` in parts per million, the answer
//! is the midpoint of the bucket holding the sample of rank
//! `max(1, ceil(q x N / 10^6))` (the nearest-rank definition; p100 is the
//! largest sample's bucket, p0 the smallest's). So for every `q` the answer
//! `Q` and the exact nearest-rank quantile `X` of the samples in the window
//! satisfy
//!
//! ```text
//! |Q - X| <= X x 2^-P          (X <= MAX_TICKS)
//! ```
//!
//! which `tests/tests/latency.rs` checks against an exact sorted model on
//! random timelines. The last answer is kept as a cursor (a bucket and the
//! counts below and through it, updated by each record and expiry): a
//! quantile walks only as far as the answer moved.
//!
//! # The window
//!
//! A ring of `S` slot histograms of `w = ceil(window / (S - 1))` ticks
//! each, plus their running total. A sample recorded in slot `e = now / w`
//! counts while `now / w < e + S`: for at least `window` and less than
//! `S x w` ticks. When `now` enters a new slot the oldest slot is
//! subtracted from the total and emptied; if `S` or more slots have passed,
//! everything is.
//!
//! # Presets
//!
//! | alias | `P, B, S` | error | range (ticks) | x86_64 and thumbv6m bytes |
//! |---|---|---|---|---|
//! | [`ServerHistogram`] | 5, 464, 5 | 3.125 % | 2^32 (4.3 s at 1 GHz, 71 min at 1 MHz) | 11 192 |
//! | [`McuHistogram`] | 4, 176, 4 | 6.25 % | 2^24 (16.8 s at 1 MHz) | 3 576 |
//!
//! # Transitions
//!
//! | type | event | effect |
//! |---|---|---|
//! | histogram | `record(d, now)` | the bucket of `d` counts one more in this slot and in the total |
//! | histogram | `now` enters a new slot | the oldest slot leaves the total |
//! | histogram | `quantile(q, now)` | the cursor moves to the answer's bucket |
//! | timeout | fewer than `min_samples` samples | `initial` |
//! | timeout | at least `min_samples` | `clamp(quantile x num / den + margin, min, max)` |
//! | hedge | fewer than `min_samples` samples, or `max_hedges` sent | `hedge_at` is `None` |
//! | hedge | `try_hedge(now)`, budget holds a hedge | `true`, one hedge withdrawn |
//! | hedge | `try_hedge(now)`, budget empty | `false`, unchanged |
//! | hedge | `record(latency, now)` | a sample, and `percent` hundredths of a hedge deposited |
//!
//! # Conventions
//! - Durations are in ticks of the binary's tick rate; the error bound is
//!   relative, so it holds at any tick rate.
//! - Durations above `MAX_TICKS` are recorded as `MAX_TICKS`.
//! - Time that goes backwards counts as no time elapsed, judged at the
//!   latest instant seen: such a sample goes to the newest slot, and
//!   nothing expires.
//! - No float anywhere: quantiles are parts per million, factors are
//!   `num / den`.
//!
//! # Memory
//!
//! Sizes in bytes (asserted by tests on both targets; the same on each,
//! since no field is pointer-sized):
//!
//! | type | x86_64 and thumbv6m |
//! |---|---|
//! | [`LatencyHistogram<P, B, S>`](LatencyHistogram) | 56 + 4 x B x (S + 1), rounded up to 8 |
//! | [`timeout::Config`] | 48 |
//! | [`AdaptiveTimeout<P, B, S>`](AdaptiveTimeout) | histogram + 48 |
//! | [`hedge::Config`] | 24 |
//! | [`HedgeMetrics`] | 24 |
//! | [`HedgePolicy<P, B, S>`](HedgePolicy) | histogram + 80 + 16 x S |
//!
//! (For comparison: `hdrhistogram`'s `Histogram<u64>` over 1..2^32 ticks
//! is a 96-byte struct plus its counts on the heap, 3 840 bytes at 1
//! significant digit, the layout of `P = 5`, and 196 608 at 3; it has no
//! window, so tower's hedge keeps two and swaps them.)

pub mod hedge;
mod histogram;
pub mod timeout;

pub use hedge::{HedgeMetrics, HedgePolicy};
pub use histogram::LatencyHistogram;
pub use timeout::AdaptiveTimeout;

/// Parts per million: quantiles are given in these (p99 = 990 000).
pub const PPM: u64 = 1_000_000;

/// 3.125 % (`P = 5`) up to 2^32 ticks, a window of 5 slots: 11 192 bytes.
pub type ServerHistogram = LatencyHistogram<5, 464, 5>;

/// 6.25 % (`P = 4`) up to 2^24 ticks, a window of 4 slots: 3 576 bytes,
/// for a Cortex-M0.
pub type McuHistogram = LatencyHistogram<4, 176, 4>;

/// The bucket count `B` that covers durations up to `2^range_bits - 1`
/// ticks at `precision_bits` bits of precision:
/// `(range_bits - precision_bits + 2) x 2^(precision_bits - 1)`.
///
/// ```
/// use fusebox::latency::buckets_for;
/// assert_eq!(buckets_for(5, 32), 464);
/// assert_eq!(buckets_for(4, 24), 176);
/// ```
pub const fn buckets_for(precision_bits: u32, range_bits: u32) -> usize {
    let per_octave = match 1usize.checked_shl(precision_bits.saturating_sub(1)) {
        Some(n) => n,
        None => 0,
    };
    let octaves = range_bits.saturating_add(2).saturating_sub(precision_bits) as usize;
    octaves.saturating_mul(per_octave)
}
