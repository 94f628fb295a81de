//! Property tests of `fusebox::rate::RetryBudget`: every decision against a
//! reference model that keeps the whole event log, and the documented law
//! checked over every TTL window of random timelines.

use fusebox::rate::RetryBudget;
use fusebox::time::{Duration, Instant};
use fusebox_models::rate::{Budget as Model, BudgetOp as Op};
use proptest::prelude::*;

const S: usize = 10;
const SECOND: u64 = 1_000_000; // embassy-time's default tick rate in tests

fn timeline() -> impl Strategy<Value = (u16, u32, u64, Vec<(u64, Op)>)> {
    (
        0u16..=300,
        0u32..5,
        prop_oneof![9u64..2_000, 9u64..3 * SECOND],
        proptest::collection::vec(
            (
                0u64..1_000,
                prop_oneof![3 => Just(Op::Deposit), 2 => Just(Op::Withdraw)],
            ),
            1..400,
        ),
    )
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(512))]

    /// Same decisions as the reference model, and within every window
    /// [a, a + TTL): 100 x retries <= percent x successes in
    /// (a - S x w, a + TTL) + floor(100 x floor x TTL / 1 s).
    #[test]
    fn decisions_match_the_model_and_obey_the_law((percent, floor, ttl, steps) in timeline()) {
        let mut budget = RetryBudget::builder().slices::<S>().percent_can_retry(percent).min_retries_per_sec(floor).ttl(Duration::from_ticks(ttl)).build().unwrap();
        let mut model = Model::new(percent, floor, ttl, S);
        prop_assert_eq!(budget.slice_duration().as_ticks(), model.slice);
        // Scale the steps to the TTL so windows hold many events.
        let step = (ttl / 200).max(1);
        let (mut latest, mut now) = (0u64, 0u64);
        let mut successes = Vec::new();
        let mut retries = Vec::new();
        for (dt, op) in steps {
            // One step in ten goes back, by up to about one and a half TTLs;
            // the law holds over the instants judged at (the latest seen).
            if dt >= 900 {
                now = now.saturating_sub((dt - 900) * step * 3);
            } else {
                now = latest + dt * step / 10;
            }
            latest = latest.max(now);
            let at = Instant::from_ticks(now);
            let got = match op {
                Op::Deposit => {
                    budget.deposit(at);
                    successes.push(latest);
                    true
                }
                Op::Withdraw => {
                    let ok = budget.try_withdraw(at);
                    if ok {
                        retries.push(latest);
                    }
                    ok
                }
            };
            prop_assert_eq!(got, model.apply(op, now), "decision at {}", now);
            prop_assert_eq!(budget.available(at), model.available(now));
        }
        let lifetime = S as u64 * model.slice;
        for &a in &retries {
            let r = retries.iter().filter(|&&t| t >= a && t < a + ttl).count() as i128;
            let s = successes
                .iter()
                .filter(|&&t| t + lifetime > a && t < a + ttl)
                .count() as i128;
            prop_assert!(
                100 * r <= i128::from(percent) * s + model.reserve,
                "window at {}: {} retries, {} successes, reserve {}", a, r, s, model.reserve
            );
        }
    }

    /// Exactness: n successes at p % pay for exactly floor(n x p / 100)
    /// retries (no truncation of the fraction to zero).
    #[test]
    fn n_successes_pay_exactly_n_times_percent(percent in 1u16..=1000, n in 0u32..500) {
        let mut b = RetryBudget::builder().slices::<S>().percent_can_retry(percent).min_retries_per_sec(0).ttl(Duration::from_ticks(1_000)).build().unwrap();
        let t = Instant::from_ticks(0);
        for _ in 0..n {
            b.deposit(t);
        }
        let mut granted = 0u64;
        while b.try_withdraw(t) {
            granted += 1;
        }
        prop_assert_eq!(granted, u64::from(n) * u64::from(percent) / 100);
    }
}

#[test]
fn finagle_defaults() {
    let b = RetryBudget::default();
    // 10 retries per second for 10 s.
    assert_eq!(b.available(Instant::from_ticks(0)), 100);
    assert_eq!(
        b.slice_duration(),
        Duration::from_ticks(10 * SECOND / 9 + 1)
    );
}
