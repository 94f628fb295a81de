//! A breaker trip in logs and metrics: `tracing-subscriber`'s formatter
//! and the Prometheus exporter's text, on a scripted clock.
//!
//! ```text
//! cargo run -p fusebox-std --example trip --features tracing,metrics
//! ```

use fusebox::breaker::{Config, ConsecutiveFailures};
use fusebox::time::{Duration, Instant};
use fusebox_std::{Breaker, ManualClock, TICK_HZ};
use metrics_exporter_prometheus::PrometheusBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .without_time()
        .init();
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let clock = ManualClock::new(Instant::from_ticks(0));
    let ms = |n: u64| Duration::from_ticks(n * TICK_HZ / 1000);
    let breaker = Breaker::builder("payments")?.clock(clock.clone()).build(
        Config::new()
            .open_duration(Duration::from_secs(30))
            .slow_calls(Duration::from_secs(2), 100),
        ConsecutiveFailures::new(3)?,
    )?;

    // A quick success, then three failures of 250 ms each: the third trips.
    let call = breaker.try_acquire()?;
    clock.advance(ms(100));
    call.success();
    for _ in 0..3 {
        let call = breaker.try_acquire()?;
        clock.advance(ms(250));
        call.failure();
    }
    // Refused while open.
    clock.advance(ms(500));
    let _ = breaker.try_acquire().map(|g| g.success());
    // The open duration over: one probe, and the breaker closes.
    clock.advance(Duration::from_secs(30));
    let probe = breaker.try_acquire()?;
    clock.advance(ms(40));
    probe.success();

    print!("{}", prometheus.render());
    Ok(())
}
