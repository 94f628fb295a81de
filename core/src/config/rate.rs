//! The rate limiters' and the retry budget's file shapes.

use core::hash::Hash;

use serde::{Deserialize, Serialize};

use super::units::{HumanDuration, Percent, Rate};
use super::{Got, Invalid, compiled, core};
use crate::hash::Seed;
use crate::rate::{ConcurrentRetryBudget, KeyedLimiter, Quota, RetryBudget, TokenBucket, WhenFull};

/// `rate` as a whole number per second (a budget's floor), exactly; the
/// error names `field`, and says `whole` when the rate is not whole.
pub(super) fn per_second(
    rate: Rate,
    field: &'static str,
    whole: &'static str,
) -> Result<u32, Invalid> {
    let second = u128::from(crate::time::Duration::from_secs(1).as_ticks());
    let per = u128::from(rate.per.as_ticks());
    let top = u128::from(rate.count).saturating_mul(second);
    match (top.checked_div(per), top.checked_rem(per)) {
        (Some(n), Some(0)) => u32::try_from(n).map_err(|_| {
            core(
                crate::ConfigError::new(field, "be at most 4294967295 per second"),
                field,
                Got::Rate(rate),
            )
        }),
        _ => Err(core(
            crate::ConfigError::new(field, whole),
            field,
            Got::Rate(rate),
        )),
    }
}

/// One token bucket in a file: `rate = "100/s"`, `burst = 20`.
///
/// `burst` is the bucket's whole capacity (a full bucket admits `burst` at
/// once), as [`Quota`] defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct LimiterSpec {
    /// Tokens per period, e.g. `"100/s"`.
    pub rate: Rate,
    /// The bucket's capacity in tokens.
    pub burst: u32,
}

fn quota(rate: Rate, burst: u32) -> Result<Quota, Invalid> {
    Quota::per_period(rate.count, rate.per)
        .allow_burst(burst)
        .build()
        .map_err(|e| match e.field() {
            "burst" => core(e, "burst", Got::Int(u64::from(burst))),
            _ => core(e, "rate", Got::Rate(rate)),
        })
}

impl LimiterSpec {
    /// The [`Quota`], checked by [`QuotaBuilder::build`](crate::rate::QuotaBuilder::build).
    pub fn quota(&self) -> Result<Quota, Invalid> {
        quota(self.rate, self.burst)
    }

    /// Every check ([`quota`](Self::quota)).
    pub fn check(&self) -> Result<(), Invalid> {
        self.quota().map(drop)
    }

    /// A full [`TokenBucket`] with this quota.
    pub fn build(&self) -> Result<TokenBucket, Invalid> {
        self.quota().map(TokenBucket::new)
    }
}

/// [`WhenFull`] in a file: `"reject_new"` or `"evict_least_recent"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum WhenFullSpec {
    /// [`WhenFull::RejectNew`] (the default: the per-key law holds for
    /// every key).
    #[default]
    RejectNew,
    /// [`WhenFull::EvictLeastRecent`].
    EvictLeastRecent,
}

impl From<WhenFullSpec> for WhenFull {
    fn from(w: WhenFullSpec) -> Self {
        match w {
            WhenFullSpec::RejectNew => WhenFull::RejectNew,
            WhenFullSpec::EvictLeastRecent => WhenFull::EvictLeastRecent,
        }
    }
}

/// One keyed limiter in a file: a bucket per key.
///
/// ```toml
/// rate = "10/s"
/// burst = 10
/// capacity = 1024           # optional: must equal the compiled N
/// when_full = "reject_new"  # or "evict_least_recent" (default reject_new)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct KeyedLimiterSpec {
    /// Tokens per period for each key.
    pub rate: Rate,
    /// Each key's bucket capacity.
    pub burst: u32,
    /// The number of keys tracked, when the file states it: must equal the
    /// compiled `N` of [`KeyedLimiter<K, N>`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// What a new key meets when its window is busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_full: Option<WhenFullSpec>,
}

impl KeyedLimiterSpec {
    /// The per-key [`Quota`].
    pub fn quota(&self) -> Result<Quota, Invalid> {
        quota(self.rate, self.burst)
    }

    /// Every check that does not need the compiled capacity.
    pub fn check(&self) -> Result<(), Invalid> {
        self.quota().map(drop)
    }

