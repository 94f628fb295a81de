//! The shared tables, budget and adaptive limit against their `&mut`
//! counterparts: the same random operation streams through both, every
//! decision compared (one shard: the `&mut` type itself; `S` shards: `S`
//! `&mut` tables dispatched by the shared table's own shard choice), and
//! std stress tests (threads hammering one instance for a bounded number
//! of operations) that check each type's invariant.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, LimitChange, Outcome, SharedAdaptiveLimit};
use fusebox::dedup::{
    Begin, Config, DedupTable, Eviction, SharedBegin, SharedDedupTable, SharedTicket, Ticket,
};
use fusebox::hash::Seed;
use fusebox::rate::{
    KeyedLimiter, KeyedRejected, Quota, RetryBudget, SharedKeyedLimiter, SharedRetryBudget,
    WhenFull,
};
use fusebox::time::{Duration, Instant};
use proptest::prelude::*;

type Raw = parking_lot::RawMutex;

fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}

fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        // Deterministic in CI: a fixed seed.
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x11_5eed),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Dedup.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum DedupOp {
    Begin { key: u32, dt: u64 },
    Complete { which: usize, value: u16, dt: u64 },
    Abandon { which: usize, dt: u64 },
    Get { key: u32 },
    Back { dt: u64 },
    Clear,
}

fn dedup_op() -> impl Strategy<Value = DedupOp> {
    prop_oneof![
        12 => (0u32..48, 0u64..4).prop_map(|(key, dt)| DedupOp::Begin { key, dt }),
        6 => (any::<usize>(), any::<u16>(), 0u64..4)
            .prop_map(|(which, value, dt)| DedupOp::Complete { which, value, dt }),
        2 => (any::<usize>(), 0u64..4).prop_map(|(which, dt)| DedupOp::Abandon { which, dt }),
        2 => (0u32..48).prop_map(|key| DedupOp::Get { key }),
        2 => (0u64..30).prop_map(|dt| DedupOp::Back { dt }),
        1 => Just(DedupOp::Clear),
    ]
}

/// The answers of `S` `&mut` tables and of one shared table of `S` shards
/// (with the same seed, each key in the shard the shared table picks) to
/// one stream of operations: equal, one by one.
fn dedup_lockstep<const S: usize>(
    ops: Vec<DedupOp>,
    in_flight_ttl: u64,
    done_ttl: u64,
    eviction: Eviction,
    seed: Seed,
) -> Result<(), TestCaseError> {
    const N: usize = 16;
    let config = Config::new()
        .in_flight_ttl(d(in_flight_ttl))
        .done_ttl(d(done_ttl))
        .eviction(eviction);
    let shared = SharedDedupTable::<Raw, u32, u16, S, N>::new(config, seed).expect("valid");
    let mut local: Vec<DedupTable<u32, u16, N>> = (0..S)
        .map(|_| DedupTable::new(config, seed).expect("valid"))
        .collect();
    let mut tickets: Vec<(usize, Ticket, SharedTicket)> = Vec::new();
    let mut now = 0u64;
    for op in ops {
        match op {
            DedupOp::Back { dt } => now = now.saturating_sub(dt),
            DedupOp::Clear => {
                shared.clear();
                local.iter_mut().for_each(DedupTable::clear);
            }
            DedupOp::Begin { key, dt } => {
                now += dt;
                let s = shared.shard_of(&key);
                let mine = local[s].begin(key, t(now));
                let theirs = shared.begin(key, t(now));
                match (mine, theirs) {
                    (Begin::New(a), SharedBegin::New(b)) => tickets.push((s, a, b)),
                    (Begin::InFlight, SharedBegin::InFlight) | (Begin::Full, SharedBegin::Full) => {
                    }
                    (Begin::Done(a), SharedBegin::Done(b)) => prop_assert_eq!(*a, b),
                    (a, b) => {
                        return Err(TestCaseError::fail(format!(
                            "key {key} at {now}: &mut {a:?}, shared {b:?}"
                        )));
                    }
                }
            }
            DedupOp::Complete { which, value, dt } => {
                now += dt;
                if tickets.is_empty() {
                    continue;
                }
                let (s, a, b) = tickets.swap_remove(which % tickets.len());
                prop_assert_eq!(
                    local[s].complete(a, value, t(now)),
                    shared.complete(b, value, t(now))
                );
            }
            DedupOp::Abandon { which, dt } => {
                now += dt;
                if tickets.is_empty() {
                    continue;
                }
                let (s, a, b) = tickets.swap_remove(which % tickets.len());
                prop_assert_eq!(local[s].abandon(a, t(now)), shared.abandon(b, t(now)));
            }
            DedupOp::Get { key } => {
                let s = shared.shard_of(&key);
                prop_assert_eq!(
                    local[s].get(&key, t(now)).copied(),
                    shared.get(&key, t(now))
                );
            }
        }
        let occupied: usize = local.iter().map(|l| l.occupied(t(now))).sum();
        prop_assert_eq!(occupied, shared.occupied(t(now)));
        let m = shared.metrics();
        let sum = |f: fn(&fusebox::dedup::Metrics) -> u32| {
            local.iter().map(|l| f(&l.metrics())).sum::<u32>()
        };
        prop_assert_eq!(m.new, sum(|m| m.new));
        prop_assert_eq!(m.in_flight, sum(|m| m.in_flight));
        prop_assert_eq!(m.done, sum(|m| m.done));
        prop_assert_eq!(m.full, sum(|m| m.full));
        prop_assert_eq!(m.evicted, sum(|m| m.evicted));
        prop_assert_eq!(m.completed, sum(|m| m.completed));
        prop_assert_eq!(m.stale, sum(|m| m.stale));
    }
    Ok(())
}

