//! Retry-runner timelines (feature `async`): one scenario per row of the
//! step table in `fusebox::retry`, run with a fake `DelayNs` that records
//! every delay and moves a fake clock, under embassy-futures' no_std
//! `block_on`.

use core::cell::Cell;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Waker};

use embassy_futures::block_on;
use fusebox::backoff::{Backoff, Config, Stop};
use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures, State};
use fusebox::rate::{ConcurrentRetryBudget, RetryBudget};
use fusebox::retry::{Budget, Last, Retry, RetryError, Stopped, Verdict, retry};
use fusebox::time::{Clock, Instant};

use crate::fakes::{FakeDelay, Time};
use crate::timeline::{scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every retry-runner scenario.
pub const SCENARIOS: &[Scenario] = &[
    s(
        "retry::sleeps_the_exact_schedule_until_success",
        sleeps_the_exact_schedule_until_success,
    ),
    s(
        "retry::permanent_error_stops_at_once",
        permanent_error_stops_at_once,
    ),
    s(
        "retry::retry_after_hint_raises_the_delay",
        retry_after_hint_raises_the_delay,
    ),
    s(
        "retry::schedule_stop_returns_last_error_and_attempts",
        schedule_stop_returns_last_error_and_attempts,
    ),
    s(
        "retry::open_breaker_is_not_called_and_its_retry_after_is_the_hint",
        open_breaker_is_not_called_and_its_retry_after_is_the_hint,
    ),
    s("retry::no_budget_no_retry", no_budget_no_retry),
    s(
        "retry::attempt_timeout_races_the_same_delay",
        attempt_timeout_races_the_same_delay,
    ),
    s(
        "retry::deadline_stops_before_sleeping_past_it",
        deadline_stops_before_sleeping_past_it,
    ),
    s(
        "retry::dropped_future_leaks_no_breaker_probe",
        dropped_future_leaks_no_breaker_probe,
    ),
    s(
        "retry::concurrency_budget_hears_each_request_and_retry",
        concurrency_budget_hears_each_request_and_retry,
    ),
    s(
        "retry::concurrency_budget_refuses_a_second_concurrent_retry",
        concurrency_budget_refuses_a_second_concurrent_retry,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Err {
    Flaky,
    Busy(u64),
    Fatal,
}

fn classify(e: &Err) -> Verdict {
    match e {
        Err::Flaky => Verdict::Retry,
        Err::Busy(ticks) => Verdict::RetryAfter(d(*ticks)),
        Err::Fatal => Verdict::Permanent,
    }
}

fn schedule(config: Config) -> Option<Backoff> {
    Backoff::new(config, 1).ok()
}

fn exp() -> Config {
    Config::exponential(d(100), 2, d(1_000)).max_attempts(5)
}

/// A device the operation borrows mutably on every attempt (an I2C bus).
struct Bus {
    transfers: u32,
}

impl Bus {
    async fn read(&mut self, attempt: u32) -> Result<u32, Err> {
        self.transfers += 1;
        if attempt < 4 {
            Err(Err::Flaky)
        } else {
            Ok(attempt)
        }
    }
}

/// call fails, classify Retry | sleep the schedule's delay | succeeds
pub fn sleeps_the_exact_schedule_until_success() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let mut bus = Bus { transfers: 0 };
    let r = block_on(retry(
        take!(schedule(exp())),
        &mut delay,
        &time,
        async |attempt| bus.read(attempt).await,
        classify,
    ));
    check_eq!(r, Ok(4));
    check_eq!(bus.transfers, 4);
    check_eq!(delay.slept(), &[100, 200, 400][..]);
    check_eq!(time.0.get(), 700);
    Ok(())
}

/// classify Permanent | no retry | Stopped::Permanent with the error
pub fn permanent_error_stops_at_once() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let r: Result<(), _> = block_on(retry(
        take!(schedule(exp())),
        &mut delay,
        &time,
        |_| async { Err(Err::Fatal) },
        classify,
    ));
    check_eq!(
        r,
        Err(RetryError {
            last: Last::Error(Err::Fatal),
            attempts: 1,
            stopped: Stopped::Permanent,
        })
    );
    check_eq!(delay.slept(), &[][..]);
    Ok(())
}

/// classify RetryAfter(h) | the next delay is at least h
pub fn retry_after_hint_raises_the_delay() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let r = block_on(retry(
        take!(schedule(exp())),
        &mut delay,
        &time,
        |attempt| {
            let out = match attempt {
                1 => Err(Err::Busy(5_000)),
                2 => Err(Err::Busy(50)),
                _ => Ok(()),
            };
            async move { out }
        },
        classify,
    ));
    check_eq!(r, Ok(()));
    // 5 000 above the 1 000 cap; 50 below the schedule's 200.
    check_eq!(delay.slept(), &[5_000, 200][..]);
    Ok(())
}

