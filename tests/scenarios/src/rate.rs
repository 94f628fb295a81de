//! Rate-limit timelines: one scenario per row of the transition table in
//! `fusebox::rate`, and one per convention.

use fusebox::hash::Seed;
use fusebox::rate::{KeyedRejected, Quota, Rejected, TokenBucket, WhenFull};
use fusebox::time::Duration;

use crate::drivers::{KeyedFamily, KeyedOps, Local};
use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every rate scenario (the shared variant's are in [`SYNC_SCENARIOS`]
/// with feature `sync`).
pub const SCENARIOS: &[Scenario] = &[
    s(
        "rate::bucket_starts_full_and_admits_burst_at_once",
        bucket_starts_full_and_admits_burst_at_once,
    ),
    s(
        "rate::refused_request_changes_nothing",
        refused_request_changes_nothing,
    ),
    s(
        "rate::refill_is_exact_when_r_does_not_divide_p",
        refill_is_exact_when_r_does_not_divide_p,
    ),
    s("rate::more_tokens_than_ticks", more_tokens_than_ticks),
    s("rate::refill_stops_at_burst", refill_stops_at_burst),
    s(
        "rate::acquire_n_is_all_or_nothing",
        acquire_n_is_all_or_nothing,
    ),
    s("rate::n_zero_and_n_over_burst", n_zero_and_n_over_burst),
    s(
        "rate::time_until_is_the_first_admitting_tick",
        time_until_is_the_first_admitting_tick,
    ),
    s(
        "rate::time_backwards_is_judged_at_the_latest_instant",
        time_backwards_is_judged_at_the_latest_instant,
    ),
    s("rate::instants_near_u64_max", instants_near_u64_max),
    s(
        "rate::always_asking_for_a_year_gets_exactly_the_law",
        always_asking_for_a_year_gets_exactly_the_law,
    ),
    s(
        "rate::bad_quotas_name_their_field",
        bad_quotas_name_their_field,
    ),
    s(
        "rate::keyed_buckets_are_per_key",
        keyed_buckets_are_per_key::<Local>,
    ),
    s(
        "rate::keyed_idle_key_is_replaced_first",
        keyed_idle_key_is_replaced_first::<Local>,
    ),
    s(
        "rate::keyed_reject_new_when_window_busy",
        keyed_reject_new_when_window_busy::<Local>,
    ),
    s(
        "rate::keyed_evict_least_recent_when_window_busy",
        keyed_evict_least_recent_when_window_busy::<Local>,
    ),
    s(
        "rate::keyed_untracked_key_is_full_and_clear_forgets",
        keyed_untracked_key_is_full_and_clear_forgets::<Local>,
    ),
];

fn retry(ticks: u64) -> Rejected {
    Rejected {
        retry_after: Some(d(ticks)),
    }
}

fn quota(rate: u32, period: u64, burst: u32) -> Option<Quota> {
    Quota::per_period(rate, d(period))
        .allow_burst(burst)
        .build()
        .ok()
}

/// One step of Marsaglia's xorshift64 (13, 7, 17): the scenarios' fixed
/// pseudo-random timelines.
fn xorshift(x: &mut u64) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
}

const SEED: Seed = Seed::new(0x0123_4567_89ab_cdef, 0x0f1e_2d3c_4b5a_6978);

/// full | `burst` requests at one tick | all admitted, the next refused
pub fn bucket_starts_full_and_admits_burst_at_once() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(1, 10, 4)));
    check_eq!(b.available(t(0)), 4);
    for _ in 0..4 {
        check!(b.try_acquire(t(0)).is_ok());
    }
    check_eq!(b.try_acquire(t(0)), Err(retry(10)));
    check_eq!(b.available(t(0)), 0);
    // Starting full holds at any first `now`, not only at 0.
    let mut late = TokenBucket::new(take!(quota(1, 10, 4)));
    check!(late.try_acquire_n(4, t(1_000_000)).is_ok());
    check!(late.try_acquire(t(1_000_000)).is_err());
    Ok(())
}

