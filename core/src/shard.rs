//! How the sharded shared tables (feature `sync`) pick a key's shard, and
//! how the shared types keep hot words apart.

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

/// A cache line (two on x86_64, whose adjacent-line prefetcher pairs them,
/// and on Apple's aarch64 cores, whose lines are 128 bytes) of its own for a
/// hot word or a shard, on server CPUs only. On microcontrollers (thumbv6m,
/// the RP2040: no data cache) padding buys nothing and costs RAM, so it is
/// not done.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[derive(Debug)]
pub(crate) struct Padded<T>(pub(crate) T);
