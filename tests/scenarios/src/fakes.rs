//! Test fakes shared by the scenarios, the Cortex-M0 runner and the host
//! tests (`tests/tests`), so each is written once: a clock moved by hand
//! ([`Time`]), a `DelayNs` that returns at once, moving that clock and
//! recording the delay ([`FakeDelay`]), an I2C bus of scripted devices
//! ([`FakeBus`]; `embedded_hal_async`'s trait, no fusebox feature needed),
//! and zero-sized parts for the `size_of` checks ([`NoBus`], [`NoDelay`],
//! [`ZeroClock`]).
//!
//! `no_std` and allocation-free like the rest of the crate: the delays are
//! recorded in a fixed array of `N` entries, and the devices' scripts are
//! slices the caller owns.
//!
//! ```
//! use fusebox::time::Clock;
//! use fusebox_scenarios::fakes::{FakeDelay, Time};
//! use embedded_hal_async::delay::DelayNs;
//!
//! let time = Time::new(0);
//! let mut delay = FakeDelay::<4>::keeping(&time);
//! embassy_futures::block_on(delay.delay_ms(3));
//! assert_eq!(time.now().as_ticks(), 3_000); // 1 MHz ticks
//! assert_eq!(delay.slept(), &[3_000][..]);
//! assert_eq!(delay.count(), 1);
//! ```

use core::cell::Cell;

use embedded_hal_async::delay::DelayNs;
use fusebox::time::{Clock, Instant};

/// Ticks since the start, shared by the fake clock and the fake delay.
/// fusebox's tests run at embassy-time's default 1 MHz: a tick is 1 us.
#[derive(Debug, Default)]
pub struct Time(pub Cell<u64>);

impl Clock for Time {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.0.get())
    }
}

impl Time {
    /// A clock at tick `ticks`.
    pub const fn new(ticks: u64) -> Self {
        Self(Cell::new(ticks))
    }

    /// Move the clock `ticks` forward (saturating).
    pub fn advance(&self, ticks: u64) {
        self.0.set(self.0.get().saturating_add(ticks));
    }

    /// Set the clock to tick `ticks` (also backwards).
    pub fn set(&self, ticks: u64) {
        self.0.set(ticks);
    }
}

/// A `DelayNs` that returns at once, moves its [`Time`] by the delay and
/// records it, in microseconds: the first `N` delays are kept
/// ([`slept`](Self::slept)), all are counted ([`count`](Self::count)), so
/// a test that compares the delays with a model also compares the count.
#[derive(Debug)]
pub struct FakeDelay<'a, const N: usize = 8> {
    time: &'a Time,
    slept: [u64; N],
    count: usize,
}

impl<'a> FakeDelay<'a> {
    /// A delay that moves `time` and keeps the first 8 delays.
    pub fn new(time: &'a Time) -> Self {
        Self::keeping(time)
    }
}

impl<'a, const N: usize> FakeDelay<'a, N> {
    /// A delay that moves `time` and keeps the first `N` delays
    /// (`FakeDelay::<64>::keeping(&time)`).
    pub fn keeping(time: &'a Time) -> Self {
        Self {
            time,
            slept: [0; N],
            count: 0,
        }
    }

    /// The delays slept so far (the first `N`), in microseconds.
    pub fn slept(&self) -> &[u64] {
        self.slept.get(..self.count.min(N)).unwrap_or(&[])
    }

    /// How many delays were slept (including any beyond the first `N`).
    pub fn count(&self) -> usize {
        self.count
    }
}

impl<const N: usize> DelayNs for FakeDelay<'_, N> {
    async fn delay_ns(&mut self, ns: u32) {
        self.delay_us(ns.div_ceil(1000)).await;
    }

    async fn delay_us(&mut self, us: u32) {
        if let Some(slot) = self.slept.get_mut(self.count) {
            *slot = u64::from(us);
        }
        self.count = self.count.saturating_add(1);
        self.time.advance(u64::from(us));
    }
}

