//! Property tests of the file shapes (feature `serde`): a spec that passes
//! its type-independent `check` builds (and fails the same way when it does
//! not), and every spec writes back to itself, in each format.

use fusebox::breaker::{ConsecutiveFailures, CountWindow, FailureCount, TimeWindow};
use fusebox::config::units::{Factor, HumanDuration, Percent, Quantile, Rate};
use fusebox::config::{
    AdaptiveLimitSpec, AdaptiveTimeoutSpec, BackoffSpec, BreakerPolicy, BreakerSpec,
    ConcurrentRetryBudgetSpec, DedupSpec, HedgeSpec, Invalid, JitterSpec, OpenDurations,
    PolicyKind, ProbeRuleSpec, RetryBudgetSpec, ScheduleSpec, WindowSpec,
};
use fusebox::hash::Seed;
use fusebox::time::Duration;
use fusebox_std::config::{ConfigFile, Format};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn duration() -> impl Strategy<Value = HumanDuration> {
    prop_oneof![
        Just(0u64),
        1u64..100,
        (1u64..5_000).prop_map(|ms| ms * 1_000),
        (1u64..100).prop_map(|s| s * 1_000_000),
        any::<u64>(),
    ]
    .prop_map(|t| HumanDuration(Duration::from_ticks(t)))
}

fn percent() -> impl Strategy<Value = Percent> {
    prop_oneof![0u16..=101, any::<u16>()].prop_map(Percent)
}

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.7, s)
}

fn breaker(kind: PolicyKind) -> impl Strategy<Value = BreakerSpec> {
    let window = match kind {
        PolicyKind::CountWindow => {
            opt(prop_oneof![Just(20u64), 0u64..40].prop_map(WindowSpec::Calls)).boxed()
        }
        PolicyKind::TimeWindow => opt(duration().prop_map(WindowSpec::Time)).boxed(),
        PolicyKind::ConsecutiveFailures | PolicyKind::FailureCount => Just(None).boxed(),
    };
    let buckets = match kind {
        PolicyKind::TimeWindow => opt(prop_oneof![Just(10u64), 0u64..20]).boxed(),
        _ => Just(None).boxed(),
    };
    let threshold = match kind {
        PolicyKind::ConsecutiveFailures | PolicyKind::FailureCount => opt(0u32..10).boxed(),
        _ => Just(None).boxed(),
    };
    let interval = match kind {
        PolicyKind::ConsecutiveFailures | PolicyKind::FailureCount => opt(duration()).boxed(),
        _ => Just(None).boxed(),
    };
    // The schedule: constant, geometric, linear or a table (fields of the
    // others mixed in now and then, to be refused).
    let table = prop::option::weighted(
        0.25,
        prop::collection::vec(duration().prop_map(|d| d.0), 0..5)
            .prop_map(|v| OpenDurations::new(&v).unwrap()),
    );
    let step = prop::option::weighted(0.3, duration());
    let rule = opt(prop_oneof![
        Just(ProbeRuleSpec::InFlight),
        Just(ProbeRuleSpec::PerRound)
    ]);
    (
        (threshold, opt(percent()), window, buckets, opt(0u32..30)),
        (opt(duration()), opt(0u32..4), opt(duration())),
        (
            opt(0u16..3),
            opt(0u16..3),
            opt(duration()),
            opt(duration()),
            opt(percent()),
        ),
        (interval, step, table, rule),
    )
        .prop_map(
            move |((t, r, w, b, m), (od, of, om), (hp, hs, pt, sd, sr), (i, st, tb, pr))| {
                BreakerSpec {
                    interval: i,
                    open_duration_step: st,
                    open_durations: tb,
                    probe_rule: pr,
                    failure_threshold: t,
                    failure_rate: r,
                    window: w,
                    buckets: b,
                    minimum_calls: m,
                    open_duration: od,
                    open_duration_factor: of,
                    open_duration_max: om,
                    half_open_probes: hp,
                    half_open_successes: hs,
                    probe_timeout: pt,
                    slow_call_duration: sd,
                    slow_call_rate: sr,
                    ..BreakerSpec::new(kind)
                }
            },
        )
}

