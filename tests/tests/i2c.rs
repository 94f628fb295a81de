//! Property tests of the resilient I2C wrapper (`fusebox::i2c`) against a
//! reference model: a device fails on random attempts with random error
//! kinds, over a run of random transactions; the wrapper must make exactly
//! the transfers and sleep exactly the delays the model predicts, never
//! more than `max_attempts` transfers per transaction, never retry a write
//! after an error that may have let part of it through (unless the writes
//! are idempotent), and open the device's breaker exactly when the model's
//! count of failures in a row reaches the threshold.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use embassy_futures::block_on;
use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::i2c::{
    Error as _, ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation,
};
use fusebox::backoff::{Backoff, Config, Jitter};
use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures, State, Transition};
use fusebox::i2c::{self, I2cError, ResilientI2c, WriteRetry};
use fusebox::time::{Clock, Duration, Instant};
use proptest::prelude::*;

const ADDR: u8 = 0x48;

struct Time(Cell<u64>);

impl Clock for Time {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.0.get())
    }
}

struct FakeDelay<'a> {
    time: &'a Time,
    slept: &'a RefCell<Vec<u64>>,
}

impl DelayNs for FakeDelay<'_> {
    async fn delay_ns(&mut self, ns: u32) {
        self.delay_us(ns.div_ceil(1000)).await;
    }

    async fn delay_us(&mut self, us: u32) {
        self.slept.borrow_mut().push(u64::from(us));
        self.time.0.set(self.time.0.get() + u64::from(us));
    }
}

/// One device whose transfers answer from a queue (then `Ok`), and a log
/// of the answer each transfer got.
#[derive(Default)]
struct FakeBus {
    answers: RefCell<VecDeque<Option<ErrorKind>>>,
    transfers: Cell<u32>,
    log: RefCell<Vec<Option<ErrorKind>>>,
}

impl ErrorType for &FakeBus {
    type Error = ErrorKind;
}

impl I2c for &FakeBus {
    async fn transaction(&mut self, address: u8, _: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        assert_eq!(address, ADDR);
        self.transfers.set(self.transfers.get() + 1);
        let answer = self.answers.borrow_mut().pop_front().flatten();
        self.log.borrow_mut().push(answer);
        match answer {
            None => Ok(()),
            Some(kind) => Err(kind),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Read,
    Write,
    WriteRead,
    TxEndingInRead,
    TxEndingInWrite,
    TxEmpty,
}

impl Kind {
    fn is_read(self) -> bool {
        matches!(self, Kind::Read | Kind::WriteRead | Kind::TxEndingInRead)
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Read),
        Just(Kind::Write),
        Just(Kind::WriteRead),
        Just(Kind::TxEndingInRead),
        Just(Kind::TxEndingInWrite),
        Just(Kind::TxEmpty),
    ]
}

fn answer() -> impl Strategy<Value = Option<ErrorKind>> {
    use NoAcknowledgeSource::*;
    prop_oneof![
        3 => Just(None),
        2 => Just(Some(ErrorKind::NoAcknowledge(Address))),
        1 => Just(Some(ErrorKind::NoAcknowledge(Data))),
        1 => Just(Some(ErrorKind::NoAcknowledge(Unknown))),
        1 => Just(Some(ErrorKind::Bus)),
        1 => Just(Some(ErrorKind::ArbitrationLoss)),
        1 => Just(Some(ErrorKind::Overrun)),
        1 => Just(Some(ErrorKind::Other)),
    ]
}

async fn run(
    i2c: &mut ResilientI2c<&FakeBus, FakeDelay<'_>, &Time>,
    kind: Kind,
) -> Result<(), I2cError<ErrorKind>> {
    let mut buf = [0u8; 2];
    match kind {
        Kind::Read => i2c.read(ADDR, &mut buf).await,
        Kind::Write => i2c.write(ADDR, &[1, 2]).await,
        Kind::WriteRead => i2c.write_read(ADDR, &[1], &mut buf).await,
        Kind::TxEndingInRead => {
            i2c.transaction(
                ADDR,
                &mut [Operation::Write(&[1]), Operation::Read(&mut buf)],
            )
            .await
        }
        Kind::TxEndingInWrite => {
            i2c.transaction(
                ADDR,
                &mut [Operation::Read(&mut buf), Operation::Write(&[1])],
            )
            .await
        }
        Kind::TxEmpty => i2c.transaction(ADDR, &mut []).await,
    }
}

/// The reference model: the retry table of the module docs, written out
/// independently.
fn retried(kind: ErrorKind, read: bool, idempotent: bool) -> bool {
    match kind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address) => true,
        ErrorKind::Other => false,
        _ => read || idempotent,
    }
}

