//! Redis stopped mid-test: every instance moves to degraded mode after no
//! more failed calls than its breaker's threshold, answers from its
//! fallback, and comes back on its own once Redis is restarted (the scripts
//! loaded again). Checked by counts and the order of events, not by times.

mod support;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use fusebox::breaker::{State, Transition};
use fusebox::dedup::{Config, Eviction};
use fusebox::hash::Seed;
use fusebox::time::Duration;
use fusebox_std::idempotency::{Begin, IdempotencyStore, MemoryIdempotencyStore, StoreError};
use fusebox_std::redis::{
    Event, Fallback, FleetConfig, FleetLimiter, Mode, RedisGuard, RedisIdempotencyStore, Source,
    StoreConfig, StoreFallback,
};
use support::{RedisServer, instance, instance_with_timeout, raw, runtime};

const THRESHOLD: u32 = 3;
const FLEET: u32 = 4;

struct Gateway {
    guard: Arc<RedisGuard>,
    events: Arc<Mutex<Vec<Event>>>,
    limiter: FleetLimiter,
    closed_store: RedisIdempotencyStore<64>,
    local_store: RedisIdempotencyStore<64>,
}

async fn gateway(url: &str, fallback: Fallback) -> Gateway {
    let (guard, events) = instance(url, THRESHOLD, Duration::from_millis(100)).await;
    // 10 per second for the fleet, burst 8: a share of 10 per 4 s, burst 2.
    let config = FleetConfig::new(10, std::time::Duration::from_secs(1), 8).fallback(fallback);
    let limiter = FleetLimiter::new(Arc::clone(&guard), config).unwrap();
    let store_config = StoreConfig::new(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(60),
    );
    let closed_store = RedisIdempotencyStore::new(
        Arc::clone(&guard),
        store_config.clone(),
        StoreFallback::FailClosed,
    );
    let table = MemoryIdempotencyStore::new(
        Config::new()
            .in_flight_ttl(Duration::from_secs(30))
            .done_ttl(Duration::from_secs(60))
            .eviction(Eviction::KeepDone),
        Seed::new(7, 11),
    )
    .unwrap();
    let local_store = RedisIdempotencyStore::new(
        Arc::clone(&guard),
        store_config,
        StoreFallback::LocalTable(table),
    );
    Gateway {
        guard,
        events,
        limiter,
        closed_store,
        local_store,
    }
}

fn breaker_events(events: &[Event]) -> Vec<Transition> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Breaker(t) => Some(*t),
            _ => None,
        })
        .collect()
}

