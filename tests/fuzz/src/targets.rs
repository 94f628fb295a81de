//! The targets, one per primitive.
use crate::{Clock, drive, duration};
use arbitrary::{Result, Unstructured};
use fusebox::backoff::{self, Backoff, Jitter};
use fusebox::breaker::{self, BreakDuration, CircuitBreaker, Policy, SharedBreaker, State};
use fusebox::bulkhead::{
    self, AdaptiveLimit, AimdConfig, Bulkhead, LimitChange, SharedAdaptiveLimit, SharedBulkhead,
};
use fusebox::dedup::{self, Begin, DedupTable, Eviction, SharedBegin, SharedDedupTable};
use fusebox::hash::Seed;
use fusebox::latency::{AdaptiveTimeout, HedgePolicy, LatencyHistogram, hedge, timeout};
use fusebox::rate::{
    ConcurrentRetryBudget, KeyedLimiter, KeyedRejected, Quota, RetryBudget, SharedKeyedLimiter,
    SharedRetryBudget, SharedTokenBucket, TokenBucket, WhenFull,
};
use fusebox::time::{Duration, Instant};
use fusebox_models::breaker::{Model, ModelPermit, PolicySpec, Spec};
use fusebox_models::bulkhead as bulkhead_model;
use fusebox_models::{
    backoff as backoff_model, dedup as dedup_model, latency as latency_model, rate,
};
use std::collections::HashMap;

type Raw = spin::mutex::SpinMutex<()>;

/// At most this many permits, tickets or tokens held at once.
const HELD: usize = 16;

/// The breaker's settings besides its schedule and policy, in the order
/// the committed corpora were written with.
fn breaker_spec(u: &mut Unstructured<'_>, policy: PolicySpec) -> Result<Spec> {
    let (initial, factor, max) = (duration(u)?, u.arbitrary()?, duration(u)?);
    let schedule = BreakDuration::Geometric {
        initial,
        factor,
        max,
    };
    spec_rest(u, schedule, policy)
}

fn spec_rest(
    u: &mut Unstructured<'_>,
    schedule: BreakDuration,
    policy: PolicySpec,
) -> Result<Spec> {
    let probes = u.int_in_range(0..=40)?;
    let successes = u.int_in_range(0..=40)?;
    let probe_timeout = duration(u)?.as_ticks();
    let slow = (duration(u)?.as_ticks(), u.arbitrary()?);
    Ok(Spec {
        schedule,
        probes,
        successes,
        probe_timeout,
        slow: Some(slow),
        policy,
    })
}

/// Tables a fuzzed `BreakDuration::Table` picks from (it takes `'static`).
static TABLES: [&[Duration]; 4] = [
    &[Duration::from_ticks(1)],
    &[
        Duration::from_ticks(5),
        Duration::from_ticks(30),
        Duration::from_ticks(300),
    ],
    &[Duration::from_ticks(u64::MAX), Duration::from_ticks(1)],
    &[],
];

/// Any break-duration schedule, valid or not (the breaker refuses the
/// invalid ones).
fn schedule(u: &mut Unstructured<'_>) -> Result<BreakDuration> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => BreakDuration::Constant(duration(u)?),
        1 => BreakDuration::Geometric {
            initial: duration(u)?,
            factor: u.arbitrary()?,
            max: duration(u)?,
        },
        2 => BreakDuration::Linear {
            initial: duration(u)?,
            step: duration(u)?,
            max: duration(u)?,
        },
        _ => BreakDuration::Table(TABLES[usize::from(u.int_in_range(0u8..=3)?)]),
    })
}

/// A counting interval: none, or any length (0 is refused).
fn interval(u: &mut Unstructured<'_>) -> Result<Option<u64>> {
    Ok(if u.arbitrary()? {
        Some(duration(u)?.as_ticks())
    } else {
        None
    })
}

fn outcome(u: &mut Unstructured<'_>) -> Result<breaker::Outcome> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => breaker::Outcome::Success,
        1 => breaker::Outcome::Failure,
        _ => breaker::Outcome::Ignored,
    })
}

