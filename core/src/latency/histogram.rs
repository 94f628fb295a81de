//! The windowed log-linear latency histogram.

use crate::ConfigError;
use crate::time::{Duration, Instant};

use super::PPM;
use crate::time::at_latest_ticks;

/// A fixed-memory latency histogram over durations in ticks, with
/// log-linear buckets (HdrHistogram's layout) and a sliding window.
///
/// - `P`: precision in bits. Durations below `2^P` ticks are counted
///   exactly; above, each power-of-two range is cut into `2^(P-1)` equal
///   buckets, so a [quantile](Self::quantile) (a bucket's midpoint) is
///   within `2^-P` of the true sample ([`RELATIVE_ERROR_PPM`](Self::RELATIVE_ERROR_PPM)).
/// - `B`: the bucket count. It sets the range: durations up to
///   `2^R - 1` ticks are told apart, `R = B / 2^(P-1) + P - 2`
///   ([`RANGE_BITS`](Self::RANGE_BITS)); longer ones are counted as
///   `2^R - 1` ([`MAX_TICKS`](Self::MAX_TICKS)).
/// - `S`: the window's slot count. The window is a ring of `S`
///   sub-histograms of `w = ceil(window / (S - 1))` ticks each; a sample
///   counts for at least `window` and less than `S x w` ticks.
///
/// `B` must be a multiple of `2^(P-1)` and at least `2^P`, `R` at most 64,
/// `P` in `1..=16`, and `S` at least 2: a histogram that breaks these does
/// not compile. Stable Rust cannot size an array from `R` and `P`, so `B`
/// is the parameter and `R` follows; [`buckets_for`](super::buckets_for)
/// gives `B` for a wanted range.
///
/// ```compile_fail
/// // 100 is not a multiple of 2^(5-1) = 16: this does not build.
/// let h = fusebox::latency::LatencyHistogram::<5, 100, 4>::new(
///     fusebox::time::Duration::from_ticks(10),
/// );
/// ```
///
/// ```
/// use fusebox::latency::LatencyHistogram;
/// use fusebox::time::{Duration, Instant};
///
/// // 3.1 % (P = 5) up to 2^20 ticks; a 1000-tick window in 5 slots.
/// let mut h = LatencyHistogram::<5, 272, 5>::new(Duration::from_ticks(1_000))?;
/// assert_eq!(LatencyHistogram::<5, 272, 5>::RANGE_BITS, 20);
/// let now = Instant::from_ticks(10);
/// for ms in 1..=100u64 {
///     h.record(Duration::from_ticks(ms * 1_000), now);
/// }
/// // p50 is the 50th sample, 50 000 ticks, within 3.125 %.
/// let p50 = h.quantile(500_000, now).unwrap().as_ticks();
/// assert!(p50.abs_diff(50_000) * 32 <= 50_000);
/// // A window later every sample has aged out.
/// assert_eq!(h.quantile(500_000, Instant::from_ticks(1_260)), None);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// # Cost
///
/// [`record`](Self::record) is a comparison with the next slot boundary,
/// a leading-zero count and a shift, two counter increments and an update
/// of the quantile cursor. Once per slot the oldest slot is subtracted from
/// the running total (`B` additions).
/// [`quantile`](Self::quantile) walks from the bucket it answered last
/// time, so it costs the number of buckets the answer moved: nothing while
/// the histogram has not changed enough to move it, never a scan of every
/// bucket per request.
///
/// # Memory
///
/// `56 + 4 x B x (S + 1)` bytes (rounded up to 8) on x86_64 and thumbv6m:
/// see the [module's table](super#memory).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LatencyHistogram<const P: u32, const B: usize, const S: usize> {
    /// The ring: the counts recorded in each of the last `S` slots.
    slots: [[u32; B]; S],
    /// The sum of the ring, per bucket (never above `u32::MAX`).
    total: [u32; B],
    /// The sum of `total`.
    count: u64,
    /// The quantile cursor: the counts of the buckets below `cursor`, and
    /// up to and including it.
    below: u64,
    through: u64,
    slot_ticks: u64,
    /// The newest slot epoch seen (`now / slot_ticks`), and the first tick
    /// of the next one (saturated).
    epoch: u64,
    next: u64,
    cursor: u32,
    /// The ring index of the slot of `epoch`.
    current: u32,
}

