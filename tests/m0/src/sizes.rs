//! The thumbv6m column of every module's size table, checked against
//! `size_of` on this target. A primitive adds its rows here: one
//! `size_check!` per documented type, and a few values of each const generic
//! (including the ones where padding changes) for each documented formula.

use crate::{SizeCheck, round8, size_check};
use embedded_hal_async::i2c::ErrorKind;
use fusebox::backoff::{self, Backoff};
use fusebox::breaker::{
    self, BreakDuration, CircuitBreaker, ConsecutiveFailures, CountWindow, FailureCount, Permit,
    SharedCircuitBreaker, TimeWindow,
};
use fusebox::bulkhead::SharedAdaptiveLimit;
use fusebox::bulkhead::{
    self, AdaptiveLimit, AimdConfig, Bulkhead, Rejected, SharedBulkhead, Token,
};
use fusebox::dedup::{DedupTable, Ticket};
use fusebox::dedup::{SharedDedupTable, SharedTicket};
use fusebox::hash::Seed;
use fusebox::i2c::{self, I2cError, ResilientI2c};
use fusebox::latency::{
    AdaptiveTimeout, HedgeMetrics, HedgePolicy, LatencyHistogram, McuHistogram, ServerHistogram,
    hedge, timeout,
};
use fusebox::rate::{
    ConcurrentRetryBudget, KeyedLimiter, Quota, RetryBudget, SharedTokenBucket, TokenBucket,
};
use fusebox::rate::{SharedKeyedLimiter, SharedRetryBudget};
use fusebox::rng::Rng;
use fusebox::time::{Duration, Instant};
use fusebox_scenarios::drivers::Raw;
use fusebox_scenarios::fakes::{NoBus, NoDelay, ZeroClock};

/// `CircuitBreaker<CountWindow<N>>`: 128 + (N + 13 rounded up to 8).
const fn count_window(n: usize) -> usize {
    128 + round8(n + 13)
}

/// `SharedCircuitBreaker<CountWindow<N>>` on thumbv6m (no padding, one
/// metrics stripe): 112 + (4 x N + 21 rounded up to 16).
const fn shared_count_window(n: usize) -> usize {
    112 + (4 * n + 21).div_ceil(16) * 16
}

/// `SharedCircuitBreaker<TimeWindow<B>>` on thumbv6m: 144 + 16 x B.
const fn shared_time_window(b: usize) -> usize {
    144 + 16 * b
}

/// `CircuitBreaker<TimeWindow<B>>`: 144 + 24 x B.
const fn time_window(b: usize) -> usize {
    144 + 24 * b
}

/// `RetryBudget<S>`: 32 + 16 x S.
const fn retry_budget(s: usize) -> usize {
    32 + 16 * s
}

/// `KeyedLimiter<u64, N>`: 64 + 40 x N; `<u32, N>`: 64 + 32 x N.
const fn keyed(slot: usize, n: usize) -> usize {
    64 + slot * n
}

/// `LatencyHistogram<P, B, S>`: 56 + 4 x B x (S + 1), rounded up to 8.
const fn histogram(b: usize, s: usize) -> usize {
    round8(56 + 4 * b * (s + 1))
}

