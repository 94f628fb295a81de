//! fusebox-std's handles under many tasks and threads, with tokio's paused
//! time and the manual clock: at most K probes, the rate law across
//! threads, waiters in order, cancellation at every await point, misuse.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use fusebox::backoff::{Backoff, Config as BackoffConfig};
use fusebox::breaker::{Config, ConsecutiveFailures, Outcome, State, Transition};
use fusebox::bulkhead::AimdConfig;
use fusebox::dedup;
use fusebox::rate::{Quota, WhenFull};
use fusebox::retry::{Last, Stopped, Verdict};
use fusebox::time::{Clock, Duration, Instant};
use fusebox_std::{
    AcquireError, AdaptiveLimiter, Begin, Breaker, BuildError, Bulkhead, CallError, DedupTable,
    Hooks, KeyedLimiter, ManualClock, Name, RateLimiter, Retry, RetryBudget, RetryFailed,
    TokioClock, WaitError,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn assert_handle<T: Clone + Send + Sync + 'static>() {}

#[test]
fn every_handle_is_clone_send_sync() {
    assert_handle::<Breaker>();
    assert_handle::<RateLimiter>();
    assert_handle::<KeyedLimiter<u64, 64>>();
    assert_handle::<RetryBudget>();
    assert_handle::<Bulkhead>();
    assert_handle::<AdaptiveLimiter>();
    assert_handle::<DedupTable<u64, u32, 64>>();
    assert_handle::<Breaker<ConsecutiveFailures, ManualClock>>();
}

/// A hook that keeps every transition it sees.
fn recorder() -> (Hooks, Arc<Mutex<Vec<Transition>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let hooks = Hooks::new().on_transition(move |_, t, _| log.lock().unwrap().push(t));
    (hooks, seen)
}

fn open_breaker(
    probes: u16,
    clock: &ManualClock,
    hooks: Hooks,
) -> Breaker<ConsecutiveFailures, ManualClock> {
    let b = Breaker::builder("dep")
        .unwrap()
        .clock(clock.clone())
        .hooks(hooks)
        .build(
            Config::new()
                .open_duration(ms(100))
                .half_open_probes(probes)
                .probe_timeout(Duration::from_secs(60)),
            ConsecutiveFailures::new(1).unwrap(),
        )
        .unwrap();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    b
}

#[test]
fn half_open_admits_at_most_k_probes_across_threads() {
    let clock = ManualClock::new(Instant::from_ticks(0));
    let (hooks, seen) = recorder();
    let breaker = open_breaker(3, &clock, hooks);
    clock.advance(ms(100));
    let barrier = Arc::new(Barrier::new(8));
    let admitted = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (b, barrier, admitted) = (breaker.clone(), barrier.clone(), admitted.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                barrier.wait();
                for _ in 0..10 {
                    if let Ok(g) = b.try_acquire() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        held.push(g);
                    }
                }
                barrier.wait(); // hold every guard until all have tried
                for g in held {
                    g.success();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(admitted.load(Ordering::Relaxed), 3);
    assert_eq!(breaker.state(), State::Closed); // 3 probe successes >= S = 1
    let seen = seen.lock().unwrap();
    // Closed->Open, Open->HalfOpen (the first probe's acquire), HalfOpen->Closed.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen[1],
        Transition {
            from: State::Open,
            to: State::HalfOpen
        }
    );
    assert_eq!(seen[2].to, State::Closed);
}

/// One breaker API over two seams: the core's lock-free breaker where
/// the policy and config allow one, the `&mut` breaker under a lock
/// otherwise (a config past the shared word's limits: a break duration
/// still growing at trip 2^32 - 1).
/// Both admit at most K probes across threads and hand every transition
/// to the hook.
#[test]
fn lock_free_and_locked_breakers_behave_alike() {
    fn run<P: fusebox::breaker::Policy + std::fmt::Debug + Send + 'static>(
        policy: P,
        probes: u16,
        forever: bool,
        seam: &str,
    ) {
        let clock = ManualClock::new(Instant::from_ticks(0));
        let (hooks, seen) = recorder();
        let b = Breaker::builder("dep")
            .unwrap()
            .clock(clock.clone())
            .hooks(hooks)
            .build(
                if forever {
                    // Growing by a tick per trip, for ever: no room for
                    // the trip count in the shared word.
                    Config::new().open_duration_linear(
                        ms(100),
                        Duration::from_ticks(1),
                        Duration::MAX,
                    )
                } else {
                    Config::new().open_duration(ms(100))
                }
                .half_open_probes(probes)
                .probe_timeout(Duration::from_secs(60)),
                policy,
            )
            .unwrap();
        let shown = format!("{b:?}");
        assert!(shown.contains(&format!("breaker: {seam}(")), "{shown}");
        while b.state() == State::Closed {
            b.try_acquire().unwrap().failure();
        }
        clock.advance(ms(100));
        let barrier = Arc::new(Barrier::new(4));
        let admitted = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (b, barrier, admitted) = (b.clone(), barrier.clone(), admitted.clone());
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    barrier.wait();
                    for _ in 0..usize::from(probes) {
                        if let Ok(g) = b.try_acquire() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                            held.push(g);
                        }
                    }
                    barrier.wait();
                    for g in held {
                        g.success();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            admitted.load(Ordering::Relaxed),
            u32::from(probes),
            "{seam}"
        );
        assert_eq!(b.state(), State::Closed, "{seam}");
        assert_eq!(b.isolate().map(|t| t.to), Some(State::ForcedOpen));
        assert_eq!(b.reset().map(|t| t.to), Some(State::Closed));
        let tos: Vec<State> = seen.lock().unwrap().iter().map(|t| t.to).collect();
        assert_eq!(
            tos,
            [
                State::Open,
                State::HalfOpen,
                State::Closed,
                State::ForcedOpen,
                State::Closed
            ],
            "{seam}"
        );
    }
    run(ConsecutiveFailures::new(2).unwrap(), 3, false, "LockFree");
    run(
        fusebox::breaker::CountWindow::<8>::builder()
            .failure_rate(50)
            .minimum_calls(4)
            .build()
            .unwrap(),
        3,
        false,
        "LockFree",
    );
    run(
        fusebox::breaker::TimeWindow::<4>::builder(Duration::from_secs(10))
            .failure_rate(50)
            .minimum_calls(4)
            .build()
            .unwrap(),
        3,
        false,
        "LockFree",
    );
    run(
        fusebox::breaker::FailureCount::new(2).unwrap(),
        3000,
        false,
        "LockFree",
    );
    // Past what the shared word counts: the same API, locked.
    run(ConsecutiveFailures::new(2).unwrap(), 3000, true, "Locked");
}

