//! `fusebox::dedup` against a reference model, the probe bound under
//! adversarial keys, and the documented sizes.

use std::cell::Cell;
use std::hash::{Hash, Hasher};

use fusebox::dedup::{Begin, Config, DedupTable, Eviction, PROBE_WINDOW, Stale, Ticket};
use fusebox::hash::Seed;
use fusebox::time::{Duration, Instant};
use fusebox_models::dedup::{Entry, Model};
use proptest::prelude::*;

#[derive(Debug)]
enum Got {
    New(Ticket),
    InFlight,
    Done(u16),
    Full,
}

#[derive(Debug, Clone)]
enum Op {
    Begin { key: u32, dt: u64 },
    Complete { which: usize, value: u16, dt: u64 },
    Abandon { which: usize, dt: u64 },
    Back { dt: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..40, 0u64..4).prop_map(|(key, dt)| Op::Begin { key, dt }),
        3 => (any::<usize>(), any::<u16>(), 0u64..4)
            .prop_map(|(which, value, dt)| Op::Complete { which, value, dt }),
        1 => (any::<usize>(), 0u64..4).prop_map(|(which, dt)| Op::Abandon { which, dt }),
        1 => (0u64..30).prop_map(|dt| Op::Back { dt }),
    ]
}

const N: usize = 16;

fn run(
    ops: Vec<Op>,
    in_flight_ttl: u64,
    done_ttl: u64,
    eviction: Eviction,
    seed: (u64, u64),
) -> Result<(), TestCaseError> {
    let config = Config::new()
        .in_flight_ttl(Duration::from_ticks(in_flight_ttl))
        .done_ttl(Duration::from_ticks(done_ttl))
        .eviction(eviction);
    let mut table: DedupTable<u32, u16, N> =
        DedupTable::new(config, Seed::new(seed.0, seed.1)).expect("valid");
    let mut model: Model<u32, u16> = Model::new(in_flight_ttl, done_ttl, eviction);
    // Outstanding tickets: (real ticket, model ticket id, key).
    let mut tickets: Vec<(Ticket, u64, u32)> = Vec::new();
    let mut now = 0u64;
    for op in ops {
        match op {
            Op::Back { dt } => now = now.saturating_sub(dt),
            Op::Begin { key, dt } => {
                now += dt;
                model.observe(now);
                let mut live = model.live(key);
                let before = table.clone();
                // Owned, so the table can be asked more while checking.
                let answer = match table.begin(key, Instant::from_ticks(now)) {
                    Begin::New(ticket) => Got::New(ticket),
                    Begin::InFlight => Got::InFlight,
                    Begin::Done(v) => Got::Done(*v),
                    Begin::Full => Got::Full,
                };
                if eviction == Eviction::EvictDone
                    && matches!(live, Some(Entry::Done { .. }))
                    && matches!(answer, Got::New(_) | Got::Full)
                {
                    // Only a done entry may be forgotten early, only under
                    // EvictDone, and each one forgotten costs an eviction.
                    model.forget(key);
                    prop_assert!(model.forgotten <= table.metrics().evicted);
                    live = None;
                }
                match (live, answer) {
                    (Some(Entry::InFlight { .. }), Got::InFlight) => {}
                    (Some(Entry::Done { value, .. }), Got::Done(v)) => prop_assert_eq!(v, value),
                    (None, Got::New(ticket)) => {
                        let id = model.begin_new(key);
                        tickets.push((ticket, id, key));
                    }
                    (None, Got::Full) => {
                        // Full needs a window's worth of entries that may
                        // not be evicted, placed where they can share a slot
                        // with this key's window.
                        let mine = table.window(&key);
                        let blocking = model
                            .entries
                            .iter()
                            .filter(|(k, e)| {
                                model.latest < e.expires()
                                    && (matches!(e, Entry::InFlight { .. })
                                        || model.eviction == Eviction::KeepDone)
                                    && table.window(k).iter().any(|i| mine.contains(i))
                            })
                            .count();
                        let mut slots = mine.to_vec();
                        slots.sort_unstable();
                        slots.dedup();
                        prop_assert!(
                            blocking >= slots.len(),
                            "Full for key {} with only {} blocking entries",
                            key,
                            blocking
                        );
                    }
                    (live, answer) => {
                        return Err(TestCaseError::fail(format!(
                            "key {key} at {now}: model {live:?}, table {answer:?}; window {:?}\n{before:?}",
                            before.window(&key)
                        )));
                    }
                }
            }
            Op::Complete { which, value, dt } => {
                now += dt;
                if tickets.is_empty() {
                    continue;
                }
                let (ticket, id, key) = tickets.swap_remove(which % tickets.len());
                model.observe(now);
                let result = table.complete(ticket, value, Instant::from_ticks(now));
                if model.complete(key, id, value) {
                    prop_assert_eq!(result, Ok(()));
                } else {
                    prop_assert_eq!(result, Err(Stale { value }));
                }
            }
            Op::Abandon { which, dt } => {
                now += dt;
                if tickets.is_empty() {
                    continue;
                }
                let (ticket, id, key) = tickets.swap_remove(which % tickets.len());
                model.observe(now);
                let current = model.is_current(key, id);
                let freed = table.abandon(ticket, Instant::from_ticks(now));
                // True exactly when the ticket's entry was live at the
                // latest instant: never for an expired entry, whether or not
                // another key has reused its slot.
                prop_assert_eq!(freed, current);
                model.abandon(key, id);
            }
        }
        // What the table holds agrees with the model.
        let at = Instant::from_ticks(model.latest);
        let live_model = model.live_count();
        let in_flight_model = model.in_flight_count();
        let occupied = table.occupied(at);
        match eviction {
            Eviction::KeepDone => prop_assert_eq!(occupied, live_model),
            Eviction::EvictDone => {
                prop_assert!(in_flight_model <= occupied && occupied <= live_model)
            }
        }
    }
    Ok(())
}

