//! fusebox's primitives, each driven once through its API from opaque
//! inputs (the hardware timer and a counter), for the `size_probe` and
//! `size_probe_core` binaries: their size minus `size_baseline`'s is what
//! fusebox itself costs (see `size-report.sh`).
//!
//! To add a primitive: a field in [`Probes`] (or [`AllProbes`] for an async
//! one) with its `const` initial value, a `fn` that exercises its API from
//! `now` and `input`, and a line in [`step`] (or [`step_all`]).

use embassy_time::{Duration, Instant};
use embedded_hal_async::i2c::I2c;
use fusebox::backoff::{self, Backoff, Jitter, Stop};
use fusebox::breaker::{self, CircuitBreaker, CountWindow, Outcome};
use fusebox::bulkhead::{self, AdaptiveLimit, AimdConfig, Bulkhead, SharedBulkhead};
use fusebox::dedup::{self, Begin, DedupTable, Eviction};
use fusebox::hash::Seed;
use fusebox::i2c::{self, I2cError, ResilientI2c, WriteRetry};
use fusebox::rate::{Quota, RetryBudget, TokenBucket};
use fusebox::retry::{Retry, Stopped, Verdict};

use crate::size::{Delay, FakeBus, Now, block_on, later};

/// Every sans-IO primitive's `&mut` state.
pub struct Probes {
    breaker: CircuitBreaker<CountWindow<20>>,
    local: Bulkhead,
    adaptive: AdaptiveLimit,
    backoff: Backoff,
    budget: RetryBudget<10>,
    dedup: DedupTable<u32, u16, 32>,
    bucket: TokenBucket,
}

/// [`Probes`] and the async adapters' state.
pub struct AllProbes {
    probes: Probes,
    /// `ResilientI2c::new` is not `const`: built on the first step.
    i2c: Option<ResilientI2c<FakeBus, Delay, Now, CountWindow<20>, 2>>,
}

/// The initial state of the sans-IO primitives (for a `static`).
pub const PROBES: Probes = Probes {
    breaker: BREAKER,
    local: LOCAL,
    adaptive: ADAPTIVE,
    backoff: BACKOFF,
    budget: BUDGET,
    dedup: DEDUP,
    bucket: BUCKET,
};

/// The initial state of every primitive (for a `static`).
pub const ALL_PROBES: AllProbes = AllProbes {
    probes: PROBES,
    i2c: None,
};

/// The shared `&self` bulkhead (portable-atomic over critical-section).
static BULKHEAD: SharedBulkhead = match SharedBulkhead::new(4) {
    Ok(b) => b,
    Err(_) => panic!("bulkhead limit"),
};

/// Every sans-IO primitive (the `&mut` and the shared state machines),
/// called once.
pub fn step(p: &mut Probes, now: Instant, input: u32) -> u32 {
    breaker(&mut p.breaker, now, input)
        ^ local_bulkhead(&mut p.local, input)
        ^ shared_bulkhead(input)
        ^ adaptive(&mut p.adaptive, now, input)
        ^ schedule(&mut p.backoff, input)
        ^ budget(&mut p.budget, now, input)
        ^ dedup(&mut p.dedup, now, input)
        ^ bucket(&mut p.bucket, now, input)
}

/// [`step`], then the async adapters: the retry runner and the resilient
/// I2C bus, under `block_on` with the fakes of [`crate::size`].
pub fn step_all(p: &mut AllProbes, now: Instant, input: u32) -> u32 {
    step(&mut p.probes, now, input)
        ^ retry(&mut p.probes, input)
        ^ i2c(
            p.i2c
                .get_or_insert_with(|| ResilientI2c::new(FakeBus(input), Delay, Now, I2C)),
            now,
            input,
        )
}

// ---- breaker: a count-window policy with slow calls and a growing open
// duration, through acquire, record (every outcome), state, retry_after,
// metrics and reset.

const BREAKER: CircuitBreaker<CountWindow<20>> = {
    let config = breaker::Config::new()
        .open_duration_growing(Duration::from_millis(500), 2, Duration::from_secs(30))
        .slow_calls(Duration::from_millis(100), 50);
    let Ok(policy) = CountWindow::builder()
        .failure_rate(50)
        .minimum_calls(10)
        .build()
    else {
        panic!("CountWindow config")
    };
    match CircuitBreaker::new(config, policy) {
        Ok(b) => b,
        Err(_) => panic!("breaker config"),
    }
};

