//! Bulkhead and adaptive-limit timelines: one scenario per row of the
//! transition table in `fusebox::bulkhead`, and one per convention. The
//! shared `SharedBulkhead`'s scenarios need the crate's `sync` feature.

use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, Bulkhead, LimitChange, Outcome as Call};
use fusebox::time::{Duration, Instant};

use crate::drivers::AimdOps;
use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every bulkhead scenario (the shared ones only with the `sync` feature).
pub const SCENARIOS: &[Scenario] = &[
    s(
        "bulkhead::local_admits_up_to_limit_then_rejects",
        local_admits_up_to_limit_then_rejects,
    ),
    s(
        "bulkhead::local_release_frees_one_slot",
        local_release_frees_one_slot,
    ),
    s(
        "bulkhead::local_raised_limit_admits_at_once",
        local_raised_limit_admits_at_once,
    ),
    s(
        "bulkhead::local_lowered_limit_keeps_tokens_and_rejects_until_drained",
        local_lowered_limit_keeps_tokens_and_rejects_until_drained,
    ),
    s(
        "bulkhead::local_foreign_release_and_reset_never_underflow",
        local_foreign_release_and_reset_never_underflow,
    ),
    s(
        "bulkhead::aimd_success_under_target_adds_step",
        aimd_success_under_target_adds_step::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_latency_at_target_is_under_it",
        aimd_latency_at_target_is_under_it::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_slow_success_is_a_drop",
        aimd_slow_success_is_a_drop::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_drop_multiplies_by_backoff_rounding_down",
        aimd_drop_multiplies_by_backoff_rounding_down::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_stays_within_min_and_max",
        aimd_stays_within_min_and_max::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_ignored_changes_nothing",
        aimd_ignored_changes_nothing::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_unused_limit_does_not_grow",
        aimd_unused_limit_does_not_grow::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_cooldown_decreases_once_per_event",
        aimd_cooldown_decreases_once_per_event::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_time_backwards_stays_in_cooldown",
        aimd_time_backwards_stays_in_cooldown::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_u64_max_latency_and_instant_saturate",
        aimd_u64_max_latency_and_instant_saturate::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::aimd_drives_a_local_bulkhead",
        aimd_drives_a_local_bulkhead::<AdaptiveLimit>,
    ),
    s(
        "bulkhead::bad_configs_name_their_field",
        bad_configs_name_their_field,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead::shared_admits_up_to_limit_and_drop_frees",
        shared::admits_up_to_limit_and_drop_frees,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead::shared_set_limit_at_runtime",
        shared::set_limit_at_runtime,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead::shared_owned_permit_frees_on_drop",
        shared::owned_permit_frees_on_drop,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead::shared_follows_an_adaptive_limit",
        shared::follows_an_adaptive_limit,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_success_under_target_adds_step",
        aimd_success_under_target_adds_step::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_latency_at_target_is_under_it",
        aimd_latency_at_target_is_under_it::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_slow_success_is_a_drop",
        aimd_slow_success_is_a_drop::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_drop_multiplies_by_backoff_rounding_down",
        aimd_drop_multiplies_by_backoff_rounding_down::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_stays_within_min_and_max",
        aimd_stays_within_min_and_max::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_ignored_changes_nothing",
        aimd_ignored_changes_nothing::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_unused_limit_does_not_grow",
        aimd_unused_limit_does_not_grow::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_cooldown_decreases_once_per_event",
        aimd_cooldown_decreases_once_per_event::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_time_backwards_stays_in_cooldown",
        aimd_time_backwards_stays_in_cooldown::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_u64_max_latency_and_instant_saturate",
        aimd_u64_max_latency_and_instant_saturate::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
    #[cfg(feature = "sync")]
    s(
        "bulkhead_shared::aimd_drives_a_local_bulkhead",
        aimd_drives_a_local_bulkhead::<fusebox::bulkhead::SharedAdaptiveLimit>,
    ),
];

fn change(from: u32, to: u32) -> Option<LimitChange> {
    Some(LimitChange { from, to })
}

/// A limit in 2..=10 starting at 5, +1 / x 50 %, target 100 ticks.
fn aimd<A: AimdOps>() -> Result<A, fusebox::ConfigError> {
    A::build(
        AimdConfig::new()
            .limits(2, 10)
            .initial(5)
            .backoff_percent(50)
            .latency_target(d(100)),
    )
}

/// Bulkhead: `limit` tokens, then Rejected naming the limit
pub fn local_admits_up_to_limit_then_rejects() -> Outcome {
    let mut b = take!(Bulkhead::new(3));
    let t1 = take!(b.try_acquire());
    let t2 = take!(b.try_acquire());
    let t3 = take!(b.try_acquire());
    check_eq!(b.in_use(), 3);
    check_eq!(b.available(), 0);
    let r = b.try_acquire();
    check!(r.is_err());
    check_eq!(r.err().map(|e| e.limit), Some(3));
    // A rejection changes nothing.
    check_eq!(b.in_use(), 3);
    b.release(t1);
    b.release(t2);
    b.release(t3);
    check_eq!(b.in_use(), 0);
    Ok(())
}

/// Bulkhead: a released token frees exactly one slot
pub fn local_release_frees_one_slot() -> Outcome {
    let mut b = take!(Bulkhead::new(2));
    let a = take!(b.try_acquire());
    let c = take!(b.try_acquire());
    b.release(a);
    check_eq!(b.available(), 1);
    let e = take!(b.try_acquire());
    check!(b.try_acquire().is_err());
    b.release(c);
    b.release(e);
    check_eq!(b.available(), 2);
    Ok(())
}

/// Raising the limit admits more at once and returns the old limit
pub fn local_raised_limit_admits_at_once() -> Outcome {
    let mut b = take!(Bulkhead::new(1));
    let a = take!(b.try_acquire());
    check!(b.try_acquire().is_err());
    check_eq!(b.set_limit(2), Ok(1));
    let c = take!(b.try_acquire());
    check!(b.try_acquire().is_err());
    b.release(a);
    b.release(c);
    Ok(())
}

/// Lowering the limit revokes nothing; calls are refused until in_use < limit
pub fn local_lowered_limit_keeps_tokens_and_rejects_until_drained() -> Outcome {
    let mut b = take!(Bulkhead::new(3));
    let a = take!(b.try_acquire());
    let c = take!(b.try_acquire());
    let e = take!(b.try_acquire());
    check_eq!(b.set_limit(1), Ok(3));
    check_eq!(b.in_use(), 3);
    check_eq!(b.available(), 0);
    b.release(a);
    check!(b.try_acquire().is_err());
    b.release(c);
    // in_use 1 == limit 1: still full.
    check!(b.try_acquire().is_err());
    b.release(e);
    let f = take!(b.try_acquire());
    check!(b.try_acquire().is_err());
    b.release(f);
    Ok(())
}

/// A token released into the wrong bulkhead, or after reset, saturates at 0
pub fn local_foreign_release_and_reset_never_underflow() -> Outcome {
    let mut a = take!(Bulkhead::new(u32::MAX));
    let mut b = take!(Bulkhead::new(1));
    let ta = take!(a.try_acquire());
    b.release(ta);
    check_eq!(b.in_use(), 0);
    check_eq!(a.in_use(), 1);
    let tb = take!(b.try_acquire());
    b.reset();
    check_eq!(b.in_use(), 0);
    b.release(tb);
    check_eq!(b.in_use(), 0);
    check_eq!(b.available(), 1);
    check_eq!(a.available(), u32::MAX - 1);
    Ok(())
}

/// AIMD: success with latency under the target adds the step, up to max
pub fn aimd_success_under_target_adds_step<A: AimdOps>() -> Outcome {
    let mut l = take!(aimd::<A>());
    check_eq!(l.limit(), 5);
    check_eq!(l.record(Call::Success, d(10), t(0)), change(5, 6));
    let mut big = take!(A::build(
        AimdConfig::new().limits(1, 10).initial(5).increase(3)
    ));
    check_eq!(big.record(Call::Success, d(0), t(0)), change(5, 8));
    // Clamped to max, and a change to the same limit is no change.
    check_eq!(big.record(Call::Success, d(0), t(0)), change(8, 10));
    check_eq!(big.record(Call::Success, d(0), t(0)), None);
    check_eq!(big.limit(), 10);
    Ok(())
}

/// A latency exactly at the target counts as under it
pub fn aimd_latency_at_target_is_under_it<A: AimdOps>() -> Outcome {
    let mut l = take!(aimd::<A>());
    check_eq!(l.record(Call::Success, d(100), t(0)), change(5, 6));
    check_eq!(l.record(Call::Success, d(101), t(1)), change(6, 3));
    Ok(())
}

/// A success over the latency target decreases like a drop
pub fn aimd_slow_success_is_a_drop<A: AimdOps>() -> Outcome {
    let mut l = take!(aimd::<A>());
    let c = take!(l.record(Call::Success, d(1_000), t(0)));
    check_eq!((c.from, c.to), (5, 2));
    check!(!c.is_increase());
    Ok(())
}

/// A drop multiplies by backoff_percent / 100 and rounds down (Netflix's 0.9)
pub fn aimd_drop_multiplies_by_backoff_rounding_down<A: AimdOps>() -> Outcome {
    let mut l = take!(A::build(AimdConfig::new().limits(1, 200).initial(100)));
    let expect = [90, 81, 72, 64, 57, 51, 45, 40, 36, 32];
    let mut from = 100;
    for want in expect {
        check_eq!(l.record(Call::Dropped, d(0), t(0)), change(from, want));
        from = want;
    }
    // At small limits a decrease still moves by at least one.
    let mut small = take!(A::build(AimdConfig::new().limits(1, 10).initial(2)));
    check_eq!(small.record(Call::Dropped, d(0), t(0)), change(2, 1));
    Ok(())
}

/// The limit never leaves min..=max; a drop at min is no change
pub fn aimd_stays_within_min_and_max<A: AimdOps>() -> Outcome {
    let mut l = take!(aimd::<A>());
    check_eq!(l.record(Call::Dropped, d(0), t(0)), change(5, 2));
    check_eq!(l.record(Call::Dropped, d(0), t(1)), None);
    check_eq!(l.limit(), 2);
    for i in 0..20 {
        let _ = l.record(Call::Success, d(0), t(i));
    }
    check_eq!(l.limit(), 10);
    Ok(())
}

/// Ignored outcomes change nothing, whatever their latency
pub fn aimd_ignored_changes_nothing<A: AimdOps>() -> Outcome {
    let mut l = take!(aimd::<A>());
    check_eq!(l.record(Call::Ignored, d(0), t(0)), None);
    check_eq!(l.record(Call::Ignored, d(u64::MAX), t(1)), None);
    check_eq!(l.limit(), 5);
    Ok(())
}

/// With the in-flight count, a success grows only if 2 x in_flight >= limit
pub fn aimd_unused_limit_does_not_grow<A: AimdOps>() -> Outcome {
    let mut l = take!(A::build(AimdConfig::new().limits(1, 100).initial(10)));
    check_eq!(l.record_in_flight(Call::Success, d(0), 4, t(0)), None);
    check_eq!(l.record_in_flight(Call::Success, d(0), 0, t(0)), None);
    check_eq!(
        l.record_in_flight(Call::Success, d(0), 5, t(0)),
        change(10, 11)
    );
    // 2 x 5 = 10 < 11 now.
    check_eq!(l.record_in_flight(Call::Success, d(0), 5, t(0)), None);
    // The guard never holds back a decrease.
    check_eq!(
        l.record_in_flight(Call::Dropped, d(0), 0, t(0)),
        change(11, 9)
    );
    // u32::MAX in flight does not overflow the guard.
    check_eq!(
        l.record_in_flight(Call::Success, d(0), u32::MAX, t(0)),
        change(9, 10)
    );
    Ok(())
}

/// With a cooldown, drops within it after a decrease change nothing
pub fn aimd_cooldown_decreases_once_per_event<A: AimdOps>() -> Outcome {
    let mut l = take!(A::build(
        AimdConfig::new()
            .limits(1, 100)
            .initial(40)
            .backoff_percent(50)
            .decrease_cooldown(d(10))
    ));
    check_eq!(l.record(Call::Dropped, d(0), t(100)), change(40, 20));
    check_eq!(l.record(Call::Dropped, d(0), t(105)), None);
    check_eq!(l.record(Call::Dropped, d(0), t(109)), None);
    // Increases are not held back by the cooldown.
    check_eq!(l.record(Call::Success, d(0), t(109)), change(20, 21));
    // At last_decrease + cooldown the next drop counts.
    check_eq!(l.record(Call::Dropped, d(0), t(110)), change(21, 10));
    check_eq!(l.record(Call::Dropped, d(0), t(119)), None);
    Ok(())
}

/// Time going backwards counts as no time elapsed: it stays in the cooldown
pub fn aimd_time_backwards_stays_in_cooldown<A: AimdOps>() -> Outcome {
    let mut l = take!(A::build(
        AimdConfig::new()
            .limits(1, 100)
            .initial(40)
            .backoff_percent(50)
            .decrease_cooldown(d(10))
    ));
    check_eq!(l.record(Call::Dropped, d(0), t(1_000)), change(40, 20));
    check_eq!(l.record(Call::Dropped, d(0), t(0)), None);
    check_eq!(l.record(Call::Dropped, d(0), t(1_010)), change(20, 10));
    Ok(())
}

/// Latencies and instants at u64::MAX saturate without panicking
pub fn aimd_u64_max_latency_and_instant_saturate<A: AimdOps>() -> Outcome {
    let mut l = take!(A::build(
        AimdConfig::new()
            .limits(1, u32::MAX)
            .initial(u32::MAX)
            .latency_target(Duration::MAX)
            .decrease_cooldown(Duration::MAX)
    ));
    // A latency of Duration::MAX is at the target: under it.
    check_eq!(l.record(Call::Success, Duration::MAX, Instant::MAX), None);
    check_eq!(l.limit(), u32::MAX);
    let c = take!(l.record(Call::Dropped, d(0), Instant::MAX));
    check_eq!(c.to, 3_865_470_565); // floor((2^32 - 1) x 90 / 100)
    check_eq!(l.record(Call::Dropped, d(0), Instant::MAX), None);
    Ok(())
}

/// Each LimitChange applied with set_limit keeps a bulkhead in step
pub fn aimd_drives_a_local_bulkhead<A: AimdOps>() -> Outcome {
    let mut l = take!(aimd::<A>());
    let mut b = take!(Bulkhead::new(l.limit()));
    let mut held = [None, None, None, None, None, None];
    for slot in held.iter_mut().take(5) {
        *slot = Some(take!(b.try_acquire()));
    }
    check!(b.try_acquire().is_err());
    // The dependency slows down: one slow call halves the limit.
    let c = take!(l.record_in_flight(Call::Success, d(500), b.in_use(), t(0)));
    check_eq!(b.set_limit(c.to), Ok(5));
    for slot in held.iter_mut() {
        if let Some(tok) = slot.take() {
            b.release(tok);
        }
    }
    check_eq!(b.limit(), 2);
    let x = take!(b.try_acquire());
    let y = take!(b.try_acquire());
    check!(b.try_acquire().is_err());
    // It recovers: a fast call with the limit in use grows it again.
    let c = take!(l.record_in_flight(Call::Success, d(1), b.in_use(), t(1)));
    check_eq!(b.set_limit(c.to), Ok(2));
    let z = take!(b.try_acquire());
    b.release(x);
    b.release(y);
    b.release(z);
    Ok(())
}

/// Bad configurations give a ConfigError naming the field
pub fn bad_configs_name_their_field() -> Outcome {
    fn field<T>(r: Result<T, fusebox::ConfigError>) -> &'static str {
        match r {
            Ok(_) => "accepted",
            Err(e) => e.field(),
        }
    }
    check_eq!(field(Bulkhead::new(0)), "limit");
    let mut b = take!(Bulkhead::new(1));
    check_eq!(field(b.set_limit(0)), "limit");
    check_eq!(b.limit(), 1);
    let c = AimdConfig::new();
    let cases: [(AimdConfig, &str); 9] = [
        (c.limits(0, 10).initial(1), "limits.min"),
        (c.limits(5, 4), "limits.max"),
        (c.limits(5, 10).initial(4), "initial"),
        (c.limits(5, 10).initial(11), "initial"),
        (c.increase(0), "increase"),
        (c.backoff_percent(0), "backoff_percent"),
        (c.backoff_percent(100), "backoff_percent"),
        (c.latency_target(d(0)), "latency_target"),
        (
            c.limits(7, 7).initial(7).decrease_cooldown(d(0)),
            "accepted",
        ),
    ];
    for (config, name) in cases {
        check_eq!(field(AdaptiveLimit::new(config)), name);
    }
    check_eq!(field(AdaptiveLimit::new(AimdConfig::new())), "accepted");
    Ok(())
}

