//! `size_probe` without the fusebox calls: the same runtime (embassy-rp
//! init, time driver, critical section, defmt-rtt, panic-probe), the same
//! harness, and the same async fakes under the same `block_on`, with a step
//! that only mixes its inputs. `size-report.sh` subtracts this binary from
//! `size_probe`.
#![no_std]
#![no_main]

use core::cell::RefCell;

use embassy_time::Instant;
use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::i2c::I2c;
use fusebox::time::Clock;
use fusebox_rp2040_examples::size::{self, Delay, FakeBus, Now, Shared, block_on};
use {defmt_rtt as _, panic_probe as _};

static STATE: Shared<u32> = Shared::new(RefCell::new(0));

fn step(state: &mut u32, now: Instant, input: u32) -> u32 {
    let fakes = block_on(async {
        Delay.delay_us(input).await;
        let mut buf = [0; 2];
        let read = FakeBus(input).read(0x48, &mut buf).await;
        u32::from(read.is_ok()) ^ u32::from(buf[1]) ^ Now.now().as_ticks() as u32
    });
    *state = state.wrapping_add(input ^ now.as_ticks() as u32 ^ fakes);
    *state
}

#[cortex_m_rt::entry]
fn main() -> ! {
    size::run(&STATE, step)
}