/// holds < n | request | refused, no token taken (only its instant is seen)
pub fn refused_request_changes_nothing() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(1, 10, 2)));
    check!(b.try_acquire_n(2, t(0)).is_ok());
    let before = b.clone();
    for now in [0, 3, 9] {
        check!(b.try_acquire(t(now)).is_err());
        check!(b.try_acquire_n(2, t(now)).is_err());
        check!(b.try_acquire_n(3, t(now)).is_err());
        for later in [now, 10, 20] {
            check_eq!(b.available(t(later)), before.available(t(later)));
            check_eq!(b.time_until(2, t(later)), before.time_until(2, t(later)));
        }
    }
    // Exactly one token at tick 10, as if nobody had asked in between.
    check!(b.try_acquire(t(10)).is_ok());
    check!(b.try_acquire(t(10)).is_err());
    Ok(())
}

/// time passes | refills at r/P per tick, exactly, when r does not divide P
pub fn refill_is_exact_when_r_does_not_divide_p() -> Outcome {
    // 3 tokens per 10 ticks, burst 2: tokens at 10/3, 20/3, 10, ...
    let mut b = TokenBucket::new(take!(quota(3, 10, 2)));
    check!(b.try_acquire_n(2, t(0)).is_ok());
    let mut admitted_at = [0u64; 7];
    let mut k = 0;
    for now in 1..=20 {
        if b.try_acquire(t(now)).is_ok() {
            if let Some(slot) = admitted_at.get_mut(k) {
                *slot = now;
            }
            k += 1;
        }
    }
    // ceil(10 j / 3) for j = 1..=6.
    check_eq!(k, 6);
    check_eq!(admitted_at, [4, 7, 10, 14, 17, 20, 0]);
    // With burst 1 the fraction that arrives on the tick a token is taken
    // is lost (the bucket holds one token): 4, 8, 12, ... This is the law
    // at work, not drift: admitting at 4 and 7 would put 2 tokens in the
    // window [4, 7], above its bound 1 + floor(3 x 3 / 10) = 1.
    let mut one = TokenBucket::new(take!(quota(3, 10, 1)));
    check!(one.try_acquire(t(0)).is_ok());
    check!(one.try_acquire(t(4)).is_ok());
    check!(one.try_acquire(t(7)).is_err());
    check!(one.try_acquire(t(8)).is_ok());
    Ok(())
}

/// time passes | refills several tokens per tick when r > P
pub fn more_tokens_than_ticks() -> Outcome {
    // 7 tokens per 2 ticks, burst 4 (holds one tick's refill of 3.5).
    let mut b = TokenBucket::new(take!(quota(7, 2, 4)));
    check!(b.try_acquire_n(4, t(0)).is_ok());
    // By tick 1: 3.5 tokens refilled.
    check_eq!(b.available(t(1)), 3);
    // A caller that always asks gets 4 + floor(W x 7 / 2) by tick W.
    let mut b = TokenBucket::new(take!(quota(7, 2, 4)));
    let mut total = 0u64;
    for now in 0..=9u64 {
        while b.try_acquire(t(now)).is_ok() {
            total += 1;
        }
        check_eq!(total, 4 + now * 7 / 2);
    }
    // With a burst below one tick's refill the cap loses the excess: 3 per
    // tick, under the law's bound (the law is an upper bound; exactness for
    // the always-asking caller needs r <= (b - 1) x P + 1).
    let mut capped = TokenBucket::new(take!(quota(7, 2, 3)));
    let mut total = 0u64;
    for now in 0..=4u64 {
        while capped.try_acquire(t(now)).is_ok() {
            total += 1;
        }
    }
    check_eq!(total, 15);
    Ok(())
}

/// time passes | never more than `burst` in the bucket
pub fn refill_stops_at_burst() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(1, 1, 5)));
    check!(b.try_acquire_n(5, t(0)).is_ok());
    check_eq!(b.available(t(1_000)), 5);
    check!(b.try_acquire_n(5, t(1_000)).is_ok());
    check!(b.try_acquire(t(1_000)).is_err());
    Ok(())
}

