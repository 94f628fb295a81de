//! Clocks in fusebox's time types, all on one process-wide epoch.
//!
//! # Which clock for what
//!
//! | clock | reads | resolution | cost per read (see below) | default for |
//! |---|---|---|---|---|
//! | [`CoarseClock`] | one atomic load of a tick count a background thread refreshes | its refresh interval (1 ms by default) | an atomic load | admission: [`RateLimiter`](crate::RateLimiter), [`KeyedLimiter`](crate::KeyedLimiter), [`RetryBudget`](crate::RetryBudget), [`DedupTable`](crate::DedupTable) |
//! | [`FastClock`] | the CPU's time-stamp counter through `quanta` (the OS clock where there is no usable TSC) | 1 tick | one `rdtsc` and a scale | durations: [`Breaker`](crate::Breaker) (slow calls, the duration histogram; a healthy breaker with neither reads no clock at all, see its docs), [`AdaptiveLimiter`](crate::AdaptiveLimiter) (latency), [`retry`](crate::retry()) (timeouts, deadline) |
//! | [`RecentClock`] | `quanta`'s recent time, refreshed by quanta's upkeep thread | its upkeep interval (1 ms) | an atomic load and a scale | governor's `QuantaUpkeepClock` is this clock: for like-for-like comparisons |
//! | [`StdClock`] | [`std::time::Instant`] (`clock_gettime(CLOCK_MONOTONIC)` on Linux) | 1 tick | a vDSO call | code that must agree with `std::time::Instant` |
//! | [`TokioClock`] | [`tokio::time::Instant`] (feature `tokio`) | 1 tick | as `StdClock` | tests under `tokio::time::pause()` |
//! | [`ManualClock`] | a number the test sets | 1 tick | an atomic load | tests and simulations |
//!
//! Measured on the issue's machine before this module existed:
//! `std::time::Instant::now` about 29 ns, quanta's TSC clock about 9.5 ns.
//! The `clock/*` rows of `tests/benches/std_handles.rs` measure every clock
//! above side by side (figures in BENCHMARKS.md, taken by the maintainers on
//! a quiet machine).
//!
//! Why these defaults: an admission decision (is the breaker open, is there
//! a token) tolerates a clock that lags by up to its refresh interval: the
//! decision is the one the primitive would have made a moment earlier, and
//! every law the core states holds for any timestamps. A duration (a slow
//! call, a timeout, a latency) does not: a 1 ms clock would call a 900 us
//! call 0 us or 1 ms. The breaker measures its calls, so it takes the
//! precise [`FastClock`]; it reads it lazily (only where a decision needs
//! the time, and at both ends of a call only when the call is timed), so
//! a healthy breaker pays no clock at all, and an open one one read per
//! refusal. The coarse clock is fusebox's own rather than
//! quanta's recent clock because it stores fusebox ticks directly: a read
//! is one load, with no scaling.
//!
//! # One epoch per process
//!
//! Every clock here except [`ManualClock`] counts ticks from one epoch,
//! fixed the first time any of them is read (or [`epoch`] is called) and
//! back-dated by [`EPOCH_OFFSET`], so that a tokio runtime paused a moment
//! before still maps after it. Two clocks of one type therefore always
//! agree, however many are built; clocks of different types agree to within
//! their resolution and the TSC calibration (they are different hardware
//! counters). A handle is bound to one clock type, and reads the clock
//! itself: no caller passes it a `now` from another clock.
//!
//! # Upkeep threads
//!
//! [`CoarseClock`] and [`RecentClock`] need a thread that refreshes them.
//! Building the first one starts it (one per process, for the life of the
//! process, named `fusebox-coarse-clock` / quanta's upkeep); so does
//! [`CoarseClock::start`]. They cannot be built without it: their fields
//! are private and every constructor starts it, so they never read a stale
//! zero. If the OS refuses the thread, the clock falls back to reading
//! [`FastClock`] on every call (correct, only slower), and
//! [`CoarseClock::is_refreshed`] says so.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fusebox::time::{Clock, Duration, Instant};

/// Ticks per second of fusebox's time types in this build (embassy-time's
/// `TICK_HZ`: 1 MHz unless the binary selects another rate).
pub const TICK_HZ: u64 = embassy_tick_hz();

