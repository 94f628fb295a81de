//! The printed report: a table per phase, side by side, and the breaker
//! state and p99 over time drawn in the terminal.

use std::fmt::Write;
use std::time::Duration;

use fusebox::breaker::State;

use super::{Class, Run, Sample, Script};

/// Counts and latencies of a set of requests.
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// Requests (first tries and client retries).
    pub requests: usize,
    /// `2xx`.
    pub ok: usize,
    /// Fast refusals (`429`, `503`, `409`).
    pub rejected: usize,
    /// `504`.
    pub timeouts: usize,
    /// Other statuses.
    pub errors: usize,
    /// No answer.
    pub unanswered: usize,
    /// Latency percentiles: p50, p99, max.
    pub p50: Duration,
    /// p99.
    pub p99: Duration,
    /// p99.9.
    pub p999: Duration,
    /// max.
    pub max: Duration,
    /// Requests that reached the upstream.
    pub upstream: usize,
}

/// The `q` quantile (nearest rank) of sorted latencies.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The row of the samples due in `[from, to)` and the upstream arrivals
/// in the same span.
pub fn row(run: &Run, from: f64, to: f64) -> Row {
    let mut r = Row::default();
    let mut lat: Vec<Duration> = Vec::new();
    for s in run.samples.iter().filter(|s| s.at >= from && s.at < to) {
        r.requests += 1;
        match s.class {
            Class::Ok => r.ok += 1,
            Class::Rejected => r.rejected += 1,
            Class::Timeout => r.timeouts += 1,
            Class::Error => r.errors += 1,
            Class::Unanswered => r.unanswered += 1,
        }
        lat.push(s.latency);
    }
    lat.sort_unstable();
    r.p50 = quantile(&lat, 0.50);
    r.p99 = quantile(&lat, 0.99);
    r.p999 = quantile(&lat, 0.999);
    r.max = lat.last().copied().unwrap_or_default();
    r.upstream = run
        .upstream
        .arrivals
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|t| **t >= from && **t < to)
        .count();
    r
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m >= 100.0 {
        format!("{m:.0}ms")
    } else {
        format!("{m:.1}ms")
    }
}

/// Duplicate executions: keys the upstream completed more than once.
pub fn duplicate_keys(run: &Run) -> usize {
    run.upstream
        .executions
        .lock()
        .expect("not poisoned")
        .values()
        .filter(|n| **n > 1)
        .count()
}

/// The side-by-side table: every phase, a row per gateway, then totals.
pub fn table(script: &Script, runs: &[&Run], client_timeout: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>9}",
        "phase",
        "gateway",
        "reqs",
        "ok",
        "reject",
        "t/out",
        "error",
        "p50",
        "p99",
        "max",
        "upstream"
    );
    let mut spans: Vec<(String, f64, f64)> = Vec::new();
    for (i, p) in script.phases.iter().enumerate() {
        let from = script.start_of(i).as_secs_f64();
        let to = if i + 1 == script.phases.len() {
            f64::INFINITY
        } else {
            from + p.duration.as_secs_f64()
        };
        spans.push((
            p.name.clone(),
            if i == 0 { f64::NEG_INFINITY } else { from },
            to,
        ));
    }
    spans.push(("total".into(), f64::NEG_INFINITY, f64::INFINITY));
    for (name, from, to) in spans {
        for (k, run) in runs.iter().enumerate() {
            let r = row(run, from, to);
            let err = r.errors + r.unanswered;
            let _ = writeln!(
                out,
                "{:<9} {:<8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>9}",
                if k == 0 { name.as_str() } else { "" },
                run.mode.label(),
                r.requests,
                r.ok,
                r.rejected,
                r.timeouts,
                err,
                ms(r.p50),
                ms(r.p99),
                ms(r.max),
                r.upstream
            );
        }
    }
    for run in runs {
        let g = &run.gateway;
        let unanswered = run
            .samples
            .iter()
            .filter(|s| s.class == Class::Unanswered)
            .count();
        let retries = run.samples.iter().filter(|s| s.retry).count();
        let _ = writeln!(
            out,
            "{:<8} unanswered {unanswered}, same key again (retries, double submits) {retries}, keys executed twice {}, \
             waited the full {} ms timeout {}",
            run.mode.label(),
            duplicate_keys(run),
            client_timeout.as_millis(),
            g.full_timeouts.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    out
}

/// The slow tail's comparison (`super::hedge_runs`): the `tail` phase
/// (its warm-up left out) through each gateway: latencies, and the
/// upstream requests beyond one per request (hedges, including copies
/// cancelled once the other answered).
pub fn hedge_table(script: &Script, runs: &[Run]) -> String {
    let mut out = String::new();
    let Some(tail) = script.phases.last() else {
        return out;
    };
    let from = script.start_of(script.phases.len() - 1).as_secs_f64();
    let _ = writeln!(
        out,
        "{:<14} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "gateway", "reqs", "ok", "p50", "p99", "p99.9", "max", "upstream", "extra"
    );
    let mut base_p99 = None;
    for run in runs {
        let r = row(run, from, f64::INFINITY);
        let extra = r.upstream as f64 / (r.requests.max(1) as f64) - 1.0;
        let label = match run.mode {
            super::Mode::Plain => "no hedging",
            m => m.label(),
        };
        let _ = writeln!(
            out,
            "{label:<14} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6.1}%",
            r.requests,
            r.ok,
            ms(r.p50),
            ms(r.p99),
            ms(r.p999),
            ms(r.max),
            r.upstream,
            extra * 100.0
        );
        match base_p99 {
            None => base_p99 = Some(r.p99),
            Some(b) => {
                let _ = write!(
                    out,
                    "{:<14} p99 {:.1}x lower than without hedging",
                    "",
                    b.as_secs_f64() / r.p99.as_secs_f64().max(1e-6)
                );
                if let Some(h) = run.hedge {
                    let _ = write!(
                        out,
                        "; hedges sent {}, won {}, refused by the budget {}",
                        h.hedges_sent, h.hedges_won, h.budget_refusals
                    );
                }
                let _ = writeln!(out);
            }
        }
    }
    let _ = writeln!(
        out,
        "(the `{}` phase, {:.1} s after a 1 s warm-up, GETs only; hedge at p95; extra: upstream requests \
         beyond one per request; percentiles by nearest rank, so below 1000 requests p99.9 is the max)",
        tail.name,
        tail.duration.as_secs_f64()
    );
    out
}

/// The breaker's state at `t` from its transitions.
pub fn state_at(transitions: &[(f64, fusebox::breaker::Transition)], t: f64) -> State {
    transitions
        .iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .map_or(State::Closed, |(_, tr)| tr.to)
}

/// The state to draw for `[from, to)`: half-open if a probe went out
/// in it (so probes show between open stretches), else open if it was
/// open at any time, else closed.
fn drawn_state(transitions: &[(f64, fusebox::breaker::Transition)], from: f64, to: f64) -> State {
    let mut seen = [state_at(transitions, from)].to_vec();
    seen.extend(
        transitions
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, tr)| tr.to),
    );
    if seen.contains(&State::HalfOpen) {
        State::HalfOpen
    } else if seen.contains(&State::Open) || seen.contains(&State::ForcedOpen) {
        State::Open
    } else {
        State::Closed
    }
}

