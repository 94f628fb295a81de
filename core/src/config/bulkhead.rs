//! The bulkheads' file shapes.

use serde::{Deserialize, Serialize};

use super::units::{HumanDuration, Percent};
use super::{Got, Invalid, core};
use crate::bulkhead::{AdaptiveLimit, AimdConfig, Bulkhead};

/// One bulkhead in a file: `max_concurrent_calls = 10` (resilience4j's
/// name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct BulkheadSpec {
    /// The most calls in flight at once.
    pub max_concurrent_calls: u32,
}

impl BulkheadSpec {
    /// Every check ([`Bulkhead::new`]'s).
    pub fn check(&self) -> Result<(), Invalid> {
        self.build().map(drop)
    }

    /// The limit, checked ([`set_limit`](Bulkhead::set_limit) takes it
    /// for a `SharedBulkhead` too).
    pub fn limit(&self) -> Result<u32, Invalid> {
        self.check().map(|()| self.max_concurrent_calls)
    }

    /// A [`Bulkhead`] with this limit.
    pub fn build(&self) -> Result<Bulkhead, Invalid> {
        Bulkhead::new(self.max_concurrent_calls).map_err(|e| {
            core(
                e,
                "max_concurrent_calls",
                Got::Int(u64::from(self.max_concurrent_calls)),
            )
        })
    }
}

/// One AIMD adaptive limit in a file; every field optional, defaulting to
/// [`AimdConfig::new`]'s.
///
/// ```toml
/// min = 1
/// max = 200
/// initial = 20
/// increase = 1
/// backoff = "90%"           # the share of the limit kept on a drop
/// latency_target = "5s"
/// decrease_cooldown = "0s"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct AdaptiveLimitSpec {
    /// The lowest limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The highest limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// The starting limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<u32>,
    /// Growth per success under the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increase: Option<u16>,
    /// The share of the limit kept on a drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Percent>,
    /// A success slower than this counts as a drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_target: Option<HumanDuration>,
    /// Ignore further drops this long after a decrease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decrease_cooldown: Option<HumanDuration>,
}

impl AdaptiveLimitSpec {
    /// The [`AimdConfig`], checked by [`AimdConfig::validate`].
    pub fn config(&self) -> Result<AimdConfig, Invalid> {
        let d = AimdConfig::new();
        let (min, max) = (self.min.unwrap_or(1), self.max.unwrap_or(200));
        let initial = self.initial.unwrap_or(20);
        let mut c = d.limits(min, max).initial(initial);
        if let Some(step) = self.increase {
            c = c.increase(step);
        }
        if let Some(p) = self.backoff {
            c = c.backoff_percent(p.saturating_u8());
        }
        if let Some(t) = self.latency_target {
            c = c.latency_target(t.0);
        }
        if let Some(t) = self.decrease_cooldown {
            c = c.decrease_cooldown(t.0);
        }
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "limits.min" => core(e, "min", Got::Int(u64::from(min))),
            "limits.max" => core(e, "max", Got::Int(u64::from(max))),
            "initial" => core(e, "initial", Got::Int(u64::from(initial))),
            "increase" => core(
                e,
                "increase",
                Got::Int(u64::from(self.increase.unwrap_or(0))),
            ),
            "backoff_percent" => core(e, "backoff", Got::Percent(self.backoff.map_or(0, |p| p.0))),
            _ => core(
                e,
                "latency_target",
                self.latency_target
                    .map_or(Got::Missing, |d| Got::Duration(d.0)),
            ),
        })
    }

    /// Every check ([`config`](Self::config)).
    pub fn check(&self) -> Result<(), Invalid> {
        self.config().map(drop)
    }

    /// The [`AdaptiveLimit`].
    pub fn build(&self) -> Result<AdaptiveLimit, Invalid> {
        let c = self.config()?;
        AdaptiveLimit::new(c).map_err(|e| core(e, "initial", Got::Missing))
    }
}