/// The breaker with policy `P` built from `spec`, `&mut`, shared (where
/// the policy has a shared form: `P::Shared`) and the reference model
/// (`fusebox_models::breaker::Model`), fed the same operations.
///
/// After every step: the `&mut` breaker agrees with the model on every
/// permit, transition, rejection (state and `retry_after`), state, hint and
/// stale count, times going backwards included (both judge at the latest
/// instant seen); never more than K probes in flight; Closed admits, Open
/// refuses; never Closed while the window says trip after a judged outcome.
/// The shared breaker is linearizable to the `&mut` one (same decisions,
/// one caller here), but after a step back its time rule differs (it judges
/// at the instant its state records), so the two are compared only while
/// time has not gone back.
fn run_breaker<P: Policy + Clone>(u: &mut Unstructured<'_>, spec: Spec, policy: P) -> Result<()> {
    let config = spec.config();
    let Ok(mut b) = CircuitBreaker::new(config, policy.clone()) else {
        return Ok(());
    };
    let shared = P::Shared::share(config, &policy).ok();
    let mut model = Model::new(spec);
    let mut clock = Clock::new(u)?;
    let mut held: Vec<(breaker::Permit, ModelPermit)> = Vec::new();
    let mut held_shared = Vec::new();
    while !u.is_empty() {
        let now = clock.step(u)?;
        let compare = clock.monotone;
        model.judged = false;
        match u.int_in_range(0u8..=7)? {
            0..=2 => {
                let mine = b.try_acquire(now);
                let want = model.acquire(now.as_ticks());
                match (&mine, &want) {
                    (Ok(p), Ok((_, t))) => assert_eq!(p.transition(), *t, "acquire at {now:?}"),
                    (Err(r), Err(w)) => assert_eq!(r, w, "rejection at {now:?}"),
                    _ => panic!("acquire at {now:?}: breaker {mine:?}, model {want:?}"),
                }
                if let Some(s) = &shared {
                    let theirs = s.try_acquire(now);
                    if compare {
                        assert_eq!(
                            mine.as_ref().err(),
                            theirs.as_ref().err(),
                            "try_acquire at {now:?}"
                        );
                        if let (Ok(p), Ok(q)) = (&mine, &theirs) {
                            assert_eq!(
                                p.transition(),
                                q.transition(),
                                "acquire transition at {now:?}"
                            );
                        }
                    }
                    if let Ok(q) = theirs {
                        held_shared.push(q);
                    }
                }
                if let (Ok(p), Ok((mp, _))) = (mine, want) {
                    if let Some(t) = p.transition() {
                        assert_ne!(t.from, t.to);
                    }
                    held.push((p, mp));
                }
                if held.len() > HELD {
                    drop(held.remove(0));
                }
                if held_shared.len() > HELD {
                    drop(held_shared.remove(0));
                }
            }
            3..=5 => {
                let o = outcome(u)?;
                let i = u.arbitrary::<usize>()?;
                let mine = (!held.is_empty()).then(|| {
                    let (p, mp) = held.remove(i % held.len());
                    let got = b.record(p, o, now);
                    assert_eq!(
                        got,
                        model.record(mp, o, now.as_ticks()),
                        "record {o:?} at {now:?}"
                    );
                    got
                });
                if let Some(s) = &shared {
                    let theirs = (!held_shared.is_empty())
                        .then(|| s.record(held_shared.remove(i % held_shared.len()), o, now));
                    if compare {
                        assert_eq!(mine, theirs, "record {o:?} at {now:?}");
                    }
                }
                if let Some(Some(t)) = mine {
                    assert_ne!(t.from, t.to);
                }
            }
            6 => {
                let op = u.int_in_range(0u8..=2)?;
                let (mine, want) = match op {
                    0 => (b.isolate(), model.force(State::ForcedOpen)),
                    1 => (b.force_closed(), model.force(State::ForcedClosed)),
                    _ => (b.reset(), model.force(State::Closed)),
                };
                assert_eq!(mine, want, "admin op {op}");
                if let Some(s) = &shared {
                    let theirs = match op {
                        0 => s.isolate(),
                        1 => s.force_closed(),
                        _ => s.reset(),
                    };
                    if compare {
                        assert_eq!(mine, theirs, "admin op {op}");
                    }
                }
            }
            _ => {}
        }
        // Agreement and invariants at this step's instant and at the latest
        // instant seen; the admission checks on a copy (so the check does
        // not change what the sequence does next).
        let at = Instant::from_ticks(clock.latest);
        for t in [now, at] {
            assert_eq!(b.state(t), model.state_at(t.as_ticks()), "state at {t:?}");
            assert_eq!(
                b.retry_after(t),
                model.retry_after_at(t.as_ticks()),
                "retry_after at {t:?}"
            );
        }
        assert!(model.probes <= model.spec.probes, "more than K probes");
        assert_eq!(b.metrics().stale, model.stale, "stale permits");
        if model.state == State::Closed
            && (model.judged || !matches!(model.spec.policy, PolicySpec::Time { .. }))
        {
            assert!(
                !model.window_says_trip(clock.latest),
                "Closed while the window says trip"
            );
        }
        let state = b.state(at);
        if let Some(s) = shared.as_ref().filter(|_| compare) {
            assert_eq!(state, s.state(at), "state at {at:?}");
            assert_eq!(
                b.retry_after(at),
                s.retry_after(at),
                "retry_after at {at:?}"
            );
        }
        let mut copy = b.clone();
        match state {
            State::Closed => assert!(copy.try_acquire(at).is_ok(), "Closed refused at {at:?}"),
            State::Open => {
                let r = copy.try_acquire(at).expect_err("Open admitted");
                assert_eq!(r.state, State::Open);
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`run_breaker`] with the policy `spec` names, if its settings are valid.
fn run_spec(u: &mut Unstructured<'_>, spec: Spec) -> Result<()> {
    let p = spec.policy;
    if let Some(policy) = p.consecutive_policy() {
        run_breaker(u, spec, policy)
    } else if let Some(policy) = p.failure_count_policy() {
        run_breaker(u, spec, policy)
    } else if let Some(policy) = p.count_policy() {
        run_breaker(u, spec, policy)
    } else if let Some(policy) = p.time_policy() {
        run_breaker(u, spec, policy)
    } else {
        Ok(())
    }
}

/// Breaker, [`ConsecutiveFailures`](breaker::ConsecutiveFailures) policy,
/// `&mut`, shared and the model.
pub fn breaker_consecutive(data: &[u8]) {
    drive(data, |u| {
        let policy = PolicySpec::consecutive(u.arbitrary()?);
        let spec = breaker_spec(u, policy)?;
        run_spec(u, spec)
    });
}

/// Breaker, [`CountWindow`](breaker::CountWindow) policy (N = 8), `&mut`,
/// shared and the model.
pub fn breaker_count_window(data: &[u8]) {
    drive(data, |u| {
        let (pct, min) = (u.arbitrary()?, u.arbitrary()?);
        let spec = breaker_spec(u, PolicySpec::Count { pct, min })?;
        run_spec(u, spec)
    });
}

/// Breaker, [`TimeWindow`](breaker::TimeWindow) policy (B = 4), `&mut`,
/// shared where it has a shared form, and the model.
pub fn breaker_time_window(data: &[u8]) {
    drive(data, |u| {
        let (window, pct, min) = (duration(u)?.as_ticks(), u.arbitrary()?, u.arbitrary()?);
        let spec = breaker_spec(u, PolicySpec::Time { window, pct, min })?;
        run_spec(u, spec)
    });
}

/// Breaker, [`FailureCount`](breaker::FailureCount) policy with or without
/// a counting interval, and
/// [`ConsecutiveFailures`](breaker::ConsecutiveFailures) with or without
/// one, under every break-duration schedule ([`BreakDuration`]: constant,
/// geometric, linear, table), `&mut`, shared where the policy has a shared
/// form, and the model.
pub fn breaker_failure_count(data: &[u8]) {
    drive(data, |u| {
        let (threshold, interval, consecutive) = (u.arbitrary()?, interval(u)?, u.arbitrary()?);
        let policy = if consecutive {
            PolicySpec::Consecutive {
                threshold,
                interval,
            }
        } else {
            PolicySpec::FailureCount {
                threshold,
                interval,
            }
        };
        let schedule = schedule(u)?;
        let spec = spec_rest(u, schedule, policy)?;
        run_spec(u, spec)
    });
}

fn quota(u: &mut Unstructured<'_>) -> Result<Option<Quota>> {
    let rate = match u.int_in_range(0u8..=3)? {
        0 => u32::MAX,
        _ => u32::from(u.arbitrary::<u8>()?),
    };
    let burst = match u.int_in_range(0u8..=3)? {
        0 => u32::MAX,
        _ => u32::from(u.arbitrary::<u8>()?),
    };
    Ok(Quota::per_period(rate, duration(u)?)
        .allow_burst(burst)
        .build()
        .ok())
}

fn n(u: &mut Unstructured<'_>, burst: u32) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => 0,
        1 => burst,
        2 => burst.saturating_add(1),
        3 => u32::MAX,
        _ => 1,
    })
}

/// Token bucket, `&mut`, shared and the exact rational model
/// (`fusebox_models::rate::Bucket`): the same decisions, hints, `time_until`
/// and `available` at every step, including after time goes back
/// (documented: same rule for an earlier `now`). Invariants:
/// `available <= burst`; `n = 0` always admitted; `n > burst` never, with
/// no `retry_after`; an admission of `n` takes `n`.
pub fn token_bucket(data: &[u8]) {
    drive(data, |u| {
        let Some(q) = quota(u)? else { return Ok(()) };
        let mut b = TokenBucket::new(q);
        let s = SharedTokenBucket::new(q);
        let mut model = rate::Bucket::new(q);
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let k = n(u, q.burst())?;
            assert_eq!(
                b.time_until(k, now).ok(),
                model.time_until(k, now.as_ticks()),
                "time_until({k}) at {now:?}"
            );
            let before = b.available(now);
            let mine = b.try_acquire_n(k, now);
            assert_eq!(
                mine,
                model.try_acquire_n(k, now.as_ticks()),
                "model: try_acquire_n({k}) at {now:?}"
            );
            assert_eq!(b.available(now), model.available(now.as_ticks()));
            assert_eq!(
                mine,
                s.try_acquire_n(k, now),
                "try_acquire_n({k}) at {now:?}"
            );
            if k == 0 {
                assert!(mine.is_ok());
            }
            if k > q.burst() {
                assert_eq!(mine.map_err(|r| r.retry_after), Err(None));
                assert!(b.time_until(k, now).is_err());
            } else if mine.is_ok() {
                assert_eq!(b.available(now), before - k, "took {k} at {now:?}");
            } else {
                assert!(before < k);
            }
            assert!(b.available(now) <= q.burst());
            assert_eq!(b.available(now), s.available(now));
            assert_eq!(b.time_until(k, now), s.time_until(k, now));
        }
        Ok(())
    });
}