#[tokio::test]
async fn a_cancelled_call_frees_its_probe_slot_at_once() {
    let clock = ManualClock::new(Instant::from_ticks(0));
    let breaker = open_breaker(1, &clock, Hooks::new());
    clock.advance(ms(100));
    // The probe's call hangs; the caller gives up (drops the future).
    let call = breaker.call(std::future::pending::<Result<(), ()>>());
    let r = tokio::time::timeout(std::time::Duration::from_millis(1), call).await;
    assert!(r.is_err());
    assert_eq!(breaker.metrics().ignored, 1);
    // Not after the 60 s probe timeout: now.
    let probe = breaker.try_acquire().expect("the slot is free");
    assert_eq!(probe.success().map(|t| t.to), Some(State::Closed));
}

/// A healthy `CountWindow` breaker counts each success in the recording
/// thread's own lane (no locked instruction); threads past the lanes (32)
/// count in the core's stripes, and a thread that exits gives its lane to
/// the next. Every success is counted exactly, whichever way: 40 threads
/// at once, then 40 more that reuse the lanes of the first.
#[test]
fn every_success_is_counted_across_more_threads_than_lanes() {
    use fusebox::breaker::CountWindow;
    let breaker = Breaker::new(
        "lanes",
        Config::new(),
        CountWindow::<10>::builder()
            .failure_rate(50)
            .build()
            .unwrap(),
    )
    .unwrap();
    // Settle the window: full, no failure.
    for _ in 0..10 {
        assert_eq!(breaker.try_acquire().unwrap().success(), None);
    }
    let per_thread = 2_000u32;
    for _round in 0..2 {
        let barrier = Barrier::new(40);
        std::thread::scope(|s| {
            for _ in 0..40 {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..per_thread {
                        let guard = breaker.try_acquire().expect("healthy");
                        assert_eq!(guard.success(), None);
                    }
                });
            }
        });
    }
    let m = breaker.metrics();
    let total = 10 + 2 * 40 * per_thread;
    assert_eq!((m.successes, m.admitted, m.failures), (total, total, 0));
    // A failure still goes through the breaker (the window changes).
    assert_eq!(breaker.try_acquire().unwrap().failure(), None);
    assert_eq!(breaker.metrics().failures, 1);
}

