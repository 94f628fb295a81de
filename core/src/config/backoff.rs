//! The backoff schedule's file shape.

use serde::{Deserialize, Serialize};

use super::units::{Factor, HumanDuration};
use super::{Got, Invalid, Requirement, core, required, unused};
use crate::backoff::{Backoff, Config, Jitter};
use crate::time::Duration;

/// How the delays grow (the `schedule` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum ScheduleSpec {
    /// [`Config::constant`]: `delay`.
    Constant,
    /// [`Config::linear`]: `initial`, `step`, `cap`.
    Linear,
    /// [`Config::exponential_ratio`]: `initial`, `factor`, `cap`.
    Exponential,
}

impl ScheduleSpec {
    const fn name(self) -> &'static str {
        match self {
            ScheduleSpec::Constant => "schedule constant",
            ScheduleSpec::Linear => "schedule linear",
            ScheduleSpec::Exponential => "schedule exponential",
        }
    }
}

/// [`Jitter`] in a file: `"none"`, `"full"`, `"equal"`, `"decorrelated"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum JitterSpec {
    /// [`Jitter::None`].
    None,
    /// [`Jitter::Full`].
    Full,
    /// [`Jitter::Equal`].
    Equal,
    /// [`Jitter::Decorrelated`].
    Decorrelated,
}

impl From<JitterSpec> for Jitter {
    fn from(j: JitterSpec) -> Self {
        match j {
            JitterSpec::None => Jitter::None,
            JitterSpec::Full => Jitter::Full,
            JitterSpec::Equal => Jitter::Equal,
            JitterSpec::Decorrelated => Jitter::Decorrelated,
        }
    }
}

/// One backoff schedule in a file.
///
/// ```toml
/// schedule = "exponential"   # or "constant" (delay), "linear" (initial, step, cap)
/// initial = "100ms"
/// factor = 2                 # or "3/2"
/// cap = "5s"
/// jitter = "full"            # optional, default none
/// max_attempts = 4           # optional, default 4 (the first call counts)
/// total_delay_budget = "20s" # optional, default none
/// max_hint = "60s"           # optional, default 60s
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct BackoffSpec {
    /// How the delays grow.
    pub schedule: ScheduleSpec,
    /// `constant`: the delay before every retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<HumanDuration>,
    /// `linear`, `exponential`: the first delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<HumanDuration>,
    /// `linear`: added before each further retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<HumanDuration>,
    /// `exponential`: the growth per retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<Factor>,
    /// `linear`, `exponential`: the largest delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<HumanDuration>,
    /// How each delay is spread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterSpec>,
    /// At most this many calls in all, the first included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Stop when the delays would add up past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_delay_budget: Option<HumanDuration>,
    /// The longest retry-after hint honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hint: Option<HumanDuration>,
}

fn dur(d: Option<HumanDuration>) -> Got {
    d.map_or(Got::Missing, |d| Got::Duration(d.0))
}

impl BackoffSpec {
    /// The [`Config`], checked by [`Config::validate`].
    pub fn config(&self) -> Result<Config, Invalid> {
        let kind = self.schedule.name();
        let mut c = match self.schedule {
            ScheduleSpec::Constant => {
                unused(dur(self.initial).known(), "initial", kind)?;
                unused(dur(self.step).known(), "step", kind)?;
                unused(self.factor.map(Got::Factor), "factor", kind)?;
                unused(dur(self.cap).known(), "cap", kind)?;
                Config::constant(required(self.delay, "delay", kind)?.0)
            }
            ScheduleSpec::Linear => {
                unused(dur(self.delay).known(), "delay", kind)?;
                unused(self.factor.map(Got::Factor), "factor", kind)?;
                Config::linear(
                    required(self.initial, "initial", kind)?.0,
                    required(self.step, "step", kind)?.0,
                    required(self.cap, "cap", kind)?.0,
                )
            }
            ScheduleSpec::Exponential => {
                unused(dur(self.delay).known(), "delay", kind)?;
                unused(dur(self.step).known(), "step", kind)?;
                let f = required(self.factor, "factor", kind)?;
                Config::exponential_ratio(
                    required(self.initial, "initial", kind)?.0,
                    f.num,
                    f.den,
                    required(self.cap, "cap", kind)?.0,
                )
            }
        };
        if let Some(j) = self.jitter {
            c = c.jitter(j.into());
        }
        if let Some(n) = self.max_attempts {
            c = c.max_attempts(n);
        }
        if let Some(b) = self.total_delay_budget {
            c = c.total_delay_budget(b.0);
        }
        if let Some(h) = self.max_hint {
            c = c.max_hint(h.0);
        }
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "cap" => core(e, "cap", dur(self.cap)),
            "initial" => core(e, "initial", dur(self.initial.or(self.delay))),
            "factor" => core(e, "factor", self.factor.map_or(Got::Missing, Got::Factor)),
            "max_attempts" => core(
                e,
                "max_attempts",
                Got::Int(u64::from(self.max_attempts.unwrap_or(0))),
            ),
            _ => Invalid::new(e.field(), Requirement::Config(e), Got::Missing),
        })
    }

    /// Every check ([`config`](Self::config)).
    pub fn check(&self) -> Result<(), Invalid> {
        self.config().map(drop)
    }

    /// The schedule, seeded (the seed picks the jitter, not the file).
    pub fn build(&self, seed: u64) -> Result<Backoff, Invalid> {
        let c = self.config()?;
        Backoff::new(c, seed).map_err(|e| core(e, "schedule", Got::Missing))
    }
}

trait Known {
    fn known(self) -> Option<Got>;
}

impl Known for Got {
    fn known(self) -> Option<Got> {
        match self {
            Got::Missing => None,
            g => Some(g),
        }
    }
}

// `Duration` is named in the docs above.
const _: Duration = Duration::from_ticks(0);
