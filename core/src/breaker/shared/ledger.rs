//! The shared forms of [`TimeWindow`] and [`FailureCount`]: a window word
//! and one 128-bit atomic per bucket, counted by one compare-and-swap on
//! the window word per call (its linearization point), with the bucket
//! writes helped home by whoever comes next.
//!
//! # The window word (one `AtomicU128`)
//!
//! ```text
//!   bits   0..64   key: TimeWindow: the latest epoch (instant / bucket
//!                  ticks) counted; FailureCount: when the current counting
//!                  interval began. Sealed by a trip: the trip's instant.
//!   bits  64..68   tag: 0..=3 the code (failed, slow) of the call this word
//!                  counted; 4 no call yet; 5 sealed by a trip; 6, 7, 8
//!                  sealed by isolate, force_closed, reset
//!   bits  68..96   seq: the word's operation number (28 bits, wrapping)
//!   open:   bits  96..116  the Closed generation it counts for (low 20
//!                          bits)
//!           bits 116..128  d: how many buckets the operation clears (the
//!                          epochs the window moved past, at most B)
//!   sealed: bits  96..128  the Closed generation it sealed (32 bits)
//! ```
//!
//! Each open word names one *operation* on the buckets: clear the `d`
//! buckets of the epochs `key - d + 1 ..= key`, add the call to bucket
//! `key mod B`, and re-tag bucket `seq mod B`. Each bucket is
//! `seq (32) | calls (32) | failures (32) | slow (32)`, the seq of the last
//! operation applied to it. An operation is applied to a bucket by CAS, only
//! while the window word still names it and only over a bucket that does not
//! carry its seq yet, so it is applied exactly once; every caller applies
//! the current word's operation (helps) before it moves the word on, so the
//! buckets read while the word is `w` are exactly `w`'s history. The re-tag
//! keeps every bucket's seq within B operations of the word's (a fresh
//! window clears, so re-tags, them all), so a 28-bit seq never meets an old
//! one: B is at most 4 095.
//!
//! A call reads the buckets (after helping), judges the window with its
//! own call added exactly as the `&mut` policy does (saturating counts
//! per bucket, a saturating sum), and CASes the word: to the next operation,
//! or sealed by a trip with its instant, so that the control word's exit is
//! completed by whoever sees it (as for `CountWindow`). A new Closed
//! generation installs a fresh window, which clears every bucket, with its
//! first call. No call is counted twice or lost, and no lock is taken.
//!
//! Generations: a sealed word names its generation in 32 bits (a long
//! outage passes many generations before the next Closed one, whose first
//! call must see the old seal as older), an open word in 20 bits: a caller
//! is assumed not to be preempted while 2^19 generations pass (the
//! `&mut` breaker's permits assume 2^31).

use super::super::{Call, FailureCount, State, TimeWindow, WindowStats, reaches};
use super::{Cx, Exit, Seal, SharedPolicy, Step, Word, sealed};
use crate::ConfigError;
use crate::atomic::{AtomicU128, Ordering};
use crate::shard::Padded;

/// The most buckets a shared [`TimeWindow`] may have (the width of `d`).
pub const MAX_BUCKETS: usize = (1 << D_BITS) - 1;

const SEQ_BITS: u32 = 28;
const SEQ_MASK: u32 = (1 << SEQ_BITS) - 1;
const GEN_BITS: u32 = 20;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const D_BITS: u32 = 12;

const NO_CALL: u8 = 4;
const TRIP: u8 = 5;

