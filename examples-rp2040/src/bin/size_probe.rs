//! Links fusebox's primitives once each, every call kept alive, so that
//! `size_probe` minus `size_baseline` (see `size-report.sh`) is what
//! fusebox itself costs in flash and static RAM.
//!
//! To add a primitive: a field in [`Probes`] with its `const` initial value,
//! a `fn` that exercises its API from the opaque `now` and `input`, and a
//! line in [`step`].
#![no_std]
#![no_main]

use core::cell::RefCell;

use embassy_time::{Duration, Instant};
use fusebox::breaker::{CircuitBreaker, Config, CountWindow, Outcome};
use fusebox_rp2040_examples::size::{self, Shared, later};
use {defmt_rtt as _, panic_probe as _};

/// Every primitive's state, in one `static`.
struct Probes {
    breaker: CircuitBreaker<CountWindow<20>>,
}

static PROBES: Shared<Probes> = Shared::new(RefCell::new(Probes { breaker: BREAKER }));

/// Every primitive, called once per loop.
fn step(p: &mut Probes, now: Instant, input: u32) -> u32 {
    breaker(&mut p.breaker, now, input)
}

// ---- breaker: a count-window policy with slow calls and a growing open
// duration, through acquire, record (every outcome), state, retry_after,
// metrics and reset.

const BREAKER: CircuitBreaker<CountWindow<20>> = {
    let config = Config::new()
        .open_duration_growing(Duration::from_millis(500), 2, Duration::from_secs(30))
        .slow_calls(Duration::from_millis(100), 50);
    let Ok(policy) = CountWindow::new(50, 10) else {
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

#[cortex_m_rt::entry]
fn main() -> ! {
    size::run(&PROBES, step)
}
