//! The dedup table's file shape.

use core::hash::Hash;

use serde::{Deserialize, Serialize};

use super::units::HumanDuration;
use super::{Got, Invalid, compiled, core};
use crate::dedup::{Config, DedupTable, Eviction};
use crate::hash::Seed;

/// [`Eviction`] in a file: `"evict_done"` or `"keep_done"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")]
pub enum EvictionSpec {
    /// [`Eviction::EvictDone`].
    EvictDone,
    /// [`Eviction::KeepDone`].
    KeepDone,
}

impl From<EvictionSpec> for Eviction {
    fn from(e: EvictionSpec) -> Self {
        match e {
            EvictionSpec::EvictDone => Eviction::EvictDone,
            EvictionSpec::KeepDone => Eviction::KeepDone,
        }
    }
}

/// One dedup / idempotency table in a file; every field optional,
/// defaulting to [`Config::new`]'s.
///
/// ```toml
/// in_flight_ttl = "30s"
/// done_ttl = "5min"
/// eviction = "keep_done"   # or "evict_done"
/// capacity = 4096          # optional: must equal the compiled N
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct DedupSpec {
    /// How long an entry may stay in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_ttl: Option<HumanDuration>,
    /// How long a completed entry answers with its stored value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ttl: Option<HumanDuration>,
    /// What to do when a key's window is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction: Option<EvictionSpec>,
    /// The number of entries, when the file states it: must equal the
    /// compiled `N` of [`DedupTable<K, V, N>`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

impl DedupSpec {
    /// The [`Config`], checked by [`Config::validate`].
    pub fn config(&self) -> Result<Config, Invalid> {
        let mut c = Config::new();
        if let Some(t) = self.in_flight_ttl {
            c = c.in_flight_ttl(t.0);
        }
        if let Some(t) = self.done_ttl {
            c = c.done_ttl(t.0);
        }
        if let Some(e) = self.eviction {
            c = c.eviction(e.into());
        }
        c.validate().map(|()| c).map_err(|e| match e.field() {
            "in_flight_ttl" => core(
                e,
                "in_flight_ttl",
                Got::Duration(c.in_flight_time_to_live()),
            ),
            _ => core(e, "done_ttl", Got::Duration(c.done_time_to_live())),
        })
    }

    /// Every check that does not need the compiled capacity.
    pub fn check(&self) -> Result<(), Invalid> {
        self.config().map(drop)
    }

    /// The table, its capacity checked against the file's.
    pub fn build<K: Hash + Eq, V, const N: usize>(
        &self,
        seed: Seed,
    ) -> Result<DedupTable<K, V, N>, Invalid> {
        compiled(
            self.capacity,
            N,
            "capacity",
            "the table's capacity (entries)",
        )?;
        let c = self.config()?;
        DedupTable::new(c, seed).map_err(|e| core(e, "capacity", Got::Int(N as u64)))
    }
}
