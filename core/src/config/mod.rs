//! Configuration from files (feature `serde`): file-shape types for every
//! configuration, in human units, checked by the core's own builders.
//!
//! Each `*Spec` type is what one entry of a configuration file holds, field
//! for field; it derives `Serialize` and `Deserialize` (unknown fields are
//! refused), and its `build` methods run the core's constructors, so a
//! value out of range fails with the core's [`ConfigError`],
//! wrapped in an [`Invalid`] that names the *file's* field and the value
//! found. Deserializing and serializing never allocate (the unit parsers
//! read borrowed strings; writers use `collect_str`), so this works in
//! no_std firmware too; `fusebox-std`'s `config` module loads whole files
//! and adds each entry's path to the error.
//!
//! | spec | builds | file fields |
//! |---|---|---|
//! | [`BreakerSpec`] | [`breaker::Config`](crate::breaker::Config) and its policy | `policy`, `failure_threshold`, `failure_rate`, `window`, `buckets`, `minimum_calls`, `interval`, `open_duration`, `open_duration_factor`, `open_duration_step`, `open_duration_max`, `open_durations`, `half_open_probes`, `half_open_successes`, `probe_rule`, `probe_timeout`, `slow_call_duration`, `slow_call_rate` |
//! | [`LimiterSpec`] | [`rate::Quota`](crate::rate::Quota), [`rate::TokenBucket`](crate::rate::TokenBucket) | `rate`, `burst` |
//! | [`KeyedLimiterSpec`] | [`rate::KeyedLimiter`](crate::rate::KeyedLimiter) | `rate`, `burst`, `capacity`, `when_full` |
//! | [`RetryBudgetSpec`] | [`rate::RetryBudget`](crate::rate::RetryBudget) | `percent`, `floor`, `ttl`, `slices` |
//! | [`ConcurrentRetryBudgetSpec`] | [`rate::ConcurrentRetryBudget`](crate::rate::ConcurrentRetryBudget) | `budget_percent`, `min_retry_concurrency` |
//! | [`BulkheadSpec`] | [`bulkhead::Bulkhead`](crate::bulkhead::Bulkhead) (and the shared `bulkhead::SharedBulkhead`) | `max_concurrent_calls` |
//! | [`AdaptiveLimitSpec`] | [`bulkhead::AimdConfig`](crate::bulkhead::AimdConfig) | `min`, `max`, `initial`, `increase`, `backoff`, `latency_target`, `decrease_cooldown` |
//! | [`BackoffSpec`] | [`backoff::Config`](crate::backoff::Config) | `schedule`, `delay`, `initial`, `step`, `factor`, `cap`, `jitter`, `max_attempts`, `total_delay_budget`, `max_hint` |
//! | [`AdaptiveTimeoutSpec`] | [`latency::AdaptiveTimeout`](crate::latency::AdaptiveTimeout) | `initial`, `min`, `max`, `window`, `quantile`, `multiplier`, `margin`, `min_samples`, `precision_bits`, `buckets`, `slots` |
//! | [`HedgeSpec`] | [`latency::HedgePolicy`](crate::latency::HedgePolicy) | `window`, `quantile`, `max_hedges`, `budget_percent`, `budget_floor`, `min_samples`, `min_delay`, `precision_bits`, `buckets`, `slots` |
//! | [`DedupSpec`] | [`dedup::Config`](crate::dedup::Config), [`dedup::DedupTable`](crate::dedup::DedupTable) | `in_flight_ttl`, `done_ttl`, `eviction`, `capacity` |
//!
//! Units are in [`units`]: durations convert to ticks of the binary's tick
//! rate exactly, or fail.
//!
//! # Formats
//!
//! Any serde format reads and writes these types. Durations, rates and
//! names are strings; a percentage, a growth factor and a breaker's
//! `window` may be a number or a string, so they ask the format what the
//! value is (`deserialize_any`): TOML, YAML and JSON (`serde_json`) do;
//! `serde-json-core`, the allocation-free JSON of firmware, does not, so
//! with it a file may use every field but those, so neither an adaptive
//! timeout's `multiplier` nor a hedge's `budget_percent` (the Cortex-M0
//! scenarios `config::*` read a consecutive-failures breaker, a
//! failure-count breaker with a table of open durations, a limiter, a
//! linear backoff, an adaptive timeout and a hedge policy with
//! `serde-json-core`, and write two of them back).
//!
//! # Sizes fixed by the type
//!
//! A count window's length, a time window's bucket count, a retry budget's
//! slice count, a latency histogram's `P`, `B` and `S` and a table's
//! capacity are const generics: a file cannot
//! choose them. It may *state* them (`window = 20`, `capacity = 1024`), and
//! building the typed value checks the statement against the compiled type:
//!
//! ```
//! use fusebox::breaker::CountWindow;
//! use fusebox::config::BreakerSpec;
//!
//! let spec: BreakerSpec = serde_json::from_str(
//!     r#"{ "policy": "count_window", "window": 50, "failure_rate": "50%", "minimum_calls": 10 }"#,
//! ).unwrap();
//! let err = spec.build::<CountWindow<20>>().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "window: must equal 20, the window length (calls) compiled into the program's type, got 50"
//! );
//! assert!(spec.build::<CountWindow<50>>().is_ok());
//! ```
//!
//! (A spec's `check` runs every test that does not need the compiled type,
//! with the sizes the file states, so a loader can refuse a bad file before
//! anything is built.)
//!
//! # A breaker's table of open durations
//!
//! [`breaker::Config`](crate::breaker::Config) takes a table schedule as a
//! `&'static [Duration]` and the core has no allocator, so a file's
//! `open_durations` (at most [`MAX_OPEN_DURATIONS`] entries, held in the
//! spec's fixed array, [`OpenDurations`]) needs a copy that lives as long
//! as the program: [`BreakerSpec::config`] refuses such a file with an
//! error that says so, and [`BreakerSpec::config_with_table`] /
//! [`BreakerSpec::build_with_table`] take the copy. `fusebox_std::config`
//! makes it with `Box::leak`, once per distinct table in the process
//! (loading the same file again leaks nothing more); firmware writes the
//! table in a `static` or fills a `static_cell::StaticCell` once.

