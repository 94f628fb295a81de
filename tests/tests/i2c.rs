//! Property tests of the resilient I2C wrapper (`fusebox::i2c`) against a
//! reference model: a device fails on random attempts with random error
//! kinds, over a run of random transactions; the wrapper must make exactly
//! the transfers and sleep exactly the delays the model predicts, never
//! more than `max_attempts` transfers per transaction, never retry a write
//! after an error that may have let part of it through (unless the writes
//! are idempotent), and open the device's breaker exactly when the model's
//! count of failures in a row reaches the threshold.

use std::collections::VecDeque;

use embassy_futures::block_on;
use embedded_hal_async::i2c::{Error as _, ErrorKind, I2c, NoAcknowledgeSource, Operation};
use fusebox::backoff::{Backoff, Config, Jitter};
use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures, State, Transition};
use fusebox::i2c::{self, I2cError, ResilientI2c, WriteRetry};
use fusebox::time::{Clock, Duration};
use fusebox_scenarios::fakes::{
    Answer, Device, FakeBus, FakeDelay, NoBus, NoDelay, Time, ZeroClock,
};
use proptest::prelude::*;

const ADDR: u8 = 0x48;
/// Delays the fake records: more than any run sleeps (12 transactions of
/// at most 6 attempts).
const DELAYS: usize = 128;

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
    i2c: &mut ResilientI2c<&FakeBus<'_, 1>, FakeDelay<'_, DELAYS>, &Time>,
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

        let time = Time::new(0);
        // The device answers from the script, then `Ok` forever.
        let script: Vec<Answer> = answers.iter().map(|a| a.map_or(Answer::Ok, Answer::Fail)).collect();
        let bus = FakeBus::new([Device::new(ADDR, &script, Answer::Ok)]);
        let delay = FakeDelay::<DELAYS>::keeping(&time);
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
            let before = bus.calls(ADDR);
            let got = block_on(run(&mut i2c, kind));
            let made = bus.calls(ADDR) - before;

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
            // The answers this transaction's transfers got, from the script.
            let log: Vec<Option<ErrorKind>> =
                (0..bus.calls(ADDR)).map(|n| answers.get(n as usize).copied().flatten()).collect();
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
        prop_assert_eq!(bus.calls(ADDR), model_transfers);
        prop_assert_eq!(bus.total(), model_transfers);
        // The breaker opened at most once (it stays open), and said so.
        let opened = i2c.take_transition();
        if open {
            prop_assert_eq!(opened, Some((ADDR, Transition { from: State::Closed, to: State::Open })));
        } else {
            prop_assert_eq!(opened, None);
        }
        prop_assert_eq!(i2c.take_transition(), None);
        let (_, delay, _) = i2c.release();
        prop_assert_eq!(delay.slept(), &model_delays[..]);
        prop_assert_eq!(delay.count(), model_delays.len());
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
fn size_of_a_transaction_future() {
    // The wrapper's own sizes are in the host size table (tests/tests/sizes.rs).
    // One transaction's future: the reference to the wrapper, the arguments,
    // the last error and the larger of the bus's and the delay's futures.
    let mut i2c: ResilientI2c<NoBus, NoDelay, ZeroClock> = ResilientI2c::new(
        NoBus,
        NoDelay,
        ZeroClock,
        i2c::Config::new(
            Backoff::new(Config::constant(Duration::from_ticks(1)), 0).unwrap(),
            CircuitBreaker::new(breaker::Config::new(), ConsecutiveFailures::new(1).unwrap())
                .unwrap(),
        ),
    );
    let mut buf = [0u8; 2];
    let read = i2c.read(0x48, &mut buf);
    let read_size = core::mem::size_of_val(&read);
    println!("read future: {read_size} bytes");
    // The module docs' figure (rustc 1.95): the bound this test keeps.
    assert!(read_size <= 216, "read future {read_size} bytes > 216");
    drop(read);
    let write_read = i2c.write_read(0x48, &[0], &mut buf);
    println!(
        "write_read future: {} bytes",
        core::mem::size_of_val(&write_read)
    );
}
