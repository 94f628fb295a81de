//! The crate's wide arithmetic, in one place: 64 x 64 -> 128-bit products
//! (the hash and the random numbers), the GCRA's 128-bit products and
//! quotients, and the multiply-shift that maps a hash onto `0..n` (table
//! homes, shard choice).
//!
//! On 64-bit targets each is the plain `u128` operation; on 32-bit ones
//! (the RP2040's Cortex-M0+, which has no 32 x 32 -> 64 multiply and no
//! divider) LLVM's own `u128` multiply and divide are large routines, and
//! these give the same results from 64-bit operations (tested against
//! `u128` on the host).

/// The 128-bit product `a x b` as its `(high, low)` 64-bit halves.
///
/// On 64-bit targets, one `u128` multiply (a single `mul`/`umulh` pair). On
/// 32-bit ones, [`mul_wide_halves`]: LLVM's own `u128` product there costs
/// about nine 64-bit multiplies (each a libcall on the Cortex-M0+, which has
/// no 32 x 32 -> 64 multiply), four are enough, and the code is a third the
/// size. Both give the same bits (tested against each other on the host).
#[inline]
pub(crate) const fn mul_wide(a: u64, b: u64) -> (u64, u64) {
    #[cfg(target_pointer_width = "64")]
    {
        let p = (a as u128).wrapping_mul(b as u128);
        ((p >> 64) as u64, p as u64)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        mul_wide_halves(a, b)
    }
}

/// [`mul_wide`] from four 32 x 32 -> 64 products (schoolbook).
// Out of line on 32-bit targets: four multiply libcalls on the Cortex-M0+,
// too large to copy into every caller.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
#[cfg_attr(target_pointer_width = "64", inline)]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) const fn mul_wide_halves(a: u64, b: u64) -> (u64, u64) {
    const LO: u64 = 0xffff_ffff;
    let (a0, a1) = (a & LO, a >> 32);
    let (b0, b1) = (b & LO, b >> 32);
    // Each factor is below 2^32, so no product overflows.
    let p00 = a0.wrapping_mul(b0);
    let p01 = a0.wrapping_mul(b1);
    let p10 = a1.wrapping_mul(b0);
    let p11 = a1.wrapping_mul(b1);
    // Three terms below 2^32 each: the sum fits easily.
    let mid = (p00 >> 32).wrapping_add(p01 & LO).wrapping_add(p10 & LO);
    let lo = (mid << 32) | (p00 & LO);
    let hi = p11
        .wrapping_add(p01 >> 32)
        .wrapping_add(p10 >> 32)
        .wrapping_add(mid >> 32);
    (hi, lo)
}

/// `h` mapped onto `0..n` by multiply-shift (Lemire's fast range
/// reduction, "A fast alternative to the modulo reduction", 2016): the high
/// half of `h x n`. Any `n`, no division; uniform when `h` is.
#[inline(always)]
pub(crate) const fn reduce(h: u64, n: usize) -> usize {
    mul_wide(h, n as u64).0 as usize
}

/// `a x b`.
#[inline(always)]
pub(crate) const fn mul(a: u64, b: u32) -> u128 {
    #[cfg(target_pointer_width = "64")]
    {
        (a as u128).wrapping_mul(b as u128)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        mul_halves(a, b)
    }
}

/// `(n / d, n % d == 0)`, for `d >= 1` (`d = 0` gives `(0, true)`).
#[inline]
pub(crate) fn div(n: u128, d: u32) -> (u128, bool) {
    #[cfg(target_pointer_width = "64")]
    {
        // Below 2^64 (every rejection of the packed shared bucket): one
        // 64-bit division instruction, not the 128-bit libcall.
        if let Ok(n) = u64::try_from(n) {
            let d = u64::from(d);
            return match n.checked_div(d) {
                Some(q) => (u128::from(q), q.wrapping_mul(d) == n),
                None => (0, true),
            };
        }
        // One division (a libcall) and a multiply, not two divisions.
        let d = u128::from(d);
        match n.checked_div(d) {
            Some(q) => (q, q.wrapping_mul(d) == n),
            None => (0, true),
        }
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        div_digits(n, d)
    }
}

/// `min(n / d, u32::MAX)`, for `d >= 1` (`d = 0` gives 0).
#[inline]
pub(crate) fn div_small(n: u128, d: u64) -> u32 {
    #[cfg(target_pointer_width = "64")]
    {
        let q = n.checked_div(u128::from(d)).unwrap_or(0);
        u32::try_from(q).unwrap_or(u32::MAX)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        div_restoring(n, d)
    }
}

