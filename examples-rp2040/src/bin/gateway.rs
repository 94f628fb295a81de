//! A sensor-to-uplink gateway on a Raspberry Pi Pico that keeps working,
//! degraded, when the sensor or the uplink dies.
//!
//! - **Sensor** (I2C0, SDA GPIO 4, SCL GPIO 5): a TMP102-style temperature
//!   sensor at 0x48, read every second (the period can be changed from the
//!   uplink) through fusebox's [`ResilientI2c`]: address NACKs and bus errors
//!   are retried with a short backoff; after 3 failed attempts in a row the
//!   device is marked down and skipped without touching the bus for 5 s (then
//!   one probe read), instead of stalling the bus on every poll.
//! - **Uplink** (UART0, TX GPIO 0, RX GPIO 1, 115200 8N1): line frames to a
//!   host that acknowledges each one. Sends are limited by a token bucket
//!   (2 frames/s, bursts of 5), retried with backoff (the async retry runner,
//!   with a retry budget, a 300 ms attempt timeout and a 2 s deadline), and
//!   guarded by a circuit breaker: a dead host costs one refused send, not
//!   seconds of retries per reading.
//! - **Downlink**: commands from the host, each with an id; a dedup table
//!   (`EvictDone`, 60 s) drops a command id seen before (it is acknowledged
//!   again with the stored status, not run again).
//! - **LED** (GPIO 25): the health at a glance; see [`pattern`].
//!
//! Tasks share the `&mut` primitives behind embassy-sync blocking mutexes
//! (held for one call, never across an await; a `Done` value is copied out),
//! the token bucket as the core's `sync` variant (`SharedTokenBucket`,
//! `&self` on portable-atomic), and the state the LED shows through atomics. Every breaker transition,
//! the sensor's and the uplink's, is logged with defmt.
//!
//! Frames (ASCII lines, `\n`-terminated):
//!
//! | direction | frame | meaning |
//! |---|---|---|
//! | up | `R <seq> <centi-degC>` | a reading |
//! | up | `D <seq> sensor` | the sensor was marked down |
//! | up | `K <seq> <id> <status>` | command `id` done: 0 ok, 1 bad command, 2 bad argument |
//! | down | `A <seq>` | frame `seq` received |
//! | down | `B <seq> <ms>` | busy: send `seq` again in `ms` |
//! | down | `C <id> ping` / `C <id> period <ms>` / `C <id> reset` | a command |
#![no_std]
#![no_main]

use core::cell::RefCell;

use defmt::{debug, error, info, warn};
use embassy_executor::Spawner;
use embassy_rp::bind_interrupts;
use embassy_rp::clocks::RoscRng;
use embassy_rp::gpio::{Level, Output};
use embassy_rp::i2c::{self, I2c};
use embassy_rp::peripherals::{I2C0, UART0};
use embassy_rp::uart::{
    self, BufferedInterruptHandler, BufferedUart, BufferedUartRx, BufferedUartTx,
};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::{Channel, TrySendError};
use embassy_sync::signal::Signal;
use embassy_time::{Delay, Duration, Instant, Timer};
use embedded_hal_async::i2c::I2c as _;
use embedded_io_async::{Read, Write};
use fusebox::backoff::{self, Backoff, Jitter};
use fusebox::breaker::{
    self, CircuitBreaker, ConsecutiveFailures, Outcome, Permit, State, Transition,
};
use fusebox::dedup::{self, Begin, DedupTable, Eviction, Ticket};
use fusebox::hash::Seed;
use fusebox::i2c::{I2cError, ResilientI2c, WriteRetry};
use fusebox::rate::{Quota, RetryBudget, SharedTokenBucket};
use fusebox::retry::{Gate, Last, Retry, RetryError, Stopped, Verdict};
use fusebox::time::Clock;
// Read-modify-write atomics (the M0+ has none) through critical-section.
use portable_atomic::{AtomicU8, AtomicU32, Ordering};
use static_cell::ConstStaticCell;
use {defmt_rtt as _, panic_probe as _};

