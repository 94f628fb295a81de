//! The thumbv6m column of every module's size table, checked against
//! `size_of` on this target. A primitive adds its rows here: one
//! `size_check!` per documented type, and a few values of each const generic
//! (including the ones where padding changes) for each documented formula.

use crate::{SizeCheck, round8, size_check};
use fusebox::backoff::{self, Backoff};
use fusebox::breaker::{
    self, BreakDuration, CircuitBreaker, ConsecutiveFailures, CountWindow, FailureCount, Permit,
    TimeWindow,
};
use fusebox::bulkhead::{
    self, AdaptiveLimit, AimdConfig, Bulkhead, LocalBulkhead, Rejected, Token,
};
use fusebox::dedup::{DedupTable, Ticket};
use fusebox::rate::{
    ConcurrentRetryBudget, KeyedLimiter, Quota, RetryBudget, SharedTokenBucket, TokenBucket,
};
use fusebox::rng::Rng;

/// `CircuitBreaker<CountWindow<N>>`: 120 + (N + 13 rounded up to 8).
const fn count_window(n: usize) -> usize {
    120 + round8(n + 13)
}

/// `CircuitBreaker<TimeWindow<B>>`: 136 + 24 x B.
const fn time_window(b: usize) -> usize {
    136 + 24 * b
}

/// `RetryBudget<S>`: 32 + 16 x S.
const fn retry_budget(s: usize) -> usize {
    32 + 16 * s
}

/// `KeyedLimiter<u64, N>`: 56 + 40 x N; `<u32, N>`: 56 + 32 x N.
const fn keyed(slot: usize, n: usize) -> usize {
    56 + slot * n
}

/// Every documented size.
pub const CHECKS: &[SizeCheck] = &[
    // core/src/breaker.rs, "# Memory".
    size_check!(CircuitBreaker<ConsecutiveFailures>, 136),
    size_check!(CircuitBreaker<FailureCount>, 144),
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
    // core/src/bulkhead.rs, "# Memory".
    size_check!(Bulkhead, 8),
    size_check!(bulkhead::Permit<'static>, 4),
    size_check!(Result<bulkhead::Permit<'static>, Rejected>, 8),
    size_check!(LocalBulkhead, 8),
    size_check!(Token, 0),
    size_check!(AdaptiveLimit, 48),
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
    size_check!(TokenBucket, 32),
    size_check!(SharedTokenBucket, 48),
    size_check!(KeyedLimiter<u64, 1>, keyed(40, 1)),
    size_check!(KeyedLimiter<u64, 16>, keyed(40, 16)),
    size_check!(KeyedLimiter<u32, 1>, keyed(32, 1)),
    size_check!(KeyedLimiter<u32, 16>, keyed(32, 16)),
    // core/src/dedup.rs, "# Memory".
    size_check!(DedupTable<u64, (), 64>, 1616),
    size_check!(DedupTable<u128, [u8; 32], 256>, 16464),
    size_check!(Ticket, 8),
];