/// `call_with` returns a named future (`CallFuture`) that asks for its
/// permit when first polled, not when built: a future built and dropped
/// unpolled takes no probe slot and records nothing; one polled once and
/// then dropped holds the slot until then, and gives it back on drop. It
/// is `Send` for `tokio::spawn` when the call and the classifier are.
#[tokio::test]
async fn a_call_takes_its_permit_when_first_polled() {
    fn assert_send<T: Send>(_: &T) {}
    let clock = ManualClock::new(Instant::from_ticks(0));
    let breaker = open_breaker(1, &clock, Hooks::new());
    clock.advance(ms(100));
    let unpolled: fusebox_std::CallFuture<'_, _, _, _, _> = breaker.call_with(
        std::future::pending::<Result<(), ()>>(),
        |_: &Result<(), ()>| Outcome::Failure,
    );
    assert_send(&unpolled);
    assert_eq!(breaker.probes_in_flight(), 0);
    drop(unpolled);
    assert_eq!(
        (breaker.probes_in_flight(), breaker.metrics().ignored),
        (0, 0)
    );

    let mut polled = Box::pin(breaker.call(std::future::pending::<Result<(), ()>>()));
    assert!(futures_poll_once(polled.as_mut()).is_pending());
    assert_eq!(breaker.probes_in_flight(), 1, "the probe slot is taken");
    // The second caller is refused while the first probe is in flight,
    // without its call being polled.
    let refused = breaker
        .call(async { unreachable!("a refused call is not polled") as Result<(), ()> })
        .await;
    assert!(matches!(refused, Err(CallError::Rejected(r)) if r.state == State::HalfOpen));
    drop(polled);
    assert_eq!(
        (breaker.probes_in_flight(), breaker.metrics().ignored),
        (0, 1)
    );
}

/// Poll `f` once with a waker that does nothing.
fn futures_poll_once<F: std::future::Future>(
    f: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}

/// The same through the retry runner: a run cancelled mid-attempt (its
/// future dropped) records `Ignored` and frees the probe at once.
#[tokio::test]
async fn a_cancelled_retry_run_frees_its_probe_slot_at_once() {
    let clock = ManualClock::new(Instant::from_ticks(0));
    let breaker = open_breaker(1, &clock, Hooks::new());
    clock.advance(ms(100));
    let schedule = Backoff::new(BackoffConfig::constant(ms(1)).max_attempts(3), 0).unwrap();
    let run = Retry::new(schedule)
        .clock(clock.clone())
        .breaker(&breaker)
        .run(
            async |_| std::future::pending::<Result<(), ()>>().await,
            |_| Verdict::Retry,
        );
    let r = tokio::time::timeout(std::time::Duration::from_millis(1), run).await;
    assert!(r.is_err(), "the caller gave up");
    assert_eq!(breaker.metrics().ignored, 1);
    let probe = breaker
        .try_acquire()
        .expect("the slot is free before the probe timeout");
    assert_eq!(probe.success().map(|t| t.to), Some(State::Closed));
}

