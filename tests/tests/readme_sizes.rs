//! The size column of the README's table of primitives, measured.
//!
//! Each cell is rebuilt from `size_of` on this host (x86_64) and from the
//! thumbv6m sizes that the Cortex-M0 runner asserts on its target
//! (`tests/m0/src/sizes.rs`, read here as text), then compared with the
//! README. On a mismatch the test fails and prints the fresh table; to write
//! it into the README instead (after a change of layout, for example):
//!
//! ```sh
//! FUSEBOX_UPDATE_README=1 cargo test -p fusebox-tests --test readme_sizes
//! ```

use core::mem::size_of;
use std::path::PathBuf;

use fusebox::backoff::Backoff;
use fusebox::breaker::{
    BreakDuration, CircuitBreaker, ConsecutiveFailures, CountWindow, FailureCount, Permit,
    SharedCircuitBreaker, TimeWindow,
};
use fusebox::bulkhead::{AdaptiveLimit, Bulkhead, SharedAdaptiveLimit, SharedBulkhead};
use fusebox::dedup::{DedupTable, SharedDedupTable};
use fusebox::hash::Seed;
use fusebox::i2c::ResilientI2c;
use fusebox::latency::{
    AdaptiveTimeout, HedgePolicy, LatencyHistogram, McuHistogram, ServerHistogram,
};
use fusebox::rate::{
    ConcurrentRetryBudget, KeyedLimiter, RetryBudget, SharedKeyedLimiter, SharedRetryBudget,
    SharedTokenBucket, TokenBucket,
};
use fusebox::rng::Rng;
use fusebox::time::{Duration, Instant};
/// A one-byte raw mutex (spin's), the lock the shared tables' rows and the
/// Cortex-M0 runner's rows are measured with.
use fusebox_scenarios::drivers::Raw;
use fusebox_scenarios::fakes::{NoBus, NoDelay, ZeroClock};

