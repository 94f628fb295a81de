//! Property tests of `fusebox::rate` against an exact rational reference
//! model, the admission law over random timelines, the no-drift count over
//! a simulated year, the shared variant (replay and contention) and the
//! keyed limiter's bounded probing under adversarial keys.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fusebox::hash::Seed;
use fusebox::rate::{
    KeyedLimiter, KeyedRejected, PROBE_WINDOW, Quota, SharedTokenBucket, TokenBucket, WhenFull,
};
use fusebox::time::{Duration, Instant};
use fusebox_models::rate::Bucket as Reference;
use fusebox_scenarios::rate::year_of_asking;
use proptest::prelude::*;

fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}

/// A log-uniform integer in `1..=max`.
fn log_uniform(max: u64) -> impl Strategy<Value = u64> {
    (0u32..=63, any::<u64>()).prop_map(move |(bits, x)| {
        let cap = if bits >= 63 {
            max
        } else {
            max.min((1u64 << (bits + 1)) - 1)
        };
        1 + x % cap
    })
}

/// Quotas from 1 per day at 1 kHz to beyond 10^9 per second at 1 GHz,
/// with rates above and below one per tick.
fn quotas() -> impl Strategy<Value = Quota> {
    (
        prop_oneof![log_uniform(1_000_000_000), log_uniform(u64::from(u32::MAX))],
        log_uniform(86_400 * 1_000_000_000),
        prop_oneof![1u32..=4, log_uniform(1_000).prop_map(|b| b as u32)],
    )
        .prop_map(|(r, p, b)| {
            Quota::per_period(r as u32, Duration::from_ticks(p))
                .allow_burst(b)
                .build()
                .expect("valid")
        })
}

/// Steps of a timeline: (ticks to move, tokens asked). Moves are scaled to
/// the quota's emission interval so that both refusals and refills occur.
fn steps(max: usize) -> impl Strategy<Value = Vec<(u64, u32, u8)>> {
    proptest::collection::vec((any::<u64>(), 0u32..=6, any::<u8>()), 1..max)
}

/// Turn a raw step into (dt, n) for quota `q`: dt spans 0, a few emission
/// intervals, and whole refills.
fn shape(q: Quota, (x, n, kind): (u64, u32, u8)) -> (u64, u32) {
    let interval = (q.period().as_ticks() / u64::from(q.rate())).max(1);
    let dt = match kind % 4 {
        0 => 0,
        1 => x % 4,
        2 => x % interval.saturating_mul(3).saturating_add(1),
        _ => {
            x % interval
                .saturating_mul(u64::from(q.burst()) + 2)
                .saturating_add(1)
        }
    };
    let n = match n {
        6 => q.burst().saturating_add(1), // over the burst
        5 => q.burst(),
        n => n.min(q.burst()),
    };
    (dt, n)
}

/// Check the law on admitted (tick, tokens): in every closed window
/// `[s, s + W]`, at most `b + floor(W r / P)` tokens.
fn check_law(q: Quota, admitted: &mut [(u64, u32)]) -> Result<(), TestCaseError> {
    admitted.sort_unstable();
    let (r, p, b) = (
        u128::from(q.rate()),
        u128::from(q.period().as_ticks()),
        u128::from(q.burst()),
    );
    for i in 0..admitted.len() {
        let mut sum: u128 = 0;
        for j in i..admitted.len() {
            sum += u128::from(admitted[j].1);
            let w = u128::from(admitted[j].0 - admitted[i].0);
            let bound = b + w * r / p;
            prop_assert!(
                sum <= bound,
                "{} tokens in [{}, {}], bound {}",
                sum,
                admitted[i].0,
                admitted[j].0,
                bound
            );
        }
    }
    Ok(())
}

