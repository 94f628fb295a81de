//! The fleet limiter against a real redis-server: the core's GCRA law held
//! globally by 4 instances, the Lua law equal to `fusebox::rate::TokenBucket`
//! on random timelines, values at the exactness limit, odd key bytes.

mod support;

use std::sync::Arc;

use fusebox::rate::{Quota, TokenBucket};
use fusebox::time::{Duration, Instant};
use fusebox_std::redis::{
    Decision, FleetConfig, FleetLimiter, MAX_BURST_TIMES_PERIOD_US, RedisGuard, Source,
};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};
use redis::AsyncCommands;
use support::{RedisServer, instance, raw, runtime};

fn limiter(guard: &Arc<RedisGuard>, config: FleetConfig) -> FleetLimiter {
    FleetLimiter::new(Arc::clone(guard), config).expect("a supported quota")
}

/// The law over judged instants: in every window `[s, s + W]` that starts
/// at an admission, at most `b + floor(W x r / P)` tokens (the quota in
/// microseconds, lowest terms).
fn check_law(quota: Quota, admitted: &mut [u64]) {
    admitted.sort_unstable();
    let (r, p, b) = (
        u128::from(quota.rate()),
        u128::from(quota.period().as_ticks()),
        u128::from(quota.burst()),
    );
    for i in 0..admitted.len() {
        for j in i..admitted.len() {
            let w = u128::from(admitted[j] - admitted[i]);
            let count = (j - i + 1) as u128;
            let bound = b + w * r / p;
            assert!(
                count <= bound,
                "{count} admitted in [{}, {}] us; the law allows {bound}",
                admitted[i],
                admitted[j]
            );
        }
    }
}

#[test]
fn four_instances_hold_the_law_on_one_key_through_the_now_argument() {
    let server = RedisServer::start();
    runtime().block_on(async {
        // 3 tokens per 1000 us, burst 5; each instance asks every 100 us
        // of virtual time (4 requests per step, less than one token each
        // step), from 0 to 200 ms.
        let config = FleetConfig::new(3, std::time::Duration::from_micros(1000), 5);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
            let limiter = limiter(&guard, config.clone());
            tasks.push(tokio::spawn(async move {
                let mut out: Vec<Decision> = Vec::new();
                for step in 0..=2000_u64 {
                    out.push(limiter.try_acquire_n_at(b"shared", 1, step * 100).await);
                }
                out
            }));
        }
        let mut admitted = Vec::new();
        let mut decisions = 0;
        for task in tasks {
            for d in task.await.expect("the instance's task") {
                assert_eq!(d.source, Source::Redis);
                decisions += 1;
                if d.admitted {
                    admitted.push(d.judged_at_us.expect("Redis says when it judged"));
                }
            }
        }
        assert_eq!(decisions, 4 * 2001);
        let quota = Quota::per_period(3, Duration::from_ticks(1000))
            .allow_burst(5)
            .build()
            .unwrap();
        // Demand exceeds supply at every step, so nothing is lost: exactly
        // b + floor(T x r / P) by T = 200 000 us, whatever the interleaving.
        assert_eq!(admitted.len(), 5 + 200_000 * 3 / 1000);
        check_law(quota, &mut admitted);
    });
}

#[test]
fn four_instances_on_redis_time_admit_the_quota_and_no_more() {
    let server = RedisServer::start();
    runtime().block_on(async {
        // 50 per second, burst 10, for about 1 s of Redis time.
        let config = FleetConfig::new(50, std::time::Duration::from_secs(1), 10);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
            let limiter = limiter(&guard, config.clone());
            tasks.push(tokio::spawn(async move {
                let start = std::time::Instant::now();
                let mut out = Vec::new();
                while start.elapsed() < std::time::Duration::from_millis(1000) {
                    out.push(limiter.try_acquire(b"realtime").await);
                }
                out
            }));
        }
        let (mut admitted, mut judged) = (Vec::new(), Vec::new());
        for task in tasks {
            for d in task.await.expect("the instance's task") {
                assert_eq!(d.source, Source::Redis);
                let at = d.judged_at_us.expect("Redis says when it judged");
                judged.push(at);
                if d.admitted {
                    admitted.push(at);
                }
            }
        }
        let span = judged.iter().max().unwrap() - judged.iter().min().unwrap();
        let allowed = 10 + span * 50 / 1_000_000;
        let count = admitted.len() as u64;
        assert!(
            count <= allowed,
            "{count} admitted over {span} us, allowed {allowed}"
        );
        // The instances kept asking, so the quota was used: at least the
        // refill over the span (the burst may be in flight at the end).
        assert!(
            count >= span * 50 / 1_000_000,
            "{count} admitted over {span} us: the shared bucket refused what it should admit"
        );
        assert!(
            judged.len() as u64 > count,
            "the instances asked for more than the quota"
        );
        check_law(
            Quota::per_period(50, Duration::from_ticks(1_000_000))
                .allow_burst(10)
                .build()
                .unwrap(),
            &mut admitted,
        );
    });
}

