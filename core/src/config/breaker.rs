//! The breaker's file shape.

use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};

use super::units::{HumanDuration, Percent, parse_duration};
use super::{Got, Invalid, Requirement, compiled, core, required, unused};
use crate::ConfigError;
use crate::breaker::{
    BreakDuration, CircuitBreaker, Config, ConsecutiveFailures, CountWindow, FailureCount, Policy,
    ProbeRule, TimeWindow,
};
use crate::time::Duration;

/// Which failure policy a breaker judges with (the `policy` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// [`ConsecutiveFailures`]: `failure_threshold`, optionally `interval`.
    ConsecutiveFailures,
    /// [`FailureCount`]: `failure_threshold`, optionally `interval`.
    FailureCount,
    /// [`CountWindow`]: `window` (calls, the compiled `N`), `failure_rate`,
    /// `minimum_calls`.
    CountWindow,
    /// [`TimeWindow`]: `window` (a duration), `buckets` (the compiled `B`),
    /// `failure_rate`, `minimum_calls`.
    TimeWindow,
}

impl PolicyKind {
    const fn name(self) -> &'static str {
        match self {
            PolicyKind::ConsecutiveFailures => "consecutive_failures",
            PolicyKind::FailureCount => "failure_count",
            PolicyKind::CountWindow => "count_window",
            PolicyKind::TimeWindow => "time_window",
        }
    }
    const fn quoted(self) -> &'static str {
        match self {
            PolicyKind::ConsecutiveFailures => "\"consecutive_failures\"",
            PolicyKind::FailureCount => "\"failure_count\"",
            PolicyKind::CountWindow => "\"count_window\"",
            PolicyKind::TimeWindow => "\"time_window\"",
        }
    }
    const fn policy(self) -> &'static str {
        match self {
            PolicyKind::ConsecutiveFailures => "policy consecutive_failures",
            PolicyKind::FailureCount => "policy failure_count",
            PolicyKind::CountWindow => "policy count_window",
            PolicyKind::TimeWindow => "policy time_window",
        }
    }
}

/// A window's size: a number of calls (`window = 20`, a count window) or a
/// duration (`window = "10s"`, a time window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WindowSpec {
    /// The last `n` calls.
    Calls(u64),
    /// The calls of the last stretch of time.
    Time(HumanDuration),
}

