//! Bad input, one table (issue #19).
//!
//! Every row drives one primitive with one bad or extreme input (a config
//! field at 0, at 1, at its maximum, just out of range; a method at time 0,
//! at `u64::MAX`, with time going backwards, `n = 0`, `n` over the burst, a
//! full table, a ticket or token from another instance) and checks the
//! documented result: a value, or a `ConfigError` whose message names the
//! field and its range. No row may panic: the runner catches panics and
//! reports every failing row at once, not just the first.
//!
//! This file is in `fusebox-scenarios`, which CI also runs under Miri.
//! A new primitive joins by adding its rows to `ROWS`.
use fusebox::ConfigError;
use fusebox::backoff::{self, Backoff};
use fusebox::breaker::{
    self, CircuitBreaker, ConsecutiveFailures, CountWindow, FailureCount, Outcome, TimeWindow,
};
use fusebox::bulkhead::{AdaptiveLimit, AimdConfig, Bulkhead};
use fusebox::dedup::{self, Begin, DedupTable};
use fusebox::hash::Seed;
use fusebox::latency::{AdaptiveTimeout, HedgePolicy, LatencyHistogram, hedge, timeout};
use fusebox::rate::{
    ConcurrentRetryBudget, KeyedLimiter, KeyedRejected, Quota, RetryBudget, TokenBucket, WhenFull,
};
use fusebox::time::{Duration, Instant};

/// One row: the primitive, the input, the documented result, and the check.
struct Row {
    primitive: &'static str,
    input: &'static str,
    documented: &'static str,
    check: fn() -> Result<(), String>,
}

const fn t(ticks: u64) -> Instant {
    Instant::from_ticks(ticks)
}
const fn d(ticks: u64) -> Duration {
    Duration::from_ticks(ticks)
}
const MAX: Instant = Instant::from_ticks(u64::MAX);
/// A break-duration table with a 0 entry (the tables are `'static`).
static WITH_ZERO: [Duration; 2] = [d(5), d(0)];

/// A config error must name `field` and say what the range is.
fn config_err<T>(r: Result<T, ConfigError>, field: &str) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!("accepted; expected a ConfigError naming `{field}`")),
        Err(e) => {
            let msg = e.to_string();
            if e.field() != field {
                return Err(format!(
                    "error names `{}`, expected `{field}`: {msg}",
                    e.field()
                ));
            }
            if !msg.contains(field) || !msg.contains("must") || e.requirement().is_empty() {
                return Err(format!(
                    "message does not name the field and its range: {msg}"
                ));
            }
            Ok(())
        }
    }
}

fn ok<T, E: core::fmt::Debug>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("rejected: {e:?}"))
}

fn expect<T: PartialEq + core::fmt::Debug>(got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got:?}, documented {want:?}"))
    }
}

fn cfg() -> breaker::Config {
    breaker::Config::new()
        .open_duration(d(100))
        .probe_timeout(d(50))
}

macro_rules! row {
    ($p:literal, $input:literal, $doc:literal, $body:expr) => {
        Row {
            primitive: $p,
            input: $input,
            documented: $doc,
            check: $body,
        }
    };
}