#[tokio::test]
async fn call_classifies_and_every_transition_reaches_the_hook() {
    let clock = ManualClock::new(Instant::from_ticks(0));
    let (hooks, seen) = recorder();
    let breaker = Breaker::builder("api")
        .unwrap()
        .clock(clock.clone())
        .hooks(hooks)
        .build(
            Config::new().open_duration(ms(10)).slow_calls(ms(5), 100),
            ConsecutiveFailures::new(2).unwrap(),
        )
        .unwrap();
    // A 404 is ignored; a 503 in an Ok is a failure.
    let classify = |r: &Result<u16, ()>| match r {
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(s) if *s >= 400 => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    };
    assert_eq!(
        breaker.call_with(async { Ok(404) }, classify).await,
        Ok(404)
    );
    assert_eq!(
        breaker.call_with(async { Ok(503) }, classify).await,
        Ok(503)
    );
    // A slow success (5 ms by the breaker's clock) counts as a failure.
    let slow = async {
        clock.advance(ms(5));
        Ok::<u16, ()>(200)
    };
    assert_eq!(breaker.call_with(slow, classify).await, Ok(200));
    assert_eq!(breaker.state(), State::Open);
    let r = breaker.call(async { Ok::<(), ()>(()) }).await;
    let Err(CallError::Rejected(rejected)) = r else {
        panic!("open")
    };
    assert_eq!(rejected.retry_after, Some(ms(10)));
    assert_eq!(breaker.isolate().map(|t| t.to), Some(State::ForcedOpen));
    assert_eq!(breaker.reset().map(|t| t.to), Some(State::Closed));
    let m = breaker.metrics();
    // The slow success is counted as slow (and judged a failure by the
    // policy), not as a failure.
    assert_eq!((m.ignored, m.failures, m.slow, m.trips), (1, 1, 1, 1));
    assert_eq!(
        seen.lock()
            .unwrap()
            .iter()
            .map(|t| t.to)
            .collect::<Vec<_>>(),
        [State::Open, State::ForcedOpen, State::Closed]
    );
}

/// A clock that counts its reads (a `ManualClock` underneath).
#[derive(Clone)]
struct CountingClock(ManualClock, Arc<AtomicU32>);

impl Clock for CountingClock {
    fn now(&self) -> Instant {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.now()
    }
}

/// The breaker handle reads its clock only where it must: a healthy
/// closed call reads none (durations off, slow calls off), a timed one
/// (the metrics histogram, or slow-call detection) reads both ends, and
/// the failure that trips, the refusal while open, the probe and its
/// outcome each read once, the transition's hook getting that instant.
#[tokio::test]
async fn the_breaker_reads_its_clock_only_where_it_must() {
    let manual = ManualClock::new(Instant::from_ticks(1_000));
    let reads = Arc::new(AtomicU32::new(0));
    let clock = CountingClock(manual.clone(), Arc::clone(&reads));
    let take = || reads.swap(0, Ordering::Relaxed);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let hooks = Hooks::new().on_transition(move |_, t, at| log.lock().unwrap().push((t.to, at)));
    let config = Config::new().open_duration(ms(10));
    let breaker = Breaker::builder("lazy")
        .unwrap()
        .clock(clock.clone())
        .hooks(hooks)
        .call_durations(false)
        .build(config, ConsecutiveFailures::new(2).unwrap())
        .unwrap();
    for _ in 0..3 {
        assert_eq!(breaker.call(async { Ok::<_, ()>(1) }).await, Ok(1));
        breaker.try_acquire().unwrap().success();
        drop(breaker.try_acquire().unwrap()); // ignored
    }
    breaker.try_acquire().unwrap().failure();
    assert_eq!(
        take(),
        0,
        "healthy closed calls, and a failure that does not trip"
    );
    manual.advance(ms(1));
    assert_eq!(
        breaker.try_acquire().unwrap().failure().map(|t| t.to),
        Some(State::Open)
    );
    assert_eq!(take(), 1, "the trip");
    assert!(breaker.try_acquire().is_err());
    assert_eq!(take(), 1, "a refusal while open");
    manual.advance(ms(10));
    let probe = breaker.try_acquire().unwrap();
    assert_eq!(take(), 1, "the probe");
    assert_eq!(probe.success().map(|t| t.to), Some(State::Closed));
    assert_eq!(take(), 1, "the probe's outcome");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Open, Instant::from_ticks(2_000)),
            (State::HalfOpen, Instant::from_ticks(12_000)),
            (State::Closed, Instant::from_ticks(12_000)),
        ]
    );
    assert_eq!(breaker.metrics().successes, 7);

    // Timed calls read both ends: slow-call detection on, or (this build
    // has feature `metrics`) the duration histogram left on.
    let slow = Breaker::builder("slow")
        .unwrap()
        .clock(clock.clone())
        .call_durations(false)
        .build(
            config.slow_calls(ms(5), 100),
            ConsecutiveFailures::new(2).unwrap(),
        )
        .unwrap();
    slow.try_acquire().unwrap().success();
    assert_eq!(take(), 2);
    let timed = Breaker::builder("timed")
        .unwrap()
        .clock(clock)
        .build(config, ConsecutiveFailures::new(2).unwrap())
        .unwrap();
    assert_eq!(timed.call(async { Ok::<_, ()>(1) }).await, Ok(1));
    assert_eq!(take(), 2);
}

