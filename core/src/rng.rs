//! A small seedable pseudo-random generator, for jitter.
//!
//! [`Rng`] is wyrand (Wang Yi's generator, the one `fastrand` uses): 8 bytes
//! of state, one wrapping add and one 64 x 64 -> 128-bit multiply per
//! number, integer only, and the same sequence for the same seed on every
//! platform (x86_64, the RP2040's Cortex-M0+, under Miri). The seed goes
//! through SplitMix64's finalizer first. It is **not** cryptographic: it
//! spreads retries, it does not make secrets.
//!
//! ```
//! use fusebox::rng::Rng;
//!
//! let mut a = Rng::new(42);
//! let mut b = Rng::new(42);
//! assert_eq!(a.next_u64(), b.next_u64()); // same seed, same sequence
//! assert_eq!(Rng::new(1).next_u64(), 0xed10_adca_e72a_4875); // on every target
//! let x = a.below(10);
//! assert!(x < 10);
//! ```
//!
//! # Seed every device differently
//!
//! Jitter exists so that clients that failed together do not retry together.
//! A fleet of devices flashed with the same seed draws the same "random"
//! delays, retries in lock-step and brings the thundering herd back. Seed
//! from something that differs per device *and* per boot:
//!
//! - **RP2040**: the ring oscillator's random bit (`embassy_rp::clocks::RoscRng`,
//!   which reads `ROSC.RANDOMBIT`), 64 reads folded into a `u64`, xor the
//!   flash chip's 64-bit unique id (`embassy_rp::flash::Flash::blocking_unique_id`)
//!   so two boards never share a seed even if the ROSC bits were poor.
//! - **Server**: `getrandom::u64()` (or `rand::random::<u64>()`), once per
//!   process or per client.
//! - **Tests**: a fixed seed, so the schedule is the same on every run.
//!
//! Seed every *schedule* differently too: clones of one schedule replay the
//! same jitter, so the concurrent requests of one device would retry
//! together. Build each request's schedule with
//! `Backoff::new(CONFIG, device_seed.wrapping_add(request_counter))` (with a
//! `const` config this costs a few nanoseconds).
//!
//! [`Rng::new`] runs the seed through SplitMix64's finalizer first, so
//! seeds that differ in one bit (device ids 1, 2, 3..., or a request
//! counter added to a device seed) still give unrelated sequences.
//!
//! # Size
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | [`Rng`] | 8 | 8 |

const WY0: u64 = 0xa076_1d64_78bd_642f;
const WY1: u64 = 0xe703_7ed1_a0b4_28db;

/// wyrand: a seedable, platform-independent pseudo-random generator.
/// See the [module docs](self) for how to seed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub const fn new(seed: u64) -> Self {
        // One mixing step, so nearby seeds (1, 2, 3) start far apart.
        Self { state: mix(seed) }
    }

    /// The next 64 random bits.
    #[inline]
    pub const fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(WY0);
        let (hi, lo) = crate::wide::mul_wide(self.state, self.state ^ WY1);
        hi ^ lo
    }

    /// A number in `0..n`, or 0 when `n` is 0.
    ///
    /// Multiply-shift (Lemire): the high half of `x * n`. Its bias is at most
    /// `n / 2^64`, far below anything a retry delay can show.
    #[inline]
    pub const fn below(&mut self, n: u64) -> u64 {
        crate::wide::mul_wide(self.next_u64(), n).0
    }

    /// A number in `lo..=hi` (or `lo` when `hi <= lo`).
    ///
    /// Draws exactly one number from the sequence, even when the range holds
    /// a single value or none: the position in the sequence then depends only
    /// on how many numbers were asked for, so [`skip`](Self::skip) can jump
    /// to the `n`-th draw (what `backoff::Config::delay_for` relies on).
    #[inline]
    pub const fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let x = self.next_u64();
        if hi <= lo {
            return lo;
        }
        let span = hi.wrapping_sub(lo);
        let offset = match span.checked_add(1) {
            // The same multiply-shift as `below`.
            Some(n) => crate::wide::mul_wide(x, n).0,
            // lo = 0, hi = u64::MAX: every value is in range.
            None => x,
        };
        lo.wrapping_add(offset)
    }

    /// Move on as if `k` numbers had been drawn, in constant time: wyrand's
    /// state is a counter that each draw advances by one fixed odd constant.
    ///
    /// ```
    /// use fusebox::rng::Rng;
    ///
    /// let (mut a, mut b) = (Rng::new(9), Rng::new(9));
    /// for _ in 0..1000 {
    ///     a.next_u64();
    /// }
    /// b.skip(1000);
    /// assert_eq!(a, b);
    /// ```
    #[inline]
    pub const fn skip(&mut self, k: u64) {
        self.state = self.state.wrapping_add(WY0.wrapping_mul(k));
    }
}

#[inline]
const fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_covers_its_ends_and_the_full_range() {
        let mut r = Rng::new(7);
        let (mut lo_seen, mut hi_seen) = (false, false);
        for _ in 0..1000 {
            let x = r.between(3, 5);
            assert!((3..=5).contains(&x));
            lo_seen |= x == 3;
            hi_seen |= x == 5;
        }
        assert!(lo_seen && hi_seen);
        assert_eq!(r.between(9, 2), 9);
        // An empty or one-value range still draws one number.
        let mut a = Rng::new(11);
        let mut b = Rng::new(11);
        assert_eq!(a.between(4, 4), 4);
        assert_eq!(a.between(9, 2), 9);
        b.skip(2);
        assert_eq!(a, b);
        let _ = r.between(0, u64::MAX);
        assert_eq!(r.below(0), 0);
    }
}