/// p99 of the samples due in each `step` over the run.
pub fn p99_series(samples: &[Sample], length: f64, step: f64) -> Vec<(f64, Option<Duration>)> {
    let n = (length / step).ceil() as usize;
    (0..n)
        .map(|k| {
            let (from, to) = (k as f64 * step, (k + 1) as f64 * step);
            let mut lat: Vec<Duration> = samples
                .iter()
                .filter(|s| s.at >= from && s.at < to)
                .map(|s| s.latency)
                .collect();
            lat.sort_unstable();
            (from, (!lat.is_empty()).then(|| quantile(&lat, 0.99)))
        })
        .collect()
}

/// The terminal picture: phases, the breaker's state and each gateway's
/// p99 per half second (a log scale from 1 ms to the client timeout).
pub fn timeline(script: &Script, runs: &[&Run], client_timeout: Duration) -> String {
    let step = 0.5;
    let length = script.total().as_secs_f64();
    let cols = (length / step).ceil() as usize;
    let mut out = String::new();
    let mut phases = String::new();
    for c in 0..cols {
        let t = c as f64 * step;
        let (i, start) = script.at(Duration::from_secs_f64(t));
        let first = (start.as_secs_f64() - t).abs() < step / 2.0 || c == 0;
        let name = &script.phases[i].name;
        let ch = if first {
            '|'
        } else {
            name.chars()
                .nth(((t - start.as_secs_f64()) / step) as usize - 1)
                .unwrap_or(' ')
        };
        phases.push(ch);
    }
    let _ = writeln!(out, "{:<16} {phases}", "phase");
    let blocks = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = client_timeout.as_secs_f64().max(0.002);
    for run in runs {
        let trs = run
            .gateway
            .transitions
            .lock()
            .expect("not poisoned")
            .clone();
        if run.mode == super::Mode::Fusebox {
            let line: String = (0..cols)
                .map(|c| {
                    let t = c as f64 * step;
                    match drawn_state(&trs, t, t + step) {
                        State::Open | State::ForcedOpen => '█',
                        State::HalfOpen => '▄',
                        _ => '_',
                    }
                })
                .collect();
            let _ = writeln!(out, "{:<16} {line}", "breaker");
        }
        let line: String = p99_series(&run.samples, length, step)
            .iter()
            .map(|(_, p)| match p {
                None => ' ',
                Some(d) => {
                    let x = (d.as_secs_f64().max(0.001) / 0.001).ln() / (top / 0.001).ln();
                    blocks[((x * 7.0).round() as usize).min(7)]
                }
            })
            .collect();
        let _ = writeln!(out, "{:<16} {line}", format!("p99 {}", run.mode.label()));
    }
    let _ = writeln!(
        out,
        "{:<16} breaker: _ closed, ▄ half-open, █ open; p99: ▁ 1 ms .. █ {} ms (log), per {step} s",
        "",
        client_timeout.as_millis()
    );
    out
}
