//! The outage demo (`examples/outage`) on a shortened script, as a test.
//!
//! Its own test binary, so no other test competes for the cores while it
//! runs; one test drives both gateways in turn. It asserts counts only,
//! nothing that depends on how fast this machine is: every request
//! answered; the upstream never sent more than rate plus burst; no
//! `Idempotency-Key` executed twice; nothing reaching the upstream while
//! the breaker is open beyond its probes; no more fusebox requests waiting
//! out the whole client timeout than probes; the breaker's transitions in
//! a legal order and shape. Latencies are printed, never asserted.

// The demo's modules, shared with the example (an example cannot be a
// dependency): the test uses some of them.
#[allow(dead_code)]
#[path = "../examples/outage/demo/mod.rs"]
mod demo;

// The Redis tests' throwaway server (free loopback port, persistence off,
// stopped on drop); `restart` is for tests/tests/redis_degraded.rs.
#[allow(dead_code)]
#[path = "../../tests/tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use demo::{Class, Mode, Run, Script, Settings};
use fusebox::breaker::State;

fn settings() -> Settings {
    Settings {
        // Offered load above the upstream's limit, so the limit binds.
        rate: 150,
        upstream_rate: 100,
        upstream_burst: 10,
        // The retry layer retries a keyed `POST` whose attempt timed out;
        // this upstream does not deduplicate keys itself (a real one
        // should), so an attempt timeout that fires just as the upstream
        // completes would execute a key twice. The short script has no
        // slow phase: only a machine stall reaches the attempt timeout,
        // and 150 ms (three attempts plus backoff still well inside the
        // 1 s client timeout) makes that rarer than the demo's 30 ms.
        attempt_timeout: Duration::from_millis(150),
        ..Settings::default()
    }
}

fn every_request_answered(run: &Run) {
    let label = run.mode.label();
    let unanswered = run
        .samples
        .iter()
        .filter(|s| s.class == Class::Unanswered)
        .count();
    assert_eq!(unanswered, 0, "{label}: requests without an answer");
    let g = &run.gateway;
    assert_eq!(
        g.accepted.load(Ordering::Relaxed),
        g.answered.load(Ordering::Relaxed),
        "{label}: the gateway accepted requests it never answered"
    );
    assert_eq!(
        g.accepted.load(Ordering::Relaxed),
        run.samples.len() as u64,
        "{label}: the gateway saw a different number of requests than were sent"
    );
}

