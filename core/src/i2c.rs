//! A resilient I2C bus (feature `embedded-hal-async`): retries transient
//! bus errors with a backoff schedule, and holds a circuit breaker per
//! device so that a dead sensor is skipped at once instead of stalling the
//! bus.
//!
//! [`ResilientI2c`] wraps any [`embedded_hal_async::i2c::I2c`] bus (embassy's
//! `I2c` on an RP2040, a mock in tests) and is itself an
//! `I2c<SevenBitAddress>`, so a sensor driver written against the trait uses
//! it unchanged. It sleeps with a [`DelayNs`] and reads the time from a
//! [`Clock`] the caller passes (firmware: a one-line clock over embassy's
//! `Instant::now()`); it never allocates.
//!
//! ```
//! use embedded_hal_async::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};
//! use fusebox::backoff::{Backoff, Config};
//! use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures, State};
//! use fusebox::i2c::{self, I2cError, ResilientI2c};
//! use fusebox::time::{Clock, Duration, Instant};
//! # use core::cell::Cell;
//! # #[derive(Debug, Clone, Copy, PartialEq)]
//! # struct E(ErrorKind);
//! # impl embedded_hal_async::i2c::Error for E { fn kind(&self) -> ErrorKind { self.0 } }
//! # /// A sensor at 0x48 that NACKs its address twice, then answers 0x2a.
//! # struct Bus { nacks: u32 }
//! # impl embedded_hal_async::i2c::ErrorType for Bus { type Error = E; }
//! # impl I2c for Bus {
//! #     async fn transaction(&mut self, addr: u8, ops: &mut [Operation<'_>]) -> Result<(), E> {
//! #         if addr != 0x48 { return Err(E(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))); }
//! #         if self.nacks > 0 { self.nacks -= 1; return Err(E(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))); }
//! #         for op in ops { if let Operation::Read(buf) = op { buf.fill(0x2a) } }
//! #         Ok(())
//! #     }
//! # }
//! # struct Delay<'a>(&'a Cell<u64>);
//! # impl embedded_hal_async::delay::DelayNs for Delay<'_> {
//! #     async fn delay_ns(&mut self, ns: u32) { self.0.set(self.0.get() + u64::from(ns) / 1000) }
//! # }
//! # struct Time<'a>(&'a Cell<u64>);
//! # impl Clock for Time<'_> { fn now(&self) -> Instant { Instant::from_ticks(self.0.get()) } }
//! # let t = Cell::new(0);
//! # let (bus, delay, clock) = (Bus { nacks: 2 }, Delay(&t), Time(&t));
//!
//! // 1 ms, 2 ms, 4 ms between attempts, at most 4 attempts per transaction;
//! // a device is marked down after 3 failed attempts in a row, for 1 s.
//! let schedule = Backoff::new(Config::exponential(Duration::from_millis(1), 2, Duration::from_millis(8)), 0)?;
//! let breaker = CircuitBreaker::new(
//!     breaker::Config::new().open_duration(Duration::from_secs(1)),
//!     ConsecutiveFailures::new(3)?,
//! )?;
//! let mut i2c: ResilientI2c<_, _, _> = ResilientI2c::new(bus, delay, clock, i2c::Config::new(schedule, breaker));
//!
//! embassy_futures::block_on(async {
//!     // Two address NACKs, retried after 1 ms and 2 ms; the third attempt reads.
//!     let mut temp = [0; 2];
//!     i2c.write_read(0x48, &[0x00], &mut temp).await.unwrap();
//!     assert_eq!(temp, [0x2a, 0x2a]);
//!     assert_eq!(t.get(), 3_000); // slept 1 ms + 2 ms (1 MHz ticks)
//!
//!     // Nothing answers at 0x50: three failed attempts open its breaker...
//!     let err = i2c.read(0x50, &mut temp).await.unwrap_err();
//!     assert!(matches!(err, I2cError::Bus { attempts: 3, .. }));
//!     assert_eq!(i2c.take_transition().map(|(a, t)| (a, t.to)), Some((0x50, State::Open)));
//!     // ...and while it is open, 0x50 is skipped without touching the bus.
//!     let err = i2c.read(0x50, &mut temp).await.unwrap_err();
//!     assert_eq!(err, I2cError::DeviceDown { address: 0x50, retry_after: Some(Duration::from_secs(1)) });
//!     // The sensor at 0x48 is unaffected.
//!     i2c.read(0x48, &mut temp).await.unwrap();
//! });
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # One transaction, step by step
//!
//! Every method of the trait (`read`, `write`, `write_read`, `transaction`)
//! runs the inner bus's own method of the same name through these steps:
//!
//! | step | when | then |
//! |---|---|---|
//! | device | the address is new and `N` devices are tracked already | [`I2cError::TooManyDevices`]; the bus is not touched |
//! | breaker | the device's breaker refuses the first attempt (Open, ForcedOpen, HalfOpen with its probes out) | [`I2cError::DeviceDown`] with the breaker's `retry_after`; the bus is not touched |
//! | attempt | the inner bus returns `Ok` | breaker records Success; `Ok(())` |
//! | attempt | an error of kind `Other` (or a kind added to `ErrorKind` later) | breaker records Ignored; [`I2cError::Bus`], not retried |
//! | attempt | an error the table below does not retry | breaker records Failure; [`I2cError::Bus`] |
//! | attempt | an error the table below retries | breaker records Failure; go on |
//! | breaker | that failure opened the breaker | [`I2cError::Bus`] at once, without sleeping |
//! | schedule | [`Backoff::try_next`] stops (attempts or total-delay budget used up) | [`I2cError::Bus`] with the last error |
//! | sleep | [`DelayNs`] for the schedule's delay | the next attempt, from the breaker step (a refusal now ends the transaction with [`I2cError::Bus`] and the last error) |
//!
//! What is retried, by the inner error's [`ErrorKind`] and the kind of
//! transaction. A *read* is a transaction whose last operation is a read:
//! `read`, `write_read` (its register-pointer write is repeated with it, which
//! is harmless), and a `transaction` ending in [`Operation::Read`]. Every other
//! transaction is a *write*, the empty one included.
//!
//! | error kind | read | write ([`WriteRetry::AddressNackOnly`], default) | write ([`WriteRetry::Idempotent`]) | breaker records |
//! |---|---|---|---|---|
//! | `NoAcknowledge(Address)` | retried | retried (nothing was written) | retried | Failure |
//! | `NoAcknowledge(Data)`, `NoAcknowledge(Unknown)` | retried | not retried (some bytes may have landed) | retried | Failure |
//! | `Bus`, `ArbitrationLoss`, `Overrun` | retried | not retried | retried | Failure |
//! | `Other`, and kinds added later | not retried | not retried | not retried | Ignored |
//!
//! # Conventions
//! - One breaker per 7-bit address, cloned from the template in
//!   [`Config`] the first time the address is used, and kept for the
//!   wrapper's life: up to `N` devices (a firmware's addresses are fixed).
//!   The `N + 1`-th address gets [`I2cError::TooManyDevices`], never a
//!   shared or evicted breaker.
//! - The breaker is asked before every attempt, not only the first, with
//!   the time from the [`Clock`]; each attempt's outcome is recorded at the
//!   clock's time after it, so a slow-call policy sees bus time.
//! - `ErrorKind::Other` is often a bad argument (a buffer the HAL cannot
//!   take, an address out of range): another attempt would fail the same
//!   way, and it says nothing about the device's health, so it is
//!   [`Outcome::Ignored`].
//! - A write with a data NACK (or an unknown NACK source, or a bus error)
//!   may have reached the device in part: it is retried only under
//!   [`WriteRetry::Idempotent`]. Reads are taken as repeatable; a read that
//!   pops a FIFO or clears a status register may lose what the failed
//!   attempt consumed.
//! - The schedule is the [`Config`]'s, started over
//!   ([`Backoff::reset`]) for every transaction; its random sequence goes on
//!   across transactions, so two transactions do not draw the same jitter.
//!   `attempts` counts calls of the inner bus, the first included, and
//!   saturates at 255.
//! - Delays are converted to microseconds rounding up (a retry never comes
//!   early) and slept through the [`DelayNs`], as the retry runner does.
//! - Transitions are queued (the last 4; when more happen before they are
//!   taken, the oldest is dropped) and handed out by
//!   [`ResilientI2c::take_transition`], oldest first: one transaction can
//!   make two (Open to HalfOpen for its probe, then HalfOpen to Closed or
//!   Open), so call it in a `while let` loop.
//! - Cancellation-safe: dropping a transaction's future at any await leaves
//!   the wrapper consistent. An attempt dropped mid-transfer leaves its
//!   breaker permit unrecorded; in Closed that costs nothing, and in HalfOpen
//!   the breaker writes the probe slot off after its
//!   [probe timeout](crate::breaker::Config::probe_timeout), so a cancelled
//!   probe cannot keep a device marked down for longer. (What a cancelled
//!   transfer leaves on the bus itself is the HAL's business.)
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant (the
//!   wrapper keeps the latest clock reading, for all its devices, and each
//!   breaker keeps its own).
//! - 7-bit addresses only ([`SevenBitAddress`]); the address is passed to
//!   the inner bus unchanged.
//!
//! # Memory
//!
//! Nothing is allocated. [`ResilientI2c`] holds the bus, the delay and the
//! clock, one schedule (96 bytes), `N` breakers and their addresses, and
//! the transition queue (a `heapless::Deque` of 4 entries: 12 bytes and
//! two `usize` indices, so the size differs per target). With a zero-sized
//! bus, delay and clock (asserted by the host size table,
//! `tests/tests/sizes.rs`, and on the Cortex-M0 runner):
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | `ResilientI2c<_, _, _>` (`ConsecutiveFailures`, `N = 4`) | 720 | 712 |
//! | `ResilientI2c<_, _, _, ConsecutiveFailures, 1>` | 288 | 280 |
//! | `ResilientI2c<_, _, _, ConsecutiveFailures, 8>` | 1304 | 1296 |
//! | [`Config`]`<ConsecutiveFailures>` | 248 | 248 |
//! | [`I2cError`]`<ErrorKind>` | 24 | 24 |
//!
//! In general `96 + 144 x N + N + 42` (x86_64) or `+ 34` (thumbv6m)
//! rounded up to a multiple of 8 (144 is `CircuitBreaker<ConsecutiveFailures>`;
//! see [`crate::breaker`] for the other policies), plus the sizes of the
//! bus, delay and clock.
//!
//! The future of one transaction holds a reference to the wrapper, the
//! transaction's arguments, the breaker permit and the last error across
//! the awaits, and the larger of the inner bus's and the delay's futures:
//! 216 bytes on x86_64 with the zero-sized parts above (rustc 1.95; the
//! bound is asserted in `tests/tests/i2c.rs`). The four methods of the
//! trait share one retry loop, so it is in flash once per bus type.

use core::future::Future;

use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::i2c::{
    Error, ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress,
};
use heapless::Deque;

use crate::backoff::Backoff;
use crate::breaker::{CircuitBreaker, ConsecutiveFailures, Outcome, Policy, State, Transition};
use crate::retry::sleep;
use crate::time::{self, Clock, Duration, Instant};

/// Whether a write is retried after an error that may have let part of it
/// through. See the table in the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteRetry {
    /// Retry a write only when the device did not acknowledge its address:
    /// then nothing was written. The default, because writing a register
    /// twice is not always harmless (a FIFO, a counter, a command).
    #[default]
    AddressNackOnly,
    /// Writing twice is harmless for every device on this bus (plain
    /// configuration registers): retry writes like reads.
    Idempotent,
}

