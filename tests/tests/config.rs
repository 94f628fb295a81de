//! Configuration from files (feature `serde`): human units convert exactly,
//! every example file loads and writes back, and bad files fail with the
//! expected message.

use std::path::PathBuf;

use fusebox::breaker::{ConsecutiveFailures, CountWindow, FailureCount, ProbeRule, TimeWindow};
use fusebox::config::units::{
    DurationText, Factor, Percent, Rate, UnitError, parse_duration, parse_rate,
};
use fusebox::config::{BreakerSpec, LimiterSpec};
use fusebox::hash::Seed;
use fusebox::time::Duration;
use fusebox_std::config::{ConfigFile, Format};

// These expectations are written for embassy-time's default 1 MHz tick rate
// (no `tick-hz-*` feature in this workspace); the conversions below state
// the formula, so check the premise first.
const HZ: u64 = 1_000_000;

#[test]
fn the_tick_rate_is_the_default() {
    assert_eq!(embassy_time_tick_hz(), HZ);
}

fn embassy_time_tick_hz() -> u64 {
    Duration::from_secs(1).as_ticks()
}

#[test]
fn durations_convert_exactly_at_the_tick_rate() {
    let ticks = |s: &str| parse_duration(s).map(|d| d.as_ticks());
    assert_eq!(ticks("250ms"), Ok(250 * HZ / 1_000));
    assert_eq!(ticks("30s"), Ok(30 * HZ));
    assert_eq!(ticks("30 s"), Ok(30 * HZ));
    assert_eq!(ticks("1.5s"), Ok(3 * HZ / 2));
    assert_eq!(ticks("2min"), Ok(120 * HZ));
    assert_eq!(ticks("2m"), Ok(120 * HZ));
    assert_eq!(ticks("1h"), Ok(3_600 * HZ));
    assert_eq!(ticks("1d"), Ok(86_400 * HZ));
    assert_eq!(ticks("10us"), Ok(10));
    assert_eq!(ticks("10µs"), Ok(10));
    assert_eq!(ticks("3000ns"), Ok(3));
    assert_eq!(ticks("7ticks"), Ok(7));
    assert_eq!(ticks("1tick"), Ok(1));
    assert_eq!(ticks("0s"), Ok(0));
    // 1 ns is a thousandth of a 1 MHz tick: refused, never rounded.
    assert_eq!(ticks("1ns"), Err(UnitError::NotWholeTicks));
    assert_eq!(ticks("1.0000005s"), Err(UnitError::NotWholeTicks));
    assert_eq!(ticks("0.5ticks"), Err(UnitError::NotWholeTicks));
    // u64::MAX ticks is the most; one more overflows.
    assert_eq!(ticks("18446744073709551615ticks"), Ok(u64::MAX));
    assert_eq!(ticks("18446744073709551616ticks"), Err(UnitError::Overflow));
    assert_eq!(ticks("18446744073709552s"), Err(UnitError::Overflow));
    assert_eq!(
        ticks("99999999999999999999999999999999999999999d"),
        Err(UnitError::Overflow)
    );
    // Syntax.
    assert_eq!(ticks("30"), Err(UnitError::Unit));
    assert_eq!(ticks("30 sec"), Err(UnitError::Unit));
    assert_eq!(ticks("s"), Err(UnitError::Number));
    assert_eq!(ticks(""), Err(UnitError::Number));
    assert_eq!(ticks("1.2.3s"), Err(UnitError::Number));
    assert_eq!(ticks("-1s"), Err(UnitError::Number));
}