/// A zero-sized clock that always reads tick 0 (for `size_of` checks:
/// the wrapper's own size, without its parts').
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroClock;

impl Clock for ZeroClock {
    fn now(&self) -> Instant {
        Instant::from_ticks(0)
    }
}

/// A zero-sized `DelayNs` that returns at once and records nothing (for
/// `size_of` checks).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelay;

impl DelayNs for NoDelay {
    async fn delay_ns(&mut self, _: u32) {}
}

pub use bus::{Answer, Device, FakeBus, NoBus};

mod bus {
    use core::cell::Cell;

    use embedded_hal_async::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

    /// What a fake device does on one transfer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Answer {
        /// The transfer succeeds (reads get `0x2a` bytes).
        Ok,
        /// The transfer fails with this error.
        Fail(ErrorKind),
        /// The transfer never completes (a stuck bus, to cancel).
        Hang,
    }

    /// A device at an address: answers from its script, one entry per
    /// transfer, then `then` forever; counts its transfers.
    #[derive(Debug)]
    pub struct Device<'a> {
        address: u8,
        script: &'a [Answer],
        then: Answer,
        calls: Cell<u32>,
    }

    impl<'a> Device<'a> {
        /// A device at `address` answering `script`, then `then`.
        pub const fn new(address: u8, script: &'a [Answer], then: Answer) -> Self {
            Self {
                address,
                script,
                then,
                calls: Cell::new(0),
            }
        }

        /// The answer to transfer `n` (from 0).
        pub fn answer(&self, n: u32) -> Answer {
            self.script.get(n as usize).copied().unwrap_or(self.then)
        }
    }

    /// A bus of `K` scripted devices; an address no device has NACKs (an
    /// address NACK, counted as stray). Used by reference (`I2c` is
    /// implemented for `&FakeBus`), so a test reads the counters while the
    /// wrapper holds the bus.
    #[derive(Debug)]
    pub struct FakeBus<'a, const K: usize> {
        devices: [Device<'a>; K],
        stray: Cell<u32>,
    }

    impl<'a, const K: usize> FakeBus<'a, K> {
        /// A bus of these devices.
        pub fn new(devices: [Device<'a>; K]) -> Self {
            Self {
                devices,
                stray: Cell::new(0),
            }
        }

        /// Transfers made to `address` so far (to addresses no device has,
        /// for one no device has).
        pub fn calls(&self, address: u8) -> u32 {
            match self.devices.iter().find(|dv| dv.address == address) {
                Some(dv) => dv.calls.get(),
                None => self.stray.get(),
            }
        }

        /// Transfers made to any address.
        pub fn total(&self) -> u32 {
            self.devices
                .iter()
                .fold(self.stray.get(), |n, dv| n.saturating_add(dv.calls.get()))
        }
    }

    /// A zero-sized bus whose every transfer succeeds (for `size_of`
    /// checks).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct NoBus;

    impl ErrorType for NoBus {
        type Error = ErrorKind;
    }

    impl I2c for NoBus {
        async fn transaction(&mut self, _: u8, _: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    impl<const K: usize> ErrorType for &FakeBus<'_, K> {
        type Error = ErrorKind;
    }

    impl<const K: usize> I2c for &FakeBus<'_, K> {
        async fn transaction(
            &mut self,
            address: u8,
            operations: &mut [Operation<'_>],
        ) -> Result<(), ErrorKind> {
            let answer = match self.devices.iter().find(|dv| dv.address == address) {
                Some(dv) => {
                    let n = dv.calls.get();
                    dv.calls.set(n.saturating_add(1));
                    dv.answer(n)
                }
                None => {
                    self.stray.set(self.stray.get().saturating_add(1));
                    Answer::Fail(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
                }
            };
            match answer {
                Answer::Ok => {
                    for op in operations {
                        if let Operation::Read(buf) = op {
                            buf.fill(0x2a);
                        }
                    }
                    Ok(())
                }
                Answer::Fail(kind) => Err(kind),
                Answer::Hang => core::future::pending().await,
            }
        }
    }
}