/// Compare the script with the core's bucket on one timeline: same
/// admissions, `retry_after`, tokens left, and the instant judged (the
/// latest seen, for a time that goes backwards).
async fn agree(limiter: &FleetLimiter, key: &[u8], steps: &[(u64, u32)]) {
    let quota = limiter.quota();
    let mut bucket = TokenBucket::new(quota);
    let mut latest: Option<u64> = None;
    for (i, &(now, n)) in steps.iter().enumerate() {
        let d = limiter.try_acquire_n_at(key, n, now).await;
        let judged = latest.map_or(now, |l| l.max(now));
        latest = Some(judged);
        let at = Instant::from_ticks(judged);
        let core = bucket.try_acquire_n(n, at);
        let ctx = format!("step {i}: n {n} at {now} us (judged {judged}), quota {quota:?}");
        assert_eq!(d.source, Source::Redis, "{ctx}");
        assert_eq!(d.judged_at_us, Some(judged), "{ctx}");
        assert_eq!(d.admitted, core.is_ok(), "{ctx}");
        let core_retry = core
            .err()
            .and_then(|r| r.retry_after)
            .map(|t| std::time::Duration::from_micros(t.as_ticks()));
        assert_eq!(d.retry_after, core_retry, "{ctx}");
        assert_eq!(d.remaining, Some(bucket.available(at)), "{ctx}");
    }
}

#[test]
fn the_lua_law_and_the_core_law_agree_on_random_timelines() {
    let server = RedisServer::start();
    let rt = runtime();
    let (guard, _) = rt.block_on(instance(&server.url(), 3, Duration::from_secs(1)));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(0x0f1e_e717),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let timeline = (
        1_u32..=1000,
        1_u64..=10_000_000,
        1_u32..=40,
        // Start anywhere below 2^52 (Unix microseconds now are ~2^50.6).
        0_u64..(1 << 52),
        proptest::collection::vec((-20_000_000_i64..=30_000_000, 0_u32..=42), 1..60),
    );
    let case = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&timeline, |(rate, period, burst, start, moves)| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let config = FleetConfig::new(rate, std::time::Duration::from_micros(period), burst);
            let limiter = limiter(&guard, config);
            let mut now = start;
            let steps: Vec<(u64, u32)> = moves
                .iter()
                .map(|&(dt, n)| {
                    now = now.saturating_add_signed(dt).min((1 << 53) - 1);
                    (now, n.min(burst + 1))
                })
                .collect();
            rt.block_on(agree(&limiter, format!("prop-{case}").as_bytes(), &steps));
            Ok(())
        })
        .unwrap();
}

#[test]
fn values_at_the_exactness_limit_are_exact() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
        // burst x period = 2^52 exactly, near the end of the time range.
        let top = (1_u64 << 53) - 1;
        let p = MAX_BURST_TIMES_PERIOD_US / 4096;
        let at_limit = limiter(
            &guard,
            FleetConfig::new(3, std::time::Duration::from_micros(p), 4096),
        );
        assert_eq!(
            at_limit.quota().burst() as u64 * at_limit.quota().period().as_ticks(),
            1 << 52
        );
        let steps: Vec<(u64, u32)> = vec![
            (top - 3 * p, 4096),
            (top - 3 * p, 1),
            (top - 2 * p, 1),
            (top - 2 * p + 1, 2),
            (top - p, 4095),
            (top, 4096),
            (top, 1),
            (0, 1), // far back: judged at the latest
        ];
        agree(&at_limit, b"limit", &steps).await;

        // The largest rate, a period of 1 us: 2^32 - 1 tokens per us.
        let fast = limiter(
            &guard,
            FleetConfig::new(u32::MAX, std::time::Duration::from_micros(1), u32::MAX),
        );
        let steps: Vec<(u64, u32)> = vec![
            (top - 10, u32::MAX),
            (top - 10, 1),
            (top - 9, u32::MAX),
            (top - 9, u32::MAX),
            (top, 7),
        ];
        agree(&fast, b"fast", &steps).await;

        // One more than the limit is refused when built, naming the field.
        let err = FleetLimiter::new(
            Arc::clone(&guard),
            FleetConfig::new(3, std::time::Duration::from_micros(p + 1), 4096),
        )
        .unwrap_err();
        assert_eq!(err.field(), "burst");
        let err = FleetLimiter::new(
            Arc::clone(&guard),
            FleetConfig::new(1, std::time::Duration::from_nanos(1500), 1),
        )
        .unwrap_err();
        assert_eq!(err.field(), "period");
        // A `now` beyond 2^53 is refused without asking Redis.
        let d = at_limit.try_acquire_n_at(b"limit", 1, 1 << 53).await;
        assert!(!d.admitted);
        assert_eq!(d.source, Source::FailClosed);
        assert_eq!(guard.metrics().failures, 0);
    });
}