fn exit_tag(to: State) -> u8 {
    match to {
        State::ForcedOpen => 6,
        State::ForcedClosed => 7,
        _ => 8,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lw {
    key: u64,
    tag: u8,
    seq: u32,
    // Open: the low 20 bits; sealed: all 32.
    generation: u32,
    d: u32,
}

impl Lw {
    const INITIAL: Self = Self {
        key: 0,
        tag: NO_CALL,
        seq: 0,
        generation: 0,
        d: 0,
    };

    fn sealed(self) -> bool {
        self.tag >= TRIP
    }

    fn pack(self) -> u128 {
        let low = u128::from(self.key)
            | (u128::from(self.tag & 15) << 64)
            | (u128::from(self.seq & SEQ_MASK) << 68);
        if self.sealed() {
            low | (u128::from(self.generation) << 96)
        } else {
            low | (u128::from(self.generation & GEN_MASK) << 96)
                | (u128::from(self.d & ((1 << D_BITS) - 1)) << 116)
        }
    }

    fn unpack(v: u128) -> Self {
        let tag = ((v >> 64) as u8) & 15;
        let seq = ((v >> 68) as u32) & SEQ_MASK;
        let sealed = tag >= TRIP;
        Self {
            key: v as u64,
            tag,
            seq,
            generation: if sealed {
                (v >> 96) as u32
            } else {
                ((v >> 96) as u32) & GEN_MASK
            },
            d: if sealed {
                0
            } else {
                ((v >> 116) as u32) & ((1 << D_BITS) - 1)
            },
        }
    }

    fn next_seq(self) -> u32 {
        self.seq.wrapping_add(1) & SEQ_MASK
    }
}

/// A bucket's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Counts {
    /// `self` with one call of `code` added, saturating, as the `&mut`
    /// policies count: a slow call is a failure too when `slow_fails`
    /// ([`FailureCount`]).
    fn add(self, code: u8, slow_fails: bool) -> Self {
        let failed = code & 1 == 1;
        let slow = code & 2 == 2;
        Self {
            calls: self.calls.saturating_add(1),
            failures: self
                .failures
                .saturating_add(u32::from(failed || (slow_fails && slow))),
            slow: self.slow.saturating_add(u32::from(slow)),
        }
    }

    fn plus(self, o: Self) -> Self {
        Self {
            calls: self.calls.saturating_add(o.calls),
            failures: self.failures.saturating_add(o.failures),
            slow: self.slow.saturating_add(o.slow),
        }
    }

    fn stats(self) -> WindowStats {
        WindowStats {
            calls: self.calls,
            failures: self.failures,
            slow: self.slow,
        }
    }
}

fn bucket_pack(seq: u32, c: Counts) -> u128 {
    u128::from(seq)
        | (u128::from(c.calls) << 32)
        | (u128::from(c.failures) << 64)
        | (u128::from(c.slow) << 96)
}

fn bucket_unpack(v: u128) -> (u32, Counts) {
    (
        v as u32,
        Counts {
            calls: (v >> 32) as u32,
            failures: (v >> 64) as u32,
            slow: (v >> 96) as u32,
        },
    )
}

/// How many buckets bucket `j` lies behind bucket `cur`, in a ring of `b`
/// (both below `b`).
fn back(cur: usize, j: usize, b: usize) -> usize {
    if j <= cur {
        cur.wrapping_sub(j)
    } else {
        b.wrapping_sub(j).wrapping_add(cur)
    }
}

/// Where the window word stands for a caller in Closed generation `g`.
enum Class {
    /// Open, counting for `g`.
    Current(Lw),
    /// Sealed by `g`'s exit.
    Mine(Exit),
    /// Sealed by an earlier generation: `g` installs a fresh window.
    Older,
    /// The caller's generation is over.
    Stale,
}

/// The window word and its buckets.
#[derive(Debug)]
pub struct Ledger<const B: usize> {
    word: Padded<AtomicU128>,
    buckets: [AtomicU128; B],
}

impl<const B: usize> Ledger<B> {
    fn new() -> Self {
        Self {
            word: Padded(AtomicU128::new(Lw::INITIAL.pack())),
            buckets: core::array::from_fn(|_| AtomicU128::new(bucket_pack(0, Counts::default()))),
        }
    }

    fn load(&self) -> Lw {
        Lw::unpack(self.word.0.load(Ordering::Acquire))
    }

    fn cas(&self, old: Lw, new: Lw) -> bool {
        self.word
            .0
            .compare_exchange(old.pack(), new.pack(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn classify(w: Lw, generation: u32) -> Class {
        if w.sealed() {
            if w.generation == generation {
                Class::Mine(match w.tag {
                    TRIP => Exit::Trip(w.key),
                    6 => Exit::Force(State::ForcedOpen),
                    7 => Exit::Force(State::ForcedClosed),
                    _ => Exit::Force(State::Closed),
                })
            } else if (generation.wrapping_sub(w.generation) as i32) > 0 {
                Class::Older
            } else {
                Class::Stale
            }
        } else if w.generation == generation & GEN_MASK {
            Class::Current(w)
        } else {
            // Every Closed generation seals the word as it leaves, so an
            // open word of another generation is a later one's.
            Class::Stale
        }
    }

    /// The bucket `key mod B` of an open word.
    fn cur(w: Lw) -> usize {
        w.key.checked_rem(B as u64).unwrap_or(0) as usize
    }

    /// Whether `w`'s operation clears bucket `j`.
    fn clears(w: Lw, j: usize) -> bool {
        // The cleared buckets are cur, cur - 1, ... (mod B), d of them.
        back(Self::cur(w), j, B) < w.d as usize
    }

    /// Apply `w`'s operation to every bucket it touches, unless done.
    fn help(&self, w: Lw, slow_fails: bool) {
        if w.sealed() || B == 0 {
            return;
        }
        let cur = Self::cur(w);
        let d = (w.d as usize).min(B);
        for i in 0..d {
            // The bucket `i` behind the current one, mod B.
            let j = if i <= cur {
                cur.wrapping_sub(i)
            } else {
                B.wrapping_sub(i).wrapping_add(cur)
            };
            if !self.apply(w, j, slow_fails) {
                return;
            }
        }
        if !self.apply(w, cur, slow_fails) {
            return;
        }
        let _ = self.apply(w, (w.seq as usize).checked_rem(B).unwrap_or(0), slow_fails);
    }

    /// Apply `w`'s operation to bucket `j`; `false` when the window word
    /// has moved on (whoever moved it applied the operation everywhere).
    fn apply(&self, w: Lw, j: usize, slow_fails: bool) -> bool {
        let Some(bucket) = self.buckets.get(j) else {
            return true;
        };
        let packed = w.pack();
        loop {
            let v = bucket.load(Ordering::Acquire);
            let (seq, counts) = bucket_unpack(v);
            if seq == w.seq {
                return true;
            }
            // While the word is `w`, only `w`'s operation writes buckets:
            // `v` does not have it yet.
            if self.word.0.load(Ordering::Acquire) != packed {
                return false;
            }
            let mut c = if Self::clears(w, j) {
                Counts::default()
            } else {
                counts
            };
            if j == Self::cur(w) && w.tag < NO_CALL {
                c = c.add(w.tag, slow_fails);
            }
            if bucket
                .compare_exchange(
                    v,
                    bucket_pack(w.seq, c),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                return true;
            }
        }
    }

    /// The counts of bucket `j` (after `help`).
    fn counts(&self, j: usize) -> Counts {
        self.buckets
            .get(j)
            .map(|b| bucket_unpack(b.load(Ordering::Acquire)).1)
            .unwrap_or_default()
    }

    /// Count one call of `code` for Closed generation `generation` at `t`.
    /// `plan` gets the current open word (`None`: a fresh window, every
    /// bucket cleared) and says the new key, how many buckets to clear and
    /// whether the breaker trips.
    fn count(
        &self,
        generation: u32,
        t: u64,
        code: u8,
        slow_fails: bool,
        plan: impl Fn(&Self, Option<Lw>) -> (u64, u32, bool),
    ) -> Step {
        loop {
            let w = self.load();
            let current = match Self::classify(w, generation) {
                Class::Current(w) => Some(w),
                Class::Older => None,
                // Sealed by this generation's exit (the caller completes
                // it and finds its permit stale), or the caller is stale.
                Class::Mine(_) | Class::Stale => return Step::Retry,
            };
            self.help(w, slow_fails);
            let (key, d, trip) = plan(self, current);
            let new = if trip {
                Lw {
                    key: t,
                    tag: TRIP,
                    seq: w.next_seq(),
                    generation,
                    d: 0,
                }
            } else {
                Lw {
                    key,
                    tag: code,
                    seq: w.next_seq(),
                    generation,
                    d,
                }
            };
            if self.cas(w, new) {
                return Step::Counted(trip);
            }
        }
    }

    /// `f` of the open word of `generation` (`None` when there is none:
    /// an empty window), read consistently with its buckets.
    fn read<R>(&self, generation: u32, slow_fails: bool, f: impl Fn(&Self, Option<Lw>) -> R) -> R {
        loop {
            let w = self.load();
            let Class::Current(w) = Self::classify(w, generation) else {
                return f(self, None);
            };
            self.help(w, slow_fails);
            let r = f(self, Some(w));
            if self.load() == w {
                return r;
            }
        }
    }

    fn sealed_exit(&self, generation: u32) -> Option<Exit> {
        match Self::classify(self.load(), generation) {
            Class::Mine(exit) => Some(exit),
            _ => None,
        }
    }

    fn seal(&self, generation: u32, to: State, slow_fails: bool) -> Seal {
        loop {
            let w = self.load();
            match Self::classify(w, generation) {
                Class::Current(_) | Class::Older => {
                    self.help(w, slow_fails);
                    let sealed = Lw {
                        key: 0,
                        tag: exit_tag(to),
                        seq: w.next_seq(),
                        generation,
                        d: 0,
                    };
                    if self.cas(w, sealed) {
                        return Seal::Sealed;
                    }
                }
                Class::Mine(_) | Class::Stale => return Seal::Taken,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// TimeWindow.
// ---------------------------------------------------------------------------

/// The shared side of a [`TimeWindow`]: its window word and buckets.
#[derive(Debug)]
pub struct SharedTimeWindow<const B: usize> {
    ledger: Ledger<B>,
    bucket_ticks: u64,
    minimum_calls: u32,
    failure_percent: u8,
}

impl<const B: usize> SharedTimeWindow<B> {
    fn epoch(&self, t: u64) -> u64 {
        t.checked_div(self.bucket_ticks).unwrap_or(0)
    }

    /// The window's sum at epoch `e` (at or after `w.key`), with `code`
    /// added to the current bucket if given; and the buckets to clear.
    fn sum(&self, w: Option<Lw>, e: u64, code: Option<u8>) -> (Counts, u32) {
        let (d, cur) = match w {
            None => (B as u32, e.checked_rem(B as u64).unwrap_or(0) as usize),
            Some(w) => (
                e.saturating_sub(w.key).min(B as u64) as u32,
                e.checked_rem(B as u64).unwrap_or(0) as usize,
            ),
        };
        let mut total = Counts::default();
        for j in 0..B {
            let mut c = if back(cur, j, B) < d as usize {
                Counts::default()
            } else {
                self.ledger.counts(j)
            };
            if j == cur {
                if let Some(code) = code {
                    c = c.add(code, false);
                }
            }
            total = total.plus(c);
        }
        (total, d)
    }
}

impl<const B: usize> sealed::Share for TimeWindow<B> {
    type Shared = SharedTimeWindow<B>;

    fn share(self) -> Result<SharedTimeWindow<B>, ConfigError> {
        if B > MAX_BUCKETS {
            return Err(ConfigError::new(
                "TimeWindow::<B>",
                "have B in 1..=4095 buckets for a SharedCircuitBreaker (the buckets to clear share its 128-bit window word)",
            ));
        }
        Ok(SharedTimeWindow {
            ledger: Ledger::new(),
            bucket_ticks: self.bucket_ticks,
            minimum_calls: self.minimum_calls,
            failure_percent: self.failure_percent,
        })
    }

    fn sealed_exit(s: &SharedTimeWindow<B>, generation: u32) -> Option<Exit> {
        s.ledger.sealed_exit(generation)
    }

    fn seal(s: &SharedTimeWindow<B>, generation: u32, to: State) -> Seal {
        s.ledger.seal(generation, to, false)
    }

    fn count(s: &SharedTimeWindow<B>, cx: &Cx<'_>, cw: Word, call: Call, t: u64) -> Step {
        let code = u8::from(call.failed) | (u8::from(call.slow) << 1);
        let config = cx.config;
        s.ledger.count(cw.generation, t, code, false, |_, w| {
            // The latest epoch counted: an earlier one is judged at it.
            let e = match w {
                Some(w) => s.epoch(t).max(w.key),
                None => s.epoch(t),
            };
            let (sum, d) = s.sum(w, e, Some(code));
            let trip = sum.calls >= s.minimum_calls
                && (reaches(sum.failures, sum.calls, s.failure_percent)
                    || (config.slow_call_duration().is_some()
                        && reaches(sum.slow, sum.calls, config.slow_percent)));
            (e, d, trip)
        })
    }

    fn stats(s: &SharedTimeWindow<B>, cw: Word, t: u64) -> WindowStats {
        s.ledger.read(cw.generation, false, |_, w| match w {
            Some(w) => s.sum(Some(w), s.epoch(t).max(w.key), None).0.stats(),
            None => WindowStats::default(),
        })
    }
}
impl<const B: usize> SharedPolicy for TimeWindow<B> {}

// ---------------------------------------------------------------------------
// FailureCount.
// ---------------------------------------------------------------------------

/// The shared side of a [`FailureCount`]: its window word and one bucket
/// (the counts of the current interval).
#[derive(Debug)]
pub struct SharedFailureCount {
    ledger: Ledger<1>,
    threshold: u32,
    // 0 when off.
    interval: u64,
}

impl SharedFailureCount {
    /// Whether an outcome at `t` begins a new interval over open word `w`.
    fn rolls(&self, w: Option<Lw>, t: u64) -> bool {
        match w {
            None => true,
            Some(w) => {
                w.tag == NO_CALL || (self.interval != 0 && t >= w.key.saturating_add(self.interval))
            }
        }
    }
}

impl sealed::Share for FailureCount {
    type Shared = SharedFailureCount;

    fn share(self) -> Result<SharedFailureCount, ConfigError> {
        Ok(SharedFailureCount {
            ledger: Ledger::new(),
            threshold: self.threshold(),
            interval: self.counting_interval().map_or(0, |d| d.as_ticks()),
        })
    }

    fn sealed_exit(s: &SharedFailureCount, generation: u32) -> Option<Exit> {
        s.ledger.sealed_exit(generation)
    }

    fn seal(s: &SharedFailureCount, generation: u32, to: State) -> Seal {
        s.ledger.seal(generation, to, true)
    }

    fn count(s: &SharedFailureCount, _cx: &Cx<'_>, cw: Word, call: Call, t: u64) -> Step {
        let code = u8::from(call.failed) | (u8::from(call.slow) << 1);
        s.ledger.count(cw.generation, t, code, true, |ledger, w| {
            let roll = s.rolls(w, t);
            let base = if roll {
                Counts::default()
            } else {
                ledger.counts(0)
            };
            let after = base.add(code, true);
            let trip = (call.failed || call.slow) && after.failures >= s.threshold;
            let key = match w {
                Some(w) if !roll => w.key,
                _ => t,
            };
            (key, u32::from(roll), trip)
        })
    }

    fn stats(s: &SharedFailureCount, cw: Word, t: u64) -> WindowStats {
        s.ledger.read(cw.generation, true, |ledger, w| match w {
            // Begun, and not over at `t`.
            Some(w) if !s.rolls(Some(w), t) => ledger.counts(0).stats(),
            _ => WindowStats::default(),
        })
    }
}
impl SharedPolicy for FailureCount {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn window_words_round_trip() {
        let open = Lw {
            key: u64::MAX - 1,
            tag: 3,
            seq: SEQ_MASK,
            generation: GEN_MASK,
            d: MAX_BUCKETS as u32,
        };
        assert_eq!(Lw::unpack(open.pack()), open);
        let sealed = Lw {
            key: 77,
            tag: TRIP,
            seq: 5,
            generation: u32::MAX,
            d: 0,
        };
        assert_eq!(Lw::unpack(sealed.pack()), sealed);
        let c = Counts {
            calls: u32::MAX,
            failures: 7,
            slow: u32::MAX - 1,
        };
        assert_eq!(bucket_unpack(bucket_pack(SEQ_MASK, c)), (SEQ_MASK, c));
    }
}