/// [`mul`] from two 64-bit products.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
#[inline(always)]
pub(crate) const fn mul_halves(a: u64, b: u32) -> u128 {
    let b = b as u64;
    // Each factor is below 2^32: neither product overflows.
    let lo = (a & 0xffff_ffff).wrapping_mul(b);
    let hi = (a >> 32).wrapping_mul(b);
    ((hi as u128) << 32).wrapping_add(lo as u128)
}

/// [`div`] by schoolbook long division in 32-bit digits: four 64-bit
/// divisions.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
pub(crate) fn div_digits(n: u128, d: u32) -> (u128, bool) {
    if d == 0 {
        return (0, true);
    }
    let d = u64::from(d);
    let mut q: u128 = 0;
    let mut rem: u64 = 0;
    for shift in [96_u32, 64, 32, 0] {
        // rem < d < 2^32, so this fits a u64.
        let cur = (rem << 32) | u64::from((n >> shift) as u32);
        q |= u128::from(cur.checked_div(d).unwrap_or(0)) << shift;
        rem = cur.checked_rem(d).unwrap_or(0);
    }
    (q, rem == 0)
}

/// [`div_small`] by restoring division, one quotient bit at a time.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
pub(crate) fn div_restoring(n: u128, d: u64) -> u32 {
    if d == 0 {
        return 0;
    }
    let d = u128::from(d);
    // A quotient of 2^32 or more saturates.
    if n >= d << 32 {
        return u32::MAX;
    }
    let (mut left, mut q) = (n, 0_u32);
    for bit in (0..32_u32).rev() {
        let step = d << bit;
        if step <= left {
            left = left.wrapping_sub(step);
            q |= 1 << bit;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGES: [u64; 9] = [
        0,
        1,
        2,
        0xffff_ffff,
        0x1_0000_0000,
        0x1234_5678_9abc_def0,
        u64::MAX / 3,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn the_32_bit_paths_equal_u128_arithmetic() {
        let small = [
            1_u32,
            2,
            3,
            7,
            10,
            1000,
            0x8000_0001,
            u32::MAX - 1,
            u32::MAX,
        ];
        for &a in &EDGES {
            for &b in &small {
                let p = u128::from(a) * u128::from(b);
                assert_eq!(mul_halves(a, b), p);
                assert_eq!(mul(a, b), p);
                for n in [
                    p,
                    p + 1,
                    p.saturating_sub(1),
                    u128::from(a),
                    u128::MAX,
                    u128::MAX / 5,
                ] {
                    let want = (n / u128::from(b), n % u128::from(b) == 0);
                    assert_eq!(div_digits(n, b), want, "{n} / {b}");
                    assert_eq!(div(n, b), want, "{n} / {b}");
                }
                // Quotients below, at and above 2^32.
                let d = a.max(1);
                for n in [
                    u128::from(d) * u128::from(b),
                    u128::from(d) * u128::from(b) + u128::from(d) - 1,
                    (u128::from(d) << 32) - 1,
                    u128::from(d) << 32,
                    u128::MAX,
                ] {
                    let want = u32::try_from(n / u128::from(d)).unwrap_or(u32::MAX);
                    assert_eq!(div_restoring(n, d), want, "{n} / {d}");
                    assert_eq!(div_small(n, d), want, "{n} / {d}");
                }
            }
        }
        assert_eq!(div_digits(5, 0), (0, true));
        assert_eq!(div(5, 0), (0, true));
        assert_eq!(div(u128::from(u64::MAX) + 1, 0), (0, true));
        assert_eq!(div_restoring(5, 0), 0);
    }

    #[test]
    fn mul_wide_halves_is_the_u128_product() {
        let edges = [
            0,
            1,
            2,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX - 1,
            u64::MAX,
            0xa076_1d64_78bd_642f,
            0xe703_7ed1_a0b4_28db,
        ];
        let mut r = crate::rng::Rng::new(3);
        let randoms: [u64; 64] = core::array::from_fn(|_| r.next_u64());
        for &a in edges.iter().chain(&randoms) {
            for &b in edges.iter().chain(&randoms) {
                let p = u128::from(a) * u128::from(b);
                let want = ((p >> 64) as u64, p as u64);
                assert_eq!(mul_wide_halves(a, b), want, "{a:#x} x {b:#x}");
                assert_eq!(mul_wide(a, b), want, "{a:#x} x {b:#x}");
            }
        }
    }
}
