//! The open-duration schedules and the half-open probe rules of
//! [`Config`](super::Config).

use crate::ConfigError;
use crate::time::Duration;

/// How long a breaker stays open after its `n`-th trip without a close in
/// between (Polly's break-duration generator, without a closure: an enum of
/// laws, so the [`Config`](super::Config) stays `Copy`, `const` and
/// allocation-free).
///
/// The count `n` starts at 1 for the first trip, grows by one each time a
/// half-open probe fails, and goes back to 0 when the breaker closes (or is
/// [reset](super::CircuitBreaker::reset)).
///
/// | law | open duration after trip `n` |
/// |---|---|
/// | `Constant(d)` | `d` |
/// | `Geometric { initial, factor, max }` | `min(max, initial x factor^(n-1))` |
/// | `Linear { initial, step, max }` | `min(max, initial + (n-1) x step)` |
/// | `Table(t)` | `t[min(n, len) - 1]`: the last entry repeats |
///
/// Arithmetic saturates, so trip 4 billion costs what trip 2 does (at most
/// 64 multiplies for `Geometric`, one for `Linear`, one lookup for
/// `Table`). The only state a schedule needs is the breaker's count of
/// trips in a row.
///
/// ```
/// use fusebox::breaker::{BreakDuration, Config};
/// use fusebox::time::Duration;
///
/// let s = Duration::from_secs;
/// let linear = Config::new().open_duration_linear(s(1), s(1), s(3));
/// let got: Vec<u64> = (1..=5).map(|n| linear.open_duration_after(n).as_secs()).collect();
/// assert_eq!(got, [1, 2, 3, 3, 3]);
///
/// static TABLE: [Duration; 3] = [Duration::from_secs(5), Duration::from_secs(30), Duration::from_secs(300)];
/// let table = Config::new().open_duration_table(&TABLE);
/// let got: Vec<u64> = (1..=5).map(|n| table.open_duration_after(n).as_secs()).collect();
/// assert_eq!(got, [5, 30, 300, 300, 300]);
/// assert_eq!(table.break_duration_schedule(), BreakDuration::Table(&TABLE));
///
/// // An empty table is refused, naming the field.
/// let err = Config::new().open_duration_table(&[]).validate().unwrap_err();
/// assert_eq!(err.field(), "open_duration_table");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BreakDuration {
    /// The same duration after every trip (at least 1 tick).
    Constant(Duration),
    /// Multiplied by `factor` (at least 1) after each further trip, up to
    /// `max` (at least `initial`, which is at least 1 tick). Factor 2
    /// doubles it ([`Config::open_duration_growing`](super::Config::open_duration_growing)).
    Geometric {
        /// After the first trip.
        initial: Duration,
        /// Growth per further trip.
        factor: u32,
        /// The cap.
        max: Duration,
    },
    /// `step` more after each further trip, up to `max` (at least
    /// `initial`, which is at least 1 tick).
    Linear {
        /// After the first trip.
        initial: Duration,
        /// Added per further trip (0 keeps it constant).
        step: Duration,
        /// The cap.
        max: Duration,
    },
    /// `table[n - 1]` after the `n`-th trip; the last entry repeats. 1 to
    /// 255 entries, each at least 1 tick. A `'static` table: build it in a
    /// `static` or a `const`.
    Table(&'static [Duration]),
}

