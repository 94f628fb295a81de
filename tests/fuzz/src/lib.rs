//! fusebox's fuzz targets, as plain functions of the fuzzer's bytes.
//!
//! Each target decodes its input into a configuration and a sequence of
//! operations at instants that move forward, backward, jump by huge steps
//! and hit `0` and `u64::MAX`. It drives the `&mut` primitive, its shared
//! `&self` variant where one exists, and the primitive's reference model
//! from `fusebox-models` (the same models the property tests use) with the
//! same operations, and after every step checks the primitive's invariants,
//! its agreement with the model and, where the docs promise it, that both
//! variants decided alike. A broken invariant panics, which the fuzzer
//! reports as a crash.
//!
//! The same functions run from the cargo-fuzz binaries (`fuzz/`) and from
//! `cargo test -p fusebox-fuzz`, which replays every committed corpus and
//! regression input (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use arbitrary::{Result, Unstructured};
use fusebox::time::{Duration, Instant};

mod targets;
pub use targets::*;

/// A named target, for the replay test and the fuzz binaries.
pub struct Target {
    /// The name of the cargo-fuzz target and of its corpus directory.
    pub name: &'static str,
    /// The target itself.
    pub run: fn(&[u8]),
}

/// Every target. A new primitive joins with one line here and one binary
/// in `fuzz/fuzz_targets/`.
pub const TARGETS: &[Target] = &[
    Target {
        name: "breaker_consecutive",
        run: breaker_consecutive,
    },
    Target {
        name: "breaker_count_window",
        run: breaker_count_window,
    },
    Target {
        name: "breaker_time_window",
        run: breaker_time_window,
    },
    Target {
        name: "breaker_failure_count",
        run: breaker_failure_count,
    },
    Target {
        name: "token_bucket",
        run: token_bucket,
    },
    Target {
        name: "keyed_limiter",
        run: keyed_limiter,
    },
    Target {
        name: "retry_budget",
        run: retry_budget,
    },
    Target {
        name: "bulkhead",
        run: bulkhead,
    },
    Target {
        name: "adaptive_limit",
        run: adaptive_limit,
    },
    Target {
        name: "backoff",
        run: backoff,
    },
    Target {
        name: "dedup",
        run: dedup,
    },
    Target {
        name: "latency_histogram",
        run: latency_histogram,
    },
    Target {
        name: "adaptive_timeout",
        run: adaptive_timeout,
    },
    Target {
        name: "hedge_policy",
        run: hedge_policy,
    },
    Target {
        name: "concurrent_budget",
        run: concurrent_budget,
    },
];

/// Runs `body` over the input, ignoring running out of bytes (the input
/// simply ends the sequence there).
pub(crate) fn drive(data: &[u8], body: impl FnOnce(&mut Unstructured<'_>) -> Result<()>) {
    let mut u = Unstructured::new(data);
    let _ = body(&mut u);
}

/// The clock of a target: the instants it hands the primitive.
pub(crate) struct Clock {
    /// The current instant.
    pub now: u64,
    /// The latest instant handed out so far.
    pub latest: u64,
    /// Whether time has only moved forward (or stood) so far.
    pub monotone: bool,
}

impl Clock {
    pub(crate) fn new(u: &mut Unstructured<'_>) -> Result<Self> {
        let now = match u.int_in_range(0u8..=3)? {
            0 => 0,
            1 => u64::MAX,
            2 => u64::MAX - u64::from(u.arbitrary::<u16>()?),
            _ => u64::from(u.arbitrary::<u32>()?),
        };
        // The start is not handed out: only the instants of `step` count
        // as seen (the primitives, too, have seen nothing but 0 at first).
        Ok(Self {
            now,
            latest: 0,
            monotone: true,
        })
    }

    /// The next instant: the same, a little later, a huge jump, back a
    /// little, back a lot, to 0 or to `u64::MAX`.
    pub(crate) fn step(&mut self, u: &mut Unstructured<'_>) -> Result<Instant> {
        let now = self.now;
        self.now = match u.int_in_range(0u8..=15)? {
            0..=3 => now,
            4..=9 => now.saturating_add(u64::from(u.arbitrary::<u8>()?)),
            10 => now.saturating_add(u.arbitrary::<u64>()?),
            11 => now.saturating_add(u64::from(u.arbitrary::<u32>()?)),
            12 => now.saturating_sub(u64::from(u.arbitrary::<u8>()?)),
            13 => now.saturating_sub(u.arbitrary::<u64>()?),
            14 => 0,
            _ => u64::MAX,
        };
        if self.now < self.latest {
            self.monotone = false;
        }
        self.latest = self.latest.max(self.now);
        Ok(Instant::from_ticks(self.now))
    }
}

/// A duration that is small, large, zero or `u64::MAX` ticks.
pub(crate) fn duration(u: &mut Unstructured<'_>) -> Result<Duration> {
    Ok(Duration::from_ticks(match u.int_in_range(0u8..=7)? {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => u.arbitrary::<u64>()?,
        4 | 5 => u64::from(u.arbitrary::<u16>()?),
        _ => u64::from(u.arbitrary::<u8>()?),
    }))
}