pub mod units;

mod backoff;
mod breaker;
mod bulkhead;
mod dedup;
mod latency;
mod rate;

pub use backoff::{BackoffSpec, JitterSpec, ScheduleSpec};
pub use breaker::{
    BreakerPolicy, BreakerSpec, MAX_OPEN_DURATIONS, OpenDurations, PolicyKind, ProbeRuleSpec,
    WindowSpec,
};
pub use bulkhead::{AdaptiveLimitSpec, BulkheadSpec};
pub use dedup::{DedupSpec, EvictionSpec};
pub use latency::{AdaptiveTimeoutSpec, HedgeSpec};
pub use rate::{
    ConcurrentRetryBudgetSpec, KeyedLimiterSpec, LimiterSpec, RetryBudgetSpec, WhenFullSpec,
};

use core::fmt;

use crate::ConfigError;
use crate::time::Duration;
use units::{DurationText, Factor, Rate};

/// A value a file gave, kept for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Got {
    /// An integer.
    Int(u64),
    /// A duration.
    Duration(Duration),
    /// A percentage.
    Percent(u16),
    /// A rate.
    Rate(Rate),
    /// A factor.
    Factor(Factor),
    /// A name.
    Text(&'static str),
    /// A quantile.
    Quantile(units::Quantile),
    /// The number of entries of a list (a breaker's `open_durations`).
    Entries(u64),
    /// The field was absent.
    Missing,
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::Int(n) => write!(f, "{n}"),
            Got::Duration(d) => write!(f, "\"{}\"", DurationText(*d)),
            Got::Percent(p) => write!(f, "{p}"),
            Got::Rate(r) => write!(f, "\"{r}\""),
            Got::Factor(x) if x.den == 1 => write!(f, "{}", x.num),
            Got::Factor(x) => write!(f, "\"{x}\""),
            Got::Text(s) => write!(f, "\"{s}\""),
            Got::Quantile(q) => write!(f, "\"{q}\""),
            Got::Entries(1) => f.write_str("1 entry"),
            Got::Entries(n) => write!(f, "{n} entries"),
            Got::Missing => f.write_str("nothing"),
        }
    }
}

