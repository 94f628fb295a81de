//! Rate limits and retry budgets: how many requests to admit per unit of
//! time, exactly, and how many retries a service may add to its traffic.
//!
//! - [`TokenBucket`]: one bucket behind `&mut self` (a task, a UART
//!   uplink, a `Mutex`).
//! - [`SharedTokenBucket`] (feature `sync`): the same bucket behind `&self`,
//!   lock-free where the CPU has compare-and-swap.
//! - [`KeyedLimiter`]: a bucket per key (client, device) in a fixed table
//!   of `N` entries.
//! - [`RetryBudget`]: whether a retry is allowed, as a share of recent
//!   successes plus a floor per second (Finagle, Envoy).
//! - [`ConcurrentRetryBudget`]: whether a retry is allowed, as a share of
//!   the requests in flight plus a minimum (Envoy's `retry_budget`).
//!
//! Each is a token bucket kept as GCRA (the generic cell rate algorithm):
//! the state is one *theoretical arrival time* (TAT), the time at which the
//! bucket would be full again. Asking for tokens moves it forward; a
//! refused request changes nothing.
//!
//! ```
//! use fusebox::rate::{Quota, TokenBucket};
//! use fusebox::time::{Duration, Instant};
//!
//! // 3 tokens per 10 ticks (10 does not divide by 3: still exact), burst 2.
//! let quota = Quota::new(3, Duration::from_ticks(10), 2)?;
//! let mut bucket = TokenBucket::new(quota);
//! let t = Instant::from_ticks;
//!
//! // The bucket starts full: a burst at once, then one token per 10/3 ticks.
//! assert!(bucket.try_acquire(t(0)).is_ok());
//! assert!(bucket.try_acquire(t(0)).is_ok());
//! let rejected = bucket.try_acquire(t(0)).unwrap_err();
//! assert_eq!(rejected.retry_after, Some(Duration::from_ticks(4))); // 10/3, rounded up
//! assert!(bucket.try_acquire(t(3)).is_err()); // 3 x 3 = 9 < 10
//! assert!(bucket.try_acquire(t(4)).is_ok());
//! assert!(bucket.try_acquire(t(6)).is_err()); // 2 tokens by 20/3 = 6.67
//! assert!(bucket.try_acquire(t(7)).is_ok());
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # The law
//!
//! A [`Quota`] is `r` tokens per period of `P` ticks with a burst of `b`.
//! For requests at ticks `t` (in any order), the tokens admitted at ticks
//! in any closed interval `[s, s + W]` never exceed
//!
//! ```text
//!     b + floor(W x r / P)
//! ```
//!
//! and a caller that asks at every tick from a full bucket at tick `s`
//! gets exactly that many by tick `s + W`, for every `W`: there is no
//! drift, ever, because nothing is rounded. (Exactness needs the bucket to
//! hold one tick's refill, `r <= (b - 1) x P + 1`, which any `b >= 2` with
//! `r <= P` does. Below that the cap discards part of a tick's refill, and
//! must: with 3 tokens per 10 ticks and `b = 1`, admitting at ticks 4 and
//! 7 would put 2 tokens in `[4, 7]`, whose bound is 1.) The TAT is kept in units of
//! `1/r` tick (a `u128`, at most 2^97 since `r < 2^32` and ticks
//! `< 2^64`): one token costs `P` units, the bucket holds `b x P` units,
//! and `now` is `now x r` units. A request for `n` tokens at `now` is
//! admitted iff
//!
//! ```text
//!     max(TAT, now x r) + n x P - now x r  <=  b x P
//! ```
//!
//! and then `TAT := max(TAT, now x r) + n x P`. (This is governor's
//! tolerance `T x (b - 1)` with `T = P / r`, for `n = 1`.) Proof sketch of
//! the law: each admission moves the TAT to at least its own time plus
//! its cost, so after admissions totalling `k` tokens at ticks `>= s`, the
//! TAT is at least `s x r + (k - n_last) x P`; the last one, at `t <= s + W`,
//! was admitted, so `k x P <= b x P + W x r`. The property tests check the
//! law over random timelines (including times going backwards) against an
//! exact rational reference, and the no-drift count over a simulated year
//! for quotas from 1 per day at 1 kHz to 10^9 per second at 1 GHz.
//!
//! # Transitions
//!
//! | from | event | to |
//! |---|---|---|
//! | holds >= n tokens | `try_acquire_n(n, now)` | admitted; n tokens fewer (`TAT := max(TAT, now x r) + n x P`) |
//! | holds < n tokens | `try_acquire_n(n, now)` | [`Rejected`] with `retry_after`; unchanged |
//! | any | `try_acquire_n(0, now)` | admitted; unchanged |
//! | any | `try_acquire_n(n > b, now)` | [`Rejected`] with `retry_after: None`; unchanged |
//! | any | time passes | refills at `r / P` tokens per tick, up to `b` |
//! | keyed: new key, a free or idle entry in its window | request | tracked with a full bucket, then as above |
//! | keyed: new key, window all busy | request | [`WhenFull::RejectNew`]: [`KeyedRejected::TableFull`]; [`WhenFull::EvictLeastRecent`]: the least recently seen key is forgotten and the new one tracked |
//!
//! # Conventions
//! - `burst` is the bucket's whole capacity: a full bucket admits `burst`
//!   at once (not `burst + 1`).
//! - The bucket starts full, and a key the keyed limiter does not track
//!   has a full bucket.
//! - A refused request changes no bucket (the keyed limiter notes the
//!   key's request time, for recency only).
//! - `retry_after` and `time_until` round up to whole ticks: at `now +
//!   retry_after` the same request is admitted if nobody took tokens since.
//! - `n = 0` is always admitted and takes nothing; `n > burst` is never
//!   admitted (`retry_after: None`, `time_until` gives [`ExceedsBurst`]).
//! - Time that goes backwards never admits more: a `now` earlier than one
//!   already seen is judged at that earlier time, when the bucket held no
//!   more than it holds now (counts as no time elapsed, or less). The law
//!   holds for timestamps in any order.
//! - Keyed: idle keys (whose bucket has refilled to full) are forgotten
//!   first, since that loses nothing. Under [`WhenFull::RejectNew`] no
//!   busy key is ever forgotten, so the law holds for every key. Under
//!   [`WhenFull::EvictLeastRecent`] a forgotten busy key comes back with a
//!   full bucket: up to one extra burst per eviction. Recency counts every
//!   request of the key, refused ones too, so a key that keeps hammering
//!   is never the one forgotten.
//! - Keyed: keys are hashed with a [`Seed`](crate::hash::Seed) the caller
//!   supplies (`getrandom` on a server, the ring oscillator on an RP2040;
//!   see [`crate::hash`]), and a key is looked for in at most
//!   [`PROBE_WINDOW`] entries: a client who picks colliding keys gets
//!   refusals (or evicts within its own window), never slow operations.
//!
//! # Memory
//!
//! Sizes in bytes (asserted by tests):
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | [`Quota`] | 16 | 16 |
//! | [`TokenBucket`] | 32 | 32 |
//! | [`SharedTokenBucket`] | 48 | 48 |
//! | [`KeyedLimiter<u64, N>`](KeyedLimiter) | 56 + 40 x N | 56 + 40 x N |
//! | [`KeyedLimiter<u32, N>`](KeyedLimiter) | 56 + 32 x N | 56 + 32 x N |
//! | [`RetryBudget<S>`](RetryBudget) | 32 + 16 x S (192 for the default S = 10) | 32 + 16 x S |
//! | [`ConcurrentRetryBudget`] | 16 | 16 |
//!
//! (governor's direct `RateLimiter` is 72 bytes on x86_64 and its keyed one
//! grows by about 34 bytes per key, without bound.)

mod bucket;
mod budget;
mod concurrency;
mod keyed;
#[cfg(feature = "sync")]
mod shared;

pub use bucket::{ExceedsBurst, Quota, Rejected, TokenBucket};
pub use budget::RetryBudget;
pub use concurrency::ConcurrentRetryBudget;
pub use keyed::{KeyedLimiter, KeyedMetrics, KeyedRejected, PROBE_WINDOW, WhenFull};
#[cfg(feature = "sync")]
pub use shared::SharedTokenBucket;
