//! tokio's timer as an `embedded_hal_async::delay::DelayNs`, so the core's
//! async retry runner sleeps on a server exactly as it does on firmware.

use embedded_hal_async::delay::DelayNs;

/// `DelayNs` over `tokio::time::sleep`. Needs a tokio runtime with the
/// timer enabled (`#[tokio::main]`, or a runtime built with `enable_time`).
///
/// Zero-sized and `Copy`: make one wherever a retry runs.
///
/// ```
/// use fusebox::backoff::{Backoff, Config};
/// use fusebox::retry::{retry, Verdict};
/// use fusebox::time::Duration;
/// use fusebox_std::{StdClock, TokioDelay};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fusebox::ConfigError> {
/// let schedule = Backoff::new(Config::exponential(Duration::from_millis(1), 2, Duration::from_millis(10)), 1)?;
/// let mut tries = 0;
/// let got = retry(schedule, &mut TokioDelay, &StdClock::new(), |_| {
///     tries += 1;
///     let r = if tries < 3 { Err("busy") } else { Ok(tries) };
///     async move { r }
/// }, |_| Verdict::Retry).await;
/// assert_eq!(got.unwrap(), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioDelay;

impl DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(std::time::Duration::from_nanos(u64::from(ns))).await;
    }

    async fn delay_us(&mut self, us: u32) {
        tokio::time::sleep(std::time::Duration::from_micros(u64::from(us))).await;
    }

    async fn delay_ms(&mut self, ms: u32) {
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(ms))).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use fusebox::backoff::{Backoff, Config};
    use fusebox::breaker::{self, ConsecutiveFailures};
    use fusebox::retry::{Last, Retry, Stopped, Verdict};
    use fusebox::time::Duration;

    use super::*;
    use crate::StdClock;

    /// A real retry over tokio's timer: three failures, then success; the
    /// elapsed time is at least the schedule's 5 + 10 + 20 ms.
    #[tokio::test]
    async fn real_retry_sleeps_the_schedule_on_tokio() {
        let schedule = Backoff::new(
            Config::exponential(Duration::from_millis(5), 2, Duration::from_millis(40))
                .max_attempts(5),
            1,
        )
        .unwrap();
        let calls = AtomicU32::new(0);
        let start = std::time::Instant::now();
        let got = fusebox::retry::retry(
            schedule,
            &mut TokioDelay,
            &StdClock::new(),
            |attempt| {
                calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    tokio::task::yield_now().await;
                    if attempt <= 3 {
                        Err("503")
                    } else {
                        Ok(attempt)
                    }
                }
            },
            |_| Verdict::Retry,
        )
        .await;
        assert_eq!(got, Ok(4));
        assert_eq!(calls.load(Ordering::Relaxed), 4);
        assert!(start.elapsed() >= std::time::Duration::from_millis(35));
    }

    /// The per-attempt timeout races a hanging call against tokio's timer,
    /// with a breaker and a budget shared by two concurrent requests.
    #[tokio::test]
    async fn timeout_shared_breaker_and_budget_over_tokio() {
        let breaker = crate::Breaker::new(
            "upstream",
            breaker::Config::new(),
            ConsecutiveFailures::new(3).unwrap(),
        )
        .unwrap();
        let budget = crate::RetryBudget::<10>::new(
            "upstream",
            fusebox::rate::RetryBudget::builder()
                .percent_can_retry(20)
                .min_retries_per_sec(1)
                .ttl(Duration::from_secs(2))
                .build()
                .unwrap(),
        )
        .unwrap();
        let clock = StdClock::new();
        let request = |seed| {
            let schedule = Backoff::new(
                Config::constant(Duration::from_millis(1)).max_attempts(10),
                seed,
            )
            .unwrap();
            Retry::new(schedule)
                .breaker(&breaker)
                .budget(&budget)
                .timeout(Duration::from_millis(20))
                .run(
                    TokioDelay,
                    &clock,
                    async |_| {
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                        Ok::<(), &str>(())
                    },
                    |_| Verdict::Retry,
                )
        };
        let start = std::time::Instant::now();
        let (a, b) = tokio::join!(request(1), request(2));
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        // A floor of 1/s over 2 s pays for 2 retries in all: 4 attempts
        // between the two requests, each cut at 20 ms, then the budget
        // says no to both.
        assert_eq!(a.attempts + b.attempts, 4);
        assert_eq!((a.last, b.last), (Last::TimedOut, Last::TimedOut));
        assert_eq!((a.stopped, b.stopped), (Stopped::Budget, Stopped::Budget));
        assert!(start.elapsed() >= std::time::Duration::from_millis(40));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // The third failure tripped the breaker while the other request's
        // attempt was in flight: its outcome is stale, not a failure.
        let m = breaker.metrics();
        assert_eq!((m.failures, m.stale), (3, 1));
        assert_eq!(budget.available(), 0);
    }

    /// Envoy's concurrency budget shared by three concurrent requests over
    /// tokio: with a minimum of 1 and 0 %, one retry runs at a time; the
    /// others are refused while it is in flight, and every count is back
    /// to 0 once the requests end.
    #[tokio::test]
    async fn shared_concurrency_budget_admits_one_retry_at_a_time() {
        let budget = crate::ConcurrentRetryBudget::new(
            "upstream",
            fusebox::rate::ConcurrentRetryBudget::builder()
                .budget_percent(0)
                .min_retry_concurrency(1)
                .build()
                .unwrap(),
        )
        .unwrap();
        let clock = StdClock::new();
        let request = |seed| {
            let schedule = Backoff::new(
                Config::constant(Duration::from_millis(1)).max_attempts(3),
                seed,
            )
            .unwrap();
            let budget = &budget;
            Retry::new(schedule).budget(budget).run(
                TokioDelay,
                &clock,
                async move |attempt| {
                    if attempt == 1 {
                        return Err("503");
                    }
                    // A retry: hold its slot long enough for the others to ask.
                    assert_eq!(budget.retries_in_flight(), 1);
                    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                    Ok(attempt)
                },
                |_| Verdict::Retry,
            )
        };
        let (a, b, c) = tokio::join!(request(1), request(2), request(3));
        let results = [a, b, c];
        let retried = results.iter().filter(|r| **r == Ok(2)).count();
        let refused = results
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| e.stopped == Stopped::Budget))
            .count();
        assert_eq!((retried, refused), (1, 2), "{results:?}");
        assert_eq!(
            (budget.requests_in_flight(), budget.retries_in_flight()),
            (0, 0)
        );
    }
}