const fn embassy_tick_hz() -> u64 {
    // One second, in ticks, is the tick rate.
    Duration::from_secs(1).as_ticks()
}

/// How far the process epoch is back-dated from the first clock read: every
/// clock reads at least this much (60 s, in ticks) at its first read.
pub const EPOCH_OFFSET: Duration = Duration::from_secs(60);

struct Epoch {
    std: std::time::Instant,
    quanta: quanta::Clock,
    quanta_raw: u64,
    // `quanta_raw` scaled: the epoch on quanta's recent-time scale.
    quanta_origin: quanta::Instant,
}

static EPOCH: OnceLock<Epoch> = OnceLock::new();

#[inline]
fn the_epoch() -> &'static Epoch {
    EPOCH.get_or_init(|| {
        // quanta calibrates its TSC scale on the first clock built (up to
        // 200 ms, once per process): done here, not on a request's path.
        let quanta = quanta::Clock::new();
        let quanta_raw = quanta.raw();
        Epoch {
            std: std::time::Instant::now(),
            quanta_origin: quanta.scaled(quanta_raw),
            quanta,
            quanta_raw,
        }
    })
}

/// Fix the process epoch now, if no clock has been read yet, and return the
/// instant it stands for in `std::time::Instant` terms (the first read,
/// before [`EPOCH_OFFSET`] is added). Optional: the first clock read does
/// the same. Call it at start-up to keep quanta's one-off calibration (up
/// to 200 ms) off the first request.
pub fn epoch() -> std::time::Instant {
    the_epoch().std
}

const EPOCH_OFFSET_NANOS: u64 = 60_000_000_000;

/// `nanos` after the epoch (or before it), in ticks with the offset. The
/// nanoseconds are offset first and converted once, so a difference of
/// instants is exact whichever side of the epoch they fall.
#[inline]
fn ticks_of_nanos(after: bool, nanos: u64) -> Instant {
    let total = if after {
        EPOCH_OFFSET_NANOS.saturating_add(nanos)
    } else {
        EPOCH_OFFSET_NANOS.saturating_sub(nanos)
    };
    Instant::from_ticks(nanos_to_ticks(total))
}

#[inline]
fn nanos_to_ticks(nanos: u64) -> u64 {
    if TICK_HZ == 1_000_000 {
        nanos / 1_000
    } else {
        // Any other tick rate: exact in 128 bits.
        u64::try_from(u128::from(nanos) * u128::from(TICK_HZ) / 1_000_000_000).unwrap_or(u64::MAX)
    }
}