/// What an [`Invalid`] field had to satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Requirement {
    /// The core's own check, as its builder reported it.
    Config(ConfigError),
    /// A size the file stated differs from the one compiled into the type.
    Compiled {
        /// The compiled size.
        size: u64,
        /// What the size is, e.g. "the window length (calls)".
        what: &'static str,
    },
    /// The field is required by the chosen kind (e.g. `failure_rate` by a
    /// `count_window` policy).
    RequiredBy(&'static str),
    /// The field means nothing to the chosen kind and was refused, so that
    /// a typo or a half-edited file does not pass silently.
    UnusedBy(&'static str),
    /// The file chose one kind, the compiled type is another.
    Kind(&'static str),
}

/// A configuration entry that failed its checks: the file's field, what it
/// must satisfy, and the value the file gave.
///
/// `Display` reads `failure_rate: must be in 1..=100 (percent), got 150`;
/// a loader puts the entry's path in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Invalid {
    /// The field, as the file names it.
    pub field: &'static str,
    /// What it must satisfy.
    pub requirement: Requirement,
    /// What the file gave.
    pub got: Got,
}

impl Invalid {
    /// The core's [`ConfigError`], when the core's builder refused the value.
    pub const fn config_error(&self) -> Option<ConfigError> {
        match self.requirement {
            Requirement::Config(e) => Some(e),
            _ => None,
        }
    }

    const fn new(field: &'static str, requirement: Requirement, got: Got) -> Self {
        Self {
            field,
            requirement,
            got,
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason())
    }
}

/// What was wrong with an [`Invalid`] field, without the field's name:
/// `must be in 1..=100 (percent), got 150`.
#[derive(Debug, Clone, Copy)]
pub struct Reason<'a>(&'a Invalid);

impl Invalid {
    /// The message without the field's name in front (for a loader that
    /// writes the field's full path itself).
    pub const fn reason(&self) -> Reason<'_> {
        Reason(self)
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = self.0.got;
        match self.0.requirement {
            Requirement::Config(e) => write!(f, "must {}, got {got}", e.requirement()),
            Requirement::Compiled { size, what } => write!(
                f,
                "must equal {size}, {what} compiled into the program's type, got {got}"
            ),
            Requirement::RequiredBy(kind) => write!(f, "required by {kind}, got nothing"),
            Requirement::UnusedBy(kind) => write!(f, "not used by {kind} (remove it), got {got}"),
            Requirement::Kind(compiled) => write!(
                f,
                "must be {compiled}, as this program is compiled, got {got}"
            ),
        }
    }
}

impl core::error::Error for Invalid {}

/// A required field of the kind `kind`.
fn required<T: Copy>(
    value: Option<T>,
    field: &'static str,
    kind: &'static str,
) -> Result<T, Invalid> {
    value.ok_or(Invalid::new(
        field,
        Requirement::RequiredBy(kind),
        Got::Missing,
    ))
}

/// Refuse a field the kind `kind` does not use.
fn unused(present: Option<Got>, field: &'static str, kind: &'static str) -> Result<(), Invalid> {
    match present {
        Some(got) => Err(Invalid::new(field, Requirement::UnusedBy(kind), got)),
        None => Ok(()),
    }
}

/// A size stated in the file, checked against the compiled one.
fn compiled(
    stated: Option<u64>,
    size: usize,
    field: &'static str,
    what: &'static str,
) -> Result<(), Invalid> {
    match stated {
        Some(n) if n != size as u64 => Err(Invalid::new(
            field,
            Requirement::Compiled {
                size: size as u64,
                what,
            },
            Got::Int(n),
        )),
        _ => Ok(()),
    }
}

/// The core's error, for the file's `field` that holds `got`.
const fn core(e: ConfigError, field: &'static str, got: Got) -> Invalid {
    Invalid::new(field, Requirement::Config(e), got)
}