bind_interrupts!(struct Irqs {
    I2C0_IRQ => i2c::InterruptHandler<I2C0>;
    UART0_IRQ => BufferedInterruptHandler<UART0>;
});

// ---- configuration, checked at compile time (a bad value fails the build)

/// The sensor's address (TMP102 with ADD0 to GND) and its temperature
/// register.
const SENSOR: u8 = 0x48;
const TEMPERATURE: u8 = 0x00;

/// Sensor retries: 2 ms, 4 ms, 8 ms apart (with jitter), 4 attempts at
/// most per read.
const SENSOR_SCHEDULE: backoff::Config =
    backoff::Config::exponential(Duration::from_millis(2), 2, Duration::from_millis(8))
        .jitter(Jitter::Equal)
        .max_attempts(4);

/// Sensor breaker: down after 3 failed attempts in a row, for 5 s, then
/// 10 s, 20 s... up to 60 s while it stays dead.
const SENSOR_BREAKER: CircuitBreaker<ConsecutiveFailures> = consecutive(
    breaker::Config::new()
        .open_duration_growing(Duration::from_secs(5), 2, Duration::from_secs(60))
        .probe_timeout(Duration::from_secs(1)),
    3,
);

/// Uplink retries: 50 ms, 100 ms, 200 ms apart (full jitter), 4 attempts.
const UPLINK_SCHEDULE: backoff::Config =
    backoff::Config::exponential(Duration::from_millis(50), 2, Duration::from_millis(400))
        .jitter(Jitter::Full)
        .max_attempts(4);

/// How long the host has to acknowledge a frame, and the most one frame may
/// take, retries included.
const ACK_TIMEOUT: Duration = Duration::from_millis(300);
const SEND_DEADLINE: Duration = Duration::from_secs(2);

/// Uplink breaker: open after 5 failed attempts in a row (a little more
/// than one frame's retries), for 10 s growing to 2 min.
const UPLINK_BREAKER: CircuitBreaker<ConsecutiveFailures> = consecutive(
    breaker::Config::new()
        .open_duration_growing(Duration::from_secs(10), 2, Duration::from_secs(120))
        .probe_timeout(Duration::from_secs(3)),
    5,
);

/// At most 2 frames a second on the uplink, in bursts of up to 5.
const UPLINK_QUOTA: Quota = match Quota::per_second(2).allow_burst(5).build() {
    Ok(q) => q,
    Err(_) => panic!("uplink quota"),
};

/// Retries of at most 20 % of the frames that went through, plus 1 a
/// second, over 10 s: a flapping host is not hammered.
const UPLINK_BUDGET: RetryBudget<5> = match RetryBudget::builder()
    .slices::<5>()
    .percent_can_retry(20)
    .min_retries_per_sec(1)
    .ttl(Duration::from_secs(10))
    .build()
{
    Ok(b) => b,
    Err(_) => panic!("uplink retry budget"),
};

/// Command ids seen in the last minute (the oldest done one is forgotten
/// first when a key's window is full).
const COMMANDS_SEEN: dedup::Config = dedup::Config::new()
    .in_flight_ttl(Duration::from_secs(5))
    .done_ttl(Duration::from_secs(60))
    .eviction(Eviction::EvictDone);

const fn consecutive(
    config: breaker::Config,
    threshold: u32,
) -> CircuitBreaker<ConsecutiveFailures> {
    let Ok(policy) = ConsecutiveFailures::new(threshold) else {
        panic!("ConsecutiveFailures threshold")
    };
    match CircuitBreaker::new(config, policy) {
        Ok(b) => b,
        Err(_) => panic!("breaker config"),
    }
}

// ---- shared state

type Shared<T> = Mutex<CriticalSectionRawMutex, RefCell<T>>;