/// Keyed limiter (N = 4), `&mut` and shared with one shard (documented:
/// the same decisions, one for one, with the same seed), and under
/// `RejectNew` the model: every key the table tracks decides as its own
/// exact bucket (`fusebox_models::rate::Bucket`) judged at the latest
/// instant the limiter has seen; a key refused `TableFull` is not tracked.
pub fn keyed_limiter(data: &[u8]) {
    drive(data, |u| {
        let Some(q) = quota(u)? else { return Ok(()) };
        let policy = if u.arbitrary()? {
            WhenFull::RejectNew
        } else {
            WhenFull::EvictLeastRecent
        };
        let seed = Seed::new(u.arbitrary()?, u.arbitrary()?);
        let mut l: KeyedLimiter<u8, 4> = KeyedLimiter::new(q, seed, policy);
        let s: SharedKeyedLimiter<Raw, u8, 1, 4> = SharedKeyedLimiter::new(q, seed, policy);
        let mut model: HashMap<u8, rate::Bucket> = HashMap::new();
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let key = u.int_in_range(0u8..=9)?;
            let k = n(u, q.burst())?;
            let mine = l.try_acquire_n(key, k, now);
            assert_eq!(
                mine,
                s.try_acquire_n(key, k, now),
                "key {key} n {k} at {now:?}"
            );
            if policy == WhenFull::RejectNew {
                let bucket = model.entry(key).or_insert_with(|| rate::Bucket::new(q));
                match mine {
                    Err(KeyedRejected::TableFull) => assert!(!l.contains(&key)),
                    got => assert_eq!(
                        got,
                        bucket
                            .try_acquire_n(k, clock.latest)
                            .map_err(KeyedRejected::Limited),
                        "model: key {key} n {k} at {now:?}"
                    ),
                }
            }
            assert!(l.len() <= l.capacity());
            assert_eq!(l.len(), s.len());
            assert!(l.available(&key, now) <= q.burst());
            assert_eq!(l.available(&key, now), s.available(&key, now));
            assert_eq!(l.metrics(), s.metrics());
        }
        Ok(())
    });
}