/// The tests that run load take it in turn (the test harness runs tests
/// on parallel threads), so they do not steal each other's cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn outage_short_script_counts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    let script = Script::parse(demo::script::SHORT).expect("the short script parses");
    let s = settings();
    let (plain, fusebox) = rt.block_on(async {
        let plain = demo::run(Mode::Plain, &script, &s)
            .await
            .expect("the plain run");
        let fusebox = demo::run(Mode::Fusebox, &script, &s)
            .await
            .expect("the fusebox run");
        (plain, fusebox)
    });
    // Reported, never asserted.
    println!(
        "{}",
        demo::report::table(&script, &[&plain, &fusebox], s.client_timeout)
    );
    println!(
        "{}",
        demo::report::timeline(&script, &[&plain, &fusebox], s.client_timeout)
    );

    every_request_answered(&plain);
    every_request_answered(&fusebox);

    // Rate plus burst, from the moments requests left for the upstream
    // (stamped right after the rate limit admitted them). Every window
    // of 1 s from each stamp holds at most burst + rate * 1.1 s: 100 ms
    // of slack for a thread descheduled between admission and stamp.
    let sent = fusebox
        .gateway
        .sent_upstream
        .lock()
        .expect("not poisoned")
        .clone();
    assert!(
        sent.len() > 100,
        "the fusebox gateway reached the upstream ({} requests)",
        sent.len()
    );
    let bound = f64::from(s.upstream_burst) + f64::from(s.upstream_rate) * 1.1;
    for (i, t) in sent.iter().enumerate() {
        let in_window = sent[i..].iter().take_while(|u| **u < t + 1.0).count();
        assert!(
            in_window as f64 <= bound,
            "{in_window} requests reached the upstream in the second from {t:.3} s (limit {} /s, burst {})",
            s.upstream_rate,
            s.upstream_burst
        );
    }
    let total = sent.last().copied().unwrap_or(0.0) - sent.first().copied().unwrap_or(0.0);
    assert!(
        sent.len() as f64
            <= f64::from(s.upstream_burst) + f64::from(s.upstream_rate) * (total + 0.1),
        "{} requests reached the upstream in {total:.2} s",
        sent.len()
    );
    // The plain gateway has no limit: the offered load went through.
    let plain_sent = plain
        .gateway
        .sent_upstream
        .lock()
        .expect("not poisoned")
        .len();
    assert!(
        plain_sent > sent.len(),
        "plain {plain_sent} vs fusebox {}",
        sent.len()
    );

    // At most one execution per key (and some keys were executed).
    let executions = fusebox
        .upstream
        .executions
        .lock()
        .expect("not poisoned")
        .clone();
    assert!(
        executions.len() > 10,
        "only {} keyed requests were executed",
        executions.len()
    );
    let twice: Vec<_> = executions.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "keys executed more than once: {twice:?}");

    // The breaker's transitions: a legal chain from Closed.
    let transitions = fusebox
        .gateway
        .transitions
        .lock()
        .expect("not poisoned")
        .clone();
    let mut state = State::Closed;
    for (at, t) in &transitions {
        assert_eq!(
            t.from, state,
            "at {at:.3} s: {t:?} does not follow {state:?}"
        );
        assert!(
            matches!(
                (t.from, t.to),
                (State::Closed, State::Open)
                    | (State::Open, State::HalfOpen)
                    | (State::HalfOpen, State::Open)
                    | (State::HalfOpen, State::Closed)
            ),
            "at {at:.3} s: unexpected transition {t:?}"
        );
        state = t.to;
    }
    let opens = transitions
        .iter()
        .filter(|(_, t)| t.to == State::Open)
        .count() as u64;
    let hang_start = script.start_of(1).as_secs_f64();
    let recover_start = script.start_of(script.phases.len() - 1).as_secs_f64();
    assert!(
        transitions
            .iter()
            .any(|(at, t)| t.to == State::Open && *at >= hang_start && *at < recover_start),
        "the breaker never opened while the upstream hung or failed: {transitions:?}"
    );
    // No more probing rounds than the open time allows over the outage.
    let outage = recover_start - hang_start + 1.0;
    let probe_rounds = transitions
        .iter()
        .filter(|(_, t)| t.to == State::HalfOpen)
        .count() as f64;
    assert!(
        probe_rounds <= outage / (s.open_ms as f64 / 1e3) + 1.0,
        "{probe_rounds} half-open rounds in a {outage:.1} s outage with {} ms open",
        s.open_ms
    );
    // Once recovered it closes and stays closed (in-flight failures from
    // the last failing moment may land in the first 200 ms).
    assert_eq!(
        state,
        State::Closed,
        "the breaker did not close after the upstream recovered"
    );
    let reopened: Vec<_> = transitions
        .iter()
        .filter(|(at, t)| t.to == State::Open && *at > recover_start + 0.2)
        .collect();
    assert!(
        reopened.is_empty(),
        "the breaker opened after the upstream recovered: {reopened:?}"
    );

    // While open, nothing but probes reaches the upstream.
    let probes = u64::from(s.probes);
    let while_open = fusebox.gateway.sent_while_open.load(Ordering::Relaxed);
    assert!(
        while_open <= probes * opens,
        "{while_open} requests reached the upstream while the breaker was open ({opens} open periods, {probes} probe each)"
    );
    // Fusebox requests that waited out the whole client timeout.
    let full = fusebox.gateway.full_timeouts.load(Ordering::Relaxed);
    assert!(
        full <= probes * opens,
        "{full} fusebox requests waited the whole {} ms client timeout ({opens} open periods)",
        s.client_timeout.as_millis()
    );
    // The plain gateway, by contrast, waited it out on every hung request.
    let plain_full = plain.gateway.full_timeouts.load(Ordering::Relaxed);
    assert!(
        plain_full > 0,
        "the plain gateway never timed out while the upstream hung"
    );
}