/// How a [`ResilientI2c`] retries and when it marks a device down: a
/// backoff schedule and a breaker, both templates.
///
/// The schedule is started over for each transaction; the breaker is cloned
/// once per device address.
///
/// ```
/// use fusebox::backoff::{Backoff, Config};
/// use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures};
/// use fusebox::i2c::{self, WriteRetry};
/// use fusebox::time::Duration;
///
/// let schedule = Backoff::new(Config::constant(Duration::from_millis(2)).max_attempts(3), 0)?;
/// let breaker = CircuitBreaker::new(breaker::Config::new(), ConsecutiveFailures::new(5)?)?;
/// // Every device on this bus has plain configuration registers.
/// let config = i2c::Config::new(schedule, breaker).writes(WriteRetry::Idempotent);
/// assert_eq!(config.write_retry(), WriteRetry::Idempotent);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config<P: Policy = ConsecutiveFailures> {
    schedule: Backoff,
    breaker: CircuitBreaker<P>,
    writes: WriteRetry,
}

impl<P: Policy> Config<P> {
    /// Retry with `schedule` (its `max_attempts` bounds the attempts of one
    /// transaction); give every device a copy of `breaker`. Writes are
    /// retried on an address NACK only ([`WriteRetry::AddressNackOnly`]).
    pub const fn new(schedule: Backoff, breaker: CircuitBreaker<P>) -> Self {
        Self {
            schedule,
            breaker,
            writes: WriteRetry::AddressNackOnly,
        }
    }

