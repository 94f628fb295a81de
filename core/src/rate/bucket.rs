//! The `&mut self` [`TokenBucket`].

use super::gcra::{self, ExceedsBurst, Rejected};
use super::quota::Quota;
use crate::time::{self, Duration, Instant};

/// A token bucket kept as GCRA: one theoretical arrival time, exact in
/// integers. See the [module docs](super) for the law it keeps.
///
/// ```
/// use fusebox::rate::{Quota, TokenBucket};
/// use fusebox::time::{Duration, Instant};
///
/// // 2 tokens per 5 ticks, burst 3.
/// let mut bucket = TokenBucket::new(Quota::per_period(2, Duration::from_ticks(5)).allow_burst(3).build()?);
/// let t = Instant::from_ticks;
/// assert!(bucket.try_acquire_n(3, t(0)).is_ok()); // starts full
/// let no = bucket.try_acquire(t(0)).unwrap_err();
/// assert_eq!(no.retry_after, Some(Duration::from_ticks(3))); // 5/2 ticks, rounded up
/// assert_eq!(bucket.time_until(2, t(0)), Ok(Duration::from_ticks(5)));
/// assert!(bucket.try_acquire(t(3)).is_ok());
/// assert!(bucket.time_until(4, t(3)).is_err()); // more than the burst: never
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenBucket {
    // The theoretical arrival time in units of 1/rate tick, split in two
    // words so the bucket aligns to 8 on every target.
    tat_lo: u64,
    tat_hi: u64,
    quota: Quota,
    // The latest instant seen (admitted or refused): an earlier `now` is
    // judged at it. The TAT alone cannot hold it: a burst pushes the TAT
    // past any instant seen, and a refusal leaves it unchanged.
    latest: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub const fn new(quota: Quota) -> Self {
        Self {
            tat_lo: 0,
            tat_hi: 0,
            quota,
            latest: Instant::from_ticks(0),
        }
    }

    #[inline(always)]
    const fn tat(&self) -> u128 {
        ((self.tat_hi as u128) << 64) | self.tat_lo as u128
    }

    #[inline(always)]
    fn set_tat(&mut self, tat: u128) {
        self.tat_lo = tat as u64;
        self.tat_hi = (tat >> 64) as u64;
    }

    /// Take one token at `now`, or be told how long until there is one.
    #[inline]
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Rejected> {
        let now = time::observe(&mut self.latest, now);
        let tat = gcra::decide(&self.quota, self.tat(), 1, now)?;
        self.set_tat(tat);
        Ok(())
    }

    /// Take `n` tokens at once at `now`, or none. `n = 0` is always
    /// admitted and takes nothing; `n` above the burst is never admitted
    /// (its `retry_after` is `None`).
    #[inline]
    pub fn try_acquire_n(&mut self, n: u32, now: Instant) -> Result<(), Rejected> {
        let now = time::observe(&mut self.latest, now);
        let tat = gcra::decide_n(&self.quota, self.tat(), n, now)?;
        self.set_tat(tat);
        Ok(())
    }

    /// How long from `now` until `n` tokens are there (zero if they are
    /// now), if nobody else takes any; an error if `n` exceeds the burst.
    pub fn time_until(&self, n: u32, now: Instant) -> Result<Duration, ExceedsBurst> {
        let now = time::at_latest(now, self.latest);
        gcra::time_until(&self.quota, self.tat(), n, now)
    }

    /// Whole tokens in the bucket at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        gcra::available(&self.quota, self.tat(), time::at_latest(now, self.latest))
    }

    /// Refill the bucket to full (the latest instant seen stays).
    pub fn reset(&mut self) {
        self.set_tat(0);
    }

    /// The quota.
    pub const fn quota(&self) -> Quota {
        self.quota
    }
}
