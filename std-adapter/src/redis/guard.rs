//! Every call to Redis through one breaker and one timeout, with scripts
//! called by SHA and reloaded when the server has forgotten them.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fusebox::breaker::{CircuitBreaker, Outcome, State, Transition};
use fusebox::time::Clock;
use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use crate::{StdClock, to_std};

/// A server-side Lua script: its source and SHA1, loaded into Redis's script
/// cache on first use (`SCRIPT LOAD`) and called by SHA (`EVALSHA`).
#[derive(Debug, Clone)]
pub(crate) struct LuaScript {
    name: &'static str,
    source: &'static str,
    sha: String,
}

impl LuaScript {
    pub(crate) fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            source,
            sha: redis::Script::new(source).get_hash().to_owned(),
        }
    }
}

/// Something that happened to the link to Redis, as it happened, in order:
/// handed to the observer given to [`RedisGuard::with_observer`], and
/// written as a `tracing` event (target `fusebox::redis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The breaker in front of Redis changed state. Closed to Open is the
    /// switch to degraded mode (fallbacks answer); Open to HalfOpen sends
    /// a probe; HalfOpen to Closed is the recovery (Redis answers again).
    Breaker(Transition),
    /// A script was loaded into Redis's script cache: on first use, and
    /// again after a restart or failover emptied it (`NOSCRIPT`).
    ScriptLoaded {
        /// The script's name (`gcra`, `idempotency`).
        script: &'static str,
    },
}

/// The mode a [`RedisGuard`] is in, from its breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Calls go to Redis (breaker closed).
    Shared,
    /// Calls are not made, or only probes are (breaker open or half-open):
    /// limiters and stores answer with their fallback.
    Degraded,
}

/// Why a call to Redis was not answered. The limiter and the store turn it
/// into their fallback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Unavailable {
    /// The breaker refused the call: Redis failed recently.
    BreakerOpen {
        /// When the breaker admits a probe, where it knows.
        retry_after: Option<std::time::Duration>,
    },
    /// Redis did not answer within the timeout.
    Timeout(std::time::Duration),
    /// Redis answered with an error, or the connection failed.
    Redis(RedisError),
}

impl core::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BreakerOpen { .. } => {
                f.write_str("the breaker in front of Redis is open after recent failures")
            }
            Self::Timeout(d) => write!(f, "Redis did not answer within {d:?}"),
            Self::Redis(e) => write!(f, "Redis failed: {e}"),
        }
    }
}

impl std::error::Error for Unavailable {}

/// Counts of what a [`RedisGuard`] did, since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardMetrics {
    /// Calls sent to Redis (one per command or pipeline, reloads included).
    pub calls: u64,
    /// Calls that failed or timed out (each is a failure for the breaker).
    pub failures: u64,
    /// Of those, calls that timed out.
    pub timeouts: u64,
    /// Calls refused by the open breaker, never sent.
    pub short_circuited: u64,
    /// Script loads (`SCRIPT LOAD`), the first and every reload.
    pub script_loads: u64,
    /// Switches to degraded mode (the breaker leaving Closed).
    pub degraded: u64,
    /// Recoveries (the breaker closing again).
    pub recovered: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    short_circuited: AtomicU64,
    script_loads: AtomicU64,
    degraded: AtomicU64,
    recovered: AtomicU64,
}

type Observer = Arc<dyn Fn(Event) + Send + Sync>;

/// A Redis connection guarded by a fusebox breaker and a timeout, shared
/// by the fleet limiter and the idempotency store of one instance (wrap it
/// in an `Arc`).
///
/// - One multiplexed connection ([`ConnectionManager`]: it reconnects on
///   its own after a failure).
/// - Each call takes a breaker permit (a refused call is
///   [`Unavailable::BreakerOpen`], answered at once by the fallback), runs
///   under `timeout`, and records its outcome: success, or failure for an
///   error or a timeout. After the breaker's threshold of failures it opens
///   (degraded mode); after its open duration one probe goes to Redis, and
///   its success closes it again (recovery), with no action from the
///   caller.
/// - Every transition is handed to the observer, counted in
///   [`GuardMetrics`], and written as a `tracing` event (`warn` on the
///   switch to degraded mode, `info` on recovery).
/// - A call whose future is dropped (the caller's own timeout) records no
///   outcome: in HalfOpen its probe slot frees itself after the breaker's
///   probe timeout.
///
/// ```no_run
/// use fusebox::breaker::{CircuitBreaker, Config, ConsecutiveFailures};
/// use fusebox::time::Duration;
/// use fusebox_std::redis::RedisGuard;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let breaker = CircuitBreaker::new(
///     Config::new().open_duration(Duration::from_secs(1)),
///     ConsecutiveFailures::new(3)?,
/// )?;
/// let guard = RedisGuard::new(connection, breaker, std::time::Duration::from_millis(50))
///     .with_observer(|event| eprintln!("redis link: {event:?}"));
/// # let _ = guard; Ok(()) }
/// ```
pub struct RedisGuard {
    connection: ConnectionManager,
    breaker: Mutex<CircuitBreaker>,
    clock: StdClock,
    timeout: std::time::Duration,
    observer: Option<Observer>,
    counters: Counters,
}

