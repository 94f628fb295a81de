//! fusebox's timeline scenarios, as plain functions.
//!
//! Each scenario is a `fn() -> Result<(), Failure>` that drives a primitive
//! through a timeline of fabricated instants and checks every decision. The
//! crate is `no_std` and allocation-free, so the same functions run in the
//! host tests (`cargo test -p fusebox-scenarios`, also under Miri) and on an
//! emulated Cortex-M0 (`tests/m0`): shared, not copied.
//!
//! Scenario names read like the rows of the transition tables in the
//! primitives' module docs.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[macro_use]
mod check;
pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
#[cfg(feature = "serde")]
pub mod config;
pub mod dedup;
pub mod drivers;
#[cfg(any(feature = "async", feature = "embedded-hal-async"))]
pub mod fakes;
#[cfg(feature = "embedded-hal-async")]
pub mod i2c;
pub mod latency;
pub mod rate;
#[cfg(feature = "async")]
pub mod retry;

pub use check::Failure;

/// The shorthands every timeline uses.
pub(crate) mod timeline {
    use super::{Outcome, Scenario};
    use fusebox::time::{Duration, Instant};

    /// A named scenario, for a module's `SCENARIOS` table.
    pub(crate) const fn scenario(name: &'static str, run: fn() -> Outcome) -> Scenario {
        Scenario { name, run }
    }

    /// The instant `ticks` ticks after zero.
    pub(crate) fn at(ticks: u64) -> Instant {
        Instant::from_ticks(ticks)
    }

    /// A duration of `ticks` ticks.
    pub(crate) fn ticks(ticks: u64) -> Duration {
        Duration::from_ticks(ticks)
    }
}

/// A scenario's result.
pub type Outcome = Result<(), Failure>;

/// A named scenario.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// `module::name`, e.g. `breaker::closed_to_open_at_nth_consecutive_failure`.
    pub name: &'static str,
    /// The scenario itself.
    pub run: fn() -> Outcome,
}

impl core::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every scenario group, for a runner that runs them all.
pub const GROUPS: &[&[Scenario]] = &[
    breaker::SCENARIOS,
    breaker::SYNC_SCENARIOS,
    bulkhead::SCENARIOS,
    backoff::SCENARIOS,
    budget::SCENARIOS,
    budget::SHARED_SCENARIOS,
    dedup::SCENARIOS,
    latency::SCENARIOS,
    dedup::SHARED_SCENARIOS,
    rate::SCENARIOS,
    rate::SYNC_SCENARIOS,
    #[cfg(feature = "async")]
    retry::SCENARIOS,
    #[cfg(feature = "embedded-hal-async")]
    i2c::SCENARIOS,
    #[cfg(feature = "serde")]
    config::SCENARIOS,
];

/// [`GROUPS`] in two halves, for the Cortex-M0 runner (`tests/m0`): the
/// emulated microbit's 256 KiB of flash no longer hold every scenario at
/// once, so the runner is built and run once per half (a `const`, so a
/// binary that names one half links only that half's scenarios). A test
/// checks that the halves hold exactly the scenarios of [`GROUPS`].
pub const M0_PARTS: [&[&[Scenario]]; 2] = [
    &[
        breaker::SCENARIOS,
        breaker::SYNC_SCENARIOS,
        bulkhead::SCENARIOS,
        backoff::SCENARIOS,
        budget::SCENARIOS,
        budget::SHARED_SCENARIOS,
    ],
    &[
        dedup::SCENARIOS,
        latency::SCENARIOS,
        dedup::SHARED_SCENARIOS,
        rate::SCENARIOS,
        rate::SYNC_SCENARIOS,
        #[cfg(feature = "async")]
        retry::SCENARIOS,
        #[cfg(feature = "embedded-hal-async")]
        i2c::SCENARIOS,
        #[cfg(feature = "serde")]
        config::SCENARIOS,
    ],
];

/// Run every scenario of every group; call `report` with each name and
/// result. Returns the number that failed.
pub fn run_all(report: impl FnMut(&Scenario, &Outcome)) -> usize {
    run_groups(GROUPS, report)
}

/// Run every scenario of `groups` (one of [`M0_PARTS`], say); call
/// `report` with each name and result. Returns the number that failed.
pub fn run_groups(groups: &[&[Scenario]], mut report: impl FnMut(&Scenario, &Outcome)) -> usize {
    let mut failed = 0;
    for group in groups {
        for s in *group {
            let outcome = (s.run)();
            if outcome.is_err() {
                failed += 1;
            }
            report(s, &outcome);
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::{GROUPS, M0_PARTS, Scenario};

    fn names(groups: &[&[Scenario]]) -> impl Iterator<Item = &'static str> {
        groups.iter().flat_map(|g| g.iter().map(|s| s.name))
    }

    /// The M0 runner's two halves run exactly the scenarios of `GROUPS`,
    /// each once.
    #[test]
    fn the_m0_halves_are_the_groups() {
        let all = names(GROUPS).count();
        let halves = names(M0_PARTS[0]).count() + names(M0_PARTS[1]).count();
        assert_eq!(halves, all);
        for name in names(GROUPS) {
            let seen = names(M0_PARTS[0])
                .chain(names(M0_PARTS[1]))
                .filter(|n| *n == name)
                .count();
            assert_eq!(seen, 1, "{name} in the M0 halves");
        }
    }

    #[test]
    fn every_scenario_passes() {
        let mut ran = 0;
        let failed = super::run_all(|s, outcome| {
            ran += 1;
            match outcome {
                Ok(()) => println!("ok   {}", s.name),
                Err(f) => println!("FAIL {}: {}", s.name, f),
            }
        });
        assert!(ran > 0, "no scenario ran");
        assert_eq!(failed, 0, "{failed} scenario(s) failed; see above");
    }
}
