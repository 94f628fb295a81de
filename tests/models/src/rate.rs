//! The rate primitives, restated: [`Bucket`] (`TokenBucket`, exact
//! rationals), [`Budget`] (`RetryBudget`, the whole event log) and
//! [`ConcurrentBudget`] (`ConcurrentRetryBudget`, two counters and the
//! formula).

use fusebox::rate::{Quota, Rejected};
use fusebox::time::Duration;

/// The token bucket as textbook arithmetic on exact rationals: the bucket
/// holds `level / P` tokens (a fraction with denominator P, never rounded),
/// refills by `r / P` tokens per tick up to `b`, and admits `n` when it
/// holds at least `n`. It starts full at the first request. A `now`
/// earlier than the latest instant seen is judged as that latest instant
/// (the crate's rule for time that goes backwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens per period.
    pub r: u128,
    /// The period in ticks.
    pub p: u128,
    /// The burst (capacity) in tokens.
    pub b: u128,
    /// Tokens x P.
    pub level: u128,
    /// The latest instant seen, once one was.
    pub last: Option<u64>,
}

impl Bucket {
    /// A full bucket that has seen no time.
    pub fn new(q: Quota) -> Self {
        let (r, p, b) = (
            u128::from(q.rate()),
            u128::from(q.period().as_ticks()),
            u128::from(q.burst()),
        );
        Self {
            r,
            p,
            b,
            level: b * p,
            last: None,
        }
    }

    /// Refill up to `now`, or to the latest instant seen if that is later.
    pub fn refill(&mut self, now: u64) {
        if let Some(last) = self.last {
            let now = now.max(last);
            self.level = (self.level + u128::from(now - last) * self.r).min(self.b * self.p);
            self.last = Some(now);
        } else {
            self.last = Some(now);
        }
    }

    /// `try_acquire_n(n, now)`.
    pub fn try_acquire_n(&mut self, n: u32, now: u64) -> Result<(), Rejected> {
        self.refill(now);
        let n = u128::from(n);
        if n == 0 {
            return Ok(());
        }
        if n > self.b {
            return Err(Rejected { retry_after: None });
        }
        let need = n * self.p;
        if self.level >= need {
            self.level -= need;
            Ok(())
        } else {
            let wait = (need - self.level).div_ceil(self.r);
            Err(Rejected {
                retry_after: Some(Duration::from_ticks(wait.min(u128::from(u64::MAX)) as u64)),
            })
        }
    }

    /// `time_until(n, now)` as the model answers it, without changing the
    /// model: `Some(0)` when `try_acquire_n` would admit, `Some(wait)` when
    /// it would refuse with that hint, `None` when `n` is over the burst.
    pub fn time_until(&self, n: u32, now: u64) -> Option<Duration> {
        let mut probe = *self;
        match probe.try_acquire_n(n, now) {
            Ok(()) => Some(Duration::from_ticks(0)),
            Err(r) => r.retry_after,
        }
    }

    /// `available(now)`: whole tokens held.
    pub fn available(&mut self, now: u64) -> u32 {
        self.refill(now);
        (self.level / self.p) as u32
    }
}

/// What a [`Budget`] is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetOp {
    /// `deposit(now)`: one success.
    Deposit,
    /// `try_withdraw(now)`: one retry, if the budget holds one.
    Withdraw,
}

/// `RetryBudget<S>` as its docs define it, recomputed from the whole log:
/// deposits of `percent` hundredths, withdrawals of 100, each kept in the
/// slice (of `ceil(TTL / (S - 1))` ticks) it was made in and live while
/// fewer than `S` slices old, plus the floor's reserve
/// `floor(100 x floor x TTL / 1 s)` (clamped to `i64::MAX`, as the budget
/// stores it).
#[derive(Debug, Clone)]
pub struct Budget {
    /// Hundredths deposited per success.
    pub percent: i128,
    /// The floor's reserve, in hundredths.
    pub reserve: i128,
    /// Ticks per slice.
    pub slice: u64,
    /// S, the slices the TTL is cut into.
    pub slices: u64,
    /// (slice epoch, hundredths): deposits positive, granted retries -100.
    pub log: Vec<(u64, i128)>,
    /// The latest slice seen.
    pub latest: u64,
}

impl Budget {
    /// `RetryBudget::builder().slices::<slices>().percent_can_retry(percent).min_retries_per_sec(floor).ttl(ttl).build()` for a valid
    /// configuration, at the binary's tick rate.
    pub fn new(percent: u16, floor: u32, ttl: u64, slices: usize) -> Self {
        let parts = (slices as u64).saturating_sub(1).max(1);
        let second = i128::from(Duration::from_secs(1).as_ticks());
        Budget {
            percent: i128::from(percent),
            reserve: (100 * i128::from(floor) * i128::from(ttl) / second).min(i128::from(i64::MAX)),
            slice: ttl.div_ceil(parts).max(1),
            slices: slices as u64,
            log: Vec::new(),
            latest: 0,
        }
    }

    fn balance(&self, e: u64) -> i128 {
        let live: i128 = self
            .log
            .iter()
            .filter(|(at, _)| e - at < self.slices)
            .map(|(_, x)| x)
            .sum();
        live + self.reserve
    }

    /// Whole retries available at `t` (judged at the latest slice seen).
    pub fn available(&self, t: u64) -> u64 {
        let e = self.latest.max(t / self.slice);
        u64::try_from(self.balance(e) / 100).unwrap_or(0)
    }

    /// Apply `op` at `t`: whether it was granted (a deposit always is).
    pub fn apply(&mut self, op: BudgetOp, t: u64) -> bool {
        self.latest = self.latest.max(t / self.slice);
        let e = self.latest;
        match op {
            BudgetOp::Deposit => {
                self.log.push((e, self.percent));
                true
            }
            BudgetOp::Withdraw => {
                let ok = self.balance(e) >= 100;
                if ok {
                    self.log.push((e, -100));
                }
                ok
            }
        }
    }
}

/// `ConcurrentRetryBudget` as its docs define it: the requests `Q` and
/// retries `R` in flight (saturating at 0 and `u32::MAX`), and a retry
/// admitted iff `R < max(min_retry_concurrency, floor(percent x Q / 100))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrentBudget {
    /// `budget_percent`.
    pub percent: u8,
    /// `min_retry_concurrency`.
    pub min: u32,
    /// Requests in flight.
    pub requests: u64,
    /// Retries in flight.
    pub retries: u64,
}

impl ConcurrentBudget {
    /// `ConcurrentRetryBudget::builder().budget_percent(percent).min_retry_concurrency(min).build()` with nothing in flight.
    pub fn new(percent: u8, min: u32) -> Self {
        Self {
            percent,
            min,
            requests: 0,
            retries: 0,
        }
    }

    /// `limit()`: `max(min, floor(percent x Q / 100))`.
    pub fn limit(&self) -> u64 {
        (u64::from(self.percent) * self.requests / 100).max(u64::from(self.min))
    }

    /// `request_started()`.
    pub fn request_started(&mut self) {
        self.requests = (self.requests + 1).min(u64::from(u32::MAX));
    }

    /// `request_finished()`.
    pub fn request_finished(&mut self) {
        self.requests = self.requests.saturating_sub(1);
    }

    /// `try_start_retry()`.
    pub fn try_start_retry(&mut self) -> bool {
        let ok = self.retries < self.limit();
        if ok {
            self.retries = (self.retries + 1).min(u64::from(u32::MAX));
        }
        ok
    }

    /// `retry_finished()`.
    pub fn retry_finished(&mut self) {
        self.retries = self.retries.saturating_sub(1);
    }
}