/// Retry budget (S = 4), `&mut`, shared (documented: the same decisions;
/// the shared one runs the `&mut` code under its lock) and the model that
/// keeps the whole log (`fusebox_models::rate::Budget`): the same decisions
/// and `available` at every step, times going back included. (Where the
/// floor's reserve fills the budget's `i64` the budget saturates its sums
/// in order and the model does not: the model is then left out.)
pub fn retry_budget(data: &[u8]) {
    drive(data, |u| {
        let (percent, floor, ttl) = (u.arbitrary()?, u.arbitrary()?, duration(u)?);
        let Ok(mut b) = RetryBudget::builder()
            .slices::<4>()
            .percent_can_retry(percent)
            .min_retries_per_sec(floor)
            .ttl(ttl)
            .build()
        else {
            return Ok(());
        };
        let s: SharedRetryBudget<Raw, 4> = SharedRetryBudget::new(b.clone());
        let mut model = rate::Budget::new(percent, floor, ttl.as_ticks(), 4);
        let modelled = model.reserve < i128::from(i64::MAX / 2);
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            if u.arbitrary()? {
                b.deposit(now);
                s.deposit(now);
                model.apply(rate::BudgetOp::Deposit, now.as_ticks());
            } else {
                let before = b.available(now);
                let took = b.try_withdraw(now);
                let want = model.apply(rate::BudgetOp::Withdraw, now.as_ticks());
                if modelled {
                    assert_eq!(took, want, "model: withdraw at {now:?}");
                }
                assert_eq!(took, s.try_withdraw(now), "withdraw at {now:?}");
                assert_eq!(
                    took,
                    before >= 1,
                    "withdraw with {before} available at {now:?}"
                );
            }
            assert_eq!(b.available(now), s.available(now));
            if modelled {
                assert_eq!(b.available(now), model.available(now.as_ticks()));
            }
            assert_eq!(b, s.snapshot());
        }
        Ok(())
    });
}

/// SharedBulkhead, `&mut` (`Bulkhead`), shared (`SharedBulkhead`) and the model
/// (`fusebox_models::bulkhead::Counter`): the same admissions, rejections
/// and `set_limit` answers; `in_use` counts the tokens out,
/// `available = limit - in_use` saturating.
pub fn bulkhead(data: &[u8]) {
    drive(data, |u| {
        let limit = u.int_in_range(0u32..=20)?;
        let (Ok(mut b), Ok(s)) = (Bulkhead::new(limit), SharedBulkhead::new(limit)) else {
            assert!(Bulkhead::new(limit).is_err() && SharedBulkhead::new(limit).is_err());
            return Ok(());
        };
        let mut model = bulkhead_model::Counter::new(limit);
        let mut tokens = Vec::new();
        let mut permits = Vec::new();
        while !u.is_empty() {
            match u.int_in_range(0u8..=3)? {
                0 | 1 => {
                    let mine = b.try_acquire();
                    let theirs = s.try_acquire();
                    assert_eq!(mine.as_ref().err(), model.acquire().as_ref().err());
                    assert_eq!(mine.is_ok(), theirs.is_ok());
                    if let Ok(t) = mine {
                        tokens.push(t);
                    }
                    if let Ok(p) = theirs {
                        permits.push(p);
                    }
                }
                2 => {
                    if let Some(t) = tokens.pop() {
                        b.release(t);
                        drop(permits.pop());
                        model.release();
                    }
                }
                _ => {
                    let l = u.int_in_range(0u32..=20)?;
                    let mine = b.set_limit(l).map_err(|e| e.field());
                    assert_eq!(mine, model.set_limit(l), "set_limit({l})");
                    assert_eq!(mine.is_ok(), s.set_limit(l).is_ok());
                }
            }
            assert_eq!((b.in_use(), b.limit()), (model.in_use, model.limit));
            assert_eq!(b.available(), model.available());
            assert_eq!(b.in_use() as usize, tokens.len());
            assert_eq!(s.in_use() as usize, permits.len());
            assert_eq!((b.limit(), b.available()), (s.limit(), s.available()));
            assert_eq!(b.available(), b.limit().saturating_sub(b.in_use()));
        }
        for t in tokens {
            b.release(t);
        }
        drop(permits);
        assert_eq!((b.in_use(), s.in_use()), (0, 0));
        Ok(())
    });
}