/// Feed one timeline from `start` (steps shaped by [`shape`], a step back
/// by `back[i]` ticks when it is a multiple of 8) to a `TokenBucket` and a
/// `SharedTokenBucket`: the same decisions, waits and levels at each step.
fn replay_shared(
    q: Quota,
    start: u64,
    raw: Vec<(u64, u32, u8)>,
    back: &[u16],
) -> Result<(), TestCaseError> {
    let mut bucket = TokenBucket::new(q);
    let shared = SharedTokenBucket::new(q);
    let mut now = start;
    for (step, back) in raw.into_iter().zip(back) {
        let (dt, n) = shape(q, step);
        now = now.saturating_add(dt);
        let at = if back % 8 == 0 {
            now.saturating_sub(u64::from(*back))
        } else {
            now
        };
        prop_assert_eq!(
            bucket.try_acquire_n(n, t(at)),
            shared.try_acquire_n(n, t(at))
        );
        prop_assert_eq!(bucket.time_until(n, t(at)), shared.time_until(n, t(at)));
        prop_assert_eq!(bucket.available(t(at)), shared.available(t(at)));
    }
    Ok(())
}

fn config() -> ProptestConfig {
    fusebox_tests::proptest_config(if cfg!(miri) { 4 } else { 512 })
}

proptest! {
    #![proptest_config(config())]

    /// Every decision, `retry_after`, `time_until` and `available` equal
    /// the exact rational model's, on timelines that step back now and then.
    #[test]
    fn bucket_matches_the_rational_reference(q in quotas(), start in any::<u64>(), raw in steps(200), back in proptest::collection::vec(any::<u16>(), 200)) {
        let mut bucket = TokenBucket::new(q);
        let mut model = Reference::new(q);
        let mut latest = start % (u64::MAX / 2);
        for (i, step) in raw.into_iter().enumerate() {
            let (dt, n) = shape(q, step);
            latest = latest.saturating_add(dt);
            // One step in eight is asked in the past (back by up to a few
            // periods, or to 0).
            let now = match back[i] % 16 {
                0 => 0,
                1 => latest.saturating_sub(dt.saturating_add(u64::from(back[i]))),
                _ => latest,
            };
            let until = bucket.time_until(n, t(now));
            match model.time_until(n, now) {
                Some(d) => prop_assert_eq!(until, Ok(d)),
                None => prop_assert!(until.is_err()),
            }
            prop_assert_eq!(bucket.try_acquire_n(n, t(now)), model.try_acquire_n(n, now));
            prop_assert_eq!(bucket.available(t(now)), model.available(now));
        }
    }

    /// The law holds on any timeline, times going backwards included,
    /// over the instants the requests are judged at (the latest seen).
    #[test]
    fn law_holds_on_any_timeline(q in quotas(), raw in steps(250), back in proptest::collection::vec(any::<u16>(), 250)) {
        let mut bucket = TokenBucket::new(q);
        let mut now: u64 = 1 << 40;
        let mut latest = 0;
        let mut admitted = Vec::new();
        for (i, step) in raw.into_iter().enumerate() {
            let (dt, n) = shape(q, step);
            now = now.saturating_add(dt);
            // One step in eight is asked in the past.
            let at = if back[i] % 8 == 0 { now.saturating_sub(dt.saturating_add(u64::from(back[i]))) } else { now };
            if n == 0 {
                continue; // asks nothing, and the bucket is not told the time
            }
            latest = at.max(latest);
            if bucket.try_acquire_n(n, t(at)).is_ok() {
                admitted.push((latest, n));
            }
        }
        check_law(q, &mut admitted)?;
    }

    /// A caller that asks at every tick gets exactly `b + floor(W r / P)`
    /// by tick W (when the bucket holds one tick's refill).
    #[test]
    fn always_asking_is_exact_tick_by_tick(q in quotas(), ticks in 1u64..600) {
        let (r, p, b) = (u128::from(q.rate()), u128::from(q.period().as_ticks()), u128::from(q.burst()));
        prop_assume!(r <= (b - 1) * p + 1);
        let mut bucket = TokenBucket::new(q);
        let mut got: u128 = 0;
        for now in 0..=ticks {
            let k = bucket.available(t(now));
            prop_assert!(bucket.try_acquire_n(k, t(now)).is_ok());
            prop_assert!(bucket.try_acquire(t(now)).is_err());
            got += u128::from(k);
            prop_assert_eq!(got, b + u128::from(now) * r / p);
        }
    }

    /// The shared variant, fed the same timeline (times going backwards
    /// included), makes the same decisions.
    #[test]
    fn shared_replays_the_same_decisions(q in quotas(), raw in steps(200), back in proptest::collection::vec(any::<u16>(), 200)) {
        replay_shared(q, 1 << 40, raw, &back)?;
    }

    /// The same across the move of the shared bucket's state from its
    /// 8-byte word to its 16-byte one: timelines that start a little
    /// before the first instant the 8-byte word cannot hold (all ones in
    /// the bits the capacity leaves) and run past it.
    #[test]
    fn shared_replays_the_same_decisions_across_the_move(q in quotas(), before in any::<u64>(), raw in steps(200), back in proptest::collection::vec(any::<u16>(), 200)) {
        let interval = (q.period().as_ticks() / u64::from(q.rate())).max(1);
        let span = interval.saturating_mul(u64::from(q.burst()) + 2).saturating_mul(50);
        let limit = small_limit(q);
        // The bucket's own read-out agrees (None: no 8-byte form).
        prop_assert_eq!(
            SharedTokenBucket::new(q).compact_until().map(|i| i.as_ticks()),
            (limit > 0).then_some(limit)
        );
        replay_shared(q, limit.saturating_sub(before % span.saturating_add(1)), raw, &back)?;
    }

    /// Under `RejectNew` every tracked key's decisions are those of its own
    /// `TokenBucket` (forgetting idle keys loses nothing).
    #[test]
    fn keyed_reject_new_keeps_each_keys_law(
        q in quotas(),
        ops in proptest::collection::vec((0u16..40, any::<u64>(), 0u32..=3, any::<u8>()), 1..300),
        k0 in any::<u64>(), k1 in any::<u64>(),
    ) {
        let mut keyed = KeyedLimiter::<u16, 32>::new(q, Seed::new(k0, k1), WhenFull::RejectNew);
        let mut model: HashMap<u16, TokenBucket> = HashMap::new();
        let mut now = 0u64;
        for (key, x, n, kind) in ops {
            let (dt, n) = shape(q, (x, n, kind));
            now = now.saturating_add(dt);
            let mine = model.entry(key).or_insert_with(|| TokenBucket::new(q));
            match keyed.try_acquire_n(key, n, t(now)) {
                Err(KeyedRejected::TableFull) => {
                    prop_assert!(!keyed.contains(&key));
                }
                got => {
                    let want = mine.try_acquire_n(n, t(now)).map_err(KeyedRejected::Limited);
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(if cfg!(miri) { 2 } else { 48 }))]

    /// The same, over a simulated year at a 1 kHz, 1 MHz or 1 GHz tick, for
    /// random quotas (bursts large enough to keep the run short).
    #[test]
    fn always_asking_for_a_year_is_exact(
        r in log_uniform(u64::from(u32::MAX)),
        p in log_uniform(86_400 * 1_000_000_000),
        hz in prop_oneof![Just(1_000u64), Just(1_000_000), Just(1_000_000_000)],
        seed in any::<u64>(),
    ) {
        let year = 365 * 86_400 * hz;
        // About year x r / P tokens, in visits of up to a burst each.
        let tokens = u128::from(year) * u128::from(r) / u128::from(p);
        let burst = (tokens / 4_000).clamp(2, u128::from(u32::MAX)) as u32;
        let q = Quota::per_period(r as u32, Duration::from_ticks(p)).allow_burst(burst).build().expect("valid");
        let (rr, pp) = (u128::from(q.rate()), u128::from(q.period().as_ticks()));
        prop_assume!(rr <= u128::from(burst - 1) * pp + 1);
        prop_assume!(tokens / u128::from(burst) <= 20_000);
        let law = u128::from(burst) + u128::from(year) * rr / pp;
        prop_assert_eq!(year_of_asking(q, year, seed | 1), Ok(law));
    }
}

/// 10^9 per second at a 1 GHz tick, asked at every tick for a year: exactly
/// `b + floor(W r / P)`, with no drift.
#[test]
fn a_year_at_one_ghz_and_a_billion_per_second() {
    let q = Quota::per_period(1_000_000_000, Duration::from_ticks(1_000_000_000))
        .allow_burst(u32::MAX)
        .build()
        .expect("valid");
    let year = 365 * 86_400 * 1_000_000_000u64;
    assert_eq!(
        year_of_asking(q, year, 0x9e37_79b9_7f4a_7c15),
        Ok(u128::from(u32::MAX) + u128::from(year))
    );
    // 1 per day at 1 kHz, burst 1.
    let q = Quota::per_period(1, Duration::from_ticks(86_400_000))
        .build()
        .expect("valid");
    assert_eq!(year_of_asking(q, 365 * 86_400_000, 7), Ok(1 + 365));
}

/// Threads hammer one shared bucket, reading a shared clock that they
/// move forward; the admitted requests obey the law, and the CAS loop
/// loses no tokens (the total is within a request of the law's bound).
fn hammer(q: Quota, start: u64) -> u64 {
    let bucket = Arc::new(SharedTokenBucket::new(q));
    let clock = Arc::new(AtomicU64::new(start));
    let threads: Vec<_> = (0..4u64)
        .map(|id| {
            let (bucket, clock) = (bucket.clone(), clock.clone());
            std::thread::spawn(move || {
                let mut admitted = Vec::new();
                let mut x = 0x2545_f491_4f6c_dd1d ^ id;
                for _ in 0..20_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x % 16 == 0 {
                        clock.fetch_add(1, Ordering::Relaxed);
                    }
                    let now = clock.load(Ordering::Relaxed);
                    let n = 1 + (x >> 32) as u32 % 2;
                    if bucket.try_acquire_n(n, t(now)).is_ok() {
                        // Judged at an instant in [now, clock after].
                        let after = clock.load(Ordering::Relaxed);
                        admitted.push((now, after, n));
                    }
                }
                admitted
            })
        })
        .collect();
    let mut admitted: Vec<(u64, u64, u32)> = threads
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let w = u128::from(clock.load(Ordering::Relaxed) - start);
    let (r, p, b) = (
        u128::from(q.rate()),
        u128::from(q.period().as_ticks()),
        u128::from(q.burst()),
    );
    let total: u128 = admitted.iter().map(|&(_, _, n)| u128::from(n)).sum();
    let bound = b + w * r / p;
    assert!(total <= bound, "{total} tokens in {w} ticks, bound {bound}");
    assert!(total + 2 >= bound, "{total} tokens in {w} ticks: lost some");
    // Each request was judged at the latest instant seen, somewhere between
    // the clock it read and the clock after its CAS: the requests read in
    // `[s, e]` were all judged in `[s, latest clock after any of them]`, a
    // window the law bounds.
    admitted.sort_unstable();
    for i in 0..admitted.len() {
        let (mut sum, mut reach) = (0u128, 0u64);
        for j in i..admitted.len() {
            sum += u128::from(admitted[j].2);
            reach = reach.max(admitted[j].1);
            let w = u128::from(reach - admitted[i].0);
            assert!(
                sum <= b + w * r / p,
                "{sum} tokens judged in [{}, {reach}]",
                admitted[i].0
            );
        }
    }
    clock.load(Ordering::Relaxed)
}

#[test]
fn shared_law_holds_under_contention() {
    let q = Quota::per_period(3, Duration::from_ticks(10))
        .allow_burst(5)
        .build()
        .expect("valid");
    hammer(q, 0);
}

/// The first latest instant a `SharedTokenBucket` of `q` cannot keep in
/// its 8-byte word (see its docs): all ones in the bits above the
/// capacity's, `burst x period` units.
fn small_limit(q: Quota) -> u64 {
    let capacity = u128::from(q.burst()) * u128::from(q.period().as_ticks());
    let bits = 128 - capacity.leading_zeros();
    if bits >= 64 {
        0
    } else {
        (1u64 << (64 - bits)) - 1
    }
}

/// The ranges of the 8-byte word that `SharedTokenBucket`'s and
/// `fusebox_std::RateLimiter`'s docs quote, at 1 MHz ticks.
#[test]
fn compact_ranges_are_the_documented_ones() {
    let second = 1_000_000u64;
    let range = |count: u32, per: u64, burst: u32| {
        let q = Quota::per_period(count, Duration::from_ticks(per))
            .allow_burst(burst)
            .build()
            .expect("valid");
        SharedTokenBucket::new(q)
            .compact_until()
            .expect("an 8-byte form")
            .as_ticks()
    };
    let days = |ticks: u64| ticks as f64 / second as f64 / 86_400.0;
    // 1 000/s and 10 000/s, a second's burst: about 203 days.
    assert_eq!(range(1_000, second, 1_000), (1 << 44) - 1);
    assert_eq!(range(10_000, second, 10_000), (1 << 44) - 1);
    assert_eq!(days(range(1_000, second, 1_000)).floor(), 203.0);
    // 10 000/s, burst 100: 35 years.
    assert_eq!((days(range(10_000, second, 100)) / 365.25).floor(), 35.0);
    // 7/s, burst 7: 25 days.
    assert_eq!(days(range(7, second, 7)).floor(), 25.0);
    // 1 234/s, burst 1 234: 4.8 hours.
    let hours = range(1_234, second, 1_234) as f64 / second as f64 / 3_600.0;
    assert_eq!((hours * 10.0).round(), 48.0);
    // The std benches' 10^9/s, burst 10^9 (capacity 10^9 units): 2^34
    // ticks, 4.8 hours.
    assert_eq!(range(1_000_000_000, second, 1_000_000_000), (1 << 34) - 1);
    // 7 per hour: 9 minutes.
    let minutes = range(7, 3_600 * second, 7) as f64 / second as f64 / 60.0;
    assert_eq!(minutes.round(), 9.0);
}

/// The same while the threads cross the first instant the bucket's 8-byte
/// word cannot hold, so one of them moves the state to the 16-byte word
/// under the others' compare-and-swaps.
#[test]
fn shared_law_holds_under_contention_across_the_move() {
    let q = Quota::per_period(3, Duration::from_ticks(10))
        .allow_burst(5)
        .build()
        .expect("valid");
    // Capacity 50 units: 6 bits, so the limit is 2^58 - 1.
    assert_eq!(small_limit(q), (1 << 58) - 1);
    // The threads move the clock about 5 000 ticks: past the limit.
    let end = hammer(q, (1 << 58) - 2_000);
    assert!(end > small_limit(q), "the clock stopped at {end}");
}

/// The same while `now x rate` passes 2^64 under the threads.
#[test]
fn shared_law_holds_under_contention_where_now_x_rate_passes_2_64() {
    // now x rate passes 2^64 at about tick 2^64 / 4 294 967 291.
    let q = Quota::per_period(4_294_967_291, Duration::from_ticks(10_000_000_000))
        .allow_burst(40)
        .build()
        .expect("valid");
    let edge = u64::MAX / 4_294_967_291;
    hammer(q, edge - 300);
}

/// The same for a quota whose capacity (`burst x period` units) passes
/// 2^64, which keeps the latest instant in a word of its own.
#[test]
fn shared_law_holds_under_contention_with_a_giant_capacity() {
    let q = Quota::per_period(4_294_967_291, Duration::from_ticks(1 << 62))
        .allow_burst(40)
        .build()
        .expect("valid");
    hammer(q, 1 << 41);
}

thread_local! {
    static COMPARISONS: Cell<usize> = const { Cell::new(0) };
}

/// A key that counts how often the table compares it.
#[derive(Clone, Copy, Debug)]
struct Counted(u64);
impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        COMPARISONS.with(|c| c.set(c.get() + 1));
        self.0 == other.0
    }
}
impl Eq for Counted {}
impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

