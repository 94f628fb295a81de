//! Property tests of the async retry runner (`fusebox::retry`) with a fake
//! `DelayNs` that records every delay: the runner sleeps exactly what its
//! schedule gives for the hints the classifier returned, calls the
//! operation at most `max_attempts` times, and stops for the right reason.
//! Then the budget law holds for many runs sharing one `RetryBudget`.

use std::cell::Cell;

use embassy_futures::block_on;
use fusebox::backoff::{Backoff, Config, Jitter, Stop};
use fusebox::rate::RetryBudget;
use fusebox::retry::{Last, Retry, Stopped, Verdict};
use fusebox::time::{Clock, Duration};
use fusebox_scenarios::fakes::{FakeDelay, Time};
use proptest::prelude::*;

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    Flaky,
    Busy(u64),
    Fatal,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        1 => Just(Answer::Ok),
        4 => Just(Answer::Flaky),
        2 => (0u64..3_000).prop_map(Answer::Busy),
        1 => Just(Answer::Fatal),
    ]
}

fn classify(a: &Answer) -> Verdict {
    match a {
        Answer::Busy(h) => Verdict::RetryAfter(d(*h)),
        Answer::Fatal => Verdict::Permanent,
        _ => Verdict::Retry,
    }
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(512))]

    #[test]
    fn runner_sleeps_the_schedule_and_stops_for_the_right_reason(
        answers in proptest::collection::vec(answer(), 1..30),
        max_attempts in 1u32..12,
        jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Decorrelated)],
        seed in any::<u64>(),
        budget in proptest::option::of(0u64..20_000),
    ) {
        let mut config = Config::exponential(d(100), 2, d(2_000))
            .jitter(jitter)
            .max_attempts(max_attempts)
            .max_hint(d(2_500));
        if let Some(b) = budget {
            config = config.total_delay_budget(d(b));
        }
        let schedule = Backoff::new(config, seed).unwrap();
        let mut model = schedule.clone();
        let time = Time(Cell::new(0));
        let mut delay = FakeDelay::<64>::keeping(&time);
        let calls = Cell::new(0usize);
        let result = block_on(Retry::new(schedule).run(
            &mut delay,
            &time,
            |attempt| {
                let i = calls.get();
                calls.set(i + 1);
                assert_eq!(attempt as usize, i + 1);
                let a = answers.get(i).copied().unwrap_or(Answer::Flaky);
                async move { if a == Answer::Ok { Ok(i) } else { Err(a) } }
            },
            classify,
        ));
        let n = calls.get();
        prop_assert!(n as u32 <= max_attempts, "attempts never exceed the max");
        // Replay the schedule with the hints the answers gave.
        let mut expected = Vec::new();
        let mut stop = None;
        for a in answers.iter().chain(std::iter::repeat(&Answer::Flaky)).take(n) {
            let hint = match a {
                Answer::Busy(h) => Some(d(*h)),
                Answer::Ok | Answer::Fatal => break,
                Answer::Flaky => None,
            };
            match model.try_next(hint) {
                Ok(x) => expected.push(x.as_ticks()),
                Err(s) => { stop = Some(s); break; }
            }
        }
        prop_assert_eq!(delay.slept(), &expected[..]);
        prop_assert_eq!(delay.count(), expected.len());
        let last = answers.get(n - 1).copied().unwrap_or(Answer::Flaky);
        match result {
            Ok(i) => prop_assert_eq!((i + 1, last), (n, Answer::Ok)),
            Err(e) => {
                prop_assert_eq!(e.attempts as usize, n);
                prop_assert_eq!(e.last, Last::Error(last));
                match last {
                    Answer::Fatal => prop_assert_eq!(e.stopped, Stopped::Permanent),
                    _ => prop_assert_eq!(Some(e.stopped), stop.map(Stopped::Schedule)),
                }
            }
        }
    }

    /// Many failing requests sharing one budget: retries stay within
    /// percent x successes + floor x TTL, whatever the traffic.
    #[test]
    fn shared_budget_caps_a_retry_storm(
        requests in proptest::collection::vec((any::<bool>(), 0u64..50_000), 1..200),
    ) {
        let ttl = 10 * 1_000_000; // 10 s at 1 MHz
        let mut budget = RetryBudget::<10>::builder().percent_can_retry(20).min_retries_per_sec(1).ttl(d(ttl)).build().unwrap();
        let time = Time(Cell::new(0));
        let (mut successes, mut retries) = (0i64, 0i64);
        for (works, gap) in requests {
            time.0.set(time.0.get() + gap);
            let mut delay = FakeDelay::<64>::keeping(&time);
            let schedule = Backoff::new(Config::constant(d(10)).max_attempts(5), 0).unwrap();
            let r = block_on(Retry::new(schedule).budget(&mut budget).run(
                &mut delay,
                &time,
                |_| async move { if works { Ok(()) } else { Err(Answer::Flaky) } },
                classify,
            ));
            successes += i64::from(r.is_ok());
            retries += delay.count() as i64;
            if let Err(e) = r {
                prop_assert!(matches!(e.stopped, Stopped::Budget | Stopped::Schedule(Stop::Attempts)));
            }
        }
        // The whole run lasts under 10 s + 200 x 50 ms: within about two
        // TTL windows, each allowing 20 % of the successes that can pay
        // for it plus 10.
        prop_assert!(time.0.get() < 2 * ttl);
        prop_assert!(100 * retries <= 2 * 20 * successes + 2 * 100 * 10, "{} retries for {} successes", retries, successes);
    }
}

