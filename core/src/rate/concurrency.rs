//! Retry budget by concurrency: retries in flight as a share of requests in
//! flight, plus a minimum (Envoy's `retry_budget`).

use crate::ConfigError;

/// A retry budget in the manner of Envoy's `retry_budget`: retries in flight
/// may be at most `budget_percent` % of the requests in flight, and at least
/// `min_retry_concurrency` retries may always be in flight, so a client with
/// few requests can still retry.
///
/// Where [`RetryBudget`](super::RetryBudget) (Finagle's) bounds retries by
/// recent *successes* over time, this one bounds them by *concurrency*, at
/// every instant, and needs no clock: when a dependency fails hard, the
/// requests in flight are mostly retrying already, and further retries are
/// refused.
///
/// It counts four events, which the retry runner (`fusebox::retry`,
/// feature `async`) reports through its `Budget` trait: a request starts and finishes (once per caller's request, its
/// retries included), a retry starts ([`try_start_retry`](Self::try_start_retry),
/// which may refuse) and finishes.
///
/// *Concurrent* names what it bounds (retries in flight), not how it is
/// shared: like every plain-named type of the crate it is the `&mut`
/// variant. The core has no `&self` twin (it would be `Shared`-prefixed);
/// `fusebox_std::ConcurrentRetryBudget` shares this one behind a lock.
///
/// ```
/// use fusebox::rate::ConcurrentRetryBudget;
///
/// // Envoy's defaults: 20 % of the requests in flight, at least 3 retries.
/// let mut budget = ConcurrentRetryBudget::default();
/// for _ in 0..20 {
///     budget.request_started();
/// }
/// assert_eq!(budget.limit(), 4); // max(3, 20 % of 20)
/// for _ in 0..4 {
///     assert!(budget.try_start_retry());
/// }
/// assert!(!budget.try_start_retry()); // 4 of 4 in flight
/// budget.retry_finished();
/// assert!(budget.try_start_retry());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Law
///
/// With `Q` requests and `R` retries in flight, a retry may start when
///
/// ```text
/// R < max(min_retry_concurrency, floor(budget_percent x Q / 100))
/// ```
///
/// so, at every instant, `R <= max(min_retry_concurrency, floor(budget_percent
/// x Q / 100))` as long as requests do not finish before their retries (a
/// request that finishes lowers the limit, and the retries already in flight
/// keep running). The property test `tests/tests/budget.rs` checks each
/// decision against this formula on random event sequences.
///
/// # Transitions
///
/// | from | event | to |
/// |---|---|---|
/// | `Q`, `R` | [`request_started`](Self::request_started) | `Q + 1`, `R` |
/// | `Q`, `R` | [`request_finished`](Self::request_finished) | `Q - 1` (not below 0), `R` |
/// | `Q`, `R < limit(Q)` | [`try_start_retry`](Self::try_start_retry) | `Q`, `R + 1`; returns `true` |
/// | `Q`, `R >= limit(Q)` | [`try_start_retry`](Self::try_start_retry) | unchanged; returns `false` |
/// | `Q`, `R` | [`retry_finished`](Self::retry_finished) | `Q`, `R - 1` (not below 0) |
///
/// # Conventions
/// - `budget_percent` is of the requests in flight, the retrying ones
///   included (Envoy: of active and pending requests); `floor` rounds down.
/// - A retry is in flight from its admission (before its backoff wait)
///   until its attempt ends: a retry waiting out its backoff holds its
///   slot, so a storm of waiting retries is bounded too.
/// - The counts saturate: a finish without a start leaves 0, not a wrap;
///   `u32::MAX` starts stay at `u32::MAX`.
/// - No clock: the budget judges concurrency now, not a rate over time.
///
/// # Memory
///
/// 16 bytes on x86_64 and thumbv6m (two `u32` counts, the two settings). The
/// state a shared variant must pack is the two counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConcurrentRetryBudget {
    requests: u32,
    retries: u32,
    min_retry_concurrency: u32,
    budget_percent: u8,
}

impl Default for ConcurrentRetryBudget {
    /// Envoy's defaults: 20 % of the requests in flight, at least 3 retries.
    fn default() -> Self {
        Self {
            requests: 0,
            retries: 0,
            min_retry_concurrency: 3,
            budget_percent: 20,
        }
    }
}

