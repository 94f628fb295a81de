//! `size_probe` without the fusebox calls: the same runtime (embassy-rp
//! init, time driver, critical section, defmt-rtt, panic-probe) and the same
//! harness, with a step that only mixes its inputs. `size-report.sh`
//! subtracts this binary from `size_probe`.
#![no_std]
#![no_main]

use core::cell::RefCell;

use embassy_time::Instant;
use fusebox_rp2040_examples::size::{self, Shared};
use {defmt_rtt as _, panic_probe as _};

static STATE: Shared<u32> = Shared::new(RefCell::new(0));

fn step(state: &mut u32, now: Instant, input: u32) -> u32 {
    *state = state.wrapping_add(input ^ now.as_ticks() as u32);
    *state
}

#[cortex_m_rt::entry]
fn main() -> ! {
    size::run(&STATE, step)
}
