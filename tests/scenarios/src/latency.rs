//! Tail-latency timelines: one scenario per row of the transition table in
//! `fusebox::latency`, one per convention, and a slow tail cut by hedging.

use fusebox::latency::{
    AdaptiveTimeout, HedgePolicy, LatencyHistogram, McuHistogram, hedge, timeout,
};
use fusebox::time::{Duration, Instant};

use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// 12.5 % up to 2^11 ticks, 4 slots: 856 bytes, small enough for the
/// Cortex-M0 runner's stack.
type Small = LatencyHistogram<3, 40, 4>;

/// Every tail-latency scenario.
pub const SCENARIOS: &[Scenario] = &[
    s(
        "latency::quantile_is_a_bucket_midpoint_within_the_bound",
        quantile_is_a_bucket_midpoint_within_the_bound,
    ),
    s(
        "latency::oldest_slot_leaves_the_window",
        oldest_slot_leaves_the_window,
    ),
    s(
        "latency::time_backwards_counts_as_no_time",
        time_backwards_counts_as_no_time,
    ),
    s(
        "latency::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate,
    ),
    s(
        "latency::timeout_is_initial_until_min_samples_then_the_formula",
        timeout_is_initial_until_min_samples_then_the_formula,
    ),
    s(
        "latency::hedge_waits_for_samples_and_spaces_hedges_by_the_delay",
        hedge_waits_for_samples_and_spaces_hedges_by_the_delay,
    ),
    s(
        "latency::hedge_budget_caps_hedges_at_a_share_of_requests",
        hedge_budget_caps_hedges_at_a_share_of_requests,
    ),
    s(
        "latency::hedging_at_p95_cuts_a_slow_tail",
        hedging_at_p95_cuts_a_slow_tail,
    ),
    s(
        "latency::bad_configs_name_their_field",
        bad_configs_name_their_field,
    ),
];

/// histogram | record, quantile | the midpoint of the rank's bucket
pub fn quantile_is_a_bucket_midpoint_within_the_bound() -> Outcome {
    let mut h = take!(Small::new(d(1_000)));
    check_eq!(h.quantile(500_000, t(0)), None);
    // 1..=100 ticks: below 2^3 exact, above in buckets of 1/4 of a power
    // of two, reported at their midpoint.
    for v in 1..=100 {
        h.record(d(v), t(0));
    }
    check_eq!(h.count(t(0)), 100);
    check_eq!(h.quantile(0, t(0)), Some(d(1)));
    check_eq!(h.quantile(50_000, t(0)), Some(d(5))); // rank 5: exact
    // Rank 50 = 50 ticks, in bucket [48, 55]: midpoint 52 (4 % off).
    check_eq!(h.quantile(500_000, t(0)), Some(d(52)));
    // Rank 99 = 99 ticks, in [96, 111]: midpoint 104.
    check_eq!(h.quantile(990_000, t(0)), Some(d(104)));
    // Ask again lower, then higher: the cursor walks both ways.
    check_eq!(h.quantile(100_000, t(0)), Some(d(11))); // [10, 11]
    check_eq!(h.quantile(1_000_000, t(0)), Some(d(104)));
    // The bound, on every answer: |Q - X| <= X / 8.
    for q in [10_000, 250_000, 750_000, 900_000] {
        let x = (q as u64 * 100).div_ceil(1_000_000);
        let got = take!(h.quantile(q, t(0))).as_ticks();
        check!(got.abs_diff(x) * 8 <= x);
    }
    Ok(())
}

/// histogram | now enters a new slot | the oldest slot leaves the total
pub fn oldest_slot_leaves_the_window() -> Outcome {
    // window 300 in 4 slots: w = 100; a sample lives for 300..400 ticks.
    let mut h = take!(Small::new(d(300)));
    check_eq!(h.slot_duration(), d(100));
    h.record(d(1_000), t(50)); // slot 0: a slow call
    for _ in 0..3 {
        h.record(d(10), t(150)); // slot 1
    }
    check_eq!(h.quantile(1_000_000, t(399)), Some(d(960))); // [896, 1023]
    // At t = 400 slot 0 is out: the slow call no longer sets the max.
    check_eq!(h.quantile(1_000_000, t(400)), Some(d(11)));
    check_eq!(h.count(t(499)), 3);
    check_eq!(h.count(t(500)), 0);
    check_eq!(h.quantile(1_000_000, t(500)), None);
    Ok(())
}