#[cfg(feature = "sync")]
mod shared {
    use super::{Call, aimd, d, t};
    use crate::Outcome;
    use fusebox::bulkhead::SharedBulkhead;

    /// SharedBulkhead: `limit` permits, then Rejected; dropping a permit frees it
    pub fn admits_up_to_limit_and_drop_frees() -> Outcome {
        let b = take!(SharedBulkhead::new(2));
        let p1 = take!(b.try_acquire());
        let p2 = take!(b.try_acquire());
        check_eq!(b.try_acquire().err().map(|e| e.limit), Some(2));
        check_eq!(b.in_use(), 2);
        drop(p1);
        check_eq!(b.in_use(), 1);
        check_eq!(b.available(), 1);
        let p3 = take!(b.try_acquire());
        check!(b.try_acquire().is_err());
        check!(core::ptr::eq(p3.bulkhead(), &b));
        drop((p2, p3));
        check_eq!(b.in_use(), 0);
        check!(SharedBulkhead::new(0).is_err());
        Ok(())
    }

    /// set_limit at runtime: raising admits at once, lowering revokes nothing
    pub fn set_limit_at_runtime() -> Outcome {
        let b = take!(SharedBulkhead::new(1));
        let p1 = take!(b.try_acquire());
        check_eq!(b.set_limit(3), Ok(1));
        let p2 = take!(b.try_acquire());
        let p3 = take!(b.try_acquire());
        check!(b.try_acquire().is_err());
        check_eq!(b.set_limit(1), Ok(3));
        check_eq!(b.in_use(), 3);
        check_eq!(b.available(), 0);
        drop(p1);
        drop(p2);
        check!(b.try_acquire().is_err());
        drop(p3);
        let p4 = take!(b.try_acquire());
        check_eq!(b.set_limit(0).map_err(|e| e.field()), Err("limit"));
        check_eq!(b.limit(), 1);
        drop(p4);
        // The extremes: u32::MAX slots, in_use never carries into the limit.
        check_eq!(b.set_limit(u32::MAX), Ok(1));
        let p5 = take!(b.try_acquire());
        check_eq!((b.limit(), b.in_use()), (u32::MAX, 1));
        drop(p5);
        check_eq!((b.limit(), b.in_use()), (u32::MAX, 0));
        Ok(())
    }