#[test]
fn timeout_then_success_over_the_fake_delay() {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::<64>::keeping(&time);
    let schedule = Backoff::new(Config::constant(d(7)).max_attempts(3), 0).unwrap();
    let r = block_on(Retry::new(schedule).timeout(d(1_000)).run(
        &mut delay,
        &time,
        |attempt| async move {
            if attempt == 1 {
                std::future::pending::<()>().await;
            }
            Ok::<_, Answer>(attempt)
        },
        classify,
    ));
    assert_eq!(r, Ok(2));
    assert_eq!(delay.slept(), [1_000, 7]);
}

/// The runner's future holds the schedule, the options and the attempt and
/// delay futures: its size is what a firmware task pays for a retry.
#[cfg(target_pointer_width = "64")]
#[test]
fn runner_future_size() {
    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::<64>::keeping(&time);
    let schedule = Backoff::new(Config::constant(d(7)), 0).unwrap();
    let mut breaker = fusebox::breaker::CircuitBreaker::new(
        fusebox::breaker::Config::new(),
        fusebox::breaker::ConsecutiveFailures::new(3).unwrap(),
    )
    .unwrap();
    let mut budget = RetryBudget::<10>::default();
    let plain = fusebox::retry::retry(
        schedule.clone(),
        &mut delay,
        &time,
        async |_| Ok::<u32, Answer>(1),
        classify,
    );
    let plain_size = std::mem::size_of_val(&plain);
    drop(plain);
    let full = Retry::new(schedule)
        .breaker(&mut breaker)
        .budget(&mut budget)
        .timeout(d(10))
        .deadline(d(100))
        .run(&mut delay, &time, async |_| Ok::<u32, Answer>(1), classify);
    let full_size = std::mem::size_of_val(&full);
    drop(full);
    println!(
        "retry future: {plain_size} bytes plain, {full_size} with breaker, budget, timeout, deadline"
    );
    // Debug build (unoptimised layouts); the release figures are in the bench.
    assert!(
        plain_size <= 1024 && full_size <= 1024,
        "{plain_size} / {full_size}"
    );
}

