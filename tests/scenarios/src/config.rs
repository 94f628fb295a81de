//! Configuration from files (feature `serde`): configurations read from
//! JSON bytes with `serde-json-core`, no allocator, then run on the
//! timeline; and the exact unit conversions, in 128-bit integers, on a
//! 32-bit core.

use core::fmt::Write;

use fusebox::breaker::{ConsecutiveFailures, FailureCount, Outcome as Call, State};
use fusebox::config::units::{DurationTextAt, UnitError, parse_duration_at, parse_rate_at};
use fusebox::config::{AdaptiveTimeoutSpec, BackoffSpec, BreakerSpec, Got, HedgeSpec, LimiterSpec};
use fusebox::latency::{AdaptiveTimeout, hedge, timeout};
use fusebox::time::Duration;

use crate::timeline::{at as t, scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every configuration scenario.
pub const SCENARIOS: &[Scenario] = &[
    s(
        "config::breaker_from_json_trips_and_reopens_as_written",
        breaker_from_json_trips_and_reopens_as_written,
    ),
    s(
        "config::out_of_range_names_the_field_and_the_value",
        out_of_range_names_the_field_and_the_value,
    ),
    s(
        "config::limiter_and_backoff_from_json",
        limiter_and_backoff_from_json,
    ),
    s(
        "config::specs_write_back_to_themselves",
        specs_write_back_to_themselves,
    ),
    s(
        "config::durations_convert_exactly_or_not_at_all",
        durations_convert_exactly_or_not_at_all,
    ),
    s(
        "config::failure_count_with_a_table_of_open_durations",
        failure_count_with_a_table_of_open_durations,
    ),
    s(
        "config::adaptive_timeout_and_hedge_from_json",
        adaptive_timeout_and_hedge_from_json,
    ),
];

const FAILURE_COUNT: &[u8] = br#"{"policy":"failure_count","failure_threshold":2,"interval":"1s","open_durations":["100ms","300ms"],"half_open_probes":2,"half_open_successes":2,"probe_rule":"per_round"}"#;

/// The `'static` copy of the file's table that firmware keeps (a
/// `static`, or a `StaticCell` filled once).
static TABLE: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(300)];

fn failure_count_with_a_table_of_open_durations() -> Outcome {
    let (spec, _) = take!(serde_json_core::from_slice::<BreakerSpec>(FAILURE_COUNT));
    check!(spec.check().is_ok());
    // Without a 'static copy the core says what it needs.
    let err = take!(spec.build::<FailureCount>().err());
    check_eq!(err.field, "open_durations");
    check_eq!(err.got, Got::Entries(2));
    let mut b = take!(spec.build_with_table::<FailureCount>(Some(&TABLE)));
    let sec = Duration::from_secs(1).as_ticks();
    let mut call = |at: u64, outcome: Call| -> Outcome {
        let p = take!(b.try_acquire(t(at)));
        b.record(p, outcome, t(at));
        Ok(())
    };
    call(0, Call::Failure)?;
    // The interval [0, 1 s) is over: the count starts again.
    call(sec, Call::Failure)?;
    call(sec + 1, Call::Success)?;
    // Two failures within [1 s, 2 s), a success between: Open for 100 ms.
    call(sec + 2, Call::Failure)?;
    check_eq!(b.state(t(sec + 2)), State::Open);
    check_eq!(b.retry_after(t(sec + 2)), Some(Duration::from_millis(100)));
    // Half-open: two probes per round, a third refused while they run.
    let reopen = sec + 2 + Duration::from_millis(100).as_ticks();
    let a = take!(b.try_acquire(t(reopen)));
    let _second = take!(b.try_acquire(t(reopen)));
    check!(b.try_acquire(t(reopen)).is_err());
    // A failed probe: the second trip in a row, open for 300 ms.
    b.record(a, Call::Failure, t(reopen + 1));
    check_eq!(
        b.retry_after(t(reopen + 1)),
        Some(Duration::from_millis(300))
    );
    // Written back as read.
    let mut out = [0u8; 256];
    let n = take!(serde_json_core::to_slice(&spec, &mut out));
    let written = take!(out.get(..n));
    check_eq!(written, FAILURE_COUNT);
    Ok(())
}