/// The delay in microseconds at 1 MHz ticks (the test's tick rate).
fn micros(d: Duration) -> u64 {
    d.as_micros()
}

proptest! {
    #![proptest_config(fusebox_tests::proptest_config(512))]

    #[test]
    fn wrapper_follows_the_reference_model(
        answers in proptest::collection::vec(answer(), 0..40),
        kinds in proptest::collection::vec(kind(), 1..12),
        max_attempts in 1u32..7,
        threshold in 1u32..12,
        idempotent in any::<bool>(),
        jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Decorrelated)],
        seed in any::<u64>(),
    ) {
        let config = Config::exponential(Duration::from_ticks(50), 3, Duration::from_ticks(2_000))
            .jitter(jitter)
            .max_attempts(max_attempts);
        let schedule = Backoff::new(config, seed).unwrap();
        // Open for longer than any test runs: once open, it stays open.
        let breaker = CircuitBreaker::new(
            breaker::Config::new().open_duration(Duration::from_secs(1_000_000)),
            ConsecutiveFailures::new(threshold).unwrap(),
        ).unwrap();
        let writes = if idempotent { WriteRetry::Idempotent } else { WriteRetry::AddressNackOnly };

        let time = Time(Cell::new(0));
        let slept = RefCell::new(Vec::new());
        let bus = FakeBus { answers: RefCell::new(answers.iter().copied().collect()), ..FakeBus::default() };
        let delay = FakeDelay { time: &time, slept: &slept };
        let mut i2c: ResilientI2c<_, _, _> =
            ResilientI2c::new(&bus, delay, &time, i2c::Config::new(schedule.clone(), breaker).writes(writes));

        // The model's state.
        let mut model_answers: VecDeque<Option<ErrorKind>> = answers.iter().copied().collect();
        let mut model_schedule = schedule;
        let mut failures_in_row = 0u32;
        let mut open = false;
        let mut model_delays = Vec::new();
        let mut model_transfers = 0u32;

        for kind in kinds {
            let before = bus.transfers.get();
            let got = block_on(run(&mut i2c, kind));
            let made = bus.transfers.get() - before;

            let want = if open {
                Err(I2cError::DeviceDown { address: ADDR, retry_after: None })
            } else {
                model_schedule.reset();
                let mut attempts = 0u8;
                loop {
                    attempts += 1;
                    model_transfers += 1;
                    match model_answers.pop_front().flatten() {
                        None => {
                            failures_in_row = 0;
                            break Ok(());
                        }
                        Some(e) => {
                            if e != ErrorKind::Other {
                                failures_in_row += 1;
                                if failures_in_row >= threshold {
                                    open = true;
                                }
                            }
                            if !retried(e, kind.is_read(), idempotent) || open {
                                break Err(I2cError::Bus { error: e, attempts });
                            }
                            match model_schedule.next_delay(None) {
                                Some(wait) => model_delays.push(micros(wait)),
                                None => break Err(I2cError::Bus { error: e, attempts }),
                            }
                        }
                    }
                }
            };

            // The open duration is longer than the test: compare DeviceDown
            // without its retry_after.
            let got_cmp = match got {
                Err(I2cError::DeviceDown { address, .. }) => Err(I2cError::DeviceDown { address, retry_after: None }),
                other => other,
            };
            prop_assert_eq!(got_cmp, want, "transaction {:?}", kind);

            // Laws, independent of the model's loop, on the answers this
            // transaction's transfers got.
            prop_assert!(made <= max_attempts);
            let log = bus.log.borrow();
            let mine = &log[before as usize..];
            if let Err(I2cError::Bus { attempts, .. }) = got {
                prop_assert_eq!(u32::from(attempts), made);
            }
            if let Some((_, retried_ones)) = mine.split_last() {
                for a in retried_ones {
                    // Only failures are retried, and never `Other`...
                    prop_assert!(a.is_some() && *a != Some(ErrorKind::Other));
                    // ...and a plain write only after an address NACK.
                    if !kind.is_read() && !idempotent {
                        prop_assert_eq!(*a, Some(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)));
                    }
                }
            }
            drop(log);
            if open {
                prop_assert_eq!(i2c.device_state(ADDR, time.now()), Some(State::Open));
            }
        }
        prop_assert_eq!(bus.transfers.get(), model_transfers);
        prop_assert_eq!(&*slept.borrow(), &model_delays);
        // The breaker opened at most once (it stays open), and said so.
        let opened = i2c.take_transition();
        if open {
            prop_assert_eq!(opened, Some((ADDR, Transition { from: State::Closed, to: State::Open })));
        } else {
            prop_assert_eq!(opened, None);
        }
        prop_assert_eq!(i2c.take_transition(), None);
    }
}