/// Time going backwards lands in the newest slot seen and expires nothing
pub fn time_backwards_counts_as_no_time() -> Outcome {
    let mut h = take!(Small::new(d(300)));
    h.record(d(7), t(1_000));
    h.record(d(3), t(0));
    check_eq!(h.count(t(5)), 2);
    check_eq!(h.quantile(0, t(5)), Some(d(3)));
    // Both samples expire with the slot of t = 1000.
    check_eq!(h.count(t(1_399)), 2);
    check_eq!(h.count(t(1_400)), 0);
    let mut hedge = take!(HedgePolicy::<3, 40, 4>::new(
        hedge::Config::new().min_samples(1).budget_percent(100),
        d(300)
    ));
    hedge.record(d(5), t(1_000));
    check!(hedge.try_hedge(t(0))); // paid by the deposit at 1000
    check!(!hedge.try_hedge(t(0)));
    Ok(())
}

/// Durations, instants and windows near u64::MAX saturate
pub fn instants_near_u64_max_saturate() -> Outcome {
    let mut h = take!(Small::new(Duration::MAX));
    h.record(Duration::MAX, Instant::MAX);
    h.record(d(u64::MAX - 1), Instant::MAX);
    check_eq!(h.count(Instant::MAX), 2);
    // Above the range (2^11 - 1 ticks): counted in the top bucket.
    let top = Small::value_of(Small::bucket_of(Small::MAX_TICKS));
    check_eq!(h.quantile(500_000, Instant::MAX), Some(d(top)));
    let config = timeout::Config::new(d(5), d(1), Duration::MAX)
        .multiplier(u32::MAX, 1)
        .margin(Duration::MAX)
        .min_samples(1);
    let mut timeout = take!(AdaptiveTimeout::<3, 40, 4>::new(config, d(3)));
    timeout.record(Duration::MAX, Instant::MAX);
    check_eq!(timeout.timeout(Instant::MAX), Duration::MAX);
    check_eq!(timeout.deadline(Instant::MAX), Instant::MAX);
    Ok(())
}

/// timeout | fewer than min_samples: initial; then clamp(q x num / den + margin)
pub fn timeout_is_initial_until_min_samples_then_the_formula() -> Outcome {
    let config = timeout::Config::new(d(500), d(20), d(800))
        .quantile(990_000)
        .multiplier(3, 2)
        .margin(d(4))
        .min_samples(10);
    let mut timeout = take!(AdaptiveTimeout::<3, 40, 4>::new(config, d(1_000)));
    for _ in 0..9 {
        timeout.record(d(100), t(0)); // bucket [96, 111], midpoint 104
    }
    check_eq!(timeout.timeout(t(0)), d(500));
    timeout.record(d(100), t(0));
    check_eq!(timeout.timeout(t(0)), d(104 * 3 / 2 + 4));
    // A fast dependency hits the floor, a slow one the ceiling.
    for _ in 0..1_000 {
        timeout.record(d(1), t(1));
    }
    check_eq!(timeout.timeout(t(1)), d(20));
    for _ in 0..1_000 {
        timeout.record(d(2_000), t(2));
    }
    check_eq!(timeout.timeout(t(2)), d(800));
    // All of it ages out: back to the initial timeout.
    check_eq!(timeout.timeout(t(5_000)), d(500));
    Ok(())
}

/// hedge | too few samples, or max_hedges sent | hedge_at is None
pub fn hedge_waits_for_samples_and_spaces_hedges_by_the_delay() -> Outcome {
    let config = hedge::Config::new()
        .quantile(950_000)
        .max_hedges(2)
        .min_samples(20)
        .min_delay(d(3));
    let mut hedge = take!(HedgePolicy::<3, 40, 4>::new(config, d(10_000)));
    for i in 0..19 {
        hedge.record(d(if i == 0 { 900 } else { 7 }), t(i));
    }
    check_eq!(hedge.hedge_at(t(100), t(100)), None);
    hedge.record(d(7), t(19));
    // p95 of 19 x 7 and one 900 is 7 ticks.
    check_eq!(hedge.delay(t(100)), Some(d(7)));
    check_eq!(hedge.hedge_at(t(100), t(100)), Some(t(107)));
    check_eq!(hedge.next_hedge_at(t(100), 1, t(107)), Some(t(114)));
    check_eq!(hedge.next_hedge_at(t(100), 2, t(114)), None);
    // The floor on the delay.
    for _ in 0..1_000 {
        hedge.record(d(1), t(20));
    }
    check_eq!(hedge.delay(t(20)), Some(d(3)));
    Ok(())
}

