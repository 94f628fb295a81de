//! Load an example server's resilience configuration from a file, build the
//! typed primitives, and print them and the file written back.
//!
//! ```text
//! cargo run -p fusebox-std --features serde --example config [-- FILE [toml|yaml|json]]
//! ```
//!
//! FILE defaults to `std-adapter/examples/config/server.toml`; the second
//! argument picks the format the configuration is written back in.

use std::path::PathBuf;
use std::process::ExitCode;

use fusebox::breaker::{ConsecutiveFailures, CountWindow, FailureCount, TimeWindow};
use fusebox::hash::Seed;
use fusebox_std::config::{ConfigFile, Format, LoadError};

/// The types this server compiles in: the sizes a file may state but not
/// change.
type PaymentsPolicy = CountWindow<20>;
type InventoryPolicy = TimeWindow<10>;
type SearchPolicy = ConsecutiveFailures;
type RecommendationsPolicy = FailureCount;
/// The latency histograms' `P`, `B`, `S` (`latency::ServerHistogram`).
const P: u32 = 5;
const B: usize = 464;
const S: usize = 5;
const IDEMPOTENCY_KEYS: usize = 4096;

fn run() -> Result<(), LoadError> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/config/server.toml"),
        PathBuf::from,
    );
    let out = match args.next().as_deref() {
        Some("yaml") => Format::Yaml,
        Some("json") => Format::Json,
        _ => Format::Toml,
    };
    let file = ConfigFile::load(&path)?;
    println!("loaded {}", path.display());

    let payments = file.breaker::<PaymentsPolicy>("payments")?;
    let inventory = file.breaker::<InventoryPolicy>("inventory")?;
    let search = file.breaker::<SearchPolicy>("search")?;
    let recommendations = file.breaker::<RecommendationsPolicy>("recommendations")?;
    println!("breaker payments:  {:?}", payments.config());
    println!("breaker inventory: {:?}", inventory.config());
    println!("breaker search:    {:?}", search.config());
    println!("breaker recommendations: {:?}", recommendations.config());
    let open: Vec<u64> = (1..=4)
        .map(|n| recommendations.config().open_duration_after(n).as_secs())
        .collect();
    println!("  open for {open:?} s after trips 1..=4 in a row");
    let mut timeout = file.adaptive_timeout::<P, B, S>("payments")?;
    println!(
        "adaptive timeout payments: {} ms before any sample",
        timeout
            .timeout(fusebox::time::Instant::from_ticks(0))
            .as_millis()
    );
    let hedge = file.hedge::<P, B, S>("search")?;
    println!("hedge search: {:?}", hedge.config());
    for upstream in ["payments", "inventory", "search", "recommendations"] {
        let limiter = file.limiter(upstream)?;
        let bulkhead = file.bulkhead(upstream)?;
        let q = limiter.quota();
        println!(
            "upstream {upstream:<9}: {} tokens per {} ticks, burst {}; {} calls at once",
            q.rate(),
            q.period().as_ticks(),
            q.burst(),
            bulkhead.limit()
        );
    }
    let budget = file.retry_budget::<10>("default")?;
    let concurrent = file.concurrent_retry_budget("default")?;
    println!(
        "concurrent retry budget: {} retries in flight with no request in flight",
        concurrent.limit()
    );
    let backoff = file.backoff("default", 7)?;
    let table = file.dedup::<u64, u16, IDEMPOTENCY_KEYS>("idempotency", Seed::new(1, 2))?;
    println!(
        "retry budget: {} retries available; backoff delays (ticks): {:?}; idempotency table of {} keys",
        budget.available(fusebox::time::Instant::from_ticks(0)),
        backoff.map(|d| d.as_ticks()).collect::<Vec<_>>(),
        table.capacity()
    );
    println!("\n--- written back ({out:?}) ---\n{}", file.to_string(out)?);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
