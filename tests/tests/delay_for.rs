//! `backoff::Config::delay_for` against the replayed schedule: the law
//! `Backoff::new(config, seed)?.nth(n) == config.delay_for(seed, n)?`.

use fusebox::backoff::{Backoff, Config, Jitter};
use fusebox::rng::Rng;
use fusebox::time::Duration;
use proptest::prelude::*;

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

/// Configurations of every growth and every jitter `delay_for` accepts,
/// with small values (empty jitter ranges, a cap reached early) and huge
/// ones (saturation).
fn config() -> impl Strategy<Value = Config> {
    let ticks = prop_oneof![0u64..4, 0u64..1_000, 0u64..u64::MAX];
    let growth = prop_oneof![
        ticks.clone().prop_map(|x| Config::constant(d(x))),
        (ticks.clone(), ticks.clone(), ticks.clone()).prop_map(|(i, step, extra)| {
            Config::linear(d(i), d(step), d(i.saturating_add(extra)))
        }),
        (1u64..1_000, 1u32..5, ticks.clone()).prop_map(|(i, f, extra)| Config::exponential(
            d(i),
            f,
            d(i.saturating_add(extra))
        )),
        (1u64..1_000, 1u32..20, 1u32..20, ticks).prop_map(|(i, a, b, extra)| {
            Config::exponential_ratio(d(i), a.max(b), a.min(b), d(i.saturating_add(extra)))
        }),
    ];
    let jitter = prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)];
    (growth, jitter).prop_map(|(c, j)| c.jitter(j))
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(1000))]

    /// Every delay of the replayed schedule, and none past `max_attempts - 1`.
    #[test]
    fn delay_for_is_the_nth_replayed_delay(
        config in config(),
        seed in any::<u64>(),
        attempts in 1u32..150,
        budget in proptest::option::of(0u64..5_000),
    ) {
        let config = config.max_attempts(attempts);
        prop_assert!(config.validate().is_ok(), "{:?}", config);
        let replayed: Vec<Duration> = Backoff::new(config, seed).unwrap().collect();
        prop_assert_eq!(replayed.len() as u32, attempts - 1);
        for (n, want) in replayed.iter().enumerate() {
            prop_assert_eq!(config.delay_for(seed, n as u32).unwrap(), Some(*want), "n = {}", n);
        }
        prop_assert_eq!(config.delay_for(seed, attempts - 1).unwrap(), None);
        prop_assert_eq!(config.delay_for(seed, u32::MAX).unwrap(), None);
        // The total-delay budget is not part of it: the delays given before
        // it stopped the schedule are the same, and delay_for goes on.
        if let Some(b) = budget {
            let capped = config.total_delay_budget(d(b));
            for (n, got) in Backoff::new(capped, seed).unwrap().enumerate() {
                prop_assert_eq!(got, replayed[n]);
                prop_assert_eq!(capped.delay_for(seed, n as u32).unwrap(), Some(got));
            }
        }
    }

    /// Far ahead without a replay: the n-th delay of a long schedule.
    #[test]
    fn delay_for_jumps_far_ahead(config in config(), seed in any::<u64>(), n in 0u32..3_000) {
        let config = config.max_attempts(u32::MAX);
        let want = Backoff::new(config, seed).unwrap().nth(n as usize);
        prop_assert_eq!(config.delay_for(seed, n).unwrap(), want);
    }

    /// `skip(k)` is k draws.
    #[test]
    fn skip_is_k_draws(seed in any::<u64>(), k in 0u64..2_000) {
        let mut a = Rng::new(seed);
        for _ in 0..k {
            a.next_u64();
        }
        let mut b = Rng::new(seed);
        b.skip(k);
        prop_assert_eq!(a.next_u64(), b.next_u64());
    }
}

#[test]
fn delay_for_refuses_decorrelated_jitter_and_bad_configs() {
    let c = Config::exponential(d(10), 2, d(1000)).jitter(Jitter::Decorrelated);
    let e = c.delay_for(1, 0).unwrap_err();
    assert_eq!(e.field(), "jitter");
    assert!(e.to_string().contains("replay the schedule"), "{e}");
    let bad = Config::exponential(d(10), 2, d(5));
    assert_eq!(bad.delay_for(1, 0).unwrap_err().field(), "cap");
}

#[test]
fn every_jittered_delay_draws_one_number_even_when_its_range_is_empty() {
    // Full jitter over [0, 0] for the first retries, then a real range: the
    // values after the empty ones must not shift.
    let c = Config::linear(d(0), d(1), d(100))
        .jitter(Jitter::Full)
        .max_attempts(50);
    let replayed: Vec<_> = Backoff::new(c, 77).unwrap().collect();
    assert_eq!(replayed[0], d(0));
    let mut rng = Rng::new(77);
    for (n, got) in replayed.iter().enumerate() {
        let v = (n as u64).min(100);
        // Lemire's multiply-shift over [0, v], from one draw each.
        let x = rng.next_u64();
        let want = ((u128::from(x) * u128::from(v + 1)) >> 64) as u64;
        assert_eq!(got.as_ticks(), want, "retry {n}");
    }
}
