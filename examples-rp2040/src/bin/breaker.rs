//! A circuit breaker in front of a flaky sensor, on a Raspberry Pi Pico.
//!
//! One embassy task reads a simulated sensor every 250 ms through a fusebox
//! [`CircuitBreaker`]; the sensor is healthy for 10 s, dead for 15 s (each
//! read then hangs 50 ms before it fails, like an I2C timeout), flaky for
//! 15 s (every third read fails), and so on; grounding GPIO 15 kills it too.
//! Three failures in a row open the breaker: reads are skipped at once, with
//! no 50 ms stall, until a probe read at the end of the open duration finds
//! the sensor back. The open duration doubles on each trip in a row (2 s up
//! to 16 s).
//!
//! Every state change is logged with defmt; a second task blinks the LED
//! (GPIO 25) by state: Closed, a short flash each second; Open, a fast
//! blink; HalfOpen, a double flash.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU8, Ordering};

use defmt::{debug, info, warn};
use embassy_executor::Spawner;
use embassy_rp::gpio::{Input, Level, Output, Pull};
use embassy_time::{Duration, Instant, Timer};
use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, State, Transition};
use {defmt_rtt as _, panic_probe as _};

/// Built and checked at compile time: a bad config fails the build.
const BREAKER: CircuitBreaker<ConsecutiveFailures> = {
    let config = Config::new()
        .open_duration_growing(Duration::from_secs(2), 2, Duration::from_secs(16))
        .probe_timeout(Duration::from_secs(1));
    let Ok(policy) = ConsecutiveFailures::new(3) else {
        panic!("ConsecutiveFailures threshold")
    };
    match CircuitBreaker::new(config, policy) {
        Ok(b) => b,
        Err(_) => panic!("breaker config"),
    }
};

/// The breaker's state, published by the sensor task for the LED task
/// (plain load/store: no compare-and-swap needed on the M0+).
static LED_STATE: AtomicU8 = AtomicU8::new(CLOSED);
const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

#[embassy_executor::main(
    executor = "embassy_rp::executor::Executor",
    entry = "cortex_m_rt::entry"
)]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    let led = Output::new(p.PIN_25, Level::Low);
    let kill = Input::new(p.PIN_15, Pull::Up);
    info!(
        "fusebox breaker example: sensor every 250 ms, LED on GPIO 25, ground GPIO 15 to kill the sensor"
    );
    spawner.spawn(led_task(led).expect("led task spawns once"));
    spawner.spawn(sensor_task(kill).expect("sensor task spawns once"));
}

#[embassy_executor::task]
async fn sensor_task(kill: Input<'static>) {
    let mut breaker = BREAKER;
    let mut reads: u32 = 0;
    loop {
        let now = Instant::now();
        match breaker.try_acquire(now) {
            Ok(permit) => {
                if let Some(t) = permit.transition() {
                    log_transition(t);
                }
                reads = reads.wrapping_add(1);
                let result = read_sensor(&kill, reads).await;
                let outcome = match result {
                    Ok(_) => Outcome::Success,
                    Err(SensorTimeout) => Outcome::Failure,
                };
                if let Some(t) = breaker.record(permit, outcome, Instant::now()) {
                    log_transition(t);
                }
                match result {
                    Ok(value) => debug!("reading {}", value),
                    Err(SensorTimeout) => warn!("sensor read timed out"),
                }
            }
            Err(rejected) => debug!("read skipped: {}", rejected),
        }
        LED_STATE.store(
            match breaker.state(Instant::now()) {
                State::Closed | State::ForcedClosed => CLOSED,
                State::Open | State::ForcedOpen => OPEN,
                State::HalfOpen => HALF_OPEN,
            },
            Ordering::Relaxed,
        );
        if reads.is_multiple_of(40) {
            info!("breaker metrics: {}", breaker.metrics());
        }
        Timer::after_millis(250).await;
    }
}

/// `<name> <from> -> <to>: <reason>`, as fusebox-std's tracing events
/// (the reason's words are the core's `TransitionReason`).
fn log_transition(t: Transition) {
    match t.to {
        State::Open | State::ForcedOpen => warn!(
            "breaker {} -> {}: {}; skipping the sensor",
            t.from,
            t.to,
            t.reason()
        ),
        _ => info!("breaker {} -> {}: {}", t.from, t.to, t.reason()),
    }
}

/// The simulated peripheral's error: the read hung until its timeout.
#[derive(Clone, Copy, defmt::Format)]
struct SensorTimeout;

/// A fake sensor on a 40 s cycle: healthy for 10 s, dead for 15 s, every
/// third read failing for 15 s. Dead while GPIO 15 is grounded.
async fn read_sensor(kill: &Input<'static>, n: u32) -> Result<u16, SensorTimeout> {
    let phase = Instant::now().as_secs() % 40;
    let failing =
        kill.is_low() || (10..25).contains(&phase) || (phase >= 25 && n.is_multiple_of(3));
    if failing {
        // A dead device costs the whole bus timeout.
        Timer::after_millis(50).await;
        Err(SensorTimeout)
    } else {
        Timer::after_millis(2).await;
        Ok(2000_u16.wrapping_add((n % 64) as u16))
    }
}

#[embassy_executor::task]
async fn led_task(mut led: Output<'static>) {
    // (on ms, off ms) pairs, played once per pass.
    const HEARTBEAT: &[(u64, u64)] = &[(50, 950)];
    const FAST: &[(u64, u64)] = &[(100, 100)];
    const DOUBLE: &[(u64, u64)] = &[(100, 100), (100, 700)];
    loop {
        let pattern = match LED_STATE.load(Ordering::Relaxed) {
            OPEN => FAST,
            HALF_OPEN => DOUBLE,
            _ => HEARTBEAT,
        };
        for &(on, off) in pattern {
            led.set_high();
            Timer::after_millis(on).await;
            led.set_low();
            Timer::after_millis(off).await;
        }
    }
}