impl core::fmt::Debug for RedisGuard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedisGuard")
            .field("timeout", &self.timeout)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl RedisGuard {
    /// Guard `connection` with `breaker` (its threshold is how many failed
    /// calls move this instance to degraded mode; its open duration how
    /// long until a probe) and `timeout` per call (a script call included
    /// its reload).
    pub fn new(
        connection: ConnectionManager,
        breaker: CircuitBreaker,
        timeout: std::time::Duration,
    ) -> Self {
        Self {
            connection,
            breaker: Mutex::new(breaker),
            clock: StdClock::new(),
            timeout,
            observer: None,
            counters: Counters::default(),
        }
    }

    /// Call `observer` with every [`Event`], in order, on the task that
    /// caused it (keep it short: it runs inside the call).
    pub fn with_observer(mut self, observer: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Shared (breaker closed) or degraded.
    pub fn mode(&self) -> Mode {
        match self.lock().state(self.clock.now()) {
            State::Closed | State::ForcedClosed => Mode::Shared,
            State::Open | State::HalfOpen | State::ForcedOpen => Mode::Degraded,
        }
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> State {
        self.lock().state(self.clock.now())
    }

    /// Counts since the guard was built.
    pub fn metrics(&self) -> GuardMetrics {
        let c = &self.counters;
        GuardMetrics {
            calls: c.calls.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            short_circuited: c.short_circuited.load(Ordering::Relaxed),
            script_loads: c.script_loads.load(Ordering::Relaxed),
            degraded: c.degraded.load(Ordering::Relaxed),
            recovered: c.recovered.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        self.breaker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, event: Event) {
        if let Event::Breaker(t) = event {
            if t.from == State::Closed {
                self.counters.degraded.fetch_add(1, Ordering::Relaxed);
            } else if t.to == State::Closed {
                self.counters.recovered.fetch_add(1, Ordering::Relaxed);
            }
        }
        match event {
            Event::Breaker(Transition {
                from: State::Closed,
                to,
            }) => tracing::warn!(
                target: "fusebox::redis",
                to = ?to,
                "Redis failing: degraded mode, fallbacks answer until a probe succeeds"
            ),
            Event::Breaker(Transition {
                to: State::Closed, ..
            }) => tracing::info!(target: "fusebox::redis", "Redis answers again: shared mode"),
            Event::Breaker(t) => tracing::info!(
                target: "fusebox::redis",
                from = ?t.from,
                to = ?t.to,
                "Redis breaker transition"
            ),
            Event::ScriptLoaded { script } => {
                tracing::debug!(target: "fusebox::redis", script, "script loaded into Redis")
            }
        }
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }

    /// Run `op` (given a clone of the connection) under a breaker permit
    /// and the timeout.
    async fn guarded<T, F, Fut>(&self, op: F) -> Result<T, Unavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let permit = {
            let mut breaker = self.lock();
            breaker.try_acquire(self.clock.now())
        };
        let permit = match permit {
            Ok(permit) => permit,
            Err(rejected) => {
                self.counters
                    .short_circuited
                    .fetch_add(1, Ordering::Relaxed);
                return Err(Unavailable::BreakerOpen {
                    retry_after: rejected.retry_after.map(to_std),
                });
            }
        };
        if let Some(t) = permit.transition() {
            self.emit(Event::Breaker(t));
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout(self.timeout, op(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Unavailable::Redis(e)),
            Err(_) => {
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(Unavailable::Timeout(self.timeout))
            }
        };
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
            Outcome::Failure
        };
        let transition = self.lock().record(permit, outcome, self.clock.now());
        if let Some(t) = transition {
            self.emit(Event::Breaker(t));
        }
        result
    }

    /// `EVALSHA script 1 key args...`, loading the script first if Redis
    /// answers `NOSCRIPT`: one guarded call.
    pub(crate) async fn eval(
        &self,
        script: &LuaScript,
        key: &[u8],
        args: &[Vec<u8>],
    ) -> Result<Value, Unavailable> {
        self.guarded(|mut con| async move {
            let call = evalsha(script, key, args);
            match call.query_async::<Value>(&mut con).await {
                Err(e) if is_noscript(&e) => {
                    self.load(script, &mut con).await?;
                    call.query_async::<Value>(&mut con).await
                }
                other => other,
            }
        })
        .await
    }

    /// Several `EVALSHA`s of one script in one pipeline (one round trip),
    /// their answers in order; those that met `NOSCRIPT` are sent again
    /// after a load. One guarded call.
    pub(crate) async fn eval_pipelined(
        &self,
        script: &LuaScript,
        calls: &[(Vec<u8>, Vec<Vec<u8>>)],
    ) -> Result<Vec<Value>, Unavailable> {
        self.guarded(|mut con| async move {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for (key, args) in calls {
                pipe.add_command(evalsha(script, key, args));
            }
            let answers: Vec<Result<Value, RedisError>> = pipe.query_async(&mut con).await?;
            let mut out = Vec::with_capacity(answers.len());
            let mut loaded = false;
            for (answer, (key, args)) in answers.into_iter().zip(calls) {
                let value = match answer {
                    Err(e) if is_noscript(&e) => {
                        if !loaded {
                            self.load(script, &mut con).await?;
                            loaded = true;
                        }
                        evalsha(script, key, args)
                            .query_async::<Value>(&mut con)
                            .await?
                    }
                    other => other?,
                };
                out.push(value);
            }
            Ok(out)
        })
        .await
    }

    async fn load(
        &self,
        script: &LuaScript,
        con: &mut ConnectionManager,
    ) -> Result<(), RedisError> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(script.source)
            .query_async(con)
            .await?;
        self.counters.script_loads.fetch_add(1, Ordering::Relaxed);
        self.emit(Event::ScriptLoaded {
            script: script.name,
        });
        if sha != script.sha {
            return Err(RedisError::from((
                ErrorKind::Client,
                "Redis gave the script another SHA1 than computed here",
                sha,
            )));
        }
        Ok(())
    }
}

fn evalsha(script: &LuaScript, key: &[u8], args: &[Vec<u8>]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(&script.sha).arg(1).arg(key);
    for a in args {
        cmd.arg(a.as_slice());
    }
    cmd
}

fn is_noscript(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}