impl<const P: u32, const B: usize, const S: usize> LatencyHistogram<P, B, S> {
    /// Breaks the build for parameters that give no valid layout.
    const VALID: () = {
        assert!(
            P >= 1 && P <= 16,
            "LatencyHistogram<P, B, S>: P (precision bits) must be in 1..=16"
        );
        assert!(
            B.is_multiple_of(1 << (P - 1)),
            "LatencyHistogram<P, B, S>: B must be a multiple of 2^(P-1) (see latency::buckets_for)"
        );
        assert!(
            B >= 1 << P,
            "LatencyHistogram<P, B, S>: B must be at least 2^P"
        );
        assert!(
            B / (1 << (P - 1)) + P as usize - 2 <= 64,
            "LatencyHistogram<P, B, S>: B gives a range above 2^64 ticks (see latency::buckets_for)"
        );
        assert!(
            S >= 2 && S <= u32::MAX as usize,
            "LatencyHistogram<P, B, S>: S (window slots) must be at least 2"
        );
    };

    /// `P - 1`: `log2` of the buckets per power of two.
    const HALF_BITS: u32 = P - 1;

    /// `log2` of the range: durations up to `2^RANGE_BITS - 1` ticks are
    /// told apart (`B / 2^(P-1) + P - 2`).
    pub const RANGE_BITS: u32 = {
        let () = Self::VALID;
        (B >> (P - 1)) as u32 + P - 2
    };

    /// The longest duration told apart, in ticks (`2^RANGE_BITS - 1`);
    /// longer ones are recorded as this.
    pub const MAX_TICKS: u64 = if Self::RANGE_BITS >= 64 {
        u64::MAX
    } else {
        (1 << Self::RANGE_BITS) - 1
    };

    /// The bound on a quantile's relative error, in parts per million:
    /// `2^-P`, rounded up (31 250 for `P = 5`, 3.125 %).
    pub const RELATIVE_ERROR_PPM: u32 = (PPM as u32).div_ceil(1 << P);

    /// The memory this type takes, in bytes (`size_of`).
    pub const MEMORY: usize = core::mem::size_of::<Self>();

    /// An empty histogram whose samples count for `window` (at least
    /// `S - 1` ticks: one per slot boundary).
    pub const fn new(window: Duration) -> Result<Self, ConfigError> {
        let () = Self::VALID;
        let parts = (S as u64).saturating_sub(1);
        let window = window.as_ticks();
        if window < parts {
            return Err(ConfigError::new(
                "window",
                "be at least S - 1 ticks (one tick per slot of the ring)",
            ));
        }
        let slot_ticks = match window.checked_div(parts) {
            Some(q) if q.saturating_mul(parts) < window => q.saturating_add(1),
            Some(q) if q > 0 => q,
            _ => 1,
        };
        Ok(Self {
            slots: [[0; B]; S],
            total: [0; B],
            count: 0,
            below: 0,
            through: 0,
            slot_ticks,
            epoch: 0,
            next: slot_ticks,
            cursor: 0,
            current: 0,
        })
    }

    /// The bucket of a duration of `ticks`.
    #[inline]
    pub const fn bucket_of(ticks: u64) -> usize {
        let v = if ticks > Self::MAX_TICKS {
            Self::MAX_TICKS
        } else {
            ticks
        };
        if v < 1 << P {
            return v as usize;
        }
        // v >= 2^P, so its top bit is at P or above: shift >= 1, and
        // v >> shift is in [2^(P-1), 2^P).
        let shift = 63u32
            .wrapping_sub(v.leading_zeros())
            .wrapping_sub(Self::HALF_BITS);
        ((shift as usize) << Self::HALF_BITS).wrapping_add((v >> shift) as usize)
    }

