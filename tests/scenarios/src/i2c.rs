//! Resilient-I2C timelines (feature `embedded-hal-async`): one scenario per
//! row of the step and retry tables in `fusebox::i2c`, with a scripted fake
//! bus (each device answers from a script, then a fixed answer), a fake
//! `DelayNs` that records every delay and moves a fake clock, under
//! embassy-futures' no_std `block_on`.

use core::cell::Cell;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Waker};

use embassy_futures::block_on;
use embedded_hal_async::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};
use fusebox::backoff::{Backoff, Config};
use fusebox::breaker::{self, CircuitBreaker, ConsecutiveFailures, State, Transition};
use fusebox::i2c::{self, I2cError, ResilientI2c, WriteRetry};
use fusebox::time::Clock;

use crate::fakes::{Answer, Device, FakeBus, FakeDelay, Time};
use crate::timeline::{scenario as s, ticks as d};
use crate::{Outcome, Scenario};

/// Every resilient-I2C scenario.
pub const SCENARIOS: &[Scenario] = &[
    s(
        "i2c::read_retries_transient_errors_with_the_exact_schedule",
        read_retries_transient_errors_with_the_exact_schedule,
    ),
    s("i2c::write_read_is_a_read", write_read_is_a_read),
    s(
        "i2c::write_retried_on_address_nack_only",
        write_retried_on_address_nack_only,
    ),
    s(
        "i2c::idempotent_writes_retry_like_reads",
        idempotent_writes_retry_like_reads,
    ),
    s(
        "i2c::transaction_is_a_read_only_if_it_ends_with_one",
        transaction_is_a_read_only_if_it_ends_with_one,
    ),
    s(
        "i2c::other_error_is_not_retried_and_ignored_by_the_breaker",
        other_error_is_not_retried_and_ignored_by_the_breaker,
    ),
    s(
        "i2c::schedule_stop_returns_the_last_error",
        schedule_stop_returns_the_last_error,
    ),
    s(
        "i2c::dead_device_opens_its_breaker_then_is_skipped",
        dead_device_opens_its_breaker_then_is_skipped,
    ),
    s(
        "i2c::probe_success_closes_and_transitions_come_out_in_order",
        probe_success_closes_and_transitions_come_out_in_order,
    ),
    s(
        "i2c::failed_probe_reopens_without_retrying",
        failed_probe_reopens_without_retrying,
    ),
    s(
        "i2c::transition_queue_keeps_the_last_four",
        transition_queue_keeps_the_last_four,
    ),
    s("i2c::too_many_devices", too_many_devices),
    s(
        "i2c::dropped_transfer_leaks_no_probe",
        dropped_transfer_leaks_no_probe,
    ),
];

const fn fail(kind: ErrorKind) -> Answer {
    Answer::Fail(kind)
}

const ADDR_NACK: Answer = fail(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
const DATA_NACK: Answer = fail(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
const BUS: Answer = fail(ErrorKind::Bus);

/// A device at `address`: answers from `script`, one entry per transfer,
/// then `then` forever.
const fn dev(address: u8, script: &'static [Answer], then: Answer) -> Device<'static> {
    Device::new(address, script, then)
}

/// 100, 200, 400, 800 us between attempts; at most 5 attempts.
fn schedule() -> Option<Backoff> {
    Backoff::new(Config::exponential(d(100), 2, d(1_000)).max_attempts(5), 1).ok()
}

/// Trips at `threshold` failures in a row; open for 10 ms, probes written
/// off after 50 ms.
fn breaker(threshold: u32) -> Option<CircuitBreaker> {
    let config = breaker::Config::new()
        .open_duration(d(10_000))
        .probe_timeout(d(50_000));
    CircuitBreaker::new(config, ConsecutiveFailures::new(threshold).ok()?).ok()
}

fn config(threshold: u32) -> Option<i2c::Config> {
    Some(i2c::Config::new(schedule()?, breaker(threshold)?))
}

type Wrapper<'a, const K: usize, const N: usize = 4> =
    ResilientI2c<&'a FakeBus<'a, K>, FakeDelay<'a>, &'a Time, ConsecutiveFailures, N>;

fn bus_err(kind: ErrorKind, attempts: u8) -> Result<(), I2cError<ErrorKind>> {
    Err(I2cError::Bus {
        error: kind,
        attempts,
    })
}

fn t(from: State, to: State) -> Transition {
    Transition { from, to }
}

/// Drains the wrapper's transition queue: exactly `expected`, oldest first,
/// all of device `address`.
fn transitions_are<const K: usize, const N: usize>(
    i2c: &mut Wrapper<'_, K, N>,
    address: u8,
    expected: &[(State, State)],
) -> bool {
    expected
        .iter()
        .all(|&(from, to)| i2c.take_transition() == Some((address, t(from, to))))
        && i2c.take_transition().is_none()
}

/// read fails with Bus, ArbitrationLoss, a data NACK | each retried after
/// the schedule's delay | the fourth attempt reads
pub fn read_retries_transient_errors_with_the_exact_schedule() -> Outcome {
    static SCRIPT: [Answer; 3] = [BUS, fail(ErrorKind::ArbitrationLoss), DATA_NACK];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(5)));
    let mut buf = [0u8; 2];
    check_eq!(block_on(i2c.read(0x48, &mut buf)), Ok(()));
    check_eq!(buf, [0x2a, 0x2a]);
    check_eq!(bus.calls(0x48), 4);
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::Closed));
    // Three failures then a success: the breaker counted them all.
    let m = take!(i2c.breaker(0x48)).metrics();
    check_eq!((m.failures, m.successes), (3, 1));
    check_eq!(i2c.take_transition(), None);
    let (_, delay, _) = i2c.release();
    check_eq!(delay.slept(), &[100, 200, 400][..]);
    check_eq!(time.0.get(), 700);
    Ok(())
}