/// schedule stops | the last error, the attempts and the Stop
pub fn schedule_stop_returns_last_error_and_attempts() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let r: Result<(), _> = block_on(retry(
        take!(schedule(exp())),
        &mut delay,
        &time,
        |_| async { Err(Err::Flaky) },
        classify,
    ));
    check_eq!(
        r,
        Err(RetryError {
            last: Last::Error(Err::Flaky),
            attempts: 5,
            stopped: Stopped::Schedule(Stop::Attempts),
        })
    );
    check_eq!(delay.slept(), &[100, 200, 400, 800][..]);
    // A hint past max_hint ends at once, reporting the hint.
    let r: Result<(), _> = block_on(retry(
        take!(schedule(exp().max_hint(d(1_000)))),
        &mut delay,
        &time,
        |_| async { Err(Err::Busy(1_001)) },
        classify,
    ));
    check_eq!(
        take!(r.err()).stopped,
        Stopped::Schedule(Stop::HintTooLong(d(1_001)))
    );
    Ok(())
}

/// breaker refuses | no call; its retry_after is the next delay's hint
pub fn open_breaker_is_not_called_and_its_retry_after_is_the_hint() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let config = breaker::Config::new().open_duration(d(3_000));
    let mut b = take!(CircuitBreaker::new(
        config,
        take!(ConsecutiveFailures::new(2))
    ));
    let calls = Cell::new(0u32);
    let r = block_on(
        Retry::new(take!(schedule(exp().max_hint(d(10_000)))))
            .breaker(&mut b)
            .run(
                &mut delay,
                &time,
                |_| {
                    calls.set(calls.get() + 1);
                    // Fails twice (tripping the breaker), then works.
                    let out = if calls.get() <= 2 {
                        Err(Err::Flaky)
                    } else {
                        Ok(())
                    };
                    async move { out }
                },
                classify,
            ),
    );
    check_eq!(r, Ok(()));
    check_eq!(calls.get(), 2 + 1);
    // Failed at t = 0 and t = 100 (trips: open until 3 100); the refused
    // try at 300 waits the 2 800 left, not the schedule's 400.
    check_eq!(delay.slept(), &[100, 200, 2_800][..]);
    check_eq!(b.state(time.now()), State::Closed);
    check_eq!(b.metrics().rejected, 1);
    Ok(())
}

/// budget refuses | no retry | Stopped::Budget
pub fn no_budget_no_retry() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    // 50 %, no floor: two earlier successes pay for exactly one retry.
    let mut budget = take!(
        RetryBudget::<10>::builder()
            .percent_can_retry(50)
            .min_retries_per_sec(0)
            .ttl(d(1_000_000))
            .build()
    );
    budget.deposit(time.now());
    budget.deposit(time.now());
    let r: Result<(), _> = block_on(Retry::new(take!(schedule(exp()))).budget(&mut budget).run(
        &mut delay,
        &time,
        |_| async { Err(Err::Flaky) },
        classify,
    ));
    check_eq!(
        r,
        Err(RetryError {
            last: Last::Error(Err::Flaky),
            attempts: 2,
            stopped: Stopped::Budget,
        })
    );
    check_eq!(delay.slept(), &[100][..]);
    // A success deposits.
    let r = block_on(Retry::new(take!(schedule(exp()))).budget(&mut budget).run(
        &mut delay,
        &time,
        |_| async { Ok::<_, Err>(1) },
        classify,
    ));
    check_eq!(r, Ok(1));
    budget.deposit(time.now());
    check_eq!(budget.available(time.now()), 1);
    Ok(())
}