    /// Which writes are retried.
    pub const fn writes(mut self, w: WriteRetry) -> Self {
        self.writes = w;
        self
    }

    /// Which writes are retried.
    pub const fn write_retry(&self) -> WriteRetry {
        self.writes
    }

    /// The schedule template.
    pub const fn schedule(&self) -> &Backoff {
        &self.schedule
    }

    /// The breaker template.
    pub const fn breaker(&self) -> &CircuitBreaker<P> {
        &self.breaker
    }
}

/// Why a transaction of a [`ResilientI2c`] failed.
///
/// ```
/// use embedded_hal_async::i2c::{Error, ErrorKind};
/// use fusebox::i2c::I2cError;
/// use fusebox::time::Duration;
///
/// let down: I2cError<ErrorKind> = I2cError::DeviceDown { address: 0x48, retry_after: Some(Duration::from_millis(250)) };
/// assert_eq!(down.kind(), ErrorKind::Other);
/// assert_eq!(
///     down.to_string(),
///     "I2C device 0x48 is marked down by its circuit breaker: skip it; it is tried again in 250000 ticks"
/// );
/// let bus: I2cError<ErrorKind> = I2cError::Bus { error: ErrorKind::ArbitrationLoss, attempts: 4 };
/// assert_eq!(bus.kind(), ErrorKind::ArbitrationLoss);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum I2cError<E> {
    /// The inner bus's error on the last attempt.
    Bus {
        /// The last attempt's error.
        error: E,
        /// Calls of the inner bus made for this transaction (at least 1,
        /// saturating at 255).
        attempts: u8,
    },
    /// The device's breaker is open: the bus was not touched.
    DeviceDown {
        /// The device.
        address: u8,
        /// When the breaker admits a probe again; `None` while it is held
        /// open by [`CircuitBreaker::isolate`].
        retry_after: Option<Duration>,
    },
    /// The address is new and the wrapper tracks `N` devices already: the
    /// bus was not touched.
    TooManyDevices {
        /// The address that found no breaker.
        address: u8,
    },
}

