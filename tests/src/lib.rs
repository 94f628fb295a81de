//! Host integration tests, property tests and comparative benchmarks for
//! fusebox. The tests live in `tests/tests/`, the criterion benches in
//! `tests/benches/`; this library holds what they share.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// For the benches: `iters` calls of `op(thread, i)` on each of `threads`
/// threads at once, started together; the wall time divided by `threads`,
/// so that criterion (which divides by `iters`) reports the time per call
/// over all threads, i.e. 1 / total throughput.
pub fn on_threads(
    threads: usize,
    iters: u64,
    op: &(dyn Fn(usize, u64) -> bool + Sync),
) -> std::time::Duration {
    use std::hint::black_box;
    use std::sync::Barrier;
    use std::time::Instant;
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut ok = 0u64;
                    for i in 0..iters {
                        ok += u64::from(black_box(op(thread, i)));
                    }
                    black_box(ok);
                    (start, Instant::now())
                })
            })
            .collect();
        // From the first thread's start to the last one's end.
        let spans: Vec<(Instant, Instant)> =
            workers.into_iter().filter_map(|w| w.join().ok()).collect();
        let start = spans.iter().map(|s| s.0).min();
        let end = spans.iter().map(|s| s.1).max();
        match (start, end) {
            (Some(start), Some(end)) => (end - start) / u32::try_from(threads.max(1)).unwrap_or(1),
            _ => std::time::Duration::ZERO,
        }
    })
}
/// The property tests' configuration: deterministic unless asked otherwise.
///
/// `committed` is the test's committed case count. By default every run uses
/// that count and the fixed seed [`PROPTEST_SEED`], so `cargo test` gives the
/// same cases on every machine and every run (CI fails only on a change, not
/// on a lucky draw). Two environment variables override them, for
/// exploration (`tests/deep.sh`) and for replaying what it found:
///
/// - `PROPTEST_CASES=N`: run N cases instead of the committed count;
/// - `PROPTEST_RNG_SEED=S` (a `u64`): draw the cases from seed S.
///
/// A value that does not parse is reported on stderr and ignored. The
/// committed `*.proptest-regressions` files next to each test are replayed
/// first under every seed (proptest's file persistence, kept on), and a new
/// failure is appended to its test's file.
///
/// `FUSEBOX_PROPTEST_SCALE=K` multiplies each test's committed count by K
/// (ignored when `PROPTEST_CASES` is set): `tests/deep.sh` uses it to run
/// many more cases while keeping the slow tests' smaller share.
///
/// In a test file: `proptest! { #![proptest_config(fusebox_tests::proptest_config(512))] ... }`.
/// The same configuration, driving a runner by hand:
///
/// ```
/// use proptest::test_runner::TestRunner;
///
/// let config = fusebox_tests::proptest_config(64);
/// let mut runner = TestRunner::new(config);
/// runner
///     .run(&(0u32..1000, 0u32..1000), |(a, b)| {
///         proptest::prop_assert_eq!(a + b, b + a);
///         Ok(())
///     })
///     .unwrap();
/// ```
#[must_use]
pub fn proptest_config(committed: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
    // `Config::default()` has already read every `PROPTEST_*` variable
    // (persistence, shrinking, verbosity, ...); cases and seed are then set
    // here, env first, so the committed values are the default and not a
    // ceiling.
    let cases = env_u64("PROPTEST_CASES")
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .or_else(|| {
            env_u64("FUSEBOX_PROPTEST_SCALE")
                .map(|k| u32::try_from(u64::from(committed).saturating_mul(k)).unwrap_or(u32::MAX))
        })
        .unwrap_or(committed);
    let seed = env_u64("PROPTEST_RNG_SEED").unwrap_or(PROPTEST_SEED);
    let default = Config::default();
    // A test that filters its inputs (`prop_assume!`) may reject up to
    // `max_global_rejects` over the committed count; more cases may reject
    // proportionally more.
    let max_global_rejects = if cases > committed {
        default
            .max_global_rejects
            .saturating_mul(cases.div_ceil(committed.max(1)))
    } else {
        default.max_global_rejects
    };
    // The regressions file next to the test (`tests/tests/x.rs` ->
    // `tests/tests/x.proptest-regressions`), named directly: proptest's
    // default looks for a `lib.rs` above the test, warns, and falls back to
    // this same file. Kept off when `PROPTEST_DISABLE_FAILURE_PERSISTENCE`
    // turned it off.
    let failure_persistence = default.failure_persistence.as_ref().map(|_| {
        Box::new(FileFailurePersistence::WithSource("proptest-regressions"))
            as Box<dyn proptest::test_runner::FailurePersistence>
    });
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        max_global_rejects,
        failure_persistence,
        ..default
    }
}

/// The seed every property test uses unless `PROPTEST_RNG_SEED` is set.
pub const PROPTEST_SEED: u64 = 0x00f0_5eb0_c0ff_ee09;

/// The variable `name` as a `u64`, or `None` when it is unset; a value that
/// does not parse is reported and ignored.
fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("fusebox-tests: {name}={value:?} is not an unsigned integer; ignored");
            None
        }
    }
}
