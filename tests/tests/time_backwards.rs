//! One rule for time that goes backwards, checked on every primitive that
//! takes time: a `now` earlier than the latest instant the primitive has
//! seen is judged as that latest instant.
//!
//! Each row of the table drives two twins of one primitive through the same
//! operations: one with the raw instants of a timeline that advances, then
//! steps back by less than, exactly and more than one period (window, TTL,
//! open duration), and back to 0; the other with the same timeline clamped
//! to the latest instant so far. Every answer, queries included, must be the
//! same. A primitive added later joins this table.

use std::cell::{Cell, RefCell};
use std::fmt::Debug;

use embassy_futures::block_on;
use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::i2c::I2c as _;
use fusebox::backoff::{self, Backoff};
use fusebox::breaker::{
    self, CircuitBreaker, ConsecutiveFailures, CountWindow, Outcome, Permit, Policy, TimeWindow,
};
use fusebox::bulkhead::{self, AdaptiveLimit, AimdConfig};
use fusebox::dedup::{self, Begin, DedupTable, Ticket};
use fusebox::hash::Seed;
use fusebox::i2c::{self, ResilientI2c};
use fusebox::rate::{KeyedLimiter, Quota, RetryBudget, SharedTokenBucket, TokenBucket, WhenFull};
use fusebox::retry::{Retry, Verdict};
use fusebox::time::{Clock, Duration, Instant};
use fusebox_scenarios::fakes::{FakeBus, NoDelay, Time};

fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

/// How far each step back goes, for a primitive whose period is `unit`.
fn backs(unit: u64) -> [Option<u64>; 5] {
    [
        Some(unit / 2),     // less than one period
        Some(unit - 1),     // just less
        Some(unit),         // exactly one
        Some(unit * 3 + 1), // more than one
        None,               // back to 0
    ]
}

/// The instants of the timeline for a primitive whose period is `unit`
/// ticks (`unit >= 4`): for each step back, a few requests moving forward,
/// then several at the earlier instant, one just after it, and one at the
/// latest instant again.
fn timeline(unit: u64) -> Vec<u64> {
    assert!(unit >= 4);
    let mut out = Vec::new();
    let mut now = 5 * unit + 1;
    for back in backs(unit) {
        for k in 0..4 {
            out.push(now);
            now += unit / 3 + k;
        }
        out.push(now);
        let peak = now;
        let earlier = back.map_or(0, |b| peak - b);
        out.extend([earlier, earlier, earlier, earlier + 1, earlier, peak]);
        now = peak + unit / 4 + 1;
    }
    // Long after: everything has expired or refilled, even at the latest.
    out.extend([now + 10 * unit, 0, now + 10 * unit + 1]);
    out
}

/// Drive `raw` with the timeline's instants and `clamped` with the same
/// instants clamped to the latest so far; `op` makes step `i`'s calls at
/// `now` and returns every answer. The answers must agree at every step.
/// Every step makes at least one call that records `now` (a `&mut self`
/// method): queries (`&self`) alone cannot remember an instant.
fn twins<P, A: PartialEq + Debug>(
    name: &str,
    unit: u64,
    make: impl Fn() -> P,
    mut op: impl FnMut(&mut P, usize, u64) -> A,
) {
    let (mut raw, mut clamped) = (make(), make());
    let mut latest = 0;
    let mut stepped_back = 0;
    let mut answers = Vec::new();
    for (i, now) in timeline(unit).into_iter().enumerate() {
        if now < latest {
            stepped_back += 1;
        }
        latest = latest.max(now);
        let a = op(&mut raw, i, now);
        let b = op(&mut clamped, i, latest);
        assert_eq!(a, b, "{name}: step {i}, now {now}, latest {latest}");
        answers.push(format!("{a:?}"));
    }
    assert!(stepped_back >= 15, "{name}: the timeline went back");
    // The timeline exercised the primitive: its answers were not all alike.
    answers.sort();
    answers.dedup();
    assert!(answers.len() >= 3, "{name}: answers all alike: {answers:?}");
}