/// Build with a `'static` copy of the spec's table (leaked: a test).
fn built<P: BreakerPolicy>(spec: &BreakerSpec) -> Result<(), Invalid> {
    let table = spec
        .open_durations
        .map(|t| &*Box::leak(t.as_slice().to_vec().into_boxed_slice()));
    spec.build_with_table::<P>(table).map(drop)
}

fn quantile() -> impl Strategy<Value = Quantile> {
    prop_oneof![
        Just(990_000u32),
        0u32..=1_000_000,
        1_000_000u32..1_100_000,
        any::<u32>()
    ]
    .prop_map(Quantile)
}

fn sizes() -> impl Strategy<Value = (Option<u64>, Option<u64>, Option<u64>)> {
    (
        opt(prop_oneof![Just(4u64), 1u64..20]),
        opt(prop_oneof![Just(176u64), 0u64..500]),
        opt(prop_oneof![Just(4u64), 0u64..8]),
    )
}

fn adaptive_timeout() -> impl Strategy<Value = AdaptiveTimeoutSpec> {
    (
        (duration(), duration(), duration(), duration()),
        (
            opt(quantile()),
            opt((0u32..4, 0u32..3).prop_map(|(num, den)| Factor { num, den })),
            opt(duration()),
            opt(0u32..200),
        ),
        sizes(),
    )
        .prop_map(
            |(
                (initial, min, max, window),
                (quantile, multiplier, margin, min_samples),
                (p, b, s),
            )| {
                AdaptiveTimeoutSpec {
                    initial,
                    min,
                    max,
                    window,
                    quantile,
                    multiplier,
                    margin,
                    min_samples,
                    precision_bits: p,
                    buckets: b,
                    slots: s,
                }
            },
        )
}

fn hedge() -> impl Strategy<Value = HedgeSpec> {
    (
        (duration(), opt(quantile()), opt(0u8..3)),
        (
            opt(prop_oneof![0u16..=1001, any::<u16>()].prop_map(Percent)),
            opt(rate()),
            opt(0u32..50),
            opt(duration()),
        ),
        sizes(),
    )
        .prop_map(
            |((window, quantile, max_hedges), (bp, bf, min_samples, min_delay), (p, b, s))| {
                HedgeSpec {
                    window,
                    quantile,
                    max_hedges,
                    budget_percent: bp,
                    budget_floor: bf,
                    min_samples,
                    min_delay,
                    precision_bits: p,
                    buckets: b,
                    slots: s,
                }
            },
        )
}

fn rate() -> impl Strategy<Value = Rate> {
    (0u32..2000, duration()).prop_map(|(count, per)| Rate { count, per: per.0 })
}

fn backoff() -> impl Strategy<Value = BackoffSpec> {
    (
        prop_oneof![
            Just(ScheduleSpec::Constant),
            Just(ScheduleSpec::Linear),
            Just(ScheduleSpec::Exponential)
        ],
        (
            opt(duration()),
            opt(duration()),
            opt(duration()),
            opt((0u32..4, 0u32..3).prop_map(|(num, den)| Factor { num, den })),
            opt(duration()),
        ),
        (
            opt(prop_oneof![
                Just(JitterSpec::None),
                Just(JitterSpec::Full),
                Just(JitterSpec::Equal),
                Just(JitterSpec::Decorrelated)
            ]),
            opt(0u32..6),
            opt(duration()),
            opt(duration()),
        ),
    )
        .prop_map(
            |(
                schedule,
                (delay, initial, step, factor, cap),
                (jitter, max_attempts, total_delay_budget, max_hint),
            )| BackoffSpec {
                schedule,
                delay,
                initial,
                step,
                factor,
                cap,
                jitter,
                max_attempts,
                total_delay_budget,
                max_hint,
            },
        )
}