/// holds >= n | try_acquire_n | n taken at once; holds < n | refused whole
pub fn acquire_n_is_all_or_nothing() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(1, 10, 5)));
    check!(b.try_acquire_n(3, t(0)).is_ok());
    check_eq!(b.try_acquire_n(3, t(0)), Err(retry(10)));
    check_eq!(b.available(t(0)), 2);
    check!(b.try_acquire_n(2, t(0)).is_ok());
    check_eq!(b.try_acquire_n(5, t(0)), Err(retry(50)));
    check!(b.try_acquire_n(5, t(50)).is_ok());
    Ok(())
}

/// any | n = 0 admitted, takes nothing | n > burst refused with no retry
pub fn n_zero_and_n_over_burst() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(1, 10, 2)));
    check!(b.try_acquire_n(2, t(0)).is_ok());
    check!(b.try_acquire_n(0, t(0)).is_ok());
    check_eq!(b.time_until(0, t(0)), Ok(d(0)));
    check_eq!(
        b.try_acquire_n(3, t(100)),
        Err(Rejected { retry_after: None })
    );
    check_eq!(
        b.try_acquire_n(u32::MAX, t(100)),
        Err(Rejected { retry_after: None })
    );
    check_eq!(b.time_until(3, t(0)).map_err(|e| e.burst), Err(2));
    // Neither changed the bucket.
    check_eq!(b.available(t(20)), 2);
    Ok(())
}

/// the tick `time_until` names is the first one that admits
pub fn time_until_is_the_first_admitting_tick() -> Outcome {
    let q = take!(quota(3, 7, 4));
    let mut b = TokenBucket::new(q);
    check!(b.try_acquire_n(4, t(5)).is_ok());
    for n in 1..=4u32 {
        let wait = take!(b.time_until(n, t(5))).as_ticks();
        check!(wait > 0);
        let mut early = b.clone();
        check!(early.try_acquire_n(n, t(5 + wait - 1)).is_err());
        let mut on_time = b.clone();
        check!(on_time.try_acquire_n(n, t(5 + wait)).is_ok());
        check_eq!(b.try_acquire_n(n, t(5)), Err(retry(wait)));
    }
    Ok(())
}

/// time backwards | judged at the latest instant seen: no time elapsed, never less
pub fn time_backwards_is_judged_at_the_latest_instant() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(1, 10, 2)));
    check!(b.try_acquire_n(2, t(100)).is_ok());
    // At 100 the bucket is empty; going back to 50 finds it as at 100.
    check_eq!(b.try_acquire(t(50)), Err(retry(10)));
    check!(b.try_acquire(t(0)).is_err());
    check_eq!(b.available(t(0)), 0);
    // And the next token still comes at 110.
    check!(b.try_acquire(t(109)).is_err());
    check!(b.try_acquire(t(110)).is_ok());
    // 1 token per tick, burst 2: one taken at tick 1, then asked at tick 0.
    // Judged at tick 1, where one token is left: admitted.
    let mut b = TokenBucket::new(take!(quota(1, 1, 2)));
    check!(b.try_acquire(t(1)).is_ok());
    check_eq!(b.available(t(0)), 1);
    check!(b.try_acquire(t(0)).is_ok());
    check_eq!(b.try_acquire(t(0)), Err(retry(1)));
    Ok(())
}

/// instants near `u64::MAX` and the largest quota: no overflow, exact
pub fn instants_near_u64_max() -> Outcome {
    let mut b = TokenBucket::new(take!(quota(u32::MAX, 1, u32::MAX)));
    check!(b.try_acquire_n(u32::MAX, t(u64::MAX - 1)).is_ok());
    check!(b.try_acquire(t(u64::MAX - 1)).is_err());
    check_eq!(b.available(t(u64::MAX)), u32::MAX);
    check!(b.try_acquire_n(u32::MAX, t(u64::MAX)).is_ok());
    check_eq!(b.try_acquire(t(u64::MAX)), Err(retry(1)));
    // The slowest quota: 1 per u64::MAX ticks.
    let mut slow = TokenBucket::new(take!(quota(1, u64::MAX, 1)));
    check!(slow.try_acquire(t(u64::MAX)).is_ok());
    check_eq!(slow.try_acquire(t(u64::MAX)), Err(retry(u64::MAX)));
    check_eq!(slow.time_until(1, t(0)), Ok(d(u64::MAX)));
    Ok(())
}