#[test]
fn token_bucket() {
    let q = Quota::per_period(3, d(40))
        .allow_burst(4)
        .build()
        .expect("valid");
    twins(
        "TokenBucket",
        40,
        || TokenBucket::new(q),
        |b, i, now| {
            let n = if i % 4 == 3 { 2 } else { 1 };
            let r = b.try_acquire_n(n, t(now));
            (r, b.available(t(now)), b.time_until(2, t(now)))
        },
    );
}

#[test]
fn shared_token_bucket() {
    let q = Quota::per_period(3, d(40))
        .allow_burst(4)
        .build()
        .expect("valid");
    twins(
        "SharedTokenBucket",
        40,
        || SharedTokenBucket::new(q),
        |b, i, now| {
            let n = if i % 4 == 3 { 2 } else { 1 };
            let r = b.try_acquire_n(n, t(now));
            (r, b.available(t(now)), b.time_until(2, t(now)))
        },
    );
}

/// A quota whose capacity is 2^64 units or more: the shared bucket keeps
/// the latest instant in its own word (see its docs); alone, it follows
/// the rule exactly.
#[test]
fn shared_token_bucket_with_a_giant_capacity() {
    let p = 1u64 << 40;
    let q = Quota::per_period(4_294_967_291, d(p))
        .allow_burst(u32::MAX)
        .build()
        .expect("valid");
    twins(
        "SharedTokenBucket (giant)",
        p,
        || SharedTokenBucket::new(q),
        |b, i, now| {
            let n = if i % 3 == 0 { q.burst() } else { 1 };
            let r = b.try_acquire_n(n, t(now));
            (r, b.available(t(now)), b.time_until(q.burst(), t(now)))
        },
    );
}

#[test]
fn keyed_limiter() {
    let q = Quota::per_period(3, d(40))
        .allow_burst(4)
        .build()
        .expect("valid");
    let seed = Seed::new(1, 2);
    for policy in [WhenFull::RejectNew, WhenFull::EvictLeastRecent] {
        twins(
            "KeyedLimiter",
            40,
            || KeyedLimiter::<u32, 2>::new(q, seed, policy),
            |k, i, now| {
                let key = (i % 3) as u32;
                let r = k.try_acquire(key, t(now));
                (r, k.available(&key, t(now)), k.contains(&key), k.metrics())
            },
        );
    }
}

#[test]
fn retry_budget() {
    twins(
        "RetryBudget",
        40,
        || {
            RetryBudget::builder()
                .slices::<4>()
                .percent_can_retry(50)
                .min_retries_per_sec(0)
                .ttl(d(40))
                .build()
                .expect("valid")
        },
        |b, i, now| {
            if i % 3 == 0 {
                b.deposit(t(now));
                (None, b.available(t(now)))
            } else {
                (Some(b.try_withdraw(t(now))), b.available(t(now)))
            }
        },
    );
}

/// A breaker and the permit it last gave out.
type Held<P> = (CircuitBreaker<P>, Option<Permit>);

fn breaker_twins<P: Policy + Clone>(name: &str, policy: P) {
    let config = breaker::Config::new()
        .open_duration(d(40))
        .probe_timeout(d(40))
        .slow_calls(d(30), 50);
    twins(
        name,
        40,
        || -> Held<P> {
            (
                CircuitBreaker::new(config, policy.clone()).expect("valid"),
                None,
            )
        },
        |(b, held), i, now| {
            let acquired = match held.take() {
                Some(permit) => {
                    let outcome = match i % 5 {
                        0 | 3 => Outcome::Failure,
                        4 => Outcome::Ignored,
                        _ => Outcome::Success,
                    };
                    let change = b.record(permit, outcome, t(now));
                    format!("{change:?}")
                }
                None => match b.try_acquire(t(now)) {
                    Ok(permit) => {
                        let s = format!("{permit:?}");
                        *held = Some(permit);
                        s
                    }
                    Err(e) => format!("{e:?}"),
                },
            };
            (
                acquired,
                b.state(t(now)),
                b.retry_after(t(now)),
                b.window(t(now)),
                b.metrics(),
            )
        },
    );
}