const ROWS: &[Row] = &[
    // ---- breaker::Config: every field at 0, 1, max, out of range ----
    row!(
        "breaker::Config",
        "open_duration = 0",
        "ConfigError(open_duration)",
        || config_err(cfg().open_duration(d(0)).validate(), "open_duration")
    ),
    row!("breaker::Config", "open_duration = 1 tick", "valid", || ok(
        cfg().open_duration(d(1)).validate()
    )),
    row!(
        "breaker::Config",
        "open_duration = u64::MAX ticks",
        "valid",
        || ok(cfg().open_duration(d(u64::MAX)).validate())
    ),
    row!(
        "breaker::Config",
        "open_duration_growing factor = 0",
        "ConfigError(open_duration_growing.factor)",
        || config_err(
            cfg().open_duration_growing(d(10), 0, d(100)).validate(),
            "open_duration_growing.factor"
        )
    ),
    row!(
        "breaker::Config",
        "open_duration_growing factor = u32::MAX, max = u64::MAX",
        "valid",
        || ok(cfg()
            .open_duration_growing(d(10), u32::MAX, d(u64::MAX))
            .validate())
    ),
    row!(
        "breaker::Config",
        "open_duration_growing max < initial",
        "ConfigError(open_duration_growing.max)",
        || config_err(
            cfg().open_duration_growing(d(10), 2, d(9)).validate(),
            "open_duration_growing.max"
        )
    ),
    row!(
        "breaker::Config",
        "half_open_probes = 0",
        "ConfigError(half_open_probes)",
        || config_err(cfg().half_open_probes(0).validate(), "half_open_probes")
    ),
    row!(
        "breaker::Config",
        "half_open_probes = 1 and u16::MAX",
        "valid",
        || {
            ok(cfg().half_open_probes(1).validate())?;
            ok(cfg().half_open_probes(u16::MAX).validate())
        }
    ),
    row!(
        "breaker::Config",
        "half_open_successes = 0",
        "ConfigError(half_open_successes)",
        || config_err(
            cfg().half_open_successes(0).validate(),
            "half_open_successes"
        )
    ),
    row!(
        "breaker::Config",
        "half_open_successes = u16::MAX",
        "valid",
        || ok(cfg().half_open_successes(u16::MAX).validate())
    ),
    row!(
        "breaker::Config",
        "probe_timeout = 0",
        "ConfigError(probe_timeout)",
        || config_err(cfg().probe_timeout(d(0)).validate(), "probe_timeout")
    ),
    row!(
        "breaker::Config",
        "probe_timeout = u64::MAX ticks",
        "valid",
        || ok(cfg().probe_timeout(d(u64::MAX)).validate())
    ),
    row!(
        "breaker::Config",
        "slow_calls duration = 0",
        "ConfigError(slow_calls.duration)",
        || config_err(cfg().slow_calls(d(0), 50).validate(), "slow_calls.duration")
    ),
    row!(
        "breaker::Config",
        "slow_calls percent = 0",
        "ConfigError(slow_calls.percent)",
        || config_err(cfg().slow_calls(d(5), 0).validate(), "slow_calls.percent")
    ),
    row!(
        "breaker::Config",
        "slow_calls percent = 101",
        "ConfigError(slow_calls.percent)",
        || config_err(cfg().slow_calls(d(5), 101).validate(), "slow_calls.percent")
    ),
    row!(
        "breaker::Config",
        "slow_calls percent = 1 and 100",
        "valid",
        || {
            ok(cfg().slow_calls(d(1), 1).validate())?;
            ok(cfg().slow_calls(d(u64::MAX), 100).validate())
        }
    ),
    // ---- breaker policies ----
    row!(
        "ConsecutiveFailures",
        "threshold = 0",
        "ConfigError(failure_threshold)",
        || config_err(ConsecutiveFailures::new(0), "failure_threshold")
    ),
    row!(
        "ConsecutiveFailures",
        "threshold = 1 and u32::MAX",
        "valid",
        || {
            ok(ConsecutiveFailures::new(1))?;
            ok(ConsecutiveFailures::new(u32::MAX)).map(drop)
        }
    ),
    row!(
        "CountWindow",
        "N = 0",
        "ConfigError(CountWindow::<N>)",
        || config_err(
            CountWindow::<0>::builder()
                .failure_rate(50)
                .minimum_calls(1)
                .build(),
            "CountWindow::<N>"
        )
    ),
    row!(
        "CountWindow",
        "failure_rate = 0",
        "ConfigError(failure_rate)",
        || config_err(
            CountWindow::<8>::builder()
                .failure_rate(0)
                .minimum_calls(1)
                .build(),
            "failure_rate"
        )
    ),
    row!(
        "CountWindow",
        "failure_rate = 101",
        "ConfigError(failure_rate)",
        || config_err(
            CountWindow::<8>::builder()
                .failure_rate(101)
                .minimum_calls(1)
                .build(),
            "failure_rate"
        )
    ),
    row!(
        "CountWindow",
        "minimum_calls = 0",
        "ConfigError(minimum_calls)",
        || config_err(
            CountWindow::<8>::builder()
                .failure_rate(50)
                .minimum_calls(0)
                .build(),
            "minimum_calls"
        )
    ),
    row!(
        "CountWindow",
        "minimum_calls = N + 1",
        "ConfigError(minimum_calls)",
        || config_err(
            CountWindow::<8>::builder()
                .failure_rate(50)
                .minimum_calls(9)
                .build(),
            "minimum_calls"
        )
    ),
    row!(
        "CountWindow",
        "N = 1, percent 1 and 100, minimum_calls = N",
        "valid",
        || {
            ok(CountWindow::<1>::builder()
                .failure_rate(1)
                .minimum_calls(1)
                .build())?;
            ok(CountWindow::<8>::builder()
                .failure_rate(100)
                .minimum_calls(8)
                .build())
            .map(drop)
        }
    ),
    row!(
        "TimeWindow",
        "B = 0",
        "ConfigError(TimeWindow::<B>)",
        || config_err(
            TimeWindow::<0>::builder(d(10))
                .failure_rate(50)
                .minimum_calls(1)
                .build(),
            "TimeWindow::<B>"
        )
    ),
    row!(
        "TimeWindow",
        "window = B - 1 ticks",
        "ConfigError(window)",
        || config_err(
            TimeWindow::<4>::builder(d(3))
                .failure_rate(50)
                .minimum_calls(1)
                .build(),
            "window"
        )
    ),
    row!(
        "TimeWindow",
        "window = B ticks and u64::MAX",
        "valid",
        || {
            ok(TimeWindow::<4>::builder(d(4))
                .failure_rate(50)
                .minimum_calls(1)
                .build())?;
            ok(TimeWindow::<4>::builder(d(u64::MAX))
                .failure_rate(50)
                .minimum_calls(1)
                .build())
            .map(drop)
        }
    ),
    row!(
        "TimeWindow",
        "failure_rate = 101",
        "ConfigError(failure_rate)",
        || config_err(
            TimeWindow::<4>::builder(d(40))
                .failure_rate(101)
                .minimum_calls(1)
                .build(),
            "failure_rate"
        )
    ),
    row!(
        "TimeWindow",
        "minimum_calls = 0",
        "ConfigError(minimum_calls)",
        || config_err(
            TimeWindow::<4>::builder(d(40))
                .failure_rate(50)
                .minimum_calls(0)
                .build(),
            "minimum_calls"
        )
    ),
    // ---- CircuitBreaker methods ----
    row!(
        "CircuitBreaker",
        "try_acquire at 0 and at u64::MAX",
        "admitted (Closed)",
        || {
            let mut b = ok(CircuitBreaker::new(cfg(), ok(ConsecutiveFailures::new(1))?))?;
            let p = ok(b.try_acquire(t(0)))?;
            let _ = b.record(p, Outcome::Success, t(0));
            let p = ok(b.try_acquire(MAX))?;
            let _ = b.record(p, Outcome::Success, MAX);
            expect(b.state(MAX), breaker::State::Closed)
        }
    ),
    row!(
        "CircuitBreaker",
        "trip at u64::MAX - 1",
        "Open; the open deadline saturates at u64::MAX (no wrap to an early close)",
        || {
            let mut b = ok(CircuitBreaker::new(cfg(), ok(ConsecutiveFailures::new(1))?))?;
            let p = ok(b.try_acquire(t(u64::MAX - 1)))?;
            let _ = b.record(p, Outcome::Failure, t(u64::MAX - 1));
            expect(b.state(t(u64::MAX - 1)), breaker::State::Open)?;
            expect(b.try_acquire(t(u64::MAX - 1)).is_err(), true)?;
            // The saturated deadline is reached at the end of time: a probe.
            expect(b.state(MAX), breaker::State::HalfOpen)
        }
    ),
    row!(
        "CircuitBreaker",
        "time going backwards after a trip",
        "judged at the latest instant: still Open",
        || {
            let mut b = ok(CircuitBreaker::new(cfg(), ok(ConsecutiveFailures::new(1))?))?;
            let p = ok(b.try_acquire(t(1_000)))?;
            let _ = b.record(p, Outcome::Failure, t(1_000));
            expect(b.try_acquire(t(0)).is_err(), true)?;
            expect(b.state(t(0)), breaker::State::Open)
        }
    ),
    row!(
        "CircuitBreaker",
        "permit from another instance",
        "no panic; the other breaker stays within its states",
        || {
            let mut a = ok(CircuitBreaker::new(cfg(), ok(ConsecutiveFailures::new(1))?))?;
            let mut b = ok(CircuitBreaker::new(cfg(), ok(ConsecutiveFailures::new(1))?))?;
            let p = ok(a.try_acquire(t(5)))?;
            let _ = b.record(p, Outcome::Success, t(6));
            expect(b.state(t(6)), breaker::State::Closed)
        }
    ),
    // ---- rate::Quota and TokenBucket ----
    row!("Quota", "rate = 0", "ConfigError(rate)", || config_err(
        Quota::per_period(0, d(10)).allow_burst(1).build(),
        "rate"
    )),
    row!("Quota", "period = 0", "ConfigError(period)", || config_err(
        Quota::per_period(1, d(0)).build(),
        "period"
    )),
    row!("Quota", "burst = 0", "ConfigError(burst)", || config_err(
        Quota::per_period(1, d(10)).allow_burst(0).build(),
        "burst"
    )),
    row!(
        "Quota",
        "per_second(0)",
        "ConfigError(rate)",
        || config_err(Quota::per_second(0).build(), "rate")
    ),
    row!(
        "Quota",
        "rate, period, burst all 1 and all MAX",
        "valid",
        || {
            ok(Quota::per_period(1, d(1)).build())?;
            ok(Quota::per_period(u32::MAX, d(u64::MAX)).build()).map(drop)
        }
    ),
    row!(
        "TokenBucket",
        "try_acquire_n(0) on an empty bucket",
        "admitted, takes nothing",
        || {
            let mut b = TokenBucket::new(ok(Quota::per_period(1, d(100)).build())?);
            ok(b.try_acquire(t(0)))?;
            ok(b.try_acquire_n(0, t(0)))?;
            expect(b.available(t(0)), 0)
        }
    ),
    row!(
        "TokenBucket",
        "try_acquire_n(burst + 1)",
        "Rejected with retry_after None; time_until is ExceedsBurst",
        || {
            let mut b = TokenBucket::new(ok(Quota::per_period(1, d(100)).allow_burst(4).build())?);
            let r = b
                .try_acquire_n(5, t(0))
                .err()
                .ok_or("admitted n over the burst")?;
            expect(r.retry_after, None)?;
            expect(b.time_until(5, t(0)).is_err(), true)?;
            expect(b.available(t(0)), 4)
        }
    ),
    row!(
        "TokenBucket",
        "first call at u64::MAX, then u64::MAX again",
        "full bucket, then burst taken",
        || {
            let mut b = TokenBucket::new(ok(Quota::per_period(u32::MAX, d(1)).build())?);
            ok(b.try_acquire_n(u32::MAX, MAX))?;
            expect(b.available(MAX), 0)
        }
    ),
    row!(
        "TokenBucket",
        "time going backwards",
        "judged at the latest instant (no refill, no extra tokens)",
        || {
            let mut b = TokenBucket::new(ok(Quota::per_period(1, d(100)).build())?);
            ok(b.try_acquire(t(1_000)))?;
            expect(b.try_acquire(t(0)).is_err(), true)?;
            expect(b.available(t(0)), 0)
        }
    ),
    // ---- RetryBudget ----
    row!(
        "RetryBudget",
        "percent_can_retry = 1001",
        "ConfigError(percent_can_retry)",
        || config_err(
            RetryBudget::<10>::builder()
                .percent_can_retry(1001)
                .min_retries_per_sec(1)
                .ttl(d(100))
                .build(),
            "percent_can_retry"
        )
    ),
    row!(
        "RetryBudget",
        "percent = 0 and 1000, floor 0 and u32::MAX",
        "valid",
        || {
            ok(RetryBudget::<10>::builder()
                .percent_can_retry(0)
                .min_retries_per_sec(0)
                .ttl(d(100))
                .build())?;
            ok(RetryBudget::<10>::builder()
                .percent_can_retry(1000)
                .min_retries_per_sec(u32::MAX)
                .ttl(d(u64::MAX))
                .build())
            .map(drop)
        }
    ),
    row!(
        "RetryBudget",
        "ttl < S - 1 ticks",
        "ConfigError(ttl)",
        || config_err(
            RetryBudget::<10>::builder()
                .percent_can_retry(10)
                .min_retries_per_sec(1)
                .ttl(d(8))
                .build(),
            "ttl"
        )
    ),
    row!(
        "RetryBudget",
        "S = 1",
        "ConfigError(RetryBudget::<S>)",
        || {
            let e = RetryBudget::builder()
                .slices::<1>()
                .percent_can_retry(10)
                .min_retries_per_sec(1)
                .ttl(d(8))
                .build()
                .err()
                .ok_or("S = 1 accepted")?;
            config_err::<()>(Err(e), e.field()).and_then(|()| {
                if e.field().contains('S') {
                    Ok(())
                } else {
                    Err(format!("field {}", e.field()))
                }
            })
        }
    ),
    row!(
        "RetryBudget",
        "floor 0, percent 0: withdraw at 0 and u64::MAX",
        "refused",
        || {
            let mut b = ok(RetryBudget::<10>::builder()
                .percent_can_retry(0)
                .min_retries_per_sec(0)
                .ttl(d(100))
                .build())?;
            expect(b.try_withdraw(t(0)), false)?;
            expect(b.try_withdraw(MAX), false)
        }
    ),
    row!(
        "RetryBudget",
        "deposits at u64::MAX then withdraw at 0 (backwards)",
        "judged at the latest instant: deposits still count",
        || {
            let mut b = ok(RetryBudget::<10>::builder()
                .percent_can_retry(100)
                .min_retries_per_sec(0)
                .ttl(d(100))
                .build())?;
            b.deposit(MAX);
            expect(b.try_withdraw(t(0)), true)?;
            expect(b.available(t(0)), 0)
        }
    ),
    // ---- bulkheads ----
    row!("Bulkhead", "limit = 0", "ConfigError(limit)", || {
        config_err(Bulkhead::new(0), "limit")
    }),
    row!("Bulkhead", "limit = 1: second acquire", "Rejected", || {
        let mut b = ok(Bulkhead::new(1))?;
        let tok = ok(b.try_acquire())?;
        expect(b.try_acquire().is_err(), true)?;
        b.release(tok);
        expect(b.in_use(), 0)
    }),
    row!(
        "Bulkhead",
        "set_limit(0)",
        "ConfigError(limit), limit unchanged",
        || {
            let mut b = ok(Bulkhead::new(u32::MAX))?;
            config_err(b.set_limit(0), "limit")?;
            expect(b.limit(), u32::MAX)
        }
    ),
    row!(
        "Bulkhead",
        "token from another instance",
        "in_use saturates at 0",
        || {
            let mut a = ok(Bulkhead::new(1))?;
            let mut b = ok(Bulkhead::new(1))?;
            let tok = ok(a.try_acquire())?;
            b.release(tok);
            expect(b.in_use(), 0)
        }
    ),
    row!(
        "AimdConfig",
        "limits min = 0",
        "ConfigError(limits.min)",
        || config_err(AimdConfig::new().limits(0, 10).validate(), "limits.min")
    ),
    row!(
        "AimdConfig",
        "limits max < min",
        "ConfigError(limits.max)",
        || config_err(
            AimdConfig::new().limits(5, 4).initial(5).validate(),
            "limits.max"
        )
    ),
    row!(
        "AimdConfig",
        "initial outside min..=max",
        "ConfigError(initial)",
        || config_err(
            AimdConfig::new().limits(5, 10).initial(11).validate(),
            "initial"
        )
    ),
    row!(
        "AimdConfig",
        "increase = 0",
        "ConfigError(increase)",
        || config_err(AimdConfig::new().increase(0).validate(), "increase")
    ),
    row!(
        "AimdConfig",
        "backoff_percent 0 and 100",
        "ConfigError(backoff_percent)",
        || {
            config_err(
                AimdConfig::new().backoff_percent(0).validate(),
                "backoff_percent",
            )?;
            config_err(
                AimdConfig::new().backoff_percent(100).validate(),
                "backoff_percent",
            )
        }
    ),
    row!(
        "AimdConfig",
        "latency_target = 0",
        "ConfigError(latency_target)",
        || config_err(
            AimdConfig::new().latency_target(d(0)).validate(),
            "latency_target"
        )
    ),
    row!(
        "AimdConfig",
        "limits 1..=u32::MAX, step u16::MAX, backoff 1 and 99",
        "valid",
        || {
            ok(AimdConfig::new()
                .limits(1, u32::MAX)
                .initial(u32::MAX)
                .increase(u16::MAX)
                .backoff_percent(1)
                .validate())?;
            ok(AdaptiveLimit::new(AimdConfig::new().backoff_percent(99))).map(drop)
        }
    ),
    // ---- dedup ----
    row!(
        "dedup::Config",
        "in_flight_ttl = 0",
        "ConfigError(in_flight_ttl)",
        || config_err(
            dedup::Config::new().in_flight_ttl(d(0)).validate(),
            "in_flight_ttl"
        )
    ),
    row!(
        "dedup::Config",
        "done_ttl = 0",
        "ConfigError(done_ttl)",
        || config_err(dedup::Config::new().done_ttl(d(0)).validate(), "done_ttl")
    ),
    row!("dedup::Config", "ttls 1 tick and u64::MAX", "valid", || {
        ok(dedup::Config::new()
            .in_flight_ttl(d(1))
            .done_ttl(d(1))
            .validate())?;
        ok(dedup::Config::new()
            .in_flight_ttl(d(u64::MAX))
            .done_ttl(d(u64::MAX))
            .validate())
    }),
    row!(
        "DedupTable",
        "full table (N = 4, 5 keys in flight)",
        "Begin::Full for the key that has no slot",
        || {
            let mut tbl: DedupTable<u32, u32, 4> =
                ok(DedupTable::new(dedup::Config::new(), Seed::new(1, 2)))?;
            let mut full = 0;
            let mut tickets = Vec::new();
            for k in 0..5 {
                match tbl.begin(k, t(0)) {
                    Begin::New(tk) => tickets.push(tk),
                    Begin::Full => full += 1,
                    other => return Err(format!("key {k}: {other:?}")),
                }
            }
            expect((tickets.len(), full), (4, 1))
        }
    ),
    row!(
        "DedupTable",
        "begin at 1000, complete at 0 (backwards)",
        "stored; Done, judged at the latest instant",
        || {
            let mut tbl: DedupTable<u32, u32, 4> = ok(DedupTable::new(
                dedup::Config::new().in_flight_ttl(d(10)).done_ttl(d(10)),
                Seed::new(1, 2),
            ))?;
            let Begin::New(tk) = tbl.begin(7, t(1_000)) else {
                return Err("not New".into());
            };
            ok(tbl.complete(tk, 42, t(0)))?;
            expect(tbl.get(&7, t(0)), Some(&42))
        }
    ),
    row!(
        "DedupTable",
        "begin at u64::MAX, complete at u64::MAX",
        "Err(Stale): the in-flight deadline saturates at u64::MAX and is reached",
        || {
            let mut tbl: DedupTable<u32, u32, 4> = ok(DedupTable::new(
                dedup::Config::new().in_flight_ttl(d(10)),
                Seed::new(1, 2),
            ))?;
            let Begin::New(tk) = tbl.begin(7, MAX) else {
                return Err("not New".into());
            };
            expect(tbl.complete(tk, 42, MAX).map_err(|s| s.value), Err(42))
        }
    ),
    row!(
        "DedupTable",
        "ticket from another instance",
        "Err(Stale) hands the value back; nothing stored",
        || {
            let mut a: DedupTable<u32, u32, 4> =
                ok(DedupTable::new(dedup::Config::new(), Seed::new(1, 2)))?;
            let mut b: DedupTable<u32, u32, 4> =
                ok(DedupTable::new(dedup::Config::new(), Seed::new(3, 4)))?;
            let Begin::New(tk) = a.begin(7, t(0)) else {
                return Err("not New".into());
            };
            expect(b.complete(tk, 42, t(1)).map_err(|s| s.value), Err(42))?;
            expect(b.occupied(t(1)), 0)
        }
    ),
    // ---- backoff ----
    row!(
        "backoff::Config",
        "cap < initial",
        "ConfigError(cap)",
        || config_err(
            backoff::Config::exponential(d(10), 2, d(9)).validate(),
            "cap"
        )
    ),
    row!(
        "backoff::Config",
        "exponential initial = 0",
        "ConfigError(initial)",
        || config_err(
            backoff::Config::exponential(d(0), 2, d(9)).validate(),
            "initial"
        )
    ),
    row!(
        "backoff::Config",
        "exponential_ratio den = 0",
        "ConfigError naming the factor",
        || {
            let e = backoff::Config::exponential_ratio(d(1), 3, 0, d(9))
                .validate()
                .err()
                .ok_or("accepted")?;
            config_err::<()>(Err(e), e.field())
        }
    ),
    row!(
        "backoff::Config",
        "exponential_ratio num < den (shrinking)",
        "ConfigError naming the factor",
        || {
            let e = backoff::Config::exponential_ratio(d(1), 1, 2, d(9))
                .validate()
                .err()
                .ok_or("accepted")?;
            config_err::<()>(Err(e), e.field())
        }
    ),
    row!(
        "backoff::Config",
        "max_attempts = 0",
        "ConfigError(max_attempts)",
        || config_err(
            backoff::Config::constant(d(1)).max_attempts(0).validate(),
            "max_attempts"
        )
    ),
    row!(
        "Backoff",
        "exponential u32::MAX factor, cap u64::MAX, 64 retries",
        "delays saturate at the cap, never wrap",
        || {
            let mut b = ok(Backoff::new(
                backoff::Config::exponential(d(1), u32::MAX, d(u64::MAX)).max_attempts(u32::MAX),
                7,
            ))?;
            let mut last = d(0);
            for _ in 0..64 {
                let Some(x) = b.next_delay(None) else { break };
                if x < last {
                    return Err(format!("delay shrank: {x:?} < {last:?}"));
                }
                last = x;
            }
            expect(last, d(u64::MAX))
        }
    ),
    row!(
        "Backoff",
        "constant 0 delay, hint u64::MAX",
        "no panic; delay within max_hint",
        || {
            let mut b = ok(Backoff::new(
                backoff::Config::constant(d(0)).max_attempts(3),
                7,
            ))?;
            let _ = b.next_delay(Some(d(u64::MAX)));
            Ok(())
        }
    ),
    // ---- latency ----
    row!(
        "LatencyHistogram",
        "window < S - 1 ticks",
        "ConfigError(window)",
        || config_err(LatencyHistogram::<5, 464, 5>::new(d(3)), "window")
    ),
    row!(
        "LatencyHistogram",
        "record u64::MAX latency at u64::MAX, query at 0 (backwards)",
        "counted; quantile is Some",
        || {
            let mut h = ok(LatencyHistogram::<5, 464, 5>::new(d(4)))?;
            h.record(d(u64::MAX), MAX);
            expect(h.count(t(0)), 1)?;
            expect(h.quantile(1_000_000, t(0)).is_some(), true)
        }
    ),
    row!(
        "hedge::Config",
        "quantile = 1000001 ppm",
        "ConfigError(quantile)",
        || config_err(
            hedge::Config::new().quantile(1_000_001).validate(),
            "quantile"
        )
    ),
    row!(
        "hedge::Config",
        "max_hedges = 0",
        "ConfigError(max_hedges)",
        || config_err(hedge::Config::new().max_hedges(0).validate(), "max_hedges")
    ),
    row!(
        "hedge::Config",
        "budget_percent = 1001",
        "ConfigError(budget_percent)",
        || config_err(
            hedge::Config::new().budget_percent(1001).validate(),
            "budget_percent"
        )
    ),
    row!(
        "HedgePolicy",
        "no samples: delay at 0 and u64::MAX",
        "None (below min_samples)",
        || {
            let mut p = ok(HedgePolicy::<5, 464, 5>::new(
                hedge::Config::new().min_samples(1),
                d(100),
            ))?;
            expect(p.delay(t(0)), None)?;
            expect(p.delay(MAX), None)
        }
    ),
    // ---- keyed limiter ----
    row!(
        "KeyedLimiter",
        "full table under WhenFull::Reject",
        "KeyedRejected::TableFull for each key past N",
        || {
            let mut l: KeyedLimiter<u32, 2> = KeyedLimiter::new(
                ok(Quota::per_period(1, d(1_000_000)).build())?,
                Seed::new(1, 2),
                WhenFull::RejectNew,
            );
            let mut refused = 0;
            for k in 0..8 {
                match l.try_acquire(k, t(0)) {
                    Ok(()) => {}
                    Err(KeyedRejected::TableFull) => refused += 1,
                    Err(e) => return Err(format!("key {k}: {e:?}")),
                }
            }
            expect((refused, l.len()), (6, 2))
        }
    ),
    row!(
        "KeyedLimiter",
        "n over the burst, n = 0",
        "n = 0 admitted; n > burst rejected",
        || {
            let mut l: KeyedLimiter<u32, 4> = KeyedLimiter::new(
                ok(Quota::per_period(1, d(10)).allow_burst(2).build())?,
                Seed::new(1, 2),
                WhenFull::RejectNew,
            );
            ok(l.try_acquire_n(1, 0, MAX))?;
            expect(l.try_acquire_n(1, 3, MAX).is_err(), true)
        }
    ),
    row!(
        "KeyedLimiter",
        "n = 0 (and n over the burst) at a later instant, then n = 1 at an earlier one (backwards)",
        "the later instant counts as seen: the request is judged at it (refilled, admitted)",
        || {
            let q = ok(Quota::per_period(1, d(100)).build())?;
            for asks_nothing in [0, 2] {
                let mut l: KeyedLimiter<u32, 4> =
                    KeyedLimiter::new(q, Seed::new(1, 2), WhenFull::RejectNew);
                ok(l.try_acquire(1, t(0)))?;
                let _ = l.try_acquire_n(1, asks_nothing, t(1_000));
                ok(l.try_acquire(1, t(50)))?;
            }
            Ok(())
        }
    ),
    // ---- break-duration schedules, probe rule (issue #10) ----
    row!(
        "breaker::Config",
        "open_duration_linear initial = 0",
        "ConfigError(open_duration_linear.initial)",
        || config_err(
            cfg().open_duration_linear(d(0), d(1), d(10)).validate(),
            "open_duration_linear.initial"
        )
    ),
    row!(
        "breaker::Config",
        "open_duration_linear max < initial",
        "ConfigError(open_duration_linear.max)",
        || config_err(
            cfg().open_duration_linear(d(10), d(1), d(9)).validate(),
            "open_duration_linear.max"
        )
    ),
    row!(
        "breaker::Config",
        "open_duration_linear step = max = u64::MAX, trip u32::MAX",
        "valid; saturates at u64::MAX ticks",
        || {
            let c = cfg().open_duration_linear(d(1), d(u64::MAX), d(u64::MAX));
            ok(c.validate())?;
            expect(c.open_duration_after(0), d(1))?;
            expect(c.open_duration_after(u32::MAX), d(u64::MAX))
        }
    ),
    row!(
        "breaker::Config",
        "open_duration_table empty",
        "ConfigError(open_duration_table)",
        || config_err(
            cfg().open_duration_table(&[]).validate(),
            "open_duration_table"
        )
    ),
    row!(
        "breaker::Config",
        "open_duration_table with a 0 entry",
        "ConfigError(open_duration_table)",
        || config_err(
            cfg().open_duration_table(&WITH_ZERO).validate(),
            "open_duration_table"
        )
    ),
    row!(
        "breaker::Config",
        "open_duration_table of 255 and of 256 entries",
        "255 valid (the last repeats); 256 ConfigError(open_duration_table)",
        || {
            static T255: [Duration; 255] = [d(1); 255];
            static T256: [Duration; 256] = [d(1); 256];
            let c = cfg().open_duration_table(&T255);
            ok(c.validate())?;
            expect(c.open_duration_after(u32::MAX), d(1))?;
            config_err(
                cfg().open_duration_table(&T256).validate(),
                "open_duration_table",
            )
        }
    ),
    row!(
        "breaker::Config",
        "ProbeRule::PerRound with half_open_successes > half_open_probes",
        "ConfigError(half_open_successes)",
        || config_err(
            cfg()
                .probe_rule(breaker::ProbeRule::PerRound)
                .half_open_probes(2)
                .half_open_successes(3)
                .validate(),
            "half_open_successes"
        )
    ),
    // ---- FailureCount and counting intervals ----
    row!(
        "FailureCount",
        "failure_threshold = 0",
        "ConfigError(failure_threshold)",
        || config_err(FailureCount::new(0), "failure_threshold")
    ),
    row!(
        "FailureCount",
        "failure_threshold = 1 and u32::MAX",
        "valid",
        || {
            ok(FailureCount::new(1))?;
            ok(FailureCount::new(u32::MAX)).map(|_| ())
        }
    ),
    row!(
        "FailureCount",
        "interval = 0",
        "ConfigError(interval)",
        || config_err(ok(FailureCount::new(2))?.interval(d(0)), "interval")
    ),
    row!(
        "ConsecutiveFailures",
        "interval = 0",
        "ConfigError(interval)",
        || config_err(ok(ConsecutiveFailures::new(2))?.interval(d(0)), "interval")
    ),
    row!(
        "FailureCount",
        "interval = 1 tick and u64::MAX ticks; failures at 0, 1, u64::MAX, then 0 (backwards)",
        "1 tick: 0 and 1 in separate intervals (closed); at u64::MAX an interval's end saturates to u64::MAX, reached at once, so each outcome there begins a new one (closed); u64::MAX ticks: 0 and 1 in one interval (trips)",
        || {
            let p = ok(ok(FailureCount::new(2))?.interval(d(1)))?;
            let mut b = ok(CircuitBreaker::new(cfg(), p))?;
            for now in [t(0), t(1), MAX, t(0)] {
                let permit = ok(b.try_acquire(now))?;
                expect(b.record(permit, Outcome::Failure, now), None)?;
            }
            expect(b.state(t(0)), breaker::State::Closed)?;
            let p = ok(ok(FailureCount::new(2))?.interval(d(u64::MAX)))?;
            let mut b = ok(CircuitBreaker::new(cfg(), p))?;
            for now in [t(0), t(1)] {
                let permit = ok(b.try_acquire(now))?;
                b.record(permit, Outcome::Failure, now);
            }
            expect(b.state(t(1)), breaker::State::Open)
        }
    ),
    // ---- ConcurrentRetryBudget ----
    row!(
        "ConcurrentRetryBudget",
        "budget_percent = 101",
        "ConfigError(budget_percent)",
        || config_err(
            ConcurrentRetryBudget::builder()
                .budget_percent(101)
                .min_retry_concurrency(3)
                .build(),
            "budget_percent"
        )
    ),
    row!(
        "ConcurrentRetryBudget",
        "budget_percent = 0, min_retry_concurrency = 0",
        "valid; never a retry",
        || {
            let mut b = ok(ConcurrentRetryBudget::builder()
                .budget_percent(0)
                .min_retry_concurrency(0)
                .build())?;
            b.request_started();
            expect((b.limit(), b.try_start_retry()), (0, false))
        }
    ),
    row!(
        "ConcurrentRetryBudget",
        "budget_percent = 100, min_retry_concurrency = u32::MAX",
        "valid; u32::MAX retries allowed with no request",
        || {
            let mut b = ok(ConcurrentRetryBudget::builder()
                .budget_percent(100)
                .min_retry_concurrency(u32::MAX)
                .build())?;
            expect((b.limit(), b.try_start_retry()), (u32::MAX, true))
        }
    ),
    row!(
        "ConcurrentRetryBudget",
        "finishes with nothing started",
        "counts stay at 0 (saturate)",
        || {
            let mut b = ok(ConcurrentRetryBudget::builder()
                .budget_percent(20)
                .min_retry_concurrency(1)
                .build())?;
            b.request_finished();
            b.retry_finished();
            expect((b.requests_in_flight(), b.retries_in_flight()), (0, 0))?;
            expect(b.try_start_retry(), true)
        }
    ),
    // ---- AdaptiveTimeout ----
    row!(
        "timeout::Config",
        "quantile = 1000001 ppm",
        "ConfigError(quantile)",
        || config_err(
            timeout::Config::new(d(10), d(1), d(100))
                .quantile(1_000_001)
                .validate(),
            "quantile"
        )
    ),
    row!(
        "timeout::Config",
        "multiplier denominator = 0",
        "ConfigError(multiplier)",
        || config_err(
            timeout::Config::new(d(10), d(1), d(100))
                .multiplier(1, 0)
                .validate(),
            "multiplier"
        )
    ),
    row!("timeout::Config", "min > max", "ConfigError(min)", || {
        config_err(
            timeout::Config::new(d(10), d(101), d(100)).validate(),
            "min",
        )
    }),
    row!(
        "timeout::Config",
        "initial outside min..=max",
        "ConfigError(initial)",
        || config_err(
            timeout::Config::new(d(101), d(1), d(100)).validate(),
            "initial"
        )
    ),
    row!(
        "AdaptiveTimeout",
        "window < S - 1 ticks",
        "ConfigError(window)",
        || config_err(
            AdaptiveTimeout::<5, 464, 5>::new(timeout::Config::new(d(10), d(1), d(100)), d(3)),
            "window"
        )
    ),
    row!(
        "AdaptiveTimeout",
        "0 samples, then u64::MAX latency at u64::MAX with multiplier u32::MAX and margin u64::MAX, asked at 0 (backwards)",
        "initial before min_samples; then max (saturates); deadline at u64::MAX saturates",
        || {
            let config = timeout::Config::new(d(10), d(0), d(u64::MAX - 1))
                .multiplier(u32::MAX, 1)
                .margin(d(u64::MAX))
                .min_samples(1);
            let mut a = ok(AdaptiveTimeout::<5, 464, 5>::new(config, d(u64::MAX)))?;
            expect(a.timeout(MAX), d(10))?;
            a.record(d(u64::MAX), MAX);
            expect(a.timeout(t(0)), d(u64::MAX - 1))?;
            expect(a.deadline(MAX), MAX)
        }
    ),
    row!(
        "LatencyHistogram",
        "window = u64::MAX ticks; quantile 0 and u32::MAX ppm",
        "valid; both Some with one sample",
        || {
            let mut h = ok(LatencyHistogram::<5, 464, 5>::new(d(u64::MAX)))?;
            expect(h.quantile(0, t(0)), None)?;
            h.record(d(7), t(0));
            expect(h.quantile(0, MAX).is_some(), true)?;
            expect(h.quantile(u32::MAX, MAX).is_some(), true)
        }
    ),
    row!(
        "HedgePolicy",
        "a sample at u64::MAX; next hedge of t0 = u64::MAX, sent 0 and u32::MAX; budget 0 %",
        "Some(u64::MAX) (saturates), None past max_hedges; no hedge from an empty budget",
        || {
            let config = hedge::Config::new().min_samples(1).budget_percent(0);
            let mut p = ok(HedgePolicy::<5, 464, 5>::new(config, d(100)))?;
            p.record(d(u64::MAX), MAX);
            expect(p.next_hedge_at(MAX, 0, MAX), Some(MAX))?;
            expect(p.next_hedge_at(MAX, u32::MAX, t(0)), None)?;
            expect((p.try_hedge(t(0)), p.try_hedge(MAX)), (false, false))
        }
    ),
];