/// hedge | try_hedge | allowed while the budget holds one; refusals change nothing
pub fn hedge_budget_caps_hedges_at_a_share_of_requests() -> Outcome {
    // 5 % of requests, a 900-tick window in 4 slots of 300.
    let config = hedge::Config::new().budget_percent(5).min_samples(1);
    let mut hedge = take!(HedgePolicy::<3, 40, 4>::new(config, d(900)));
    for _ in 0..39 {
        hedge.record(d(10), t(0));
    }
    check!(hedge.try_hedge(t(0))); // 39 x 5 = 195 hundredths: one hedge
    check!(!hedge.try_hedge(t(1)));
    check!(!hedge.try_hedge(t(2)));
    hedge.record(d(10), t(3)); // 200 - 100 = 100: one more
    check!(hedge.try_hedge(t(3)));
    check!(!hedge.try_hedge(t(3)));
    let m = hedge.metrics();
    check_eq!((m.requests, m.hedges, m.refused), (40, 2, 3));
    // The deposits expire after the window with their slot.
    check_eq!(hedge.available(t(1_199)), 0);
    for _ in 0..20 {
        hedge.record(d(10), t(1_200));
    }
    check_eq!(hedge.available(t(1_200)), 1);
    Ok(())
}

/// A slow tail (2 % of calls 20x the median), hedged after p95 of recent
/// latency: the caller's p99 falls from the slow calls' latency to about
/// p95 + the median, for under 10 % more upstream calls.
pub fn hedging_at_p95_cuts_a_slow_tail() -> Outcome {
    let config = hedge::Config::new().quantile(950_000).budget_percent(10);
    let mut hedge = take!(HedgePolicy::<4, 80, 4>::new(config, d(20_000)));
    let mut seen = take!(LatencyHistogram::<4, 80, 4>::new(d(1_000_000)));
    let mut unhedged = take!(Small::new(d(1_000_000)));
    let median = 100u64;
    let mut hedges = 0u64;
    let n = 2_000u64;
    for i in 0..n {
        let t0 = t(i * 10);
        // Every 50th call is slow: 20x the median. The rest vary a little
        // (95..=105 ticks).
        let upstream = if i % 50 == 7 {
            20 * median
        } else {
            95 + (i * 7) % 11
        };
        let mut latency = upstream;
        if let Some(at) = hedge.hedge_at(t0, t0) {
            let after = at.as_ticks() - t0.as_ticks();
            if after < upstream && hedge.try_hedge(at) {
                hedges += 1;
                // The hedge goes to a healthy replica: a median call.
                latency = latency.min(after + median);
            }
        }
        hedge.record(d(latency), t(i * 10 + latency));
        seen.record(d(latency), t(i * 10));
        unhedged.record(d(upstream), t(i * 10));
    }
    let now = t(n * 10);
    let p99 = take!(seen.quantile(990_000, now)).as_ticks();
    let p99_unhedged = take!(unhedged.quantile(990_000, now)).as_ticks();
    // Unhedged, p99 is a slow call (2 000 ticks, within 12.5 %); hedged it
    // is about p95 + the median (216 ticks, within 6.25 %): 8x lower.
    check!(p99_unhedged >= 1_750);
    check!(p99 <= 250);
    check!(p99 * 5 <= p99_unhedged);
    // Extra load: one hedge per slow call but the first (it came before
    // `min_samples`): 2 %, under the 10 % budget.
    check!(hedges * 10 <= n);
    check_eq!(hedges, n / 50 - 1);
    Ok(())
}

fn field<T>(r: Result<T, fusebox::ConfigError>) -> &'static str {
    match r {
        Ok(_) => "accepted",
        Err(e) => e.field(),
    }
}

/// Bad configurations give a ConfigError naming the field; the documented
/// memory constant
pub fn bad_configs_name_their_field() -> Outcome {
    check_eq!(field(Small::new(d(2))), "window");
    check_eq!(field(Small::new(d(3))), "accepted");
    let tc = |i, lo, hi| timeout::Config::new(d(i), d(lo), d(hi));
    check_eq!(field(tc(5, 6, 9).validate()), "initial");
    check_eq!(field(tc(5, 6, 4).validate()), "min");
    check_eq!(field(tc(5, 1, 9).multiplier(2, 0).validate()), "multiplier");
    check_eq!(
        field(tc(5, 1, 9).quantile(1_000_001).validate()),
        "quantile"
    );
    let hc = hedge::Config::new;
    check_eq!(field(hc().max_hedges(0).validate()), "max_hedges");
    check_eq!(
        field(hc().budget_percent(1_001).validate()),
        "budget_percent"
    );
    check_eq!(field(hc().quantile(2_000_000).validate()), "quantile");
    check_eq!(field(HedgePolicy::<3, 40, 4>::new(hc(), d(1))), "window");
    // core/src/latency/mod.rs, "# Memory": the constant the docs give (the
    // sizes are in the size tables, tests/tests/sizes.rs and tests/m0).
    check_eq!(McuHistogram::MEMORY, 3_576);
    Ok(())
}