#[test]
fn durations_convert_exactly_at_other_tick_rates() {
    use fusebox::config::units::{DurationTextAt, parse_duration_at, parse_rate_at};
    // A 32 768 Hz RTC: a millisecond is 32.768 ticks, refused; 125 ms is
    // 4096 ticks, exact.
    let rtc = 32_768;
    let ticks = |s: &str, hz: u64| parse_duration_at(s, hz).map(|d| d.as_ticks());
    assert_eq!(ticks("1ms", rtc), Err(UnitError::NotWholeTicks));
    assert_eq!(ticks("125ms", rtc), Ok(4_096));
    assert_eq!(ticks("1s", rtc), Ok(32_768));
    assert_eq!(ticks("0.5s", rtc), Ok(16_384));
    assert_eq!(ticks("30517578125ps", rtc), Err(UnitError::Unit));
    assert_eq!(ticks("3ticks", rtc), Ok(3));
    // 1 kHz: a microsecond is a thousandth of a tick.
    assert_eq!(ticks("1us", 1_000), Err(UnitError::NotWholeTicks));
    assert_eq!(ticks("1000us", 1_000), Ok(1));
    // 1 GHz: u64::MAX ticks is about 584 years; 585 years overflows.
    assert_eq!(
        ticks("213503d", 1_000_000_000),
        Ok(213_503 * 86_400 * 1_000_000_000)
    );
    assert_eq!(ticks("213504d", 1_000_000_000), Err(UnitError::Overflow));
    // Written back in the largest exact unit, or in ticks.
    let text = |t: u64, hz: u64| DurationTextAt(Duration::from_ticks(t), hz).to_string();
    assert_eq!(text(4_096, rtc), "125ms");
    assert_eq!(text(1, rtc), "1ticks");
    assert_eq!(text(3 * 32_768, rtc), "3s");
    for hz in [1, 1_000, 32_768, 1_000_000, 1_000_000_000, 48_000_000, 3] {
        for t in [
            1u64,
            2,
            3,
            7,
            4_096,
            32_768,
            1_000_000,
            123_456_789,
            u64::MAX,
        ] {
            let d = Duration::from_ticks(t);
            assert_eq!(
                parse_duration_at(&text(t, hz), hz),
                Ok(d),
                "{t} ticks at {hz} Hz"
            );
        }
    }
    // Rates convert their period the same way.
    assert_eq!(parse_rate_at("10/ms", rtc), Err(UnitError::NotWholeTicks));
    assert_eq!(
        parse_rate_at("10/s", rtc).map(|r| r.per.as_ticks()),
        Ok(32_768)
    );
}

#[test]
fn durations_are_written_in_the_largest_exact_unit_and_read_back() {
    let text = |t: u64| DurationText(Duration::from_ticks(t)).to_string();
    assert_eq!(text(0), "0s");
    assert_eq!(text(250_000), "250ms");
    assert_eq!(text(1_500_000), "1500ms");
    assert_eq!(text(120 * HZ), "2min");
    assert_eq!(text(7), "7us");
    assert_eq!(text(u64::MAX), "18446744073709551615us");
    // Every value reads back as itself.
    let mut t: u64 = 1;
    while t < u64::MAX / 3 {
        for v in [t, t + 1, t.saturating_mul(1_000), t.saturating_mul(60 * HZ)] {
            let d = Duration::from_ticks(v);
            assert_eq!(
                parse_duration(&DurationText(d).to_string()),
                Ok(d),
                "{v} ticks"
            );
        }
        t = t * 3 + 1;
    }
}