/// The shared variants' own limits and extreme inputs (feature `sync`).
#[cfg(feature = "sync")]
const SYNC_ROWS: &[Row] = &[
    row!(
        "SharedCircuitBreaker",
        "half_open_probes = half_open_successes = 65535",
        "ConfigError(half_open_probes): 16 + 16 bits do not fit the 29-bit payload",
        || {
            config_err(
                breaker::SharedCircuitBreaker::new(
                    cfg()
                        .half_open_probes(u16::MAX)
                        .half_open_successes(u16::MAX),
                    ok(ConsecutiveFailures::new(1))?,
                ),
                "half_open_probes",
            )
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "half_open_probes = 8192, half_open_successes = 65535",
        "ConfigError(half_open_successes)",
        || {
            config_err(
                breaker::SharedCircuitBreaker::new(
                    cfg().half_open_probes(8192).half_open_successes(u16::MAX),
                    ok(ConsecutiveFailures::new(1))?,
                ),
                "half_open_successes",
            )
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "linear break duration still growing at trip u32::MAX",
        "ConfigError(open_duration)",
        || {
            config_err(
                breaker::SharedCircuitBreaker::new(
                    cfg().open_duration_linear(d(1), d(1), Duration::MAX),
                    ok(ConsecutiveFailures::new(1))?,
                ),
                "open_duration",
            )
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "ConsecutiveFailures 2^28 with a counting interval",
        "ConfigError(failure_threshold)",
        || {
            config_err(
                breaker::SharedCircuitBreaker::new(
                    cfg(),
                    ok(ok(ConsecutiveFailures::new(1 << 28))?.interval(d(5)))?,
                ),
                "failure_threshold",
            )
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "half_open_probes = 2047, trip at u64::MAX - 1, time backwards",
        "valid; still Open at an earlier now",
        || {
            let b = ok(breaker::SharedCircuitBreaker::new(
                cfg().half_open_probes(2047),
                ok(ConsecutiveFailures::new(1))?,
            ))?;
            let p = ok(b.try_acquire(t(u64::MAX - 1)))?;
            let _ = b.record(p, Outcome::Failure, t(u64::MAX - 1));
            expect(b.try_acquire(t(0)).is_err(), true)
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "Unshared, the Policy::Shared of a policy with no shared form",
        "ConfigError(policy)",
        || {
            config_err(
                <breaker::Unshared as breaker::SharedBreaker<TimeWindow<4>>>::share(
                    cfg(),
                    &ok(TimeWindow::<4>::builder(d(40))
                        .failure_rate(50)
                        .minimum_calls(1)
                        .build())?,
                ),
                "policy",
            )
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "TimeWindow of 4096 buckets",
        "ConfigError(TimeWindow::<B>), range 1..=4095",
        || {
            config_err(
                breaker::SharedCircuitBreaker::new(
                    cfg(),
                    ok(TimeWindow::<4096>::builder(d(4096))
                        .failure_rate(50)
                        .minimum_calls(1)
                        .build())?,
                ),
                "TimeWindow::<B>",
            )
        }
    ),
    row!(
        "SharedCircuitBreaker",
        "TimeWindow of 1 bucket, u64::MAX, then 0",
        "valid; judged at the latest epoch",
        || {
            let b = ok(breaker::SharedCircuitBreaker::new(
                cfg(),
                ok(TimeWindow::<1>::builder(d(1))
                    .failure_rate(100)
                    .minimum_calls(1)
                    .build())?,
            ))?;
            let p = ok(b.try_acquire(MAX))?;
            expect(b.record(p, Outcome::Success, MAX), None)?;
            let p = ok(b.try_acquire(t(0)))?;
            expect(b.record(p, Outcome::Success, t(0)), None)?;
            expect(b.window(MAX).calls, 2)
        }
    ),
    row!(
        "SharedTokenBucket",
        "n = 0, n over the burst, u64::MAX then 0",
        "as the &mut bucket",
        || {
            let q = ok(Quota::per_period(1, d(100)).allow_burst(2).build())?;
            let s = fusebox::rate::SharedTokenBucket::new(q);
            ok(s.try_acquire_n(0, MAX))?;
            expect(
                s.try_acquire_n(3, MAX).map_err(|r| r.retry_after),
                Err(None),
            )?;
            ok(s.try_acquire_n(2, MAX))?;
            expect(s.try_acquire(t(0)).is_err(), true)
        }
    ),
    row!(
        "SharedBulkhead",
        "limit = 0; set_limit(0)",
        "ConfigError(limit)",
        || {
            config_err(fusebox::bulkhead::SharedBulkhead::new(0), "limit")?;
            let b = ok(fusebox::bulkhead::SharedBulkhead::new(1))?;
            config_err(b.set_limit(0), "limit")?;
            expect(b.limit(), 1)
        }
    ),
    row!(
        "SharedRetryBudget",
        "the extreme valid budget (percent_can_retry 1000, min_retries_per_sec u32::MAX, ttl u64::MAX ticks) shared, at u64::MAX",
        "no panic; the floor pays for a retry",
        || {
            let budget = ok(RetryBudget::<10>::builder()
                .percent_can_retry(1000)
                .min_retries_per_sec(u32::MAX)
                .ttl(d(u64::MAX))
                .build())?;
            let b = fusebox::rate::SharedRetryBudget::<spin::mutex::SpinMutex<()>, 10>::new(budget);
            b.deposit(MAX);
            expect(b.try_withdraw(MAX), true)
        }
    ),
    row!(
        "SharedDedupTable",
        "done_ttl = 0",
        "ConfigError(done_ttl)",
        || {
            config_err(
                fusebox::dedup::SharedDedupTable::<spin::mutex::SpinMutex<()>, u32, u32, 1, 4>::new(
                    dedup::Config::new().done_ttl(d(0)),
                    Seed::new(1, 2),
                ),
                "done_ttl",
            )
        }
    ),
    row!(
        "SharedKeyedLimiter",
        "full table under RejectNew; n = 0 and n over the burst at u64::MAX, then 0 (backwards)",
        "TableFull past N; n = 0 admitted, n > burst rejected with no hint; the step back refused",
        || {
            let l = fusebox::rate::SharedKeyedLimiter::<spin::mutex::SpinMutex<()>, u32, 1, 2>::new(
                ok(Quota::per_period(1, d(1_000_000)).allow_burst(2).build())?,
                Seed::new(1, 2),
                WhenFull::RejectNew,
            );
            ok(l.try_acquire_n(1, 0, MAX))?;
            expect(
                l.try_acquire_n(1, 3, MAX),
                Err(KeyedRejected::Limited(fusebox::rate::Rejected {
                    retry_after: None,
                })),
            )?;
            ok(l.try_acquire_n(1, 2, MAX))?;
            expect(l.try_acquire(1, t(0)).is_err(), true)?;
            ok(l.try_acquire(2, t(0)))?;
            expect(l.try_acquire(3, t(0)), Err(KeyedRejected::TableFull))
        }
    ),
    row!(
        "SharedAdaptiveLimit",
        "limits min = 0; u64::MAX latency at u64::MAX, then 0 (backwards)",
        "ConfigError(limits.min); the limit stays in min..=max",
        || {
            use fusebox::bulkhead::{Outcome as O, SharedAdaptiveLimit};
            config_err(
                SharedAdaptiveLimit::new(AimdConfig::new().limits(0, 10)),
                "limits.min",
            )?;
            let l = ok(SharedAdaptiveLimit::new(
                AimdConfig::new().limits(1, 10).initial(5),
            ))?;
            let _ = l.record(O::Success, d(u64::MAX), MAX);
            let _ = l.record_in_flight(O::Success, d(0), u32::MAX, t(0));
            let _ = l.record(O::Dropped, d(0), t(0));
            expect((1..=10).contains(&l.limit()), true)
        }
    ),
];
#[cfg(not(feature = "sync"))]
const SYNC_ROWS: &[Row] = &[];

#[test]
fn bad_input_table() {
    let mut failed = Vec::new();
    for row in ROWS.iter().chain(SYNC_ROWS) {
        let outcome = std::panic::catch_unwind(row.check);
        let verdict = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(_) => "PANICKED".to_string(),
        };
        failed.push(format!(
            "{} / {}: documented {}; {}",
            row.primitive, row.input, row.documented, verdict
        ));
    }
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        ROWS.len() + SYNC_ROWS.len(),
        failed.join("\n")
    );
    println!(
        "bad-input table: {} rows, all as documented",
        ROWS.len() + SYNC_ROWS.len()
    );
}
