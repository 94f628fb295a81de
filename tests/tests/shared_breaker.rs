//! `SharedCircuitBreaker` under real threads.
//!
//! - **Linearizability**: many small runs (3 threads x 3 operations, one
//!   shared breaker) are recorded as histories (each operation's call and
//!   return on one global logical clock, and its result). Each history must
//!   be explained by the `&mut` `CircuitBreaker` fed the same operations in
//!   some order consistent with real time (an operation that returned
//!   before another was called comes first): a brute-force search over
//!   those orders, pruned as soon as a result differs, must find one where
//!   every result, the final state, the counters and the window agree.
//! - **Stress**: threads hammer one breaker for a bounded number of
//!   operations; the invariants (every record counted once, transitions
//!   chain, trips counted once, exactly K probes admitted per half-open
//!   round with one Open-to-HalfOpen transition, one trip per threshold
//!   crossing with the late permits stale) must hold.
//!
//! Seeds are fixed: every run of the test explores the same operation
//! mixes (the interleavings are the scheduler's).

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};

use fusebox::breaker::{
    CircuitBreaker, Config, ConsecutiveFailures, CountWindow, FailureCount, Outcome, Permit,
    ProbeRule, Rejected, SharedCircuitBreaker, SharedPolicy, State, TimeWindow, Transition,
};
use fusebox::time::{Duration, Instant};

/// A small xorshift PRNG: fixed seeds, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Acquire,
    /// Record the thread's oldest outstanding permit (an acquire if none).
    Record(Outcome),
    Isolate,
    Reset,
}

/// A result; a permit by its `Debug` form, which shows every field
/// (permits are not `Clone`: one record per permit).
#[derive(Debug, Clone, PartialEq)]
enum Res {
    Acquired(Result<String, Rejected>),
    Recorded(Option<Transition>),
    Forced(Option<Transition>),
}

#[derive(Debug)]
struct Event {
    op: Op,
    // Index of the acquire (in this thread's events) whose permit a record
    // hands back.
    permit_of: Option<usize>,
    call: u64,
    ret: u64,
    res: Res,
}

/// Apply `op` (with `permit` for a record); the result and the permit an
/// acquire got.
fn apply_mut<P: fusebox::breaker::Policy>(
    b: &mut CircuitBreaker<P>,
    op: Op,
    permit: Option<Permit>,
    now: Instant,
) -> (Res, Option<Permit>) {
    match (op, permit) {
        (Op::Record(o), Some(p)) => (Res::Recorded(b.record(p, o, now)), None),
        (Op::Acquire | Op::Record(_), _) => acquired(b.try_acquire(now)),
        (Op::Isolate, _) => (Res::Forced(b.isolate()), None),
        (Op::Reset, _) => (Res::Forced(b.reset()), None),
    }
}

fn apply_shared<P: SharedPolicy>(
    b: &SharedCircuitBreaker<P>,
    op: Op,
    permit: Option<Permit>,
    now: Instant,
) -> (Res, Option<Permit>) {
    match (op, permit) {
        (Op::Record(o), Some(p)) => (Res::Recorded(b.record(p, o, now)), None),
        (Op::Acquire | Op::Record(_), _) => acquired(b.try_acquire(now)),
        (Op::Isolate, _) => (Res::Forced(b.isolate()), None),
        (Op::Reset, _) => (Res::Forced(b.reset()), None),
    }
}

fn acquired(r: Result<Permit, Rejected>) -> (Res, Option<Permit>) {
    match r {
        Ok(p) => (Res::Acquired(Ok(format!("{p:?}"))), Some(p)),
        Err(e) => (Res::Acquired(Err(e)), None),
    }
}