/// attempt outlasts the timeout | dropped, Last::TimedOut, retried
pub fn attempt_timeout_races_the_same_delay() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let r = block_on(
        Retry::new(take!(schedule(exp().max_attempts(3))))
            .timeout(d(50))
            .run(
                &mut delay,
                &time,
                |attempt| async move {
                    if attempt < 3 {
                        // Never answers: only the timeout ends it.
                        core::future::pending::<()>().await;
                    }
                    Ok::<_, Err>(attempt)
                },
                classify,
            ),
    );
    check_eq!(r, Ok(3));
    // timeout, backoff, timeout, backoff, then the answer.
    check_eq!(delay.slept(), &[50, 100, 50, 200][..]);
    let r: Result<(), _> = block_on(
        Retry::new(take!(schedule(exp().max_attempts(2))))
            .timeout(d(50))
            .run(
                &mut delay,
                &time,
                |_| core::future::pending::<Result<(), Err>>(),
                classify,
            ),
    );
    check_eq!(take!(r.err()).last, Last::TimedOut);
    Ok(())
}

/// now + delay passes the deadline | Stopped::Deadline, no sleep
pub fn deadline_stops_before_sleeping_past_it() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let r: Result<(), _> = block_on(Retry::new(take!(schedule(exp()))).deadline(d(350)).run(
        &mut delay,
        &time,
        |_| {
            time.advance(10);
            async { Err(Err::Flaky) }
        },
        classify,
    ));
    // Calls at 0, 110, 320 take 10 each; 330 + 400 passes 350.
    check_eq!(
        r,
        Err(RetryError {
            last: Last::Error(Err::Flaky),
            attempts: 3,
            stopped: Stopped::Deadline,
        })
    );
    // The 100, the 200, and twice the attempt limit raced (the time left
    // before the deadline), which the op answered first.
    check_eq!(delay.slept(), &[100, 200][..]);
    Ok(())
}

/// future dropped mid-attempt | the permit is recorded Ignored: the probe
/// slot is free at once
pub fn dropped_future_leaks_no_breaker_probe() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let config = breaker::Config::new()
        .open_duration(d(100))
        .probe_timeout(d(500));
    let mut b = take!(CircuitBreaker::new(
        config,
        take!(ConsecutiveFailures::new(1))
    ));
    // Trip it, then wait out the open duration: the next call is a probe.
    let p = take!(b.try_acquire(time.now()));
    b.record(p, breaker::Outcome::Failure, time.now());
    time.advance(100);
    {
        let run = Retry::new(take!(schedule(exp()))).breaker(&mut b).run(
            &mut delay,
            &time,
            |_| core::future::pending::<Result<(), Err>>(),
            classify,
        );
        let mut run = pin!(run);
        let mut cx = Context::from_waker(Waker::noop());
        // The probe is admitted and its call is in flight...
        check!(run.as_mut().poll(&mut cx).is_pending());
        // ...when the caller drops the future (a cancelled request).
    }
    // The dropped attempt gave its permit back as Ignored: the probe slot
    // is free at once, not after the 500-tick probe timeout.
    check_eq!(b.metrics().ignored, 1);
    check_eq!(b.state(time.now()), State::HalfOpen);
    let probe = take!(b.try_acquire(time.now()));
    check!(
        b.record(probe, breaker::Outcome::Success, time.now())
            .is_some()
    );
    check_eq!(b.state(time.now()), State::Closed);
    Ok(())
}

/// A budget many runs share on one core: a `RefCell` handle (on firmware,
/// a blocking mutex), borrowed only inside each call.
struct Local<'a>(&'a core::cell::RefCell<ConcurrentRetryBudget>);

impl Budget for Local<'_> {
    fn request_started(&mut self, now: Instant) {
        Budget::request_started(&mut *self.0.borrow_mut(), now);
    }
    fn deposit(&mut self, now: Instant) {
        Budget::deposit(&mut *self.0.borrow_mut(), now);
    }
    fn try_withdraw(&mut self, now: Instant) -> bool {
        Budget::try_withdraw(&mut *self.0.borrow_mut(), now)
    }
    fn retry_finished(&mut self, now: Instant) {
        Budget::retry_finished(&mut *self.0.borrow_mut(), now);
    }
    fn request_finished(&mut self, now: Instant) {
        Budget::request_finished(&mut *self.0.borrow_mut(), now);
    }
}