fn eviction() -> impl Strategy<Value = Eviction> {
    prop_oneof![Just(Eviction::KeepDone), Just(Eviction::EvictDone)]
}

proptest! {
    #![proptest_config(cases())]

    /// One shard: every decision is the `&mut` table's, `Full` included.
    #[test]
    fn shared_dedup_one_shard_decides_as_the_mut_table(
        ops in prop::collection::vec(dedup_op(), 1..300),
        in_flight_ttl in 1u64..20, done_ttl in 1u64..60, eviction in eviction(),
        k0 in any::<u64>(), k1 in any::<u64>(),
    ) {
        dedup_lockstep::<1>(ops, in_flight_ttl, done_ttl, eviction, Seed::new(k0, k1))?;
    }

    /// Four shards: every decision is that of the key's shard's `&mut`
    /// table, and the summed counters agree.
    #[test]
    fn shared_dedup_four_shards_decide_as_four_mut_tables(
        ops in prop::collection::vec(dedup_op(), 1..300),
        in_flight_ttl in 1u64..20, done_ttl in 1u64..60, eviction in eviction(),
        k0 in any::<u64>(), k1 in any::<u64>(),
    ) {
        dedup_lockstep::<4>(ops, in_flight_ttl, done_ttl, eviction, Seed::new(k0, k1))?;
    }
}