/// Replay the operations of `threads` in `order` on a fresh `&mut`
/// breaker (prepared by `setup`); `true` if every result, the final state,
/// the counters and the window agree with the recorded run.
fn replay_agrees<P: fusebox::breaker::Policy>(
    mut b: CircuitBreaker<P>,
    threads: &[Vec<Event>],
    order: &[(usize, usize)],
    now: Instant,
    end: &End,
) -> bool {
    let mut permits: Vec<Vec<Option<Permit>>> = threads
        .iter()
        .map(|evs| evs.iter().map(|_| None).collect())
        .collect();
    for &(t, i) in order {
        let e = &threads[t][i];
        let permit = e.permit_of.and_then(|j| permits[t][j].take());
        let (res, got) = apply_mut(&mut b, e.op, permit, now);
        if res != e.res {
            return false;
        }
        permits[t][i] = got;
    }
    // The shared breaker derives `admitted` from recorded permits.
    let outstanding = permits.iter().flatten().flatten().count() as u32;
    let mut metrics = b.metrics();
    metrics.admitted -= outstanding;
    b.state(now) == end.state
        && metrics == end.metrics
        && (end.state != State::Closed || b.policy().window(now) == end.window)
}

struct End {
    state: State,
    metrics: fusebox::breaker::Metrics,
    window: fusebox::breaker::WindowStats,
}

/// Every order of the threads' operations that keeps each thread's program
/// order and real time (an operation that returned before another was
/// called comes first), passed to `f` until it returns `true`.
/// An order of operations: (thread, index in its history).
type Order = [(usize, usize)];

fn any_order(threads: &[Vec<Event>], f: &mut dyn FnMut(&Order) -> bool) -> bool {
    fn go(
        threads: &[Vec<Event>],
        next: &mut Vec<usize>,
        order: &mut Vec<(usize, usize)>,
        f: &mut dyn FnMut(&Order) -> bool,
    ) -> bool {
        let Some(min_ret) = next
            .iter()
            .zip(threads)
            .filter_map(|(&i, evs)| evs.get(i).map(|e| e.ret))
            .min()
        else {
            return f(order);
        };
        for t in 0..threads.len() {
            let Some(e) = threads[t].get(next[t]) else {
                continue;
            };
            if e.call > min_ret {
                continue;
            }
            order.push((t, next[t]));
            next[t] += 1;
            if go(threads, next, order, f) {
                return true;
            }
            next[t] -= 1;
            order.pop();
        }
        false
    }
    let mut next = vec![0; threads.len()];
    go(threads, &mut next, &mut Vec::new(), f)
}

