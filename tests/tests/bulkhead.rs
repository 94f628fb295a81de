//! Bulkheads and the AIMD limit against reference models: random
//! acquire / release / set_limit sequences, random outcome timelines, and
//! threads contending for one shared bulkhead.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use fusebox::bulkhead::{
    AdaptiveLimit, AimdConfig, Bulkhead, LimitChange, Outcome, OwnedPermit, Permit, SharedBulkhead,
    Token,
};
use fusebox::time::{Duration, Instant};
use fusebox_models::bulkhead::{Aimd, Counter as Model};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Bulkheads against a counter model.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    /// Release the held permit at this index (modulo the number held).
    Release(usize),
    SetLimit(u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            5 => Just(Op::Acquire),
            4 => any::<usize>().prop_map(Op::Release),
            1 => (0u32..=6).prop_map(Op::SetLimit),
        ],
        0..200,
    )
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(512))]

    #[test]
    fn local_bulkhead_follows_the_model(limit in 1u32..=5, ops in ops()) {
        let mut b = Bulkhead::new(limit).unwrap();
        let mut m = Model::new(limit);
        let mut held: Vec<Token> = Vec::new();
        for op in ops {
            match op {
                Op::Acquire => {
                    let got = b.try_acquire();
                    let want = m.acquire();
                    prop_assert_eq!(got.as_ref().err(), want.as_ref().err());
                    if let Ok(token) = got {
                        held.push(token);
                        // Never more live tokens than the limit they were
                        // admitted under.
                        prop_assert!(held.len() as u32 <= b.limit());
                    }
                }
                Op::Release(i) if !held.is_empty() => {
                    let token = held.swap_remove(i % held.len());
                    b.release(token);
                    m.release();
                }
                Op::Release(_) => {}
                Op::SetLimit(n) => {
                    prop_assert_eq!(b.set_limit(n).map_err(|e| e.field()), m.set_limit(n));
                }
            }
            prop_assert_eq!(b.in_use(), m.in_use);
            prop_assert_eq!(b.in_use() as usize, held.len());
            prop_assert_eq!(b.limit(), m.limit);
            prop_assert_eq!(b.available(), m.available());
        }
        for token in held {
            b.release(token);
        }
        prop_assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn shared_bulkhead_follows_the_model(limit in 1u32..=5, ops in ops()) {
        // Permits borrowed from `b` and owned ones through an Arc, mixed.
        let b = Arc::new(SharedBulkhead::new(limit).unwrap());
        let mut m = Model::new(limit);
        enum Held<'a> {
            Borrowed(#[allow(dead_code)] Permit<'a>),
            Owned(#[allow(dead_code)] OwnedPermit<Arc<SharedBulkhead>>),
        }
        let mut held: Vec<Held<'_>> = Vec::new();
        let mut owned_next = false;
        for op in ops {
            match op {
                Op::Acquire => {
                    let want = m.acquire();
                    let got = if owned_next {
                        SharedBulkhead::try_acquire_owned(Arc::clone(&b)).map(Held::Owned)
                    } else {
                        b.try_acquire().map(Held::Borrowed)
                    };
                    owned_next = !owned_next;
                    prop_assert_eq!(got.as_ref().err(), want.as_ref().err());
                    if let Ok(permit) = got {
                        held.push(permit);
                        prop_assert!(held.len() as u32 <= b.limit());
                    }
                }
                Op::Release(i) if !held.is_empty() => {
                    drop(held.swap_remove(i % held.len()));
                    m.release();
                }
                Op::Release(_) => {}
                Op::SetLimit(n) => {
                    prop_assert_eq!(b.set_limit(n).map_err(|e| e.field()), m.set_limit(n));
                }
            }
            prop_assert_eq!(b.in_use(), m.in_use);
            prop_assert_eq!(b.in_use() as usize, held.len());
            prop_assert_eq!(b.limit(), m.limit);
            prop_assert_eq!(b.available(), m.available());
        }
        drop(held);
        prop_assert_eq!(b.in_use(), 0);
        prop_assert_eq!(Arc::strong_count(&b), 1);
    }
}

// ---------------------------------------------------------------------------
// AdaptiveLimit against a reference model of the AIMD law.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Cfg {
    min: u32,
    max: u32,
    initial: u32,
    step: u16,
    percent: u8,
    target: u64,
    cooldown: u64,
}

