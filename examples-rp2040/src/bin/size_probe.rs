//! Links every fusebox primitive once, the async adapters (the retry
//! runner, the resilient I2C bus) included, every call kept alive:
//! `size_probe` minus `size_baseline` (see `size-report.sh`) is what fusebox
//! itself costs in flash and static RAM. The primitives are in
//! `src/probe.rs`.
#![no_std]
#![no_main]

use core::cell::RefCell;

use fusebox_rp2040_examples::probe::{self, AllProbes};
use fusebox_rp2040_examples::size::{self, Shared};
use {defmt_rtt as _, panic_probe as _};

static PROBES: Shared<AllProbes> = Shared::new(RefCell::new(probe::ALL_PROBES));

#[cortex_m_rt::entry]
fn main() -> ! {
    size::run(&PROBES, probe::step_all)
}
