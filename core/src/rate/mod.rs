//! Rate limits and retry budgets: how many requests to admit per unit of
//! time, exactly, and how many retries a service may add to its traffic.
//!
//! - [`TokenBucket`]: one bucket behind `&mut self` (a task, a UART
//!   uplink, a `Mutex`).
//! - [`SharedTokenBucket`] (feature `sync`): the same bucket behind `&self`,
//!   lock-free where the CPU has compare-and-swap.
//! - [`KeyedLimiter`]: a bucket per key (client, device) in a fixed table
//!   of `N` entries.
//! - [`SharedKeyedLimiter`] (feature `sync`): the keyed limiter behind
//!   `&self`, in `S` shards of `N` entries, each behind its own lock (a
//!   `lock_api::RawMutex` the binary picks), with the `&mut` limiter's
//!   decisions.
//! - [`RetryBudget`]: whether a retry is allowed, as a share of recent
//!   successes plus a floor per second (Finagle, Envoy).
//! - [`SharedRetryBudget`] (feature `sync`): the retry budget behind
//!   `&self`, never over-spent.
//! - [`ConcurrentRetryBudget`]: whether a retry is allowed, as a share of
//!   the requests in flight plus a minimum (Envoy's `retry_budget`).
//!
//! Each is a token bucket kept as GCRA (the generic cell rate algorithm):
//! the state is one *theoretical arrival time* (TAT), the time at which the
//! bucket would be full again. Asking for tokens moves it forward; a
//! refused request takes nothing.
//!
//! ```
//! use fusebox::rate::{Quota, TokenBucket};
//! use fusebox::time::{Duration, Instant};
//!
//! // 3 tokens per 10 ticks (10 does not divide by 3: still exact), burst 2.
//! let quota = Quota::per_period(3, Duration::from_ticks(10)).allow_burst(2).build()?;
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
//! For requests judged at ticks `t` (each request's `now`, or the latest
//! instant seen before it if that is later), the tokens admitted at ticks
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
//! law over random timelines (including times going backwards, over the
//! instants judged at) against an
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
//! - A refused request takes no token: it changes no bucket, and only
//!   its instant is noted, as the latest seen if it is later (the keyed
//!   limiter also notes the key's request time, for recency).
//! - `retry_after` and `time_until` round up to whole ticks: at `now +
//!   retry_after` the same request is admitted if nobody took tokens since.
//! - `n = 0` is always admitted and takes nothing; `n > burst` is never
//!   admitted (`retry_after: None`, `time_until` gives [`ExceedsBurst`]).
//! - Time that goes backwards counts as no time elapsed: a `now` earlier
//!   than the latest instant seen is judged as that latest instant. Each
//!   limiter keeps the latest instant it was given (refused requests
//!   included; a keyed limiter keeps one for the whole table), and the law
//!   holds over these clamped instants: a request clamped forward may sit
//!   closer to the one before it, by their raw times, than the law's
//!   spacing; by the clamped times the law holds exactly.
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
//! Sizes in bytes (asserted by the size tables, `tests/tests/sizes.rs` and
//! `tests/m0/src/sizes.rs`):
//!
//! | type | x86_64 | thumbv6m |
//! |---|---|---|
//! | [`Quota`] | 16 | 16 |
//! | [`TokenBucket`] | 40 | 40 |
//! | [`SharedTokenBucket`] | 48 | 48 |
//! | [`KeyedLimiter<u64, N>`](KeyedLimiter) | 64 + 40 x N | 64 + 40 x N |
//! | [`KeyedLimiter<u32, N>`](KeyedLimiter) | 64 + 32 x N | 64 + 32 x N |
//! | [`RetryBudget<S>`](RetryBudget) | 32 + 16 x S (192 for the default S = 10) | 32 + 16 x S |
//! | [`ConcurrentRetryBudget`] | 16 | 16 |
//! | [`SharedKeyedLimiter<R, u64, S, N>`](SharedKeyedLimiter), one-byte `R` | 32 + S x (64 + 40 x N) | 32 + S x (64 + 40 x N) |
//! | [`SharedKeyedLimiter<R, u32, S, N>`](SharedKeyedLimiter), one-byte `R` | 32 + S x (64 + 32 x N) | 32 + S x (64 + 32 x N) |
//! | [`SharedRetryBudget<R, S>`](SharedRetryBudget), one-byte `R` | 40 + 16 x S (200 for S = 10) | 40 + 16 x S |
//!
//! (A shard is the `&mut` limiter plus the raw mutex, rounded up to 8
//! bytes; "one-byte `R`": parking_lot's and spin's raw mutexes.)
//!
//! (governor's direct `RateLimiter` is 72 bytes on x86_64 and its keyed one
//! grows by about 34 bytes per key, without bound.)

mod bucket;
mod budget;
#[cfg(feature = "sync")]
mod budget_shared;
mod concurrency;
mod gcra;
mod keyed;
#[cfg(feature = "sync")]
mod keyed_shared;
mod quota;
#[cfg(feature = "sync")]
mod shared;

pub use bucket::TokenBucket;
pub use budget::{RetryBudget, RetryBudgetBuilder};
#[cfg(feature = "sync")]
pub use budget_shared::SharedRetryBudget;
pub use concurrency::{ConcurrentRetryBudget, ConcurrentRetryBudgetBuilder};
pub use gcra::{ExceedsBurst, Rejected};
pub use keyed::{KeyedLimiter, KeyedMetrics, KeyedRejected, PROBE_WINDOW, WhenFull};
#[cfg(feature = "sync")]
pub use keyed_shared::SharedKeyedLimiter;
pub use quota::{Quota, QuotaBuilder};
#[cfg(feature = "sync")]
pub use shared::SharedTokenBucket;
