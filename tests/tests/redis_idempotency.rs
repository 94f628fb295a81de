//! The Redis idempotency store against a real redis-server: New exactly
//! once across instances, in-flight expiry, fencing, stored bytes intact.

mod support;

use std::sync::Arc;

use fusebox::time::Duration;
use fusebox_std::idempotency::{Begin, IdempotencyStore};
use fusebox_std::redis::{RedisGuard, RedisIdempotencyStore, StoreConfig, StoreFallback};
use support::{RedisServer, instance, raw, runtime};

fn store(guard: &Arc<RedisGuard>, in_flight: std::time::Duration) -> RedisIdempotencyStore {
    RedisIdempotencyStore::new(
        Arc::clone(guard),
        StoreConfig::new(in_flight, std::time::Duration::from_secs(3600)),
        StoreFallback::FailClosed,
    )
}

#[test]
fn a_key_answers_new_exactly_once_across_four_instances() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..4_u8 {
            let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
            let store = store(&guard, std::time::Duration::from_secs(60));
            tasks.push(tokio::spawn(async move {
                // Every instance begins the same 200 keys, each in its own
                // order; half of the winners complete, half abandon once.
                let mut news = Vec::new();
                for k in 0..200_u32 {
                    let k = (k * 7 + u32::from(i) * 50) % 200;
                    let key = k.to_be_bytes();
                    match store.begin(&key).await.expect("Redis is up") {
                        Begin::New(claim) => {
                            news.push(k);
                            let response = format!("done {k} by {i}").into_bytes();
                            assert!(store.complete(claim, response).await.unwrap());
                        }
                        Begin::InFlight => {}
                        Begin::Done(bytes) => {
                            assert!(bytes.starts_with(format!("done {k} by ").as_bytes()));
                        }
                    }
                }
                news
            }));
        }
        let mut winners = vec![0_u32; 200];
        for task in tasks {
            for k in task.await.expect("the instance's task") {
                winners[k as usize] += 1;
            }
        }
        assert!(
            winners.iter().all(|&w| w == 1),
            "New answers per key: {winners:?}"
        );
    });
}

#[test]
fn in_flight_expiry_and_fencing_through_the_now_argument() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
        let (other, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
        let ttl = std::time::Duration::from_secs(30);
        let a = store(&guard, ttl);
        let b = store(&other, ttl);
        let t0 = 1_700_000_000_000_000_u64;
        let ttl_us = 30_000_000;

        let Begin::New(old) = a.begin_at(b"pay", Some(t0)).await.unwrap() else {
            panic!("first begin is New")
        };
        assert_eq!(old.fence(), t0, "the token is the claim's time");
        // Just before the in-flight TTL ends, the key is still held...
        assert_eq!(
            b.begin_at(b"pay", Some(t0 + ttl_us - 1)).await,
            Ok(Begin::InFlight)
        );
        // ...at its end, the holder is presumed dead and the key is new.
        let Begin::New(new) = b.begin_at(b"pay", Some(t0 + ttl_us)).await.unwrap() else {
            panic!("an expired claim frees the key")
        };
        assert!(new.fence() > old.fence());
        // The old holder comes back: its complete changes nothing.
        assert_eq!(
            a.complete_at(old, b"late".to_vec(), Some(t0 + ttl_us + 1))
                .await,
            Ok(false)
        );
        assert_eq!(
            a.begin_at(b"pay", Some(t0 + ttl_us + 3)).await,
            Ok(Begin::InFlight)
        );
        // The live holder completes; everyone replays its bytes.
        let response = vec![0_u8, 255, b'\r', b'\n', 0x80, b'}', b'{'];
        assert_eq!(
            b.complete_at(new, response.clone(), Some(t0 + ttl_us + 4))
                .await,
            Ok(true)
        );
        assert_eq!(
            a.begin_at(b"pay", Some(t0 + ttl_us + 5)).await,
            Ok(Begin::Done(response.clone()))
        );
        // A time that goes backwards is judged at the latest instant seen.
        assert_eq!(
            a.begin_at(b"pay", Some(t0)).await,
            Ok(Begin::Done(response))
        );

        // Nor does a late abandon: the new claim keeps the key.
        let Begin::New(gone) = a.begin_at(b"slow", Some(t0)).await.unwrap() else {
            panic!("New")
        };
        let Begin::New(taken) = b.begin_at(b"slow", Some(t0 + ttl_us)).await.unwrap() else {
            panic!("an expired claim frees the key")
        };
        assert_eq!(a.abandon_at(gone, Some(t0 + ttl_us + 1)).await, Ok(false));
        assert_eq!(
            a.begin_at(b"slow", Some(t0 + ttl_us + 2)).await,
            Ok(Begin::InFlight)
        );
        assert_eq!(b.abandon_at(taken, Some(t0 + ttl_us + 3)).await, Ok(true));

        // Abandon frees the key; the next claim's token is above the last.
        let Begin::New(c1) = a.begin_at(b"retry", Some(t0)).await.unwrap() else {
            panic!("New")
        };
        let f1 = c1.fence();
        assert_eq!(a.abandon_at(c1, Some(t0 + 1)).await, Ok(true));
        // Even with the clock stepped back, the fence moves forward.
        let Begin::New(c2) = b.begin_at(b"retry", Some(t0 - 1_000_000)).await.unwrap() else {
            panic!("an abandoned key is New again")
        };
        assert!(c2.fence() > f1, "{} > {f1}", c2.fence());
        assert!(b.complete_at(c2, Vec::new(), Some(t0 + 2)).await.unwrap());
        assert_eq!(
            a.begin_at(b"retry", Some(t0 + 3)).await,
            Ok(Begin::Done(Vec::new()))
        );
        assert_eq!(guard.metrics().failures + other.metrics().failures, 0);
    });
}

#[test]
fn in_flight_keys_expire_on_redis_time() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let (guard, _) = instance(&server.url(), 3, Duration::from_secs(1)).await;
        let s = store(&guard, std::time::Duration::from_millis(200));
        let Begin::New(dead) = s.begin(b"crashed").await.unwrap() else {
            panic!("New")
        };
        let redis_key = s.redis_key(b"crashed");
        let mut con = raw(&server.url()).await;
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&redis_key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(ttl > 0, "an in-flight key has a TTL, got {ttl}");
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let Begin::New(live) = s.begin(b"crashed").await.unwrap() else {
            panic!("the dead holder's key is New after the in-flight TTL")
        };
        assert!(live.fence() > dead.fence());
        assert_eq!(s.complete(dead, b"ghost".to_vec()).await, Ok(false));
        assert_eq!(s.complete(live, b"ok".to_vec()).await, Ok(true));
        assert_eq!(s.begin(b"crashed").await, Ok(Begin::Done(b"ok".to_vec())));
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&redis_key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(
            ttl > 3_600_000,
            "a done key lives its done TTL plus grace, got {ttl} ms"
        );
    });
}
