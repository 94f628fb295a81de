//! Property tests of `fusebox::latency`: the histogram's quantiles against an
//! exact sorted model of the window on random timelines (times going
//! backwards included), the adaptive timeout's formula around the exact
//! quantile, and the hedge budget's law; sizes on x86_64.

use fusebox::latency::{
    AdaptiveTimeout, HedgeMetrics, HedgePolicy, LatencyHistogram, McuHistogram, ServerHistogram,
    hedge, timeout,
};
use fusebox::time::{Duration, Instant};
use fusebox_models::latency::{Window as Model, timeout_bounds, within_bound};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const PPM: u64 = 1_000_000;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Deterministic in CI: the same timelines on every run.
        rng_seed: RngSeed::Fixed(0x16_1a7e),
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Record this many ticks of latency.
    Record(u64),
    /// Ask this quantile, in ppm.
    Quantile(u32),
}

fn timeline() -> impl Strategy<Value = (u64, Vec<(i64, Op)>)> {
    (
        prop_oneof![4u64..100, 100u64..100_000],
        proptest::collection::vec(
            (
                // Mostly forward steps, some backwards.
                prop_oneof![8 => 0i64..50, 1 => -200i64..0, 1 => 0i64..5_000],
                prop_oneof![
                    3 => prop_oneof![
                        0u64..64,
                        0u64..100_000,
                        (0u32..40).prop_map(|s| 1u64 << s),
                        any::<u64>(),
                    ]
                    .prop_map(Op::Record),
                    2 => prop_oneof![0u32..=PPM as u32, Just(990_000), Just(PPM as u32 + 5)]
                        .prop_map(Op::Quantile),
                ],
            ),
            1..300,
        ),
    )
}

