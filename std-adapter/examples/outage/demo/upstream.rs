//! The scripted upstream: an axum service that follows the phase script.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::script::{Kind, Script};

/// What the upstream saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Arrival of every request, seconds since the run's start.
    pub arrivals: Mutex<Vec<f64>>,
    /// Completed (`2xx`) executions per `Idempotency-Key`.
    pub executions: Mutex<HashMap<String, u32>>,
    hits: AtomicU64,
}

struct Up {
    script: Script,
    t0: Instant,
    seen: Arc<Seen>,
}

async fn handle(State(up): State<Arc<Up>>, headers: HeaderMap) -> StatusCode {
    let t = up.t0.elapsed();
    up.seen
        .arrivals
        .lock()
        .expect("not poisoned")
        .push(t.as_secs_f64());
    let n = up.seen.hits.fetch_add(1, Ordering::Relaxed);
    let (i, start) = up.script.at(t);
    let phase = &up.script.phases[i];
    let (delay, status) = match phase.kind {
        Kind::Healthy | Kind::Recover => (phase.base, StatusCode::OK),
        Kind::Fail => (phase.base, StatusCode::INTERNAL_SERVER_ERROR),
        // A deterministic spread: `slow_percent` of every 100 requests.
        Kind::Tail {
            slow_percent,
            delay,
        } => {
            let slow = (n.wrapping_mul(37) % 100) < u64::from(slow_percent);
            (if slow { delay } else { phase.base }, StatusCode::OK)
        }
        Kind::Hang => (Duration::from_secs(3600), StatusCode::OK),
        Kind::Flap { period } => {
            let half = (t - start).as_nanos() / period.as_nanos().max(1);
            let failing = half % 2 == 0;
            let status = if failing {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            (phase.base, status)
        }
    };
    // Hyper drops this future when the caller closes the connection (a
    // gateway that timed out): a request given up on is never executed.
    tokio::time::sleep(delay).await;
    if status.is_success() {
        if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
            *up.seen
                .executions
                .lock()
                .expect("not poisoned")
                .entry(key.to_owned())
                .or_default() += 1;
        }
    }
    status
}

/// Serves the script on a loopback port from `t0`; returns its address
/// and what it saw. The server lives as long as the runtime.
pub async fn spawn(script: Script, t0: Instant) -> std::io::Result<(SocketAddr, Arc<Seen>)> {
    let seen = Arc::new(Seen::default());
    let up = Arc::new(Up {
        script,
        t0,
        seen: Arc::clone(&seen),
    });
    let app = Router::new().fallback(handle).with_state(up);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("upstream stopped: {e}");
        }
    });
    Ok((addr, seen))
}