/// Threads hammer one shared table on a shared clock; each key answers
/// `New` exactly once per lifetime (no two holders at once; after the
/// abandons, once more each; never after a completion), and every `Done`
/// carries the value its key's worker stored.
#[test]
fn stress_dedup_new_exactly_once_per_lifetime() {
    const THREADS: usize = 4;
    const OPS: u32 = if cfg!(miri) { 200 } else { 20_000 };
    const KEYS: u32 = 256;
    // TTLs beyond the run: only abandons end a lifetime.
    let config = Config::new()
        .in_flight_ttl(Duration::MAX)
        .done_ttl(Duration::MAX)
        .eviction(Eviction::KeepDone);
    let table = Box::new(
        SharedDedupTable::<Raw, u32, u64, 8, 256>::new(config, Seed::new(11, 12)).expect("valid"),
    );
    let held: Vec<AtomicBool> = (0..KEYS).map(|_| AtomicBool::new(false)).collect();
    let news: Vec<AtomicU32> = (0..KEYS).map(|_| AtomicU32::new(0)).collect();
    let abandons: Vec<AtomicU32> = (0..KEYS).map(|_| AtomicU32::new(0)).collect();
    let completes: Vec<AtomicU32> = (0..KEYS).map(|_| AtomicU32::new(0)).collect();
    let clock = AtomicU64::new(0);
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (table, held, news, abandons, completes, clock) =
                (&table, &held, &news, &abandons, &completes, &clock);
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ thread as u64;
                for _ in 0..OPS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = (x % u64::from(KEYS)) as u32;
                    let k = key as usize;
                    let now = t(clock.fetch_add(1, Ordering::Relaxed));
                    match table.begin(key, now) {
                        SharedBegin::New(ticket) => {
                            assert!(
                                !held[k].swap(true, Ordering::SeqCst),
                                "two holders of {key}"
                            );
                            news[k].fetch_add(1, Ordering::SeqCst);
                            if (x >> 40).is_multiple_of(4) {
                                abandons[k].fetch_add(1, Ordering::SeqCst);
                                // Released before the table frees the key:
                                // the next holder finds it clear.
                                held[k].store(false, Ordering::SeqCst);
                                assert!(table.abandon(ticket, now));
                            } else {
                                completes[k].fetch_add(1, Ordering::SeqCst);
                                assert!(table.complete(ticket, u64::from(key) * 7, now).is_ok());
                            }
                        }
                        SharedBegin::Done(v) => assert_eq!(v, u64::from(key) * 7),
                        SharedBegin::InFlight => {}
                        SharedBegin::Full => panic!("8 x 256 slots hold 256 keys"),
                    }
                }
            });
        }
    });
    let mut total = 0;
    for k in 0..KEYS as usize {
        let (n, a, c) = (
            news[k].load(Ordering::SeqCst),
            abandons[k].load(Ordering::SeqCst),
            completes[k].load(Ordering::SeqCst),
        );
        assert!(c <= 1, "key {k} completed {c} times");
        assert_eq!(
            n,
            a + c,
            "key {k}: {n} New for {a} abandons and {c} completions"
        );
        total += n;
    }
    assert!(total >= KEYS / 2, "the stress barely ran: {total} New");
    assert_eq!(table.metrics().new, total);
}

// ---------------------------------------------------------------------------
// Keyed limiter.
// ---------------------------------------------------------------------------

fn quotas() -> impl Strategy<Value = Quota> {
    (1u32..5, 1u64..20, 1u32..4).prop_map(|(r, p, b)| {
        Quota::per_period(r, d(p))
            .allow_burst(b)
            .build()
            .expect("valid quota")
    })
}

fn policy() -> impl Strategy<Value = WhenFull> {
    prop_oneof![Just(WhenFull::RejectNew), Just(WhenFull::EvictLeastRecent)]
}