/// a caller that always asks gets b + floor(W r / P) over a year, exactly
pub fn always_asking_for_a_year_gets_exactly_the_law() -> Outcome {
    // 1 per day at 1 kHz; 7 per 3 ms at 1 MHz; 1000 per 999 ms at 1 kHz.
    // (The host tests add 10^9 per second at 1 GHz and random quotas.)
    const YEAR_S: u64 = 365 * 24 * 3600;
    let cases: [(u32, u64, u32, u64); 3] = [
        (1, 86_400_000, 1, YEAR_S * 1_000),
        (7, 3_000, u32::MAX, YEAR_S * 1_000_000),
        (1_000, 999, u32::MAX, YEAR_S * 1_000),
    ];
    for (rate, period, burst, year) in cases {
        check_eq!(
            year_of_asking(take!(quota(rate, period, burst)), year, 0x2545_f491),
            Ok(u128::from(burst) + u128::from(year) * u128::from(rate) / u128::from(period))
        );
    }
    Ok(())
}

/// Drive a caller that asks at every tick from 0 to `horizon` and return
/// what it got, checking `b + floor(t r / P)` at every tick it visits.
///
/// Asking at every tick is simulated exactly by visiting only some ticks:
/// between a visit and the tick where the next token arrives every request
/// is refused (and a refusal changes nothing); and no token is lost until
/// the tick before the bucket is full. So each stride is picked
/// (pseudo-randomly, from `x`) between those two, `time_until(1)` and
/// `time_until(burst) - 1`.
/// Needs `r <= (b - 1) x P + 1` (the bucket holds one tick's refill).
pub fn year_of_asking(q: Quota, horizon: u64, mut x: u64) -> Result<u128, u32> {
    let mut b = TokenBucket::new(q);
    let (r, p, burst) = (
        u128::from(q.rate()),
        u128::from(q.period().as_ticks()),
        q.burst(),
    );
    let mut got: u128 = 0;
    let mut now = 0u64;
    loop {
        let k = b.available(t(now));
        if b.try_acquire_n(k, t(now)).is_err() || b.try_acquire(t(now)).is_ok() {
            return Err(line!());
        }
        got += u128::from(k);
        if got != u128::from(burst) + u128::from(now) * r / p {
            return Err(line!());
        }
        if now == horizon {
            return Ok(got);
        }
        let lo = b.time_until(1, t(now)).map_err(|_| line!())?.as_ticks();
        let hi = b
            .time_until(burst, t(now))
            .map_err(|_| line!())?
            .as_ticks()
            .saturating_sub(1);
        xorshift(&mut x);
        // Mostly long strides, sometimes the shortest.
        let stride = if x.is_multiple_of(4) || hi <= lo {
            lo
        } else {
            lo + x % (hi - lo + 1)
        };
        now = now.saturating_add(stride.max(1)).min(horizon);
    }
}

/// quota | out of range | `ConfigError` naming the field
pub fn bad_quotas_name_their_field() -> Outcome {
    check_eq!(
        take!(Quota::per_period(0, d(1)).allow_burst(1).build().err()).field(),
        "rate"
    );
    check_eq!(
        take!(Quota::per_period(1, d(0)).build().err()).field(),
        "period"
    );
    check_eq!(
        take!(Quota::per_period(1, d(1)).allow_burst(0).build().err()).field(),
        "burst"
    );
    // Named rates: the same fraction in lowest terms whatever the unit,
    // the burst defaulting to the rate's count.
    let second = Duration::from_secs(1);
    let q = take!(Quota::per_second(100).allow_burst(10).build().ok());
    check_eq!(
        q,
        take!(Quota::per_period(100, second).allow_burst(10).build().ok())
    );
    check_eq!(q.burst(), 10);
    check_eq!(
        take!(Quota::per_minute(60).allow_burst(1).build().ok()),
        take!(Quota::per_second(1).build().ok())
    );
    check_eq!(take!(Quota::per_hour(7).build().ok()).burst(), 7);
    check_eq!(
        take!(Quota::with_period(d(5)).build().ok()),
        take!(Quota::per_period(1, d(5)).build().ok())
    );
    Ok(())
}