fn configs() -> impl Strategy<Value = Cfg> {
    (
        1u32..=40,
        prop_oneof![3 => 0u32..=300, 1 => Just(u32::MAX - 40)],
        any::<u32>(),
        prop_oneof![4 => 1u16..=4, 1 => any::<u16>().prop_map(|s| s.max(1))],
        1u8..=99,
        1u64..=1_000,
        prop_oneof![Just(0u64), 1u64..=50, Just(u64::MAX)],
    )
        .prop_map(|(min, span, init, step, percent, target, cooldown)| {
            let max = min + span;
            let initial = min + init % (span + 1);
            Cfg {
                min,
                max,
                initial,
                step,
                percent,
                target,
                cooldown,
            }
        })
}

#[derive(Debug, Clone)]
struct Sample {
    outcome: Outcome,
    latency: u64,
    in_flight: Option<u32>,
    /// Ticks to move the clock: mostly forward, sometimes backwards.
    dt: i64,
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec(
        (
            prop_oneof![
                6 => Just(Outcome::Success),
                3 => Just(Outcome::Dropped),
                1 => Just(Outcome::Ignored),
            ],
            prop_oneof![8 => 0u64..=1_200, 1 => Just(u64::MAX)],
            prop_oneof![2 => Just(None), 1 => any::<u32>().prop_map(|n| Some(n % 400))],
            prop_oneof![8 => 0i64..=30, 1 => -100i64..0],
        )
            .prop_map(|(outcome, latency, in_flight, dt)| Sample {
                outcome,
                latency,
                in_flight,
                dt,
            }),
        0..300,
    )
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(512))]

    #[test]
    fn adaptive_limit_follows_the_reference_model(
        cfg in configs(),
        start in prop_oneof![Just(0u64), Just(u64::MAX - 5_000), any::<u64>()],
        samples in samples(),
    ) {
        let config = AimdConfig::new()
            .limits(cfg.min, cfg.max)
            .initial(cfg.initial)
            .increase(cfg.step)
            .backoff_percent(cfg.percent)
            .latency_target(Duration::from_ticks(cfg.target))
            .decrease_cooldown(Duration::from_ticks(cfg.cooldown));
        let mut limit = AdaptiveLimit::new(config).unwrap();
        let mut model = Aimd::new(
            (cfg.min, cfg.max),
            cfg.initial,
            cfg.step,
            cfg.percent,
            cfg.target,
            cfg.cooldown,
        );
        let mut now = start;
        for s in samples {
            now = if s.dt >= 0 {
                now.saturating_add(s.dt as u64)
            } else {
                now.saturating_sub(s.dt.unsigned_abs())
            };
            let before = limit.limit();
            let latency = Duration::from_ticks(s.latency);
            let change = match s.in_flight {
                Some(n) => limit.record_in_flight(s.outcome, latency, n, Instant::from_ticks(now)),
                None => limit.record(s.outcome, latency, Instant::from_ticks(now)),
            };
            model.record(s.outcome, s.latency, s.in_flight, now);
            prop_assert_eq!(u128::from(limit.limit()), model.limit, "after {:?}", s);
            prop_assert!(cfg.min <= limit.limit() && limit.limit() <= cfg.max);
            // A change is reported iff the limit moved, with both ends.
            let want = (before != limit.limit())
                .then_some(LimitChange { from: before, to: limit.limit() });
            prop_assert_eq!(change, want);
        }
    }

    /// Under a steady stream of drops the limit falls to `min` and stays;
    /// under fast successes it rises to `max` and stays.
    #[test]
    fn adaptive_limit_converges_to_its_bounds(cfg in configs()) {
        let config = AimdConfig::new()
            .limits(cfg.min, cfg.max)
            .initial(cfg.initial)
            .increase(cfg.step)
            .backoff_percent(cfg.percent)
            .latency_target(Duration::from_ticks(cfg.target));
        let mut limit = AdaptiveLimit::new(config).unwrap();
        let t = Instant::from_ticks(0);
        // Each drop above min removes at least 1 and at least 1 % of the
        // limit: about 2200 drops take u32::MAX to 1.
        for _ in 0..3_000 {
            limit.record(Outcome::Dropped, Duration::from_ticks(0), t);
        }
        prop_assert_eq!(limit.limit(), cfg.min);
        let steps = (cfg.max - cfg.min).div_ceil(u32::from(cfg.step));
        if steps <= 100_000 {
            for _ in 0..steps {
                prop_assert!(limit.record(Outcome::Success, Duration::from_ticks(0), t).is_some());
            }
            prop_assert_eq!(limit.limit(), cfg.max);
            prop_assert_eq!(limit.record(Outcome::Success, Duration::from_ticks(0), t), None);
        }
    }
}

