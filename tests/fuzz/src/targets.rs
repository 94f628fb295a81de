//! The targets, one per primitive.
use crate::{Clock, drive, duration};
use arbitrary::{Result, Unstructured};
use fusebox::backoff::{self, Backoff, Jitter};
use fusebox::breaker::{
    self, CircuitBreaker, ConsecutiveFailures, CountWindow, Policy, SharedBreaker,
    SharedCircuitBreaker, State, TimeWindow,
};
use fusebox::bulkhead::{
    self, AdaptiveLimit, AimdConfig, Bulkhead, LocalBulkhead, SharedAdaptiveLimit,
};
use fusebox::dedup::{self, Begin, DedupTable, Eviction, SharedBegin, SharedDedupTable};
use fusebox::hash::Seed;
use fusebox::latency::{HedgeConfig, HedgePolicy, LatencyHistogram};
use fusebox::rate::{
    KeyedLimiter, Quota, RetryBudget, SharedKeyedLimiter, SharedRetryBudget, SharedTokenBucket,
    TokenBucket, WhenFull,
};
use fusebox::time::{Duration, Instant};

type Raw = spin::mutex::SpinMutex<()>;

/// At most this many permits, tickets or tokens held at once.
const HELD: usize = 16;

fn breaker_config(u: &mut Unstructured<'_>) -> Result<breaker::Config> {
    Ok(breaker::Config::new()
        .open_duration_growing(duration(u)?, u.arbitrary()?, duration(u)?)
        .half_open_probes(u.int_in_range(0..=40)?)
        .half_open_successes(u.int_in_range(0..=40)?)
        .probe_timeout(duration(u)?)
        .slow_calls(duration(u)?, u.arbitrary()?))
}

fn outcome(u: &mut Unstructured<'_>) -> Result<breaker::Outcome> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => breaker::Outcome::Success,
        1 => breaker::Outcome::Failure,
        _ => breaker::Outcome::Ignored,
    })
}