/// keyed | requests of several keys | each key has its own bucket
pub fn keyed_buckets_are_per_key<F: KeyedFamily>() -> Outcome {
    let mut k = <F::Limiter<u32, 8> as KeyedOps<u32>>::build(
        take!(quota(1, 10, 2)),
        SEED,
        WhenFull::RejectNew,
    );
    for key in [1, 2, 3] {
        check!(k.try_acquire_n(key, 2, t(0)).is_ok());
        check_eq!(
            k.try_acquire(key, t(0)),
            Err(KeyedRejected::Limited(retry(10)))
        );
    }
    check_eq!(k.len(), 3);
    check!(k.try_acquire(2, t(10)).is_ok());
    check_eq!(k.available(&1, t(10)), 1);
    check_eq!(k.time_until(&3, 2, t(10)), Ok(d(10)));
    // n over the burst is refused without tracking the key.
    check_eq!(
        k.try_acquire_n(9, 3, t(0)),
        Err(KeyedRejected::Limited(Rejected { retry_after: None }))
    );
    check!(!k.contains(&9));
    Ok(())
}

/// keyed: new key, an idle entry in the window | the idle key is replaced
pub fn keyed_idle_key_is_replaced_first<F: KeyedFamily>() -> Outcome {
    // N = 4 < PROBE_WINDOW: every key's window is the whole table.
    let mut k = <F::Limiter<u32, 4> as KeyedOps<u32>>::build(
        take!(quota(1, 10, 1)),
        SEED,
        WhenFull::RejectNew,
    );
    for key in 0..4 {
        check!(k.try_acquire(key, t(key.into())).is_ok());
    }
    // At 10 key 0's bucket is full again (idle); the others are busy.
    check!(k.try_acquire(100, t(10)).is_ok());
    check!(!k.contains(&0));
    check!(k.contains(&1) && k.contains(&2) && k.contains(&3));
    check_eq!(k.metrics().placed, 5);
    check_eq!(k.metrics().evicted_busy, 0);
    // A forgotten idle key lost nothing: it has a full bucket anyway.
    check_eq!(k.available(&0, t(10)), 1);
    Ok(())
}

/// keyed: new key, window all busy | RejectNew: refused, no key forgotten
pub fn keyed_reject_new_when_window_busy<F: KeyedFamily>() -> Outcome {
    let mut k = <F::Limiter<u32, 4> as KeyedOps<u32>>::build(
        take!(quota(1, 10, 1)),
        SEED,
        WhenFull::RejectNew,
    );
    for key in 0..4 {
        check!(k.try_acquire(key, t(0)).is_ok());
    }
    check_eq!(k.try_acquire(100, t(5)), Err(KeyedRejected::TableFull));
    check_eq!(KeyedRejected::TableFull.retry_after(), None);
    check_eq!(k.metrics().refused_full, 1);
    for key in 0..4 {
        check!(k.contains(&key));
        check!(k.try_acquire(key, t(5)).is_err());
    }
    // Once a bucket refills, the new key gets in.
    check!(k.try_acquire(100, t(10)).is_ok());
    Ok(())
}

/// keyed: new key, window all busy | EvictLeastRecent: the least recently
/// seen key is forgotten (and starts again with a full burst)
pub fn keyed_evict_least_recent_when_window_busy<F: KeyedFamily>() -> Outcome {
    let mut k = <F::Limiter<u32, 4> as KeyedOps<u32>>::build(
        take!(quota(1, 100, 1)),
        SEED,
        WhenFull::EvictLeastRecent,
    );
    for key in 0..4 {
        check!(k.try_acquire(key, t(key.into())).is_ok());
    }
    // Key 0 keeps asking (refused): that counts as recent use.
    check!(k.try_acquire(0, t(10)).is_err());
    // Key 1 is now the least recently seen.
    check!(k.try_acquire(100, t(11)).is_ok());
    check!(!k.contains(&1));
    check!(k.contains(&0));
    check_eq!(k.metrics().evicted_busy, 1);
    // The forgotten key comes back with a full bucket: the documented trade.
    check!(k.try_acquire(1, t(12)).is_ok());
    check_eq!(k.len(), 4);
    Ok(())
}