/// One recorded run: 3 threads, 3 operations each, on a breaker prepared
/// by `setup`, all at instant `now`. Returns the per-thread histories.
fn run_once<P: SharedPolicy + Sync>(
    shared: &SharedCircuitBreaker<P>,
    plans: &[Vec<Op>],
    now: Instant,
) -> Vec<Vec<Event>> {
    let clock = AtomicU64::new(0);
    let barrier = Barrier::new(plans.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .iter()
            .enumerate()
            .map(|(k, plan)| {
                let mut rng = Rng(0x9E37_79B9 ^ ((k as u64 + 1) * 0x1234_5677));
                let clock = &clock;
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let mut events: Vec<Event> = Vec::new();
                    let mut outstanding: Vec<(usize, Permit)> = Vec::new();
                    for &op in plan {
                        let (permit_of, permit) = match op {
                            Op::Record(_) if !outstanding.is_empty() => {
                                let (i, p) = outstanding.remove(0);
                                (Some(i), Some(p))
                            }
                            _ => (None, None),
                        };
                        // The operation takes effect somewhere inside
                        // [call, ret]; the spins on either side widen the
                        // interval so that threads' operations overlap and
                        // the search has orders to choose from.
                        let call = clock.fetch_add(1, Ordering::SeqCst);
                        spin(&mut rng);
                        let (res, got) = apply_shared(shared, op, permit, now);
                        spin(&mut rng);
                        let ret = clock.fetch_add(1, Ordering::SeqCst);
                        if let Some(p) = got {
                            outstanding.push((events.len(), p));
                        }
                        events.push(Event {
                            op,
                            permit_of,
                            call,
                            ret,
                            res,
                        });
                    }
                    events
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn spin(rng: &mut Rng) {
    for _ in 0..rng.below(3000) {
        std::hint::spin_loop();
    }
}

fn plans(rng: &mut Rng, threads: usize, ops: usize) -> Vec<Vec<Op>> {
    (0..threads)
        .map(|_| {
            (0..ops)
                .map(|_| match rng.below(20) {
                    0..=7 => Op::Acquire,
                    8..=12 => Op::Record(Outcome::Failure),
                    13..=16 => Op::Record(Outcome::Success),
                    17 => Op::Record(Outcome::Ignored),
                    18 => Op::Isolate,
                    _ => Op::Reset,
                })
                .collect()
        })
        .collect()
}

fn config() -> Config {
    Config::new()
        .open_duration(Duration::from_ticks(5))
        .half_open_probes(2)
        .half_open_successes(2)
        .probe_timeout(Duration::from_ticks(100))
}

/// Record `runs` histories of 3 threads x 3 operations on breakers built by
/// `make` (after 0 to 2 failures at t=0, so that some runs start Open and
/// their first acquire at t=10 moves to HalfOpen); each must be
/// linearizable.
fn check_linearizable<P, F>(seed: u64, runs: usize, make: F)
where
    P: SharedPolicy + Clone + Sync,
    F: Fn() -> P,
{
    check_linearizable_with(config(), 10, seed, runs, make);
}

/// [`check_linearizable`] with `config`, the runs' operations at `now`.
fn check_linearizable_with<P, F>(config: Config, now: u64, seed: u64, runs: usize, make: F)
where
    P: SharedPolicy + Clone + Sync,
    F: Fn() -> P,
{
    let config = || config;
    let mut rng = Rng(seed);
    let now = Instant::from_ticks(now);
    let mut overlapped = 0;
    for run in 0..runs {
        let prefail = rng.below(3) as usize;
        let plans = plans(&mut rng, 3, 3);
        let shared = SharedCircuitBreaker::new(config(), make()).unwrap();
        let mut fresh = CircuitBreaker::new(config(), make()).unwrap();
        for _ in 0..prefail {
            if let Ok(p) = shared.try_acquire(Instant::from_ticks(0)) {
                shared.record(p, Outcome::Failure, Instant::from_ticks(0));
            }
            if let Ok(p) = fresh.try_acquire(Instant::from_ticks(0)) {
                fresh.record(p, Outcome::Failure, Instant::from_ticks(0));
            }
        }
        let threads = run_once(&shared, &plans, now);
        let end = End {
            state: shared.state(now),
            metrics: shared.metrics(),
            window: shared.window(now),
        };
        let found = any_order(&threads, &mut |order| {
            replay_agrees(fresh.clone(), &threads, order, now, &end)
        });
        assert!(
            found,
            "run {run}: no order consistent with real time explains {threads:#?} ending {:?}",
            (end.state, end.metrics)
        );
        let overlaps = threads.iter().enumerate().any(|(i, a)| {
            threads[i + 1..].iter().any(|b| {
                a.iter()
                    .any(|x| b.iter().any(|y| x.call < y.ret && y.call < x.ret))
            })
        });
        overlapped += usize::from(overlaps);
    }
    // The check means something only if operations of different threads
    // overlapped in time in some runs.
    assert!(
        overlapped > 0,
        "no run overlapped: the check proved nothing"
    );
    eprintln!("{overlapped} of {runs} runs had operations of different threads overlapping");
}

#[test]
fn consecutive_failures_histories_are_linearizable() {
    check_linearizable(0x5EED_0001, 3000, || ConsecutiveFailures::new(2).unwrap());
}

#[test]
fn count_window_histories_are_linearizable() {
    check_linearizable(0x5EED_0002, 3000, || {
        CountWindow::<4>::builder()
            .failure_rate(50)
            .minimum_calls(2)
            .build()
            .unwrap()
    });
}

/// A time window of 4 buckets of 2 ticks: the runs at t=10 find the
/// failures of t=0 expired (their first call clears every bucket), the runs
/// at t=3 find them in the window.
#[test]
fn time_window_histories_are_linearizable() {
    let make = || {
        TimeWindow::<4>::builder(Duration::from_ticks(8))
            .failure_rate(50)
            .minimum_calls(2)
            .build()
            .unwrap()
    };
    check_linearizable_with(config(), 10, 0x5EED_0003, 1500, make);
    check_linearizable_with(config(), 3, 0x5EED_0004, 1500, make);
}

/// Counting intervals: failures at t=0, runs at t=3 (same interval) and at
/// t=10 (a new one: the first outcome clears the counts).
#[test]
fn failure_count_and_interval_histories_are_linearizable() {
    let fc = || {
        FailureCount::new(2)
            .unwrap()
            .interval(Duration::from_ticks(5))
            .unwrap()
    };
    check_linearizable_with(config(), 3, 0x5EED_0005, 1000, fc);
    check_linearizable_with(config(), 10, 0x5EED_0006, 1000, fc);
    check_linearizable(0x5EED_0007, 1000, || FailureCount::new(2).unwrap());
    let cf = || {
        ConsecutiveFailures::new(2)
            .unwrap()
            .interval(Duration::from_ticks(5))
            .unwrap()
    };
    check_linearizable_with(config(), 3, 0x5EED_0008, 1000, cf);
    check_linearizable_with(config(), 10, 0x5EED_0009, 1000, cf);
}

/// Probes per round (K = 2, S = 2) and a break-duration table.
#[test]
fn per_round_and_schedule_histories_are_linearizable() {
    static TABLE: [Duration; 3] = [
        Duration::from_ticks(5),
        Duration::from_ticks(1),
        Duration::from_ticks(9),
    ];
    let c = config()
        .probe_rule(ProbeRule::PerRound)
        .open_duration_table(&TABLE);
    check_linearizable_with(c, 10, 0x5EED_000A, 1500, || {
        ConsecutiveFailures::new(1).unwrap()
    });
    check_linearizable_with(c, 10, 0x5EED_000B, 1500, || {
        TimeWindow::<2>::builder(Duration::from_ticks(4))
            .failure_rate(50)
            .minimum_calls(1)
            .build()
            .unwrap()
    });
}

// ---------------------------------------------------------------------------
// Stress: threads hammering one breaker for a bounded number of operations.
// ---------------------------------------------------------------------------

const THREADS: usize = 4;

/// Every thread acquires, calls and records in a loop against a shared
/// clock; the transitions every call returned must chain from Closed to
/// the final state, every trip be counted once, and every permit be
/// accounted for exactly once in the counters.
fn hammer<P: SharedPolicy + Sync>(b: &SharedCircuitBreaker<P>, ops: usize, seed: u64) {
    let clock = AtomicU64::new(0);
    let results: Vec<(Vec<Transition>, u32)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|k| {
                let clock = &clock;
                s.spawn(move || {
                    let mut rng = Rng(seed ^ ((k as u64 + 1) << 32));
                    let mut seen = Vec::new();
                    let mut recorded = 0u32;
                    for i in 0..ops {
                        if i % 8 == 0 {
                            clock.fetch_add(1, Ordering::Relaxed);
                        }
                        let now = Instant::from_ticks(clock.load(Ordering::Relaxed));
                        match rng.below(50) {
                            0 => seen.extend(b.isolate()),
                            1 => seen.extend(b.reset()),
                            2 => seen.extend(b.force_closed()),
                            _ => {}
                        }
                        let Ok(p) = b.try_acquire(now) else { continue };
                        seen.extend(p.transition());
                        let outcome = match rng.below(10) {
                            0..=3 => Outcome::Failure,
                            4 => Outcome::Ignored,
                            _ => Outcome::Success,
                        };
                        let later = Instant::from_ticks(clock.load(Ordering::Relaxed));
                        seen.extend(b.record(p, outcome, later));
                        recorded += 1;
                    }
                    (seen, recorded)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let recorded: u32 = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Transition> = results.into_iter().flat_map(|r| r.0).collect();
    let m = b.metrics();
    assert_eq!(
        recorded,
        m.successes + m.failures + m.ignored + m.stale,
        "every record counted once, as one of the four: {m:?}"
    );
    let into_open = all.iter().filter(|t| t.to == State::Open).count();
    assert_eq!(m.trips as usize, into_open, "each trip counted once");
    assert!(into_open > 0, "the stress never tripped the breaker");
    // End in a known state: isolating reports the state it leaves.
    all.extend(b.isolate());
    for x in [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::ForcedClosed,
    ] {
        let into = all.iter().filter(|t| t.to == x).count() as i64;
        let out = all.iter().filter(|t| t.from == x).count() as i64;
        let want = i64::from(x == State::ForcedOpen) - i64::from(x == State::Closed);
        assert_eq!(
            into - out,
            want,
            "transitions into and out of {x:?} must chain"
        );
    }
}

#[test]
fn stress_consecutive_failures() {
    let b = SharedCircuitBreaker::new(config(), ConsecutiveFailures::new(3).unwrap()).unwrap();
    hammer(&b, 20_000, 0xABCD_0001);
}

#[test]
fn stress_count_window() {
    let b = SharedCircuitBreaker::new(
        config(),
        CountWindow::<16>::builder()
            .failure_rate(40)
            .minimum_calls(5)
            .build()
            .unwrap(),
    )
    .unwrap();
    hammer(&b, 20_000, 0xABCD_0002);
}

#[test]
fn stress_time_window() {
    let w = TimeWindow::<8>::builder(Duration::from_ticks(16))
        .failure_rate(40)
        .minimum_calls(5)
        .build()
        .unwrap();
    let b = SharedCircuitBreaker::new(config(), w).unwrap();
    hammer(&b, 20_000, 0xABCD_0003);
}

#[test]
fn stress_failure_count_and_intervals() {
    let fc = FailureCount::new(4)
        .unwrap()
        .interval(Duration::from_ticks(3))
        .unwrap();
    let b = SharedCircuitBreaker::new(config().probe_rule(ProbeRule::PerRound), fc).unwrap();
    hammer(&b, 20_000, 0xABCD_0004);
    let cf = ConsecutiveFailures::new(3)
        .unwrap()
        .interval(Duration::from_ticks(2))
        .unwrap();
    let b = SharedCircuitBreaker::new(
        config().open_duration_linear(
            Duration::from_ticks(1),
            Duration::from_ticks(1),
            Duration::from_ticks(400),
        ),
        cf,
    )
    .unwrap();
    hammer(&b, 20_000, 0xABCD_0005);
}

/// The time window's counts under threads: every call recorded (all
/// successes, so it never trips) is in the window exactly once, until its
/// bucket expires.
#[test]
fn stress_time_window_counts_every_call_once() {
    // 100 % failures needed, and every call succeeds: it never trips.
    let w = TimeWindow::<4>::builder(Duration::from_ticks(4_000_000))
        .failure_rate(100)
        .minimum_calls(1)
        .build()
        .unwrap();
    let b = SharedCircuitBreaker::new(config(), w).unwrap();
    let per_thread = 5_000u32;
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..per_thread {
                    let p = b.try_acquire(Instant::from_ticks(1)).unwrap();
                    assert_eq!(b.record(p, Outcome::Success, Instant::from_ticks(1)), None);
                }
            });
        }
    });
    let want = per_thread * THREADS as u32;
    assert_eq!(b.window(Instant::from_ticks(1)).calls, want);
    assert_eq!(b.metrics().successes, want);
    // A bucket later the counts are still there; a whole window later gone.
    assert_eq!(b.window(Instant::from_ticks(1_000_001)).calls, want);
    assert_eq!(b.window(Instant::from_ticks(4_000_001)).calls, 0);
}

/// Open past its duration, then every thread tries to acquire at once:
/// exactly K probes are admitted, exactly one of them carries the
/// Open-to-HalfOpen transition. Repeated, each round on a fresh trip.
#[test]
fn stress_at_most_k_probes_and_one_half_open_transition() {
    for k in [1u16, 2, 3] {
        let b = SharedCircuitBreaker::new(
            config().half_open_probes(k),
            ConsecutiveFailures::new(1).unwrap(),
        )
        .unwrap();
        for round in 0..200u64 {
            let t0 = round * 1_000;
            b.reset();
            let p = b.try_acquire(Instant::from_ticks(t0)).unwrap();
            assert!(
                b.record(p, Outcome::Failure, Instant::from_ticks(t0))
                    .is_some()
            );
            let now = Instant::from_ticks(t0 + 5);
            let start = Barrier::new(THREADS);
            let got: Vec<(usize, usize)> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..THREADS)
                    .map(|_| {
                        let (b, start) = (&b, &start);
                        s.spawn(move || {
                            start.wait();
                            let mut admitted = 0;
                            let mut moved = 0;
                            for _ in 0..50 {
                                if let Ok(p) = b.try_acquire(now) {
                                    admitted += 1;
                                    moved += usize::from(
                                        p.transition()
                                            == Some(Transition {
                                                from: State::Open,
                                                to: State::HalfOpen,
                                            }),
                                    );
                                    // Never recorded: the probe stays out.
                                    drop(p);
                                }
                            }
                            (admitted, moved)
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let admitted: usize = got.iter().map(|g| g.0).sum();
            let moved: usize = got.iter().map(|g| g.1).sum();
            assert_eq!(admitted, usize::from(k), "round {round}: K = {k}");
            assert_eq!(moved, 1, "round {round}: one Open-to-HalfOpen transition");
        }
    }
}

/// M permits taken while Closed, then recorded as failures from every
/// thread at once: exactly one record trips (threshold T), T failures are
/// counted, and the other M - T are stale.
#[test]
fn stress_one_trip_per_threshold_crossing() {
    const M: usize = 64;
    for threshold in [1u32, 5, 17] {
        for round in 0..50 {
            let b =
                SharedCircuitBreaker::new(config(), ConsecutiveFailures::new(threshold).unwrap())
                    .unwrap();
            let now = Instant::from_ticks(round);
            let permits: Vec<Permit> = (0..M).map(|_| b.try_acquire(now).unwrap()).collect();
            let mut chunks: Vec<Vec<Permit>> = (0..THREADS).map(|_| Vec::new()).collect();
            for (i, p) in permits.into_iter().enumerate() {
                chunks[i % THREADS].push(p);
            }
            let start = Barrier::new(THREADS);
            let trips: usize = std::thread::scope(|s| {
                let hs: Vec<_> = chunks
                    .into_iter()
                    .map(|chunk| {
                        let (b, start) = (&b, &start);
                        s.spawn(move || {
                            start.wait();
                            chunk
                                .into_iter()
                                .map(|p| b.record(p, Outcome::Failure, now))
                                .filter(|t| t.is_some())
                                .count()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            let m = b.metrics();
            assert_eq!(trips, 1, "threshold {threshold}: one trip");
            assert_eq!(m.trips, 1);
            assert_eq!(m.failures, threshold);
            assert_eq!(m.stale as usize, M - threshold as usize);
        }
    }
}

/// The x86_64 / aarch64 column of the shared breaker's size table in
/// `&SharedCircuitBreaker` is the retry runner's `Gate`: many runners share
/// one breaker without a lock.
#[test]
fn shared_breaker_by_reference_is_a_gate() {
    use fusebox::retry::Gate;
    let b = SharedCircuitBreaker::new(config(), ConsecutiveFailures::new(2).unwrap()).unwrap();
    let (mut g1, mut g2) = (&b, &b);
    let t = Instant::from_ticks(1);
    let p1 = Gate::try_acquire(&mut g1, t).unwrap();
    let p2 = Gate::try_acquire(&mut g2, t).unwrap();
    Gate::record(&mut g1, p1, Outcome::Failure, t);
    assert_eq!(b.state(t), State::Closed);
    Gate::record(&mut g2, p2, Outcome::Failure, t);
    assert_eq!(b.state(t), State::Open);
    assert!(Gate::try_acquire(&mut g1, t).is_err());
}