/// Adaptive limit (AIMD), `&mut`, shared and the model of the AIMD law
/// (`fusebox_models::bulkhead::Aimd`): `min <= limit <= max` always; the
/// `&mut` limit follows the model at every step, times going back included,
/// and reports a change iff the limit moved; the shared one makes the same
/// changes while time moves forward (documented: they may differ after a
/// step back).
pub fn adaptive_limit(data: &[u8]) {
    drive(data, |u| {
        let (lo, hi): (u32, u32) = (u.arbitrary()?, u.arbitrary()?);
        let (initial, step, percent): (u32, u16, u8) =
            (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
        let (target, cooldown) = (duration(u)?, duration(u)?);
        let config = AimdConfig::new()
            .limits(lo, hi)
            .initial(initial)
            .increase(step)
            .backoff_percent(percent)
            .latency_target(target)
            .decrease_cooldown(cooldown);
        let Ok(mut l) = AdaptiveLimit::new(config) else {
            return Ok(());
        };
        let s = SharedAdaptiveLimit::from_limit(l.clone());
        let mut model = bulkhead_model::Aimd::new(
            (lo, hi),
            l.limit(),
            step,
            percent,
            target.as_ticks(),
            cooldown.as_ticks(),
        );
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let o = match u.int_in_range(0u8..=2)? {
                0 => bulkhead::Outcome::Success,
                1 => bulkhead::Outcome::Dropped,
                _ => bulkhead::Outcome::Ignored,
            };
            let latency = duration(u)?;
            let before = l.limit();
            let (mine, theirs) = if u.arbitrary()? {
                let f = u.arbitrary()?;
                model.record(o, latency.as_ticks(), Some(f), now.as_ticks());
                (
                    l.record_in_flight(o, latency, f, now),
                    s.record_in_flight(o, latency, f, now),
                )
            } else {
                model.record(o, latency.as_ticks(), None, now.as_ticks());
                (l.record(o, latency, now), s.record(o, latency, now))
            };
            assert_eq!(
                u128::from(l.limit()),
                model.limit,
                "model: {o:?} {latency:?} at {now:?}"
            );
            let moved = (before != l.limit()).then_some(LimitChange {
                from: before,
                to: l.limit(),
            });
            assert_eq!(mine, moved, "the change reported");
            if clock.monotone {
                assert_eq!(mine, theirs, "{o:?} at {now:?}");
                assert_eq!(l.limit(), s.limit());
            }
            assert!(
                (lo..=hi).contains(&l.limit()),
                "limit {} outside {lo}..={hi}",
                l.limit()
            );
            assert!((lo..=hi).contains(&s.limit()));
        }
        Ok(())
    });
}

/// Backoff: every delay within the cap (and the hint limit when a hint is
/// given), the attempt count and total delay within their limits, and once
/// stopped it stays stopped; without jitter every delay is the model's
/// (`fusebox_models::backoff::Schedule`, or the hint if longer), with full
/// or equal jitter within the model's band.
pub fn backoff(data: &[u8]) {
    drive(data, |u| {
        use backoff_model::Growth;
        let (initial, cap) = (duration(u)?, duration(u)?);
        let (config, growth) = match u.int_in_range(0u8..=3)? {
            0 => (backoff::Config::constant(initial), Growth::Constant),
            1 => {
                let step = duration(u)?;
                (
                    backoff::Config::linear(initial, step, cap),
                    Growth::Linear(step.as_ticks()),
                )
            }
            2 => {
                let f = u.arbitrary()?;
                (
                    backoff::Config::exponential(initial, f, cap),
                    Growth::Exp(f),
                )
            }
            _ => {
                let (num, den) = (u.arbitrary()?, u.arbitrary()?);
                (
                    backoff::Config::exponential_ratio(initial, num, den, cap),
                    Growth::Ratio(num, den),
                )
            }
        };
        let schedule = backoff_model::Schedule {
            growth,
            initial: initial.as_ticks(),
            cap: cap.as_ticks(),
        };
        let jitter = match u.int_in_range(0u8..=3)? {
            0 => Jitter::None,
            1 => Jitter::Full,
            2 => Jitter::Equal,
            _ => Jitter::Decorrelated,
        };
        let config = config
            .jitter(jitter)
            .max_attempts(u.arbitrary()?)
            .total_delay_budget(duration(u)?)
            .max_hint(duration(u)?);
        let Ok(mut b) = Backoff::new(config, u.arbitrary()?) else {
            return Ok(());
        };
        while !u.is_empty() {
            let hint = if u.arbitrary()? {
                Some(duration(u)?)
            } else {
                None
            };
            let before = b.total();
            let given = b.retries();
            match b.try_next(hint) {
                Ok(d) => {
                    // The model's un-jittered value, and the jitter's band.
                    let (v, h) = (schedule.value(given), hint.map_or(0, |h| h.as_ticks()));
                    let x = d.as_ticks();
                    match jitter {
                        Jitter::None => assert_eq!(x, v.max(h), "retry {given}"),
                        Jitter::Full => assert!(x <= v.max(h), "retry {given}: {x} > {v}"),
                        Jitter::Equal => {
                            assert!(x >= v / 2 && x <= v.max(h), "retry {given}: {x}, {v}")
                        }
                        Jitter::Decorrelated => assert!(x >= initial.as_ticks().min(v) || x >= h),
                    }
                    if hint.is_none() {
                        assert!(d <= config.cap(), "{d:?} over the cap {:?}", config.cap());
                    }
                    assert!(b.retries() <= config.attempts_limit());
                    assert_eq!(
                        b.total(),
                        Duration::from_ticks(before.as_ticks().saturating_add(d.as_ticks()))
                    );
                    assert!(b.total() <= config.budget());
                }
                Err(stop) => {
                    assert_eq!(b.stopped(), Some(stop));
                    assert_eq!(b.try_next(None), Err(stop));
                }
            }
            if u.int_in_range(0u8..=15)? == 0 {
                b.reset();
                assert_eq!((b.retries(), b.stopped()), (0, None));
            }
        }
        Ok(())
    });
}

