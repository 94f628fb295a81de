//! Backoff, restated: [`Schedule`] computes the un-jittered delay of each
//! retry the slow way (`u128`, step by step, no saturation tricks).

/// How the un-jittered delay grows per retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// `Config::constant(initial)`.
    Constant,
    /// `Config::linear(initial, step, cap)`: `step` ticks more per retry.
    Linear(u64),
    /// `Config::exponential(initial, factor, cap)`.
    Exp(u32),
    /// `Config::exponential_ratio(initial, num, den, cap)`: times
    /// `num / den`, rounded up.
    Ratio(u32, u32),
}

/// A backoff schedule before jitter and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How it grows.
    pub growth: Growth,
    /// The first delay, in ticks.
    pub initial: u64,
    /// The cap, in ticks (a constant schedule's cap is its `initial`).
    pub cap: u64,
}

impl Schedule {
    /// The cap the delays never pass (unless a hint asks).
    pub fn cap(&self) -> u64 {
        match self.growth {
            Growth::Constant => self.initial,
            _ => self.cap,
        }
    }

    /// The un-jittered value of retry `n` (0-based).
    pub fn value(&self, n: u32) -> u64 {
        let cap = u128::from(self.cap());
        let mut v = u128::from(self.initial).min(cap);
        for _ in 0..n {
            let next = match self.growth {
                Growth::Constant => v,
                Growth::Linear(step) => v + u128::from(step),
                Growth::Exp(f) => v * u128::from(f),
                Growth::Ratio(num, den) => (v * u128::from(num)).div_ceil(u128::from(den.max(1))),
            }
            .min(cap);
            // At the cap, or a schedule that no longer moves: it stays.
            if next == cap || next == v {
                v = next;
                break;
            }
            v = next;
        }
        v as u64
    }
}