/// The uplink's breaker: the uplink task sends through it, the status task
/// reads its state, a `reset` command closes it.
static UPLINK: Shared<CircuitBreaker<ConsecutiveFailures>> =
    Mutex::new(RefCell::new(UPLINK_BREAKER));

/// The uplink's rate: taken by the uplink task, reported by the status task.
/// The core's `sync` variant: `&self` methods on portable-atomic (over
/// critical-section on the M0+), no mutex needed.
static BUCKET: SharedTokenBucket = SharedTokenBucket::new(UPLINK_QUOTA);

/// Command ids: begun by the downlink task, completed by the command task.
/// Built in `main` with a seed from the ring oscillator, so a host cannot
/// choose ids that collide.
static SEEN: Shared<Option<DedupTable<u32, u8, 32>>> = Mutex::new(RefCell::new(None));

/// Frames waiting for the uplink; a reading that finds it full is dropped.
static OUTBOX: Channel<CriticalSectionRawMutex, Frame, 4> = Channel::new();

/// Commands admitted by the dedup table, for the command task.
static COMMANDS: Channel<CriticalSectionRawMutex, Command, 2> = Channel::new();

/// The host's latest reply to a frame (`A` or `B`), for the uplink task.
static REPLY: Signal<CriticalSectionRawMutex, Reply> = Signal::new();

/// The sensor's breaker state, published for the status task.
static SENSOR_STATE: AtomicU8 = AtomicU8::new(UP);
const UP: u8 = 0;
const DOWN: u8 = 1;
const PROBING: u8 = 2;

/// The sensor's poll period in ms (the `period` command changes it).
static PERIOD_MS: AtomicU32 = AtomicU32::new(1000);

/// Counters for the periodic status line.
static SENT: AtomicU32 = AtomicU32::new(0);
static DROPPED: AtomicU32 = AtomicU32::new(0);

/// The embassy-time clock, as fusebox's `Clock`.
struct Now;

impl Clock for Now {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[derive(Clone, Copy, defmt::Format)]
enum Frame {
    Reading { centi_celsius: i32 },
    SensorDown,
    Done { id: u32, status: u8 },
}

#[derive(Clone, Copy, defmt::Format)]
struct Reply {
    seq: u32,
    /// `B <seq> <ms>`: the host asked for a wait.
    busy_ms: Option<u32>,
}

#[derive(Clone, Copy, defmt::Format)]
enum Verb {
    Ping,
    Period(u32),
    Reset,
    Unknown,
}

struct Command {
    id: u32,
    ticket: Ticket,
    verb: Verb,
}

type SensorBus = ResilientI2c<I2c<'static, I2C0, i2c::Async>, Delay, Now, ConsecutiveFailures, 1>;

#[embassy_executor::main(
    executor = "embassy_rp::executor::Executor",
    entry = "cortex_m_rt::entry"
)]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());

    // Seed the jitter and the dedup hash from the ring oscillator, so
    // gateways that fail together do not retry in lock-step, and no two
    // share a hash key.
    let seed =
        [(); 3].map(|()| (0..8).fold(0_u64, |s, _| (s << 8) | u64::from(RoscRng::next_u8())));
    let Ok(table) = DedupTable::new(COMMANDS_SEEN, Seed::new(seed[0], seed[1])) else {
        defmt::panic!("dedup config")
    };
    SEEN.lock(|t| *t.borrow_mut() = Some(table));

    let Ok(sensor_schedule) = Backoff::new(SENSOR_SCHEDULE, seed[2]) else {
        defmt::panic!("sensor schedule")
    };
    let bus = I2c::new_async(p.I2C0, p.PIN_5, p.PIN_4, Irqs, i2c::Config::default());
    let config = fusebox::i2c::Config::new(sensor_schedule, SENSOR_BREAKER)
        .writes(WriteRetry::AddressNackOnly);
    let sensor: SensorBus = ResilientI2c::new(bus, Delay, Now, config);

    static TX_BUF: ConstStaticCell<[u8; 64]> = ConstStaticCell::new([0; 64]);
    static RX_BUF: ConstStaticCell<[u8; 64]> = ConstStaticCell::new([0; 64]);
    let mut uart_config = uart::Config::default();
    uart_config.baudrate = 115_200;
    let uart = BufferedUart::new(
        p.UART0,
        p.PIN_0,
        p.PIN_1,
        Irqs,
        TX_BUF.take(),
        RX_BUF.take(),
        uart_config,
    );
    let (tx, rx) = uart.split();
    let led = Output::new(p.PIN_25, Level::Low);

    info!(
        "fusebox gateway: sensor 0x48 on I2C0 (GPIO 4/5), uplink UART0 115200 (GPIO 0/1), LED GPIO 25"
    );
    spawner.spawn(sensor_task(sensor).expect("sensor task spawns once"));
    spawner.spawn(uplink_task(tx, seed[2].rotate_left(17)).expect("uplink task spawns once"));
    spawner.spawn(downlink_task(rx).expect("downlink task spawns once"));
    spawner.spawn(command_task().expect("command task spawns once"));
    spawner.spawn(status_task(led).expect("status task spawns once"));
}

