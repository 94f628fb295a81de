//! Property tests of `fusebox::backoff` against a reference model: the
//! un-jittered schedule computed naively (u128, no saturation tricks), the
//! limits applied in the documented order, the jitter bands checked per
//! delay, and the spread of many seeded schedules.

use fusebox::backoff::{Backoff, Config, Jitter, Stop};
use fusebox::time::Duration;
use fusebox_models::backoff::{Growth, Schedule};
use proptest::prelude::*;

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

#[derive(Debug, Clone)]
struct Case {
    growth: Growth,
    initial: u64,
    cap: u64,
    jitter: Jitter,
    max_attempts: u32,
    budget: Option<u64>,
    max_hint: u64,
    seed: u64,
    hints: Vec<Option<u64>>,
}

impl Case {
    fn config(&self) -> Config {
        let (i, c) = (d(self.initial), d(self.cap));
        let mut config = match self.growth {
            Growth::Constant => Config::constant(i),
            Growth::Linear(step) => Config::linear(i, d(step), c),
            Growth::Exp(f) => Config::exponential(i, f, c),
            Growth::Ratio(n, den) => Config::exponential_ratio(i, n, den, c),
        }
        .jitter(self.jitter)
        .max_attempts(self.max_attempts)
        .max_hint(d(self.max_hint));
        if let Some(b) = self.budget {
            config = config.total_delay_budget(d(b));
        }
        config
    }

    /// The un-jittered schedule, for the reference model.
    fn schedule(&self) -> Schedule {
        Schedule {
            growth: self.growth,
            initial: self.initial,
            cap: self.cap,
        }
    }

    fn cap(&self) -> u64 {
        self.schedule().cap()
    }