/// The breaker with policy `P`, `&mut` and (where the policy has one) shared,
/// fed the same operations. Invariants after every step: `Closed` admits,
/// `Open` refuses; a transition's `from` differs from its `to`. Agreement:
/// the shared breaker is linearizable to the `&mut` one (same decisions, one
/// caller here), but after a step back its time rule differs (it judges at
/// the instant its state records, the `&mut` one at the latest instant it
/// has seen), so the two are compared only while time has not gone back.
fn run_breaker<P: Policy + Clone, S: SharedBreaker<P>>(
    u: &mut Unstructured<'_>,
    policy: P,
) -> Result<()> {
    let config = breaker_config(u)?;
    let Ok(mut b) = CircuitBreaker::new(config, policy.clone()) else {
        return Ok(());
    };
    let shared = S::share(config, &policy).ok();
    let mut clock = Clock::new(u)?;
    let mut held = Vec::new();
    let mut held_shared = Vec::new();
    while !u.is_empty() {
        let now = clock.step(u)?;
        let compare = clock.monotone;
        match u.int_in_range(0u8..=7)? {
            0..=2 => {
                let mine = b.try_acquire(now);
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
                if let Ok(p) = mine {
                    if let Some(t) = p.transition() {
                        assert_ne!(t.from, t.to);
                    }
                    held.push(p);
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
                let mine =
                    (!held.is_empty()).then(|| b.record(held.remove(i % held.len()), o, now));
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
                let mine = match op {
                    0 => b.isolate(),
                    1 => b.force_closed(),
                    _ => b.reset(),
                };
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
        // Invariants at the latest instant seen, on a copy (so the check
        // does not change what the sequence does next).
        let at = Instant::from_ticks(clock.latest);
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

/// Breaker, [`ConsecutiveFailures`] policy, `&mut` and shared.
pub fn breaker_consecutive(data: &[u8]) {
    drive(data, |u| match ConsecutiveFailures::new(u.arbitrary()?) {
        Ok(p) => run_breaker::<_, SharedCircuitBreaker<ConsecutiveFailures>>(u, p),
        Err(_) => Ok(()),
    });
}

/// Breaker, [`CountWindow`] policy (N = 8), `&mut` and shared.
pub fn breaker_count_window(data: &[u8]) {
    drive(data, |u| {
        match CountWindow::<8>::new(u.arbitrary()?, u.arbitrary()?) {
            Ok(p) => run_breaker::<_, SharedCircuitBreaker<CountWindow<8>>>(u, p),
            Err(_) => Ok(()),
        }
    });
}

/// Breaker, [`TimeWindow`] policy (B = 4), `&mut` and shared.
pub fn breaker_time_window(data: &[u8]) {
    drive(data, |u| {
        match TimeWindow::<4>::new(duration(u)?, u.arbitrary()?, u.arbitrary()?) {
            Ok(p) => run_breaker::<_, SharedCircuitBreaker<TimeWindow<4>>>(u, p),
            Err(_) => Ok(()),
        }
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
    Ok(Quota::new(rate, duration(u)?, burst).ok())
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

/// Token bucket, `&mut` and shared: the same decisions at every step,
/// including after time goes back (documented: same rule for an earlier
/// `now`). Invariants: `available <= burst`; `n = 0` always admitted;
/// `n > burst` never, with no `retry_after`; an admission of `n` takes `n`.
pub fn token_bucket(data: &[u8]) {
    drive(data, |u| {
        let Some(q) = quota(u)? else { return Ok(()) };
        let mut b = TokenBucket::new(q);
        let s = SharedTokenBucket::new(q);
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let k = n(u, q.burst())?;
            let before = b.available(now);
            let mine = b.try_acquire_n(k, now);
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
/// the same decisions, one for one, with the same seed).
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
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let key = u.int_in_range(0u8..=9)?;
            let k = n(u, q.burst())?;
            assert_eq!(
                l.try_acquire_n(key, k, now),
                s.try_acquire_n(key, k, now),
                "key {key} n {k} at {now:?}"
            );
            assert!(l.len() <= l.capacity());
            assert_eq!(l.len(), s.len());
            assert!(l.available(&key, now) <= q.burst());
            assert_eq!(l.available(&key, now), s.available(&key, now));
            assert_eq!(l.metrics(), s.metrics());
        }
        Ok(())
    });
}

/// Retry budget (S = 4), `&mut` and shared (documented: the same
/// decisions; the shared one runs the `&mut` code under its lock).
pub fn retry_budget(data: &[u8]) {
    drive(data, |u| {
        let Ok(mut b) = RetryBudget::<4>::new(u.arbitrary()?, u.arbitrary()?, duration(u)?) else {
            return Ok(());
        };
        let s: SharedRetryBudget<Raw, 4> = SharedRetryBudget::from_budget(b.clone());
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            if u.arbitrary()? {
                b.deposit(now);
                s.deposit(now);
            } else {
                let before = b.available(now);
                let took = b.try_withdraw(now);
                assert_eq!(took, s.try_withdraw(now), "withdraw at {now:?}");
                assert_eq!(
                    took,
                    before >= 1,
                    "withdraw with {before} available at {now:?}"
                );
            }
            assert_eq!(b.available(now), s.available(now));
            assert_eq!(b, s.snapshot());
        }
        Ok(())
    });
}

/// Bulkhead, `&mut` (`LocalBulkhead`) and shared (`Bulkhead`): the same
/// admissions; `in_use` counts the tokens out, `available = limit - in_use`
/// saturating.
pub fn bulkhead(data: &[u8]) {
    drive(data, |u| {
        let limit = u.int_in_range(0u32..=20)?;
        let (Ok(mut b), Ok(s)) = (LocalBulkhead::new(limit), Bulkhead::new(limit)) else {
            assert!(LocalBulkhead::new(limit).is_err() && Bulkhead::new(limit).is_err());
            return Ok(());
        };
        let mut tokens = Vec::new();
        let mut permits = Vec::new();
        while !u.is_empty() {
            match u.int_in_range(0u8..=3)? {
                0 | 1 => {
                    let mine = b.try_acquire();
                    let theirs = s.try_acquire();
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
                    }
                }
                _ => {
                    let l = u.int_in_range(0u32..=20)?;
                    assert_eq!(b.set_limit(l).is_ok(), s.set_limit(l).is_ok());
                }
            }
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

/// Adaptive limit (AIMD), `&mut` and shared: `min <= limit <= max` always;
/// the same changes while time moves forward (documented: they may differ
/// after a step back).
pub fn adaptive_limit(data: &[u8]) {
    drive(data, |u| {
        let (lo, hi): (u32, u32) = (u.arbitrary()?, u.arbitrary()?);
        let config = AimdConfig::new()
            .limits(lo, hi)
            .initial(u.arbitrary()?)
            .increase(u.arbitrary()?)
            .backoff_percent(u.arbitrary()?)
            .latency_target(duration(u)?)
            .decrease_cooldown(duration(u)?);
        let Ok(mut l) = AdaptiveLimit::new(config) else {
            return Ok(());
        };
        let s = SharedAdaptiveLimit::from_limit(l.clone());
        let mut clock = Clock::new(u)?;
        while !u.is_empty() {
            let now = clock.step(u)?;
            let o = match u.int_in_range(0u8..=2)? {
                0 => bulkhead::Outcome::Success,
                1 => bulkhead::Outcome::Dropped,
                _ => bulkhead::Outcome::Ignored,
            };
            let latency = duration(u)?;
            let (mine, theirs) = if u.arbitrary()? {
                let f = u.arbitrary()?;
                (
                    l.record_in_flight(o, latency, f, now),
                    s.record_in_flight(o, latency, f, now),
                )
            } else {
                (l.record(o, latency, now), s.record(o, latency, now))
            };
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
/// stopped it stays stopped.
pub fn backoff(data: &[u8]) {
    drive(data, |u| {
        let (initial, cap) = (duration(u)?, duration(u)?);
        let config = match u.int_in_range(0u8..=3)? {
            0 => backoff::Config::constant(initial),
            1 => backoff::Config::linear(initial, duration(u)?, cap),
            2 => backoff::Config::exponential(initial, u.arbitrary()?, cap),
            _ => backoff::Config::exponential_ratio(initial, u.arbitrary()?, u.arbitrary()?, cap),
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
            match b.try_next(hint) {
                Ok(d) => {
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
/// same decisions one for one, with the same seed, time rule included).
/// Invariants: a key is never `New` while an earlier ticket of it is live
/// and not expired (checked through agreement and `occupied <= N`).
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
        let mut clock = Clock::new(u)?;
        let mut tickets = Vec::new();
        while !u.is_empty() {
            let now = clock.step(u)?;
            match u.int_in_range(0u8..=3)? {
                0 | 1 => {
                    let key = u.int_in_range(0u8..=7)?;
                    let mine = t.begin(key, now);
                    let theirs = s.begin(key, now);
                    match (mine, theirs) {
                        (Begin::New(a), SharedBegin::New(b)) => tickets.push((a, b)),
                        (Begin::InFlight, SharedBegin::InFlight)
                        | (Begin::Full, SharedBegin::Full) => {}
                        (Begin::Done(a), SharedBegin::Done(b)) => assert_eq!(*a, b),
                        (m, th) => panic!("begin {key} at {now:?}: &mut {m:?}, shared {th:?}"),
                    }
                }
                2 if !tickets.is_empty() => {
                    let i = u.arbitrary::<usize>()? % tickets.len();
                    let (a, b) = tickets.remove(i);
                    let v = u.arbitrary()?;
                    assert_eq!(
                        t.complete(a, v, now),
                        s.complete(b, v, now),
                        "complete at {now:?}"
                    );
                }
                3 if !tickets.is_empty() => {
                    let i = u.arbitrary::<usize>()? % tickets.len();
                    let (a, b) = tickets.remove(i);
                    assert_eq!(t.abandon(a, now), s.abandon(b, now), "abandon at {now:?}");
                }
                _ => {}
            }
            let occupied = t.occupied(now);
            assert!(occupied <= 4);
            assert_eq!(occupied, s.occupied(now));
            for key in 0..8 {
                assert_eq!(t.get(&key, now).copied(), s.get(&key, now));
            }
            assert_eq!(t.metrics(), s.metrics());
        }
        Ok(())
    });
}

/// Latency histogram: the count never exceeds what was recorded, and
/// quantiles are monotone in `q` and `None` exactly when the count is 0.
pub fn latency_histogram(data: &[u8]) {
    drive(data, |u| {
        let Ok(mut h) = LatencyHistogram::<5, 464, 5>::new(duration(u)?) else {
            return Ok(());
        };
        let mut clock = Clock::new(u)?;
        let mut recorded = 0u64;
        while !u.is_empty() {
            let now = clock.step(u)?;
            if u.int_in_range(0u8..=3)? != 0 {
                h.record(duration(u)?, now);
                recorded += 1;
            } else if u.int_in_range(0u8..=7)? == 0 {
                h.clear();
                recorded = 0;
            }
            let count = h.count(now);
            assert!(count <= recorded, "count {count} > recorded {recorded}");
            let (q1, q2) = (
                u.int_in_range(0u32..=1_000_000)?,
                u.int_in_range(0u32..=1_000_000)?,
            );
            let (lo, hi) = (q1.min(q2), q1.max(q2));
            let (a, b) = (h.quantile(lo, now), h.quantile(hi, now));
            assert_eq!(a.is_none(), count == 0);
            assert_eq!(b.is_none(), count == 0);
            assert!(a <= b, "quantile({lo}) {a:?} > quantile({hi}) {b:?}");
        }
        Ok(())
    });
}

/// Hedge policy: never more hedges than `max_hedges` per request, never a
/// hedge before `min_samples`, the budget never spends what it lacks.
pub fn hedge_policy(data: &[u8]) {
    drive(data, |u| {
        let max_hedges = u.int_in_range(0u8..=4)?;
        let min_samples = u.int_in_range(0u32..=8)?;
        let config = HedgeConfig::new()
            .quantile(u.int_in_range(0u32..=1_000_001)?)
            .max_hedges(max_hedges)
            .budget(u.int_in_range(0u16..=1001)?, u.int_in_range(0u32..=3)?)
            .min_samples(min_samples)
            .min_delay(duration(u)?);
        let Ok(mut p) = HedgePolicy::<5, 464, 5>::new(config, duration(u)?) else {
            return Ok(());
        };
        let mut clock = Clock::new(u)?;
        let mut samples = 0u32;
        while !u.is_empty() {
            let now = clock.step(u)?;
            match u.int_in_range(0u8..=3)? {
                0 | 1 => {
                    p.record(duration(u)?, now);
                    samples = samples.saturating_add(1);
                }
                2 => {
                    let before = p.available(now);
                    let hedged = p.try_hedge(now);
                    assert_eq!(hedged, before >= 1, "try_hedge with {before} available");
                }
                _ => {
                    let sent = u.int_in_range(0u32..=5)?;
                    let at = p.next_hedge_at(now, sent, now);
                    if sent >= u32::from(max_hedges) {
                        assert_eq!(at, None, "hedge {sent} past max_hedges");
                    }
                    if at.is_some() {
                        assert!(p.delay(now).is_some());
                        assert!(samples >= min_samples);
                    }
                }
            }
        }
        Ok(())
    });
}