/// run starts | request_started; retry admitted | in flight through its
/// wait and attempt; run ends | both finished
pub fn concurrency_budget_hears_each_request_and_retry() -> Outcome {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::new(&time);
    let budget = core::cell::RefCell::new(take!(
        ConcurrentRetryBudget::builder()
            .budget_percent(20)
            .min_retry_concurrency(1)
            .build()
    ));
    // What each attempt sees: (requests, retries) in flight.
    let seen = Cell::new([(9u32, 9u32); 3]);
    let r = block_on(
        Retry::new(take!(schedule(exp())))
            .budget(Local(&budget))
            .run(
                &mut delay,
                &time,
                |attempt| {
                    let b = budget.borrow();
                    let mut s = seen.get();
                    if let Some(slot) = s.get_mut(attempt as usize - 1) {
                        *slot = (b.requests_in_flight(), b.retries_in_flight());
                    }
                    seen.set(s);
                    async move {
                        if attempt < 3 {
                            Err(Err::Flaky)
                        } else {
                            Ok(attempt)
                        }
                    }
                },
                classify,
            ),
    );
    check_eq!(r, Ok(3));
    // The first attempt is the request; each retry is in flight alone.
    check_eq!(seen.get(), [(1, 0), (1, 1), (1, 1)]);
    check_eq!(budget.borrow().requests_in_flight(), 0);
    check_eq!(budget.borrow().retries_in_flight(), 0);
    // A permanent error and a refused retry finish the request too.
    let r: Result<(), _> = block_on(
        Retry::new(take!(schedule(exp())))
            .budget(Local(&budget))
            .run(&mut delay, &time, |_| async { Err(Err::Fatal) }, classify),
    );
    check_eq!(r.map_err(|e| e.stopped), Err(Stopped::Permanent));
    check_eq!(budget.borrow().requests_in_flight(), 0);
    Ok(())
}

/// two runs in flight, min 1, 0 % | the first's retry is admitted, the
/// second's refused (Stopped::Budget); the first dropped mid-retry | counts
/// back to 0
pub fn concurrency_budget_refuses_a_second_concurrent_retry() -> Outcome {
    let time = Time(Cell::new(0));
    let (mut d1, mut d2) = (FakeDelay::new(&time), FakeDelay::new(&time));
    let budget = core::cell::RefCell::new(take!(
        ConcurrentRetryBudget::builder()
            .budget_percent(0)
            .min_retry_concurrency(1)
            .build()
    ));
    // Attempt 1 fails at once; attempt 2 hangs (the retry stays in flight).
    let op = |attempt: u32| async move {
        if attempt == 1 {
            Err(Err::Flaky)
        } else {
            core::future::pending::<Result<(), Err>>().await
        }
    };
    let mut cx = Context::from_waker(Waker::noop());
    {
        let first = Retry::new(take!(schedule(exp())))
            .budget(Local(&budget))
            .run(&mut d1, &time, op, classify);
        let mut first = pin!(first);
        check!(first.as_mut().poll(&mut cx).is_pending());
        check_eq!(budget.borrow().requests_in_flight(), 1);
        check_eq!(budget.borrow().retries_in_flight(), 1);
        let second = Retry::new(take!(schedule(exp())))
            .budget(Local(&budget))
            .run(&mut d2, &time, op, classify);
        let mut second = pin!(second);
        match second.as_mut().poll(&mut cx) {
            core::task::Poll::Ready(Err(e)) => {
                check_eq!(e.stopped, Stopped::Budget);
                check_eq!(e.attempts, 1);
            }
            _ => check!(false),
        }
        // The second request has finished; the first is still retrying.
        check_eq!(budget.borrow().requests_in_flight(), 1);
        check_eq!(budget.borrow().retries_in_flight(), 1);
        // The caller drops the first run mid-retry (a cancelled request).
    }
    check_eq!(budget.borrow().requests_in_flight(), 0);
    check_eq!(budget.borrow().retries_in_flight(), 0);
    Ok(())
}