    /// The un-jittered value of retry `n`, from the model.
    fn value(&self, n: u32) -> u64 {
        self.schedule().value(n)
    }
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

fn growth() -> impl Strategy<Value = Growth> {
    prop_oneof![
        Just(Growth::Constant),
        (0u64..5_000).prop_map(Growth::Linear),
        prop_oneof![1u32..5, Just(u32::MAX)].prop_map(Growth::Exp),
        (1u32..5, 0u32..5).prop_map(|(den, extra)| Growth::Ratio(den + extra, den)),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        growth(),
        1u64..10_000,
        prop_oneof![0u64..100_000, Just(u64::MAX - 10_000)],
        jitter(),
        prop_oneof![1u32..40, Just(u32::MAX)],
        proptest::option::of(0u64..500_000),
        0u64..200_000,
        any::<u64>(),
        proptest::collection::vec(proptest::option::weighted(0.3, 0u64..250_000), 0..60),
    )
        .prop_map(
            |(growth, initial, extra, jitter, max_attempts, budget, max_hint, seed, hints)| Case {
                growth,
                initial,
                cap: initial.saturating_add(extra),
                jitter,
                max_attempts,
                budget,
                max_hint,
                seed,
                hints,
            },
        )
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(512))]

    /// Every delay and every stop obeys the documented law; without jitter
    /// every delay equals the reference model's.
    #[test]
    fn delays_obey_the_law(c in case()) {
        let mut b = Backoff::new(c.config(), c.seed).expect("valid case");
        let cap = c.cap();
        let budget = c.budget.unwrap_or(u64::MAX);
        let mut given: u32 = 0;
        let mut total: u64 = 0;
        let mut prev = c.initial; // decorrelated: the previous draw, when known
        let mut prev_known = true;
        let mut stopped: Option<Stop> = None;
        for hint in &c.hints {
            let got = b.try_next(hint.map(d));
            if let Some(s) = stopped {
                prop_assert_eq!(got, Err(s), "fused");
                continue;
            }
            let h = hint.unwrap_or(0);
            let left = if budget == u64::MAX { u64::MAX } else { budget - total };
            match got {
                Err(Stop::Attempts) => {
                    prop_assert_eq!(given, c.max_attempts.saturating_sub(1));
                    stopped = Some(Stop::Attempts);
                }
                Err(Stop::HintTooLong(x)) => {
                    prop_assert!(given < c.max_attempts - 1);
                    prop_assert_eq!(Some(x.as_ticks()), *hint);
                    prop_assert!(h > c.max_hint || h > left);
                    stopped = Some(Stop::HintTooLong(x));
                }
                Err(Stop::Budget) => {
                    prop_assert!(given < c.max_attempts - 1);
                    prop_assert!(h <= c.max_hint && h <= left);
                    // The drawn delay would have passed the budget: with no
                    // jitter it is exactly the model's value.
                    if c.jitter == Jitter::None {
                        prop_assert!(c.value(given).max(h) > left);
                    }
                    stopped = Some(Stop::Budget);
                }
                Ok(delay) => {
                    let delay = delay.as_ticks();
                    prop_assert!(given < c.max_attempts - 1, "attempts never exceed the max");
                    prop_assert!(h <= c.max_hint, "a hint past max_hint is never slept");
                    prop_assert!(delay >= h, "never below the hint");
                    prop_assert!(delay <= left, "total never passes the budget");
                    prop_assert!(delay <= cap.max(h), "never above the cap unless a hint asks");
                    let v = c.value(given);
                    match c.jitter {
                        Jitter::None => prop_assert_eq!(delay, v.max(h)),
                        Jitter::Full => prop_assert!(delay <= v.max(h)),
                        Jitter::Equal => prop_assert!(delay >= v / 2 && delay <= v.max(h)),
                        Jitter::Decorrelated => {
                            prop_assert!(delay >= c.initial);
                            if prev_known {
                                prop_assert!(delay <= cap.min(prev.saturating_mul(3)).max(h));
                            }
                            // The draw is the delay unless the hint raised it.
                            prev_known = delay > h;
                            prev = delay;
                        }
                    }
                    given += 1;
                    total = total.saturating_add(delay);
                    prop_assert_eq!(b.total().as_ticks(), total);
                    prop_assert_eq!(b.retries(), given);
                }
            }
        }
    }

    /// Seeds next to each other (device ids 1, 2, 3...) give schedules that
    /// are spread over the whole band, not bunched.
    #[test]
    fn many_seeded_schedules_are_spread(first in any::<u64>()) {
        const N: u64 = 400;
        let v = 1_000_000u64;
        let c = Config::constant(d(v)).jitter(Jitter::Full);
        let mut bins = [0u32; 10];
        let mut firsts = Vec::new();
        for seed in first..first.saturating_add(N) {
            let mut b = Backoff::new(c, seed).unwrap();
            let x = b.next().unwrap().as_ticks();
            bins[(x * 10 / (v + 1)) as usize] += 1;
            firsts.push(x);
        }
        // 40 expected per tenth of the band; a bunched generator fails this.
        for n in bins {
            prop_assert!((10..=80).contains(&n), "bins {:?}", bins);
        }
        firsts.sort_unstable();
        firsts.dedup();
        prop_assert!(firsts.len() as u64 > N - 5, "devices collide");
    }
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(64))]

    /// Decorrelated jitter near the cap, for any seed: few delays sit on
    /// the cap itself (AWS's formula puts about half there), and both
    /// halves of [base, cap] are used.
    #[test]
    fn decorrelated_near_the_cap_is_spread(seed in any::<u64>()) {
        let c = Config::exponential(d(10), 2, d(1_000))
            .jitter(Jitter::Decorrelated)
            .max_attempts(u32::MAX);
        let mut b = Backoff::new(c, seed).unwrap();
        let draws: Vec<u64> = b.by_ref().skip(50).take(2_000).map(|x| x.as_ticks()).collect();
        let at_cap = draws.iter().filter(|&&x| x == 1_000).count();
        let high = draws.iter().filter(|&&x| x >= 500).count();
        prop_assert!(at_cap < 40, "{} of 2000 on the cap", at_cap);
        prop_assert!(high > 200 && high < 1_800, "{} of 2000 in the upper half", high);
    }
}

#[test]
fn ten_thousand_retries_cost_the_same_and_saturate() {
    let c = Config::exponential(d(3), 3, Duration::MAX)
        .jitter(Jitter::Equal)
        .max_attempts(u32::MAX);
    let mut b = Backoff::new(c, 5).unwrap();
    let last = b.by_ref().take(10_000).last().unwrap();
    assert!(last >= Duration::from_ticks(u64::MAX / 2));
    assert_eq!(b.retries(), 10_000);
}