/// Dedup table (N = 4), `&mut` and shared with one shard (documented: the
/// same decisions one for one, with the same seed, time rule included),
/// and the model (`fusebox_models::dedup::Model`, an unbounded map with the
/// TTL rules): a key is never `New` while an earlier ticket of it is live,
/// a done key answers its value, `complete` and `abandon` succeed exactly
/// for the current ticket, and the occupied count matches the live keys.
pub fn dedup(data: &[u8]) {
    drive(data, |u| {
        let eviction = if u.arbitrary()? {
            Eviction::KeepDone
        } else {
            Eviction::EvictDone
        };
        let config = dedup::Config::new()
            .in_flight_ttl(duration(u)?)
            .done_ttl(duration(u)?)
            .eviction(eviction);
        let seed = Seed::new(u.arbitrary()?, u.arbitrary()?);
        let Ok(mut t) = DedupTable::<u8, u32, 4>::new(config, seed) else {
            return Ok(());
        };
        let s = SharedDedupTable::<Raw, u8, u32, 1, 4>::new(config, seed).expect("same config");
        let mut model: dedup_model::Model<u8, u32> = dedup_model::Model::new(
            config.in_flight_time_to_live().as_ticks(),
            config.done_time_to_live().as_ticks(),
            eviction,
        );
        let mut clock = Clock::new(u)?;
        let mut tickets = Vec::new();
        while !u.is_empty() {
            let now = clock.step(u)?;
            match u.int_in_range(0u8..=3)? {
                0 | 1 => {
                    let key = u.int_in_range(0u8..=7)?;
                    // The model sees the instants the tables are told.
                    model.observe(now.as_ticks());
                    let mine = t.begin(key, now);
                    let theirs = s.begin(key, now);
                    let got = match (mine, theirs) {
                        (Begin::New(a), SharedBegin::New(b)) => {
                            tickets.push((a, b, key, 0));
                            Got::New
                        }
                        (Begin::InFlight, SharedBegin::InFlight) => Got::InFlight,
                        (Begin::Full, SharedBegin::Full) => Got::Full,
                        (Begin::Done(a), SharedBegin::Done(b)) => {
                            assert_eq!(*a, b);
                            Got::Done(b)
                        }
                        (m, th) => panic!("begin {key} at {now:?}: &mut {m:?}, shared {th:?}"),
                    };
                    // The model: the one answer the docs allow, except that
                    // a bounded table may be Full, and under EvictDone may
                    // have forgotten a done key (each paid by an eviction).
                    let mut live = model.live(key);
                    if eviction == Eviction::EvictDone
                        && matches!(live, Some(dedup_model::Entry::Done { .. }))
                        && matches!(got, Got::New | Got::Full)
                    {
                        model.forget(key);
                        assert!(model.forgotten <= t.metrics().evicted, "forgot unpaid");
                        live = None;
                    }
                    match (live, got) {
                        (Some(dedup_model::Entry::InFlight { .. }), Got::InFlight)
                        | (None, Got::Full) => {}
                        (Some(dedup_model::Entry::Done { value, .. }), Got::Done(v)) => {
                            assert_eq!(v, value, "begin {key}: the stored value")
                        }
                        (None, Got::New) => {
                            let id = model.begin_new(key);
                            if let Some(last) = tickets.last_mut() {
                                last.3 = id;
                            }
                        }
                        (live, got) => {
                            panic!("begin {key} at {now:?}: model {live:?}, table {got:?}")
                        }
                    }
                }
                2 if !tickets.is_empty() => {
                    let i = u.arbitrary::<usize>()? % tickets.len();
                    let (a, b, key, id) = tickets.remove(i);
                    let v = u.arbitrary()?;
                    model.observe(now.as_ticks());
                    let mine = t.complete(a, v, now);
                    assert_eq!(mine, s.complete(b, v, now), "complete at {now:?}");
                    assert_eq!(
                        mine.is_ok(),
                        model.complete(key, id, v),
                        "model: complete {key}"
                    );
                }
                3 if !tickets.is_empty() => {
                    let i = u.arbitrary::<usize>()? % tickets.len();
                    let (a, b, key, id) = tickets.remove(i);
                    model.observe(now.as_ticks());
                    let mine = t.abandon(a, now);
                    assert_eq!(mine, s.abandon(b, now), "abandon at {now:?}");
                    assert_eq!(mine, model.abandon(key, id), "model: abandon {key}");
                }
                _ => {}
            }
            let occupied = t.occupied(now);
            assert!(occupied <= 4);
            assert_eq!(occupied, s.occupied(now));
            // Against the model at the latest instant both have seen.
            let seen = t.occupied(Instant::from_ticks(model.latest));
            match eviction {
                Eviction::KeepDone => assert_eq!(seen, model.live_count(), "occupied"),
                Eviction::EvictDone => assert!(
                    model.in_flight_count() <= seen && seen <= model.live_count(),
                    "occupied {seen}"
                ),
            }
            for key in 0..8 {
                assert_eq!(t.get(&key, now).copied(), s.get(&key, now));
            }
            assert_eq!(t.metrics(), s.metrics());
        }
        Ok(())
    });
}

