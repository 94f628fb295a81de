//! The harness shared by `size_probe` and `size_baseline`, so that the two
//! binaries differ only in the `step` they pass: the difference of their
//! sizes is what fusebox itself costs.
//!
//! Each loop reads the hardware timer (an input the compiler cannot know),
//! hands it with a loop counter to `step` under a critical section, and
//! feeds the result to `black_box`, so no call can be folded away or
//! removed. State lives in a `static`, as it would in a firmware, so its RAM
//! shows up in `.data`/`.bss`.
//!
//! The async primitives (the retry runner, the I2C wrapper) run under
//! [`block_on`] with the fakes below ([`Delay`], [`Now`], [`FakeBus`]);
//! `size_baseline` calls the same fakes under the same `block_on`, so their
//! code is in both binaries and out of the difference.

use core::cell::RefCell;
use core::hint::black_box;

use critical_section::Mutex;
use embassy_time::Instant;
use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation, SevenBitAddress};

pub use embassy_futures::block_on;

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

/// A `DelayNs` that returns at once (its argument goes to `black_box`).
pub struct Delay;

impl DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        black_box(ns);
    }
}

/// The embassy-time clock, as a [`fusebox::time::Clock`].
pub struct Now;

impl fusebox::time::Clock for Now {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// An I2C bus that answers from an opaque input: NACKs the address when
/// bit 0 is set, else fills reads with the input's low byte.
pub struct FakeBus(pub u32);

impl i2c::ErrorType for FakeBus {
    type Error = ErrorKind;
}

impl i2c::I2c<SevenBitAddress> for FakeBus {
    async fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let input = black_box(self.0);
        self.0 = input.rotate_right(1);
        if input & 1 == 1 {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            if let Operation::Read(buf) = op {
                buf.fill(input as u8 ^ address);
            }
        }
        Ok(())
    }
}