impl<E: Error> Error for I2cError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            I2cError::Bus { error, .. } => error.kind(),
            I2cError::DeviceDown { .. } | I2cError::TooManyDevices { .. } => ErrorKind::Other,
        }
    }
}

impl<E: Error> core::fmt::Display for I2cError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            I2cError::Bus { error, attempts } => {
                let kind = error.kind();
                let hint = match kind {
                    ErrorKind::Other => {
                        "see the bus's own error (often an argument the HAL refuses)"
                    }
                    _ => "check the wiring, the pull-ups and the device's address",
                };
                write!(
                    f,
                    "I2C transfer failed after {attempts} attempt(s): {kind}; {hint}"
                )
            }
            I2cError::DeviceDown {
                address,
                retry_after: Some(d),
            } => write!(
                f,
                "I2C device {address:#04x} is marked down by its circuit breaker: skip it; it is tried again in {} ticks",
                d.as_ticks()
            ),
            I2cError::DeviceDown {
                address,
                retry_after: None,
            } => write!(
                f,
                "I2C device {address:#04x} is isolated by its circuit breaker: reset the breaker to use it again"
            ),
            I2cError::TooManyDevices { address } => write!(
                f,
                "I2C device {address:#04x} has no breaker: every slot is taken; raise the device count N of ResilientI2c"
            ),
        }
    }
}

impl<E: Error> core::error::Error for I2cError<E> {}

/// How many transitions the queue keeps (the last ones).
const QUEUE: usize = 4;

/// The transition queue: the last [`QUEUE`] transitions, oldest first, in
/// a `heapless::Deque` (which has no `defmt::Format`: this wrapper writes
/// the entries).
#[derive(Debug)]
struct Transitions(Deque<(u8, Transition), QUEUE>);

#[cfg(feature = "defmt")]
impl defmt::Format for Transitions {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[");
        for (i, (address, t)) in self.0.iter().enumerate() {
            if i > 0 {
                defmt::write!(f, ", ");
            }
            defmt::write!(f, "({=u8:#04x}, {})", address, t);
        }
        defmt::write!(f, "]");
    }
}

/// An `embedded_hal_async` I2C bus that retries transient errors and skips
/// dead devices. See the [module docs](self) for the steps, the retry
/// table and an example.
///
/// `I` is the inner bus, `D` the delay it sleeps with, `C` the clock it
/// reads, `P` the breakers' failure policy and `N` how many device
/// addresses it tracks.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ResilientI2c<I, D, C, P: Policy = ConsecutiveFailures, const N: usize = 4> {
    bus: I,
    delay: D,
    clock: C,
    schedule: Backoff,
    breakers: [CircuitBreaker<P>; N],
    addresses: [u8; N],
    used: u8,
    writes: WriteRetry,
    queue: Transitions,
    // The latest clock reading seen, for every device: an earlier one is
    // judged at it.
    latest: Instant,
}