fn breaker(b: &mut CircuitBreaker<CountWindow<20>>, now: Instant, input: u32) -> u32 {
    if input & 0xffff == 0xffff {
        b.reset();
    }
    let decided = match b.try_acquire(now) {
        Ok(permit) => {
            let outcome = match input & 3 {
                0 => Outcome::Failure,
                1 => Outcome::Ignored,
                _ => Outcome::Success,
            };
            b.record(permit, outcome, later(now, input >> 20))
                .map_or(0, |t| t.to as u32)
        }
        Err(rejected) => rejected.retry_after.map_or(1, |d| d.as_ticks() as u32),
    };
    let retry = b.retry_after(now).map_or(0, |d| d.as_ticks() as u32);
    decided ^ retry ^ b.state(now) as u32 ^ b.metrics().trips
}

// ---- bulkheads: the `&mut` one (acquire, release, set_limit, counts) and
// the shared one (RAII permits, set_limit, counts).

const LOCAL: Bulkhead = match Bulkhead::new(3) {
    Ok(b) => b,
    Err(_) => panic!("local bulkhead limit"),
};

fn local_bulkhead(b: &mut Bulkhead, input: u32) -> u32 {
    if input & 0xff == 0 {
        let _ = b.set_limit(input >> 28);
    }
    match b.try_acquire() {
        Ok(token) => {
            let in_use = b.in_use();
            // Half the tokens are kept (never released) until the reset below.
            if input & 1 == 0 {
                b.release(token);
            }
            in_use ^ b.available()
        }
        Err(rejected) => {
            b.reset();
            rejected.limit
        }
    }
}

fn shared_bulkhead(input: u32) -> u32 {
    if input & 0xff == 1 {
        let _ = BULKHEAD.set_limit((input >> 28).max(1));
    }
    match (BULKHEAD.try_acquire(), BULKHEAD.try_acquire()) {
        (Ok(a), Ok(_b)) => a.bulkhead().in_use() ^ BULKHEAD.available(),
        (Err(r), _) | (_, Err(r)) => r.limit ^ BULKHEAD.limit(),
    }
}

// ---- AIMD limit: record with and without the in-flight guard.

const ADAPTIVE: AdaptiveLimit = {
    let config = AimdConfig::new()
        .limits(1, 16)
        .initial(4)
        .latency_target(Duration::from_millis(20))
        .decrease_cooldown(Duration::from_millis(100));
    match AdaptiveLimit::new(config) {
        Ok(l) => l,
        Err(_) => panic!("AIMD config"),
    }
};

fn adaptive(l: &mut AdaptiveLimit, now: Instant, input: u32) -> u32 {
    let outcome = match input & 3 {
        0 => bulkhead::Outcome::Dropped,
        1 => bulkhead::Outcome::Ignored,
        _ => bulkhead::Outcome::Success,
    };
    let latency = Duration::from_ticks(u64::from(input >> 16));
    let change = if input & 4 == 0 {
        l.record(outcome, latency, now)
    } else {
        l.record_in_flight(outcome, latency, input >> 24, now)
    };
    change.map_or(0, |c| c.to ^ u32::from(c.is_increase())) ^ l.limit()
}

// ---- backoff: exponential with full jitter, hints, the attempt and
// delay limits, reset.

const BACKOFF_CONFIG: backoff::Config =
    backoff::Config::exponential(Duration::from_millis(10), 2, Duration::from_secs(2))
        .jitter(Jitter::Full)
        .max_attempts(6)
        .total_delay_budget(Duration::from_secs(5));

const BACKOFF: Backoff = match Backoff::new(BACKOFF_CONFIG, 0x5eed) {
    Ok(b) => b,
    Err(_) => panic!("backoff config"),
};

fn schedule(b: &mut Backoff, input: u32) -> u32 {
    let hint = (input & 8 != 0).then(|| Duration::from_ticks(u64::from(input >> 12)));
    let delay = match b.try_next(hint) {
        Ok(d) => d.as_ticks() as u32,
        Err(stop) => {
            b.reset();
            match stop {
                Stop::Attempts => 1,
                Stop::Budget => 2,
                Stop::HintTooLong(h) => h.as_ticks() as u32,
            }
        }
    };
    delay ^ b.retries() ^ b.total().as_ticks() as u32
}

// ---- retry budget: deposit, withdraw, available.

const BUDGET: RetryBudget<10> = match RetryBudget::builder()
    .percent_can_retry(20)
    .min_retries_per_sec(1)
    .ttl(Duration::from_secs(10))
    .build()
{
    Ok(b) => b,
    Err(_) => panic!("retry budget config"),
};

fn budget(b: &mut RetryBudget<10>, now: Instant, input: u32) -> u32 {
    if input & 1 == 0 {
        b.deposit(now);
    }
    u32::from(b.try_withdraw(now)) ^ b.available(now) as u32
}