/// keyed | an untracked key has a full bucket; clear forgets every key
pub fn keyed_untracked_key_is_full_and_clear_forgets<F: KeyedFamily>() -> Outcome {
    let mut k = <F::Limiter<u32, 4> as KeyedOps<u32>>::build(
        take!(quota(1, 10, 3)),
        SEED,
        WhenFull::RejectNew,
    );
    check!(k.is_empty());
    check_eq!(k.available(&5, t(0)), 3);
    check_eq!(k.time_until(&5, 3, t(0)), Ok(d(0)));
    check_eq!(k.time_until(&5, 4, t(0)).map_err(|e| e.burst), Err(3));
    check!(k.try_acquire_n(5, 0, t(0)).is_ok());
    check!(!k.contains(&5));
    check!(k.try_acquire_n(5, 3, t(0)).is_ok());
    check!(k.try_acquire(5, t(0)).is_err());
    k.clear();
    check!(k.is_empty());
    check!(k.try_acquire_n(5, 3, t(0)).is_ok());
    // A zero-sized table refuses new keys, never panics.
    let mut none = <F::Limiter<u32, 0> as KeyedOps<u32>>::build(
        take!(quota(1, 10, 3)),
        SEED,
        WhenFull::EvictLeastRecent,
    );
    check_eq!(none.try_acquire(1, t(0)), Err(KeyedRejected::TableFull));
    check_eq!(none.capacity(), 0);
    Ok(())
}

/// The shared variant's scenarios (feature `sync`).
#[cfg(feature = "sync")]
pub const SYNC_SCENARIOS: &[Scenario] = &[
    s(
        "rate::shared_decides_as_the_mut_bucket",
        shared_decides_as_the_mut_bucket,
    ),
    s(
        "rate::shared_n_zero_and_over_burst",
        shared_n_zero_and_over_burst,
    ),
    s(
        "rate::shared_moves_to_its_16_byte_word",
        shared_moves_to_its_16_byte_word,
    ),
    s(
        "rate::shared_moves_to_128_bits_exactly",
        shared_moves_to_128_bits_exactly,
    ), // The keyed scenarios again, through the shared limiter (one shard).
    s(
        "rate_shared::keyed_buckets_are_per_key",
        keyed_buckets_are_per_key::<crate::drivers::Shared>,
    ),
    s(
        "rate_shared::keyed_idle_key_is_replaced_first",
        keyed_idle_key_is_replaced_first::<crate::drivers::Shared>,
    ),
    s(
        "rate_shared::keyed_reject_new_when_window_busy",
        keyed_reject_new_when_window_busy::<crate::drivers::Shared>,
    ),
    s(
        "rate_shared::keyed_evict_least_recent_when_window_busy",
        keyed_evict_least_recent_when_window_busy::<crate::drivers::Shared>,
    ),
    s(
        "rate_shared::keyed_untracked_key_is_full_and_clear_forgets",
        keyed_untracked_key_is_full_and_clear_forgets::<crate::drivers::Shared>,
    ),
];

/// The shared variant's scenarios: none without feature `sync`.
#[cfg(not(feature = "sync"))]
pub const SYNC_SCENARIOS: &[Scenario] = &[];