#[test]
fn error_kinds_and_messages() {
    let bus: I2cError<ErrorKind> = I2cError::Bus {
        error: ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
        attempts: 3,
    };
    assert_eq!(
        bus.kind(),
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
    );
    assert_eq!(
        bus.to_string(),
        "I2C transfer failed after 3 attempt(s): The device did not acknowledge its address; \
         check the wiring, the pull-ups and the device's address"
    );
    let isolated: I2cError<ErrorKind> = I2cError::DeviceDown {
        address: 0x50,
        retry_after: None,
    };
    assert_eq!(isolated.kind(), ErrorKind::Other);
    assert_eq!(
        isolated.to_string(),
        "I2C device 0x50 is isolated by its circuit breaker: reset the breaker to use it again"
    );
    let full: I2cError<ErrorKind> = I2cError::TooManyDevices { address: 0x0a };
    assert_eq!(full.kind(), ErrorKind::Other);
    assert_eq!(
        full.to_string(),
        "I2C device 0x0a has no breaker: every slot is taken; raise the device count N of ResilientI2c"
    );
    let _: &dyn core::error::Error = &full;
}

#[test]
#[cfg(target_pointer_width = "64")]
fn size_of_the_wrapper_with_zero_sized_parts() {
    struct Bus;
    impl ErrorType for Bus {
        type Error = ErrorKind;
    }
    impl I2c for Bus {
        async fn transaction(&mut self, _: u8, _: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
            Ok(())
        }
    }
    struct Delay;
    impl DelayNs for Delay {
        async fn delay_ns(&mut self, _: u32) {}
    }
    struct Zero;
    impl Clock for Zero {
        fn now(&self) -> Instant {
            Instant::from_ticks(0)
        }
    }
    use core::mem::size_of;
    assert_eq!(size_of::<ResilientI2c<Bus, Delay, Zero>>(), 704);
    assert_eq!(
        size_of::<ResilientI2c<Bus, Delay, Zero, ConsecutiveFailures, 1>>(),
        272
    );
    assert_eq!(
        size_of::<ResilientI2c<Bus, Delay, Zero, ConsecutiveFailures, 8>>(),
        1280
    );
    assert_eq!(size_of::<i2c::Config>(), 248);
    assert_eq!(size_of::<I2cError<ErrorKind>>(), 24);
    // One transaction's future: the reference to the wrapper, the arguments,
    // the last error and the larger of the bus's and the delay's futures.
    let mut i2c: ResilientI2c<Bus, Delay, Zero> = ResilientI2c::new(
        Bus,
        Delay,
        Zero,
        i2c::Config::new(
            Backoff::new(Config::constant(Duration::from_ticks(1)), 0).unwrap(),
            CircuitBreaker::new(breaker::Config::new(), ConsecutiveFailures::new(1).unwrap())
                .unwrap(),
        ),
    );
    let mut buf = [0u8; 2];
    let read = i2c.read(0x48, &mut buf);
    println!("read future: {} bytes", core::mem::size_of_val(&read));
    drop(read);
    let write_read = i2c.write_read(0x48, &[0], &mut buf);
    println!(
        "write_read future: {} bytes",
        core::mem::size_of_val(&write_read)
    );
}