// ---- dedup: begin (every answer), complete, abandon, get, metrics.

const DEDUP: DedupTable<u32, u16, 32> = {
    let config = dedup::Config::new()
        .in_flight_ttl(Duration::from_secs(2))
        .done_ttl(Duration::from_secs(60))
        .eviction(Eviction::EvictDone);
    match DedupTable::new(
        config,
        Seed::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
    ) {
        Ok(t) => t,
        Err(_) => panic!("dedup config"),
    }
};

fn dedup(t: &mut DedupTable<u32, u16, 32>, now: Instant, input: u32) -> u32 {
    let key = input >> 3;
    let answer = match t.begin(key, now) {
        Begin::New(ticket) => {
            if input & 1 == 0 {
                t.complete(ticket, input as u16, later(now, 10))
                    .map_or_else(|stale| u32::from(stale.value), |()| 1)
            } else {
                u32::from(t.abandon(ticket, later(now, 10)))
            }
        }
        Begin::InFlight => 2,
        Begin::Done(v) => u32::from(*v),
        Begin::Full => 3,
    };
    let peek = t.get(&(key ^ 1), now).map_or(0, |v| u32::from(*v));
    answer ^ peek ^ t.metrics().evicted
}

// ---- token bucket: one and n tokens, the wait for n, the tokens left,
// reset.

const BUCKET: TokenBucket = match Quota::per_second(2).allow_burst(5).build() {
    Ok(q) => TokenBucket::new(q),
    Err(_) => panic!("quota"),
};

fn bucket(b: &mut TokenBucket, now: Instant, input: u32) -> u32 {
    if input & 0xfff == 0 {
        b.reset();
    }
    let n = input & 7;
    let taken = match if n == 1 {
        b.try_acquire(now)
    } else {
        b.try_acquire_n(n, now)
    } {
        Ok(()) => 0,
        Err(limited) => limited.retry_after.map_or(1, |d| d.as_ticks() as u32),
    };
    let wait = b
        .time_until(n, now)
        .map_or_else(|e| e.burst, |d| d.as_ticks() as u32);
    taken ^ wait ^ b.available(now)
}

// ---- retry runner: the breaker, the budget, a per-attempt timeout and a
// deadline, over a fake delay and the embassy-time clock (the same fakes
// and `block_on` are in `size_baseline`).

fn retry(p: &mut Probes, input: u32) -> u32 {
    let run = Retry::new(BACKOFF)
        .breaker(&mut p.breaker)
        .budget(&mut p.budget)
        .timeout(Duration::from_millis(50))
        .deadline(Duration::from_secs(1))
        .run(
            Delay,
            &Now,
            async |attempt| {
                if (input >> attempt) & 1 == 0 {
                    Err(input)
                } else {
                    Ok(attempt)
                }
            },
            |e: &u32| {
                if e & 0x100 != 0 {
                    Verdict::Permanent
                } else {
                    Verdict::Retry
                }
            },
        );
    match block_on(run) {
        Ok(attempt) => attempt,
        Err(e) => {
            e.attempts
                ^ match e.stopped {
                    Stopped::Permanent => 1,
                    Stopped::Schedule(_) => 2,
                    Stopped::Budget => 3,
                    Stopped::Deadline => 4,
                }
        }
    }
}

// ---- resilient I2C: a read and a write on two devices, transitions,
// device state, the three errors.

const I2C: i2c::Config<CountWindow<20>> =
    i2c::Config::new(BACKOFF, BREAKER).writes(WriteRetry::AddressNackOnly);

fn i2c(
    bus: &mut ResilientI2c<FakeBus, Delay, Now, CountWindow<20>, 2>,
    now: Instant,
    input: u32,
) -> u32 {
    let address = 0x48 | (input & 3) as u8;
    let mut buf = [0_u8; 2];
    let result = block_on(async {
        if input & 4 == 0 {
            bus.write_read(address, &[0], &mut buf).await
        } else {
            bus.write(address, &[1, input as u8]).await
        }
    });
    let code = match result {
        Ok(()) => u32::from(buf[0]),
        Err(I2cError::Bus { attempts, .. }) => u32::from(attempts),
        Err(I2cError::DeviceDown { retry_after, .. }) => {
            retry_after.map_or(7, |d| d.as_ticks() as u32)
        }
        Err(I2cError::TooManyDevices { address }) => u32::from(address),
    };
    let transition = bus
        .take_transition()
        .map_or(0, |(a, t)| u32::from(a) ^ t.to as u32);
    code ^ transition ^ bus.device_state(address, now).map_or(9, |s| s as u32)
}