/// write_read (its pointer write included) fails with Overrun twice | retried
/// like a read
pub fn write_read_is_a_read() -> Outcome {
    static SCRIPT: [Answer; 2] = [fail(ErrorKind::Overrun), fail(ErrorKind::Overrun)];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(5)));
    let mut buf = [0u8; 1];
    check_eq!(block_on(i2c.write_read(0x48, &[0x01], &mut buf)), Ok(()));
    check_eq!(bus.calls(0x48), 3);
    let (_, delay, _) = i2c.release();
    check_eq!(delay.slept(), &[100, 200][..]);
    Ok(())
}

/// write: address NACK | retried (nothing was written); data NACK or bus
/// error | not retried, recorded as a failure
pub fn write_retried_on_address_nack_only() -> Outcome {
    static SCRIPT: [Answer; 3] = [ADDR_NACK, DATA_NACK, BUS];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(5)));
    // Address NACK, then a data NACK: one retry, then it stops.
    check_eq!(
        block_on(i2c.write(0x48, &[0x10, 0xff])),
        bus_err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data), 2)
    );
    check_eq!(bus.calls(0x48), 2);
    // A bus error mid-write: not retried either.
    check_eq!(
        block_on(i2c.write(0x48, &[0x10, 0xff])),
        bus_err(ErrorKind::Bus, 1)
    );
    check_eq!(bus.calls(0x48), 3);
    check_eq!(take!(i2c.breaker(0x48)).metrics().failures, 3);
    let (_, delay, _) = i2c.release();
    // One delay only: the schedule starts over for the second write, which
    // never retried.
    check_eq!(delay.slept(), &[100][..]);
    Ok(())
}

/// WriteRetry::Idempotent | data NACK and bus error retried like a read
pub fn idempotent_writes_retry_like_reads() -> Outcome {
    static SCRIPT: [Answer; 2] = [DATA_NACK, BUS];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let config = take!(config(5)).writes(WriteRetry::Idempotent);
    let mut i2c: Wrapper<1> = ResilientI2c::new(&bus, FakeDelay::new(&time), &time, config);
    check_eq!(block_on(i2c.write(0x48, &[0x10, 0xff])), Ok(()));
    check_eq!(bus.calls(0x48), 3);
    let (_, delay, _) = i2c.release();
    check_eq!(delay.slept(), &[100, 200][..]);
    Ok(())
}

/// transaction [Write, Read] is a read (retried); [Read, Write] is a write
/// (a data NACK is not retried)
pub fn transaction_is_a_read_only_if_it_ends_with_one() -> Outcome {
    static SCRIPT: [Answer; 3] = [DATA_NACK, Answer::Ok, DATA_NACK];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(5)));
    let mut buf = [0u8; 1];
    let r = block_on(i2c.transaction(
        0x48,
        &mut [Operation::Write(&[0x01]), Operation::Read(&mut buf)],
    ));
    check_eq!(r, Ok(()));
    check_eq!(bus.calls(0x48), 2);
    let r = block_on(i2c.transaction(
        0x48,
        &mut [Operation::Read(&mut buf), Operation::Write(&[0x01])],
    ));
    check_eq!(
        r,
        bus_err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data), 1)
    );
    check_eq!(bus.calls(0x48), 3);
    Ok(())
}

