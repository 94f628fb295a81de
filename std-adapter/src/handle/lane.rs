//! Per-thread success lanes of the breaker handle
//! ([`fusebox::breaker::Lane`]): each thread of the process takes a lane
//! index, the first time it records into a breaker, from a free list, and
//! gives it back when it exits; each breaker keeps [`LANES`] lanes, one per
//! index below it. A lane has one writer at a time, so counting a healthy
//! success needs no locked instruction, and threads never write one cache
//! line. Threads past the first [`LANES`] live ones, and a thread recording
//! while its thread-locals are being destroyed, count in the breaker's own
//! striped metrics instead (a locked add).
//!
//! Handing an index over: a thread's last store to its lanes happens before
//! it pushes the index onto the free list (under its mutex), which happens
//! before the next taker pops it; so the next writer starts from every
//! count of the one before.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use fusebox::breaker::{Lane, Metrics};

/// Lanes per breaker: 32 x 128 bytes (each on its own pair of cache
/// lines), 4 KiB per breaker handle.
pub(crate) const LANES: usize = 32;

/// No lane: not taken yet, or the thread is exiting.
const NONE: usize = usize::MAX;

/// Indices given back by exited threads.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next index never handed out.
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's lane index (`NONE` until taken).
    static INDEX: Cell<usize> = const { Cell::new(NONE) };
    /// Gives the index back when the thread exits.
    static RELEASE: Release = const { Release };
}

struct Release;

impl Drop for Release {
    fn drop(&mut self) {
        let index = INDEX.with(|i| i.replace(NONE));
        if index != NONE {
            crate::handle::lock(&FREE).push(index);
        }
    }
}

/// This thread's lane index, taken on first use; `NONE` while the thread
/// is exiting (its thread-locals being destroyed).
#[inline(always)]
fn index() -> usize {
    let i = INDEX.with(Cell::get);
    if i != NONE { i } else { take() }
}

#[cold]
fn take() -> usize {
    // Register the release first: if the thread is exiting, take nothing.
    if RELEASE.try_with(|_| ()).is_err() {
        return NONE;
    }
    let i = crate::handle::lock(&FREE)
        .pop()
        .unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed));
    INDEX.with(|c| c.set(i));
    i
}

/// One lane on its own 128 bytes (the pair of cache lines x86_64's
/// spatial prefetcher fetches together).
#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded(Lane);

/// A breaker's lanes.
#[derive(Debug)]
pub(crate) struct Lanes(Box<[Padded]>);

impl Lanes {
    pub(crate) fn new() -> Self {
        Self((0..LANES).map(|_| Padded::default()).collect())
    }

    /// This thread's lane, if it has one.
    #[inline(always)]
    pub(crate) fn mine(&self) -> Option<&Lane> {
        self.0.get(index()).map(|p| &p.0)
    }

    /// `metrics` with every lane's successes added.
    pub(crate) fn add_to(&self, metrics: Metrics) -> Metrics {
        self.0.iter().fold(metrics, |m, p| p.0.add_to(m))
    }
}
