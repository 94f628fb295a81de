//! Clocks in fusebox's time types.

use std::sync::atomic::{AtomicU64, Ordering};

use fusebox::time::{Clock, Duration, Instant};

/// Ticks per second of fusebox's time types in this build (embassy-time's
/// `TICK_HZ`: 1 MHz unless the binary selects another rate).
pub const TICK_HZ: u64 = embassy_tick_hz();

const fn embassy_tick_hz() -> u64 {
    // One second, in ticks, is the tick rate.
    Duration::from_secs(1).as_ticks()
}

/// A monotonic clock: ticks since the clock was created, read from
/// [`std::time::Instant`] (never from embassy-time's std driver).
///
/// Clones share the same origin, so instants from clones compare.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    origin: std::time::Instant,
}

impl StdClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }

    /// The fusebox instant of a std instant taken from the same machine
    /// (an instant before this clock's origin maps to zero).
    pub fn instant_of(&self, at: std::time::Instant) -> Instant {
        let since = at.saturating_duration_since(self.origin);
        // u64 arithmetic with constant divisors (a u128 division costs more
        // than the clock read itself): whole seconds, then the fraction.
        let whole = since.as_secs().saturating_mul(TICK_HZ);
        let nanos = u64::from(since.subsec_nanos());
        let part = if TICK_HZ <= 1_000_000_000 {
            nanos * TICK_HZ / 1_000_000_000
        } else {
            (u128::from(nanos) * u128::from(TICK_HZ) / 1_000_000_000) as u64
        };
        Instant::from_ticks(whole.saturating_add(part))
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Instant {
        self.instant_of(std::time::Instant::now())
    }
}

/// Convert a fusebox duration to a std one (at this build's tick rate).
pub fn to_std(d: Duration) -> std::time::Duration {
    let nanos = u128::from(d.as_ticks()) * 1_000_000_000 / u128::from(TICK_HZ);
    std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A clock that only moves when told to: for tests and simulations.
///
/// `Sync`, so one clock can drive primitives shared between threads.
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
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    ticks: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Instant) -> Self {
        Self {
            ticks: AtomicU64::new(start.as_ticks()),
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
        // At least the 2 ms slept, at this build's tick rate.
        assert!(b.as_ticks() - a.as_ticks() >= 2 * TICK_HZ / 1000);
    }

    #[test]
    fn instants_before_the_origin_map_to_zero() {
        let before = std::time::Instant::now();
        let clock = StdClock::new();
        assert_eq!(clock.instant_of(before), Instant::from_ticks(0));
    }

    #[test]
    fn duration_round_trip() {
        assert_eq!(TICK_HZ, 1_000_000);
        assert_eq!(
            to_std(Duration::from_millis(1500)),
            std::time::Duration::from_millis(1500)
        );
    }

    #[test]
    fn manual_clock_saturates() {
        let c = ManualClock::new(Instant::from_ticks(u64::MAX - 1));
        c.advance(Duration::from_ticks(10));
        assert_eq!(c.now(), Instant::MAX);
    }
}
