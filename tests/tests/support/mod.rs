//! What the Redis tests share.
#![allow(dead_code)]

mod redis_server;

use std::sync::{Arc, Mutex};

use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures};
use fusebox::time::Duration;
use fusebox_std::redis::{Event, RedisGuard};
pub use redis_server::RedisServer;

/// One gateway instance's link to Redis: its own client and multiplexed
/// connection, a breaker tripping after `threshold` consecutive failures,
/// open for `open`, and a log of its events.
pub async fn instance(
    url: &str,
    threshold: u32,
    open: Duration,
) -> (Arc<RedisGuard>, Arc<Mutex<Vec<Event>>>) {
    instance_with_timeout(url, threshold, open, std::time::Duration::from_secs(2)).await
}

/// As [`instance`], with each call's timeout.
pub async fn instance_with_timeout(
    url: &str,
    threshold: u32,
    open: Duration,
    timeout: std::time::Duration,
) -> (Arc<RedisGuard>, Arc<Mutex<Vec<Event>>>) {
    let client = redis::Client::open(url).expect("a valid Redis URL");
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(std::time::Duration::from_secs(1)));
    let connection = redis::aio::ConnectionManager::new_with_config(client, config)
        .await
        .expect("connect to the test's redis-server");
    let breaker = CircuitBreaker::new(
        Config::new().open_duration(open),
        ConsecutiveFailures::new(threshold).expect("threshold >= 1"),
    )
    .expect("a valid breaker config");
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let guard = RedisGuard::new(connection, breaker, timeout)
        .with_observer(move |e| log.lock().unwrap().push(e));
    (Arc::new(guard), events)
}

/// A plain connection for looking at what the scripts stored.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a valid Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test's redis-server")
}

/// A multi-threaded runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
