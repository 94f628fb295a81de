//! Retry-budget timelines: one scenario per row of the transition table in
//! `fusebox::rate::RetryBudget`, and one per convention.

use fusebox::rate::ConcurrentRetryBudget;
use fusebox::time::{Duration, Instant};

#[cfg(feature = "sync")]
use crate::drivers::Shared;
use crate::drivers::{BudgetFamily, BudgetOps, Local};
use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every retry-budget scenario.
pub const SCENARIOS: &[Scenario] = &[
    s(
        "budget::twenty_percent_is_one_retry_per_five_successes",
        twenty_percent_is_one_retry_per_five_successes::<Local>,
    ),
    s(
        "budget::floor_allows_retries_without_successes",
        floor_allows_retries_without_successes::<Local>,
    ),
    s(
        "budget::deposits_and_withdrawals_expire_after_the_ttl",
        deposits_and_withdrawals_expire_after_the_ttl::<Local>,
    ),
    s(
        "budget::refused_withdrawal_changes_nothing",
        refused_withdrawal_changes_nothing::<Local>,
    ),
    s(
        "budget::time_backwards_counts_as_no_time",
        time_backwards_counts_as_no_time::<Local>,
    ),
    s(
        "budget::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate::<Local>,
    ),
    s(
        "budget::bad_configs_name_their_field",
        bad_configs_name_their_field::<Local>,
    ),
    s(
        "budget::concurrent_retries_at_most_percent_of_requests_in_flight",
        concurrent_retries_at_most_percent_of_requests_in_flight,
    ),
    s(
        "budget::concurrent_minimum_always_allowed",
        concurrent_minimum_always_allowed,
    ),
    s(
        "budget::concurrent_refusal_changes_nothing_and_finishes_saturate",
        concurrent_refusal_changes_nothing_and_finishes_saturate,
    ),
];

/// Every retry-budget scenario again, through the shared budget.
#[cfg(feature = "sync")]
pub const SHARED_SCENARIOS: &[Scenario] = &[
    s(
        "budget_shared::twenty_percent_is_one_retry_per_five_successes",
        twenty_percent_is_one_retry_per_five_successes::<Shared>,
    ),
    s(
        "budget_shared::floor_allows_retries_without_successes",
        floor_allows_retries_without_successes::<Shared>,
    ),
    s(
        "budget_shared::deposits_and_withdrawals_expire_after_the_ttl",
        deposits_and_withdrawals_expire_after_the_ttl::<Shared>,
    ),
    s(
        "budget_shared::refused_withdrawal_changes_nothing",
        refused_withdrawal_changes_nothing::<Shared>,
    ),
    s(
        "budget_shared::time_backwards_counts_as_no_time",
        time_backwards_counts_as_no_time::<Shared>,
    ),
    s(
        "budget_shared::instants_near_u64_max_saturate",
        instants_near_u64_max_saturate::<Shared>,
    ),
    s(
        "budget_shared::bad_configs_name_their_field",
        bad_configs_name_their_field::<Shared>,
    ),
];

/// Without `sync` there is no shared budget.
#[cfg(not(feature = "sync"))]
pub const SHARED_SCENARIOS: &[Scenario] = &[];

/// balance b | deposit | b + percent: 20 % is exactly 1 retry per 5 successes
pub fn twenty_percent_is_one_retry_per_five_successes<F: BudgetFamily>() -> Outcome {
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(20, 0, d(1_000)));
    for round in 0..3u64 {
        for _ in 0..4 {
            b.deposit(t(round));
        }
        // Four successes are 80 hundredths: no retry yet (no truncation
        // either way).
        check!(!b.try_withdraw(t(round)));
        b.deposit(t(round));
        check_eq!(b.available(t(round)), 1);
        check!(b.try_withdraw(t(round)));
        check!(!b.try_withdraw(t(round)));
    }
    // 1 % is one retry per 100 successes.
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(1, 0, d(1_000)));
    for _ in 0..99 {
        b.deposit(t(0));
    }
    check!(!b.try_withdraw(t(0)));
    b.deposit(t(0));
    check!(b.try_withdraw(t(0)));
    // 250 %: two and a half retries per success.
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(250, 0, d(1_000)));
    b.deposit(t(0));
    b.deposit(t(0));
    check_eq!(b.available(t(0)), 5);
    Ok(())
}

