//! The bulkheads and the adaptive limit, restated: [`Counter`] (a limit and
//! a count) and [`Aimd`] (the AIMD law over `u128`).

use fusebox::bulkhead::{Outcome, Rejected};

/// A bulkhead (`Bulkhead` or `SharedBulkhead`): a limit and a count; admit
/// iff `in_use < limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The limit.
    pub limit: u32,
    /// Permits (or tokens) out.
    pub in_use: u32,
}

impl Counter {
    /// `new(limit)` with nothing out.
    pub fn new(limit: u32) -> Self {
        Self { limit, in_use: 0 }
    }

    /// `try_acquire()`.
    pub fn acquire(&mut self) -> Result<(), Rejected> {
        if self.in_use < self.limit {
            self.in_use += 1;
            Ok(())
        } else {
            Err(Rejected { limit: self.limit })
        }
    }

    /// A permit (or token) given back.
    pub fn release(&mut self) {
        self.in_use -= 1;
    }

    /// `set_limit(limit)`: the old limit, or the field refused (0 is).
    pub fn set_limit(&mut self, limit: u32) -> Result<u32, &'static str> {
        if limit == 0 {
            return Err("limit");
        }
        Ok(std::mem::replace(&mut self.limit, limit))
    }

    /// `available()`: `limit - in_use`, saturating.
    pub fn available(&self) -> u32 {
        self.limit.saturating_sub(self.in_use)
    }
}

/// `AdaptiveLimit`'s AIMD law, written plainly over `u128` with `Option`
/// for "never decreased". A `now` earlier than the latest seen is judged at
/// the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aimd {
    /// The lowest limit.
    pub min: u128,
    /// The highest limit.
    pub max: u128,
    /// Added per success (under the latency target, with enough in flight).
    pub step: u128,
    /// Percent kept per decrease.
    pub percent: u128,
    /// A success slower than this counts as a drop, in ticks.
    pub target: u64,
    /// Ticks after a decrease during which no other decrease happens.
    pub cooldown: u64,
    /// The limit.
    pub limit: u128,
    /// When the limit last decreased.
    pub last_decrease: Option<u64>,
    /// The latest instant seen.
    pub latest: u64,
}

impl Aimd {
    /// The law for `AimdConfig` `limits(min, max)`, `initial(initial)`,
    /// `increase(step)`, `backoff_percent(percent)`,
    /// `latency_target(target)`, `decrease_cooldown(cooldown)` (a valid one).
    pub fn new(
        (min, max): (u32, u32),
        initial: u32,
        step: u16,
        percent: u8,
        target: u64,
        cooldown: u64,
    ) -> Self {
        Self {
            min: min.into(),
            max: max.into(),
            step: step.into(),
            percent: percent.into(),
            target,
            cooldown,
            limit: initial.into(),
            last_decrease: None,
            latest: 0,
        }
    }

    /// `record` (`in_flight` = `None`) or `record_in_flight`.
    pub fn record(&mut self, outcome: Outcome, latency: u64, in_flight: Option<u32>, now: u64) {
        let now = now.max(self.latest);
        self.latest = now;
        let drop = match outcome {
            Outcome::Ignored => return,
            Outcome::Dropped => true,
            Outcome::Success => latency > self.target,
        };
        if drop {
            let cooling = self
                .last_decrease
                .is_some_and(|t| now.saturating_sub(t) < self.cooldown);
            if !cooling {
                let to = (self.limit * self.percent / 100).max(self.min);
                if to != self.limit {
                    self.limit = to;
                    self.last_decrease = Some(now);
                }
            }
        } else if in_flight.is_none_or(|n| 2 * n as u128 >= self.limit) {
            self.limit = (self.limit + self.step).min(self.max);
        }
    }
}