impl<I, D, C, P, const N: usize> ResilientI2c<I, D, C, P, N>
where
    I: I2c,
    D: DelayNs,
    C: Clock,
    P: Policy + Clone,
{
    /// Wrap `bus`: sleep with `delay`, read the time from `clock`, retry and
    /// mark devices down as `config` says.
    pub fn new(bus: I, delay: D, clock: C, config: Config<P>) -> Self {
        let Config {
            schedule,
            breaker,
            writes,
        } = config;
        Self {
            bus,
            delay,
            clock,
            schedule,
            breakers: core::array::from_fn(|_| breaker.clone()),
            addresses: [0; N],
            used: 0,
            writes,
            queue: Transitions(Deque::new()),
            latest: Instant::from_ticks(0),
        }
    }
}

impl<I, D, C, P: Policy, const N: usize> ResilientI2c<I, D, C, P, N> {
    /// The oldest breaker transition not yet taken, with the device's
    /// address, for the caller to log (`defmt::info!`) or count. Call it in
    /// a `while let` loop after a transaction: one can make two.
    pub fn take_transition(&mut self) -> Option<(u8, Transition)> {
        self.queue.0.pop_front()
    }

    /// The state of the device's breaker at `now` (an Open breaker whose
    /// open duration has passed reports HalfOpen); `None` if the address has
    /// not been used.
    pub fn device_state(&self, address: u8, now: Instant) -> Option<State> {
        let now = time::at_latest(now, self.latest);
        self.breaker(address).map(|b| b.state(now))
    }

    /// The device's breaker (its metrics, its `retry_after`); `None` if the
    /// address has not been used.
    pub fn breaker(&self, address: u8) -> Option<&CircuitBreaker<P>> {
        let slot = self.find(address)?;
        self.breakers.get(slot)
    }

    /// The device's breaker, to [`isolate`](CircuitBreaker::isolate) or
    /// [`reset`](CircuitBreaker::reset) it by hand (the transition is
    /// returned to you there, not queued); `None` if the address has not
    /// been used.
    pub fn breaker_mut(&mut self, address: u8) -> Option<&mut CircuitBreaker<P>> {
        let slot = self.find(address)?;
        self.breakers.get_mut(slot)
    }

    /// The inner bus, the delay and the clock, back.
    pub fn release(self) -> (I, D, C) {
        (self.bus, self.delay, self.clock)
    }

    fn find(&self, address: u8) -> Option<usize> {
        self.addresses
            .get(..usize::from(self.used))?
            .iter()
            .position(|&a| a == address)
    }

    /// The device's slot, taking a free one for a new address.
    fn slot(&mut self, address: u8) -> Option<usize> {
        if let Some(slot) = self.find(address) {
            return Some(slot);
        }
        let slot = usize::from(self.used);
        *self.addresses.get_mut(slot)? = address;
        self.used = self.used.saturating_add(1);
        Some(slot)
    }

    fn push(&mut self, address: u8, transition: Option<Transition>) {
        let Some(transition) = transition else {
            return;
        };
        // Full: the oldest makes room (the queue keeps the last ones).
        if self.queue.0.is_full() {
            self.queue.0.pop_front();
        }
        // Cannot fail: there is room now.
        let _ = self.queue.0.push_back((address, transition));
    }
}

/// One transaction's arguments, so that one retry loop serves the four
/// methods of the trait (one copy of the loop in flash, not four).
enum Transfer<'w, 'r, 'o> {
    Read(&'r mut [u8]),
    Write(&'w [u8]),
    WriteRead(&'w [u8], &'r mut [u8]),
    Transaction(&'r mut [Operation<'o>]),
}

impl Transfer<'_, '_, '_> {
    /// A read: the last operation reads.
    fn is_read(&self) -> bool {
        match self {
            Transfer::Read(_) | Transfer::WriteRead(..) => true,
            Transfer::Write(_) => false,
            Transfer::Transaction(ops) => matches!(ops.last(), Some(Operation::Read(_))),
        }
    }
}