// ---- sensor

#[embassy_executor::task]
async fn sensor_task(mut bus: SensorBus) {
    let mut buf = [0_u8; 2];
    loop {
        let result = bus.write_read(SENSOR, &[TEMPERATURE], &mut buf).await;
        while let Some((address, t)) = bus.take_transition() {
            log_sensor_transition(address, t);
            // Tell the host once per outage, not on every failed probe.
            if t.from == State::Closed && matches!(t.to, State::Open | State::ForcedOpen) {
                queue(Frame::SensorDown);
            }
        }
        match result {
            Ok(()) => {
                // 12 bits, left-justified, 1/16 degC per step.
                let raw = i32::from(i16::from_be_bytes(buf) >> 4);
                let centi_celsius = raw * 625 / 100;
                debug!("sensor: {} centi-degC", centi_celsius);
                queue(Frame::Reading { centi_celsius });
            }
            Err(I2cError::Bus { error, attempts }) => {
                warn!("sensor: read failed after {} attempts: {}", attempts, error)
            }
            Err(I2cError::DeviceDown {
                address,
                retry_after,
            }) => {
                debug!(
                    "sensor {=u8:#x} down, skipped (probe in {})",
                    address, retry_after
                )
            }
            Err(I2cError::TooManyDevices { address }) => {
                error!("sensor {=u8:#x}: no breaker slot", address)
            }
        }
        SENSOR_STATE.store(
            match bus.device_state(SENSOR, Instant::now()) {
                Some(State::Open | State::ForcedOpen) => DOWN,
                Some(State::HalfOpen) => PROBING,
                _ => UP,
            },
            Ordering::Relaxed,
        );
        Timer::after_millis(u64::from(PERIOD_MS.load(Ordering::Relaxed))).await;
    }
}

/// `<name> <from> -> <to>: <reason>`, as fusebox-std's tracing events
/// (the reason's words are the core's `TransitionReason`).
fn log_sensor_transition(address: u8, t: Transition) {
    match t.to {
        State::Open | State::ForcedOpen => warn!(
            "sensor {=u8:#x} {} -> {}: {}; marked down, polls skip it",
            address,
            t.from,
            t.to,
            t.reason()
        ),
        _ => info!(
            "sensor {=u8:#x} {} -> {}: {}",
            address,
            t.from,
            t.to,
            t.reason()
        ),
    }
}

/// Queue a frame for the uplink; if the uplink is behind, a reading is
/// dropped (the next one is fresher) and counted.
fn queue(frame: Frame) {
    if OUTBOX.try_send(frame).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        debug!("uplink behind: {} dropped", frame);
    }
}

// ---- uplink

/// The shared uplink breaker as the retry runner's [`Gate`]: one short
/// lock per call, and every transition logged outside the lock.
struct UplinkGate;

