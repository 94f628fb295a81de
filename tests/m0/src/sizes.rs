//! The thumbv6m column of every module's size table, checked against
//! `size_of` on this target. A primitive adds its rows here: one
//! `size_check!` per documented type, and a few values of each const generic
//! (including the ones where padding changes) for each documented formula.

use crate::{SizeCheck, round8, size_check};
use fusebox::breaker::{CircuitBreaker, ConsecutiveFailures, CountWindow, Permit, TimeWindow};

/// `CircuitBreaker<CountWindow<N>>`: 112 + (N + 13 rounded up to 8).
const fn count_window(n: usize) -> usize {
    112 + round8(n + 13)
}

/// `CircuitBreaker<TimeWindow<B>>`: 128 + 24 x B.
const fn time_window(b: usize) -> usize {
    128 + 24 * b
}

/// Every documented size.
pub const CHECKS: &[SizeCheck] = &[
    // core/src/breaker.rs, "# Memory".
    size_check!(CircuitBreaker<ConsecutiveFailures>, 112),
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
];