fn cases() -> ProptestConfig {
    fusebox_tests::proptest_config(512)
}

proptest! {
    #![proptest_config(cases())]

    /// Within a key's lifetime `begin` answers New at most once (the first);
    /// every answer, completion and abandon agrees with the model.
    #[test]
    fn table_agrees_with_the_reference_model(
        ops in prop::collection::vec(op(), 1..300),
        in_flight_ttl in 1u64..20,
        done_ttl in 1u64..60,
        evict in any::<bool>(),
        seed in any::<(u64, u64)>(),
    ) {
        let eviction = if evict { Eviction::EvictDone } else { Eviction::KeepDone };
        run(ops, in_flight_ttl, done_ttl, eviction, seed)?;
    }

    /// A timeline that never fills a probe window (at most 4 keys, so at
    /// most 4 entries, in windows of 8 slots) gets the same answers, abandon
    /// and complete included, under every hash seed.
    #[test]
    fn answers_do_not_depend_on_the_seed(
        ops in prop::collection::vec(op(), 1..200),
        in_flight_ttl in 1u64..20,
        done_ttl in 1u64..60,
        evict in any::<bool>(),
        seeds in prop::collection::vec(any::<(u64, u64)>(), 4),
    ) {
        let eviction = if evict { Eviction::EvictDone } else { Eviction::KeepDone };
        let first = answers(&ops, in_flight_ttl, done_ttl, eviction, seeds[0]);
        for &seed in &seeds[1..] {
            prop_assert_eq!(&answers(&ops, in_flight_ttl, done_ttl, eviction, seed), &first);
        }
    }
}