fn file() -> impl Strategy<Value = ConfigFile> {
    (
        breaker(PolicyKind::CountWindow),
        breaker(PolicyKind::TimeWindow),
        breaker(PolicyKind::ConsecutiveFailures),
        (rate(), 0u32..30),
        (percent(), rate(), duration(), opt(0u64..12)),
        backoff(),
        (opt(duration()), opt(duration()), opt(0u64..100)),
        (
            opt(0u32..10),
            opt(0u32..300),
            opt(0u32..300),
            opt(0u16..3),
            opt(percent()),
            opt(duration()),
        ),
        (
            percent(),
            0u32..10,
            breaker(PolicyKind::FailureCount),
            adaptive_timeout(),
            hedge(),
        ),
    )
        .prop_map(
            |(
                cw,
                tw,
                cf,
                (r, burst),
                (p, floor, ttl, slices),
                bo,
                (ift, dt, cap),
                (min, max, initial, inc, back, lt),
                (cp, cmin, fc, at, h),
            )| {
                let mut f = ConfigFile::default();
                f.breaker.insert("failures".into(), fc);
                f.adaptive_timeout.insert("t".into(), at);
                f.hedge.insert("h".into(), h);
                f.breaker.insert("count".into(), cw);
                f.breaker.insert("time".into(), tw);
                f.breaker.insert("consecutive".into(), cf);
                f.limiter
                    .insert("l".into(), fusebox::config::LimiterSpec { rate: r, burst });
                f.retry_budget.insert(
                    "b".into(),
                    RetryBudgetSpec {
                        percent: p,
                        floor,
                        ttl,
                        slices,
                    },
                );
                f.concurrent_retry_budget.insert(
                    "c".into(),
                    ConcurrentRetryBudgetSpec {
                        budget_percent: cp,
                        min_retry_concurrency: cmin,
                    },
                );
                f.backoff.insert("r".into(), bo);
                f.dedup.insert(
                    "d".into(),
                    DedupSpec {
                        in_flight_ttl: ift,
                        done_ttl: dt,
                        eviction: None,
                        capacity: cap,
                    },
                );
                f.adaptive_limit.insert(
                    "a".into(),
                    AdaptiveLimitSpec {
                        min,
                        max,
                        initial,
                        increase: inc,
                        backoff: back,
                        latency_target: lt,
                        decrease_cooldown: None,
                    },
                );
                f
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, rng_seed: RngSeed::Fixed(13), ..ProptestConfig::default() })]

    /// `check` (no compiled type) and `build` (the compiled type the file
    /// states) agree: a spec that passes its check builds, and one that
    /// fails says the same thing both ways.
    #[test]
    fn a_spec_that_checks_builds(spec in breaker(PolicyKind::CountWindow)) {
        let built = built::<CountWindow<20>>(&spec);
        match spec.window {
            Some(WindowSpec::Calls(20)) => prop_assert_eq!(spec.check(), built),
            // Unstated, the window's length is known only to the type: a
            // minimum over it is found when building, and only then.
            None => match built {
                Err(e) if e.field == "minimum_calls" && spec.minimum_calls.is_some_and(|m| m > 20) => {}
                built => prop_assert_eq!(spec.check(), built),
            },
            // A file that states another window checks, but does not build
            // into CountWindow<20>, or fails its check as it would build.
            _ => if spec.check().is_ok() { prop_assert!(built.is_err()) },
        }
    }

    #[test]
    fn a_time_window_that_checks_builds(spec in breaker(PolicyKind::TimeWindow)) {
        let built = built::<TimeWindow<10>>(&spec);
        match spec.buckets {
            Some(10) if spec.check().is_ok() => prop_assert_eq!(built, Ok(())),
            // Unstated, the bucket count is known only to the type: a window
            // shorter than one tick per bucket is found when building, and
            // only then (found by tests/deep.sh: a 1-tick window).
            None if spec.check().is_ok() => match &built {
                Err(e) if e.field == "window"
                    && matches!(spec.window, Some(WindowSpec::Time(HumanDuration(d))) if d.as_ticks() < 10) => {}
                _ => prop_assert_eq!(built, Ok(())),
            },
            _ => {}
        }
        if built.is_ok() {
            prop_assert_eq!(spec.check(), Ok(()));
        }
    }

    #[test]
    fn consecutive_failures_check_as_they_build(spec in breaker(PolicyKind::ConsecutiveFailures)) {
        prop_assert_eq!(spec.check(), built::<ConsecutiveFailures>(&spec));
    }

    #[test]
    fn failure_counts_check_as_they_build(spec in breaker(PolicyKind::FailureCount)) {
        prop_assert_eq!(spec.check(), built::<FailureCount>(&spec));
        // The core alone refuses a table it cannot keep, and only that.
        match (spec.open_durations, spec.build::<FailureCount>()) {
            (Some(_), Ok(_)) => prop_assert!(false, "a table built without a 'static copy"),
            (None, b) => prop_assert_eq!(b.map(drop), spec.check()),
            (Some(_), Err(e)) => if spec.check().is_ok() {
                prop_assert_eq!(e.field, "open_durations");
            },
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: RngSeed::Fixed(13), ..ProptestConfig::default() })]

    fn the_other_specs_check_as_they_build_(f in file()) {
        let l = &f.limiter["l"];
        prop_assert_eq!(l.check(), l.build().map(drop));
        let b = &f.retry_budget["b"];
        if b.slices.is_none_or(|s| s == 10) {
            prop_assert_eq!(b.check(), b.build::<10>().map(drop));
        }
        let r = &f.backoff["r"];
        prop_assert_eq!(r.check(), r.build(1).map(drop));
        let d = &f.dedup["d"];
        if d.capacity.is_none_or(|c| c == 64) {
            prop_assert_eq!(d.check(), d.build::<u32, (), 64>(Seed::new(1, 2)).map(drop));
        }
        let a = &f.adaptive_limit["a"];
        prop_assert_eq!(a.check(), a.build().map(drop));
        let t = &f.adaptive_timeout["t"];
        if t.precision_bits.is_none_or(|p| p == 4) && t.buckets.is_none_or(|b| b == 176) && t.slots.is_none_or(|s| s == 4) {
            let b = t.build::<4, 176, 4>().map(drop);
            match b {
                // Unstated, the slot count is the type's: a window under
                // S - 1 ticks is found when building, and only then.
                Err(e) if t.slots.is_none() && e.field == "window" && (1..3).contains(&t.window.0.as_ticks()) => {
                    prop_assert_eq!(t.check(), Ok(()));
                }
                b => prop_assert_eq!(t.check(), b),
            }
        }
        let h = &f.hedge["h"];
        if h.precision_bits.is_none_or(|p| p == 4) && h.buckets.is_none_or(|b| b == 176) && h.slots.is_none_or(|s| s == 4) {
            let b = h.build::<4, 176, 4>().map(drop);
            match b {
                Err(e) if h.slots.is_none() && e.field == "window" && (1..3).contains(&h.window.0.as_ticks()) => {
                    prop_assert_eq!(h.check(), Ok(()));
                }
                b => prop_assert_eq!(h.check(), b),
            }
        }
        let c = &f.concurrent_retry_budget["c"];
        prop_assert_eq!(c.check(), c.build().map(drop));
        prop_assert_eq!(c.check().is_ok(), c.budget_percent.0 <= 100);
    }

    /// Whatever the values (valid or not), a file writes back to itself in
    /// every format: durations to the tick, rates, percentages, factors.
    fn every_spec_writes_back_to_itself_(f in file()) {
        let json = serde_json::to_string(&f).unwrap();
        let back: ConfigFile = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &f);
        for format in [Format::Toml, Format::Yaml, Format::Json] {
            let text = f.to_string(format).unwrap();
            // The values may be out of range: parse without checking.
            let back = ConfigFile::parse(&text, format).map_err(|e| format!("{e}\n{text}"));
            prop_assert_eq!(back, Ok(f.clone()));
            // And `from_str` refuses exactly the files `check` refuses.
            prop_assert_eq!(ConfigFile::from_str(&text, format).is_ok(), f.check().is_ok());
        }
    }
}

/// Runs `property` on a thread with an 16 MiB stack: a whole generated
/// file (four breakers and every other spec) through proptest's value
/// trees and the three formats' (de)serializers takes between 3 and 4 MiB
/// unoptimized, over the 2 MiB of a test thread.
fn on_a_big_stack(property: fn()) {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(property)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

#[test]
fn the_other_specs_check_as_they_build() {
    on_a_big_stack(the_other_specs_check_as_they_build_);
}

/// Whatever the values (valid or not), a file writes back to itself in
/// every format: durations to the tick, rates, percentages, factors,
/// quantiles, tables.
#[test]
fn every_spec_writes_back_to_itself() {
    on_a_big_stack(every_spec_writes_back_to_itself_);
}
