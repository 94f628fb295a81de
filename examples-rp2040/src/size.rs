//! The harness shared by `size_probe` and `size_baseline`, so that the two
//! binaries differ only in the `step` they pass: the difference of their
//! sizes is what fusebox itself costs.
//!
//! Each loop reads the hardware timer (an input the compiler cannot know),
//! hands it with a loop counter to `step` under a critical section, and
//! feeds the result to `black_box`, so no call can be folded away or
//! removed. State lives in a `static`, as it would in a firmware, so its RAM
//! shows up in `.data`/`.bss`.

use core::cell::RefCell;
use core::hint::black_box;

use critical_section::Mutex;
use embassy_time::Instant;

/// A probe's state, in a `static`.
pub type Shared<S> = Mutex<RefCell<S>>;

/// Initialise the chip (clocks, the time driver), then call `step` forever
/// on `state`, with the time and a counter as inputs.
pub fn run<S>(state: &'static Shared<S>, step: fn(&mut S, Instant, u32) -> u32) -> ! {
    let _peripherals = embassy_rp::init(Default::default());
    let mut i: u32 = 0;
    loop {
        let now = Instant::now();
        let input = black_box(i);
        let out = critical_section::with(|cs| step(&mut state.borrow_ref_mut(cs), now, input));
        black_box(out);
        i = i.wrapping_add(1);
    }
}

/// `ticks` after `now`, saturating (a later instant for a `record`).
pub fn later(now: Instant, ticks: u32) -> Instant {
    Instant::from_ticks(now.as_ticks().saturating_add(u64::from(ticks)))
}