impl Gate for UplinkGate {
    fn try_acquire(&mut self, now: Instant) -> Result<Permit, breaker::Rejected> {
        let acquired = UPLINK.lock(|b| b.borrow_mut().try_acquire(now));
        if let Some(t) = acquired.as_ref().ok().and_then(Permit::transition) {
            log_uplink_transition(t);
        }
        acquired
    }

    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if let Some(t) = UPLINK.lock(|b| b.borrow_mut().record(permit, outcome, now)) {
            log_uplink_transition(t);
        }
    }
}

/// `<name> <from> -> <to>: <reason>`, as fusebox-std's tracing events.
fn log_uplink_transition(t: Transition) {
    match t.to {
        State::Open | State::ForcedOpen => warn!(
            "uplink {} -> {}: {}; host unreachable, frames dropped",
            t.from,
            t.to,
            t.reason()
        ),
        _ => info!("uplink {} -> {}: {}", t.from, t.to, t.reason()),
    }
}

#[derive(Clone, Copy, defmt::Format)]
enum UplinkError {
    Uart(embassy_rp::uart::Error),
    Busy { ms: u32 },
}

#[embassy_executor::task]
async fn uplink_task(mut tx: BufferedUartTx, seed: u64) {
    let mut budget = UPLINK_BUDGET;
    let mut seq: u32 = 0;
    loop {
        let frame = OUTBOX.receive().await;

        // An open breaker: drop the frame now, without waiting for a token.
        let now = Instant::now();
        if let Some(wait) = UPLINK.lock(|b| b.borrow().retry_after(now)) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            debug!("uplink down: {} dropped (probe in {})", frame, wait);
            continue;
        }
        // The rate limit: wait for a token (the outbox fills meanwhile, and
        // readings that find it full are dropped).
        loop {
            let now = Instant::now();
            match BUCKET.try_acquire(now) {
                Ok(()) => break,
                Err(limited) => {
                    let wait = limited.retry_after.unwrap_or(Duration::from_secs(1));
                    debug!("uplink rate limited for {}", wait);
                    Timer::after(wait).await;
                }
            }
        }

        seq = seq.wrapping_add(1);
        let mut line = Line::new();
        match frame {
            Frame::Reading { centi_celsius } => {
                line.text(b"R ").uint(seq).text(b" ").int(centi_celsius)
            }
            Frame::SensorDown => line.text(b"D ").uint(seq).text(b" sensor"),
            Frame::Done { id, status } => line
                .text(b"K ")
                .uint(seq)
                .text(b" ")
                .uint(id)
                .text(b" ")
                .uint(u32::from(status)),
        };
        line.text(b"\n");

        let Ok(schedule) = Backoff::new(UPLINK_SCHEDULE, seed.wrapping_add(u64::from(seq))) else {
            defmt::panic!("uplink schedule")
        };
        let sent = Retry::new(schedule)
            .breaker(UplinkGate)
            .budget(&mut budget)
            .timeout(ACK_TIMEOUT)
            .deadline(SEND_DEADLINE)
            .run(
                Delay,
                &Now,
                async |_attempt| send(&mut tx, line.bytes(), seq).await,
                |e: &UplinkError| match e {
                    UplinkError::Uart(_) => Verdict::Retry,
                    UplinkError::Busy { ms } => {
                        Verdict::RetryAfter(Duration::from_millis(u64::from(*ms)))
                    }
                },
            )
            .await;
        match sent {
            Ok(()) => {
                SENT.fetch_add(1, Ordering::Relaxed);
                debug!("uplink: frame {} acknowledged", seq);
            }
            Err(RetryError {
                last,
                attempts,
                stopped,
            }) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                match (last, stopped) {
                    (Last::Rejected(_), _) => {
                        debug!("uplink: frame {} refused by the breaker", seq)
                    }
                    (_, Stopped::Budget) => warn!(
                        "uplink: frame {} dropped after {} attempts: retry budget spent",
                        seq, attempts
                    ),
                    _ => warn!(
                        "uplink: frame {} dropped after {} attempts ({}): {}",
                        seq, attempts, stopped, last
                    ),
                }
            }
        }
    }
}