#[test]
fn rates_percentages_and_factors() {
    assert_eq!(
        parse_rate("100/s"),
        Ok(Rate {
            count: 100,
            per: Duration::from_secs(1)
        })
    );
    assert_eq!(
        parse_rate("5/250ms"),
        Ok(Rate {
            count: 5,
            per: Duration::from_millis(250)
        })
    );
    assert_eq!(
        parse_rate("6000/min"),
        Ok(Rate {
            count: 6000,
            per: Duration::from_secs(60)
        })
    );
    assert_eq!(parse_rate("100"), Err(UnitError::Slash));
    assert_eq!(parse_rate("100/fortnight"), Err(UnitError::Unit));
    assert_eq!(parse_rate("4294967296/s"), Err(UnitError::Overflow));
    for text in ["100/s", "5/250ms", "6000/min", "1/3s", "7/10us"] {
        assert_eq!(parse_rate(text).map(|r| r.to_string()).as_deref(), Ok(text));
    }

    let percent = |json: &str| serde_json::from_str::<Percent>(json).map_err(|e| e.to_string());
    assert_eq!(percent("\"50%\""), Ok(Percent(50)));
    assert_eq!(percent("50"), Ok(Percent(50)));
    assert_eq!(percent("\" 7 %\""), Ok(Percent(7)));
    assert!(
        percent("\"50\"")
            .unwrap_err()
            .starts_with("expected a percentage")
    );
    assert!(
        percent("\"5.5%\"")
            .unwrap_err()
            .contains("whole percents only")
    );
    assert!(
        percent("-1")
            .unwrap_err()
            .starts_with("a percentage is at least 0")
    );
    assert_eq!(serde_json::to_string(&Percent(80)).unwrap(), "\"80%\"");

    let factor = |json: &str| serde_json::from_str::<Factor>(json).map_err(|e| e.to_string());
    assert_eq!(factor("2"), Ok(Factor { num: 2, den: 1 }));
    assert_eq!(factor("\"3/2\""), Ok(Factor { num: 3, den: 2 }));
    assert!(factor("\"1.5\"").is_err());
    assert_eq!(
        serde_json::to_string(&Factor { num: 2, den: 1 }).unwrap(),
        "2"
    );
    assert_eq!(
        serde_json::to_string(&Factor { num: 3, den: 2 }).unwrap(),
        "\"3/2\""
    );
}

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../std-adapter/examples/config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| Format::from_path(p).is_some())
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_file_loads_builds_and_says_the_same() {
    let files = examples();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut loaded = Vec::new();
    for path in &files {
        let file = ConfigFile::load(path).unwrap_or_else(|e| panic!("{e}"));
        // The types the example server compiles in.
        let payments = file.breaker::<CountWindow<20>>("payments").unwrap();
        let inventory = file.breaker::<TimeWindow<10>>("inventory").unwrap();
        let search = file.breaker::<ConsecutiveFailures>("search").unwrap();
        let recommendations = file.breaker::<FailureCount>("recommendations").unwrap();
        for upstream in ["payments", "inventory", "search", "recommendations"] {
            file.limiter(upstream).unwrap();
            file.bulkhead(upstream).unwrap();
        }
        file.retry_budget::<10>("default").unwrap();
        let concurrent = file.concurrent_retry_budget("default").unwrap();
        assert_eq!(
            concurrent,
            fusebox::rate::ConcurrentRetryBudget::builder()
                .budget_percent(20)
                .min_retry_concurrency(3)
                .build()
                .unwrap()
        );
        file.backoff("default", 1).unwrap();
        file.dedup::<u64, u16, 4096>("idempotency", Seed::new(1, 2))
            .unwrap();
        // Values as written: 5 s doubling to 2 min, 2 s slow calls at 80 %.
        let expected = fusebox::breaker::Config::new()
            .open_duration_growing(Duration::from_secs(5), 2, Duration::from_secs(120))
            .half_open_probes(2)
            .half_open_successes(3)
            .probe_timeout(Duration::from_secs(10))
            .slow_calls(Duration::from_secs(2), 80);
        assert_eq!(*payments.config(), expected);
        // 30 s, +30 s per trip in a row, up to 5 min; 3 probes per round.
        let s = Duration::from_secs;
        let inventory = inventory.config();
        let open: Vec<_> = [1, 2, 3, 10, 11]
            .map(|n| inventory.open_duration_after(n))
            .into();
        assert_eq!(open, [s(30), s(60), s(90), s(300), s(300)]);
        assert_eq!(
            *inventory,
            fusebox::breaker::Config::new()
                .open_duration_linear(s(30), s(30), s(300))
                .half_open_probes(3)
                .half_open_successes(2)
                .probe_rule(ProbeRule::PerRound)
        );
        assert_eq!(search.policy().counting_interval(), Some(s(60)));
        // Ten failures a minute; open 1 s, 5 s, then 30 s.
        assert_eq!(recommendations.policy().counting_interval(), Some(s(60)));
        let open: Vec<_> = (1..=4)
            .map(|n| recommendations.config().open_duration_after(n))
            .collect();
        assert_eq!(open, [s(1), s(5), s(30), s(30)]);
        assert_eq!(
            *recommendations.policy(),
            FailureCount::new(10).unwrap().interval(s(60)).unwrap()
        );
        // The same table twice is one 'static copy.
        let again = file.breaker_config("recommendations").unwrap();
        match (
            again.break_duration_schedule(),
            recommendations.config().break_duration_schedule(),
        ) {
            (
                fusebox::breaker::BreakDuration::Table(a),
                fusebox::breaker::BreakDuration::Table(b),
            ) => assert!(std::ptr::eq(a, b)),
            other => panic!("not tables: {other:?}"),
        }
        // p99 x 3/2 + 10 ms, 500 ms before 100 samples.
        let mut timeout = file.adaptive_timeout::<5, 464, 5>("payments").unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            *timeout.config(),
            fusebox::latency::timeout::Config::new(ms(500), ms(50), ms(2_000))
                .quantile(990_000)
                .multiplier(3, 2)
                .margin(ms(10))
                .min_samples(100)
        );
        assert_eq!(
            timeout.timeout(fusebox::time::Instant::from_ticks(0)),
            ms(500)
        );
        let hedge = file.hedge::<5, 464, 5>("search").unwrap();
        assert_eq!(
            *hedge.config(),
            fusebox::latency::hedge::Config::new()
                .quantile(950_000)
                .max_hedges(1)
                .budget_percent(10)
                .min_hedges_per_sec(1)
                .min_samples(20)
                .min_delay(ms(5))
        );
        let q = file.limiter("inventory").unwrap().quota();
        assert_eq!(
            (q.rate(), q.period(), q.burst()),
            (1, Duration::from_millis(50), 5)
        );
        assert_eq!(file.bulkhead("inventory").unwrap().limit(), 64);
        loaded.push(file);
    }
    assert!(
        loaded.windows(2).all(|w| w[0] == w[1]),
        "the formats disagree"
    );
}