    /// The value a quantile reports for `bucket`: its midpoint, in ticks
    /// (the duration itself below `2^P`).
    #[inline]
    pub const fn value_of(bucket: usize) -> u64 {
        if bucket < 1 << P {
            return bucket as u64;
        }
        let shift = ((bucket >> Self::HALF_BITS) as u32).wrapping_sub(1);
        let mantissa = bucket.wrapping_sub((shift as usize) << Self::HALF_BITS) as u64;
        let half_width = match 1u64.checked_shl(shift.wrapping_sub(1)) {
            Some(h) => h,
            None => 0,
        };
        match mantissa.checked_shl(shift) {
            Some(low) => low.saturating_add(half_width),
            None => u64::MAX,
        }
    }

    /// The length of one slot of the ring, in ticks
    /// (`ceil(window / (S - 1))`).
    pub const fn slot_duration(&self) -> Duration {
        Duration::from_ticks(self.slot_ticks)
    }

    /// Record one sample of `latency` at `now`.
    ///
    /// A bucket that already holds `u32::MAX` samples in the window
    /// ignores more (4 x 10^9 samples of one bucket in one window).
    #[inline]
    pub fn record(&mut self, latency: Duration, now: Instant) {
        self.advance(now);
        let bucket = Self::bucket_of(latency.as_ticks());
        let Some(total) = self.total.get_mut(bucket) else {
            return;
        };
        if *total == u32::MAX {
            return;
        }
        *total = total.wrapping_add(1);
        // Each slot's count is at most the total: no overflow either.
        if let Some(c) = self
            .slots
            .get_mut(self.current as usize)
            .and_then(|slot| slot.get_mut(bucket))
        {
            *c = c.wrapping_add(1);
        }
        // At most B x u32::MAX < 2^64.
        self.count = self.count.wrapping_add(1);
        let cursor = self.cursor as usize;
        if bucket <= cursor {
            self.through = self.through.wrapping_add(1);
            if bucket < cursor {
                self.below = self.below.wrapping_add(1);
            }
        }
    }

    /// The duration below which `q_ppm` parts per million of the window's
    /// samples fall at `now` (`q_ppm` above 10^6 counts as 10^6), within
    /// [`RELATIVE_ERROR_PPM`](Self::RELATIVE_ERROR_PPM); `None` while the
    /// window is empty.
    ///
    /// Exactly: with `N` samples in the window, the answer is the midpoint
    /// of the bucket that holds the sample of rank
    /// `max(1, ceil(q_ppm x N / 10^6))` in ascending order.
    #[inline]
    pub fn quantile(&mut self, q_ppm: u32, now: Instant) -> Option<Duration> {
        self.advance(now);
        if self.count == 0 {
            return None;
        }
        let q = u64::from(if q_ppm > PPM as u32 {
            PPM as u32
        } else {
            q_ppm
        });
        // q x count in 64 bits while it fits (below 2^44 samples), else in
        // 128; either way rank <= count.
        let rank = match q.checked_mul(self.count) {
            Some(p) => p.div_ceil(PPM),
            None => {
                let r = u128::from(q)
                    .saturating_mul(u128::from(self.count))
                    .div_ceil(u128::from(PPM));
                u64::try_from(r).unwrap_or(u64::MAX)
            }
        }
        .max(1);
        self.walk_to(rank);
        Some(Duration::from_ticks(Self::value_of(self.cursor as usize)))
    }

    /// The number of samples in the window at `now`.
    pub fn count(&mut self, now: Instant) -> u64 {
        self.advance(now);
        self.count
    }

    /// Forget every sample (the window's position in time is kept).
    pub fn clear(&mut self) {
        self.slots = [[0; B]; S];
        self.total = [0; B];
        self.count = 0;
        self.below = 0;
        self.through = 0;
    }

    /// Move the cursor to the bucket holding the sample of `rank`
    /// (`1..=count`): `below < rank <= through`.
    #[inline]
    fn walk_to(&mut self, rank: u64) {
        while self.through < rank {
            let next = (self.cursor as usize).wrapping_add(1);
            let Some(&c) = self.total.get(next) else {
                return;
            };
            self.cursor = next as u32;
            self.below = self.through;
            self.through = self.through.saturating_add(u64::from(c));
        }
        while self.below >= rank && self.cursor > 0 {
            self.cursor = self.cursor.wrapping_sub(1);
            let c = self.total.get(self.cursor as usize).copied().unwrap_or(0);
            self.through = self.below;
            self.below = self.below.saturating_sub(u64::from(c));
        }
    }