impl BreakDuration {
    /// Check the schedule; the error names the field out of range.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            BreakDuration::Constant(d) => {
                if d.as_ticks() == 0 {
                    return Err(ConfigError::new(
                        "open_duration",
                        "be at least 1 tick (0 would never reject)",
                    ));
                }
            }
            BreakDuration::Geometric {
                initial,
                factor,
                max,
            } => {
                if initial.as_ticks() == 0 {
                    return Err(ConfigError::new(
                        "open_duration",
                        "be at least 1 tick (0 would never reject)",
                    ));
                }
                if factor == 0 {
                    return Err(ConfigError::new(
                        "open_duration_growing.factor",
                        "be at least 1 (1 keeps the open duration constant)",
                    ));
                }
                if max.as_ticks() < initial.as_ticks() {
                    return Err(ConfigError::new(
                        "open_duration_growing.max",
                        "be at least the initial open duration",
                    ));
                }
            }
            BreakDuration::Linear { initial, max, .. } => {
                if initial.as_ticks() == 0 {
                    return Err(ConfigError::new(
                        "open_duration_linear.initial",
                        "be at least 1 tick (0 would never reject after the first trip)",
                    ));
                }
                if max.as_ticks() < initial.as_ticks() {
                    return Err(ConfigError::new(
                        "open_duration_linear.max",
                        "be at least the initial open duration",
                    ));
                }
            }
            BreakDuration::Table(table) => return Self::validate_table(table),
        }
        Ok(())
    }

    /// The checks of a [`Table`](Self::Table) schedule, on any slice (the
    /// configuration-file shapes check a table before it is made `'static`).
    pub(crate) const fn validate_table(table: &[Duration]) -> Result<(), ConfigError> {
        if table.is_empty() || table.len() > 255 {
            return Err(ConfigError::new(
                "open_duration_table",
                "hold 1 to 255 durations (the last one repeats)",
            ));
        }
        let mut rest = table;
        while let Some((first, tail)) = rest.split_first() {
            if first.as_ticks() == 0 {
                return Err(ConfigError::new(
                    "open_duration_table",
                    "hold only durations of at least 1 tick (0 would never reject)",
                ));
            }
            rest = tail;
        }
        Ok(())
    }

    /// The open duration after the `trips`-th trip in a row (1 for the
    /// first; 0 is taken as 1). See the table in the type's docs.
    pub const fn after(&self, trips: u32) -> Duration {
        let steps = trips.saturating_sub(1);
        match *self {
            BreakDuration::Constant(d) => d,
            BreakDuration::Geometric {
                initial,
                factor,
                max,
            } => {
                let max = max.as_ticks();
                let mut ticks = initial.as_ticks();
                let mut n = steps;
                // Each step multiplies by at least 2 when factor > 1, so this
                // loop ends within 64 steps whatever `trips` is.
                while n > 0 && factor > 1 && ticks < max {
                    ticks = ticks.saturating_mul(factor as u64);
                    n = n.saturating_sub(1);
                }
                Duration::from_ticks(if ticks > max { max } else { ticks })
            }
            BreakDuration::Linear { initial, step, max } => {
                let ticks = initial
                    .as_ticks()
                    .saturating_add(step.as_ticks().saturating_mul(steps as u64));
                let max = max.as_ticks();
                Duration::from_ticks(if ticks > max { max } else { ticks })
            }
            BreakDuration::Table(table) => {
                let index = if (steps as usize) < table.len() {
                    steps as usize
                } else {
                    table.len().saturating_sub(1)
                };
                match table.split_at_checked(index) {
                    Some((_, rest)) => match rest.split_first() {
                        Some((d, _)) => *d,
                        None => Duration::MAX,
                    },
                    // An empty table is refused by `validate`; a breaker
                    // never holds one.
                    None => Duration::MAX,
                }
            }
        }
    }
}

/// How the half-open probe limit K ([`Config::half_open_probes`](super::Config::half_open_probes))
/// counts probes. A *round* is one stay in HalfOpen: it begins when an
/// Open breaker admits its first probe and ends when a probe re-opens the
/// breaker or the S-th success closes it.
///
/// With K = 2, S = 2, probes `a`, `b`, `c` (`+` a permit, `x` a refusal):
///
/// | tick | event | `InFlight` (default) | `PerRound` (gobreaker's `MaxRequests`) |
/// |---|---|---|---|
/// | 100 | Open ends; try `a` | + (1 in flight) | + (1 of 2 this round) |
/// | 100 | try `b` | + (2 in flight) | + (2 of 2) |
/// | 101 | try `c` | x (2 in flight) | x (2 of 2) |
/// | 102 | `a` succeeds | 1 in flight, 1 success | 1 success |
/// | 103 | try `c` | + (2 in flight) | x (2 of 2 admitted this round) |
/// | 104 | `b` succeeds | 2 successes: Closed | 2 successes: Closed |
///
/// Under `InFlight` a reported probe frees its slot at once, so a round may
/// admit more than K probes in all; under `PerRound` it admits at most K,
/// and S must be at most K (checked by [`Config::validate`](super::Config::validate)).
/// Under both rules a probe recorded as [`Outcome::Ignored`](super::Outcome::Ignored)
/// gives its slot back (it says nothing about the dependency, so it must not
/// use up the round), and probes written off after the probe timeout give
/// theirs back too, so a round can never stall. The state the rule needs is
/// one count, the probes admitted this round (`u16`), beside the probes in
/// flight.
///
/// ```
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures, Outcome, ProbeRule};
/// use fusebox::time::{Duration, Instant};
///
/// let t = Instant::from_ticks;
/// let config = Config::new()
///     .open_duration(Duration::from_ticks(100))
///     .half_open_probes(2)
///     .half_open_successes(2)
///     .probe_rule(ProbeRule::PerRound);
/// let mut b = CircuitBreaker::new(config, ConsecutiveFailures::new(1)?)?;
/// let p = b.try_acquire(t(0)).unwrap();
/// b.record(p, Outcome::Failure, t(0)); // Open until 100
/// let a = b.try_acquire(t(100)).unwrap();
/// let _b = b.try_acquire(t(100)).unwrap();
/// b.record(a, Outcome::Success, t(102));
/// assert!(b.try_acquire(t(103)).is_err()); // 2 of 2 admitted this round
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProbeRule {
    /// At most K probes in flight at once; a probe that reports frees its
    /// slot (for K = 1, Polly's one probe at a time).
    #[default]
    InFlight,
    /// At most K probes admitted per half-open round, in flight or not
    /// (gobreaker's `MaxRequests`; resilience4j's
    /// `permittedNumberOfCallsInHalfOpenState` counts the same way).
    PerRound,
}