/// The breaker's outcome for an error, and whether to retry it (the table
/// in the module docs).
fn judge(kind: ErrorKind, read: bool, writes: WriteRetry) -> (Outcome, bool) {
    let repeatable = read || writes == WriteRetry::Idempotent;
    match kind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address) => (Outcome::Failure, true),
        ErrorKind::NoAcknowledge(_)
        | ErrorKind::Bus
        | ErrorKind::ArbitrationLoss
        | ErrorKind::Overrun => (Outcome::Failure, repeatable),
        _ => (Outcome::Ignored, false),
    }
}

impl<I, D, C, P, const N: usize> ResilientI2c<I, D, C, P, N>
where
    I: I2c,
    D: DelayNs,
    C: Clock,
    P: Policy,
{
    // Not an `async fn`: see the trait impl below.
    #[allow(clippy::manual_async_fn)]
    fn run(
        &mut self,
        address: u8,
        mut transfer: Transfer<'_, '_, '_>,
    ) -> impl Future<Output = Result<(), I2cError<I::Error>>> {
        async move {
            let Some(slot) = self.slot(address) else {
                return Err(I2cError::TooManyDevices { address });
            };
            let reads = transfer.is_read();
            self.schedule.reset();
            let mut attempts: u8 = 0;
            let mut last: Option<I::Error> = None;
            loop {
                let Some(breaker) = self.breakers.get_mut(slot) else {
                    // `slot` came from `self.slot`, which only returns indices
                    // below N: nothing to do but report the device as untracked.
                    return Err(I2cError::TooManyDevices { address });
                };
                let now = time::observe(&mut self.latest, self.clock.now());
                let permit = match breaker.try_acquire(now) {
                    Ok(permit) => permit,
                    Err(rejected) => {
                        return Err(match last {
                            Some(error) => I2cError::Bus { error, attempts },
                            None => I2cError::DeviceDown {
                                address,
                                retry_after: rejected.retry_after,
                            },
                        });
                    }
                };
                let probe = permit.transition();
                self.push(address, probe);
                attempts = attempts.saturating_add(1);
                let result = match &mut transfer {
                    Transfer::Read(read) => self.bus.read(address, read).await,
                    Transfer::Write(write) => self.bus.write(address, write).await,
                    Transfer::WriteRead(write, read) => {
                        self.bus.write_read(address, write, read).await
                    }
                    Transfer::Transaction(ops) => self.bus.transaction(address, ops).await,
                };
                let now = time::observe(&mut self.latest, self.clock.now());
                let Some(breaker) = self.breakers.get_mut(slot) else {
                    return Err(I2cError::TooManyDevices { address });
                };
                let error = match result {
                    Ok(()) => {
                        let change = breaker.record(permit, Outcome::Success, now);
                        self.push(address, change);
                        return Ok(());
                    }
                    Err(error) => error,
                };
                let (outcome, retry) = judge(error.kind(), reads, self.writes);
                let change = breaker.record(permit, outcome, now);
                let open = matches!(breaker.state(now), State::Open | State::ForcedOpen);
                self.push(address, change);
                if !retry || open {
                    return Err(I2cError::Bus { error, attempts });
                }
                let Ok(wait) = self.schedule.try_next(None) else {
                    return Err(I2cError::Bus { error, attempts });
                };
                last = Some(error);
                sleep(&mut self.delay, wait).await;
            }
        }
    }
}

impl<I, D, C, P: Policy, const N: usize> ErrorType for ResilientI2c<I, D, C, P, N>
where
    I: I2c,
{
    type Error = I2cError<I::Error>;
}

impl<I, D, C, P, const N: usize> I2c<SevenBitAddress> for ResilientI2c<I, D, C, P, N>
where
    I: I2c,
    D: DelayNs,
    C: Clock,
    P: Policy,
{
    // Plain `fn`s returning the one retry loop's future: an `async fn`
    // here would wrap it in a second future that keeps its arguments again
    // (rust-lang/rust#62958).
    fn read(
        &mut self,
        address: u8,
        read: &mut [u8],
    ) -> impl Future<Output = Result<(), Self::Error>> {
        self.run(address, Transfer::Read(read))
    }

    fn write(
        &mut self,
        address: u8,
        write: &[u8],
    ) -> impl Future<Output = Result<(), Self::Error>> {
        self.run(address, Transfer::Write(write))
    }

    fn write_read(
        &mut self,
        address: u8,
        write: &[u8],
        read: &mut [u8],
    ) -> impl Future<Output = Result<(), Self::Error>> {
        self.run(address, Transfer::WriteRead(write, read))
    }

    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> impl Future<Output = Result<(), Self::Error>> {
        self.run(address, Transfer::Transaction(operations))
    }
}