fn keyed_lockstep<const S: usize>(
    q: Quota,
    policy: WhenFull,
    seed: Seed,
    ops: Vec<(u16, u64, u32, bool)>,
) -> Result<(), TestCaseError> {
    const N: usize = 8;
    let shared = SharedKeyedLimiter::<Raw, u16, S, N>::new(q, seed, policy);
    let mut local: Vec<KeyedLimiter<u16, N>> =
        (0..S).map(|_| KeyedLimiter::new(q, seed, policy)).collect();
    let mut now = 0u64;
    for (key, dt, n, back) in ops {
        now = if back {
            now.saturating_sub(dt)
        } else {
            now + dt
        };
        let s = shared.shard_of(&key);
        prop_assert_eq!(
            local[s].try_acquire_n(key, n, t(now)),
            shared.try_acquire_n(key, n, t(now))
        );
        prop_assert_eq!(
            local[s].available(&key, t(now)),
            shared.available(&key, t(now))
        );
        prop_assert_eq!(
            local[s].time_until(&key, 1, t(now)),
            shared.time_until(&key, 1, t(now))
        );
        prop_assert_eq!(local[s].contains(&key), shared.contains(&key));
        prop_assert_eq!(
            local.iter().map(KeyedLimiter::len).sum::<usize>(),
            shared.len()
        );
        let m = shared.metrics();
        prop_assert_eq!(
            local.iter().map(|l| l.metrics().placed).sum::<u32>(),
            m.placed
        );
        prop_assert_eq!(
            local.iter().map(|l| l.metrics().evicted_busy).sum::<u32>(),
            m.evicted_busy
        );
        prop_assert_eq!(
            local.iter().map(|l| l.metrics().refused_full).sum::<u32>(),
            m.refused_full
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases())]

    /// One shard: every decision, `available` and `time_until` is the
    /// `&mut` limiter's, table-full refusals and evictions included.
    #[test]
    fn shared_keyed_one_shard_decides_as_the_mut_limiter(
        q in quotas(), policy in policy(), k0 in any::<u64>(), k1 in any::<u64>(),
        ops in prop::collection::vec((0u16..24, 0u64..8, 0u32..4, prop::bool::weighted(0.1)), 1..300),
    ) {
        keyed_lockstep::<1>(q, policy, Seed::new(k0, k1), ops)?;
    }

    /// Four shards: the key's shard's `&mut` limiter decides.
    #[test]
    fn shared_keyed_four_shards_decide_as_four_mut_limiters(
        q in quotas(), policy in policy(), k0 in any::<u64>(), k1 in any::<u64>(),
        ops in prop::collection::vec((0u16..40, 0u64..8, 0u32..4, prop::bool::weighted(0.1)), 1..300),
    ) {
        keyed_lockstep::<4>(q, policy, Seed::new(k0, k1), ops)?;
    }
}

/// Threads hammer one shared limiter (a few hot keys, a shared clock that
/// they move forward, so timestamps reach the lock slightly out of order);
/// every key's admissions obey the law `b + floor(W r / P)` over every
/// window, and no key is refused for a full table.
#[test]
fn stress_keyed_law_per_key() {
    const THREADS: usize = 4;
    const OPS: usize = if cfg!(miri) { 100 } else { 5_000 };
    const KEYS: u16 = 8;
    let q = Quota::per_period(3, d(10))
        .allow_burst(4)
        .build()
        .expect("valid");
    let limiter =
        SharedKeyedLimiter::<Raw, u16, 4, 16>::new(q, Seed::new(5, 6), WhenFull::RejectNew);
    let clock = AtomicU64::new(0);
    // Per key, each admission's bracket: the clock the caller read, and the
    // clock after its call. The limiter judges a request at the later of
    // its `now` and the latest instant its shard has seen (issue #9), which
    // another thread read from the same clock before this call took the
    // shard's lock: so the judged instant lies in the bracket.
    let admitted: Mutex<HashMap<u16, Vec<(u64, u64)>>> = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (limiter, clock, admitted) = (&limiter, &clock, &admitted);
            s.spawn(move || {
                let mut mine: Vec<(u16, u64, u64)> = Vec::with_capacity(OPS);
                for i in 0..OPS {
                    let key = ((i + thread) % usize::from(KEYS)) as u16;
                    // The clock moves one tick every 4 requests.
                    let now = clock.fetch_add(1, Ordering::SeqCst) / 4;
                    match limiter.try_acquire(key, t(now)) {
                        Ok(()) => mine.push((key, now, clock.load(Ordering::SeqCst) / 4)),
                        Err(KeyedRejected::Limited(_)) => {}
                        Err(KeyedRejected::TableFull) => panic!("64 entries hold 8 keys"),
                    }
                }
                let mut all = admitted.lock().expect("not poisoned");
                for (key, lo, hi) in mine {
                    all.entry(key).or_default().push((lo, hi));
                }
            });
        }
    });
    let (r, p, b) = (
        u128::from(q.rate()),
        u128::from(q.period().as_ticks()),
        q.burst() as usize,
    );
    let all = admitted.into_inner().expect("not poisoned");
    assert_eq!(all.len(), usize::from(KEYS));
    let mut total = 0;
    for (key, mut times) in all {
        times.sort_unstable();
        total += times.len();
        for i in 0..times.len() {
            // Requests i..=j (by the clock they read) were all judged within
            // [lo_i, the latest hi among them]: the law bounds their count.
            let mut hi = times[i].1;
            for j in i..times.len() {
                hi = hi.max(times[j].1);
                let count = (j - i + 1) as u128;
                let w = u128::from(hi - times[i].0);
                assert!(
                    count <= b as u128 + w * r / p,
                    "key {key}: {count} admitted in [{}, {}]",
                    times[i].0,
                    hi
                );
            }
        }
    }
    // The clock ran to THREADS x OPS / 4 ticks: the limiter admitted about
    // the law's worth per key, not a handful.
    let horizon = (THREADS * OPS / 4) as u128;
    let law = usize::from(KEYS) as u128 * (b as u128 + horizon * r / p);
    assert!(total as u128 * 2 >= law, "{total} admitted, law {law}");
}

