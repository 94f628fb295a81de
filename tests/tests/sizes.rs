//! Every documented `size_of` on this host (x86_64), in one table: each
//! row names the type, the value its docs give and where they give it, and
//! one test checks them all and fails with the list of mismatches. (The
//! thumbv6m column is the Cortex-M0 runner's table, `tests/m0/src/sizes.rs`;
//! the README's size column is checked against both by `readme_sizes.rs`.)
//!
//! A type that joins the crate adds its rows here, with the value its docs
//! state.

use core::mem::size_of;

use embedded_hal_async::i2c::ErrorKind;
use fusebox::backoff::{self, Backoff};
use fusebox::breaker::{
    self, BreakDuration, CircuitBreaker, ConsecutiveFailures, CountWindow, FailureCount,
    SharedCircuitBreaker, TimeWindow,
};
use fusebox::bulkhead::{
    self, AdaptiveLimit, AimdConfig, Bulkhead, OwnedPermit, SharedAdaptiveLimit, SharedBulkhead,
    Token,
};
use fusebox::dedup::{DedupTable, SharedDedupTable, SharedTicket, Ticket};
use fusebox::i2c::{self, I2cError, ResilientI2c};
use fusebox::latency::{
    AdaptiveTimeout, HedgeMetrics, HedgePolicy, LatencyHistogram, McuHistogram, ServerHistogram,
    hedge, timeout,
};
use fusebox::rate::{
    ConcurrentRetryBudget, KeyedLimiter, Quota, RetryBudget, SharedKeyedLimiter, SharedRetryBudget,
    SharedTokenBucket, TokenBucket,
};
use fusebox::rng::Rng;
use fusebox::time::{Duration, Instant};
use fusebox_scenarios::drivers::Raw;
use fusebox_scenarios::fakes::{NoBus, NoDelay, ZeroClock};

/// parking_lot's raw mutex: the other one-byte lock the shared tables'
/// docs name.
type Pl = parking_lot::RawMutex;
type Wrapper<const N: usize> =
    ResilientI2c<NoBus, NoDelay, ZeroClock, fusebox::breaker::ConsecutiveFailures, N>;

/// One documented size.
struct Row {
    /// The type, as written.
    name: &'static str,
    /// `size_of` here.
    actual: usize,
    /// The value the docs give.
    documented: usize,
    /// Where the docs give it.
    doc: &'static str,
}

macro_rules! row {
    ($t:ty, $documented:expr, $doc:literal) => {
        Row {
            name: stringify!($t),
            actual: size_of::<$t>(),
            documented: $documented,
            doc: $doc,
        }
    };
}

/// `SharedCircuitBreaker<CountWindow<N>>` on a 64-bit host: the control
/// word and each of the 8 metrics stripes padded to 128 bytes, and the
/// window's word (4 bytes a call, 5 of state) padded too.
const fn shared_count_window(n: usize) -> usize {
    1408 + (4 * n + 5).div_ceil(128) * 128
}

/// `SharedCircuitBreaker<TimeWindow<B>>` on a 64-bit host: as above, and
/// 16 bytes per bucket, padded.
const fn shared_time_window(b: usize) -> usize {
    1536 + (16 * b).div_ceil(128) * 128
}

/// `n` rounded up to 128 bytes (a shard of a shared table on this host).
const fn pad128(n: usize) -> usize {
    n.div_ceil(128) * 128
}

/// `LatencyHistogram<P, B, S>`: 56 + 4 x B x (S + 1), rounded up to 8.
const fn hist(b: usize, s: usize) -> usize {
    (56 + 4 * b * (s + 1)).div_ceil(8) * 8
}