/// Runs one timeline on a `LatencyHistogram<P, B, S>` and its model.
fn run_against_model<const P: u32, const B: usize, const S: usize>(
    window: u64,
    steps: &[(i64, Op)],
) -> Result<(), TestCaseError> {
    type H<const P: u32, const B: usize, const S: usize> = LatencyHistogram<P, B, S>;
    let mut h = H::<P, B, S>::new(Duration::from_ticks(window)).unwrap();
    let mut model = Model::new(window, S, H::<P, B, S>::MAX_TICKS);
    prop_assert_eq!(h.slot_duration().as_ticks(), model.slot);
    let mut now: u64 = 1_000;
    for &(dt, op) in steps {
        now = now.saturating_add_signed(dt);
        let at = Instant::from_ticks(now);
        match op {
            Op::Record(v) => {
                h.record(Duration::from_ticks(v), at);
                model.record(v, now);
            }
            Op::Quantile(q) => {
                let got = h.quantile(q, at).map(|d| d.as_ticks());
                let exact = model.quantile(q, now);
                match (got, exact) {
                    (None, None) => {}
                    (Some(got), Some(x)) => {
                        // |Q - X| <= X x 2^-P, and the same bucket.
                        prop_assert!(
                            within_bound(got, x, P),
                            "q={} at {}: got {}, exact {}",
                            q,
                            now,
                            got,
                            x
                        );
                        prop_assert_eq!(H::<P, B, S>::bucket_of(got), H::<P, B, S>::bucket_of(x));
                    }
                    _ => prop_assert!(
                        false,
                        "q={} at {}: got {:?}, exact {:?}",
                        q,
                        now,
                        got,
                        exact
                    ),
                }
            }
        }
        prop_assert_eq!(h.count(at), model.live(now).len() as u64);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Every quantile is within 2^-P of the exact nearest-rank quantile of
    /// the window, and the sample count matches, on random timelines.
    #[test]
    fn quantiles_are_within_the_bound_of_the_exact_model((window, steps) in timeline()) {
        run_against_model::<3, 40, 4>(window, &steps)?; // 12.5 %, 2^11
        run_against_model::<4, 176, 4>(window, &steps)?; // the MCU preset
        run_against_model::<5, 464, 5>(window, &steps)?; // the server preset
        run_against_model::<2, 128, 2>(window, &steps)?; // 25 %, every u64
    }

    /// The timeout is the formula on a quantile within the bound, so it
    /// lies between the formula on X x (1 - 2^-P) and on X x (1 + 2^-P).
    #[test]
    fn timeout_follows_the_exact_quantile(
        samples in proptest::collection::vec(1u64..1_000_000, 1..200),
        q in 0u32..=1_000_000,
        num in 1u32..5,
        den in 1u32..5,
        margin in 0u64..1_000,
        min_samples in 0u32..50,
    ) {
        let d = Duration::from_ticks;
        let config = timeout::Config::new(d(500), d(10), d(3_000_000))
            .quantile(q)
            .multiplier(num, den)
            .margin(d(margin))
            .min_samples(min_samples);
        let mut t = AdaptiveTimeout::<5, 464, 5>::new(config, d(1_000)).unwrap();
        let mut model = Model::new(1_000, 5, u64::MAX);
        let now = Instant::from_ticks(7);
        for &s in &samples {
            t.record(d(s), now);
            model.record(s, 7);
        }
        let got = t.timeout(now).as_ticks();
        if (samples.len() as u32) < min_samples {
            prop_assert_eq!(got, 500);
        } else {
            let x = model.quantile(q, 7).unwrap();
            let (lo, hi) = timeout_bounds(x, 5, (num, den), margin, (10, 3_000_000));
            prop_assert!(lo <= got && got <= hi, "x={} got {} not in {}..={}", x, got, lo, hi);
        }
    }

    /// Within every window [a, a + window): 100 x hedges <= percent x
    /// requests in (a - S x w, a + window) + the floor's reserve; and a
    /// hedge time is t0 + (sent + 1) x delay, never after max_hedges.
    #[test]
    fn hedges_obey_the_budget_law(
        percent in 0u16..=200,
        floor in 0u32..3,
        window in 10u64..5_000,
        steps in proptest::collection::vec((0u64..40, 0u8..3, 1u64..500), 1..400),
    ) {
        const S: usize = 4;
        let config = hedge::Config::new().budget_percent(percent).min_hedges_per_sec(floor).min_samples(5).max_hedges(2);
        let mut h = HedgePolicy::<4, 176, S>::new(config, Duration::from_ticks(window)).unwrap();
        let slot = window.div_ceil(S as u64 - 1);
        let second = Duration::from_secs(1).as_ticks();
        let reserve = 100 * u128::from(floor) * u128::from(window) / u128::from(second);
        let mut now = 0u64;
        let (mut requests, mut hedges) = (Vec::new(), Vec::new());
        for (dt, kind, latency) in steps {
            now += dt;
            let at = Instant::from_ticks(now);
            match kind {
                0 => {
                    h.record(Duration::from_ticks(latency), at);
                    requests.push(now);
                }
                1 => {
                    if h.try_hedge(at) {
                        hedges.push(now);
                    }
                }
                _ => {
                    let t0 = Instant::from_ticks(now.saturating_sub(latency));
                    let first = h.hedge_at(t0, at);
                    let delay = h.delay(at);
                    prop_assert_eq!(first, delay.map(|d| t0 + d));
                    prop_assert_eq!(
                        h.next_hedge_at(t0, 1, at),
                        delay.map(|d| t0 + d + d)
                    );
                    prop_assert_eq!(h.next_hedge_at(t0, 2, at), None);
                    prop_assert_eq!(delay.is_some(), h.histogram().count(at) >= 5);
                }
            }
        }
        let lifetime = S as u64 * slot;
        for &a in &hedges {
            let n = hedges.iter().filter(|&&t| t >= a && t < a + window).count() as u128;
            let r = requests.iter().filter(|&&t| t + lifetime > a && t < a + window).count() as u128;
            prop_assert!(100 * n <= u128::from(percent) * r + reserve,
                "window at {}: {} hedges, {} requests", a, n, r);
        }
        let m = h.metrics();
        prop_assert_eq!(m.requests, requests.len() as u64);
        prop_assert_eq!(m.hedges, hedges.len() as u64);
    }
}

#[test]
fn presets_state_their_error_and_range() {
    assert_eq!(ServerHistogram::RELATIVE_ERROR_PPM, 31_250);
    assert_eq!(ServerHistogram::RANGE_BITS, 32);
    assert_eq!(McuHistogram::RELATIVE_ERROR_PPM, 62_500);
    assert_eq!(McuHistogram::RANGE_BITS, 24);
    assert_eq!(ServerHistogram::MEMORY, 11_192);
    assert_eq!(McuHistogram::MEMORY, 3_576);
}

/// One histogram per second of a long run: quantiles stay within the bound
/// after millions of records and thousands of slot rotations.
#[test]
fn long_run_stays_exact() {
    let mut h = McuHistogram::new(Duration::from_ticks(3_000)).unwrap();
    let mut model = Model::new(3_000, 4, McuHistogram::MAX_TICKS);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for now in 0..200_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = 1 + x % 50_000;
        h.record(Duration::from_ticks(v), Instant::from_ticks(now));
        model.record(v, now);
        if now % 997 == 0 {
            model.samples.retain(|(e, _)| model.latest - e < 4);
            for q in [0, 500_000, 950_000, 990_000, 999_000, PPM as u32] {
                let got = h.quantile(q, Instant::from_ticks(now)).unwrap().as_ticks();
                let exact = model.quantile(q, now).unwrap();
                assert!(got.abs_diff(exact) * 16 <= exact, "{q}: {got} vs {exact}");
            }
        }
    }
}

#[test]
fn metrics_start_at_zero() {
    let h = HedgePolicy::<4, 176, 4>::new(hedge::Config::new(), Duration::from_ticks(100)).unwrap();
    assert_eq!(h.metrics(), HedgeMetrics::default());
}

/// The memory figures BENCHMARKS.md and the bench state: fusebox's fixed
/// size against hdrhistogram's heap counts over the same range.
#[test]
fn hdrhistogram_memory() {
    use hdrhistogram::Histogram;
    let counts = |sigfig| {
        Histogram::<u64>::new_with_bounds(1, 1 << 32, sigfig)
            .unwrap()
            .distinct_values()
    };
    // 1 significant digit: the same layout as P = 5 (32 sub-buckets).
    assert_eq!(counts(1), 480);
    assert_eq!(counts(3), 24_576);
    #[cfg(target_pointer_width = "64")]
    assert_eq!(std::mem::size_of::<Histogram<u64>>(), 96);
    assert_eq!(ServerHistogram::MEMORY, 11_192);
}