#[test]
fn breaker_consecutive_failures() {
    breaker_twins(
        "ConsecutiveFailures",
        ConsecutiveFailures::new(2).expect("valid"),
    );
}

#[test]
fn breaker_count_window() {
    breaker_twins(
        "CountWindow",
        CountWindow::<4>::builder()
            .failure_rate(50)
            .minimum_calls(2)
            .build()
            .expect("valid"),
    );
}

#[test]
fn breaker_time_window() {
    breaker_twins(
        "TimeWindow",
        TimeWindow::<4>::builder(d(40))
            .failure_rate(50)
            .minimum_calls(2)
            .build()
            .expect("valid"),
    );
}

#[test]
fn adaptive_limit() {
    let config = AimdConfig::new()
        .limits(1, 100)
        .initial(50)
        .latency_target(d(10))
        .decrease_cooldown(d(40));
    twins(
        "AdaptiveLimit",
        40,
        || AdaptiveLimit::new(config).expect("valid"),
        |l, i, now| {
            let outcome = if i % 3 == 0 {
                bulkhead::Outcome::Success
            } else {
                bulkhead::Outcome::Dropped
            };
            (l.record(outcome, d(5), t(now)), l.limit())
        },
    );
    // The case the cooldown turns on: a decrease at 100, a call seen at
    // 200, then a drop stamped 120. Judged at 200, the cooldown (40) is
    // over: it decreases again.
    let mut l = AdaptiveLimit::new(config).expect("valid");
    assert!(l.record(bulkhead::Outcome::Dropped, d(5), t(100)).is_some());
    assert_eq!(l.record(bulkhead::Outcome::Ignored, d(5), t(200)), None);
    let before = l.limit();
    assert!(l.record(bulkhead::Outcome::Dropped, d(5), t(120)).is_some());
    assert!(l.limit() < before);
}

#[test]
fn dedup_table() {
    let config = dedup::Config::new().in_flight_ttl(d(40)).done_ttl(d(40));
    twins(
        "DedupTable",
        40,
        || -> (DedupTable<u32, u32, 8>, Vec<Ticket>) {
            (
                DedupTable::new(config, Seed::new(3, 4)).expect("valid"),
                Vec::new(),
            )
        },
        |(table, tickets), i, now| {
            let key = (i % 3) as u32;
            let first = match i % 4 {
                0 | 1 => match table.begin(key, t(now)) {
                    Begin::New(ticket) => {
                        tickets.push(ticket);
                        "New".to_string()
                    }
                    other => format!("{other:?}"),
                },
                2 => match tickets.pop() {
                    Some(ticket) => format!("{:?}", table.complete(ticket, i as u32, t(now))),
                    None => format!("{:?}", table.begin(key, t(now))),
                },
                _ => match tickets.pop() {
                    Some(ticket) => format!("{:?}", table.abandon(ticket, t(now))),
                    None => format!("{:?}", table.begin(key, t(now))),
                },
            };
            (
                first,
                table.get(&key, t(now)).copied(),
                table.occupied(t(now)),
                table.metrics(),
            )
        },
    );
}

/// A clock that plays a script of readings (the last one forever).
struct Script {
    readings: Vec<u64>,
    next: Cell<usize>,
}

impl Clock for Script {
    fn now(&self) -> Instant {
        let i = self.next.get();
        self.next.set(i + 1);
        t(*self.readings.get(i).or(self.readings.last()).unwrap_or(&0))
    }
}

/// A delay that records what it was asked to sleep and returns at once.
struct Record<'a>(&'a RefCell<Vec<u32>>);

impl DelayNs for Record<'_> {
    async fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().push(ns);
    }
}

fn clamp_script(raw: &[u64]) -> Vec<u64> {
    let mut latest = 0;
    raw.iter()
        .map(|&r| {
            latest = latest.max(r);
            latest
        })
        .collect()
}