/// Every answer the table gives along `ops` (keys folded into `0..4`), as
/// text, ticket slots left out.
fn answers(
    ops: &[Op],
    in_flight_ttl: u64,
    done_ttl: u64,
    eviction: Eviction,
    seed: (u64, u64),
) -> Vec<String> {
    let config = Config::new()
        .in_flight_ttl(Duration::from_ticks(in_flight_ttl))
        .done_ttl(Duration::from_ticks(done_ttl))
        .eviction(eviction);
    let mut table: DedupTable<u32, u16, N> =
        DedupTable::new(config, Seed::new(seed.0, seed.1)).expect("valid");
    let mut tickets: Vec<Ticket> = Vec::new();
    let mut out = Vec::new();
    let mut now = 0u64;
    for op in ops {
        let at = |now: u64| Instant::from_ticks(now);
        match *op {
            Op::Back { dt } => now = now.saturating_sub(dt),
            Op::Begin { key, dt } => {
                now += dt;
                out.push(match table.begin(key % 4, at(now)) {
                    Begin::New(ticket) => {
                        tickets.push(ticket);
                        "New".to_string()
                    }
                    other => format!("{other:?}"),
                });
            }
            Op::Complete { which, value, dt } => {
                now += dt;
                if !tickets.is_empty() {
                    let ticket = tickets.swap_remove(which % tickets.len());
                    out.push(format!("{:?}", table.complete(ticket, value, at(now))));
                }
            }
            Op::Abandon { which, dt } => {
                now += dt;
                if !tickets.is_empty() {
                    let ticket = tickets.swap_remove(which % tickets.len());
                    out.push(format!("abandon {}", table.abandon(ticket, at(now))));
                }
            }
        }
        out.push(format!("{}", table.occupied(at(now))));
    }
    let mut metrics = table.metrics();
    assert_eq!(metrics.full, 0, "the timeline filled a window");
    metrics.full = 0;
    out.push(format!("{metrics:?}"));
    out
}

// ---------------------------------------------------------------------------
// Adversarial keys and the probe bound.

const SEED: Seed = Seed::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);

fn config(eviction: Eviction) -> Config {
    Config::new()
        .in_flight_ttl(Duration::from_ticks(1_000))
        .done_ttl(Duration::from_ticks(1_000_000))
        .eviction(eviction)
}

/// `count` u64 keys whose whole window in a `DedupTable<_, _, 1024>`
/// seeded with `seed` lies in the 8 slots from `lo`: what an attacker who
/// knew the seed would send.
fn colliding(seed: Seed, lo: usize, count: usize) -> Vec<u64> {
    let table: DedupTable<u64, (), 1024> =
        DedupTable::new(config(Eviction::KeepDone), seed).unwrap();
    let attacked = lo..lo + PROBE_WINDOW;
    (0u64..)
        .filter(|k| table.window(k).iter().all(|i| attacked.contains(i)))
        .take(count)
        .collect()
}

thread_local! {
    static EQ_CALLS: Cell<usize> = const { Cell::new(0) };
    static HASH_CALLS: Cell<usize> = const { Cell::new(0) };
}

/// A u64 key that counts how often the table compares and hashes it.
#[derive(Debug, Clone, Copy)]
struct Counted(u64);

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        EQ_CALLS.with(|c| c.set(c.get() + 1));
        self.0 == other.0
    }
}
impl Eq for Counted {}
impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        HASH_CALLS.with(|c| c.set(c.get() + 1));
        self.0.hash(state);
    }
}

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    EQ_CALLS.with(|c| c.set(0));
    HASH_CALLS.with(|c| c.set(0));
    let r = f();
    (r, EQ_CALLS.with(Cell::get), HASH_CALLS.with(Cell::get))
}

#[test]
fn colliding_keys_fill_one_window_then_get_full_and_in_flight_stays() {
    let keys = colliding(SEED, 0, 64);
    for eviction in [Eviction::EvictDone, Eviction::KeepDone] {
        let mut table: DedupTable<u64, (), 1024> = DedupTable::new(config(eviction), SEED).unwrap();
        let t = Instant::from_ticks(0);
        // Every key's window lies in slots 0..8, so at most 8 of them fit
        // (at least 4: each window has 4 slots of its own); the rest are
        // refused, each after looking at its 8 slots only.
        let mut started = Vec::new();
        for &k in &keys {
            match table.begin(k, t) {
                Begin::New(ticket) => started.push((k, ticket)),
                Begin::Full => {}
                other => panic!("{k}: {other:?}"),
            }
        }
        assert!(
            (PROBE_WINDOW / 2..=PROBE_WINDOW).contains(&started.len()),
            "{} started",
            started.len()
        );
        assert_eq!(table.metrics().full as usize, 64 - started.len());
        // The in-flight entries were not evicted.
        for (k, _) in &started {
            assert_eq!(table.begin(*k, t), Begin::InFlight);
        }
        // Keys whose windows lie away from the attacked slots are unaffected.
        let outside: Vec<u64> = (0u64..)
            .filter(|k| {
                table
                    .window(k)
                    .iter()
                    .all(|i| (2 * PROBE_WINDOW..1024 - PROBE_WINDOW).contains(i))
            })
            .take(100)
            .collect();
        for k in outside {
            assert!(matches!(table.begin(k, t), Begin::New(_)));
        }
    }
}