    /// The limiter, its capacity checked against the file's; the seed is
    /// the process's secret, never in a file.
    pub fn build<K: Hash + Eq, const N: usize>(
        &self,
        seed: Seed,
    ) -> Result<KeyedLimiter<K, N>, Invalid> {
        compiled(self.capacity, N, "capacity", "the table's capacity (keys)")?;
        let quota = self.quota()?;
        Ok(KeyedLimiter::new(
            quota,
            seed,
            self.when_full.unwrap_or_default().into(),
        ))
    }
}

/// One retry budget in a file (Finagle's `RetryBudget`).
///
/// ```toml
/// percent = "20%"   # retries as a share of recent successes (0..=1000 %)
/// floor = "10/s"    # plus this many retries per second
/// ttl = "10s"       # how long a success pays for retries
/// slices = 10       # optional: must equal the compiled S
/// ```
///
/// `floor` must be a whole number per second (`"10/s"`, `"600/min"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct RetryBudgetSpec {
    /// Retries allowed per 100 successes.
    pub percent: Percent,
    /// Retries per second allowed on top.
    pub floor: Rate,
    /// The lifetime of a deposit.
    pub ttl: HumanDuration,
    /// The number of slices the TTL is cut into, when the file states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<u64>,
}

impl RetryBudgetSpec {
    /// The floor in retries per second, exactly.
    fn floor_per_second(&self) -> Result<u32, Invalid> {
        per_second(
            self.floor,
            "floor",
            "be a whole number of retries per second, e.g. \"10/s\"",
        )
    }

    /// Every check that does not need the compiled slice count.
    pub fn check(&self) -> Result<(), Invalid> {
        self.build::<10>().map(drop).or_else(|e| match e.field {
            // The slice count is the compiled type's.
            "slices" => Ok(()),
            _ => Err(e),
        })
    }

    /// The budget, its slice count checked against the file's.
    pub fn build<const S: usize>(&self) -> Result<RetryBudget<S>, Invalid> {
        compiled(self.slices, S, "slices", "the number of slices")?;
        let floor = self.floor_per_second()?;
        RetryBudget::builder()
            .slices::<S>()
            .percent_can_retry(self.percent.0)
            .min_retries_per_sec(floor)
            .ttl(self.ttl.0)
            .build()
            .map_err(|e| match e.field() {
                "percent_can_retry" => core(e, "percent", Got::Percent(self.percent.0)),
                "ttl" => core(e, "ttl", Got::Duration(self.ttl.0)),
                _ => core(e, "slices", Got::Int(S as u64)),
            })
    }
}

/// One concurrency retry budget in a file (Envoy's `retry_budget`).
///
/// ```toml
/// budget_percent = "20%"       # retries in flight: at most this share of the requests in flight (0..=100 %)
/// min_retry_concurrency = 3    # and at least this many, whatever the requests
/// ```
///
/// ```
/// use fusebox::config::ConcurrentRetryBudgetSpec;
///
/// let spec: ConcurrentRetryBudgetSpec =
///     serde_json::from_str(r#"{ "budget_percent": "150%", "min_retry_concurrency": 3 }"#).unwrap();
/// assert_eq!(
///     spec.build().unwrap_err().to_string(),
///     "budget_percent: must be in 0..=100 (percent of the requests in flight), got 150"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct ConcurrentRetryBudgetSpec {
    /// Retries in flight per 100 requests in flight.
    pub budget_percent: Percent,
    /// Retries in flight always allowed.
    pub min_retry_concurrency: u32,
}

impl ConcurrentRetryBudgetSpec {
    /// Every check ([`build`](Self::build) needs no compiled size).
    pub fn check(&self) -> Result<(), Invalid> {
        self.build().map(drop)
    }

    /// The budget, with no request in flight.
    pub fn build(&self) -> Result<ConcurrentRetryBudget, Invalid> {
        let got = Got::Percent(self.budget_percent.0);
        // Over 255 cannot reach the core's u8: refused with its words.
        let percent = u8::try_from(self.budget_percent.0).unwrap_or(u8::MAX);
        ConcurrentRetryBudget::builder()
            .budget_percent(percent)
            .min_retry_concurrency(self.min_retry_concurrency)
            .build()
            .map_err(|e| core(e, "budget_percent", got))
    }
}