    /// Rotate the ring up to `now`'s slot. Time going backwards stays in
    /// the newest slot seen.
    #[inline]
    fn advance(&mut self, now: Instant) {
        if now.as_ticks() >= self.next {
            self.rotate(now);
        }
    }

    #[inline(never)]
    fn rotate(&mut self, now: Instant) {
        let epoch = now.as_ticks().checked_div(self.slot_ticks).unwrap_or(0);
        let epoch = at_latest_ticks(epoch, self.epoch);
        let steps = epoch.saturating_sub(self.epoch);
        self.epoch = epoch;
        self.next = match epoch.checked_add(1) {
            Some(e) => e.saturating_mul(self.slot_ticks),
            None => u64::MAX,
        };
        if steps >= S as u64 {
            self.clear();
            return;
        }
        for _ in 0..steps {
            let next = self.current.wrapping_add(1);
            self.current = if next as usize >= S { 0 } else { next };
            self.expire(self.current as usize);
        }
    }

    /// Subtract slot `index` from the running total and empty it.
    fn expire(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let cursor = self.cursor as usize;
        for (bucket, (c, total)) in slot.iter_mut().zip(self.total.iter_mut()).enumerate() {
            if *c == 0 {
                continue;
            }
            let n = u64::from(*c);
            *total = total.saturating_sub(*c);
            *c = 0;
            self.count = self.count.saturating_sub(n);
            if bucket <= cursor {
                self.through = self.through.saturating_sub(n);
                if bucket < cursor {
                    self.below = self.below.saturating_sub(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Small = LatencyHistogram<3, 32, 4>; // 12.5 %, up to 2^9 ticks
    fn t(x: u64) -> Instant {
        Instant::from_ticks(x)
    }
    fn d(x: u64) -> Duration {
        Duration::from_ticks(x)
    }

    #[test]
    fn layout_constants() {
        assert_eq!(Small::RANGE_BITS, 9);
        assert_eq!(Small::MAX_TICKS, 511);
        assert_eq!(Small::RELATIVE_ERROR_PPM, 125_000);
        assert_eq!(LatencyHistogram::<5, 464, 5>::RANGE_BITS, 32);
        assert_eq!(LatencyHistogram::<5, 464, 5>::RELATIVE_ERROR_PPM, 31_250);
        assert_eq!(LatencyHistogram::<2, 128, 2>::MAX_TICKS, u64::MAX);
        assert_eq!(super::super::buckets_for(2, 64), 128);
    }

    fn check_layout<const P: u32, const B: usize, const S: usize>(limit: u64) {
        type H<const P: u32, const B: usize, const S: usize> = LatencyHistogram<P, B, S>;
        let mut last = 0;
        for v in 0..limit.min(H::<P, B, S>::MAX_TICKS) {
            let b = H::<P, B, S>::bucket_of(v);
            // Buckets are contiguous and in order.
            assert!(b == last || b == last + 1, "v={v} b={b} last={last}");
            last = b;
            // The midpoint is within 2^-P of every value in the bucket.
            let mid = H::<P, B, S>::value_of(b);
            assert!(
                u128::from(mid.abs_diff(v)) << P <= u128::from(v),
                "v={v} mid={mid}"
            );
            assert_eq!(H::<P, B, S>::bucket_of(mid), b);
        }
        assert_eq!(H::<P, B, S>::bucket_of(u64::MAX), B - 1);
        assert_eq!(H::<P, B, S>::bucket_of(H::<P, B, S>::MAX_TICKS), B - 1);
    }

    #[test]
    fn buckets_are_contiguous_and_within_the_bound() {
        // Every value of the small layouts; under Miri only the first 2^12
        // of the P = 5 one (the rest is the same code at larger shifts).
        let big = if cfg!(miri) { 1 << 12 } else { 1 << 20 };
        check_layout::<3, 32, 4>(600);
        check_layout::<1, 20, 2>(1 << 12);
        check_layout::<5, 272, 2>(big);
        // The top of a 64-bit range.
        type Full = LatencyHistogram<2, 128, 2>;
        let top = Full::bucket_of(u64::MAX);
        assert_eq!(top, 127);
        assert!(u128::from(Full::value_of(top).abs_diff(u64::MAX)) << 2 <= u128::from(u64::MAX));
    }

    #[test]
    fn record_then_quantile_walks_the_cursor_both_ways() {
        let mut h = Small::new(d(30)).unwrap();
        assert_eq!(h.quantile(500_000, t(0)), None);
        for v in [1, 2, 3, 100, 200] {
            h.record(d(v), t(0));
        }
        assert_eq!(h.count(t(0)), 5);
        assert_eq!(h.quantile(0, t(0)), Some(d(1)));
        assert_eq!(
            h.quantile(1_000_000, t(0))
                .map(|x| Small::bucket_of(x.as_ticks())),
            Some(Small::bucket_of(200))
        );
        assert_eq!(h.quantile(600_000, t(0)), Some(d(3))); // rank 3
        // Records below the cursor move it down on the next question.
        h.record(d(1), t(0));
        h.record(d(1), t(0));
        assert_eq!(h.quantile(500_000, t(0)), Some(d(2))); // rank 4 of 7
        assert_eq!(h.quantile(2_000_000, t(0)), h.quantile(1_000_000, t(0)));
    }

    #[test]
    fn old_slots_expire_and_the_cursor_stays_exact() {
        // window 30 in 4 slots: w = 10; a sample lives while epoch < e + 4.
        let mut h = Small::new(d(30)).unwrap();
        assert_eq!(h.slot_duration(), d(10));
        h.record(d(100), t(5)); // epoch 0
        h.record(d(5), t(15)); // epoch 1
        assert_eq!(
            h.quantile(1_000_000, t(15)),
            Some(d(Small::value_of(Small::bucket_of(100))))
        );
        assert_eq!(h.count(t(39)), 2);
        assert_eq!(h.count(t(40)), 1); // epoch 4: slot 0 gone
        assert_eq!(h.quantile(1_000_000, t(40)), Some(d(5)));
        assert_eq!(h.quantile(0, t(49)), Some(d(5)));
        assert_eq!(h.quantile(0, t(50)), None);
        // A jump of S slots or more empties everything at once.
        h.record(d(7), t(50));
        assert_eq!(h.count(t(1_000)), 0);
        h.record(d(9), t(1_000));
        assert_eq!(h.quantile(500_000, t(1_000)), Some(d(9)));
    }

    #[test]
    fn time_backwards_counts_as_no_time() {
        let mut h = Small::new(d(30)).unwrap();
        h.record(d(4), t(100));
        // An earlier instant records into the newest slot and expires nothing.
        h.record(d(6), t(0));
        assert_eq!(h.count(t(0)), 2);
        assert_eq!(h.count(t(139)), 2);
        assert_eq!(h.count(t(140)), 0);
    }

    #[test]
    fn instants_near_u64_max_saturate() {
        let mut h = Small::new(Duration::MAX).unwrap();
        h.record(Duration::MAX, Instant::MAX);
        h.record(d(1), Instant::MAX);
        assert_eq!(h.count(Instant::MAX), 2);
        assert_eq!(
            h.quantile(1_000_000, Instant::MAX),
            Some(d(Small::value_of(31)))
        );
        let mut h = Small::new(d(3)).unwrap();
        h.record(d(1), t(u64::MAX - 1));
        h.record(d(1), Instant::MAX);
        assert_eq!(h.count(Instant::MAX), 2);
    }

    #[test]
    fn window_below_s_minus_1_ticks_is_refused() {
        assert_eq!(Small::new(d(2)).unwrap_err().field(), "window");
        assert!(Small::new(d(3)).is_ok());
    }

    #[test]
    fn clear_forgets_every_sample() {
        let mut h = Small::new(d(30)).unwrap();
        h.record(d(50), t(0));
        let _ = h.quantile(500_000, t(0));
        h.clear();
        assert_eq!(h.quantile(500_000, t(0)), None);
        h.record(d(2), t(0));
        assert_eq!(h.quantile(500_000, t(0)), Some(d(2)));
    }
}
