//! The outage demo's parts, shared by the example (`examples/outage/main.rs`)
//! and its integration test (`tests/outage.rs`, which includes this module
//! by path): the phase script, the scripted upstream, the two gateways, the
//! open-loop load generator, the report and the chart.

pub mod chart;
pub mod config;
pub mod fleet;
pub mod gateway;
pub mod report;
pub mod script;
pub mod upstream;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::BoxError;

pub use gateway::{Mode, Shared, Upstream};
pub use script::Script;

/// Load and gateway settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per second, sent on schedule whatever the answers.
    pub rate: u32,
    /// Distinct clients (`X-Client` header), each with its own limit.
    pub clients: u32,
    /// Percent of requests that are `POST`s with an `Idempotency-Key`,
    /// retried by their client with the same key.
    pub keyed_percent: u32,
    /// The client's timeout: the plain gateway's only protection, the
    /// fusebox stack's outermost layer.
    pub client_timeout: Duration,
    /// The fusebox stack's timeout per attempt. It bounds how long a
    /// request waits on a hung upstream: the requests in flight when it
    /// hangs, and each half-open probe, wait this long, then their retry
    /// (after the first backoff, at most 10 ms) finds the breaker open and
    /// answers `503`. Those are about 1 % of the hang phase's requests
    /// (the bulkhead's 6, plus a probe per open period), so the phase's
    /// p99 is theirs: at 50 ms plus up to 20 ms of backoff it sat above
    /// 50 ms in 2 of 5 runs on the 2-core development machine; at 30 ms
    /// plus at most 10 ms it stayed under (8 to 40 ms in 7 runs).
    pub attempt_timeout: Duration,
    /// The upstream's rate limit.
    pub upstream_rate: u32,
    /// The upstream's burst.
    pub upstream_burst: u32,
    /// Each client's rate limit.
    pub per_client_rate: u32,
    /// Each client's burst.
    pub per_client_burst: u32,
    /// Consecutive failures that open the breaker.
    pub trip_after: u32,
    /// How long the breaker stays open (ms).
    pub open_ms: u64,
    /// Probes admitted (and successes needed) in half-open.
    pub probes: u16,
    /// Concurrent upstream calls (the bulkhead; no queue).
    pub bulkhead: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate: 200,
            clients: 40,
            keyed_percent: 10,
            client_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_millis(30),
            upstream_rate: 240,
            upstream_burst: 24,
            per_client_rate: 20,
            per_client_burst: 10,
            trip_after: 5,
            open_ms: 1500,
            probes: 1,
            bulkhead: 6,
        }
    }
}

/// How a request ended, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `2xx`.
    Ok,
    /// A fast, explicit refusal: `429`, `503` (the upstream never answers
    /// `503` itself) or `409` (the same key still running).
    Rejected,
    /// `504`: the gateway gave up waiting.
    Timeout,
    /// Any other status (`500` passed on, `502`).
    Error,
    /// No answer at all within the client's own deadline, or no
    /// connection.
    Unanswered,
}

impl Class {
    /// Classifies a status.
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => Class::Ok,
            409 | 429 | 503 => Class::Rejected,
            504 => Class::Timeout,
            _ => Class::Error,
        }
    }
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Rejected => "rejected",
            Class::Timeout => "timeout",
            Class::Error => "error",
            Class::Unanswered => "unanswered",
        }
    }
}

/// One request as its client saw it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was due (first tries: on the open-loop schedule), seconds
    /// since the run's start.
    pub at: f64,
    /// From when it was due to its answer (so a late send counts).
    pub latency: Duration,
    /// How it ended.
    pub class: Class,
    /// A client's retry or double submit of an `Idempotency-Key`
    /// request (the same key again).
    pub retry: bool,
}

/// One run of the script through one gateway.
pub struct Run {
    /// Which gateway.
    pub mode: Mode,
    /// Every request.
    pub samples: Vec<Sample>,
    /// What the gateway counted.
    pub gateway: Arc<gateway::Stats>,
    /// What the upstream saw.
    pub upstream: Arc<upstream::Seen>,
    /// The script's length, seconds.
    pub length: f64,
    /// The fusebox hedge gateway's counts, after the run.
    pub hedge: Option<fusebox_std::HedgeStats>,
}

type LoadClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn send(
    client: &LoadClient,
    gw: SocketAddr,
    i: u64,
    client_id: u64,
    key: Option<&str>,
) -> Option<u16> {
    let mut b = http::Request::builder().header("x-client", client_id.to_string());
    b = match key {
        Some(k) => b
            .method(http::Method::POST)
            .uri(format!("http://{gw}/pay"))
            .header("idempotency-key", format!("\"{k}\"")),
        None => b
            .method(http::Method::GET)
            .uri(format!("http://{gw}/item/{}", i % 500)),
    };
    let body = if key.is_some() {
        Bytes::from(format!("{{\"order\":{i}}}"))
    } else {
        Bytes::new()
    };
    let resp = client.request(b.body(Full::new(body)).ok()?).await.ok()?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await.ok()?;
    Some(status)
}