impl Serialize for WindowSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            WindowSpec::Calls(n) => serializer.serialize_u64(*n),
            WindowSpec::Time(d) => d.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for WindowSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WindowSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of calls (20) or a duration (\"10s\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WindowSpec, E> {
                Ok(WindowSpec::Calls(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WindowSpec, E> {
                u64::try_from(v)
                    .map(WindowSpec::Calls)
                    .map_err(|_| E::custom(format_args!("a window is at least 1 call, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WindowSpec, E> {
                parse_duration(v)
                    .map(|d| WindowSpec::Time(HumanDuration(d)))
                    .map_err(|e| E::custom(format_args!("{e}, got \"{v}\"")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl WindowSpec {
    const fn got(self) -> Got {
        match self {
            WindowSpec::Calls(n) => Got::Int(n),
            WindowSpec::Time(d) => Got::Duration(d.0),
        }
    }
}

/// [`ProbeRule`] in a file (the `probe_rule` field): `"in_flight"` (the
/// default) or `"per_round"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum ProbeRuleSpec {
    /// [`ProbeRule::InFlight`].
    #[default]
    InFlight,
    /// [`ProbeRule::PerRound`] (gobreaker's `MaxRequests`).
    PerRound,
}

impl From<ProbeRuleSpec> for ProbeRule {
    fn from(r: ProbeRuleSpec) -> Self {
        match r {
            ProbeRuleSpec::InFlight => ProbeRule::InFlight,
            ProbeRuleSpec::PerRound => ProbeRule::PerRound,
        }
    }
}

/// The most entries of a breaker's `open_durations` table in a file.
///
/// A spec is `Copy` and allocation-free (firmware reads it with
/// `serde-json-core` onto the stack), so it holds the table in a fixed
/// array of this many durations (128 bytes). A longer schedule (the core
/// takes up to 255 entries) is built in code with
/// [`Config::open_duration_table`].
pub const MAX_OPEN_DURATIONS: usize = 16;

/// A breaker's `open_durations` table as a file gives it: 1 to
/// [`MAX_OPEN_DURATIONS`] durations (`["1s", "5s", "30s"]`), held in a
/// fixed array.
///
/// [`Config`] takes its table as a `&'static [Duration]` (a
/// [`BreakDuration::Table`]); a file's table lives no longer than the
/// spec, so [`BreakerSpec::config`] refuses it and
/// [`BreakerSpec::config_with_table`] takes a copy that lives as long as
/// the program: `fusebox_std::config` makes one (leaked once per distinct
/// table), firmware copies [`as_slice`](Self::as_slice) into a
/// `static_cell::StaticCell` or writes the table in a `static`.
#[derive(Clone, Copy)]
pub struct OpenDurations {
    len: u8,
    entries: [Duration; MAX_OPEN_DURATIONS],
}

impl OpenDurations {
    /// A table of `durations` (`None` for more than
    /// [`MAX_OPEN_DURATIONS`]).
    pub fn new(durations: &[Duration]) -> Option<Self> {
        let mut t = Self {
            len: 0,
            entries: [Duration::from_ticks(0); MAX_OPEN_DURATIONS],
        };
        t.entries
            .get_mut(..durations.len())?
            .copy_from_slice(durations);
        t.len = u8::try_from(durations.len()).ok()?;
        Some(t)
    }

    /// The durations, in order.
    pub fn as_slice(&self) -> &[Duration] {
        self.entries
            .get(..usize::from(self.len))
            .unwrap_or(&self.entries)
    }

    /// What the file gave, for an error: the first zero entry, or the
    /// number of entries.
    fn got(&self) -> Got {
        match self.as_slice().iter().find(|d| d.as_ticks() == 0) {
            Some(d) => Got::Duration(*d),
            None => Got::Entries(u64::from(self.len)),
        }
    }
}

impl PartialEq for OpenDurations {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for OpenDurations {}

impl fmt::Debug for OpenDurations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for OpenDurations {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[?]}", self.as_slice());
    }
}

impl Serialize for OpenDurations {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(usize::from(self.len)))?;
        for d in self.as_slice() {
            seq.serialize_element(&HumanDuration(*d))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for OpenDurations {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OpenDurations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of durations, e.g. [\"1s\", \"5s\", \"30s\"]")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OpenDurations, A::Error> {
                let mut t = OpenDurations {
                    len: 0,
                    entries: [Duration::from_ticks(0); MAX_OPEN_DURATIONS],
                };
                let mut n: usize = 0;
                while let Some(HumanDuration(d)) = seq.next_element::<HumanDuration>()? {
                    match t.entries.get_mut(n) {
                        Some(slot) => *slot = d,
                        None => {
                            return Err(de::Error::custom(format_args!(
                                "a file's table holds at most {MAX_OPEN_DURATIONS} open durations (build a longer one in code with Config::open_duration_table), got more"
                            )));
                        }
                    }
                    n = n.saturating_add(1);
                }
                t.len = u8::try_from(n).unwrap_or(u8::MAX);
                Ok(t)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// One circuit breaker in a file: its [`Config`] and its failure policy,
/// flat as resilience4j's properties are.
///
/// ```toml
/// policy = "count_window"        # or "consecutive_failures", "failure_count", "time_window"
/// window = 20                    # calls (count_window) or a duration (time_window)
/// failure_rate = "50%"
/// minimum_calls = 10
/// open_duration = "30s"          # optional, default 30s
/// open_duration_factor = 2       # optional: grow on each trip without a close ...
/// open_duration_max = "5min"     # ... up to this
/// half_open_probes = 1           # optional, default 1
/// half_open_successes = 1        # optional, default 1
/// probe_rule = "in_flight"       # optional: or "per_round" (gobreaker's MaxRequests)
/// probe_timeout = "10s"          # optional, default 10s
/// slow_call_duration = "2s"      # optional: calls this long count as slow ...
/// slow_call_rate = "80%"         # ... and this share of slow calls trips (default 100%)
/// ```
///
/// The other policies: `policy = "consecutive_failures"` or
/// `"failure_count"` with `failure_threshold = 5` and an optional
/// `interval = "1min"` (the counts clear every interval while closed,
/// gobreaker's `Interval`).
///
/// The open-duration schedule ([`BreakDuration`]) is one of:
///
/// | fields | schedule |
/// |---|---|
/// | `open_duration` (or none: 30 s) | constant |
/// | `open_duration`, `open_duration_factor`, `open_duration_max` | geometric: x factor per trip, up to max |
/// | `open_duration`, `open_duration_step`, `open_duration_max` (required) | linear: + step per trip, up to max |
/// | `open_durations = ["1s", "5s", "30s"]` (alone) | a table: the `n`-th trip's entry, the last repeats |
///
/// A table needs a copy that lives as long as the program (see
/// [`OpenDurations`]): build it with [`config_with_table`](Self::config_with_table)
/// or [`build_with_table`](Self::build_with_table); `fusebox_std::config`
/// does.
///
/// Unset optional fields keep [`Config::new`]'s defaults and are not
/// written back. `build::<P>()` gives the typed breaker; its policy type
/// `P` fixes the kind and the window's size (see [`BreakerPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// The failure policy.
    pub policy: PolicyKind,
    /// `consecutive_failures`: trip at this many failures in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Window policies: trip at this share of failed calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<Percent>,
    /// Window policies: calls (count window, must equal `N`) or a duration
    /// (time window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
    /// `time_window`: the number of buckets (must equal `B` when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u64>,
    /// Window policies: judge the rate once the window holds this many calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_calls: Option<u32>,
    /// `consecutive_failures`, `failure_count`: clear the counts at the end
    /// of every interval while closed (off when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    /// Open for this long after a trip (the first trip, when it grows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration: Option<HumanDuration>,
    /// Grow the open duration by this factor per trip without a close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration_factor: Option<u32>,
    /// Grow the open duration by this much per trip without a close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration_step: Option<HumanDuration>,
    /// The longest open duration when it grows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration_max: Option<HumanDuration>,
    /// The open duration of each trip in a row, the last repeating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_durations: Option<OpenDurations>,
    /// Probes at a time in HalfOpen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_probes: Option<u16>,
    /// Probe successes to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_successes: Option<u16>,
    /// How the half-open probe limit counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_rule: Option<ProbeRuleSpec>,
    /// Write off unrecorded probes after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_timeout: Option<HumanDuration>,
    /// A call this long or longer is slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call_duration: Option<HumanDuration>,
    /// Rate policies trip at this share of slow calls (default 100%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call_rate: Option<Percent>,
}

/// A breaker policy type that a [`BreakerSpec`] can build: the compiled
/// kind and sizes, checked against the file.
pub trait BreakerPolicy: Policy + Sized {
    /// The kind the file must name.
    const KIND: PolicyKind;
    /// Build the policy from the spec's policy fields.
    fn from_spec(spec: &BreakerSpec) -> Result<Self, Invalid>;
}

impl BreakerPolicy for ConsecutiveFailures {
    const KIND: PolicyKind = PolicyKind::ConsecutiveFailures;
    fn from_spec(spec: &BreakerSpec) -> Result<Self, Invalid> {
        let n = spec.failure_threshold.unwrap_or(0);
        let p = ConsecutiveFailures::new(n)
            .map_err(|e| core(e, "failure_threshold", Got::Int(u64::from(n))))?;
        match spec.interval {
            Some(i) => p
                .interval(i.0)
                .map_err(|e| core(e, "interval", Got::Duration(i.0))),
            None => Ok(p),
        }
    }
}

impl BreakerPolicy for FailureCount {
    const KIND: PolicyKind = PolicyKind::FailureCount;
    fn from_spec(spec: &BreakerSpec) -> Result<Self, Invalid> {
        let n = spec.failure_threshold.unwrap_or(0);
        let p = FailureCount::new(n)
            .map_err(|e| core(e, "failure_threshold", Got::Int(u64::from(n))))?;
        match spec.interval {
            Some(i) => p
                .interval(i.0)
                .map_err(|e| core(e, "interval", Got::Duration(i.0))),
            None => Ok(p),
        }
    }
}

impl<const N: usize> BreakerPolicy for CountWindow<N> {
    const KIND: PolicyKind = PolicyKind::CountWindow;
    fn from_spec(spec: &BreakerSpec) -> Result<Self, Invalid> {
        if let Some(WindowSpec::Calls(n)) = spec.window {
            compiled(Some(n), N, "window", "the window length (calls)")?;
        }
        let rate = spec.failure_rate.unwrap_or(Percent(0));
        let minimum = spec.minimum_calls.unwrap_or(0);
        CountWindow::builder()
            .failure_rate(rate.saturating_u8())
            .minimum_calls(minimum)
            .build()
            .map_err(|e| match e.field() {
                "minimum_calls" => core(e, "minimum_calls", Got::Int(u64::from(minimum))),
                "failure_rate" => core(e, "failure_rate", Got::Percent(rate.0)),
                _ => core(e, "window", Got::Int(N as u64)),
            })
    }
}

impl<const B: usize> BreakerPolicy for TimeWindow<B> {
    const KIND: PolicyKind = PolicyKind::TimeWindow;
    fn from_spec(spec: &BreakerSpec) -> Result<Self, Invalid> {
        compiled(spec.buckets, B, "buckets", "the number of buckets")?;
        let window = match spec.window {
            Some(WindowSpec::Time(d)) => d.0,
            _ => Duration::from_ticks(0),
        };
        let rate = spec.failure_rate.unwrap_or(Percent(0));
        let minimum = spec.minimum_calls.unwrap_or(0);
        TimeWindow::builder(window)
            .failure_rate(rate.saturating_u8())
            .minimum_calls(minimum)
            .build()
            .map_err(|e| match e.field() {
                "minimum_calls" => core(e, "minimum_calls", Got::Int(u64::from(minimum))),
                "failure_rate" => core(e, "failure_rate", Got::Percent(rate.0)),
                "window" => core(e, "window", Got::Duration(window)),
                _ => core(e, "buckets", Got::Int(B as u64)),
            })
    }
}

impl BreakerSpec {
    /// A spec of the given kind with every other field unset.
    pub const fn new(policy: PolicyKind) -> Self {
        Self {
            policy,
            failure_threshold: None,
            failure_rate: None,
            window: None,
            buckets: None,
            minimum_calls: None,
            interval: None,
            open_duration: None,
            open_duration_factor: None,
            open_duration_step: None,
            open_duration_max: None,
            open_durations: None,
            half_open_probes: None,
            half_open_successes: None,
            probe_rule: None,
            probe_timeout: None,
            slow_call_duration: None,
            slow_call_rate: None,
        }
    }

    /// The breaker's [`Config`], checked by [`Config::validate`]. A file
    /// with an `open_durations` table is refused here (the table must
    /// outlive the spec): use [`config_with_table`](Self::config_with_table).
    pub fn config(&self) -> Result<Config, Invalid> {
        self.config_with_table(None)
    }

    /// [`config`](Self::config), with `table` the `'static` copy of the
    /// file's `open_durations`: `Some` with the same durations when the
    /// file has a table, `None` when it has none (see [`OpenDurations`]).
    ///
    /// ```
    /// use fusebox::config::BreakerSpec;
    /// use fusebox::time::Duration;
    ///
    /// let spec: BreakerSpec = serde_json::from_str(
    ///     r#"{ "policy": "consecutive_failures", "failure_threshold": 5, "open_durations": ["1s", "5s", "30s"] }"#,
    /// ).unwrap();
    /// assert_eq!(
    ///     spec.config().unwrap_err().to_string(),
    ///     "open_durations: must be given a copy that lives as long as the program, through \
    ///      BreakerSpec::config_with_table or build_with_table (fusebox_std's loader makes one), got 3 entries"
    /// );
    /// static TABLE: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30)];
    /// let config = spec.config_with_table(Some(&TABLE)).unwrap();
    /// assert_eq!(config.open_duration_after(4), Duration::from_secs(30));
    /// ```
    pub fn config_with_table(&self, table: Option<&'static [Duration]>) -> Result<Config, Invalid> {
        self.make(table, false)
    }

    /// The [`Config`]; with `checking`, a file's table is checked and then
    /// stood in for by a valid one (for [`check`](Self::check), which has
    /// no `'static` copy).
    fn make(&self, table: Option<&'static [Duration]>, checking: bool) -> Result<Config, Invalid> {
        static STAND_IN: [Duration; 1] = [Duration::from_secs(1)];
        let defaults = Config::new();
        let mut c = defaults;
        let open = self.open_duration.map_or(Duration::from_secs(30), |d| d.0);
        let factor = self.open_duration_factor.unwrap_or(1);
        let dur = |d: Option<HumanDuration>| d.map(|d| Got::Duration(d.0));
        if let Some(t) = self.open_durations {
            const TABLE: &str = "open_durations";
            unused(dur(self.open_duration), "open_duration", TABLE)?;
            unused(
                self.open_duration_factor.map(|n| Got::Int(u64::from(n))),
                "open_duration_factor",
                TABLE,
            )?;
            unused(dur(self.open_duration_step), "open_duration_step", TABLE)?;
            unused(dur(self.open_duration_max), "open_duration_max", TABLE)?;
            BreakDuration::validate_table(t.as_slice())
                .map_err(|e| core(e, "open_durations", t.got()))?;
            match table {
                _ if checking => c = c.open_duration_table(&STAND_IN),
                Some(table) if table == t.as_slice() => c = c.open_duration_table(table),
                _ => {
                    return Err(core(
                        ConfigError::new(
                            "open_durations",
                            "be given a copy that lives as long as the program, through BreakerSpec::config_with_table or build_with_table (fusebox_std's loader makes one)",
                        ),
                        "open_durations",
                        Got::Entries(u64::from(t.len)),
                    ));
                }
            }
        } else if let Some(table) = table {
            return Err(core(
                ConfigError::new(
                    "open_durations",
                    "be in the file when a table is given to config_with_table",
                ),
                "open_durations",
                Got::Entries(table.len() as u64),
            ));
        } else if let Some(step) = self.open_duration_step {
            const LINEAR: &str = "open_duration_step";
            unused(
                self.open_duration_factor.map(|n| Got::Int(u64::from(n))),
                "open_duration_factor",
                LINEAR,
            )?;
            let max = required(self.open_duration_max, "open_duration_max", LINEAR)?;
            c = c.open_duration_linear(open, step.0, max.0);
        } else {
            match (self.open_duration_factor, self.open_duration_max) {
                (None, None) => c = c.open_duration(open),
                _ => {
                    let max = self.open_duration_max.map_or(open, |d| d.0);
                    c = c.open_duration_growing(open, factor, max);
                }
            }
        }
        if let Some(k) = self.half_open_probes {
            c = c.half_open_probes(k);
        }
        if let Some(s) = self.half_open_successes {
            c = c.half_open_successes(s);
        }
        if let Some(r) = self.probe_rule {
            c = c.probe_rule(r.into());
        }
        if let Some(t) = self.probe_timeout {
            c = c.probe_timeout(t.0);
        }
        let slow_rate = self.slow_call_rate.unwrap_or(Percent(100));
        if let Some(d) = self.slow_call_duration {
            c = c.slow_calls(d.0, slow_rate.saturating_u8());
        } else if self.slow_call_rate.is_some() {
            return Err(Invalid::new(
                "slow_call_duration",
                Requirement::RequiredBy("slow_call_rate"),
                Got::Missing,
            ));
        }
        let max = Got::Duration(self.open_duration_max.map_or(open, |d| d.0));
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "open_duration" | "open_duration_linear.initial" => {
                core(e, "open_duration", Got::Duration(open))
            }
            "open_duration_growing.factor" => {
                core(e, "open_duration_factor", Got::Int(u64::from(factor)))
            }
            "open_duration_growing.max" | "open_duration_linear.max" => {
                core(e, "open_duration_max", max)
            }
            "open_duration_table" => core(
                e,
                "open_durations",
                self.open_durations.map_or(Got::Missing, |t| t.got()),
            ),
            "half_open_probes" => core(
                e,
                "half_open_probes",
                Got::Int(u64::from(self.half_open_probes.unwrap_or(0))),
            ),
            "half_open_successes" => core(
                e,
                "half_open_successes",
                Got::Int(u64::from(self.half_open_successes.unwrap_or(1))),
            ),
            "probe_timeout" => core(
                e,
                "probe_timeout",
                self.probe_timeout
                    .map_or(Got::Missing, |d| Got::Duration(d.0)),
            ),
            "slow_calls.duration" => core(
                e,
                "slow_call_duration",
                self.slow_call_duration
                    .map_or(Got::Missing, |d| Got::Duration(d.0)),
            ),
            _ => core(e, "slow_call_rate", Got::Percent(slow_rate.0)),
        })
    }

    /// Every check that does not need the compiled policy type: the policy's
    /// fields against its kind (with the window the file states), then
    /// [`config`](Self::config).
    pub fn check(&self) -> Result<(), Invalid> {
        self.check_fields()?;
        match self.policy {
            PolicyKind::ConsecutiveFailures => ConsecutiveFailures::from_spec(self).map(drop)?,
            PolicyKind::FailureCount => FailureCount::from_spec(self).map(drop)?,
            PolicyKind::CountWindow => {
                // The compiled N is not known here: check with the stated
                // one, as CountWindow::<N>::builder()...build() would.
                CountWindow::<1>::from_spec(&BreakerSpec {
                    window: None,
                    minimum_calls: Some(1),
                    ..*self
                })
                .map(drop)?;
                let m = self.minimum_calls.unwrap_or(0);
                let stated = match self.window {
                    Some(WindowSpec::Calls(n)) => n,
                    _ => u64::MAX,
                };
                if m == 0 || u64::from(m) > stated {
                    // The core's own words for this rule: ask it with a
                    // minimum that no window of 1 call can hold.
                    if let Err(e) = CountWindow::<1>::builder()
                        .failure_rate(50)
                        .minimum_calls(2)
                        .build()
                    {
                        return Err(core(e, "minimum_calls", Got::Int(u64::from(m))));
                    }
                }
            }
            PolicyKind::TimeWindow => {
                TimeWindow::<1>::from_spec(&BreakerSpec {
                    buckets: None,
                    ..*self
                })
                .map(drop)?;
                if let (Some(WindowSpec::Time(d)), Some(b)) = (self.window, self.buckets) {
                    if b == 0 || d.0.as_ticks() < b {
                        return Err(core(
                            ConfigError::new("window", "be at least B ticks (one tick per bucket)"),
                            "window",
                            Got::Duration(d.0),
                        ));
                    }
                }
            }
        }
        self.make(None, true).map(drop)
    }

    /// The fields present and absent as the kind requires.
    fn check_fields(&self) -> Result<(), Invalid> {
        let kind = self.policy.policy();
        let threshold = self.failure_threshold.map(|n| Got::Int(u64::from(n)));
        let rate = self.failure_rate.map(|p| Got::Percent(p.0));
        let window = self.window.map(WindowSpec::got);
        let buckets = self.buckets.map(Got::Int);
        let minimum = self.minimum_calls.map(|n| Got::Int(u64::from(n)));
        let interval = self.interval.map(|d| Got::Duration(d.0));
        match self.policy {
            PolicyKind::ConsecutiveFailures | PolicyKind::FailureCount => {
                required(self.failure_threshold, "failure_threshold", kind)?;
                unused(rate, "failure_rate", kind)?;
                unused(window, "window", kind)?;
                unused(buckets, "buckets", kind)?;
                unused(minimum, "minimum_calls", kind)
            }
            PolicyKind::CountWindow | PolicyKind::TimeWindow => {
                unused(threshold, "failure_threshold", kind)?;
                unused(interval, "interval", kind)?;
                required(self.failure_rate, "failure_rate", kind)?;
                required(self.minimum_calls, "minimum_calls", kind)?;
                match (self.policy, self.window) {
                    (PolicyKind::CountWindow, Some(WindowSpec::Time(d))) => Err(Invalid::new(
                        "window",
                        Requirement::Kind("a number of calls"),
                        Got::Duration(d.0),
                    )),
                    (PolicyKind::CountWindow, _) => unused(buckets, "buckets", kind),
                    (_, Some(WindowSpec::Calls(n))) => Err(Invalid::new(
                        "window",
                        Requirement::Kind("a duration"),
                        Got::Int(n),
                    )),
                    (_, Some(WindowSpec::Time(_))) => Ok(()),
                    (_, None) => required(None::<u8>, "window", kind).map(drop),
                }
            }
        }
    }

    /// The typed policy `P`, checked against the file: the file's `policy`
    /// must be `P`'s kind, the sizes it states must be `P`'s.
    pub fn policy<P: BreakerPolicy>(&self) -> Result<P, Invalid> {
        if self.policy != P::KIND {
            return Err(Invalid::new(
                "policy",
                Requirement::Kind(P::KIND.quoted()),
                Got::Text(self.policy.name()),
            ));
        }
        self.check_fields()?;
        P::from_spec(self)
    }

    /// The typed breaker: [`config`](Self::config) and
    /// [`policy`](Self::policy), combined by [`CircuitBreaker::new`].
    pub fn build<P: BreakerPolicy>(&self) -> Result<CircuitBreaker<P>, Invalid> {
        self.build_with_table(None)
    }

    /// [`build`](Self::build), with `table` the `'static` copy of the
    /// file's `open_durations` (see [`config_with_table`](Self::config_with_table)).
    pub fn build_with_table<P: BreakerPolicy>(
        &self,
        table: Option<&'static [Duration]>,
    ) -> Result<CircuitBreaker<P>, Invalid> {
        let policy = self.policy::<P>()?;
        let config = self.config_with_table(table)?;
        CircuitBreaker::new(config, policy).map_err(|e| core(e, "policy", Got::Missing))
    }
}