/// What `begin` answered, both tables agreeing.
#[derive(Debug)]
enum Got {
    New,
    InFlight,
    Full,
    Done(u32),
}

/// The histogram's type in the latency targets: the server preset.
type Hist = LatencyHistogram<5, 464, 5>;

/// The exact model of a [`Hist`] over `window`.
fn exact_window(window: Duration) -> latency_model::Window {
    latency_model::Window::new(window.as_ticks(), 5, Hist::MAX_TICKS)
}

/// A latency sample, recorded in the model at `now`.
fn sample(
    u: &mut Unstructured<'_>,
    model: &mut latency_model::Window,
    now: Instant,
) -> Result<Duration> {
    let v = duration(u)?;
    model.record(v.as_ticks(), now.as_ticks());
    Ok(v)
}

/// Latency histogram, against the exact window (`fusebox_models::latency::
/// Window`, every sample kept): the same count at every step, times going
/// back included; every quantile within `2^-P` of the exact nearest-rank
/// one and in its bucket, `None` exactly when the window is empty, and
/// monotone in `q`.
pub fn latency_histogram(data: &[u8]) {
    drive(data, |u| {
        let window = duration(u)?;
        let Ok(mut h) = Hist::new(window) else {
            return Ok(());
        };
        let mut model = exact_window(window);
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let at = now.as_ticks();
            if u.int_in_range(0u8..=3)? != 0 {
                h.record(sample(u, &mut model, now)?, now);
            } else if u.int_in_range(0u8..=7)? == 0 {
                h.clear();
                model.clear();
            }
            let count = h.count(now);
            assert_eq!(count, model.count(at), "count at {now:?}");
            let (q1, q2) = (
                u.int_in_range(0u32..=1_000_000)?,
                u.int_in_range(0u32..=1_000_000)?,
            );
            let (lo, hi) = (q1.min(q2), q1.max(q2));
            let (a, b) = (h.quantile(lo, now), h.quantile(hi, now));
            assert_eq!(a.is_none(), count == 0);
            assert_eq!(b.is_none(), count == 0);
            assert!(a <= b, "quantile({lo}) {a:?} > quantile({hi}) {b:?}");
            for (q, got) in [(lo, a), (hi, b)] {
                if let (Some(got), Some(x)) = (got, model.quantile(q, at)) {
                    let got = got.as_ticks();
                    assert!(
                        latency_model::within_bound(got, x, 5),
                        "quantile({q}) at {now:?}: {got}, exact {x}"
                    );
                    assert_eq!(Hist::bucket_of(got), Hist::bucket_of(x));
                }
            }
        }
        Ok(())
    });
}

/// Adaptive timeout: before `min_samples` samples (or with none) the
/// timeout is `initial`; after, the formula on a quantile within the
/// histogram's bound of the exact one (`fusebox_models::latency::
/// timeout_bounds`), always within `min..=max`, and the deadline is
/// `now + timeout`, saturating.
pub fn adaptive_timeout(data: &[u8]) {
    drive(data, |u| {
        let (initial, min, max) = (duration(u)?, duration(u)?, duration(u)?);
        let q = u.int_in_range(0u32..=1_000_001)?;
        let (num, den) = (u.int_in_range(0u32..=8)?, u.int_in_range(0u32..=8)?);
        let margin = duration(u)?;
        let min_samples = u.int_in_range(0u32..=10)?;
        let config = timeout::Config::new(initial, min, max)
            .quantile(q)
            .multiplier(num, den)
            .margin(margin)
            .min_samples(min_samples);
        let window = duration(u)?;
        let Ok(mut t) = AdaptiveTimeout::<5, 464, 5>::new(config, window) else {
            return Ok(());
        };
        let mut model = exact_window(window);
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let at = now.as_ticks();
            if u.int_in_range(0u8..=2)? != 0 {
                t.record(sample(u, &mut model, now)?, now);
            }
            let got = t.timeout(now);
            assert!(
                min <= got && got <= max,
                "timeout {got:?} outside min..=max"
            );
            let count = model.count(at);
            match model.quantile(q, at) {
                Some(x) if count >= u64::from(min_samples) => {
                    let (lo, hi) = latency_model::timeout_bounds(
                        x,
                        5,
                        (num, den),
                        margin.as_ticks(),
                        (min.as_ticks(), max.as_ticks()),
                    );
                    let g = got.as_ticks();
                    assert!(
                        lo <= g && g <= hi,
                        "timeout {g} not in {lo}..={hi} (x = {x})"
                    );
                }
                _ => assert_eq!(got, initial, "initial before {min_samples} samples"),
            }
            assert_eq!(
                t.deadline(now).as_ticks(),
                at.saturating_add(t.timeout(now).as_ticks())
            );
        }
        Ok(())
    });
}