/// A new budget holds floor x TTL retries; they come back after the TTL
pub fn floor_allows_retries_without_successes<F: BudgetFamily>() -> Outcome {
    // 2 retries per second over a 10 s TTL (1 MHz ticks in these tests, but
    // the figure only depends on TTL / 1 s).
    let ttl = Duration::from_secs(10);
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(20, 2, ttl));
    check_eq!(b.available(t(0)), 20);
    for _ in 0..20 {
        check!(b.try_withdraw(t(0)));
    }
    check!(!b.try_withdraw(t(0)));
    // The withdrawals expire with their slice: all 20 are back once the
    // slice of t = 0 has left the window (S x w ticks later at most).
    let later = t(10 * b.slice_duration().as_ticks());
    check_eq!(b.available(later), 20);
    Ok(())
}

/// any | a slice older than S slices | its amounts leave the balance
pub fn deposits_and_withdrawals_expire_after_the_ttl<F: BudgetFamily>() -> Outcome {
    // TTL 90 ticks in 10 slices: w = ceil(90 / 9) = 10.
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(100, 0, d(90)));
    check_eq!(b.slice_duration(), d(10));
    b.deposit(t(5));
    b.deposit(t(5));
    // Still spendable a TTL later (slices 0..=9 are live at t = 95).
    check_eq!(b.available(t(95)), 2);
    check!(b.try_withdraw(t(95)));
    // At t = 100 slice 0 leaves: its deposits go, the withdrawal at 95
    // (slice 9) stays, so the balance is negative until it expires too.
    check_eq!(b.available(t(100)), 0);
    check!(!b.try_withdraw(t(100)));
    b.deposit(t(100));
    check!(!b.try_withdraw(t(100))); // -1 + 1 = 0 retries
    b.deposit(t(100));
    check!(b.try_withdraw(t(100)));
    // t = 190: slice 9 has gone; slice 10 (t = 100..110) holds 2 - 1.
    check_eq!(b.available(t(190)), 1);
    check_eq!(b.available(t(200)), 0);
    Ok(())
}

/// balance below one retry | try_withdraw | unchanged, false
pub fn refused_withdrawal_changes_nothing<F: BudgetFamily>() -> Outcome {
    let mut b = take!(<F::Budget<4> as BudgetOps>::build(50, 0, d(30)));
    b.deposit(t(0));
    for _ in 0..10 {
        check!(!b.try_withdraw(t(1)));
    }
    // The 50 hundredths are still there: one more success makes a retry.
    b.deposit(t(2));
    check!(b.try_withdraw(t(2)));
    Ok(())
}

/// Time going backwards lands in the newest slice seen
pub fn time_backwards_counts_as_no_time<F: BudgetFamily>() -> Outcome {
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(100, 0, d(90)));
    b.deposit(t(1_000));
    // An earlier instant neither revives old slices nor expires this one.
    b.deposit(t(0));
    check_eq!(b.available(t(0)), 2);
    check!(b.try_withdraw(t(3)));
    check_eq!(b.available(t(1_000)), 1);
    Ok(())
}

/// Instants and configurations near u64::MAX saturate
pub fn instants_near_u64_max_saturate<F: BudgetFamily>() -> Outcome {
    let mut b = take!(<F::Budget<10> as BudgetOps>::build(
        1000,
        u32::MAX,
        Duration::MAX
    ));
    check!(b.try_withdraw(Instant::MAX));
    b.deposit(Instant::MAX);
    check!(b.available(Instant::MAX) > 1_000_000);
    let mut b = take!(<F::Budget<2> as BudgetOps>::build(100, 0, d(1)));
    b.deposit(t(u64::MAX - 1));
    check!(b.try_withdraw(Instant::MAX));
    check!(!b.try_withdraw(Instant::MAX));
    Ok(())
}