fn adaptive_timeout_and_hedge_from_json() -> Outcome {
    let (spec, _) = take!(serde_json_core::from_slice::<AdaptiveTimeoutSpec>(
        br#"{"initial":"100ticks","min":"10ticks","max":"1000ticks","window":"1000ticks","quantile":"p50","min_samples":2,"slots":4}"#
    ));
    // The slot count the file states must be the compiled S.
    let err = take!(spec.build::<3, 40, 3>().err());
    check_eq!(err.field, "slots");
    check_eq!(err.got, Got::Int(4));
    let mut from_file = take!(spec.build::<3, 40, 4>());
    // (A factor and a percentage are read with `deserialize_any`, which
    // serde-json-core lacks: `multiplier` and `budget_percent` are left at
    // their defaults here.)
    let config = timeout::Config::new(d(100), d(10), d(1_000))
        .quantile(500_000)
        .min_samples(2);
    check_eq!(*from_file.config(), config);
    let mut in_code = take!(AdaptiveTimeout::<3, 40, 4>::new(config, d(1_000)));
    check_eq!(from_file.timeout(t(0)), d(100));
    for at in [1, 2, 3] {
        from_file.record(d(200), t(at));
        in_code.record(d(200), t(at));
    }
    check_eq!(from_file.timeout(t(3)), in_code.timeout(t(3)));
    check!(from_file.timeout(t(3)) != d(100));

    let (spec, _) = take!(serde_json_core::from_slice::<HedgeSpec>(
        br#"{"window":"1000ticks","quantile":"p99","max_hedges":2,"budget_floor":"1/s","min_samples":10}"#
    ));
    let hedge = take!(spec.build::<3, 40, 4>());
    check_eq!(
        *hedge.config(),
        hedge::Config::new()
            .quantile(990_000)
            .max_hedges(2)
            .budget_percent(10)
            .min_hedges_per_sec(1)
            .min_samples(10)
    );
    let (bad, _) = take!(serde_json_core::from_slice::<HedgeSpec>(
        br#"{"window":"1000ticks","max_hedges":0}"#
    ));
    check_eq!(take!(bad.check().err()).field, "max_hedges");
    Ok(())
}

const BREAKER: &[u8] = br#"{
    "policy": "consecutive_failures",
    "failure_threshold": 3,
    "open_duration": "100ms",
    "probe_timeout": "1s"
}"#;

fn breaker_from_json_trips_and_reopens_as_written() -> Outcome {
    let (spec, _) = take!(serde_json_core::from_slice::<BreakerSpec>(BREAKER));
    let mut b = take!(spec.build::<ConsecutiveFailures>());
    for i in 0..3 {
        let p = take!(b.try_acquire(t(i)));
        b.record(p, Call::Failure, t(i));
    }
    check_eq!(b.state(t(2)), State::Open);
    check_eq!(b.retry_after(t(2)), Some(Duration::from_millis(100)));
    let reopen = 2 + Duration::from_millis(100).as_ticks();
    check_eq!(b.state(t(reopen - 1)), State::Open);
    check_eq!(b.state(t(reopen)), State::HalfOpen);
    Ok(())
}