#[inline]
fn std_duration_nanos(d: std::time::Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// The fusebox instant of a std instant, on the process epoch.
#[inline]
fn instant_of_std(at: std::time::Instant) -> Instant {
    let origin = the_epoch().std;
    match at.checked_duration_since(origin) {
        Some(d) => ticks_of_nanos(true, std_duration_nanos(d)),
        None => ticks_of_nanos(false, std_duration_nanos(origin.duration_since(at))),
    }
}

/// A monotonic clock read from [`std::time::Instant`], on the process epoch
/// (see the [module docs](self)). Zero-sized: every `StdClock` is the same
/// clock.
///
/// ```
/// use fusebox::time::Clock;
/// use fusebox_std::StdClock;
///
/// let (a, b) = (StdClock::new(), StdClock::new());
/// let (x, y) = (a.now(), b.now());
/// assert!(y >= x); // one epoch: two clocks compare
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StdClock;

impl StdClock {
    /// The clock (all `StdClock`s share the process epoch).
    pub const fn new() -> Self {
        Self
    }

    /// The fusebox instant of a std instant taken on this machine.
    pub fn instant_of(&self, at: std::time::Instant) -> Instant {
        instant_of_std(at)
    }
}

impl Clock for StdClock {
    #[inline]
    fn now(&self) -> Instant {
        instant_of_std(std::time::Instant::now())
    }
}

/// A precise clock read from the CPU's time-stamp counter through
/// [`quanta`] (the OS clock where there is no invariant TSC), on the process
/// epoch. The default for durations: slow calls, latencies, timeouts.
/// Zero-sized.
///
/// ```
/// use fusebox::time::Clock;
/// use fusebox_std::FastClock;
///
/// let clock = FastClock::new();
/// let a = clock.now();
/// std::thread::sleep(std::time::Duration::from_millis(1));
/// assert!(clock.now().as_ticks() - a.as_ticks() >= 1_000); // 1 ms at 1 MHz
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FastClock;

impl FastClock {
    /// The clock (calibrates quanta's TSC scale on the first use in the
    /// process).
    pub fn new() -> Self {
        let _ = the_epoch();
        Self
    }
}

impl Clock for FastClock {
    #[inline]
    fn now(&self) -> Instant {
        let e = the_epoch();
        let raw = e.quanta.raw();
        if raw >= e.quanta_raw {
            ticks_of_nanos(true, e.quanta.delta_as_nanos(e.quanta_raw, raw))
        } else {
            ticks_of_nanos(false, e.quanta.delta_as_nanos(raw, e.quanta_raw))
        }
    }
}

/// How often the [`CoarseClock`] thread refreshes the time (1 ms), unless
/// [`CoarseClock::start`] chose another interval first.
pub const COARSE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

static COARSE_TICKS: AtomicU64 = AtomicU64::new(0);
static COARSE_REFRESHED: AtomicBool = AtomicBool::new(false);
static COARSE_STARTED: OnceLock<std::time::Duration> = OnceLock::new();

/// fusebox's coarse clock: one atomic load of a tick count that a
/// background thread refreshes every [`COARSE_INTERVAL`], on the process
/// epoch. The default for admission decisions. Never goes backwards; lags
/// the true time by at most the interval (plus scheduling delay of the
/// thread).
///
/// The first `CoarseClock` built starts the thread (named
/// `fusebox-coarse-clock`, one per process, never stopped; it costs one
/// wake-up per interval). If the OS refuses the thread, every read falls
/// back to [`FastClock`]: correct, only slower; [`is_refreshed`](Self::is_refreshed)
/// then says `false`.
///
/// ```
/// use fusebox::time::Clock;
/// use fusebox_std::CoarseClock;
///
/// let clock = CoarseClock::new();
/// let a = clock.now();
/// std::thread::sleep(std::time::Duration::from_millis(20));
/// assert!(clock.now() > a); // the thread moves it
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CoarseClock {
    _started: (),
}

impl CoarseClock {
    /// The clock, starting its refresh thread with [`COARSE_INTERVAL`] if
    /// none runs yet.
    pub fn new() -> Self {
        Self::start(COARSE_INTERVAL)
    }

    /// The clock, starting its refresh thread with `interval` (at least
    /// 100 us) if none runs yet; a thread already running keeps its
    /// interval ([`interval`](Self::interval) tells which).
    pub fn start(interval: std::time::Duration) -> Self {
        let _ = COARSE_STARTED.get_or_init(|| {
            let interval = interval.max(std::time::Duration::from_micros(100));
            COARSE_TICKS.store(FastClock::new().now().as_ticks(), Ordering::Release);
            let spawned = std::thread::Builder::new()
                .name("fusebox-coarse-clock".into())
                .spawn(move || {
                    let clock = FastClock;
                    loop {
                        std::thread::sleep(interval);
                        COARSE_TICKS.fetch_max(clock.now().as_ticks(), Ordering::Release);
                    }
                });
            COARSE_REFRESHED.store(spawned.is_ok(), Ordering::Release);
            interval
        });
        Self { _started: () }
    }

    /// Whether the refresh thread runs (`false`: the OS refused it, and
    /// every read goes to [`FastClock`]).
    pub fn is_refreshed(&self) -> bool {
        COARSE_REFRESHED.load(Ordering::Relaxed)
    }

    /// The refresh interval of the running thread.
    pub fn interval(&self) -> std::time::Duration {
        COARSE_STARTED.get().copied().unwrap_or(COARSE_INTERVAL)
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Instant {
        if COARSE_REFRESHED.load(Ordering::Relaxed) {
            Instant::from_ticks(COARSE_TICKS.load(Ordering::Acquire))
        } else {
            FastClock.now()
        }
    }
}

static RECENT_STARTED: OnceLock<bool> = OnceLock::new();

/// quanta's recent clock (what governor's `QuantaUpkeepClock` reads): one
/// atomic load of a time that quanta's upkeep thread refreshes every 1 ms,
/// scaled to ticks on the process epoch. Kept for like-for-like
/// comparisons with governor; [`CoarseClock`] is the same idea without the
/// scaling.
///
/// The first `RecentClock` built starts quanta's upkeep thread (once per
/// process, never stopped; if another library started it already, that one
/// is used, and if that library later stops it the recent time freezes:
/// [`CoarseClock`] has no such shared owner). quanta's recent time reads zero while no upkeep thread runs:
/// if the thread cannot be started, every read falls back to
/// [`FastClock`], never to that zero.
///
/// ```
/// use fusebox::time::Clock;
/// use fusebox_std::RecentClock;
///
/// let clock = RecentClock::new();
/// assert!(clock.now().as_ticks() > 0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RecentClock {
    _started: (),
}

impl RecentClock {
    /// The clock, starting quanta's upkeep thread (1 ms) if none runs.
    pub fn new() -> Self {
        let _ = RECENT_STARTED.get_or_init(|| {
            let _ = the_epoch();
            match quanta::Upkeep::new(COARSE_INTERVAL).start() {
                // Runs for the life of the process.
                Ok(handle) => {
                    std::mem::forget(handle);
                    true
                }
                // Another library's upkeep thread already runs: quanta
                // set the recent time when it started it.
                Err(quanta::Error::UpkeepRunning) => true,
                // No thread: read the TSC instead of a frozen time.
                Err(quanta::Error::FailedToSpawnUpkeepThread(_)) => false,
            }
        });
        Self { _started: () }
    }
}

impl Default for RecentClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RecentClock {
    #[inline]
    fn now(&self) -> Instant {
        if !RECENT_STARTED.get().copied().unwrap_or(false) {
            return FastClock.now();
        }
        let e = the_epoch();
        let recent = e.quanta.recent();
        if recent >= e.quanta_origin {
            ticks_of_nanos(
                true,
                std_duration_nanos(recent.saturating_duration_since(e.quanta_origin)),
            )
        } else {
            ticks_of_nanos(
                false,
                std_duration_nanos(e.quanta_origin.saturating_duration_since(recent)),
            )
        }
    }
}

/// A clock that follows tokio's time (feature `tokio`), on the process
/// epoch: under `tokio::time::pause()` it moves only when the test advances
/// time (or the runtime auto-advances past idle timers), so paused tests
/// drive the primitives and the timers together. Outside a runtime, or in
/// one not paused, it reads the real time, as [`StdClock`].
///
/// ```
/// use fusebox::time::{Clock, Duration};
/// use fusebox_std::TokioClock;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = TokioClock::new();
/// let a = clock.now();
/// tokio::time::sleep(std::time::Duration::from_secs(5)).await; // paused: instant
/// assert_eq!(clock.now().as_ticks() - a.as_ticks(), Duration::from_secs(5).as_ticks());
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

#[cfg(feature = "tokio")]
impl TokioClock {
    /// The clock.
    pub const fn new() -> Self {
        Self
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        instant_of_std(tokio::time::Instant::now().into_std())
    }
}

/// `now - earlier`, zero if `now` is earlier.
pub(crate) fn elapsed(earlier: Instant, now: Instant) -> Duration {
    Duration::from_ticks(now.as_ticks().saturating_sub(earlier.as_ticks()))
}

/// `at + d`, saturating.
#[cfg(feature = "tokio")]
pub(crate) fn add(at: Instant, d: Duration) -> Instant {
    Instant::from_ticks(at.as_ticks().saturating_add(d.as_ticks()))
}

/// Convert a fusebox duration to a std one (at this build's tick rate).
pub fn to_std(d: Duration) -> std::time::Duration {
    let nanos = u128::from(d.as_ticks()) * 1_000_000_000 / u128::from(TICK_HZ);
    std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Convert a std duration to a fusebox one, rounding up to whole ticks
/// (saturating at `Duration::MAX`).
pub fn from_std(d: std::time::Duration) -> Duration {
    let ticks = (d.as_nanos() * u128::from(TICK_HZ)).div_ceil(1_000_000_000);
    Duration::from_ticks(u64::try_from(ticks).unwrap_or(u64::MAX))
}

/// A clock that only moves when told to: for tests and simulations. Its own
/// timeline (not the process epoch).
///
/// Clones share the time (one `Arc`): give a clone to a handle and move
/// the original from the test. `Send + Sync`, so one clock drives handles
/// shared between threads.
///
/// ```
/// use fusebox::time::{Clock, Duration, Instant};
/// use fusebox_std::ManualClock;
///
/// let clock = ManualClock::new(Instant::from_ticks(100));
/// clock.advance(Duration::from_ticks(5));
/// assert_eq!(clock.now(), Instant::from_ticks(105));
/// clock.set(Instant::from_ticks(7)); // may go backwards: fusebox copes
/// assert_eq!(clock.now(), Instant::from_ticks(7));
/// let shared = clock.clone(); // the same time
/// clock.advance(Duration::from_ticks(1));
/// assert_eq!(shared.now(), Instant::from_ticks(8));
/// ```
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    ticks: std::sync::Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Instant) -> Self {
        Self {
            ticks: std::sync::Arc::new(AtomicU64::new(start.as_ticks())),
        }
    }

    /// Move the clock forward by `d` (saturating at `Instant::MAX`).
    pub fn advance(&self, d: Duration) {
        let _ = self
            .ticks
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(d.as_ticks()))
            });
    }

    /// Set the clock to `at`, forwards or backwards.
    pub fn set(&self, at: Instant) {
        self.ticks.store(at.as_ticks(), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.ticks.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_clock_is_monotonic_and_in_ticks() {
        let clock = StdClock::new();
        let a = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = clock.now();
        assert!(b > a);
        assert!(b.as_ticks() - a.as_ticks() >= 2 * TICK_HZ / 1000);
    }

    #[test]
    fn every_clock_shares_the_epoch() {
        let e = epoch();
        assert_eq!(
            StdClock.instant_of(e),
            Instant::from_ticks(EPOCH_OFFSET.as_ticks())
        );
        // Read back to back, the clocks agree to within a few ms (the coarse
        // ones lag by up to their interval; TSC and OS clock differ by
        // calibration only).
        let ticks = |c: &dyn Clock| c.now().as_ticks();
        let s = ticks(&StdClock);
        for other in [
            ticks(&FastClock::new()),
            ticks(&CoarseClock::new()),
            ticks(&RecentClock::new()),
        ] {
            assert!(s.abs_diff(other) < 50 * TICK_HZ / 1000, "{s} vs {other}");
        }
        // Before the epoch saturates below the offset, never wraps.
        let before = e
            .checked_sub(std::time::Duration::from_secs(1))
            .unwrap_or(e);
        assert!(StdClock.instant_of(before).as_ticks() <= EPOCH_OFFSET.as_ticks());
    }

    #[test]
    fn coarse_clock_is_refreshed_and_never_zero() {
        let c = CoarseClock::new();
        assert!(c.is_refreshed());
        assert!(c.now().as_ticks() >= EPOCH_OFFSET.as_ticks());
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(c.now() > a);
        assert_eq!(c.interval(), COARSE_INTERVAL);
    }

    #[test]
    fn recent_clock_moves() {
        let c = RecentClock::new();
        let a = c.now();
        assert!(a.as_ticks() >= EPOCH_OFFSET.as_ticks() / 2);
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(c.now() > a);
    }

    #[test]
    fn duration_round_trip() {
        assert_eq!(TICK_HZ, 1_000_000);
        assert_eq!(
            to_std(Duration::from_millis(1500)),
            std::time::Duration::from_millis(1500)
        );
        assert_eq!(
            from_std(std::time::Duration::from_nanos(1)),
            Duration::from_ticks(1)
        );
        assert_eq!(
            from_std(std::time::Duration::MAX),
            Duration::from_ticks(u64::MAX)
        );
    }

    #[test]
    fn manual_clock_saturates() {
        let c = ManualClock::new(Instant::from_ticks(u64::MAX - 1));
        c.advance(Duration::from_ticks(10));
        assert_eq!(c.now(), Instant::MAX);
    }
}