#[test]
fn odd_key_bytes_get_their_own_buckets_uncorrupted() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
        let limiter = limiter(
            &guard,
            FleetConfig::new(1, std::time::Duration::from_secs(3600), 1).prefix(&b"t\0p"[..]),
        );
        let keys: [&[u8]; 9] = [
            b"",
            b"\0",
            &[0xff, 0xfe, 0x80],
            b"{",
            b"}",
            b"}{",
            b"{a}",
            b"a b\r\n*1\r\n$4\r\nPING",
            "ключ 🔑".as_bytes(),
        ];
        let mut con = raw(&server.url()).await;
        let mut firsts = Vec::new();
        for key in keys {
            let first = limiter.try_acquire(key).await;
            assert!(first.admitted, "{key:?}: a new key's bucket is full");
            assert_eq!(first.source, Source::Redis);
            firsts.push(first.judged_at_us.unwrap());
        }
        for (key, first) in keys.into_iter().zip(firsts) {
            assert!(
                !limiter.try_acquire(key).await.admitted,
                "{key:?}: burst 1 is spent"
            );
            let name = limiter.redis_key(key);
            let mut expected = b"t\0p:rl:{".to_vec();
            expected.extend_from_slice(key);
            expected.push(b'}');
            assert_eq!(name, expected);
            // The stored TAT (latest + offset, r = 1) is one token's cost
            // after the first request: nothing else changed it.
            let (t, o): (u64, u64) = redis::cmd("HMGET")
                .arg(&name)
                .arg("t")
                .arg("o")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(t + o, first + 3_600_000_000, "{key:?}: one token taken");
            let ttl: i64 = con.pttl(&name).await.unwrap();
            assert!(
                ttl > 3_600_000,
                "{key:?}: kept until full again plus idle, got {ttl} ms"
            );
        }
        let stored: usize = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(stored, keys.len());
    });
}

#[test]
fn pipelined_checks_decide_in_order_and_reload_the_script() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let (guard, events) = instance(&server.url(), 3, Duration::from_secs(1)).await;
        let limiter = limiter(
            &guard,
            FleetConfig::new(1, std::time::Duration::from_secs(60), 2),
        );
        let requests: Vec<(&[u8], u32)> = vec![
            (b"a", 1),
            (b"a", 1),
            (b"a", 1),
            (b"b", 2),
            (b"b", 1),
            (b"c", 3),
        ];
        let decisions = limiter.try_acquire_many(&requests).await;
        let admitted: Vec<bool> = decisions.iter().map(|d| d.admitted).collect();
        assert_eq!(admitted, [true, true, false, true, false, false]);
        assert!(decisions.iter().all(|d| d.source == Source::Redis));
        assert_eq!(decisions[5].retry_after, None, "3 > burst: never");
        assert_eq!(guard.metrics().script_loads, 1);

        // The server forgets its scripts (as after a restart): reloaded once.
        let mut con = raw(&server.url()).await;
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await
            .unwrap();
        let again = limiter
            .try_acquire_many(&[(b"d", 1), (b"d", 1), (b"d", 1)])
            .await;
        let admitted: Vec<bool> = again.iter().map(|d| d.admitted).collect();
        assert_eq!(admitted, [true, true, false]);
        assert_eq!(guard.metrics().script_loads, 2);
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(!limiter.try_acquire(b"d").await.admitted);
        assert_eq!(guard.metrics().script_loads, 3);
        assert_eq!(guard.metrics().failures, 0);
        let loads = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    fusebox_std::redis::Event::ScriptLoaded { script: "gcra" }
                )
            })
            .count();
        assert_eq!(loads, 3);
    });
}
