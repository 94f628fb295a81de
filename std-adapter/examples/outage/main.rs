//! The outage demo: the same scripted outage through a plain gateway and
//! through the recommended fusebox stack, on real HTTP over loopback.
//!
//! ```text
//! cargo run --release -p fusebox-std --example outage [-- OPTIONS]
//!   --chart FILE.svg      also write the comparison as an SVG chart
//!   --script FILE         another phase script (format: demo/script.rs)
//!   --rate N              requests per second (default 200)
//!   --serve [--port P]    keep a fusebox gateway up, Prometheus metrics at /metrics
//!   --upstream URL        with --serve: front this HTTP service, not the scripted one
//! ```

// Shared with `tests/outage.rs`: some parts are used by only one of the two.
#[allow(dead_code)]
mod demo;

use std::time::Instant;

use demo::{Mode, Script, Settings, Shared, Upstream};
use tower::BoxError;

struct Args {
    chart: Option<String>,
    script: Option<String>,
    rate: Option<u32>,
    serve: bool,
    port: u16,
    upstream: Option<String>,
}

const USAGE: &str = "usage: outage [--chart FILE.svg] [--script FILE] [--rate N] [--serve [--port P] [--upstream URL]]";

fn args() -> Result<Args, String> {
    let mut a = Args {
        chart: None,
        script: None,
        rate: None,
        serve: false,
        port: 0,
        upstream: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--chart" => a.chart = Some(value("--chart")?),
            "--script" => a.script = Some(value("--script")?),
            "--rate" => {
                a.rate = Some(
                    value("--rate")?
                        .parse()
                        .ok()
                        .filter(|r| *r > 0)
                        .ok_or("--rate takes a whole number above 0")?,
                )
            }
            "--serve" => a.serve = true,
            "--port" => {
                a.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port takes a port number")?
            }
            "--upstream" => a.upstream = Some(value("--upstream")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if a.upstream.is_some() && !a.serve {
        return Err(format!("--upstream works with --serve\n{USAGE}"));
    }
    Ok(a)
}

#[tokio::main]
async fn main() {
    if let Err(e) = demo_main().await {
        eprintln!("outage: {e}");
        std::process::exit(1);
    }
}

async fn demo_main() -> Result<(), BoxError> {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let script = match &args.script {
        None => Script::parse(demo::script::DEFAULT)?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the script {path}: {e}"))?;
            Script::parse(&text)?
        }
    };
    let mut settings = Settings::default();
    if let Some(r) = args.rate {
        settings.rate = r;
        settings.upstream_rate = r + r / 5;
        settings.upstream_burst = (r / 10).max(1);
    }
    if args.serve {
        return serve(&args, script, &settings).await;
    }

    println!(
        "outage demo: {} requests/s open-loop from {} clients ({}% POST with Idempotency-Key), \
         client timeout {} ms, script {:.1} s, run twice",
        settings.rate,
        settings.clients,
        settings.keyed_percent,
        settings.client_timeout.as_millis(),
        script.total().as_secs_f64()
    );
    println!(
        "fusebox stack: timeout {} ms > per-client {}/s > idempotency > coalesce > retry (3 attempts, budget) > \
         breaker ({} failures, open {} ms) > bulkhead {} > upstream rate {}/s burst {} > attempt timeout {} ms\n",
        settings.client_timeout.as_millis(),
        settings.per_client_rate,
        settings.trip_after,
        settings.open_ms,
        settings.bulkhead,
        settings.upstream_rate,
        settings.upstream_burst,
        settings.attempt_timeout.as_millis()
    );
    let started = Instant::now();
    let plain = demo::run(Mode::Plain, &script, &settings).await?;
    let fusebox = demo::run(Mode::Fusebox, &script, &settings).await?;
    let runs = [&plain, &fusebox];
    println!(
        "{}",
        demo::report::table(&script, &runs, settings.client_timeout)
    );
    println!(
        "{}",
        demo::report::timeline(&script, &runs, settings.client_timeout)
    );
    if let Some(path) = &args.chart {
        demo::chart::write(path, &script, &runs, &settings)?;
        println!("chart written to {path}");
    }
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `--serve`: one fusebox gateway on a printed port, `/metrics` for
/// Prometheus, until Ctrl-C.
async fn serve(args: &Args, script: Script, s: &Settings) -> Result<(), BoxError> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    // One load tool is one client: let the upstream's limit be what binds.
    let mut s = s.clone();
    s.per_client_rate = s.upstream_rate;
    s.per_client_burst = s.upstream_burst;
    let s = &s;
    let t0 = Instant::now();
    let base = match &args.upstream {
        Some(url) => url.clone(),
        None => {
            let (addr, _) = demo::upstream::spawn(script.clone(), t0).await?;
            println!(
                "scripted upstream on http://{addr} ({:.1} s of phases, then the last one stays)",
                script.total().as_secs_f64()
            );
            format!("http://{addr}")
        }
    };
    let gw = demo::gateway::fusebox(Upstream::new(&base)?, s, Shared::local(s)?, t0)?;
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || std::future::ready(recorder.render())),
        )
        .merge(gw.router);
    let addr = demo::serve(router, args.port).await?;
    println!(
        "fusebox gateway on http://{addr} in front of {base}; metrics at http://{addr}/metrics"
    );
    println!("try: oha -z 30s -q 200 http://{addr}/item/1   (Ctrl-C to stop)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