#[test]
fn every_format_writes_back_what_it_read() {
    for path in examples() {
        let file = ConfigFile::load(&path).unwrap();
        for format in [Format::Toml, Format::Yaml, Format::Json] {
            let text = file.to_string(format).unwrap();
            let again =
                ConfigFile::from_str(&text, format).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(again, file, "{format:?} from {}", path.display());
            assert_eq!(again.to_string(format).unwrap(), text, "stable text");
        }
    }
}

#[test]
fn a_spec_round_trips_alone_too() {
    let spec = BreakerSpec::new(fusebox::config::PolicyKind::ConsecutiveFailures);
    let spec = BreakerSpec {
        failure_threshold: Some(3),
        ..spec
    };
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(
        json,
        r#"{"policy":"consecutive_failures","failure_threshold":3}"#
    );
    assert_eq!(serde_json::from_str::<BreakerSpec>(&json).unwrap(), spec);
    let limiter: LimiterSpec = serde_json::from_str(r#"{"rate":"100/s","burst":20}"#).unwrap();
    assert_eq!(limiter.quota().unwrap().period(), Duration::from_millis(10));
}

/// A file that must fail, in `format`, with `expected` as its message.
fn refused(format: Format, text: &str) -> String {
    match ConfigFile::from_str(text, format) {
        Ok(file) => panic!("loaded: {file:?}"),
        Err(e) => e.to_string(),
    }
}

const GOOD_BREAKER: &str = "[breaker.payments]\npolicy = \"count_window\"\nwindow = 20\nfailure_rate = \"50%\"\nminimum_calls = 10\n";

#[test]
fn bad_files_say_what_is_wrong_and_where() {
    use Format::{Json, Toml, Yaml};
    let table: &[(&str, Format, &str, &str)] = &[
        (
            "unknown field",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_treshold = 5\n",
            "breaker.payments.failure_treshold: unknown field `failure_treshold`, expected one of `policy`, `failure_threshold`, `failure_rate`, `window`, `buckets`, `minimum_calls`, `interval`, `open_duration`, `open_duration_factor`, `open_duration_step`, `open_duration_max`, `open_durations`, `half_open_probes`, `half_open_successes`, `probe_rule`, `probe_timeout`, `slow_call_duration`, `slow_call_rate` (line 3)",
        ),
        (
            "unknown section",
            Toml,
            "[breakers.payments]\npolicy = \"consecutive_failures\"\n",
            "breakers: unknown field `breakers`, expected one of `breaker`, `limiter`, `keyed_limiter`, `retry_budget`, `concurrent_retry_budget`, `bulkhead`, `adaptive_limit`, `backoff`, `dedup`, `adaptive_timeout`, `hedge` (line 1)",
        ),
        (
            "wrong unit",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_duration = \"30 sec\"\n",
            "breaker.payments.open_duration: expected a duration with a unit (ns, us, ms, s, m, min, h, d or ticks), e.g. \"30s\" or \"250ms\", got \"30 sec\" (line 4)",
        ),
        (
            "a duration without a unit",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_duration = 30\n",
            "breaker.payments.open_duration: a duration needs a unit, e.g. \"30s\" or \"30ms\", got 30 (line 4)",
        ),
        (
            "not representable at the tick rate",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nprobe_timeout = \"1ns\"\n",
            "breaker.payments.probe_timeout: not a whole number of ticks at this binary's tick rate (embassy-time's TICK_HZ); state it in ticks or as a coarser duration, got \"1ns\" (line 4)",
        ),
        (
            "out of range",
            Toml,
            "[breaker.payments]\npolicy = \"count_window\"\nwindow = 20\nfailure_rate = 150\nminimum_calls = 10\n",
            "breaker.payments.failure_rate: must be in 1..=100 (percent), got 150",
        ),
        (
            "out of range, as a percentage",
            Yaml,
            "breaker:\n  payments:\n    policy: count_window\n    failure_rate: 150%\n    minimum_calls: 10\n",
            "breaker.payments.failure_rate: must be in 1..=100 (percent), got 150",
        ),
        (
            "out of range across fields",
            Toml,
            "[breaker.payments]\npolicy = \"count_window\"\nwindow = 20\nfailure_rate = \"50%\"\nminimum_calls = 30\n",
            "breaker.payments.minimum_calls: must be in 1..=N, the window's length (more could never be reached), got 30",
        ),
        (
            "missing required field",
            Toml,
            "[limiter.payments]\nrate = \"100/s\"\n",
            "limiter.payments: missing field `burst` (line 1)",
        ),
        (
            "missing field the policy needs",
            Json,
            r#"{"breaker": {"payments": {"policy": "count_window", "window": 20, "minimum_calls": 10}}}"#,
            "breaker.payments.failure_rate: required by policy count_window, got nothing",
        ),
        (
            "a field the policy does not use",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nminimum_calls = 10\n",
            "breaker.payments.minimum_calls: not used by policy consecutive_failures (remove it), got 10",
        ),
        (
            "a zero rate",
            Json,
            r#"{"limiter": {"search": {"rate": "0/s", "burst": 5}}}"#,
            "limiter.search.rate: must be at least 1 token per period (0 would never refill), got \"0/s\"",
        ),
        (
            "a rate without a period",
            Yaml,
            "limiter:\n  search: { rate: 100, burst: 5 }\n",
            "limiter.search.rate: expected `count/period`, e.g. \"100/s\" or \"5/250ms\", got \"100\" (line 2)",
        ),
        (
            "a floor that is not per second",
            Toml,
            "[retry_budget.default]\npercent = \"20%\"\nfloor = \"1/3s\"\nttl = \"10s\"\n",
            "retry_budget.default.floor: must be a whole number of retries per second, e.g. \"10/s\", got \"1/3s\"",
        ),
        (
            "a concurrency budget over 100 %",
            Toml,
            "[concurrent_retry_budget.default]\nbudget_percent = \"150%\"\nmin_retry_concurrency = 3\n",
            "concurrent_retry_budget.default.budget_percent: must be in 0..=100 (percent of the requests in flight), got 150",
        ),
        (
            "a concurrency budget without its minimum",
            Yaml,
            "concurrent_retry_budget:\n  default: { budget_percent: 20% }\n",
            "concurrent_retry_budget.default: missing field `min_retry_concurrency` (line 2)",
        ),
        (
            "a concurrency budget's unknown field",
            Json,
            r#"{"concurrent_retry_budget": {"default": {"budget_percent": 20, "min_retry_concurrency": 3, "max_retries": 5}}}"#,
            "concurrent_retry_budget.default.max_retries: unknown field `max_retries`, expected `budget_percent` or `min_retry_concurrency` (line 1)",
        ),
        (
            "an unknown policy",
            Toml,
            "[breaker.payments]\npolicy = \"sliding\"\n",
            "breaker.payments.policy: unknown variant `sliding`, expected one of `consecutive_failures`, `failure_count`, `count_window`, `time_window` (line 2)",
        ),
        (
            "a backoff cap under its start",
            Toml,
            "[backoff.default]\nschedule = \"exponential\"\ninitial = \"1s\"\nfactor = 2\ncap = \"500ms\"\n",
            "backoff.default.cap: must be at least the initial delay, got \"500ms\"",
        ),
        (
            "a zero bulkhead",
            Yaml,
            "bulkhead:\n  search:\n    max_concurrent_calls: 0\n",
            "bulkhead.search.max_concurrent_calls: must be in 1..=4294967295 (0 would refuse every call), got 0",
        ),
        (
            "an adaptive limit out of its bounds",
            Toml,
            "[adaptive_limit.search]\nmin = 10\nmax = 100\ninitial = 5\n",
            "adaptive_limit.search.initial: must be in limits.min..=limits.max, got 5",
        ),
        (
            "a dedup TTL of zero",
            Toml,
            "[dedup.idempotency]\ndone_ttl = \"0s\"\n",
            "dedup.idempotency.done_ttl: must be at least 1 tick (0 would forget a result as it is stored), got \"0s\"",
        ),
        (
            "a table of open durations with a zero",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_durations = [\"1s\", \"0s\"]\n",
            "breaker.payments.open_durations: must hold only durations of at least 1 tick (0 would never reject), got \"0s\"",
        ),
        (
            "an empty table of open durations",
            Json,
            r#"{"breaker": {"payments": {"policy": "failure_count", "failure_threshold": 5, "open_durations": []}}}"#,
            "breaker.payments.open_durations: must hold 1 to 255 durations (the last one repeats), got 0 entries",
        ),
        (
            "a table of open durations beside an open duration",
            Yaml,
            "breaker:\n  payments:\n    policy: consecutive_failures\n    failure_threshold: 5\n    open_duration: 30s\n    open_durations: [1s, 5s]\n",
            "breaker.payments.open_duration: not used by open_durations (remove it), got \"30s\"",
        ),
        (
            "a table of open durations too long for a file",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_durations = [\"1s\", \"2s\", \"3s\", \"4s\", \"5s\", \"6s\", \"7s\", \"8s\", \"9s\", \"10s\", \"11s\", \"12s\", \"13s\", \"14s\", \"15s\", \"16s\", \"17s\"]\n",
            "breaker.payments.open_durations: a file's table holds at most 16 open durations (build a longer one in code with Config::open_duration_table), got more (line 4)",
        ),
        (
            "a table entry without a unit",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_durations = [\"1s\", 5]\n",
            "breaker.payments.open_durations[1]: a duration needs a unit, e.g. \"5s\" or \"5ms\", got 5 (line 4)",
        ),
        (
            "a linear open duration without its cap",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_duration = \"1s\"\nopen_duration_step = \"1s\"\n",
            "breaker.payments.open_duration_max: required by open_duration_step, got nothing",
        ),
        (
            "a linear open duration with a factor",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_duration_step = \"1s\"\nopen_duration_factor = 2\nopen_duration_max = \"1min\"\n",
            "breaker.payments.open_duration_factor: not used by open_duration_step (remove it), got 2",
        ),
        (
            "a linear open duration capped under its start",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nopen_duration = \"10s\"\nopen_duration_step = \"1s\"\nopen_duration_max = \"5s\"\n",
            "breaker.payments.open_duration_max: must be at least the initial open duration, got \"5s\"",
        ),
        (
            "an unknown probe rule",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nprobe_rule = \"per_call\"\n",
            "breaker.payments.probe_rule: unknown variant `per_call`, expected `in_flight` or `per_round` (line 4)",
        ),
        (
            "more successes than a round admits",
            Toml,
            "[breaker.payments]\npolicy = \"consecutive_failures\"\nfailure_threshold = 5\nprobe_rule = \"per_round\"\nhalf_open_probes = 2\nhalf_open_successes = 3\n",
            "breaker.payments.half_open_successes: must be at most half_open_probes under ProbeRule::PerRound (a round admits no more probes than that, so more successes could never close it), got 3",
        ),
        (
            "a failure count without its threshold",
            Toml,
            "[breaker.payments]\npolicy = \"failure_count\"\ninterval = \"1min\"\n",
            "breaker.payments.failure_threshold: required by policy failure_count, got nothing",
        ),
        (
            "an interval of zero",
            Toml,
            "[breaker.payments]\npolicy = \"failure_count\"\nfailure_threshold = 10\ninterval = \"0s\"\n",
            "breaker.payments.interval: must be at least 1 tick (leave it unset to count until the breaker trips), got \"0s\"",
        ),
        (
            "an interval on a window policy",
            Toml,
            "[breaker.payments]\npolicy = \"count_window\"\nwindow = 20\nfailure_rate = \"50%\"\nminimum_calls = 10\ninterval = \"1min\"\n",
            "breaker.payments.interval: not used by policy count_window (remove it), got \"1min\"",
        ),
        (
            "an adaptive timeout's min over its max",
            Toml,
            "[adaptive_timeout.payments]\ninitial = \"1s\"\nmin = \"3s\"\nmax = \"2s\"\nwindow = \"60s\"\n",
            "adaptive_timeout.payments.min: must be at most `max`, got \"3s\"",
        ),
        (
            "an adaptive timeout's quantile over p100",
            Yaml,
            "adaptive_timeout:\n  payments: { initial: 1s, min: 10ms, max: 2s, window: 60s, quantile: p150 }\n",
            "adaptive_timeout.payments.quantile: must be in 0..=1000000 (parts per million: 990000 is p99), got \"p150\"",
        ),
        (
            "a quantile as a fraction",
            Toml,
            "[adaptive_timeout.payments]\ninitial = \"1s\"\nmin = \"10ms\"\nmax = \"2s\"\nwindow = \"60s\"\nquantile = \"0.99\"\n",
            "adaptive_timeout.payments.quantile: expected a quantile, e.g. \"p99\", \"p99.9\" or \"99.9%\" (at most 4 decimals: parts per million), got \"0.99\" (line 6)",
        ),
        (
            "an adaptive timeout without its window",
            Json,
            r#"{"adaptive_timeout": {"payments": {"initial": "1s", "min": "10ms", "max": "2s"}}}"#,
            "adaptive_timeout.payments: missing field `window` (line 1)",
        ),
        (
            "an adaptive timeout's window of zero",
            Toml,
            "[adaptive_timeout.payments]\ninitial = \"1s\"\nmin = \"10ms\"\nmax = \"2s\"\nwindow = \"0s\"\n",
            "adaptive_timeout.payments.window: must be at least S - 1 ticks (one tick per slot of the ring), got \"0s\"",
        ),
        (
            "no hedges",
            Toml,
            "[hedge.search]\nwindow = \"60s\"\nmax_hedges = 0\n",
            "hedge.search.max_hedges: must be at least 1 (0 would never hedge), got 0",
        ),
        (
            "a hedge budget over 1000 %",
            Toml,
            "[hedge.search]\nwindow = \"60s\"\nbudget_percent = \"2000%\"\n",
            "hedge.search.budget_percent: must have a percent in 0..=1000 (hedges per 100 requests), got 2000",
        ),
        (
            "a hedge floor that is not per second",
            Toml,
            "[hedge.search]\nwindow = \"60s\"\nbudget_floor = \"1/3s\"\n",
            "hedge.search.budget_floor: must be a whole number of hedges per second, e.g. \"10/s\", got \"1/3s\"",
        ),
        (
            "a hedge's unknown field",
            Toml,
            "[hedge.search]\nwindow = \"60s\"\ndelay = \"5ms\"\n",
            "hedge.search.delay: unknown field `delay`, expected one of `window`, `quantile`, `max_hedges`, `budget_percent`, `budget_floor`, `min_samples`, `min_delay`, `precision_bits`, `buckets`, `slots` (line 3)",
        ),
        (
            "a syntax error",
            Toml,
            "[breaker.payments\n",
            "unclosed table, expected `]` (line 1)",
        ),
    ];
    let mut failures = Vec::new();
    for (what, format, text, expected) in table {
        let got = refused(*format, text);
        if got != *expected {
            failures.push(format!(
                "{what}:\n  expected: {expected:?}\n  got:      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A good entry loads (the table's files differ from it in one line).
    ConfigFile::from_str(GOOD_BREAKER, Toml).unwrap();
}

#[test]
fn sizes_fixed_by_the_type_are_checked_against_the_file() {
    let file = ConfigFile::from_str(GOOD_BREAKER, Format::Toml).unwrap();
    file.breaker::<CountWindow<20>>("payments").unwrap();
    let err = file.breaker::<CountWindow<50>>("payments").unwrap_err();
    assert_eq!(
        err.to_string(),
        "breaker.payments.window: must equal 50, the window length (calls) compiled into the program's type, got 20"
    );
    let err = file.breaker::<TimeWindow<10>>("payments").unwrap_err();
    assert_eq!(
        err.to_string(),
        "breaker.payments.policy: must be \"time_window\", as this program is compiled, got \"count_window\""
    );
    let err = file.breaker::<CountWindow<20>>("refunds").unwrap_err();
    assert_eq!(
        err.to_string(),
        "breaker.refunds: missing: the file's [breaker] entries are payments"
    );

    let file = ConfigFile::from_str(
        "[dedup.ids]\ncapacity = 64\n[keyed_limiter.clients]\nrate = \"10/s\"\nburst = 10\ncapacity = 128\n[retry_budget.default]\npercent = \"20%\"\nfloor = \"10/s\"\nttl = \"10s\"\nslices = 10\n",
        Format::Toml,
    )
    .unwrap();
    file.dedup::<u32, (), 64>("ids", Seed::new(1, 2)).unwrap();
    let err = file
        .dedup::<u32, (), 32>("ids", Seed::new(1, 2))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dedup.ids.capacity: must equal 32, the table's capacity (entries) compiled into the program's type, got 64"
    );
    file.keyed_limiter::<u32, 128>("clients", Seed::new(1, 2))
        .unwrap();
    let err = file
        .keyed_limiter::<u32, 64>("clients", Seed::new(1, 2))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "keyed_limiter.clients.capacity: must equal 64, the table's capacity (keys) compiled into the program's type, got 128"
    );
    file.retry_budget::<10>("default").unwrap();
    let latency = ConfigFile::from_str(
        "[adaptive_timeout.t]\ninitial = \"1s\"\nmin = \"10ms\"\nmax = \"2s\"\nwindow = \"60s\"\nprecision_bits = 4\nbuckets = 176\nslots = 4\n[hedge.h]\nwindow = \"60s\"\nbuckets = 464\n",
        Format::Toml,
    )
    .unwrap();
    latency.adaptive_timeout::<4, 176, 4>("t").unwrap();
    let err = latency.adaptive_timeout::<5, 464, 5>("t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "adaptive_timeout.t.precision_bits: must equal 5, the histogram's precision (bits) compiled into the program's type, got 4"
    );
    let err = latency.adaptive_timeout::<4, 176, 5>("t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "adaptive_timeout.t.slots: must equal 5, the window's slot count compiled into the program's type, got 4"
    );
    latency.hedge::<5, 464, 5>("h").unwrap();
    latency.hedge::<5, 464, 2>("h").unwrap();
    let err = latency.hedge::<4, 176, 4>("h").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hedge.h.buckets: must equal 176, the histogram's bucket count compiled into the program's type, got 464"
    );
    // A window shorter than the compiled slots is found when building.
    let short = ConfigFile::from_str("[hedge.h]\nwindow = \"2us\"\n", Format::Toml).unwrap();
    short.hedge::<4, 176, 3>("h").unwrap();
    let err = short.hedge::<4, 176, 4>("h").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hedge.h.window: must be at least S - 1 ticks (one tick per slot of the ring), got \"2us\""
    );
    let err = file.retry_budget::<4>("default").unwrap_err();
    assert_eq!(
        err.to_string(),
        "retry_budget.default.slices: must equal 4, the number of slices compiled into the program's type, got 10"
    );
}

#[test]
fn a_file_that_cannot_be_read_names_itself() {
    let err = ConfigFile::load("no/such/file.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no/such/file.toml: cannot read: "),
        "{err}"
    );
    let err = ConfigFile::load("server.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "server.ini: unknown format: name the file .toml, .yaml, .yml or .json"
    );
}

#[test]
fn quantiles_read_and_write_back() {
    use fusebox::config::units::{Quantile, parse_quantile};
    assert_eq!(parse_quantile("p99"), Ok(Quantile(990_000)));
    assert_eq!(parse_quantile("p99.9"), Ok(Quantile(999_000)));
    assert_eq!(parse_quantile("p99.9999"), Ok(Quantile(999_999)));
    assert_eq!(parse_quantile("99.9%"), Ok(Quantile(999_000)));
    assert_eq!(parse_quantile(" p50 "), Ok(Quantile(500_000)));
    assert_eq!(parse_quantile("p0"), Ok(Quantile(0)));
    assert_eq!(parse_quantile("p100"), Ok(Quantile(1_000_000)));
    // Over p100 parses; the configuration's check refuses it.
    assert_eq!(parse_quantile("p150"), Ok(Quantile(1_500_000)));
    assert_eq!(parse_quantile("p99.99999"), Err(UnitError::Quantile));
    assert_eq!(parse_quantile("0.99"), Err(UnitError::Quantile));
    assert_eq!(parse_quantile("p"), Err(UnitError::Quantile));
    assert_eq!(parse_quantile("p99%"), Err(UnitError::Quantile));
    assert_eq!(parse_quantile("p500000"), Err(UnitError::Overflow));
    for ppm in [
        0, 1, 10, 100, 999_000, 999_900, 990_000, 500_000, 1_000_000, 123_456,
    ] {
        let q = Quantile(ppm);
        assert_eq!(parse_quantile(&q.to_string()), Ok(q), "{q}");
    }
    assert_eq!(Quantile(999_900).to_string(), "p99.99");
    assert_eq!(Quantile(1).to_string(), "p0.0001");
    assert_eq!(
        serde_json::to_string(&Quantile(950_000)).unwrap(),
        "\"p95\""
    );
}

#[test]
fn a_table_of_open_durations_needs_a_static_copy() {
    use fusebox::config::{MAX_OPEN_DURATIONS, OpenDurations};
    let spec: BreakerSpec = serde_json::from_str(
        r#"{"policy": "failure_count", "failure_threshold": 3, "open_durations": ["1s", "5s", "30s"]}"#,
    )
    .unwrap();
    // The core alone has no allocator: it says what to do.
    assert_eq!(spec.check(), Ok(()));
    let err = spec.build::<FailureCount>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "open_durations: must be given a copy that lives as long as the program, through BreakerSpec::config_with_table or build_with_table (fusebox_std's loader makes one), got 3 entries"
    );
    // A copy that differs from the file's is refused too.
    static OTHER: [Duration; 1] = [Duration::from_secs(1)];
    assert_eq!(
        spec.config_with_table(Some(&OTHER)).unwrap_err().field,
        "open_durations"
    );
    static TABLE: [Duration; 3] = [
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(30),
    ];
    let b = spec.build_with_table::<FailureCount>(Some(&TABLE)).unwrap();
    assert_eq!(b.config().open_duration_after(2), Duration::from_secs(5));
    // A file without a table takes no copy.
    let plain = BreakerSpec {
        open_durations: None,
        ..spec
    };
    assert_eq!(
        plain.config_with_table(Some(&TABLE)).unwrap_err().field,
        "open_durations"
    );
    plain.config().unwrap();
    // A file's table holds up to MAX_OPEN_DURATIONS entries.
    let long = [Duration::from_secs(1); MAX_OPEN_DURATIONS + 1];
    assert!(OpenDurations::new(&long[..MAX_OPEN_DURATIONS]).is_some());
    assert!(OpenDurations::new(&long).is_none());
    assert_eq!(
        serde_json::to_string(&spec).unwrap(),
        r#"{"policy":"failure_count","failure_threshold":3,"open_durations":["1s","5s","30s"]}"#
    );
}