#[test]
fn every_operation_looks_at_no_more_than_the_window() {
    let keys: Vec<Counted> = colliding(SEED, 5, 100).into_iter().map(Counted).collect();
    let mut table: DedupTable<Counted, u32, 1024> =
        DedupTable::new(config(Eviction::EvictDone), SEED).unwrap();
    let mut now = 0u64;
    let mut max_eq = 0;
    for round in 0..3 {
        for &k in &keys {
            now += 1;
            let t = Instant::from_ticks(now);
            let (ticket, eq, hashes) = counted(|| match table.begin(k, t) {
                Begin::New(ticket) => Some(ticket),
                _ => None,
            });
            assert_eq!(hashes, 1, "one hash per begin");
            assert!(eq <= PROBE_WINDOW, "begin compared {eq} keys");
            max_eq = max_eq.max(eq);
            // Every colliding key evicts the oldest done one: New each time.
            let ticket = ticket.unwrap_or_else(|| panic!("round {round}: no ticket"));
            let (result, eq, hashes) = counted(|| table.complete(ticket, 1, t));
            assert!(result.is_ok());
            assert_eq!((eq, hashes), (0, 0), "complete goes straight to the slot");
        }
    }
    // The window was full and scanned whole on every miss.
    assert_eq!(max_eq, PROBE_WINDOW);
    assert_eq!(table.metrics().evicted, 3 * 100 - PROBE_WINDOW as u32);

    // Abandon does not hash or compare either.
    let k = Counted(u64::MAX);
    let Begin::New(ticket) = table.begin(k, Instant::from_ticks(now)) else {
        panic!("vacant")
    };
    let (freed, eq, hashes) = counted(|| table.abandon(ticket, Instant::from_ticks(now)));
    assert!(freed);
    assert_eq!((eq, hashes), (0, 0));
}

#[test]
fn keys_chosen_against_one_seed_spread_under_another() {
    // 64 keys that all collide under SEED...
    let keys = colliding(SEED, 0, 64);
    // ...land in 64 different places under a seed the attacker never saw.
    let other = Seed::new(0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d);
    let mut table: DedupTable<u64, (), 1024> =
        DedupTable::new(config(Eviction::KeepDone), other).unwrap();
    let t = Instant::from_ticks(0);
    for &k in &keys {
        assert!(matches!(table.begin(k, t), Begin::New(_)));
    }
    let mut homes: Vec<usize> = keys.iter().map(|k| table.window(k)[0]).collect();
    homes.sort_unstable();
    homes.dedup();
    assert!(homes.len() > 56, "only {} distinct homes", homes.len());
}

#[test]
fn structured_integer_keys_fill_a_quarter_of_the_table_without_full() {
    // Sequential ids, multiples of the capacity, and high-bit patterns: the
    // usual shapes of message ids and of keys picked to collide under a
    // plain `id % N` table.
    let shapes: [fn(u64) -> u64; 3] = [|i| i, |i| i * 1024, |i| i << 40 | 0xffff];
    for shape in shapes {
        let mut table: DedupTable<u64, (), 1024> =
            DedupTable::new(config(Eviction::KeepDone), SEED).unwrap();
        let t = Instant::from_ticks(0);
        for i in 0..256 {
            assert!(matches!(table.begin(shape(i), t), Begin::New(_)), "{i}");
        }
        assert_eq!(table.occupied(t), 256);
    }
}

#[test]
fn memory_does_not_grow_with_use() {
    // The documented sizes are in the host size table (tests/tests/sizes.rs).
    // Memory does not depend on use: N slots, no growth.
    let mut table: DedupTable<u64, (), 64> =
        DedupTable::new(config(Eviction::EvictDone), SEED).unwrap();
    let before = core::mem::size_of_val(&table);
    for k in 0..10_000u64 {
        if let Begin::New(ticket) = table.begin(k, Instant::from_ticks(k)) {
            let _ = table.complete(ticket, (), Instant::from_ticks(k));
        }
    }
    assert_eq!(core::mem::size_of_val(&table), before);
    assert_eq!(table.capacity(), 64);
}
