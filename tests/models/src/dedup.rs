//! The dedup table, restated: [`Model`] is an unbounded map of keys to
//! lifetimes with the TTL rules of `fusebox::dedup`'s module docs and
//! nothing else (no slots, no probe windows, no hashing).

use std::collections::HashMap;
use std::hash::Hash;

use fusebox::dedup::Eviction;

/// A key's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<V> {
    /// Begun (`New`), not completed: the model's ticket id and the expiry.
    InFlight {
        /// The model's ticket id.
        ticket: u64,
        /// The first instant it is no longer live.
        expires: u64,
    },
    /// Completed with `value`.
    Done {
        /// The stored value.
        value: V,
        /// The first instant it is no longer live.
        expires: u64,
    },
}

impl<V> Entry<V> {
    /// The first instant the entry is no longer live.
    pub fn expires(&self) -> u64 {
        match *self {
            Entry::InFlight { expires, .. } | Entry::Done { expires, .. } => expires,
        }
    }
}

/// The table as the docs define it. A table bounded to N slots may answer
/// `Full` where the model has room, and under `Eviction::EvictDone` may
/// forget a live done key (each one paid for by an eviction): a test
/// judges those answers itself and tells the model with
/// [`forget`](Model::forget).
#[derive(Debug, Clone)]
pub struct Model<K, V> {
    /// Ticks an in-flight entry lives.
    pub in_flight_ttl: u64,
    /// Ticks a done entry lives.
    pub done_ttl: u64,
    /// What a full window may evict.
    pub eviction: Eviction,
    /// The latest instant seen.
    pub latest: u64,
    /// Every key ever begun, live or expired.
    pub entries: HashMap<K, Entry<V>>,
    /// The next ticket id.
    pub next_ticket: u64,
    /// Live done keys forgotten (the table answered New or Full for them).
    pub forgotten: u32,
}

impl<K: Hash + Eq + Copy, V: Copy> Model<K, V> {
    /// An empty table.
    pub fn new(in_flight_ttl: u64, done_ttl: u64, eviction: Eviction) -> Self {
        Self {
            in_flight_ttl,
            done_ttl,
            eviction,
            latest: 0,
            entries: HashMap::new(),
            next_ticket: 0,
            forgotten: 0,
        }
    }

    /// Take in `now`: the instant judged at is the latest seen.
    pub fn observe(&mut self, now: u64) -> u64 {
        self.latest = self.latest.max(now);
        self.latest
    }

    /// The key's entry if it is live at the latest instant.
    pub fn live(&self, key: K) -> Option<Entry<V>> {
        self.entries
            .get(&key)
            .copied()
            .filter(|e| self.latest < e.expires())
    }

    /// `begin(key)` answered `New`: the key is in flight; its ticket id.
    pub fn begin_new(&mut self, key: K) -> u64 {
        let id = self.next_ticket;
        self.next_ticket += 1;
        let expires = self.latest.saturating_add(self.in_flight_ttl);
        self.entries.insert(
            key,
            Entry::InFlight {
                ticket: id,
                expires,
            },
        );
        id
    }

    /// Whether ticket `id` of `key` is the key's live in-flight entry.
    pub fn is_current(&self, key: K, id: u64) -> bool {
        matches!(self.live(key), Some(Entry::InFlight { ticket, .. }) if ticket == id)
    }

    /// `complete(ticket of key, value)`: `true` (stored) iff the ticket was
    /// current.
    pub fn complete(&mut self, key: K, id: u64, value: V) -> bool {
        let current = self.is_current(key, id);
        if current {
            let expires = self.latest.saturating_add(self.done_ttl);
            self.entries.insert(key, Entry::Done { value, expires });
        }
        current
    }

    /// `abandon(ticket of key)`: `true` (freed) iff the ticket was current.
    pub fn abandon(&mut self, key: K, id: u64) -> bool {
        let current = self.is_current(key, id);
        if current {
            self.entries.remove(&key);
        }
        current
    }

    /// The table forgot a live done `key` (an eviction paid for it).
    pub fn forget(&mut self, key: K) {
        self.forgotten += 1;
        self.entries.remove(&key);
    }

    /// Live entries at the latest instant.
    pub fn live_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| self.latest < e.expires())
            .count()
    }

    /// Live in-flight entries at the latest instant.
    pub fn in_flight_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| self.latest < e.expires() && matches!(e, Entry::InFlight { .. }))
            .count()
    }
}