#[test]
fn the_rate_law_holds_across_threads() {
    let clock = ManualClock::new(Instant::from_ticks(0));
    // 10 per 100 ms, burst 5.
    let quota = Quota::per_period(10, ms(100))
        .allow_burst(5)
        .build()
        .unwrap();
    let limiter = RateLimiter::with_clock("uplink", quota, clock.clone()).unwrap();
    let admitted = Arc::new(AtomicU32::new(0));
    let mut total = 0;
    for step in 0..20 {
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (l, a, b) = (limiter.clone(), admitted.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    for _ in 0..50 {
                        if l.try_acquire().is_ok() {
                            a.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Over [0, 10 ms x step]: exactly burst + floor(W x rate / period)
        // for callers that always ask.
        total = admitted.load(Ordering::Relaxed);
        assert_eq!(total, 5 + step, "step {step}");
        clock.advance(ms(10));
    }
    assert_eq!(total, 24);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_order_without_a_stampede() {
    let quota = Quota::per_second(10).allow_burst(1).build().unwrap();
    let limiter = RateLimiter::with_clock("uplink", quota, TokioClock).unwrap();
    let start = tokio::time::Instant::now();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5u64 {
        let (l, o) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            l.until_ready(Duration::from_secs(1)).await.unwrap();
            o.lock().unwrap().push((i, start.elapsed().as_millis()));
        }));
        tokio::task::yield_now().await; // arrive in order
    }
    for t in tasks {
        t.await.unwrap();
    }
    // One token at once, then one per 100 ms, each waiter at its own slot:
    // no stampede, no reordering.
    assert_eq!(
        *order.lock().unwrap(),
        [(0, 0), (1, 100), (2, 200), (3, 300), (4, 400)]
    );
    // Every token went to a waiter: a caller that does not wait is refused.
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_wait_too_long_is_refused_at_once_and_reserves_nothing() {
    let quota = Quota::per_second(1).build().unwrap();
    let limiter = RateLimiter::with_clock("uplink", quota, TokioClock).unwrap();
    limiter.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    let e = limiter.until_ready(ms(500)).await.unwrap_err();
    assert_eq!(
        e,
        WaitError::TooLong {
            retry_after: Duration::from_secs(1),
            max_wait: ms(500)
        }
    );
    assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    assert_eq!(limiter.time_until(1).unwrap(), Duration::from_secs(1));
    assert_eq!(
        limiter.until_n_ready(2, Duration::from_secs(9)).await,
        Err(WaitError::ExceedsBurst { burst: 1 })
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_gives_its_place_back() {
    let quota = Quota::per_second(10).allow_burst(1).build().unwrap();
    let limiter = RateLimiter::with_clock("uplink", quota, TokioClock).unwrap();
    limiter.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    // Cancelled while at the head of the line, sleeping for its token.
    let first = tokio::spawn({
        let l = limiter.clone();
        async move { l.until_ready(Duration::from_secs(1)).await }
    });
    // Cancelled while in the line behind it.
    let second = tokio::spawn({
        let l = limiter.clone();
        async move { l.until_ready(Duration::from_secs(1)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    first.abort();
    second.abort();
    let _ = (first.await, second.await);
    // Their tokens were never taken: the next waiter is first in line and
    // gets the token at 100 ms, not after two more intervals.
    limiter.until_ready(Duration::from_secs(1)).await.unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::from_millis(100));
    // A waiter whose place in line is too far is refused at once: two
    // waiters ahead (100 ms each after the next token) and its own.
    let ahead: Vec<_> = (0..2)
        .map(|_| {
            let l = limiter.clone();
            tokio::spawn(async move { l.until_ready(Duration::from_secs(1)).await })
        })
        .collect();
    tokio::task::yield_now().await;
    let refused = limiter.until_ready(ms(250)).await.unwrap_err();
    assert_eq!(refused.retry_after(), Some(ms(300)));
    for t in ahead {
        t.await.unwrap().unwrap();
    }
    assert_eq!(start.elapsed(), std::time::Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_does_not_queue_delays_the_head_never_past_its_max_wait() {
    let quota = Quota::per_second(10).allow_burst(1).build().unwrap();
    let limiter = RateLimiter::with_clock("uplink", quota, TokioClock).unwrap();
    limiter.try_acquire().unwrap();
    let waiter = tokio::spawn({
        let l = limiter.clone();
        async move { l.until_ready(ms(150)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The token the waiter sleeps for, taken first by a caller that does
    // not queue: the next is at 200 ms, past the waiter's 150 ms.
    limiter.try_acquire().unwrap();
    let e = waiter.await.unwrap().unwrap_err();
    assert!(matches!(e, WaitError::TooLong { .. }), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_waiters_are_served_first_come_first_served() {
    let pool = Bulkhead::new("db", 1, 3, Duration::from_secs(10)).unwrap();
    let held = pool.acquire().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (p, o) = (pool.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = p.acquire().await.unwrap();
            o.lock().unwrap().push(i);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            drop(permit);
        }));
        tokio::task::yield_now().await;
    }
    assert_eq!(pool.waiting(), 3);
    // The queue is full: a fourth caller is refused at once.
    assert_eq!(
        pool.acquire().await.unwrap_err(),
        AcquireError::QueueFull {
            limit: 1,
            max_queue: 3
        }
    );
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    assert_eq!((pool.in_use(), pool.waiting()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn bulkhead_cancellation_at_every_await_point_leaks_nothing() {
    let pool = Bulkhead::new("db", 1, 4, Duration::from_secs(10)).unwrap();
    let held = pool.try_acquire().unwrap();
    // Cancelled while waiting for the line's head and for a slot.
    let a = tokio::spawn({
        let p = pool.clone();
        async move { p.acquire().await.map(drop) }
    });
    let b = tokio::spawn({
        let p = pool.clone();
        async move { p.acquire().await.map(drop) }
    });
    tokio::task::yield_now().await;
    assert_eq!(pool.waiting(), 2);
    a.abort(); // the head, waiting for a slot
    b.abort(); // in the line behind it
    let _ = (a.await, b.await);
    assert_eq!(pool.waiting(), 0);
    // Cancelled after a slot was freed but before it was polled again.
    let c = tokio::spawn({
        let p = pool.clone();
        async move { p.acquire().await.map(drop) }
    });
    tokio::task::yield_now().await;
    drop(held); // notifies c
    c.abort();
    let _ = c.await;
    assert_eq!((pool.in_use(), pool.waiting()), (0, 0));
    // The slot went nowhere: the next caller gets it at once.
    let again = pool.acquire().await.unwrap();
    // A wait that expires rejects with the reason.
    let start = tokio::time::Instant::now();
    assert_eq!(
        pool.acquire().await.unwrap_err(),
        AcquireError::TimedOut {
            max_wait: Duration::from_secs(10)
        }
    );
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(10));
    drop(again);
    assert_eq!((pool.in_use(), pool.waiting()), (0, 0));
}

#[test]
fn adaptive_limit_changes_reach_the_hook_and_the_slots() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hooks = Hooks::new().on_limit_change(move |_, c, _| log.lock().unwrap().push(c));
    let clock = ManualClock::new(Instant::from_ticks(0));
    let limiter = AdaptiveLimiter::with_clock(
        "search",
        AimdConfig::new()
            .limits(1, 10)
            .initial(2)
            .latency_target(ms(50)),
        clock.clone(),
        hooks,
    )
    .unwrap();
    let (a, b) = (
        limiter.try_acquire().unwrap(),
        limiter.try_acquire().unwrap(),
    );
    assert!(limiter.try_acquire().is_err());
    clock.advance(ms(10));
    let grown = a.record(fusebox::bulkhead::Outcome::Success).unwrap();
    assert!(grown.is_increase());
    assert_eq!(limiter.limit(), grown.to);
    drop(b); // no outcome: no change
    assert_eq!(limiter.in_use(), 0);
    assert_eq!(*seen.lock().unwrap(), [grown]);
}

#[test]
fn dedup_one_runner_per_key_across_threads_and_abandon_on_drop() {
    let table = DedupTable::<u64, u32, 64>::new("payments", dedup::Config::new()).unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let runs = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (t, b, r) = (table.clone(), barrier.clone(), runs.clone());
            std::thread::spawn(move || {
                b.wait();
                if let Begin::New(p) = t.begin(7) {
                    r.fetch_add(1, Ordering::Relaxed);
                    b.wait();
                    drop(p); // the work failed: abandon
                } else {
                    b.wait();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    // Abandoned by the drop: the key is free again.
    let Begin::New(p) = table.begin(7) else {
        panic!("free after abandon")
    };
    p.complete(42).unwrap();
    assert!(matches!(table.begin(7), Begin::Done(42)));
    assert_eq!(table.get(&7), Some(42));
}

#[test]
fn keyed_and_budget_handles_share_state_across_clones() {
    let per_key = KeyedLimiter::<u32, 16>::new(
        "per-client",
        Quota::per_second(1).allow_burst(2).build().unwrap(),
        WhenFull::RejectNew,
    )
    .unwrap();
    let other = per_key.clone();
    assert!(per_key.try_acquire(1).is_ok());
    assert!(other.try_acquire(1).is_ok());
    assert!(per_key.try_acquire(1).is_err());
    assert_eq!(
        (other.len(), other.available(&1), other.available(&2)),
        (1, 0, 2)
    );

    let clock = ManualClock::new(Instant::from_ticks(0));
    let budget = RetryBudget::<10, _>::with_clock(
        "up",
        fusebox::rate::RetryBudget::builder()
            .percent_can_retry(20)
            .min_retries_per_sec(0)
            .ttl(Duration::from_secs(10))
            .build()
            .unwrap(),
        clock,
    )
    .unwrap();
    let clone = budget.clone();
    for _ in 0..10 {
        clone.deposit();
    }
    assert_eq!(budget.available(), 2);
    assert!(budget.try_withdraw() && clone.try_withdraw());
    assert!(!budget.try_withdraw());
}

#[derive(Debug)]
struct Busy(Duration);

impl fusebox_std::RetryAfterHint for Busy {
    fn retry_after_hint(&self) -> Option<Duration> {
        Some(self.0)
    }
}

#[tokio::test(start_paused = true)]
async fn retry_honours_the_hint_the_error_carries() {
    let schedule = Backoff::new(BackoffConfig::constant(ms(10)).max_attempts(3), 1).unwrap();
    let start = tokio::time::Instant::now();
    let r = Retry::new(schedule)
        .clock(TokioClock)
        .run_hinted(async |attempt| {
            if attempt < 2 {
                Err(Busy(ms(700)))
            } else {
                Ok(attempt)
            }
        })
        .await;
    assert_eq!(r.unwrap(), 2);
    assert_eq!(start.elapsed(), std::time::Duration::from_millis(700));
}

#[tokio::test(start_paused = true)]
async fn retry_with_breaker_budget_timeout_and_deadline_in_spawned_tasks() {
    let breaker = Breaker::builder("up")
        .unwrap()
        .clock(TokioClock)
        .build(Config::new(), ConsecutiveFailures::new(4).unwrap())
        .unwrap();
    let budget = RetryBudget::<10, _>::with_clock(
        "up",
        fusebox::rate::RetryBudget::builder()
            .percent_can_retry(20)
            .min_retries_per_sec(1)
            .ttl(Duration::from_secs(2))
            .build()
            .unwrap(),
        TokioClock,
    )
    .unwrap();
    let mut tasks = Vec::new();
    for seed in 0..2 {
        let (breaker, budget) = (breaker.clone(), budget.clone());
        // A `move` async closure inside tokio::spawn: the future is Send.
        tasks.push(tokio::spawn(async move {
            let schedule =
                Backoff::new(BackoffConfig::constant(ms(1)).max_attempts(10), seed).unwrap();
            Retry::new(schedule)
                .clock(TokioClock)
                .breaker(&breaker)
                .budget(&budget)
                .timeout(ms(20))
                .deadline(Duration::from_secs(5))
                .run(
                    async move |_| {
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                        Ok::<(), &str>(())
                    },
                    |_| Verdict::Retry,
                )
                .await
        }));
    }
    let mut attempts = 0;
    for t in tasks {
        let Err(RetryFailed::GaveUp(e)) = t.await.unwrap() else {
            panic!("every attempt hangs")
        };
        assert_eq!((e.last, e.stopped), (Last::TimedOut, Stopped::Budget));
        attempts += e.attempts;
    }
    // The floor of 1/s over 2 s pays for 2 retries between the two.
    assert_eq!(attempts, 4);
    assert_eq!(breaker.metrics().failures, 4);
    assert_eq!(budget.available(), 0);
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let quota = Quota::per_second(1).build().unwrap();
    assert!(matches!(
        Breaker::new(
            "bad name",
            Config::new(),
            ConsecutiveFailures::new(1).unwrap()
        ),
        Err(BuildError::Name(_))
    ));
    assert!(matches!(
        RateLimiter::new(&"x".repeat(65), quota),
        Err(BuildError::Name(_))
    ));
    assert!(matches!(
        Bulkhead::new("db", 0, 0, ms(1)),
        Err(BuildError::Config(e)) if e.field() == "limit"
    ));
    assert!(matches!(
        KeyedLimiter::<u32, 0>::new("k", quota, WhenFull::RejectNew),
        Err(BuildError::Config(e)) if e.field() == "N"
    ));
    assert_eq!(
        fusebox::rate::RetryBudget::<10>::builder()
            .percent_can_retry(5000)
            .build()
            .map_err(|e| e.field()),
        Err("percent_can_retry")
    );
    assert!(matches!(
        Breaker::new(
            "b",
            Config::new().half_open_probes(0),
            ConsecutiveFailures::new(1).unwrap()
        ),
        Err(BuildError::Config(_))
    ));
    assert!(AdaptiveLimiter::new("", AimdConfig::new()).is_err());
    assert!(DedupTable::<u8, u8, 8>::new("d/", dedup::Config::new()).is_err());
    assert!(Name::new("ok-name_1.2").is_ok());

    // Async calls outside a tokio runtime say so.
    let limiter = RateLimiter::new("r", quota).unwrap();
    limiter.try_acquire().unwrap();
    assert_eq!(
        embassy_futures::block_on(limiter.until_ready(Duration::from_secs(5))),
        Err(WaitError::NoRuntime)
    );
    let pool = Bulkhead::new("p", 1, 1, ms(1)).unwrap();
    assert_eq!(
        embassy_futures::block_on(pool.acquire()).unwrap_err(),
        AcquireError::NoRuntime
    );
    let schedule = Backoff::new(BackoffConfig::constant(ms(1)), 1).unwrap();
    let r = embassy_futures::block_on(fusebox_std::retry(schedule, async |_| Err::<(), _>(())));
    assert_eq!(r, Err(RetryFailed::NoRuntime));
    assert!(RetryFailed::<&str>::NoRuntime.to_string().contains("tokio"));
    // A breaker's call needs no runtime.
    let b = Breaker::new("b", Config::new(), ConsecutiveFailures::new(1).unwrap()).unwrap();
    assert_eq!(
        embassy_futures::block_on(b.call(async { Ok::<_, ()>(1) })),
        Ok(1)
    );
    let _ = TokioClock.now();
}

#[tokio::test(start_paused = true)]
async fn the_runners_transitions_reach_the_hook() {
    let (hooks, seen) = recorder();
    let breaker = Breaker::builder("up")
        .unwrap()
        .clock(TokioClock)
        .hooks(hooks)
        .build(
            Config::new().open_duration(ms(50)),
            ConsecutiveFailures::new(2).unwrap(),
        )
        .unwrap();
    let schedule = Backoff::new(BackoffConfig::constant(ms(10)).max_attempts(10), 3).unwrap();
    let r = Retry::new(schedule)
        .clock(TokioClock)
        .breaker(&breaker)
        .run(
            async |attempt| if attempt < 3 { Err(503) } else { Ok(attempt) },
            |_| Verdict::Retry,
        )
        .await;
    // Two failures open it; refused until 50 ms have passed; the probe
    // (attempt 3) succeeds and closes it.
    assert_eq!(r.unwrap(), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Transition {
                from: State::Closed,
                to: State::Open
            },
            Transition {
                from: State::Open,
                to: State::HalfOpen
            },
            Transition {
                from: State::HalfOpen,
                to: State::Closed
            },
        ]
    );
}