// ---------------------------------------------------------------------------
// Threads.
// ---------------------------------------------------------------------------

/// Many threads hammer one bulkhead; a separate counter of the calls inside
/// the guarded section never exceeds the limit, and every slot comes back.
#[test]
fn n_is_never_exceeded_under_contention() {
    const LIMIT: u32 = 3;
    const THREADS: usize = 8;
    const ROUNDS: usize = 20_000;
    let bulkhead = SharedBulkhead::new(LIMIT).unwrap();
    let inside = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let admitted = AtomicU32::new(0);
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                for i in 0..ROUNDS {
                    let Ok(permit) = bulkhead.try_acquire() else {
                        continue;
                    };
                    let now_inside = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now_inside, Ordering::SeqCst);
                    admitted.fetch_add(1, Ordering::Relaxed);
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }
            });
        }
    });
    let most = most.into_inner();
    assert!(most <= LIMIT, "{most} calls inside a bulkhead of {LIMIT}");
    assert!(admitted.into_inner() > 0);
    assert_eq!(bulkhead.in_use(), 0);
    assert_eq!(bulkhead.limit(), LIMIT);
}

/// One thread moves the limit between 2 and 4 while others acquire: no more
/// than 4 are ever inside, and the word's two halves never mix (the final
/// limit is the last one set, with nothing in use).
#[test]
fn set_limit_under_contention_keeps_both_halves() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let bulkhead = Arc::new(SharedBulkhead::new(2).unwrap());
    let inside = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tuner = {
        let (b, stop) = (Arc::clone(&bulkhead), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let limit = if n.is_multiple_of(2) { 4 } else { 2 };
                let old = b.set_limit(limit).unwrap();
                assert!(old == 2 || old == 4, "limit half corrupted: {old}");
                n += 1;
                std::thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (b, inside, most) = (
                Arc::clone(&bulkhead),
                Arc::clone(&inside),
                Arc::clone(&most),
            );
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    // Owned permits through the Arc, as a spawned task holds them.
                    let Ok(permit) = SharedBulkhead::try_acquire_owned(Arc::clone(&b)) else {
                        continue;
                    };
                    let now_inside = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now_inside, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    tuner.join().unwrap();
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 4, "{most} inside with a limit of at most 4");
    assert_eq!(bulkhead.in_use(), 0);
    assert!(matches!(bulkhead.limit(), 2 | 4));
    assert_eq!(bulkhead.set_limit(7).unwrap() % 2, 0);
    assert_eq!(bulkhead.limit(), 7);
}