#[test]
fn redis_down_degrades_every_instance_and_recovery_is_automatic() {
    let mut server = RedisServer::start();
    runtime().block_on(async {
        let fallbacks = [
            Fallback::LocalShare {
                fleet_size: NonZeroU32::new(FLEET).unwrap(),
            },
            Fallback::LocalShare {
                fleet_size: NonZeroU32::new(FLEET).unwrap(),
            },
            Fallback::FailOpen,
            Fallback::FailClosed,
        ];
        let mut fleet = Vec::new();
        for fallback in fallbacks {
            fleet.push(gateway(&server.url(), fallback).await);
        }

        // Shared mode: Redis decides, the scripts are loaded once each.
        for g in &fleet {
            assert_eq!(g.limiter.try_acquire(b"k").await.source, Source::Redis);
            let Ok(Begin::New(claim)) = g.closed_store.begin(b"up").await else {
                // One instance wins the key; the others see it in flight.
                assert_eq!(g.closed_store.begin(b"up").await, Ok(Begin::InFlight));
                continue;
            };
            assert!(g.closed_store.abandon(claim).await.unwrap());
            assert_eq!(g.guard.mode(), Mode::Shared);
        }

        server.stop();

        // Each instance calls until it is degraded: at most THRESHOLD calls
        // fail (exactly THRESHOLD: calls are sequential per instance).
        for g in &fleet {
            let before = g.guard.metrics();
            let mut calls = 0;
            while g.guard.mode() == Mode::Shared {
                calls += 1;
                assert!(
                    calls <= THRESHOLD,
                    "still shared after {calls} failed calls"
                );
                let d = g.limiter.try_acquire(b"k").await;
                assert_ne!(d.source, Source::Redis);
            }
            let after = g.guard.metrics();
            assert_eq!(after.failures - before.failures, u64::from(THRESHOLD));
            assert_eq!((after.degraded, after.recovered), (1, 0));
            assert_eq!(
                breaker_events(&g.events.lock().unwrap()),
                [Transition {
                    from: State::Closed,
                    to: State::Open
                }]
            );
        }

        // Degraded answers, from each configured fallback.
        let share = &fleet[0];
        let local: Vec<bool> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                let d = share.limiter.try_acquire(b"share").await;
                assert_eq!(d.source, Source::LocalShare);
                v.push(d.admitted);
            }
            v
        };
        // A share of burst 8 over 4 instances: 2 at once, then refusals.
        assert_eq!(local, [true, true, false, false]);
        let open = fleet[2].limiter.try_acquire(b"k").await;
        assert!(open.admitted && open.source == Source::FailOpen);
        let closed = fleet[3].limiter.try_acquire(b"k").await;
        assert!(!closed.admitted && closed.source == Source::FailClosed);
        assert!(matches!(
            share.closed_store.begin(b"pay").await,
            Err(StoreError::Unavailable { .. })
        ));
        let Ok(Begin::New(local_claim)) = share.local_store.begin(b"pay").await else {
            panic!("the local table answers while Redis is down")
        };
        assert!(local_claim.is_local());
        assert_eq!(share.local_store.begin(b"pay").await, Ok(Begin::InFlight));
        let short_circuited = fleet
            .iter()
            .map(|g| g.guard.metrics().short_circuited)
            .sum::<u64>();
        assert!(
            short_circuited > 0,
            "degraded calls are answered without asking Redis"
        );

        server.restart();

        // Keep calling: after the open duration the next call is a probe,
        // its success closes the breaker. Bounded by a count of calls.
        let mut reloads_per_instance = Vec::new();
        for g in &fleet {
            let mut calls = 0;
            loop {
                calls += 1;
                assert!(calls <= 400, "no recovery after {calls} calls");
                if g.limiter.try_acquire(b"back").await.source == Source::Redis {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            assert_eq!(g.guard.mode(), Mode::Shared);
            assert_eq!(g.guard.metrics().recovered, 1);
            let events = g.events.lock().unwrap().clone();
            let transitions = breaker_events(&events);
            // Closed -> Open, then (Open -> HalfOpen, HalfOpen -> Open)*
            // for probes that met a server still starting, then
            // Open -> HalfOpen -> Closed.
            assert_eq!(
                transitions.first(),
                Some(&Transition {
                    from: State::Closed,
                    to: State::Open
                })
            );
            let n = transitions.len();
            assert!(n >= 3 && n % 2 == 1, "{transitions:?}");
            for pair in transitions[1..n - 2].chunks(2) {
                assert_eq!(
                    pair[0],
                    Transition {
                        from: State::Open,
                        to: State::HalfOpen
                    }
                );
                assert_eq!(
                    pair[1],
                    Transition {
                        from: State::HalfOpen,
                        to: State::Open
                    }
                );
            }
            assert_eq!(
                transitions[n - 2..],
                [
                    Transition {
                        from: State::Open,
                        to: State::HalfOpen
                    },
                    Transition {
                        from: State::HalfOpen,
                        to: State::Closed
                    },
                ]
            );
            // The new server's script cache is empty: the first instance
            // to recover loads the script again (inside its probe, after
            // the switch to degraded mode and before the recovery); the
            // others, recovering after it, find it loaded.
            let degraded_at = events
                .iter()
                .position(|e| matches!(e, Event::Breaker(t) if t.to == State::Open))
                .unwrap();
            let recovered_at = events
                .iter()
                .position(|e| matches!(e, Event::Breaker(t) if t.to == State::Closed))
                .unwrap();
            let reloads = events[degraded_at..recovered_at]
                .iter()
                .filter(|e| **e == Event::ScriptLoaded { script: "gcra" })
                .count();
            reloads_per_instance.push(reloads);
        }

        assert_eq!(reloads_per_instance, [1, 0, 0, 0]);

        // Shared again: the idempotency store answers from Redis, and the
        // claim the local table issued is settled in the local table.
        let Ok(Begin::New(claim)) = share.closed_store.begin(b"after").await else {
            panic!("Redis answers again")
        };
        assert!(!claim.is_local());
        assert!(
            share
                .closed_store
                .complete(claim, b"ok".to_vec())
                .await
                .unwrap()
        );
        assert_eq!(
            fleet[1].closed_store.begin(b"after").await,
            Ok(Begin::Done(b"ok".to_vec()))
        );
        assert_eq!(
            share
                .local_store
                .complete(local_claim, b"local".to_vec())
                .await,
            Ok(true)
        );
    });
}

#[test]
fn a_slow_redis_degrades_by_timeouts_and_recovers() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let (guard, events) = instance_with_timeout(
            &server.url(),
            2,
            Duration::from_millis(50),
            std::time::Duration::from_millis(100),
        )
        .await;
        let config =
            FleetConfig::new(10, std::time::Duration::from_secs(1), 8).fallback(Fallback::FailOpen);
        let limiter = FleetLimiter::new(Arc::clone(&guard), config).unwrap();
        assert_eq!(limiter.try_acquire(b"k").await.source, Source::Redis);

        // Redis stops answering for a while (as under a long command).
        let mut con = raw(&server.url()).await;
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1500)
            .arg("ALL")
            .query_async(&mut con)
            .await
            .unwrap();
        for _ in 0..2 {
            let d = limiter.try_acquire(b"k").await;
            assert_eq!(d.source, Source::FailOpen);
            assert!(d.admitted);
        }
        let m = guard.metrics();
        assert_eq!((m.timeouts, m.failures, m.degraded), (2, 2, 1));
        assert_eq!(guard.mode(), Mode::Degraded);

        // Once the pause ends, a probe succeeds and Redis decides again.
        let mut calls = 0;
        while limiter.try_acquire(b"k").await.source != Source::Redis {
            calls += 1;
            assert!(calls <= 400, "no recovery after {calls} calls");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(guard.metrics().recovered, 1);
        let transitions = breaker_events(&events.lock().unwrap());
        assert_eq!(
            transitions.first(),
            Some(&Transition {
                from: State::Closed,
                to: State::Open
            })
        );
        assert_eq!(
            transitions.last(),
            Some(&Transition {
                from: State::HalfOpen,
                to: State::Closed
            })
        );
    });
}