/// The open-loop load: request `i` is due at `t0 + i / rate` and is sent
/// then, whatever earlier ones are doing (wrk2's cure for coordinated
/// omission: latency counts from when it was due). With several gateways
/// (a fleet), request `i` goes to gateway `i mod N` and each retry or
/// double submit of its key to the next one, as a round-robin load
/// balancer would send them. A keyed request whose
/// answer is a refusal, a timeout or a `5xx` is retried by its client with
/// the same key, up to 3 times, 250 ms apart; every third keyed request
/// is also submitted twice at once (a double click).
async fn load(
    gws: &[SocketAddr],
    script: &Script,
    s: &Settings,
    t0: Instant,
    label: &str,
) -> Vec<Sample> {
    let client: LoadClient = {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(512)
            .build(http)
    };
    let total = script.total();
    let n = (total.as_secs_f64() * f64::from(s.rate)) as u64;
    let deadline = s.client_timeout + Duration::from_secs(2);
    let mut tasks = tokio::task::JoinSet::new();
    let tty = std::io::stderr().is_terminal();
    let mut shown = (usize::MAX, Instant::now());
    for i in 0..n {
        let due = t0 + Duration::from_secs_f64(i as f64 / f64::from(s.rate));
        tokio::time::sleep_until(due.into()).await;
        let (phase, _) = script.at(due - t0);
        if phase != shown.0 || (tty && shown.1.elapsed() > Duration::from_millis(200)) {
            let p = &script.phases[phase];
            let line = format!(
                "[{label:>7}] phase {}/{} {:<8} {:5.1}s / {:.1}s  sent {i}",
                phase + 1,
                script.phases.len(),
                p.name,
                (due - t0).as_secs_f64(),
                total.as_secs_f64()
            );
            if tty {
                eprint!("\r{line}\x1b[K");
            } else if phase != shown.0 {
                eprintln!("{line}");
            }
            shown = (phase, Instant::now());
        }
        let client = client.clone();
        let gws = gws.to_vec();
        let keyed = (i * 7 % 100) < u64::from(s.keyed_percent);
        let client_id = i % u64::from(s.clients.max(1));
        // Every third keyed request is a double submit (a second click):
        // the same key sent again at once, without retries.
        let double = keyed && i % 3 == 0;
        tasks.spawn(async move {
            let key = keyed.then(|| format!("order-{i}"));
            let once = |sent: Instant, retry: bool, hop: u64| {
                let (client, key) = (&client, key.as_deref());
                let gw = gws[((i + hop) % gws.len() as u64) as usize];
                async move {
                    let status =
                        tokio::time::timeout(deadline, send(client, gw, i, client_id, key))
                            .await
                            .ok()
                            .flatten();
                    Sample {
                        at: (sent - t0).as_secs_f64(),
                        latency: sent.elapsed(),
                        class: status.map_or(Class::Unanswered, Class::of),
                        retry,
                    }
                }
            };
            let first = async {
                let mut out = Vec::new();
                let mut sent = due;
                for attempt in 0..4 {
                    let sample = once(sent, attempt > 0, attempt).await;
                    let class = sample.class;
                    out.push(sample);
                    let again = key.is_some()
                        && matches!(class, Class::Rejected | Class::Timeout | Class::Error);
                    if !again || attempt == 3 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    sent = Instant::now();
                }
                out
            };
            let second = async {
                if double {
                    Some(once(due, true, 1).await)
                } else {
                    None
                }
            };
            let (mut out, second) = tokio::join!(first, second);
            out.extend(second);
            out
        });
    }
    let mut samples = Vec::new();
    while let Some(r) = tasks.join_next().await {
        samples.extend(r.expect("a load task does not panic"));
    }
    if tty {
        eprint!("\r\x1b[K");
    }
    samples.sort_by(|a, b| a.at.total_cmp(&b.at));
    samples
}

/// Serves `router` on a loopback port.
pub async fn serve(router: axum::Router, port: u16) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("gateway stopped: {e}");
        }
    });
    Ok(addr)
}

/// What `--serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--upstream URL`: front this service; `None`: the scripted one.
    pub upstream: Option<String>,
    /// `--config FILE`: the breaker, rate limit and bulkhead.
    pub config: std::path::PathBuf,
    /// `--entry NAME`: the file's entries to use.
    pub entry: String,
    /// `--port P` (0: any free port).
    pub port: u16,
}