/// A run dropped mid-attempt (its caller cancelled) gives its breaker
/// permit back as `Ignored` at once: a half-open breaker with one probe
/// admits the next probe without waiting out the probe timeout.
#[test]
fn a_dropped_run_frees_its_probe_at_once() {
    use fusebox::breaker::{
        CircuitBreaker, Config as BConfig, ConsecutiveFailures, Outcome, State,
    };
    use std::task::{Context, Waker};

    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::<64>::keeping(&time);
    let mut breaker = CircuitBreaker::new(
        BConfig::new()
            .open_duration(d(100))
            .half_open_probes(1)
            .probe_timeout(d(1_000_000)),
        ConsecutiveFailures::new(1).unwrap(),
    )
    .unwrap();
    let p = breaker.try_acquire(time.now()).unwrap();
    breaker.record(p, Outcome::Failure, time.now());
    time.0.set(100);
    assert_eq!(breaker.state(time.now()), State::HalfOpen);

    let schedule = Backoff::new(Config::constant(d(7)).max_attempts(3), 0).unwrap();
    {
        let run = Retry::new(schedule).breaker(&mut breaker).run(
            &mut delay,
            &time,
            |_| std::future::pending::<Result<u32, Answer>>(),
            classify,
        );
        let mut run = std::pin::pin!(run);
        let mut cx = Context::from_waker(Waker::noop());
        // The first poll takes the only probe and waits on the attempt.
        assert!(run.as_mut().poll(&mut cx).is_pending());
        time.0.set(105);
    } // dropped mid-attempt

    assert_eq!(
        breaker.metrics().ignored,
        1,
        "the dropped attempt recorded Ignored"
    );
    // The probe slot is free again, long before the probe timeout.
    let probe = breaker.try_acquire(time.now());
    assert!(probe.is_ok(), "the next probe is admitted: {probe:?}");
}

/// An observer sees each attempt's number and the delays slept since the
/// previous one (a breaker's refusal in between adds its delay), and the
/// attempt runs inside its wrapper.
#[test]
fn an_observer_sees_every_attempt_and_the_delay_slept() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Wraps each attempt: counts its polls.
    struct Polled<F>(Pin<Box<F>>, std::rc::Rc<Cell<u32>>);
    impl<F: Future> Future for Polled<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.1.set(self.1.get() + 1);
            self.0.as_mut().poll(cx)
        }
    }
    /// (attempt, ticks slept since the previous one), the delays told.
    struct Seen(Vec<(u32, u64)>, std::rc::Rc<Cell<u32>>, u64);
    impl fusebox::retry::Observe for Seen {
        type Attempt<F: Future> = Polled<F>;
        fn attempt<F: Future>(&mut self, attempt: u32, work: F) -> Polled<F> {
            self.0.push((attempt, std::mem::take(&mut self.2)));
            Polled(Box::pin(work), std::rc::Rc::clone(&self.1))
        }
        fn sleeping(&mut self, delay: Duration) {
            self.2 += delay.as_ticks();
        }
    }

    let time = Time(Cell::new(0));
    let mut delay = FakeDelay::<64>::keeping(&time);
    // Two failures open the breaker for 50 ticks; the schedule's delays
    // are 10 ticks, raised to the refusal's retry-after.
    let mut breaker = fusebox::breaker::CircuitBreaker::new(
        fusebox::breaker::Config::new().open_duration(d(50)),
        fusebox::breaker::ConsecutiveFailures::new(2).unwrap(),
    )
    .unwrap();
    let polls = std::rc::Rc::new(Cell::new(0));
    let mut seen = Seen(Vec::new(), std::rc::Rc::clone(&polls), 0);
    let schedule = Backoff::new(Config::constant(d(10)).max_attempts(6), 0).unwrap();
    let r = block_on(
        Retry::new(schedule)
            .breaker(&mut breaker)
            .observe(&mut seen)
            .run(
                &mut delay,
                &time,
                async |attempt| {
                    if attempt < 3 {
                        Err(Answer::Flaky)
                    } else {
                        Ok(attempt)
                    }
                },
                classify,
            ),
    );
    assert_eq!(r, Ok(3));
    // Attempt 1 at 0; 10 slept; attempt 2 fails and opens the breaker
    // (until 60); 10 slept, refused (retry after 40), 40 slept: attempt
    // 3 after 50 ticks asleep.
    assert_eq!(delay.slept(), [10, 10, 40]);
    assert_eq!(seen.0, [(1, 0), (2, 10), (3, 50)]);
    assert_eq!(polls.get(), 3, "each attempt ran inside its wrapper");
}