/// The slow tail (2 % of answers 20 times the median) through no
/// hedging, fusebox's `HedgeLayer` and `tower::hedge`: every request
/// answered, fusebox's extra upstream requests within its hedge budget,
/// the tail hedged. Latencies are printed, never asserted.
#[test]
fn slow_tail_hedging_counts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    let script = Script::parse("tail 2s slow=2% delay=200ms base=10ms").expect("parses");
    let s = settings();
    let (short, runs) = rt
        .block_on(demo::hedge_runs(&script, &s))
        .expect("the hedged runs")
        .expect("the script has a tail phase");
    println!("{}", demo::report::hedge_table(&short, &runs));
    assert_eq!(
        runs.iter().map(|r| r.mode).collect::<Vec<_>>(),
        [Mode::Plain, Mode::FuseboxHedge, Mode::TowerHedge]
    );
    for run in &runs {
        every_request_answered(run);
        let arrivals = run.upstream.arrivals.lock().expect("not poisoned").len();
        assert!(
            arrivals >= run.samples.len(),
            "{}: {arrivals} upstream requests for {} requests",
            run.mode.label(),
            run.samples.len()
        );
    }
    // Without hedging, exactly one upstream request per request.
    let plain = &runs[0];
    assert_eq!(
        plain.upstream.arrivals.lock().expect("not poisoned").len(),
        plain.samples.len(),
        "the gateway without hedging sent copies"
    );
    // Fusebox: the extra upstream requests are its hedges (a copy
    // cancelled before it connected may never arrive), within its budget
    // of 10 % of the requests it recorded.
    let fb = &runs[1];
    let h = fb
        .hedge
        .expect("the fusebox hedge gateway reports its counts");
    let requests = fb.samples.len() as u64;
    let arrivals = fb.upstream.arrivals.lock().expect("not poisoned").len() as u64;
    assert_eq!(h.requests, requests, "every request recorded once: {h:?}");
    assert!(
        arrivals <= requests + h.hedges_sent,
        "{arrivals} upstream requests for {requests} requests and {} hedges",
        h.hedges_sent
    );
    let budget = u64::from(demo::gateway::HEDGE_BUDGET_PERCENT);
    assert!(
        h.hedges_sent * 100 <= h.requests * budget + 100,
        "{} hedges for {} requests: over the {budget} % budget",
        h.hedges_sent,
        h.requests
    );
    // The slow answers were hedged, and hedges answered first.
    assert!(h.hedges_sent > 0, "no hedge was sent: {h:?}");
    assert!(h.hedges_won > 0, "no hedge answered first: {h:?}");
}