/// ErrorKind::Other | not retried; the breaker records Ignored
pub fn other_error_is_not_retried_and_ignored_by_the_breaker() -> Outcome {
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &[], fail(ErrorKind::Other))]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(1)));
    let mut buf = [0u8; 1];
    for _ in 0..3 {
        check_eq!(
            block_on(i2c.read(0x48, &mut buf)),
            bus_err(ErrorKind::Other, 1)
        );
    }
    check_eq!(bus.calls(0x48), 3);
    let m = take!(i2c.breaker(0x48)).metrics();
    check_eq!((m.ignored, m.failures), (3, 0));
    // A threshold of 1 and still closed: Other says nothing of the device.
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::Closed));
    Ok(())
}

/// the schedule stops (5 attempts) | Bus with the last attempt's error
pub fn schedule_stop_returns_the_last_error() -> Outcome {
    static SCRIPT: [Answer; 4] = [BUS, BUS, BUS, BUS];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, fail(ErrorKind::ArbitrationLoss))]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(10)));
    let mut buf = [0u8; 1];
    check_eq!(
        block_on(i2c.read(0x48, &mut buf)),
        bus_err(ErrorKind::ArbitrationLoss, 5)
    );
    check_eq!(bus.calls(0x48), 5);
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::Closed));
    let (_, delay, _) = i2c.release();
    check_eq!(delay.slept(), &[100, 200, 400, 800][..]);
    Ok(())
}

/// a dead device's failures open its breaker (no sleep after the trip) |
/// then DeviceDown at once, the bus untouched; other devices unaffected
pub fn dead_device_opens_its_breaker_then_is_skipped() -> Outcome {
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &[], Answer::Ok)]);
    let mut i2c: Wrapper<1, 2> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(3)));
    let mut buf = [0u8; 1];
    // Nothing at 0x50: three address NACKs trip its breaker.
    check_eq!(
        block_on(i2c.read(0x50, &mut buf)),
        bus_err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address), 3)
    );
    check_eq!(bus.calls(0x50), 3);
    check_eq!(time.0.get(), 300);
    check!(transitions_are(
        &mut i2c,
        0x50,
        &[(State::Closed, State::Open)]
    ));
    // Open for 10 ms: skipped without a transfer, with the time left.
    time.advance(4_000);
    check_eq!(
        block_on(i2c.read(0x50, &mut buf)),
        Err(I2cError::DeviceDown {
            address: 0x50,
            retry_after: Some(d(6_000)),
        })
    );
    check_eq!(bus.calls(0x50), 3);
    check_eq!(i2c.device_state(0x50, time.now()), Some(State::Open));
    check_eq!(block_on(i2c.read(0x48, &mut buf)), Ok(()));
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::Closed));
    // Isolated by hand: DeviceDown with no retry_after.
    take!(i2c.breaker_mut(0x48)).isolate();
    check_eq!(
        block_on(i2c.read(0x48, &mut buf)),
        Err(I2cError::DeviceDown {
            address: 0x48,
            retry_after: None,
        })
    );
    Ok(())
}

/// open duration over | the next read is a probe; its success closes |
/// take_transition yields Open->HalfOpen, then HalfOpen->Closed
pub fn probe_success_closes_and_transitions_come_out_in_order() -> Outcome {
    static SCRIPT: [Answer; 2] = [ADDR_NACK, ADDR_NACK];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(2)));
    let mut buf = [0u8; 1];
    check!(block_on(i2c.read(0x48, &mut buf)).is_err());
    time.advance(10_000);
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::HalfOpen));
    check_eq!(block_on(i2c.read(0x48, &mut buf)), Ok(()));
    check!(transitions_are(
        &mut i2c,
        0x48,
        &[
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    ));
    Ok(())
}