/// Hedge policy: never more hedges than `max_hedges` per request, never a
/// hedge before `min_samples`; the delay is `max(quantile, min_delay)` with
/// the quantile within the bound of the exact window's
/// (`fusebox_models::latency::Window`), and the budget decides as the
/// retry-budget model with requests as deposits
/// (`fusebox_models::rate::Budget`, S = 5).
pub fn hedge_policy(data: &[u8]) {
    drive(data, |u| {
        let max_hedges = u.int_in_range(0u8..=4)?;
        let min_samples = u.int_in_range(0u32..=8)?;
        let q = u.int_in_range(0u32..=1_000_001)?;
        let (percent, floor) = (u.int_in_range(0u16..=1001)?, u.int_in_range(0u32..=3)?);
        let min_delay = duration(u)?;
        let config = hedge::Config::new()
            .quantile(q)
            .max_hedges(max_hedges)
            .budget_percent(percent)
            .min_hedges_per_sec(floor)
            .min_samples(min_samples)
            .min_delay(min_delay);
        let window = duration(u)?;
        let Ok(mut p) = HedgePolicy::<5, 464, 5>::new(config, window) else {
            return Ok(());
        };
        let mut samples = exact_window(window);
        let mut budget = rate::Budget::new(percent, floor, window.as_ticks(), 5);
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let at = now.as_ticks();
            match u.int_in_range(0u8..=3)? {
                0 | 1 => {
                    p.record(sample(u, &mut samples, now)?, now);
                    budget.apply(rate::BudgetOp::Deposit, at);
                }
                2 => {
                    let before = p.available(now);
                    let hedged = p.try_hedge(now);
                    assert_eq!(hedged, before >= 1, "try_hedge with {before} available");
                    let want = budget.apply(rate::BudgetOp::Withdraw, at);
                    assert_eq!(hedged, want, "model: try_hedge at {now:?}");
                }
                _ => {
                    let sent = u.int_in_range(0u32..=5)?;
                    let next = p.next_hedge_at(now, sent, now);
                    if sent >= u32::from(max_hedges) {
                        assert_eq!(next, None, "hedge {sent} past max_hedges");
                    }
                    let delay = p.delay(now);
                    let count = samples.count(at);
                    match (delay, samples.quantile(q, at)) {
                        (Some(d), Some(x)) => {
                            assert!(count >= u64::from(min_samples));
                            let d = d.as_ticks();
                            if d != min_delay.as_ticks() || x > d {
                                assert!(
                                    latency_model::within_bound(d, x, 5),
                                    "delay {d}, exact quantile {x}"
                                );
                            }
                            assert!(d >= min_delay.as_ticks());
                        }
                        (None, x) => {
                            assert!(x.is_none() || count < u64::from(min_samples));
                        }
                        (Some(_), None) => panic!("a delay from an empty window"),
                    }
                    if next.is_some() {
                        assert!(delay.is_some());
                    }
                }
            }
            assert_eq!(p.available(now), budget.available(at), "hedges available");
        }
        Ok(())
    });
}

/// Concurrent retry budget (`&mut`; it has no clock and no shared form)
/// against the formula (`fusebox_models::rate::ConcurrentBudget`): every
/// decision, count and limit, with finishes before starts and counts at
/// `u32::MAX` (bulk starts of up to 2^32) included; right after an
/// admission the retries in flight are within the limit.
pub fn concurrent_budget(data: &[u8]) {
    drive(data, |u| {
        let (percent, min) = (u.arbitrary()?, u.arbitrary()?);
        let Ok(mut b) = ConcurrentRetryBudget::builder()
            .budget_percent(percent)
            .min_retry_concurrency(min)
            .build()
        else {
            assert!(percent > 100);
            return Ok(());
        };
        let mut model = rate::ConcurrentBudget::new(percent, min);
        while !u.is_empty() {
            let times = match u.int_in_range(0u8..=7)? {
                0 => u.arbitrary::<u32>()?,
                _ => 1,
            };
            match u.int_in_range(0u8..=3)? {
                0 => {
                    for _ in 0..times.min(1 << 16) {
                        b.request_started();
                        model.request_started();
                    }
                }
                1 => {
                    b.request_finished();
                    model.request_finished();
                }
                2 => {
                    let (mine, want) = (b.try_start_retry(), model.try_start_retry());
                    assert_eq!(mine, want, "try_start_retry with {model:?}");
                    if mine {
                        assert!(b.retries_in_flight() <= b.limit());
                    }
                }
                _ => {
                    b.retry_finished();
                    model.retry_finished();
                }
            }
            assert_eq!(u64::from(b.requests_in_flight()), model.requests);
            assert_eq!(u64::from(b.retries_in_flight()), model.retries);
            assert_eq!(u64::from(b.limit()), model.limit());
        }
        Ok(())
    });
}