/// A fixed buffer to render a message into, without an allocator.
struct Buf {
    bytes: [u8; 128],
    len: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Buf {
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

fn out_of_range_names_the_field_and_the_value() -> Outcome {
    let file = br#"{"policy": "consecutive_failures", "failure_threshold": 0}"#;
    let (spec, _) = take!(serde_json_core::from_slice::<BreakerSpec>(file));
    let err = match spec.build::<ConsecutiveFailures>() {
        Ok(_) => {
            return Err(crate::Failure {
                check: "a threshold of 0 is refused",
                line: line!(),
            });
        }
        Err(e) => e,
    };
    check_eq!(err.field, "failure_threshold");
    check_eq!(err.got, Got::Int(0));
    check_eq!(take!(err.config_error()).field(), "failure_threshold");
    let mut buf = Buf {
        bytes: [0; 128],
        len: 0,
    };
    check!(write!(buf, "{err}").is_ok());
    check_eq!(
        buf.as_bytes(),
        b"failure_threshold: must be at least 1 (0 would trip on every call), got 0"
    );
    // A field the policy does not use is refused, not ignored.
    let file = br#"{"policy": "consecutive_failures", "failure_threshold": 3, "minimum_calls": 5}"#;
    let (spec, _) = take!(serde_json_core::from_slice::<BreakerSpec>(file));
    let err = take!(spec.check().err());
    check_eq!(err.field, "minimum_calls");
    check_eq!(err.got, Got::Int(5));
    Ok(())
}

fn limiter_and_backoff_from_json() -> Outcome {
    let (spec, _) = take!(serde_json_core::from_slice::<LimiterSpec>(
        br#"{"rate": "5/250ms", "burst": 5}"#
    ));
    let bucket = take!(spec.build());
    // 5 per 250 ms is one per 50 ms, in lowest terms.
    check_eq!(bucket.quota().rate(), 1);
    check_eq!(bucket.quota().period(), Duration::from_millis(50));
    check_eq!(bucket.available(t(0)), 5);

    let (spec, _) = take!(serde_json_core::from_slice::<BackoffSpec>(
        br#"{"schedule": "linear", "initial": "10ms", "step": "5ms", "cap": "20ms", "max_attempts": 5}"#
    ));
    let mut backoff = take!(spec.build(1));
    let ms = Duration::from_millis;
    check_eq!(backoff.next(), Some(ms(10)));
    check_eq!(backoff.next(), Some(ms(15)));
    check_eq!(backoff.next(), Some(ms(20)));
    check_eq!(backoff.next(), Some(ms(20)));
    check_eq!(backoff.next(), None);
    Ok(())
}

fn specs_write_back_to_themselves() -> Outcome {
    let (spec, _) = take!(serde_json_core::from_slice::<BreakerSpec>(BREAKER));
    let mut out = [0u8; 256];
    let n = take!(serde_json_core::to_slice(&spec, &mut out));
    let written = take!(out.get(..n));
    check_eq!(
        written,
        &br#"{"policy":"consecutive_failures","failure_threshold":3,"open_duration":"100ms","probe_timeout":"1s"}"#[..]
    );
    let (again, _) = take!(serde_json_core::from_slice::<BreakerSpec>(written));
    check_eq!(again, spec);
    Ok(())
}

fn durations_convert_exactly_or_not_at_all() -> Outcome {
    // A 32 768 Hz RTC: 125 ms is 4096 ticks; 1 ms is 32.768, refused.
    check_eq!(
        parse_duration_at("125ms", 32_768),
        Ok(Duration::from_ticks(4_096))
    );
    check_eq!(
        parse_duration_at("1ms", 32_768),
        Err(UnitError::NotWholeTicks)
    );
    check_eq!(
        parse_duration_at("1.5s", 1_000_000),
        Ok(Duration::from_ticks(1_500_000))
    );
    check_eq!(
        parse_duration_at("18446744073709551616ticks", 1),
        Err(UnitError::Overflow)
    );
    check_eq!(
        parse_duration_at("213504d", 1_000_000_000),
        Err(UnitError::Overflow)
    );
    check_eq!(
        parse_rate_at("10/s", 32_768).map(|r| r.per),
        Ok(Duration::from_ticks(32_768))
    );
    // Written back in the largest exact unit, or in ticks, and read again.
    for (ticks, hz, text) in [
        (4_096u64, 32_768u64, &b"125ms"[..]),
        (1, 32_768, b"1ticks"),
        (120_000_000, 1_000_000, b"2min"),
    ] {
        let mut buf = Buf {
            bytes: [0; 128],
            len: 0,
        };
        check!(write!(buf, "{}", DurationTextAt(Duration::from_ticks(ticks), hz)).is_ok());
        check_eq!(buf.as_bytes(), text);
        let s = take!(core::str::from_utf8(buf.as_bytes()).ok());
        check_eq!(parse_duration_at(s, hz), Ok(Duration::from_ticks(ticks)));
    }
    Ok(())
}