    /// An owned permit (here through `&'static`-like `&SharedBulkhead`) frees on drop
    pub fn owned_permit_frees_on_drop() -> Outcome {
        static POOL: SharedBulkhead = match SharedBulkhead::new(1) {
            Ok(b) => b,
            Err(_) => panic!("1 is a valid limit"),
        };
        let p = take!(SharedBulkhead::try_acquire_owned(&POOL));
        check!(SharedBulkhead::try_acquire_owned(&POOL).is_err());
        check_eq!(p.bulkhead().in_use(), 1);
        drop(p);
        check_eq!(POOL.in_use(), 0);
        Ok(())
    }

    /// An AdaptiveLimit's changes, applied with set_limit, steer a SharedBulkhead
    pub fn follows_an_adaptive_limit() -> Outcome {
        let mut l = take!(aimd::<fusebox::bulkhead::AdaptiveLimit>());
        let b = take!(SharedBulkhead::new(l.limit()));
        let p = take!(b.try_acquire());
        let c = take!(l.record(Call::Dropped, d(0), t(0)));
        check_eq!(b.set_limit(c.to), Ok(5));
        drop(p);
        let c = take!(l.record(Call::Success, d(0), t(1)));
        check_eq!(b.set_limit(c.to), Ok(2));
        check_eq!(b.limit(), 3);
        Ok(())
    }
}
