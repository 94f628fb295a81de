//! The fakes the async timelines share: a clock moved by hand and a
//! `DelayNs` that returns at once, moves that clock and records the delay.

use core::cell::Cell;

use embedded_hal_async::delay::DelayNs;
use fusebox::time::{Clock, Instant};

/// Ticks since the start, shared by the fake clock and the fake delay.
/// fusebox's tests run at embassy-time's default 1 MHz: a tick is 1 us.
pub(crate) struct Time(pub(crate) Cell<u64>);

impl Clock for Time {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.0.get())
    }
}

impl Time {
    pub(crate) fn advance(&self, ticks: u64) {
        self.0.set(self.0.get().saturating_add(ticks));
    }
}

/// A `DelayNs` that returns at once, moves the clock by the delay and
/// records it (the first 8, in microseconds).
pub(crate) struct FakeDelay<'a> {
    time: &'a Time,
    slept: [u64; 8],
    count: usize,
}

impl<'a> FakeDelay<'a> {
    pub(crate) fn new(time: &'a Time) -> Self {
        Self {
            time,
            slept: [0; 8],
            count: 0,
        }
    }

    /// The delays slept so far (the first 8), in microseconds.
    pub(crate) fn slept(&self) -> &[u64] {
        self.slept.get(..self.count.min(8)).unwrap_or(&[])
    }
}

impl DelayNs for FakeDelay<'_> {
    async fn delay_ns(&mut self, ns: u32) {
        self.delay_us(ns.div_ceil(1000)).await;
    }

    async fn delay_us(&mut self, us: u32) {
        if let Some(slot) = self.slept.get_mut(self.count) {
            *slot = u64::from(us);
        }
        self.count += 1;
        self.time.advance(u64::from(us));
    }
}
