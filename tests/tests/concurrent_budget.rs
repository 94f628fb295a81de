//! `ConcurrentRetryBudget` against its law: each decision is
//! `R < max(min_retry_concurrency, floor(budget_percent x Q / 100))`, and
//! while requests outlive their retries, `R` never passes that limit.

use fusebox::rate::ConcurrentRetryBudget;
use fusebox_models::rate::ConcurrentBudget;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Event {
    RequestStarted,
    RequestFinished,
    TryRetry,
    RetryFinished,
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec(
        prop_oneof![
            3 => Just(Event::RequestStarted),
            2 => Just(Event::RequestFinished),
            4 => Just(Event::TryRetry),
            2 => Just(Event::RetryFinished),
        ],
        1..300,
    )
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(1000))]

    /// Every decision and count equals the formula's, whatever the order
    /// of events (finishes without starts included: they saturate at 0).
    #[test]
    fn decisions_follow_the_formula(percent in 0u8..=100, min in 0u32..5, events in events()) {
        let mut b = ConcurrentRetryBudget::builder().budget_percent(percent).min_retry_concurrency(min).build().unwrap();
        let mut m = ConcurrentBudget::new(percent, min);
        for e in events {
            match e {
                Event::RequestStarted => { b.request_started(); m.request_started(); }
                Event::RequestFinished => { b.request_finished(); m.request_finished(); }
                Event::RetryFinished => { b.retry_finished(); m.retry_finished(); }
                Event::TryRetry => {
                    let (q, r, limit) = (m.requests, m.retries, m.limit());
                    prop_assert_eq!(b.try_start_retry(), m.try_start_retry(), "q {} r {} limit {}", q, r, limit);
                }
            }
            prop_assert_eq!(u64::from(b.requests_in_flight()), m.requests);
            prop_assert_eq!(u64::from(b.retries_in_flight()), m.retries);
            prop_assert_eq!(u64::from(b.limit()), m.limit());
        }
    }

    /// With requests that finish only after their retries (the runner's
    /// order), retries in flight never pass the limit.
    #[test]
    fn retries_in_flight_stay_within_the_limit(
        percent in 0u8..=100,
        min in 0u32..5,
        steps in proptest::collection::vec((0u8..4, any::<prop::sample::Index>()), 1..300),
    ) {
        let mut b = ConcurrentRetryBudget::builder().budget_percent(percent).min_retry_concurrency(min).build().unwrap();
        // Each request in flight: whether a retry of it is in flight.
        let mut requests: Vec<bool> = Vec::new();
        for (op, which) in steps {
            let mut admitted = false;
            match op {
                0 => { b.request_started(); requests.push(false); }
                1 if !requests.is_empty() => {
                    let i = which.index(requests.len());
                    if requests.remove(i) { b.retry_finished(); }
                    b.request_finished();
                }
                2 if !requests.is_empty() => {
                    let i = which.index(requests.len());
                    if !requests[i] && b.try_start_retry() {
                        requests[i] = true;
                        admitted = true;
                    }
                }
                3 if !requests.is_empty() => {
                    let i = which.index(requests.len());
                    if std::mem::take(&mut requests[i]) { b.retry_finished(); }
                }
                _ => {}
            }
            let retrying = requests.iter().filter(|x| **x).count() as u32;
            prop_assert_eq!(b.retries_in_flight(), retrying);
            prop_assert_eq!(b.requests_in_flight(), requests.len() as u32);
            // A request finishing may lower the limit under retries already
            // running; none starts then, so the excess only drains: right
            // after an admission the retries in flight are within the limit.
            if admitted {
                prop_assert!(retrying <= b.limit(), "{} > {}", retrying, b.limit());
            }
        }
    }
}