/// The README's heading above the table.
const HEADING: &str = "## The primitives";
/// The table's size column (0-based, counting the cells between the bars).
const SIZE_COLUMN: usize = 3;
/// Rows whose size is not measured here, and why.
const NOT_MEASURED: &[(&str, &str)] = &[(
    "`retry`, `Retry`",
    "a release build's future size, printed by `cargo bench --bench backoff`",
)];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `n` as the README writes it: digits grouped by a space from 10 000 up.
fn num(n: usize) -> String {
    let digits = n.to_string();
    if digits.len() < 5 {
        return digits;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The thumbv6m size the Cortex-M0 runner asserts for `name`, as written in
/// `size_check!(name, N)` in tests/m0/src/sizes.rs.
fn m0(name: &str) -> usize {
    let path = root().join("tests/m0/src/sizes.rs");
    let text = std::fs::read_to_string(&path).expect("tests/m0/src/sizes.rs is readable");
    let key = format!("size_check!({name}, ");
    let at = text.find(&key).unwrap_or_else(|| {
        panic!(
            "tests/m0/src/sizes.rs has no `size_check!({name}, N)` with a literal N: \
             add one, so the README's thumbv6m size is the one the runner asserts"
        )
    });
    let rest = &text[at + key.len()..];
    let end = rest.find(')').expect("size_check! is closed");
    rest[..end]
        .trim()
        .replace('_', "")
        .parse()
        .unwrap_or_else(|_| panic!("size_check!({name}, ...) is not a literal number"))
}

/// "host / thumbv6m" for a type documented on both targets.
fn both<T>(m0_name: &str) -> String {
    format!("{} / {}", num(size_of::<T>()), num(m0(m0_name)))
}

/// `(base, per)` such that `size(n) = base + per x n`, checked at a third
/// point so a layout that stops being linear fails here.
fn linear(s1: usize, s2: usize, n3: usize, s3: usize) -> (usize, usize) {
    let per = s2 - s1;
    let base = s1 - per;
    assert_eq!(
        s3,
        base + per * n3,
        "size is no longer base + per x n: the README's formula must change"
    );
    (base, per)
}

/// The size cell of every measured row, keyed by the row's type cell.
fn measured() -> Vec<(&'static str, String)> {
    type Cw<const N: usize> = CircuitBreaker<CountWindow<N>>;
    type Tw<const B: usize> = CircuitBreaker<TimeWindow<B>>;
    let (tw_base, tw_per) = linear(
        size_of::<Tw<1>>(),
        size_of::<Tw<2>>(),
        10,
        size_of::<Tw<10>>(),
    );
    let (kl_base, kl_per) = linear(
        size_of::<KeyedLimiter<u64, 1>>(),
        size_of::<KeyedLimiter<u64, 2>>(),
        16,
        size_of::<KeyedLimiter<u64, 16>>(),
    );
    let (rb_base, rb_per) = linear(
        size_of::<RetryBudget<1>>(),
        size_of::<RetryBudget<2>>(),
        10,
        size_of::<RetryBudget<10>>(),
    );
    assert_eq!(
        size_of::<Instant>(),
        size_of::<Duration>(),
        "one cell for both"
    );
    // SharedKeyedLimiter<R, u64, S, N> = base + S x (shard + per x N).
    type Skl<const S: usize, const N: usize> = SharedKeyedLimiter<Raw, u64, S, N>;
    let skl_shard1 = size_of::<Skl<2, 1>>() - size_of::<Skl<1, 1>>();
    let skl_base = size_of::<Skl<1, 1>>() - skl_shard1;
    let skl_per = size_of::<Skl<1, 2>>() - size_of::<Skl<1, 1>>();
    let skl_shard = skl_shard1 - skl_per;
    assert_eq!(
        size_of::<Skl<3, 16>>(),
        skl_base + 3 * (skl_shard + skl_per * 16),
        "SharedKeyedLimiter is no longer base + S x (shard + per x N): the README's formula must change"
    );
    // LatencyHistogram<P, B, S> = base + 4 x B x (S + 1) where that is a
    // multiple of 8 (rounded up to 8 otherwise).
    let lh_base = size_of::<LatencyHistogram<3, 40, 4>>() - 4 * 40 * 5;
    assert_eq!(
        size_of::<LatencyHistogram<3, 80, 4>>(),
        lh_base + 4 * 80 * 5,
        "LatencyHistogram is no longer base + 4 x B x (S + 1): the README's formula must change"
    );
    assert_eq!(size_of::<ServerHistogram>(), m0("ServerHistogram"));
    assert_eq!(size_of::<McuHistogram>(), m0("McuHistogram"));
    // AdaptiveTimeout = the histogram + a constant, for any histogram.
    let at_extra = size_of::<AdaptiveTimeout>() - size_of::<ServerHistogram>();
    assert_eq!(
        size_of::<AdaptiveTimeout<4, 176, 4>>() - size_of::<McuHistogram>(),
        at_extra,
        "AdaptiveTimeout is no longer the histogram + a constant"
    );
    // HedgePolicy<P, B, S> = the histogram + base + per x S.
    let hp = |total: usize, hist: usize| total - hist;
    let hp5 = hp(size_of::<HedgePolicy>(), size_of::<ServerHistogram>());
    let hp4 = hp(
        size_of::<HedgePolicy<4, 176, 4>>(),
        size_of::<McuHistogram>(),
    );
    let hp_per = hp5 - hp4;
    let hp_base = hp4 - 4 * hp_per;
    assert_eq!(
        hp(
            size_of::<HedgePolicy<4, 176, 2>>(),
            size_of::<LatencyHistogram<4, 176, 2>>()
        ),
        hp_base + 2 * hp_per,
        "HedgePolicy is no longer the histogram + base + per x S: the README's formula must change"
    );
    let gov =
        governor::RateLimiter::direct(governor::Quota::per_second(core::num::NonZeroU32::MIN));
    vec![
        (
            "`CircuitBreaker<ConsecutiveFailures>`",
            both::<CircuitBreaker<ConsecutiveFailures>>("CircuitBreaker<ConsecutiveFailures>"),
        ),
        (
            "`CircuitBreaker<FailureCount>`",
            both::<CircuitBreaker<FailureCount>>("CircuitBreaker<FailureCount>"),
        ),
        (
            "`CircuitBreaker<CountWindow<N>>`",
            format!(
                "{} (N = 10), {} (N = 100)",
                size_of::<Cw<10>>(),
                size_of::<Cw<100>>()
            ),
        ),
        (
            "`CircuitBreaker<TimeWindow<B>>`",
            format!("{tw_base} + {tw_per} x B"),
        ),
        ("`BreakDuration`", both::<BreakDuration>("BreakDuration")),
        ("`Permit`", both::<Permit>("Permit")),
        (
            "`SharedCircuitBreaker<P>` (feature `sync`)",
            format!(
                "{} (`ConsecutiveFailures`; padded to cache lines on servers only)",
                both::<SharedCircuitBreaker<ConsecutiveFailures>>(
                    "SharedCircuitBreaker<ConsecutiveFailures>"
                )
            ),
        ),
        (
            "`TokenBucket`",
            format!(
                "{} (governor's: {})",
                both::<TokenBucket>("TokenBucket"),
                size_of_val(&gov)
            ),
        ),
        (
            "`SharedTokenBucket` (feature `sync`)",
            both::<SharedTokenBucket>("SharedTokenBucket"),
        ),
        (
            "`KeyedLimiter<u64, N>`",
            format!("{kl_base} + {kl_per} x N"),
        ),
        (
            "`SharedKeyedLimiter<R, u64, S, N>` (feature `sync`)",
            format!("{skl_base} + S x ({skl_shard} + {skl_per} x N) with a one-byte lock"),
        ),
        (
            "`RetryBudget<S>`",
            format!(
                "{rb_base} + {rb_per} x S ({} for S = 10)",
                size_of::<RetryBudget<10>>()
            ),
        ),
        (
            "`SharedRetryBudget<R, S>` (feature `sync`)",
            format!(
                "{} for S = 10 with a one-byte lock",
                both::<SharedRetryBudget<Raw, 10>>("SharedRetryBudget<Raw>")
            ),
        ),
        (
            "`ConcurrentRetryBudget`",
            both::<ConcurrentRetryBudget>("ConcurrentRetryBudget"),
        ),
        ("`Bulkhead`", both::<Bulkhead>("Bulkhead")),
        (
            "`SharedBulkhead` (feature `sync`)",
            both::<SharedBulkhead>("SharedBulkhead"),
        ),
        ("`AdaptiveLimit`", both::<AdaptiveLimit>("AdaptiveLimit")),
        (
            "`SharedAdaptiveLimit` (feature `sync`)",
            both::<SharedAdaptiveLimit>("SharedAdaptiveLimit"),
        ),
        (
            "`Backoff`",
            format!(
                "{} (backon's: {})",
                both::<Backoff>("Backoff"),
                size_of::<backon::ExponentialBackoff>()
            ),
        ),
        (
            "`DedupTable<u64, (), 64>`",
            both::<DedupTable<u64, (), 64>>("DedupTable<u64, (), 64>"),
        ),
        (
            "`DedupTable<u128, [u8; 32], 256>`",
            both::<DedupTable<u128, [u8; 32], 256>>("DedupTable<u128, [u8; 32], 256>"),
        ),
        (
            "`LatencyHistogram<P, B, S>`",
            format!(
                "{lh_base} + 4 x B x (S + 1); `ServerHistogram` (3.1 %, 2^32 ticks) {}, \
                 `McuHistogram` (6.25 %, 2^24 ticks) {}",
                num(size_of::<ServerHistogram>()),
                num(size_of::<McuHistogram>())
            ),
        ),
        ("`AdaptiveTimeout`", format!("the histogram + {at_extra}")),
        (
            "`HedgePolicy`",
            format!("the histogram + {hp_base} + {hp_per} x S"),
        ),
        (
            "`SharedDedupTable<R, u64, (), 4, 64>` (feature `sync`)",
            format!(
                "{} with a one-byte lock",
                both::<SharedDedupTable<Raw, u64, (), 4, 64>>(
                    "SharedDedupTable<Raw, u64, (), 4, 64>"
                )
            ),
        ),
        (
            "`ResilientI2c<I, D, C>`",
            format!(
                "{} + the bus (N = 4 devices)",
                both::<ResilientI2c<NoBus, NoDelay, ZeroClock>>(
                    "ResilientI2c<NoBus, NoDelay, ZeroClock>"
                )
            ),
        ),
        ("`Seed`", both::<Seed>("Seed")),
        ("`Rng`", both::<Rng>("Rng")),
        ("`Instant`, `Duration`, `Clock`", {
            assert_eq!(m0("Instant"), m0("Duration"), "one cell for both");
            both::<Instant>("Instant")
        }),
    ]
}

/// Splits a table row into its cells (no cell of this table holds a `|`).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

#[test]
#[cfg(target_pointer_width = "64")]
fn readme_size_table_is_what_the_types_measure() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md is readable");
    let measured = measured();
    let mut seen = vec![false; measured.len()];
    let mut out = Vec::new();
    let mut diffs = Vec::new();
    let mut in_section = false;
    let mut rows = 0;
    for line in readme.lines() {
        if line.starts_with("## ") {
            in_section = line == HEADING;
        }
        let row = in_section && line.starts_with('|') && !line.starts_with("|---");
        let mut cs = if row { cells(line) } else { Vec::new() };
        if row
            && cs
                .get(SIZE_COLUMN)
                .is_some_and(|c| !c.starts_with("size in bytes"))
        {
            rows += 1;
            let key = cs[1].as_str();
            if let Some(i) = measured.iter().position(|(k, _)| *k == key) {
                seen[i] = true;
                let fresh = &measured[i].1;
                if cs[SIZE_COLUMN] != *fresh {
                    diffs.push(format!(
                        "{key}: README {:?}, measured {fresh:?}",
                        cs[SIZE_COLUMN]
                    ));
                    cs[SIZE_COLUMN].clone_from(fresh);
                }
            } else {
                assert!(
                    NOT_MEASURED.iter().any(|(k, _)| *k == key),
                    "README row {key} has a size this test does not measure: add it to `measured()`"
                );
            }
            let changed = cells(line) != cs;
            if changed {
                out.push(format!("| {} |", cs.join(" | ")).replace("|  |", "| |"));
            } else {
                out.push(line.to_string());
            }
        } else {
            out.push(line.to_string());
        }
    }
    assert!(rows > 0, "no table under {HEADING:?} in README.md");
    for (i, (key, _)) in measured.iter().enumerate() {
        assert!(
            seen[i],
            "README.md's table under {HEADING:?} has no row {key}"
        );
    }
    for (key, why) in NOT_MEASURED {
        println!("not measured here: {key}: {why}");
    }
    if diffs.is_empty() {
        return;
    }
    let mut fresh = out.join("\n");
    if readme.ends_with('\n') {
        fresh.push('\n');
    }
    if std::env::var_os("FUSEBOX_UPDATE_README").is_some() {
        std::fs::write(&path, &fresh).expect("README.md is writable");
        println!("README.md updated:\n{}", diffs.join("\n"));
        return;
    }
    let table: Vec<&str> = fresh
        .lines()
        .skip_while(|l| *l != HEADING)
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    panic!(
        "README.md's size column differs from what the types measure:\n{}\n\n\
         the measured table:\n\n{}\n\n\
         to write it into README.md: \
         FUSEBOX_UPDATE_README=1 cargo test -p fusebox-tests --test readme_sizes",
        diffs.join("\n"),
        table.join("\n")
    );
}