fn table() -> Vec<Row> {
    vec![
        // core/src/time.rs (embassy-time's types)
        row!(Instant, 8, "core/src/time.rs, README"),
        row!(Duration, 8, "core/src/time.rs, README"),
        // core/src/rng.rs and core/src/backoff.rs
        row!(Rng, 8, "core/src/rng.rs"),
        row!(backoff::Config, 56, "core/src/backoff.rs"),
        row!(Backoff, 96, "core/src/backoff.rs"),
        row!(
            backon::ExponentialBackoff,
            120,
            "README (backon 1.6, the comparison)"
        ),
        // core/src/breaker/mod.rs, the size table (the state holds no
        // pointer-sized field: the same on thumbv6m)
        row!(
            CircuitBreaker<ConsecutiveFailures>,
            144,
            "core/src/breaker/mod.rs"
        ),
        row!(CircuitBreaker<FailureCount>, 152, "core/src/breaker/mod.rs"),
        row!(
            CircuitBreaker<CountWindow<10>>,
            152,
            "core/src/breaker/mod.rs"
        ),
        row!(
            CircuitBreaker<CountWindow<100>>,
            248,
            "core/src/breaker/mod.rs, README"
        ),
        row!(
            CircuitBreaker<TimeWindow<10>>,
            384,
            "core/src/breaker/mod.rs"
        ),
        row!(breaker::Config, 56, "core/src/breaker/mod.rs"),
        row!(BreakDuration, 32, "core/src/breaker/mod.rs"),
        row!(breaker::Permit, 16, "core/src/breaker/mod.rs"),
        row!(breaker::Lane, 4, "core/src/breaker/mod.rs"),
        // core/src/breaker/mod.rs, the shared breakers (padded words)
        row!(
            SharedCircuitBreaker<ConsecutiveFailures>,
            1280,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<FailureCount>,
            1664,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<CountWindow<1>>,
            shared_count_window(1),
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<CountWindow<10>>,
            1536,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<CountWindow<30>>,
            shared_count_window(30),
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<CountWindow<31>>,
            shared_count_window(31),
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<CountWindow<100>>,
            1920,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<CountWindow<100>>,
            shared_count_window(100),
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<TimeWindow<1>>,
            1664,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<TimeWindow<8>>,
            shared_time_window(8),
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<TimeWindow<9>>,
            shared_time_window(9),
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<TimeWindow<10>>,
            1792,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<TimeWindow<60>>,
            2560,
            "core/src/breaker/mod.rs"
        ),
        row!(
            SharedCircuitBreaker<TimeWindow<60>>,
            shared_time_window(60),
            "core/src/breaker/mod.rs"
        ),
        // core/src/bulkhead/mod.rs, the size table
        row!(Bulkhead, 8, "core/src/bulkhead/mod.rs"),
        row!(Token, 0, "core/src/bulkhead/mod.rs"),
        row!(SharedBulkhead, 8, "core/src/bulkhead/mod.rs"),
        row!(bulkhead::Permit<'static>, 8, "core/src/bulkhead/mod.rs"),
        row!(
            Result<bulkhead::Permit<'static>, bulkhead::Rejected>,
            16,
            "core/src/bulkhead/mod.rs"
        ),
        row!(
            OwnedPermit<std::sync::Arc<SharedBulkhead>>,
            8,
            "core/src/bulkhead/mod.rs"
        ),
        row!(AimdConfig, 32, "core/src/bulkhead/mod.rs"),
        row!(AdaptiveLimit, 56, "core/src/bulkhead/mod.rs"),
        // core/src/rate/mod.rs, "# Memory"
        row!(Quota, 16, "core/src/rate/mod.rs"),
        row!(TokenBucket, 40, "core/src/rate/mod.rs"),
        row!(SharedTokenBucket, 48, "core/src/rate/mod.rs"),
        row!(KeyedLimiter<u64, 16>, 64 + 40 * 16, "core/src/rate/mod.rs"),
        row!(KeyedLimiter<u32, 16>, 64 + 32 * 16, "core/src/rate/mod.rs"),
        row!(
            RetryBudget,
            192,
            "core/src/rate/budget.rs, core/src/rate/mod.rs"
        ),
        row!(RetryBudget<4>, 32 + 16 * 4, "core/src/rate/budget.rs"),
        row!(ConcurrentRetryBudget, 16, "core/src/rate/concurrency.rs"),
        // The shared tables: S x (the &mut table + the lock, rounded up to
        // 8) + the shard seed; with both one-byte locks the docs name.
        row!(SharedKeyedLimiter<Raw, u64, 1, 16>, (64 + 40 * 16 + 8) + 32, "core/src/rate/mod.rs"),
        row!(SharedKeyedLimiter<Pl, u64, 1, 16>, (64 + 40 * 16 + 8) + 32, "core/src/rate/mod.rs"),
        row!(SharedKeyedLimiter<Raw, u64, 16, 64>, 16 * (64 + 40 * 64 + 8) + 32, "core/src/rate/mod.rs"),
        row!(SharedKeyedLimiter<Pl, u32, 4, 64>, 4 * (64 + 32 * 64 + 8) + 32, "core/src/rate/mod.rs"),
        row!(
            SharedRetryBudget<Raw>,
            200,
            "core/src/rate/budget_shared.rs"
        ),
        row!(SharedRetryBudget<Pl>, 200, "core/src/rate/budget_shared.rs"),
        row!(SharedRetryBudget<Raw, 4>, 32 + 16 * 4 + 8, "core/src/rate/mod.rs"),
        // core/src/dedup.rs and core/src/dedup/shared.rs
        row!(DedupTable<u64, (), 64>, 1616, "core/src/dedup.rs"),
        row!(DedupTable<u128, [u8; 32], 256>, 16464, "core/src/dedup.rs"),
        row!(Ticket, 8, "core/src/dedup.rs"),
        // shards padded to 128 bytes on this host, the seed after them too
        row!(SharedDedupTable<Raw, u64, (), 1, 64>, pad128(1616 + 8) + 128, "core/src/dedup/shared.rs"),
        row!(SharedDedupTable<Pl, u64, (), 4, 64>, 4 * pad128(1616 + 8) + 128, "core/src/dedup/shared.rs"),
        row!(SharedDedupTable<Raw, u128, [u8; 32], 8, 256>, 8 * pad128(16464 + 16) + 128, "core/src/dedup/shared.rs"),
        row!(SharedTicket, 12, "core/src/dedup/shared.rs"),
        // core/src/bulkhead (adaptive, shared): the one bulkhead row not in
        // tests/tests/bulkhead.rs.
        row!(
            SharedAdaptiveLimit,
            48,
            "core/src/bulkhead/adaptive_shared.rs"
        ),
        // core/src/latency/mod.rs, "# Memory"
        row!(LatencyHistogram<5, 464, 5>, hist(464, 5), "core/src/latency/mod.rs"),
        row!(ServerHistogram, 11_192, "core/src/latency/mod.rs"),
        row!(McuHistogram, 3_576, "core/src/latency/mod.rs"),
        row!(LatencyHistogram<3, 40, 4>, hist(40, 4), "core/src/latency/mod.rs"),
        row!(LatencyHistogram<1, 3, 2>, hist(3, 2), "core/src/latency/mod.rs"),
        row!(timeout::Config, 48, "core/src/latency/mod.rs"),
        row!(
            AdaptiveTimeout,
            hist(464, 5) + 48,
            "core/src/latency/mod.rs"
        ),
        row!(AdaptiveTimeout<4, 176, 4>, hist(176, 4) + 48, "core/src/latency/mod.rs"),
        row!(hedge::Config, 24, "core/src/latency/mod.rs"),
        row!(HedgeMetrics, 24, "core/src/latency/mod.rs"),
        row!(
            HedgePolicy,
            hist(464, 5) + 80 + 16 * 5,
            "core/src/latency/mod.rs"
        ),
        row!(HedgePolicy<4, 176, 4>, hist(176, 4) + 80 + 16 * 4, "core/src/latency/mod.rs"),
        row!(HedgePolicy<3, 40, 4>, hist(40, 4) + 80 + 16 * 4, "core/src/latency/mod.rs"),
        // core/src/i2c.rs, "# Memory": zero-sized bus, delay and clock.
        row!(Wrapper<4>, 720, "core/src/i2c.rs, README"),
        row!(Wrapper<1>, 288, "core/src/i2c.rs"),
        row!(Wrapper<8>, 1304, "core/src/i2c.rs"),
        row!(i2c::Config, 248, "core/src/i2c.rs"),
        row!(I2cError<ErrorKind>, 24, "core/src/i2c.rs"),
    ]
}

#[test]
#[cfg(target_pointer_width = "64")]
fn every_documented_size_holds() {
    let rows = table();
    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| r.actual != r.documented)
        .map(|r| {
            format!(
                "  {}: documented {} in {}, measured {}",
                r.name, r.documented, r.doc, r.actual
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} documented sizes differ on this host (update the docs, or the layout):\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
