//! The adaptive timeout's and the hedge policy's file shapes.

use serde::{Deserialize, Serialize};

use super::rate::per_second;
use super::units::{Factor, HumanDuration, Percent, Quantile, Rate};
use super::{Got, Invalid, compiled, core};
use crate::latency::{AdaptiveTimeout, HedgePolicy, LatencyHistogram, hedge, timeout};
use crate::time::Duration;

/// The histogram's sizes a file may state, checked against the compiled
/// `P`, `B` and `S` of `LatencyHistogram<P, B, S>`.
fn sizes<const P: u32, const B: usize, const S: usize>(
    precision_bits: Option<u64>,
    buckets: Option<u64>,
    slots: Option<u64>,
) -> Result<(), Invalid> {
    compiled(
        precision_bits,
        P as usize,
        "precision_bits",
        "the histogram's precision (bits)",
    )?;
    compiled(buckets, B, "buckets", "the histogram's bucket count")?;
    compiled(slots, S, "slots", "the window's slot count")
}

/// The window's check without the compiled `S`: at least `slots - 1`
/// ticks with the slot count the file states, at least 1 tick (any `S`
/// needs that much) when it states none; in the core's words.
fn check_window(window: Duration, slots: Option<u64>) -> Result<(), Invalid> {
    let parts = slots.unwrap_or(2).saturating_sub(1).max(1);
    if window.as_ticks() < parts {
        if let Err(e) = LatencyHistogram::<1, 2, 2>::new(Duration::from_ticks(0)) {
            return Err(core(e, "window", Got::Duration(window)));
        }
    }
    Ok(())
}

/// One adaptive timeout in a file ([`AdaptiveTimeout`]:
/// `clamp(quantile x multiplier + margin, min, max)`, `initial` until the
/// window holds `min_samples` latencies).
///
/// ```toml
/// initial = "500ms"       # before there are enough samples
/// min = "10ms"
/// max = "2s"
/// window = "60s"          # how long a latency counts
/// quantile = "p99"        # optional, default p99 (or "99.9%")
/// multiplier = 2          # optional, default 2 (or "3/2")
/// margin = "5ms"          # optional, default 0s
/// min_samples = 100       # optional, default 100
/// precision_bits = 5      # optional: must equal the compiled P ...
/// buckets = 464           # ... B ...
/// slots = 5               # ... and S of AdaptiveTimeout<P, B, S>
/// ```
///
/// ```
/// use fusebox::config::AdaptiveTimeoutSpec;
/// use fusebox::latency::AdaptiveTimeout;
///
/// let spec: AdaptiveTimeoutSpec = serde_json::from_str(
///     r#"{ "initial": "500ms", "min": "10ms", "max": "2s", "window": "60s", "slots": 4 }"#,
/// ).unwrap();
/// let err = spec.build::<5, 464, 5>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "slots: must equal 5, the window's slot count compiled into the program's type, got 4"
/// );
/// assert!(spec.build::<5, 464, 4>().is_ok());
/// let _: Result<AdaptiveTimeout<4, 176, 4>, _> = spec.build();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct AdaptiveTimeoutSpec {
    /// The timeout until the window holds `min_samples` latencies.
    pub initial: HumanDuration,
    /// The shortest timeout.
    pub min: HumanDuration,
    /// The longest timeout.
    pub max: HumanDuration,
    /// How long a recorded latency counts.
    pub window: HumanDuration,
    /// The quantile the timeout follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<Quantile>,
    /// The factor on the quantile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<Factor>,
    /// Added after the factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<HumanDuration>,
    /// Latencies the window must hold before the timeout leaves `initial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    /// The histogram's precision in bits, when the file states it: must
    /// equal the compiled `P`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_bits: Option<u64>,
    /// The histogram's bucket count, when stated: must equal `B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u64>,
    /// The window's slot count, when stated: must equal `S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u64>,
}

