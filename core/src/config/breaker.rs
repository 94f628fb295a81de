//! The breaker's file shape.

use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};

use super::units::{HumanDuration, Percent, parse_duration};
use super::{Got, Invalid, Requirement, compiled, core, required, unused};
use crate::breaker::{
    CircuitBreaker, Config, ConsecutiveFailures, CountWindow, Policy, TimeWindow,
};
use crate::time::Duration;

/// Which failure policy a breaker judges with (the `policy` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// [`ConsecutiveFailures`]: `failure_threshold`.
    ConsecutiveFailures,
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
            PolicyKind::CountWindow => "count_window",
            PolicyKind::TimeWindow => "time_window",
        }
    }
    const fn quoted(self) -> &'static str {
        match self {
            PolicyKind::ConsecutiveFailures => "\"consecutive_failures\"",
            PolicyKind::CountWindow => "\"count_window\"",
            PolicyKind::TimeWindow => "\"time_window\"",
        }
    }
    const fn policy(self) -> &'static str {
        match self {
            PolicyKind::ConsecutiveFailures => "policy consecutive_failures",
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

/// One circuit breaker in a file: its [`Config`] and its failure policy,
/// flat as resilience4j's properties are.
///
/// ```toml
/// policy = "count_window"        # or "consecutive_failures", "time_window"
/// window = 20                    # calls (count_window) or a duration (time_window)
/// failure_rate = "50%"
/// minimum_calls = 10
/// open_duration = "30s"          # optional, default 30s
/// open_duration_factor = 2       # optional: grow on each trip without a close ...
/// open_duration_max = "5min"     # ... up to this
/// half_open_probes = 1           # optional, default 1
/// half_open_successes = 1        # optional, default 1
/// probe_timeout = "10s"          # optional, default 10s
/// slow_call_duration = "2s"      # optional: calls this long count as slow ...
/// slow_call_rate = "80%"         # ... and this share of slow calls trips (default 100%)
/// ```
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
    /// Open for this long after a trip (the first trip, when it grows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration: Option<HumanDuration>,
    /// Grow the open duration by this factor per trip without a close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration_factor: Option<u32>,
    /// The longest open duration when it grows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_duration_max: Option<HumanDuration>,
    /// Probes at a time in HalfOpen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_probes: Option<u16>,
    /// Probe successes to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_successes: Option<u16>,
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
        ConsecutiveFailures::new(n)
            .map_err(|e| core(e, "failure_threshold", Got::Int(u64::from(n))))
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
        CountWindow::new(rate.saturating_u8(), minimum).map_err(|e| match e.field() {
            "minimum_calls" => core(e, "minimum_calls", Got::Int(u64::from(minimum))),
            "failure_percent" => core(e, "failure_rate", Got::Percent(rate.0)),
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
        TimeWindow::new(window, rate.saturating_u8(), minimum).map_err(|e| match e.field() {
            "minimum_calls" => core(e, "minimum_calls", Got::Int(u64::from(minimum))),
            "failure_percent" => core(e, "failure_rate", Got::Percent(rate.0)),
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
            open_duration: None,
            open_duration_factor: None,
            open_duration_max: None,
            half_open_probes: None,
            half_open_successes: None,
            probe_timeout: None,
            slow_call_duration: None,
            slow_call_rate: None,
        }
    }

    /// The breaker's [`Config`], checked by [`Config::validate`].
    pub fn config(&self) -> Result<Config, Invalid> {
        let defaults = Config::new();
        let mut c = defaults;
        let open = self.open_duration.map_or(Duration::from_secs(30), |d| d.0);
        let factor = self.open_duration_factor.unwrap_or(1);
        match (self.open_duration_factor, self.open_duration_max) {
            (None, None) => c = c.open_duration(open),
            _ => {
                let max = self.open_duration_max.map_or(open, |d| d.0);
                c = c.open_duration_growing(open, factor, max);
            }
        }
        if let Some(k) = self.half_open_probes {
            c = c.half_open_probes(k);
        }
        if let Some(s) = self.half_open_successes {
            c = c.half_open_successes(s);
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
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "open_duration" => core(e, "open_duration", Got::Duration(open)),
            "open_duration_growing.factor" => {
                core(e, "open_duration_factor", Got::Int(u64::from(factor)))
            }
            "open_duration_growing.max" => core(
                e,
                "open_duration_max",
                Got::Duration(self.open_duration_max.map_or(open, |d| d.0)),
            ),
            "half_open_probes" => core(
                e,
                "half_open_probes",
                Got::Int(u64::from(self.half_open_probes.unwrap_or(0))),
            ),
            "half_open_successes" => core(
                e,
                "half_open_successes",
                Got::Int(u64::from(self.half_open_successes.unwrap_or(0))),
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
            PolicyKind::CountWindow => {
                // The compiled N is not known here: check with the stated
                // one, as CountWindow::<N>::new would.
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
                    if let Err(e) = CountWindow::<1>::new(50, 2) {
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
                            crate::ConfigError::new(
                                "window",
                                "be at least B ticks (one tick per bucket)",
                            ),
                            "window",
                            Got::Duration(d.0),
                        ));
                    }
                }
            }
        }
        self.config().map(drop)
    }

    /// The fields present and absent as the kind requires.
    fn check_fields(&self) -> Result<(), Invalid> {
        let kind = self.policy.policy();
        let threshold = self.failure_threshold.map(|n| Got::Int(u64::from(n)));
        let rate = self.failure_rate.map(|p| Got::Percent(p.0));
        let window = self.window.map(WindowSpec::got);
        let buckets = self.buckets.map(Got::Int);
        let minimum = self.minimum_calls.map(|n| Got::Int(u64::from(n)));
        match self.policy {
            PolicyKind::ConsecutiveFailures => {
                required(self.failure_threshold, "failure_threshold", kind)?;
                unused(rate, "failure_rate", kind)?;
                unused(window, "window", kind)?;
                unused(buckets, "buckets", kind)?;
                unused(minimum, "minimum_calls", kind)
            }
            PolicyKind::CountWindow | PolicyKind::TimeWindow => {
                unused(threshold, "failure_threshold", kind)?;
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
        let policy = self.policy::<P>()?;
        let config = self.config()?;
        CircuitBreaker::new(config, policy).map_err(|e| core(e, "policy", Got::Missing))
    }
}