/// One attempt: write the frame, wait for the host's reply to `seq`
/// (replies to older frames are ignored). The runner's timeout bounds the
/// wait.
async fn send(tx: &mut BufferedUartTx, frame: &[u8], seq: u32) -> Result<(), UplinkError> {
    REPLY.reset();
    tx.write_all(frame).await.map_err(UplinkError::Uart)?;
    tx.flush().await.map_err(UplinkError::Uart)?;
    loop {
        let reply = REPLY.wait().await;
        if reply.seq == seq {
            return match reply.busy_ms {
                None => Ok(()),
                Some(ms) => Err(UplinkError::Busy { ms }),
            };
        }
    }
}

// ---- downlink and commands

#[embassy_executor::task]
async fn downlink_task(mut rx: BufferedUartRx) {
    let mut line = [0_u8; 40];
    let mut len = 0;
    let mut chunk = [0_u8; 16];
    loop {
        let n = match rx.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => {
                warn!("downlink: {}", e);
                len = 0;
                continue;
            }
        };
        for &byte in chunk.get(..n).unwrap_or(&[]) {
            match byte {
                b'\n' | b'\r' => {
                    if let Some(text) = line.get(..len) {
                        handle_line(text);
                    }
                    len = 0;
                }
                _ => {
                    if let Some(slot) = line.get_mut(len) {
                        *slot = byte;
                        len += 1;
                    } // else: an over-long line, truncated (and then ignored)
                }
            }
        }
    }
}

fn handle_line(text: &[u8]) {
    let mut words = text.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let (Some(kind), Some(number)) = (words.next(), words.next().and_then(parse_u32)) else {
        return;
    };
    match kind {
        b"A" => REPLY.signal(Reply {
            seq: number,
            busy_ms: None,
        }),
        b"B" => REPLY.signal(Reply {
            seq: number,
            busy_ms: Some(words.next().and_then(parse_u32).unwrap_or(100)),
        }),
        b"C" => {
            let verb = match (words.next(), words.next().map(parse_u32)) {
                (Some(b"ping"), None) => Verb::Ping,
                (Some(b"reset"), None) => Verb::Reset,
                (Some(b"period"), Some(Some(ms))) => Verb::Period(ms),
                _ => Verb::Unknown,
            };
            admit(number, verb);
        }
        _ => debug!("downlink: unknown frame ignored"),
    }
}

/// What the dedup table said of a command id, copied out of the lock.
enum Admission {
    New(Ticket),
    Running,
    Done(u8),
    Full,
}

fn admit(id: u32, verb: Verb) {
    let now = Instant::now();
    let admission = SEEN.lock(
        |t| match t.borrow_mut().as_mut().map(|t| t.begin(id, now)) {
            Some(Begin::New(ticket)) => Admission::New(ticket),
            Some(Begin::InFlight) => Admission::Running,
            // Copy the stored status out: the lock is not held past this closure.
            Some(Begin::Done(&status)) => Admission::Done(status),
            Some(Begin::Full) | None => Admission::Full,
        },
    );
    match admission {
        Admission::New(ticket) => {
            if let Err(TrySendError::Full(command)) =
                COMMANDS.try_send(Command { id, ticket, verb })
            {
                warn!(
                    "command {}: queue full, dropped (the host will send it again)",
                    id
                );
                SEEN.lock(|t| {
                    t.borrow_mut()
                        .as_mut()
                        .map(|t| t.abandon(command.ticket, Instant::now()))
                });
            }
        }
        Admission::Running => info!("command {}: duplicate of a running command, dropped", id),
        Admission::Done(status) => {
            info!(
                "command {}: duplicate, dropped; acknowledged again (status {})",
                id, status
            );
            queue(Frame::Done { id, status });
        }
        Admission::Full => warn!("command {}: no room to track it, dropped", id),
    }
}