/// the probe fails with a retryable error | the breaker re-opens and the
/// read ends at once, one attempt, no sleep
pub fn failed_probe_reopens_without_retrying() -> Outcome {
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &[], BUS)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(2)));
    let mut buf = [0u8; 1];
    check_eq!(
        block_on(i2c.read(0x48, &mut buf)),
        bus_err(ErrorKind::Bus, 2)
    );
    time.advance(10_000);
    check_eq!(
        block_on(i2c.read(0x48, &mut buf)),
        bus_err(ErrorKind::Bus, 1)
    );
    check_eq!(bus.calls(0x48), 3);
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::Open));
    // Three transitions queued: Closed->Open, Open->HalfOpen, HalfOpen->Open.
    check!(transitions_are(
        &mut i2c,
        0x48,
        &[
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open)
        ]
    ));
    let (_, delay, _) = i2c.release();
    check_eq!(delay.slept(), &[100][..]);
    Ok(())
}

/// five transitions before any is taken | the oldest is dropped, the last
/// four come out oldest first
pub fn transition_queue_keeps_the_last_four() -> Outcome {
    static SCRIPT: [Answer; 2] = [BUS, BUS];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(1)));
    let mut buf = [0u8; 1];
    // Closed->Open; then a failed probe (Open->HalfOpen->Open); then a good
    // one (Open->HalfOpen->Closed).
    check!(block_on(i2c.read(0x48, &mut buf)).is_err());
    time.advance(10_000);
    check!(block_on(i2c.read(0x48, &mut buf)).is_err());
    time.advance(10_000);
    check_eq!(block_on(i2c.read(0x48, &mut buf)), Ok(()));
    check!(transitions_are(
        &mut i2c,
        0x48,
        &[
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    ));
    Ok(())
}

/// N devices tracked | a new address gets TooManyDevices, the bus untouched
pub fn too_many_devices() -> Outcome {
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([
        dev(0x10, &[], Answer::Ok),
        dev(0x11, &[], Answer::Ok),
        dev(0x12, &[], Answer::Ok),
    ]);
    let mut i2c: Wrapper<3, 2> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(3)));
    let mut buf = [0u8; 1];
    check_eq!(block_on(i2c.read(0x10, &mut buf)), Ok(()));
    check_eq!(block_on(i2c.write(0x11, &[1])), Ok(()));
    check_eq!(
        block_on(i2c.read(0x12, &mut buf)),
        Err(I2cError::TooManyDevices { address: 0x12 })
    );
    check_eq!(bus.calls(0x12), 0);
    check_eq!(i2c.device_state(0x12, time.now()), None);
    check_eq!(block_on(i2c.read(0x11, &mut buf)), Ok(()));
    check_eq!(bus.total(), 3);
    // No slot at all: every address is refused.
    let mut none: Wrapper<3, 0> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(3)));
    check_eq!(
        block_on(none.write(0x10, &[1])),
        Err(I2cError::TooManyDevices { address: 0x10 })
    );
    check_eq!(bus.total(), 3);
    Ok(())
}

/// a probe's transfer is dropped mid-flight | the probe slot is written off
/// after the probe timeout, then the device is probed again
pub fn dropped_transfer_leaks_no_probe() -> Outcome {
    static SCRIPT: [Answer; 2] = [BUS, Answer::Hang];
    let time = Time(Cell::new(0));
    let bus = FakeBus::new([dev(0x48, &SCRIPT, Answer::Ok)]);
    let mut i2c: Wrapper<1> =
        ResilientI2c::new(&bus, FakeDelay::new(&time), &time, take!(config(1)));
    let mut buf = [0u8; 1];
    check_eq!(
        block_on(i2c.read(0x48, &mut buf)),
        bus_err(ErrorKind::Bus, 1)
    );
    time.advance(10_000);
    {
        let read = pin!(i2c.read(0x48, &mut buf));
        let mut cx = Context::from_waker(Waker::noop());
        // The probe is on the bus...
        check!(read.poll(&mut cx).is_pending());
        // ...when its future is dropped.
    }
    check_eq!(bus.calls(0x48), 2);
    // Its slot is taken until the probe timeout (50 ms) has passed.
    time.advance(1_000);
    check_eq!(
        block_on(i2c.read(0x48, &mut buf)),
        Err(I2cError::DeviceDown {
            address: 0x48,
            retry_after: Some(d(49_000)),
        })
    );
    time.advance(49_000);
    check_eq!(block_on(i2c.read(0x48, &mut buf)), Ok(()));
    check_eq!(i2c.device_state(0x48, time.now()), Some(State::Closed));
    Ok(())
}
