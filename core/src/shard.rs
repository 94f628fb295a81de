//! How the sharded shared tables (feature `sync`) pick a key's shard.

use core::hash::BuildHasher;

use crate::hash::Seed;

/// A seed for the shard choice, derived from the caller's secret seed by
/// its own keyed hash (so it is as secret), and independent of the homes
/// the shard's table takes from the caller's seed.
pub(crate) fn shard_seed(seed: Seed) -> Seed {
    Seed::new(
        seed.hash_one(0x5348_4152_445f_6b30_u64),
        seed.hash_one(0x5348_4152_445f_6b31_u64),
    )
}

/// The shard of a key hashed to `h`, in `0..S` (multiply-shift: any `S`).
#[inline(always)]
pub(crate) fn shard_of<const S: usize>(h: u64) -> usize {
    crate::wide::reduce(h, S)
}