/// shared | one timeline through both variants | the same decisions
#[cfg(feature = "sync")]
pub fn shared_decides_as_the_mut_bucket() -> Outcome {
    use fusebox::rate::SharedTokenBucket;
    let q = take!(quota(3, 10, 4));
    let mut a = TokenBucket::new(q);
    let b = SharedTokenBucket::new(q);
    // A fixed pseudo-random timeline: times mostly forward, some back.
    let mut x: u64 = 0x9e37_79b9;
    let mut now: u64 = 0;
    for _ in 0..500 {
        xorshift(&mut x);
        now = if x.is_multiple_of(11) {
            now.saturating_sub(x % 5)
        } else {
            now + x % 4
        };
        let n = (x >> 8) as u32 % 6;
        check_eq!(a.try_acquire_n(n, t(now)), b.try_acquire_n(n, t(now)));
        check_eq!(a.time_until(2, t(now)), b.time_until(2, t(now)));
        check_eq!(a.available(t(now)), b.available(t(now)));
    }
    Ok(())
}

/// shared | n = 0, n > burst
#[cfg(feature = "sync")]
pub fn shared_n_zero_and_over_burst() -> Outcome {
    use fusebox::rate::SharedTokenBucket;
    let b = SharedTokenBucket::new(take!(quota(1, 10, 2)));
    check!(b.try_acquire_n(2, t(0)).is_ok());
    check!(b.try_acquire_n(0, t(0)).is_ok());
    check_eq!(b.try_acquire(t(0)), Err(retry(10)));
    check_eq!(
        b.try_acquire_n(3, t(0)),
        Err(Rejected { retry_after: None })
    );
    check_eq!(b.time_until(3, t(0)).map_err(|e| e.burst), Err(2));
    check_eq!(b.available(t(20)), 2);
    check_eq!(b.quota().burst(), 2);
    Ok(())
}

/// shared | instants cross the 8-byte word's range | the same decisions
/// on both sides of the move to the 16-byte word
#[cfg(feature = "sync")]
pub fn shared_moves_to_its_16_byte_word() -> Outcome {
    use fusebox::rate::SharedTokenBucket;
    // 3 tokens per 10 ticks, burst 2^31: capacity 10 x 2^31 units takes 35
    // bits, so the latest instant has 29 and the first instant the 8-byte
    // word cannot hold is 2^29 - 1.
    let q = take!(quota(3, 10, 1 << 31));
    let limit: u64 = (1 << 29) - 1;
    let mut a = TokenBucket::new(q);
    let b = SharedTokenBucket::new(q);
    let mut x: u64 = 0x2545_f491;
    let mut now = limit - 40;
    for i in 0..120u32 {
        xorshift(&mut x);
        now = if x.is_multiple_of(7) {
            now.saturating_sub(x % 5)
        } else {
            now + x % 3
        };
        // Mostly a few tokens; now and then half the burst, which empties
        // the bucket, so refusals and refills happen on both sides.
        let n = if i % 9 == 4 {
            1 << 30
        } else {
            (x >> 8) as u32 % 8
        };
        check_eq!(a.try_acquire_n(n, t(now)), b.try_acquire_n(n, t(now)));
        check_eq!(a.time_until(4, t(now)), b.time_until(4, t(now)));
        check_eq!(a.available(t(now)), b.available(t(now)));
    }
    check!(now > limit + 20);
    Ok(())
}

/// shared | now x rate passes 2^64 | the same decisions, exactly
#[cfg(feature = "sync")]
pub fn shared_moves_to_128_bits_exactly() -> Outcome {
    use fusebox::rate::SharedTokenBucket;
    // 4 294 967 291 (a prime) per 10^9 ticks: now x rate passes 2^64 at
    // tick 4 294 967 301.
    let q = take!(quota(4_294_967_291, 1_000_000_000, 3));
    let mut a = TokenBucket::new(q);
    let b = SharedTokenBucket::new(q);
    let edge = u64::MAX / 4_294_967_291;
    let mut now = edge - 3;
    for i in 0..40u64 {
        let n = (i % 4) as u32;
        for _ in 0..3 {
            check_eq!(a.try_acquire_n(n, t(now)), b.try_acquire_n(n, t(now)));
        }
        check_eq!(a.available(t(now)), b.available(t(now)));
        check_eq!(a.time_until(3, t(now)), b.time_until(3, t(now)));
        now += i % 2;
    }
    check!(now > edge);
    Ok(())
}