/// A gateway `--serve` started.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The upstream it fronts.
    pub base: String,
    /// What it counted.
    pub stats: Arc<gateway::Stats>,
}

/// `--serve`: the fusebox gateway on a loopback port, its breaker, upstream
/// rate limit and bulkhead from `o.config`, in front of `o.upstream` (or
/// the scripted upstream running `script`), and `/metrics` rendering
/// `metrics` (the Prometheus recorder the caller installed: fusebox's own
/// series, feature `metrics`, and the demo's). The per-client limit is
/// lifted: one load tool is one client, and the upstream's limit is what
/// should bind.
pub async fn serve_gateway(
    o: &ServeOptions,
    script: Script,
    s: &Settings,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> Result<Served, BoxError> {
    let file = config::load(&o.config, &o.entry)?;
    let s = Settings {
        per_client_rate: 1_000_000,
        per_client_burst: 1_000,
        ..s.clone()
    };
    let t0 = Instant::now();
    let base = match &o.upstream {
        Some(url) => url.clone(),
        None => {
            let (addr, _) = upstream::spawn(script, t0).await?;
            format!("http://{addr}")
        }
    };
    let up = Upstream::new(&base)?;
    let limiter = fusebox_std::RateLimiter::new("upstream", file.quota)?;
    let shared = Shared {
        limiter: gateway::UpstreamLimit::Local(limiter.clone()),
        store: gateway::memory_store()?,
    };
    let gw = match file.protection {
        config::AnyProtection::Consecutive(p) => gateway::fusebox_with(up, &s, shared, p, t0)?,
        config::AnyProtection::FailureCount(p) => gateway::fusebox_with(up, &s, shared, p, t0)?,
        config::AnyProtection::Count(p) => gateway::fusebox_with(up, &s, shared, *p, t0)?,
        config::AnyProtection::Time(p) => gateway::fusebox_with(up, &s, shared, *p, t0)?,
    };
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                // The tokens gauge as of this scrape (admissions set it at
                // most once per clock tick).
                limiter.publish_tokens();
                std::future::ready(metrics.render())
            }),
        )
        .merge(gw.router);
    let addr = serve(router, o.port).await?;
    Ok(Served {
        addr,
        base,
        stats: gw.stats,
    })
}

/// Runs the script once through the gateway `mode`: a fresh upstream, a
/// fresh gateway, the open-loop load until the script ends and every
/// request has its answer.
pub async fn run(mode: Mode, script: &Script, s: &Settings) -> Result<Run, BoxError> {
    // A little head start so the servers are listening before phase 1.
    let t0 = Instant::now() + Duration::from_millis(100);
    let (up_addr, seen) = upstream::spawn(script.clone(), t0).await?;
    let up = Upstream::new(&format!("http://{up_addr}"))?;
    let gw = match mode {
        Mode::Plain => gateway::plain(up, s, t0),
        Mode::Fusebox => gateway::fusebox(up, s, Shared::local(s)?, t0)?,
        Mode::FuseboxHedge => gateway::fusebox_hedge(up, s, t0)?,
        Mode::TowerHedge => gateway::tower_hedge(up, s, t0),
    };
    let addr = serve(gw.router, 0).await?;
    let samples = load(&[addr], script, s, t0, mode.label()).await;
    Ok(Run {
        mode,
        samples,
        gateway: gw.stats,
        upstream: seen,
        length: script.total().as_secs_f64(),
        hedge: gw.hedge.map(|h| h.stats()),
    })
}

/// The slow tail's comparison: the script's first `tail` phase after a
/// 1 s warm-up at the same base latency (so both hedges have a latency
/// history: tower's histogram rotates every second), sent through three
/// gateways, each on a fresh upstream: no hedging (the client timeout
/// only), fusebox's `HedgeLayer`, `tower::hedge`. `GET`s only (keyed
/// `POST`s would be hedged as well, and this bare upstream does not
/// deduplicate keys). `None` when the script has no `tail` phase.
pub async fn hedge_runs(
    script: &Script,
    s: &Settings,
) -> Result<Option<(Script, Vec<Run>)>, BoxError> {
    let Some(tail) = script
        .phases
        .iter()
        .find(|p| matches!(p.kind, script::Kind::Tail { .. }))
    else {
        return Ok(None);
    };
    let short = Script {
        phases: vec![
            script::Phase {
                name: "warm-up".into(),
                kind: script::Kind::Healthy,
                duration: Duration::from_secs(1),
                base: tail.base,
            },
            tail.clone(),
        ],
    };
    let s = Settings {
        keyed_percent: 0,
        ..s.clone()
    };
    let mut runs = Vec::new();
    for mode in [Mode::Plain, Mode::FuseboxHedge, Mode::TowerHedge] {
        runs.push(run(mode, &short, &s).await?);
    }
    Ok(Some((short, runs)))
}
