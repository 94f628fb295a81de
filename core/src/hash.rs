//! Seeded hashing for fixed tables whose keys come from clients.
//!
//! Fixed tables (the keyed rate limiter, the dedup table) place keys
//! by hash in a bounded probe window. If a client could predict the hash, it
//! could pick keys that all land in one window and fill it. So the hash is
//! keyed by a [`Seed`] that the *caller* supplies and the client never sees:
//!
//! - on a server, 16 bytes from the OS (`getrandom::fill`, or
//!   `std::collections::hash_map::RandomState` hashed once);
//! - on an RP2040, bits from the ring oscillator
//!   (`embassy_rp::clocks::RoscRng`), read once at boot;
//! - in tests, any fixed value, for repeatable runs.
//!
//! The hash is a folded 64x64->128-bit multiply keyed by the seed (the
//! construction of foldhash and ahash's fallback): fast for the common
//! `u32`/`u64` keys, well mixed, and unpredictable without the seed. It is
//! not a cryptographic MAC; the tables add a second line of defence by
//! bounding every probe, so even a lucky attacker gets rejections, never
//! slow operations.
//!
//! ```
//! use core::hash::{BuildHasher, Hash, Hasher};
//! use fusebox::hash::Seed;
//!
//! let seed = Seed::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
//! assert_eq!(seed.hash_one(42u64), seed.hash_one(42u64));
//! assert_ne!(seed.hash_one(42u64), Seed::new(1, 2).hash_one(42u64));
//! ```

use core::hash::{BuildHasher, Hasher};

// Digits of pi: arbitrary odd constants with no structure.
const M0: u64 = 0x243f_6a88_85a3_08d3;
const M1: u64 = 0x1319_8a2e_0370_7345;

#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let (hi, lo) = crate::wide::mul_wide(a, b);
    lo ^ hi
}

/// The secret that keys a table's hash. Supply 128 random bits per process
/// or device (see the [module docs](self) for where to get them).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Seed {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for Seed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A seed is a secret: never print it.
        f.write_str("Seed(..)")
    }
}

impl Seed {
    /// A seed from two random 64-bit words.
    pub const fn new(k0: u64, k1: u64) -> Self {
        Self { k0, k1 }
    }

    /// A seed from 16 random bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        let [
            a0,
            a1,
            a2,
            a3,
            a4,
            a5,
            a6,
            a7,
            b0,
            b1,
            b2,
            b3,
            b4,
            b5,
            b6,
            b7,
        ] = bytes;
        Self {
            k0: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            k1: u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
        }
    }
}

impl BuildHasher for Seed {
    type Hasher = SeededHasher;

    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher {
            acc: self.k0 ^ M0,
            // Odd and with its top bit set whatever the seed: a multiplier
            // of 0 (or a small one) would map every key alike.
            key: (self.k1 ^ M1) | 0x8000_0000_0000_0001,
        }
    }
}

/// The [`Hasher`] a [`Seed`] builds.
#[derive(Clone, Debug)]
pub struct SeededHasher {
    acc: u64,
    key: u64,
}

impl Hasher for SeededHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            if let Ok(word) = <[u8; 8]>::try_from(chunk) {
                self.write_u64(u64::from_le_bytes(word));
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(rest) {
                *w = *b;
            }
            // The length goes in too, so "ab" and "ab\0" differ.
            self.write_u64(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.acc = folded_multiply(self.acc ^ i, self.key);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, self.key.rotate_left(23) ^ M0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    #[test]
    fn same_seed_same_hash_on_every_platform() {
        let seed = Seed::new(1, 2);
        // Fixed values: the hash must not depend on the target.
        assert_eq!(seed.hash_one(0u64), seed.hash_one(0u64));
        let a = seed.hash_one(7u64);
        let b = seed.hash_one(8u64);
        assert_ne!(a, b);
        assert_ne!(
            seed.hash_one(b"ab".as_slice()),
            seed.hash_one(b"ab\0".as_slice())
        );
    }

    #[test]
    fn no_seed_collapses_the_hash() {
        // Seeds built from the hash's own constants must not make the
        // multiplier vanish (it did once: every key hashed to 0).
        for seed in [
            Seed::new(0, M1),
            Seed::new(M0, M1),
            Seed::new(M0, M1 ^ 1),
            Seed::new(0, 0),
        ] {
            let mut hashes = [0u64; 1000];
            for (k, h) in hashes.iter_mut().enumerate() {
                *h = seed.hash_one(k as u64);
            }
            hashes.sort_unstable();
            assert!(hashes.windows(2).all(|w| w[0] != w[1]));
        }
    }

    #[test]
    fn low_bits_are_mixed() {
        // Sequential keys must spread over the low bits a table indexes by.
        let seed = Seed::new(0xdead_beef, 0x1234_5678);
        let mut buckets = [0u32; 64];
        for k in 0..6400u64 {
            buckets[(seed.hash_one(k) & 63) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (50..=150).contains(&n)),
            "{buckets:?}"
        );
    }
}
