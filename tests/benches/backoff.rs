//! Next delay of an exponential schedule with full jitter: fusebox against
//! backon 1.x (`ExponentialBuilder::with_jitter`, f32 math, fastrand) and
//! the backoff 0.4 crate (`ExponentialBackoff`, f64 math, reads
//! `Instant::now()` on every call for its elapsed-time limit), in one run.
//!
//! `cargo bench -p fusebox-tests --bench backoff -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration as StdDuration;

use backoff::backoff::Backoff as _;
use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::backoff::{Backoff, Config, Jitter};
use fusebox::time::Duration;

fn fusebox_config() -> Config {
    Config::exponential(
        Duration::from_millis(black_box(100)),
        black_box(2),
        Duration::from_secs(black_box(60)),
    )
    .jitter(Jitter::Full)
    .max_attempts(u32::MAX)
}

fn backon_builder() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(StdDuration::from_millis(black_box(100)))
        .with_factor(black_box(2.0))
        .with_max_delay(StdDuration::from_secs(black_box(60)))
        .with_jitter()
        .with_jitter_seed(7)
        .without_max_times()
}

fn backoff_crate() -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(StdDuration::from_millis(black_box(100)))
        .with_multiplier(black_box(2.0))
        .with_randomization_factor(0.5)
        .with_max_interval(StdDuration::from_secs(black_box(60)))
        .with_max_elapsed_time(None)
        .build()
}

// Each routine hands `black_box` a plain u64: an `Option<Duration>` put
// through `black_box` is stored as two words and read back as one 16-byte
// load, a store-forwarding stall that costs every contender ~3 ns and hides
// the difference being measured.
fn ticks(d: Option<Duration>) -> u64 {
    d.map_or(u64::MAX, |d| d.as_ticks())
}

fn nanos(d: Option<StdDuration>) -> u64 {
    d.map_or(u64::MAX, |d| d.as_nanos() as u64)
}

fn next_delay(c: &mut Criterion) {
    use backon::BackoffBuilder as _;
    let mut g = c.benchmark_group("backoff/next (exponential, full jitter)");
    let mut ours = Backoff::new(fusebox_config(), 7).expect("valid");
    g.bench_function("fusebox next_delay(None)", |b| {
        b.iter(|| black_box(ticks(ours.next_delay(black_box(None)))))
    });
    let mut ours = Backoff::new(fusebox_config(), 7).expect("valid");
    g.bench_function("fusebox Iterator::next", |b| {
        b.iter(|| black_box(ticks(Iterator::next(&mut ours))))
    });
    let mut theirs = backon_builder().build();
    g.bench_function("backon 1.6 next", |b| {
        b.iter(|| black_box(nanos(Iterator::next(&mut theirs))))
    });
    let mut old = backoff_crate();
    g.bench_function("backoff 0.4 next_backoff", |b| {
        b.iter(|| black_box(nanos(old.next_backoff())))
    });
    g.finish();
}

/// A fresh schedule and its first 8 delays (the growing part, below the cap):
/// what one failing request costs.
fn first_eight(c: &mut Criterion) {
    use backon::BackoffBuilder as _;
    let mut g = c.benchmark_group("backoff/build + 8 delays");
    let template = Backoff::new(fusebox_config(), 7).expect("valid");
    g.bench_function("fusebox", |b| {
        b.iter(|| {
            let mut s = black_box(&template).clone();
            let mut sum = 0u64;
            for _ in 0..8 {
                sum = sum.wrapping_add(s.next_delay(None).map_or(0, |d| d.as_ticks()));
            }
            black_box(sum)
        })
    });
    let builder = backon_builder();
    g.bench_function("backon 1.6", |b| {
        b.iter(|| {
            let mut s = black_box(builder).build();
            let mut sum = StdDuration::ZERO;
            for _ in 0..8 {
                sum += s.next().unwrap_or_default();
            }
            black_box(sum)
        })
    });
    g.bench_function("backoff 0.4", |b| {
        b.iter(|| {
            let mut s = backoff_crate();
            let mut sum = StdDuration::ZERO;
            for _ in 0..8 {
                sum += s.next_backoff().unwrap_or_default();
            }
            black_box(sum)
        })
    });
    g.finish();
}

fn build(c: &mut Criterion) {
    use backon::BackoffBuilder as _;
    let mut g = c.benchmark_group("backoff/build");
    // The usual way: a `const` config (checked when the constant is built),
    // a fresh seed per request.
    const CONFIG: Config =
        Config::exponential(Duration::from_millis(100), 2, Duration::from_secs(60))
            .jitter(Jitter::Full);
    let mut seed = 0u64;
    g.bench_function("fusebox Backoff::new(const config, seed)", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(1);
            black_box(Backoff::new(CONFIG, black_box(seed)))
        })
    });
    let config = fusebox_config();
    g.bench_function("fusebox Backoff::new(runtime config, seed)", |b| {
        b.iter(|| black_box(Backoff::new(black_box(config), black_box(7))))
    });
    let builder = backon_builder();
    g.bench_function("backon 1.6 build", |b| {
        b.iter(|| black_box(black_box(builder).build()))
    });
    g.bench_function("backoff 0.4 build", |b| {
        b.iter(|| black_box(backoff_crate()))
    });
    g.finish();
}

/// A `DelayNs` that returns at once, to size the runner's future.
struct NoDelay;

impl embedded_hal_async::delay::DelayNs for NoDelay {
    async fn delay_ns(&mut self, _: u32) {}
}

struct ZeroClock;

impl fusebox::time::Clock for ZeroClock {
    fn now(&self) -> fusebox::time::Instant {
        fusebox::time::Instant::from_ticks(0)
    }
}

fn sizes(_: &mut Criterion) {
    use fusebox::retry::{Retry, Verdict, retry};
    let schedule = Backoff::new(fusebox_config(), 7).expect("valid");
    let plain = retry(
        schedule.clone(),
        NoDelay,
        &ZeroClock,
        async |_| Ok::<u32, ()>(1),
        |_| Verdict::Retry,
    );
    let mut breaker = fusebox::breaker::CircuitBreaker::new(
        fusebox::breaker::Config::new(),
        fusebox::breaker::ConsecutiveFailures::new(3).expect("valid"),
    )
    .expect("valid");
    let mut budget = fusebox::rate::RetryBudget::<10>::default();
    let full = Retry::new(schedule)
        .breaker(&mut breaker)
        .budget(&mut budget)
        .timeout(Duration::from_millis(10))
        .deadline(Duration::from_millis(100))
        .run(
            NoDelay,
            &ZeroClock,
            async |_| Ok::<u32, ()>(1),
            |_| Verdict::Retry,
        );
    println!(
        "size_of retry future (release, trivial op and delay): {} B plain, {} B with breaker, budget, timeout and deadline",
        std::mem::size_of_val(&plain),
        std::mem::size_of_val(&full),
    );
    drop((plain, full));
    println!(
        "size_of: fusebox Backoff {} B, Config {} B; backon ExponentialBackoff {} B; backoff ExponentialBackoff {} B",
        std::mem::size_of::<Backoff>(),
        std::mem::size_of::<Config>(),
        std::mem::size_of::<backon::ExponentialBackoff>(),
        std::mem::size_of::<backoff::ExponentialBackoff>(),
    );
}

criterion_group!(benches, sizes, next_delay, first_eight, build);
criterion_main!(benches);