fn field<T>(r: Result<T, fusebox::ConfigError>) -> &'static str {
    match r {
        Ok(_) => "accepted",
        Err(e) => e.field(),
    }
}

/// Bad configurations give a ConfigError naming the field
pub fn bad_configs_name_their_field<F: BudgetFamily>() -> Outcome {
    check_eq!(
        field(<F::Budget<10> as BudgetOps>::build(1001, 0, d(100))),
        "percent_can_retry"
    );
    check_eq!(
        field(<F::Budget<10> as BudgetOps>::build(20, 0, d(8))),
        "ttl"
    );
    check_eq!(
        field(<F::Budget<1> as BudgetOps>::build(20, 0, d(100))),
        "RetryBudget::<S>"
    );
    check_eq!(
        field(<F::Budget<10> as BudgetOps>::build(0, 0, d(9))),
        "accepted"
    );
    Ok(())
}

/// Q requests in flight | try_start_retry | admitted while R < floor(percent x Q / 100)
pub fn concurrent_retries_at_most_percent_of_requests_in_flight() -> Outcome {
    let mut b = take!(
        ConcurrentRetryBudget::builder()
            .budget_percent(25)
            .min_retry_concurrency(0)
            .build()
    );
    check!(!b.try_start_retry()); // no requests, no minimum: no retry
    for _ in 0..7 {
        b.request_started();
    }
    // floor(25 % of 7) = 1.
    check_eq!(b.limit(), 1);
    check!(b.try_start_retry());
    check!(!b.try_start_retry());
    b.request_started(); // 8 requests: 2
    check!(b.try_start_retry());
    check!(!b.try_start_retry());
    check_eq!(b.retries_in_flight(), 2);
    // A request finishes: the limit drops to 1; the two retries in flight
    // run on, and none starts until one finishes and the count is below 1.
    b.request_finished();
    check!(!b.try_start_retry());
    b.retry_finished();
    check!(!b.try_start_retry());
    b.retry_finished();
    check!(b.try_start_retry());
    Ok(())
}

/// any Q | try_start_retry while R < min_retry_concurrency | admitted
pub fn concurrent_minimum_always_allowed() -> Outcome {
    let mut b = ConcurrentRetryBudget::default(); // Envoy's: 20 %, 3
    for _ in 0..3 {
        check!(b.try_start_retry());
    }
    check!(!b.try_start_retry());
    check_eq!(b.limit(), 3);
    for _ in 0..20 {
        b.request_started();
    }
    check_eq!(b.limit(), 4); // max(3, 20 % of 20)
    check!(b.try_start_retry());
    check!(!b.try_start_retry());
    Ok(())
}

/// R >= limit | try_start_retry | unchanged; finishes without starts stay at 0
pub fn concurrent_refusal_changes_nothing_and_finishes_saturate() -> Outcome {
    let mut b = take!(
        ConcurrentRetryBudget::builder()
            .budget_percent(100)
            .min_retry_concurrency(0)
            .build()
    );
    b.request_started();
    check!(b.try_start_retry());
    let before = b.clone();
    check!(!b.try_start_retry());
    check_eq!(b, before);
    for _ in 0..3 {
        b.retry_finished();
        b.request_finished();
    }
    check_eq!((b.requests_in_flight(), b.retries_in_flight()), (0, 0));
    check_eq!(
        ConcurrentRetryBudget::builder()
            .budget_percent(101)
            .min_retry_concurrency(3)
            .build()
            .map_err(|e| e.field()),
        Err("budget_percent")
    );
    Ok(())
}