/// A [`ConcurrentRetryBudget`] being built, with Envoy's names for its
/// parameters; it starts from Envoy's defaults (20 %, 3), and
/// [`build`](Self::build) checks the values.
///
/// ```
/// use fusebox::rate::ConcurrentRetryBudget;
///
/// let budget = ConcurrentRetryBudget::builder()
///     .budget_percent(25)
///     .min_retry_concurrency(1)
///     .build()?;
/// assert_eq!(budget.limit(), 1);
/// let err = ConcurrentRetryBudget::builder().budget_percent(101).build().unwrap_err();
/// assert_eq!(err.field(), "budget_percent");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a ConcurrentRetryBudgetBuilder does nothing until `build()` gives the budget"]
pub struct ConcurrentRetryBudgetBuilder {
    min_retry_concurrency: u32,
    budget_percent: u8,
}

impl ConcurrentRetryBudgetBuilder {
    /// Retries in flight allowed per 100 requests in flight, `0..=100`.
    /// Default 20.
    pub const fn budget_percent(mut self, percent: u8) -> Self {
        self.budget_percent = percent;
        self
    }

    /// Retries that may always be in flight, whatever the requests (0 for
    /// none). Default 3.
    pub const fn min_retry_concurrency(mut self, n: u32) -> Self {
        self.min_retry_concurrency = n;
        self
    }

    /// The budget, with nothing in flight; or `budget_percent` if it is
    /// above 100.
    pub const fn build(self) -> Result<ConcurrentRetryBudget, ConfigError> {
        if self.budget_percent > 100 {
            return Err(ConfigError::new(
                "budget_percent",
                "be in 0..=100 (percent of the requests in flight)",
            ));
        }
        Ok(ConcurrentRetryBudget {
            requests: 0,
            retries: 0,
            min_retry_concurrency: self.min_retry_concurrency,
            budget_percent: self.budget_percent,
        })
    }
}

impl ConcurrentRetryBudget {
    /// A [`ConcurrentRetryBudgetBuilder`] with Envoy's defaults: 20 % of
    /// the requests in flight, at least 3 retries.
    pub const fn builder() -> ConcurrentRetryBudgetBuilder {
        ConcurrentRetryBudgetBuilder {
            min_retry_concurrency: 3,
            budget_percent: 20,
        }
    }

    /// A request (the caller's, with all its attempts) has started.
    #[inline]
    pub fn request_started(&mut self) {
        self.requests = self.requests.saturating_add(1);
    }

    /// A request has finished, whatever its outcome.
    #[inline]
    pub fn request_finished(&mut self) {
        self.requests = self.requests.saturating_sub(1);
    }

    /// Start a retry if the budget allows one now: `true` (and the retry is
    /// in flight until [`retry_finished`](Self::retry_finished)), or `false`
    /// and nothing changes.
    #[inline]
    #[must_use = "retry only when the budget allowed it"]
    pub fn try_start_retry(&mut self) -> bool {
        if self.retries >= self.limit() {
            return false;
        }
        self.retries = self.retries.saturating_add(1);
        true
    }

    /// A retry started by [`try_start_retry`](Self::try_start_retry) has
    /// finished.
    #[inline]
    pub fn retry_finished(&mut self) {
        self.retries = self.retries.saturating_sub(1);
    }

    /// The most retries that may be in flight now:
    /// `max(min_retry_concurrency, floor(budget_percent x requests / 100))`.
    #[inline]
    pub fn limit(&self) -> u32 {
        // At most 100 x (2^32 - 1) / 100: fits in u32 again.
        let share = u64::from(self.requests)
            .saturating_mul(u64::from(self.budget_percent))
            .checked_div(100)
            .unwrap_or(0);
        let share = u32::try_from(share).unwrap_or(u32::MAX);
        share.max(self.min_retry_concurrency)
    }

    /// Requests in flight.
    pub const fn requests_in_flight(&self) -> u32 {
        self.requests
    }

    /// Retries in flight.
    pub const fn retries_in_flight(&self) -> u32 {
        self.retries
    }
}