/// The runner reads the clock at the start, before each attempt and after
/// it. The deadline (100 ticks) is judged at the latest reading.
#[test]
fn retry_runner_deadline() {
    let unit = 100u64;
    let mut answers = Vec::new();
    for back in backs(unit) {
        // Start at 50; the first attempt takes 10 ticks, the second starts
        // at 130, and after it the clock reads earlier, and stays there.
        let peak: u64 = 130;
        let earlier = back.map_or(0, |b| peak.saturating_sub(b));
        let raw = vec![50, 50, 60, peak, earlier, earlier, earlier, earlier];
        let run = |readings: Vec<u64>| {
            let clock = Script {
                readings,
                next: Cell::new(0),
            };
            let slept = RefCell::new(Vec::new());
            let schedule =
                Backoff::new(backoff::Config::constant(d(25)).max_attempts(6), 0).expect("valid");
            let result = block_on(Retry::new(schedule).deadline(d(unit)).run(
                Record(&slept),
                &clock,
                async |_| Err::<(), u8>(1),
                |_| Verdict::Retry,
            ));
            let result = result.map_err(|e| (e.attempts, e.stopped));
            (result, slept.into_inner(), clock.next.get())
        };
        let got = run(raw.clone());
        assert_eq!(got, run(clamp_script(&raw)), "back {back:?}");
        answers.push(got);
    }
    // After the second attempt, at the latest reading (130), a 25-tick
    // delay reaches the deadline (150): every variant stops there, after
    // two attempts and one delay. (Judged at the raw earlier readings, it
    // would sleep and try again.)
    for (result, slept, reads) in &answers {
        assert_eq!(*result, Err((2, fusebox::retry::Stopped::Deadline)));
        assert!(slept.contains(&25_000), "{slept:?}");
        assert_eq!(*reads, 5);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[test]
fn i2c_wrapper() {
    const ADDR: u8 = 0x48;
    // A bus with no device: every transfer is an address NACK.
    type Dead = FakeBus<'static, 0>;
    type Wrapper<'a> = ResilientI2c<&'a Dead, NoDelay, &'a Time>;
    let clocks = (Time::new(0), Time::new(0));
    let buses = (Dead::new([]), Dead::new([]));
    fn make<'a>(bus: &'a Dead, clock: &'a Time) -> Wrapper<'a> {
        let schedule =
            Backoff::new(backoff::Config::constant(d(1)).max_attempts(2), 0).expect("valid");
        let breaker = CircuitBreaker::new(
            breaker::Config::new()
                .open_duration(d(40))
                .probe_timeout(d(40)),
            ConsecutiveFailures::new(2).expect("valid"),
        )
        .expect("valid");
        ResilientI2c::new(bus, NoDelay, clock, i2c::Config::new(schedule, breaker))
    }
    let mut pair = (make(&buses.0, &clocks.0), make(&buses.1, &clocks.1));
    let (mut latest, mut stepped_back) = (0, 0);
    let mut answers = Vec::new();
    for (i, now) in timeline(40).into_iter().enumerate() {
        if now < latest {
            stepped_back += 1;
        }
        latest = latest.max(now);
        clocks.0.0.set(now);
        clocks.1.0.set(latest);
        let step = |w: &mut Wrapper<'_>, at: u64| {
            let mut buf = [0u8; 2];
            let r = block_on(w.read(ADDR, &mut buf));
            let mut changes = Vec::new();
            while let Some(c) = w.take_transition() {
                changes.push(c);
            }
            (format!("{r:?}"), changes, w.device_state(ADDR, t(at)))
        };
        let a = step(&mut pair.0, now);
        let b = step(&mut pair.1, latest);
        assert_eq!(a, b, "I2C: step {i}, now {now}, latest {latest}");
        answers.push(format!("{a:?}"));
    }
    assert!(stepped_back >= 15);
    answers.sort();
    answers.dedup();
    assert!(answers.len() >= 3, "{answers:?}");
}

/// The token-bucket input: 1 token per tick, burst 2. Taken at
/// tick 1, then asked at tick 0: judged at tick 1, where 1 token is left.
#[test]
fn bucket_stepped_back_one_tick_still_holds_its_token() {
    let q = Quota::per_period(1, d(1))
        .allow_burst(2)
        .build()
        .expect("valid");
    let mut bucket = TokenBucket::new(q);
    let shared = SharedTokenBucket::new(q);
    assert_eq!(bucket.try_acquire(t(1)), Ok(()));
    assert_eq!(shared.try_acquire(t(1)), Ok(()));
    assert_eq!(bucket.available(t(0)), 1);
    assert_eq!(shared.available(t(0)), 1);
    assert_eq!(bucket.time_until(1, t(0)), Ok(d(0)));
    assert_eq!(shared.time_until(1, t(0)), Ok(d(0)));
    assert_eq!(bucket.try_acquire(t(0)), Ok(()));
    assert_eq!(shared.try_acquire(t(0)), Ok(()));
    // Now empty at tick 1: the next token comes at tick 2.
    let r = bucket.try_acquire(t(0)).unwrap_err();
    assert_eq!(r.retry_after, Some(d(1)));
    assert_eq!(shared.try_acquire(t(0)).unwrap_err(), r);
}

/// The second input: 1 token per second, burst 10 (a 1 MHz tick).
/// One token at t = 1000 s, then nine requests at 999 s: all nine are
/// admitted (judged at 1000 s, where 9 are left); after a 10 s step back,
/// the same.
#[test]
fn bucket_stepped_back_a_second_or_ten_admits_the_rest_of_the_burst() {
    let q = Quota::per_second(1).allow_burst(10).build().expect("valid");
    let s = |secs: u64| Instant::from_secs(secs);
    for back in [1, 10] {
        let mut bucket = TokenBucket::new(q);
        let shared = SharedTokenBucket::new(q);
        assert!(bucket.try_acquire(s(1000)).is_ok());
        assert!(shared.try_acquire(s(1000)).is_ok());
        let admitted = (0..9)
            .filter(|_| bucket.try_acquire(s(1000 - back)).is_ok())
            .count();
        let admitted_shared = (0..9)
            .filter(|_| shared.try_acquire(s(1000 - back)).is_ok())
            .count();
        assert_eq!((admitted, admitted_shared), (9, 9), "{back} s back");
        // Empty now, at 1000 s: the next token at 1001 s.
        assert_eq!(
            bucket.try_acquire(s(1000 - back)).unwrap_err().retry_after,
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            shared.try_acquire(s(1000 - back)).unwrap_err().retry_after,
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            (bucket.available(s(1001)), shared.available(s(1001))),
            (1, 1)
        );
    }
}

#[test]
fn latency_histogram() {
    use fusebox::latency::McuHistogram;
    twins(
        "LatencyHistogram",
        40,
        || McuHistogram::new(d(40)).expect("valid"),
        |h, i, now| {
            h.record(d(1 + (i as u64 % 7) * 3), t(now));
            (
                h.quantile(990_000, t(now)),
                h.quantile(500_000, t(now)),
                h.count(t(now)),
            )
        },
    );
}

#[test]
fn adaptive_timeout() {
    use fusebox::latency::{AdaptiveTimeout, timeout};
    twins(
        "AdaptiveTimeout",
        40,
        || {
            AdaptiveTimeout::<4, 176, 4>::new(
                timeout::Config::new(d(10), d(1), d(1_000)).min_samples(3),
                d(40),
            )
            .expect("valid")
        },
        |a, i, now| {
            a.record(d(1 + (i as u64 % 7) * 3), t(now));
            // The judgement (the timeout) follows the rule; `deadline` is
            // documented as the plain sum `now + timeout` of the caller's
            // own start instant, so it is not compared here.
            (a.timeout(t(now)), a.histogram().count(t(now)))
        },
    );
}

#[test]
fn hedge_policy() {
    use fusebox::latency::{HedgePolicy, hedge};
    twins(
        "HedgePolicy",
        40,
        || {
            HedgePolicy::<4, 176, 4>::new(
                hedge::Config::new()
                    .min_samples(3)
                    .budget_percent(50)
                    .min_hedges_per_sec(1),
                d(40),
            )
            .expect("valid")
        },
        |p, i, now| {
            p.record(d(1 + (i as u64 % 7) * 3), t(now));
            let hedge = p.hedge_at(t(0), t(now));
            (hedge, p.try_hedge(t(now)), p.metrics())
        },
    );
}