/// The value of the series `name{labels}` in a Prometheus text page:
/// the line that starts with `name{` and holds every label.
fn series(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|lab| l.contains(lab)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = format!("http://{addr}{path}").parse().expect("a URI");
    let resp = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .expect("an answer within 5 s")
        .expect("a response");
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("a body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `--serve`: the gateway in front of any HTTP service (`--upstream`),
/// its breaker, rate limit and bulkhead from a configuration file, and
/// fusebox's own metrics at `/metrics`; then in front of the scripted
/// upstream with the default file. Checked by counts on loopback.
#[test]
fn serve_fronts_any_upstream_from_a_config_file_with_metrics() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    rt.block_on(async {
        // Any HTTP service: 200 until told to fail, then 500; it counts
        // what reaches it.
        let failing = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let (f, h) = (Arc::clone(&failing), Arc::clone(&hits));
        let app = axum::Router::new().fallback(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let fail = f.load(Ordering::SeqCst);
            async move {
                if fail {
                    http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    http::StatusCode::OK
                }
            }
        });
        let up = demo::serve(app, 0).await.expect("the upstream listens");

        // Trip after 2 failures in a row, open a minute; a burst of 6
        // and one token a minute, so the bucket's level counts calls.
        let dir = std::env::temp_dir().join(format!("outage-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let file = dir.join("gateway.toml");
        std::fs::write(
            &file,
            "[breaker.edge]\npolicy = \"consecutive_failures\"\nfailure_threshold = 2\nopen_duration = \"60s\"\n\
             [limiter.edge]\nrate = \"1/min\"\nburst = 6\n\
             [bulkhead.edge]\nmax_concurrent_calls = 4\n",
        )
        .expect("write the config file");
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder in this test binary");
        let o = demo::ServeOptions {
            upstream: Some(format!("http://{up}")),
            config: file.clone(),
            entry: "edge".into(),
            port: 0,
        };
        let script = Script::parse(demo::script::SHORT).expect("parses");
        let served = demo::serve_gateway(&o, script.clone(), &settings(), recorder.clone())
            .await
            .expect("the gateway serves");
        let gw = served.addr;

        for _ in 0..3 {
            assert_eq!(get(gw, "/item/1").await.0, 200);
        }
        failing.store(true, Ordering::SeqCst);
        // Attempt 1 fails, the retry's attempt 2 fails and opens the
        // breaker, attempt 3 is refused by it (its Retry-After of a
        // minute ends the retries).
        let (status, _) = get(gw, "/item/2").await;
        assert!(matches!(status, 500 | 503), "a failing upstream answered {status}");
        assert_eq!(hits.load(Ordering::SeqCst), 5, "3 healthy calls and 2 attempts");
        // Open: refused at once, nothing reaches the upstream.
        for _ in 0..3 {
            assert_eq!(get(gw, "/item/3").await.0, 503);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 5, "the open breaker let a call through");

        let (status, page) = get(gw, "/metrics").await;
        assert_eq!(status, 200);
        println!("{page}");
        let up_name = "name=\"upstream\"";
        let value = |name: &str, labels: &[&str]| {
            series(&page, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in /metrics"))
        };
        assert_eq!(value("fusebox_breaker_calls_successful_total", &[up_name]), 3.0);
        assert_eq!(value("fusebox_breaker_calls_failed_total", &[up_name]), 2.0);
        assert_eq!(
            value("fusebox_breaker_transitions_total", &[up_name, "to=\"open\""]),
            1.0
        );
        assert_eq!(
            value("fusebox_breaker_state", &[up_name, "state=\"open\""]),
            1.0
        );
        assert_eq!(value("fusebox_rate_limiter_calls_admitted_total", &[up_name]), 5.0);
        // The file's burst of 6, less the 5 calls.
        assert_eq!(value("fusebox_rate_limiter_tokens", &[up_name]), 1.0);
        assert_eq!(value("fusebox_bulkhead_calls_admitted_total", &[up_name]), 5.0);

        // The scripted upstream and the default file (the demo's values):
        // the same series (same handle names), so they count on.
        let o = demo::ServeOptions {
            upstream: None,
            config: demo::config::default_path(),
            entry: "upstream".into(),
            port: 0,
        };
        let served = demo::serve_gateway(&o, Script::parse("healthy 60s").expect("parses"), &settings(), recorder)
            .await
            .expect("the gateway serves the scripted upstream");
        for i in 0..4 {
            assert_eq!(get(served.addr, &format!("/item/{i}")).await.0, 200);
        }
        let (_, page) = get(served.addr, "/metrics").await;
        assert_eq!(
            series(&page, "fusebox_breaker_calls_successful_total", &[up_name]),
            Some(7.0)
        );
        assert_eq!(
            served.stats.accepted.load(Ordering::Relaxed),
            4,
            "the scripted gateway's own count"
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// The default file holds the demo's own values; the example files'
/// three policy kinds load; a missing entry says what to do.
#[test]
fn config_files_load_into_the_gateway() {
    use demo::config::{AnyProtection, load};
    use demo::gateway::Protection;

    let s = Settings::default();
    let own = load(&demo::config::default_path(), "upstream").expect("the default file loads");
    let AnyProtection::Consecutive(p) = own.protection else {
        panic!("the default file's breaker is consecutive_failures")
    };
    let from_settings = Protection::from_settings(&s).expect("valid settings");
    assert_eq!(p.config, from_settings.config);
    assert_eq!(
        format!("{:?}", p.policy),
        format!("{:?}", from_settings.policy)
    );
    assert_eq!(p.bulkhead, s.bulkhead);
    assert_eq!(
        own.quota,
        fusebox::rate::Quota::per_second(s.upstream_rate)
            .allow_burst(s.upstream_burst)
            .build()
            .expect("a valid quota")
    );

    let server = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/config");
    for ext in ["toml", "yaml", "json"] {
        let path = server.join(format!("server.{ext}"));
        let kinds: Vec<_> = ["payments", "inventory", "search", "recommendations"]
            .iter()
            .map(|name| match load(&path, name).expect("loads").protection {
                AnyProtection::Consecutive(_) => "consecutive",
                AnyProtection::FailureCount(p) => {
                    // Its table of open durations, through the loader's
                    // 'static copy.
                    let open: Vec<_> = (1..=4)
                        .map(|n| p.config.open_duration_after(n).as_secs())
                        .collect();
                    assert_eq!(open, [1, 5, 30, 30]);
                    "failure_count"
                }
                AnyProtection::Count(_) => "count",
                AnyProtection::Time(_) => "time",
            })
            .collect();
        assert_eq!(
            kinds,
            ["count", "time", "consecutive", "failure_count"],
            "{}",
            path.display()
        );
    }
    let e = load(&server.join("server.toml"), "upstream")
        .err()
        .expect("no such entry");
    assert!(e.contains("payments") && e.contains("--entry"), "{e}");
}

/// `--instances N --redis URL`: three gateways behind a round-robin
/// balancer, first each with its own limit and table, then sharing one
/// quota and one idempotency store in a redis-server of the test's own.
/// By counts: every request answered; shared, the upstream never sees
/// more than the fleet's quota plus burst in any second and no key runs
/// twice; per instance, more than that passes (each instance lets its
/// own quota through) and keys sent to two instances run twice.
#[test]
fn fleet_shares_one_quota_and_one_store_in_redis() {
    use demo::fleet::{self, Limits};

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = redis_server::RedisServer::start();
    let rt = runtime();
    let s = settings();
    let n = 3;
    let runs = rt.block_on(async {
        let mut runs = Vec::new();
        for limits in [Limits::PerInstance, Limits::Shared] {
            runs.push(
                fleet::run(limits, n, &server.url(), &s)
                    .await
                    .expect("the fleet runs"),
            );
        }
        runs
    });
    println!("{}", fleet::table(&runs, n, &s));
    for run in &runs {
        let label = run.limits.label();
        let unanswered = run
            .samples
            .iter()
            .filter(|x| x.class == Class::Unanswered)
            .count();
        assert_eq!(unanswered, 0, "{label}: requests without an answer");
        let mut accepted = 0;
        for g in &run.instances {
            let a = g.accepted.load(Ordering::Relaxed);
            assert_eq!(
                a,
                g.answered.load(Ordering::Relaxed),
                "{label}: accepted, never answered"
            );
            assert!(a > 0, "{label}: an instance the balancer never used");
            accepted += a;
        }
        assert_eq!(
            accepted,
            run.samples.len() as u64,
            "{label}: requests lost on the way"
        );
    }
    let q = fleet::Quota::for_load(&s);
    let (local, shared) = (&runs[0], &runs[1]);

    // Shared: the fleet's quota in every second (100 ms of slack for a
    // thread descheduled between admission and stamp). In degraded mode
    // an instance falls back to its share of the quota; with some
    // instances degraded and some not, the fleet may admit up to the
    // quota plus the degraded ones' shares (fusebox_std::redis::Fallback).
    let degraded: u64 = shared.redis.iter().map(|m| m.degraded).sum();
    let sent = shared.sent_upstream();
    let allowed = if degraded == 0 {
        f64::from(q.burst) + f64::from(q.rate) * 1.1
    } else {
        2.0 * (f64::from(q.burst) + f64::from(q.rate) * 1.1)
    };
    let peak = fleet::peak(&sent, 1.0);
    assert!(
        peak as f64 <= allowed,
        "{peak} requests reached the upstream in one second: the fleet's quota is {}/s, burst {} \
         ({degraded} switches to degraded mode)",
        q.rate,
        q.burst
    );
    assert!(
        shared.redis.iter().all(|m| m.calls > 0),
        "an instance never asked Redis: {:?}",
        shared.redis
    );
    // Per instance: each lets its own quota through.
    let local_sent = local.sent_upstream();
    assert!(
        local_sent.len() > sent.len(),
        "per-instance limits passed {} requests, the shared quota {}",
        local_sent.len(),
        sent.len()
    );
    assert!(
        fleet::peak(&local_sent, 1.0) as f64 > f64::from(q.burst) + f64::from(q.rate) * 1.1,
        "per-instance limits held the fleet's quota (the balancer spreads {}/s over {n} instances)",
        s.rate
    );

    // Keys: shared, at most one execution each; per instance, a key
    // sent to two instances runs on both.
    let twice = |run: &fleet::FleetRun| {
        run.upstream
            .executions
            .lock()
            .expect("not poisoned")
            .values()
            .filter(|n| **n > 1)
            .count()
    };
    let executed = shared
        .upstream
        .executions
        .lock()
        .expect("not poisoned")
        .len();
    assert!(
        executed > 10,
        "only {executed} keys were executed through the shared store"
    );
    assert_eq!(twice(shared), 0, "a key ran twice with the shared store");
    assert!(
        twice(local) > 0,
        "no key ran twice with a table per instance"
    );
}

#[test]
fn scripts_parse_and_say_what_is_wrong() {
    let s = Script::parse(demo::script::DEFAULT).expect("the default script parses");
    assert_eq!(s.phases.len(), 6);
    assert_eq!(s.total(), Duration::from_secs(19));
    assert_eq!(s.at(Duration::from_millis(2500)).0, 1);
    assert_eq!(
        s.at(Duration::from_secs(100)).0,
        5,
        "after the end the last phase stays"
    );
    let short =
        Script::parse("hang 1.5s\n# comment\n\nflap 500ms period=100ms base=1ms").expect("parses");
    assert_eq!(short.total(), Duration::from_secs(2));
    for (bad, says) in [
        ("", "no phases"),
        ("melt 3s", "unknown phase"),
        ("hang three", "duration"),
        ("tail 3s slow=200%", "bad value for `slow`"),
        ("flap 3s period=0s", "bad value for `period`"),
        ("fail 3s colour=red", "unknown option"),
    ] {
        let e = Script::parse(bad).expect_err(bad);
        assert!(e.contains(says), "`{bad}`: {e}");
    }
}
