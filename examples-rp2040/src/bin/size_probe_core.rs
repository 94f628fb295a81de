//! `size_probe` without the async adapters: the sans-IO primitives only
//! (breaker, both bulkheads, AIMD limit, backoff, retry budget, dedup table,
//! token bucket), each driven once, every call kept alive. See
//! `size-report.sh` and `src/probe.rs`.
#![no_std]
#![no_main]

use core::cell::RefCell;

use fusebox_rp2040_examples::probe::{self, Probes};
use fusebox_rp2040_examples::size::{self, Shared};
use {defmt_rtt as _, panic_probe as _};

static PROBES: Shared<Probes> = Shared::new(RefCell::new(probe::PROBES));

#[cortex_m_rt::entry]
fn main() -> ! {
    size::run(&PROBES, probe::step)
}
