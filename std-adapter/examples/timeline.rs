//! A circuit breaker's timeline against a simulated flaky dependency.
//!
//! `cargo run -p fusebox-std --example timeline`
//!
//! A client sends one request every 50 ms of simulated time to a dependency
//! that is healthy, then down for 4 s, then back but slow for a while, then
//! healthy again. The breaker (failure rate over the last 20 calls, open
//! duration growing 1 s, then 2 s, two probes, three successes to close)
//! decides which requests reach it. Time is a `ManualClock`, so the run is
//! instant and the same every time; with `StdClock` the same code serves a
//! real server.

use fusebox::breaker::{CircuitBreaker, Config, CountWindow, Outcome, Policy, State};
use fusebox::time::{Clock, Duration, Instant};
use fusebox_std::ManualClock;

/// What the simulated dependency does at a given time (in ms).
fn dependency(at_ms: u64, dice: u32) -> (Outcome, u64) {
    let latency_ms = match at_ms {
        // Outage: connection refused after a 2 ms timeout.
        2_000..6_000 => return (Outcome::Failure, 2),
        // Recovered but slow: most calls take 300 ms.
        6_000..9_000 if !dice.is_multiple_of(4) => 300,
        _ => 20,
    };
    // 5 % background failures, and a 4xx now and then (says nothing of
    // the dependency's health).
    match dice % 100 {
        0..5 => (Outcome::Failure, latency_ms),
        5..8 => (Outcome::Ignored, latency_ms),
        _ => (Outcome::Success, latency_ms),
    }
}

fn main() -> Result<(), fusebox::ConfigError> {
    let config = Config::new()
        .open_duration_growing(Duration::from_secs(1), 2, Duration::from_secs(2))
        .half_open_probes(2)
        .half_open_successes(3)
        .probe_timeout(Duration::from_secs(2))
        .slow_calls(Duration::from_millis(250), 60);
    let mut breaker = CircuitBreaker::new(
        config,
        CountWindow::<20>::builder()
            .failure_rate(50)
            .minimum_calls(10)
            .build()?,
    )?;
    let clock = ManualClock::new(Instant::from_ticks(0));
    let mut rng: u32 = 0x2545_f491;

    println!("fusebox circuit breaker, one request every 50 ms (simulated time)");
    println!("dependency: healthy 0-2 s, down 2-6 s, slow 6-9 s, healthy after\n");
    println!("  time   transitions, then each 2 s of requests with the worst state in it");
    let (mut reached, mut failed_reached, mut rejected) = (0u32, 0u32, 0u32);
    let mut outage_reached = 0u32;
    let (mut slot_state, mut slot_line) = (State::Closed, String::new());
    for step in 0..320u64 {
        let at_ms = step * 50;
        clock.set(Instant::from_millis(at_ms));
        let now = clock.now();
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let mark = match breaker.try_acquire(now) {
            Ok(permit) => {
                if let Some(t) = permit.transition() {
                    println!(
                        "{:>5.2}s   {:?} -> {:?} (a probe goes through)",
                        secs(now),
                        t.from,
                        t.to
                    );
                }
                let (outcome, latency_ms) = dependency(at_ms, rng);
                reached += 1;
                if (2_000..6_000).contains(&at_ms) {
                    outage_reached += 1;
                }
                if outcome == Outcome::Failure {
                    failed_reached += 1;
                }
                // The call's result arrives after its latency.
                let done = Instant::from_millis(at_ms + latency_ms);
                if let Some(t) = breaker.record(permit, outcome, done) {
                    let why = match (t.from, t.to) {
                        (State::Closed, State::Open) => {
                            let w = breaker.policy().window(done);
                            format!(
                                "window: {} calls, {} failed, {} slow; open for {} ms",
                                w.calls,
                                w.failures,
                                w.slow,
                                breaker.retry_after(done).map_or(0, |d| d.as_millis())
                            )
                        }
                        (State::HalfOpen, State::Open) => format!(
                            "a probe failed or was slow; open for {} ms",
                            breaker.retry_after(done).map_or(0, |d| d.as_millis())
                        ),
                        _ => "enough probes succeeded".to_string(),
                    };
                    println!("{:>5.2}s   {:?} -> {:?} ({why})", secs(done), t.from, t.to);
                }
                match outcome {
                    Outcome::Success => '.',
                    Outcome::Failure => 'x',
                    Outcome::Ignored => 'i',
                }
            }
            Err(_) => {
                rejected += 1;
                '-'
            }
        };
        slot_line.push(mark);
        slot_state = breaker.state(now).max_of(slot_state);
        if (step + 1).is_multiple_of(40) {
            println!(
                "  {:>2}-{:>2}s  {slot_line}  [{}]",
                (at_ms - 1_950) / 1000,
                (at_ms + 50) / 1000,
                short(slot_state)
            );
            slot_line.clear();
            slot_state = breaker.state(now);
        }
    }
    let m = breaker.metrics();
    println!("\n  . success  x failure  i ignored (4xx)  - rejected by the breaker, no call made");
    println!(
        "\nrequests: 320; reached the dependency: {reached} ({failed_reached} failed); \
         rejected at once: {rejected}"
    );
    println!(
        "breaker metrics: admitted {}, rejected {}, successes {}, failures {}, slow {}, \
         ignored {}, stale {}, trips {}",
        m.admitted, m.rejected, m.successes, m.failures, m.slow, m.ignored, m.stale, m.trips
    );
    println!(
        "during the 4 s outage, {outage_reached} of its 80 requests reached the dead dependency \
         (without a breaker: all 80)"
    );
    Ok(())
}

fn secs(t: Instant) -> f64 {
    t.as_millis() as f64 / 1000.0
}

fn short(s: State) -> &'static str {
    match s {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half-open",
        State::ForcedOpen => "isolated",
        State::ForcedClosed => "held closed",
    }
}

/// Ranks states by severity, to show the worst state of each line.
trait Worst {
    fn max_of(self, other: State) -> State;
}

impl Worst for State {
    fn max_of(self, other: State) -> State {
        let rank = |s: State| match s {
            State::Closed | State::ForcedClosed => 0,
            State::HalfOpen => 1,
            State::Open | State::ForcedOpen => 2,
        };
        if rank(self) >= rank(other) {
            self
        } else {
            other
        }
    }
}