/// Every documented size.
pub const CHECKS: &[SizeCheck] = &[
    // core/src/breaker/mod.rs, "# Memory".
    size_check!(CircuitBreaker<ConsecutiveFailures>, 144),
    size_check!(CircuitBreaker<FailureCount>, 152),
    size_check!(breaker::Config, 56),
    size_check!(BreakDuration, 32),
    size_check!(CircuitBreaker<CountWindow<1>>, count_window(1)),
    size_check!(CircuitBreaker<CountWindow<3>>, count_window(3)),
    size_check!(CircuitBreaker<CountWindow<4>>, count_window(4)),
    size_check!(CircuitBreaker<CountWindow<11>>, count_window(11)),
    size_check!(CircuitBreaker<CountWindow<12>>, count_window(12)),
    size_check!(CircuitBreaker<CountWindow<20>>, count_window(20)),
    size_check!(CircuitBreaker<CountWindow<100>>, count_window(100)),
    size_check!(CircuitBreaker<TimeWindow<1>>, time_window(1)),
    size_check!(CircuitBreaker<TimeWindow<10>>, time_window(10)),
    size_check!(CircuitBreaker<TimeWindow<60>>, time_window(60)),
    size_check!(Permit, 16),
    size_check!(SharedCircuitBreaker<ConsecutiveFailures>, 128),
    size_check!(breaker::Lane, 4),
    size_check!(SharedCircuitBreaker<FailureCount>, 160),
    size_check!(SharedCircuitBreaker<TimeWindow<1>>, shared_time_window(1)),
    size_check!(SharedCircuitBreaker<TimeWindow<10>>, 304),
    size_check!(SharedCircuitBreaker<TimeWindow<10>>, shared_time_window(10)),
    size_check!(SharedCircuitBreaker<TimeWindow<60>>, shared_time_window(60)),
    size_check!(SharedCircuitBreaker<CountWindow<1>>, shared_count_window(1)),
    size_check!(SharedCircuitBreaker<CountWindow<10>>, 176),
    size_check!(
        SharedCircuitBreaker<CountWindow<11>>,
        shared_count_window(11)
    ),
    size_check!(SharedCircuitBreaker<CountWindow<100>>, 544),
    size_check!(
        SharedCircuitBreaker<CountWindow<100>>,
        shared_count_window(100)
    ),
    // core/src/bulkhead/mod.rs, "# Memory".
    size_check!(SharedBulkhead, 8),
    size_check!(bulkhead::Permit<'static>, 4),
    size_check!(Result<bulkhead::Permit<'static>, Rejected>, 8),
    size_check!(Bulkhead, 8),
    size_check!(Token, 0),
    size_check!(AdaptiveLimit, 56),
    size_check!(AimdConfig, 32),
    // core/src/backoff.rs, "# Memory".
    size_check!(backoff::Config, 56),
    size_check!(Backoff, 96),
    // core/src/rng.rs, "# Size".
    size_check!(Rng, 8),
    // core/src/rate/budget.rs, `RetryBudget`'s "# Memory".
    size_check!(RetryBudget, 192),
    size_check!(RetryBudget<1>, retry_budget(1)),
    size_check!(RetryBudget<4>, retry_budget(4)),
    size_check!(RetryBudget<10>, retry_budget(10)),
    // core/src/rate/concurrency.rs, `ConcurrentRetryBudget`'s "# Memory".
    size_check!(ConcurrentRetryBudget, 16),
    // core/src/rate/mod.rs, "# Memory".
    size_check!(Quota, 16),
    size_check!(TokenBucket, 40),
    size_check!(SharedTokenBucket, 48),
    size_check!(KeyedLimiter<u64, 1>, keyed(40, 1)),
    size_check!(KeyedLimiter<u64, 16>, keyed(40, 16)),
    size_check!(KeyedLimiter<u32, 1>, keyed(32, 1)),
    size_check!(KeyedLimiter<u32, 16>, keyed(32, 16)),
    // core/src/dedup.rs, "# Memory".
    size_check!(DedupTable<u64, (), 64>, 1616),
    size_check!(DedupTable<u128, [u8; 32], 256>, 16464),
    size_check!(Ticket, 8),
    // core/src/latency/mod.rs, "# Memory".
    size_check!(ServerHistogram, 11_192),
    size_check!(McuHistogram, 3_576),
    size_check!(LatencyHistogram<3, 40, 4>, histogram(40, 4)),
    size_check!(LatencyHistogram<1, 3, 2>, histogram(3, 2)),
    size_check!(timeout::Config, 48),
    size_check!(AdaptiveTimeout, histogram(464, 5) + 48),
    size_check!(AdaptiveTimeout<4, 176, 4>, histogram(176, 4) + 48),
    size_check!(hedge::Config, 24),
    size_check!(HedgeMetrics, 24),
    size_check!(HedgePolicy, histogram(464, 5) + 80 + 16 * 5),
    size_check!(HedgePolicy<4, 176, 4>, histogram(176, 4) + 80 + 16 * 4),
    // The shared tables ("# Memory" of `SharedDedupTable`,
    // `SharedKeyedLimiter`, `SharedRetryBudget`), with a one-byte lock
    // (spin's, as the scenarios use): S x (the `&mut` table + 8) + 16, and
    // + 32 for the keyed limiter (the shard seed and the quota).
    size_check!(SharedDedupTable<Raw, u64, (), 1, 64>, 1616 + 8 + 16),
    // 4 x (1616 + 8) + 16, written out for the README's table.
    size_check!(SharedDedupTable<Raw, u64, (), 4, 64>, 6512),
    size_check!(SharedTicket, 12),
    size_check!(SharedKeyedLimiter<Raw, u64, 1, 16>, keyed(40, 16) + 8 + 32),
    size_check!(SharedKeyedLimiter<Raw, u32, 4, 16>, 4 * (keyed(32, 16) + 8) + 32),
    size_check!(SharedRetryBudget<Raw>, 200),
    size_check!(SharedRetryBudget<Raw, 4>, retry_budget(4) + 8),
    size_check!(SharedAdaptiveLimit, 48),
    // README.md, "The primitives": `hash` and `time`.
    // The I2C wrapper with zero-sized parts (its queue's indices are
    // `usize`: 8 bytes less than on x86_64).
    size_check!(ResilientI2c<NoBus, NoDelay, ZeroClock>, 712),
    size_check!(ResilientI2c<NoBus, NoDelay, ZeroClock, ConsecutiveFailures, 1>, 280),
    size_check!(ResilientI2c<NoBus, NoDelay, ZeroClock, ConsecutiveFailures, 8>, 1296),
    size_check!(i2c::Config, 248),
    size_check!(I2cError<ErrorKind>, 24),
    size_check!(Seed, 16),
    size_check!(Instant, 8),
    size_check!(Duration, 8),
];