fn comparisons<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COMPARISONS.with(|c| c.set(0));
    let r = f();
    (r, COMPARISONS.with(Cell::get))
}

/// An attacker who knows the seed picks 300 keys that all hash to one
/// slot: every operation still compares at most `PROBE_WINDOW` keys, and
/// only that window fills; keys elsewhere are unaffected.
#[test]
fn probe_length_is_bounded_under_adversarial_keys() {
    const N: usize = 256;
    let seed = Seed::new(0xdead_beef_0bad_f00d, 0x0123_4567_89ab_cdef);
    // The table's slot for a key (multiply-shift of the seeded hash).
    let home = |k: u64| ((u128::from(seed.hash_one(Counted(k))) * N as u128) >> 64) as usize;
    let evil: Vec<u64> = (0u64..).filter(|&k| home(k) == 7).take(300).collect();
    let q = Quota::per_period(1, Duration::from_ticks(1_000_000))
        .build()
        .expect("valid");

    for policy in [WhenFull::RejectNew, WhenFull::EvictLeastRecent] {
        let mut table = Box::new(KeyedLimiter::<Counted, N>::new(q, seed, policy));
        let mut worst = 0;
        for (i, &k) in evil.iter().enumerate() {
            let (r, c) = comparisons(|| table.try_acquire(Counted(k), t(i as u64)));
            worst = worst.max(c);
            match policy {
                WhenFull::RejectNew if i >= PROBE_WINDOW => {
                    assert_eq!(r, Err(KeyedRejected::TableFull))
                }
                _ => assert!(r.is_ok(), "key {i}: {r:?}"),
            }
            // Lookups are bounded too.
            let (_, c) = comparisons(|| table.contains(&Counted(k)));
            worst = worst.max(c);
        }
        assert!(
            worst <= PROBE_WINDOW,
            "{worst} comparisons in one operation"
        );
        assert_eq!(table.len(), PROBE_WINDOW);
        // The attack filled one window only: a key homed far from it gets in.
        let far = (0u64..)
            .find(|&k| (home(k) + N - 7) % N > 2 * PROBE_WINDOW)
            .expect("some key");
        assert!(table.try_acquire(Counted(far), t(1_000)).is_ok());
    }
}

/// 1024 keys, all busy, in 2048 entries: every key is tracked, for the
/// benchmark's seed and for random ones (the probe window is long enough
/// for a half-full table).
#[test]
fn keyed_half_full_table_tracks_every_key() {
    let q = Quota::per_period(10, Duration::from_ticks(1_000))
        .build()
        .expect("valid");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut seeds = vec![Seed::new(0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9)];
    for _ in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        seeds.push(Seed::new(x, x.rotate_left(29) ^ 0xbf58_476d_1ce4_e5b9));
    }
    for seed in seeds {
        let mut table = Box::new(KeyedLimiter::<u64, 2048>::new(q, seed, WhenFull::RejectNew));
        for k in 0..1024u64 {
            assert!(table.try_acquire(k.wrapping_mul(x), t(0)).is_ok());
        }
        assert_eq!(table.len(), 1024);
        assert_eq!(table.metrics().refused_full, 0);
    }
}
