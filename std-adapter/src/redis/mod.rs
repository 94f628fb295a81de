//! Fleet-wide rate limits and idempotency keys, in Redis (feature `redis`).
//!
//! When one instance is not enough, a per-instance limit lets N times the
//! quota through, and an idempotency key seen by one instance is unknown to
//! the next. This module keeps that state in Redis (7.x), where every
//! instance of the fleet sees it:
//!
//! - [`FleetLimiter`]: a keyed token bucket whose state per key is one
//!   Redis hash, updated atomically by a Lua script that runs the core's
//!   GCRA law ([`fusebox::rate`]) in exact integers on Redis's clock;
//! - [`RedisIdempotencyStore`], an
//!   [`IdempotencyStore`](crate::idempotency::IdempotencyStore) with the
//!   core's New / InFlight / Done semantics, in-flight expiry and a fencing
//!   token;
//! - [`RedisGuard`]: the one connection both use (redis-rs, multiplexed,
//!   reconnecting), behind a fusebox breaker and a timeout; degraded mode
//!   and its recovery are the breaker's transitions, handed to an observer
//!   and to `tracing`.
//!
//! Scripts are loaded once (`SCRIPT LOAD`) and called by SHA (`EVALSHA`);
//! when Redis answers `NOSCRIPT` (after a restart or a failover) the script
//! is loaded again and the call repeated, inside the same guarded call.
//! Each script call names exactly one key, and keys carry a hash tag
//! (`<prefix>:rl:{<key>}`, `<prefix>:idem:{<key>}`), so both work on Redis
//! Cluster.
//!
//! # Degraded mode
//!
//! | from | event | to | limiter answers | store answers |
//! |---|---|---|---|---|
//! | shared (breaker closed) | a call fails or times out, threshold reached | degraded (open) | its [`Fallback`] | its [`StoreFallback`] |
//! | degraded (open) | open duration passes, next call | probing (half-open) | the probe asks Redis; other calls the fallback | likewise |
//! | probing | the probe succeeds (enough times) | shared | Redis | Redis |
//! | probing | the probe fails | degraded | fallback | fallback |
//!
//! Recovery needs no action: the next call after the open duration is the
//! probe. See the README's "Running a fleet" for what can be over-admitted
//! when Redis partitions or fails over.

mod guard;
mod idempotency;
mod limiter;

pub use guard::{Event, GuardMetrics, Mode, RedisGuard, Unavailable};
pub use idempotency::{RedisIdempotencyStore, StoreConfig, StoreFallback};
pub use limiter::{
    Decision, Fallback, FleetConfig, FleetLimiter, MAX_BURST_TIMES_PERIOD_US, Source,
};

/// `<prefix>:<kind>:{<key>}`, the key's bytes unchanged (binary-safe).
fn tagged_key(prefix: &[u8], kind: &[u8], key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + kind.len() + key.len() + 4);
    out.extend_from_slice(prefix);
    out.push(b':');
    out.extend_from_slice(kind);
    out.extend_from_slice(b":{");
    out.extend_from_slice(key);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_a_hash_tag_and_keep_their_bytes() {
        assert_eq!(
            tagged_key(b"fb", b"rl", b"user-1"),
            b"fb:rl:{user-1}".to_vec()
        );
        assert_eq!(
            tagged_key(b"fb", b"idem", &[0, 0xff, b'}']),
            vec![
                b'f', b'b', b':', b'i', b'd', b'e', b'm', b':', b'{', 0, 0xff, b'}', b'}'
            ]
        );
    }
}
