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
        // 1 s client timeout) makes that rarer than the demo's 50 ms.
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

#[test]
fn outage_short_script_counts() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
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