// ---------------------------------------------------------------------------
// Retry budget.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases())]

    /// Every deposit, withdrawal and balance is the `&mut` budget's.
    #[test]
    fn shared_budget_decides_as_the_mut_budget(
        percent in 0u16..=300, floor in 0u32..3, ttl in 3u64..200,
        ops in prop::collection::vec((0u8..3, 0u64..30, prop::bool::weighted(0.1)), 1..400),
    ) {
        let mut local = RetryBudget::builder().slices::<4>().percent_can_retry(percent).min_retries_per_sec(floor).ttl(d(ttl)).build().expect("valid");
        let shared = SharedRetryBudget::<Raw, 4>::new(local.clone());
        let mut now = 1_000u64;
        for (kind, dt, back) in ops {
            now = if back { now.saturating_sub(dt) } else { now + dt };
            match kind {
                0 => {
                    local.deposit(t(now));
                    shared.deposit(t(now));
                }
                1 => prop_assert_eq!(local.try_withdraw(t(now)), shared.try_withdraw(t(now))),
                _ => {}
            }
            prop_assert_eq!(local.available(t(now)), shared.available(t(now)));
            prop_assert_eq!(&local, &shared.snapshot());
        }
    }
}

/// Threads deposit and withdraw at once on one shared budget (within one
/// TTL): the retries allowed never exceed the share of the deposits plus
/// the floor's reserve; and the budget is spent to the last retry.
#[test]
fn stress_budget_never_over_spent() {
    const THREADS: usize = 4;
    const OPS: u32 = if cfg!(miri) { 200 } else { 20_000 };
    // 20 %, no floor, a TTL longer than the run (the clock stays at 1 s).
    let budget = SharedRetryBudget::<Raw>::new(
        RetryBudget::builder()
            .percent_can_retry(20)
            .min_retries_per_sec(0)
            .ttl(Duration::from_secs(3_600))
            .build()
            .expect("valid"),
    );
    let now = Instant::from_secs(1);
    let deposits = AtomicU64::new(0);
    let withdrawals = AtomicU64::new(0);
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (budget, deposits, withdrawals) = (&budget, &deposits, &withdrawals);
            s.spawn(move || {
                for i in 0..OPS {
                    if (i + thread as u32).is_multiple_of(3) {
                        budget.deposit(now);
                        deposits.fetch_add(1, Ordering::SeqCst);
                    } else if budget.try_withdraw(now) {
                        withdrawals.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let (dep, wd) = (deposits.into_inner(), withdrawals.into_inner());
    assert!(
        100 * wd <= 20 * dep,
        "{wd} retries for {dep} successes at 20 %"
    );
    // Whatever is left is less than... what was not withdrawn.
    assert_eq!(budget.available(now), (20 * dep / 100) - wd);
    assert!(wd > 0);
}

// ---------------------------------------------------------------------------
// Adaptive limit.
// ---------------------------------------------------------------------------

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Dropped),
        Just(Outcome::Ignored)
    ]
}

proptest! {
    #![proptest_config(cases())]

    /// Every change (and every non-change) is the `&mut` limit's.
    #[test]
    fn shared_adaptive_limit_decides_as_the_mut_limit(
        min in 1u32..5, span in 0u32..40, step in 1u16..4, pct in 1u8..100,
        target in 1u64..50, cooldown in 0u64..30,
        ops in prop::collection::vec(
            (outcome(), 0u64..100, prop::option::of(0u32..60), 0u64..20, prop::bool::weighted(0.1)),
            1..300,
        ),
    ) {
        let config = AimdConfig::new()
            .limits(min, min + span)
            .initial(min + span / 2)
            .increase(step)
            .backoff_percent(pct)
            .latency_target(d(target))
            .decrease_cooldown(d(cooldown));
        let mut local = AdaptiveLimit::new(config).expect("valid");
        let shared = SharedAdaptiveLimit::new(config).expect("valid");
        let mut now = 500u64;
        // The shared word records no instant but the last decrease, which
        // is its "latest seen" (issue #9); the `&mut` limit remembers every
        // `now`. They judge the same while time moves forward; after a step
        // back, the twin restarts from the shared state before each call,
        // so each call is still checked against the `&mut` code.
        let mut stepped_back = false;
        for (outcome, latency, in_flight, dt, back) in ops {
            now = if back { now.saturating_sub(dt) } else { now + dt };
            stepped_back |= back;
            if stepped_back {
                local = shared.snapshot();
            }
            let (a, b) = match in_flight {
                Some(n) => (
                    local.record_in_flight(outcome, d(latency), n, t(now)),
                    shared.record_in_flight(outcome, d(latency), n, t(now)),
                ),
                None => (
                    local.record(outcome, d(latency), t(now)),
                    shared.record(outcome, d(latency), t(now)),
                ),
            };
            prop_assert_eq!(a, b);
            prop_assert_eq!(local.limit(), shared.limit());
        }
    }
}

/// Threads record outcomes at once: the limit stays in `min..=max`, and the
/// changes they were returned chain up, with none lost: in the order of
/// their compare-and-swaps, each one starts where the previous ended, from
/// the initial limit to the final one.
#[test]
fn stress_adaptive_limit_changes_chain_up() {
    const THREADS: usize = 4;
    const OPS: u32 = if cfg!(miri) { 100 } else { 10_000 };
    let config = AimdConfig::new()
        .limits(2, 64)
        .initial(20)
        .backoff_percent(75)
        .latency_target(d(10));
    let limit = SharedAdaptiveLimit::new(config).expect("valid");
    let changes: Mutex<Vec<LimitChange>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (limit, changes) = (&limit, &changes);
            s.spawn(move || {
                let mut mine = Vec::new();
                for i in 0..OPS {
                    let outcome = if (i + thread as u32).is_multiple_of(5) {
                        Outcome::Dropped
                    } else {
                        Outcome::Success
                    };
                    if let Some(c) = limit.record(outcome, d(1), t(u64::from(i))) {
                        assert!((2..=64).contains(&c.to) && c.to != c.from);
                        mine.push(c);
                    }
                    let l = limit.limit();
                    assert!((2..=64).contains(&l));
                }
                changes.lock().expect("not poisoned").extend(mine);
            });
        }
    });
    let changes = changes.into_inner().expect("not poisoned");
    assert!(changes.len() > 100);
    // A chain from 20 to the final limit: every limit is left as often as
    // it is reached, except the two ends.
    let mut balance: HashMap<u32, i64> = HashMap::new();
    for c in &changes {
        *balance.entry(c.from).or_default() += 1;
        *balance.entry(c.to).or_default() -= 1;
    }
    let last = limit.limit();
    *balance.entry(20).or_default() -= 1;
    *balance.entry(last).or_default() += 1;
    assert!(
        balance.values().all(|&v| v == 0),
        "changes lost or duplicated: {balance:?}"
    );
}

// ---------------------------------------------------------------------------
// Sizes.
// ---------------------------------------------------------------------------