#[embassy_executor::task]
async fn command_task() {
    loop {
        let Command { id, ticket, verb } = COMMANDS.receive().await;
        let status = match verb {
            Verb::Ping => 0,
            Verb::Period(ms) if (100..=60_000).contains(&ms) => {
                PERIOD_MS.store(ms, Ordering::Relaxed);
                0
            }
            Verb::Period(_) => 2,
            Verb::Reset => {
                if let Some(t) = UPLINK.lock(|b| b.borrow_mut().reset()) {
                    log_uplink_transition(t);
                }
                0
            }
            Verb::Unknown => 1,
        };
        info!("command {}: {} -> status {}", id, verb, status);
        let now = Instant::now();
        let stored = SEEN.lock(|t| {
            t.borrow_mut()
                .as_mut()
                .map(|t| t.complete(ticket, status, now))
        });
        if let Some(Err(_stale)) = stored {
            warn!("command {}: finished after its in-flight TTL", id);
        }
        OUTBOX.send(Frame::Done { id, status }).await;
    }
}

// ---- status LED and log

/// The LED's pattern, as (on ms, off ms) pairs played once per pass:
/// all well, a short flash a second; sensor down, a double flash; uplink
/// down, a fast blink; both down, on with short gaps.
fn pattern(sensor: u8, uplink: State) -> &'static [(u64, u64)] {
    const HEARTBEAT: &[(u64, u64)] = &[(50, 950)];
    const SENSOR_DOWN: &[(u64, u64)] = &[(100, 150), (100, 650)];
    const UPLINK_DOWN: &[(u64, u64)] = &[(100, 100)];
    const BOTH_DOWN: &[(u64, u64)] = &[(900, 100)];
    let uplink_down = matches!(uplink, State::Open | State::ForcedOpen);
    match (sensor == DOWN, uplink_down) {
        (false, false) => HEARTBEAT,
        (true, false) => SENSOR_DOWN,
        (false, true) => UPLINK_DOWN,
        (true, true) => BOTH_DOWN,
    }
}

#[embassy_executor::task]
async fn status_task(mut led: Output<'static>) {
    let mut last_report = Instant::now();
    loop {
        let now = Instant::now();
        let uplink = UPLINK.lock(|b| b.borrow().state(now));
        for &(on, off) in pattern(SENSOR_STATE.load(Ordering::Relaxed), uplink) {
            led.set_high();
            Timer::after_millis(on).await;
            led.set_low();
            Timer::after_millis(off).await;
        }
        if now.duration_since(last_report) >= Duration::from_secs(30) {
            last_report = now;
            let (metrics, tokens) = (UPLINK.lock(|b| b.borrow().metrics()), BUCKET.available(now));
            let commands = SEEN.lock(|t| t.borrow().as_ref().map(DedupTable::metrics));
            info!(
                "status: sent {}, dropped {}, uplink {} ({}), tokens {}, commands {}",
                SENT.load(Ordering::Relaxed),
                DROPPED.load(Ordering::Relaxed),
                uplink,
                metrics,
                tokens,
                commands
            );
        }
    }
}

// ---- frame text without core::fmt

/// A frame being written: bytes and decimal numbers, truncated at 32 bytes.
struct Line {
    buf: [u8; 32],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Self {
            buf: [0; 32],
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn text(&mut self, s: &[u8]) -> &mut Self {
        for &b in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    fn uint(&mut self, mut n: u32) -> &mut Self {
        let mut digits = [0_u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.text(digits.get(i..).unwrap_or(&[]))
    }

    fn int(&mut self, n: i32) -> &mut Self {
        if n < 0 {
            self.text(b"-");
        }
        self.uint(n.unsigned_abs())
    }
}

fn parse_u32(word: &[u8]) -> Option<u32> {
    if word.is_empty() {
        return None;
    }
    word.iter().try_fold(0_u32, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u32::from(digit))
    })
}