impl AdaptiveTimeoutSpec {
    /// The [`timeout::Config`], checked by [`timeout::Config::validate`].
    pub fn config(&self) -> Result<timeout::Config, Invalid> {
        let mut c = timeout::Config::new(self.initial.0, self.min.0, self.max.0);
        if let Some(q) = self.quantile {
            c = c.quantile(q.0);
        }
        if let Some(f) = self.multiplier {
            c = c.multiplier(f.num, f.den);
        }
        if let Some(m) = self.margin {
            c = c.margin(m.0);
        }
        if let Some(n) = self.min_samples {
            c = c.min_samples(n);
        }
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "quantile" => core(
                e,
                "quantile",
                self.quantile.map_or(Got::Missing, Got::Quantile),
            ),
            "multiplier" => core(
                e,
                "multiplier",
                self.multiplier.map_or(Got::Missing, Got::Factor),
            ),
            "min" => core(e, "min", Got::Duration(self.min.0)),
            _ => core(e, "initial", Got::Duration(self.initial.0)),
        })
    }

    /// Every check that does not need the compiled sizes (the window with
    /// the slot count the file states).
    pub fn check(&self) -> Result<(), Invalid> {
        self.config()?;
        check_window(self.window.0, self.slots)
    }

    /// The timeout, its histogram's sizes checked against the file's.
    pub fn build<const P: u32, const B: usize, const S: usize>(
        &self,
    ) -> Result<AdaptiveTimeout<P, B, S>, Invalid> {
        sizes::<P, B, S>(self.precision_bits, self.buckets, self.slots)?;
        let c = self.config()?;
        AdaptiveTimeout::new(c, self.window.0)
            .map_err(|e| core(e, "window", Got::Duration(self.window.0)))
    }
}

/// One hedge policy in a file ([`HedgePolicy`]: hedge after a quantile of
/// recent latency, under a budget).
///
/// ```toml
/// window = "60s"          # how long a latency and a budget deposit count
/// quantile = "p95"        # optional, default p95
/// max_hedges = 1          # optional, default 1 (1..=255)
/// budget_percent = "10%"  # optional, default 10 %: hedges per 100 requests (0..=1000 %)
/// budget_floor = "0/s"    # optional, default none: hedges per second on top
/// min_samples = 20        # optional, default 20
/// min_delay = "1ms"       # optional, default 1 tick
/// precision_bits = 5      # optional: must equal the compiled P, B and S
/// buckets = 464
/// slots = 5
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct HedgeSpec {
    /// How long a recorded latency and a budget deposit count.
    pub window: HumanDuration,
    /// The quantile of recent latency after which a hedge is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<Quantile>,
    /// The most hedges per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hedges: Option<u8>,
    /// Hedges per 100 recorded requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_percent: Option<Percent>,
    /// Hedges per second allowed on top (a whole number per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_floor: Option<Rate>,
    /// Samples the window must hold before any hedge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    /// The shortest delay before a hedge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_delay: Option<HumanDuration>,
    /// The histogram's precision in bits, when stated: must equal `P`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_bits: Option<u64>,
    /// The histogram's bucket count, when stated: must equal `B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u64>,
    /// The window's slot count, when stated: must equal `S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u64>,
}

impl HedgeSpec {
    /// The [`hedge::Config`], checked by [`hedge::Config::validate`].
    pub fn config(&self) -> Result<hedge::Config, Invalid> {
        let d = hedge::Config::new();
        let mut c = d;
        if let Some(q) = self.quantile {
            c = c.quantile(q.0);
        }
        if let Some(n) = self.max_hedges {
            c = c.max_hedges(n);
        }
        let floor = match self.budget_floor {
            Some(r) => per_second(
                r,
                "budget_floor",
                "be a whole number of hedges per second, e.g. \"10/s\"",
            )?,
            None => 0,
        };
        let percent = self.budget_percent.map_or(10, |p| p.0);
        if self.budget_percent.is_some() || self.budget_floor.is_some() {
            c = c.budget_percent(percent).min_hedges_per_sec(floor);
        }
        if let Some(n) = self.min_samples {
            c = c.min_samples(n);
        }
        if let Some(m) = self.min_delay {
            c = c.min_delay(m.0);
        }
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "quantile" => core(
                e,
                "quantile",
                self.quantile.map_or(Got::Missing, Got::Quantile),
            ),
            "max_hedges" => core(
                e,
                "max_hedges",
                Got::Int(u64::from(self.max_hedges.unwrap_or(0))),
            ),
            _ => core(e, "budget_percent", Got::Percent(percent)),
        })
    }

    /// Every check that does not need the compiled sizes (the window with
    /// the slot count the file states).
    pub fn check(&self) -> Result<(), Invalid> {
        self.config()?;
        check_window(self.window.0, self.slots)
    }

    /// The hedge policy, its histogram's sizes checked against the file's.
    pub fn build<const P: u32, const B: usize, const S: usize>(
        &self,
    ) -> Result<HedgePolicy<P, B, S>, Invalid> {
        sizes::<P, B, S>(self.precision_bits, self.buckets, self.slots)?;
        let c = self.config()?;
        HedgePolicy::new(c, self.window.0)
            .map_err(|e| core(e, "window", Got::Duration(self.window.0)))
    }
}
