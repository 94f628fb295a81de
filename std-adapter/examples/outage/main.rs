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
//!   --config FILE         with --serve: the breaker, rate limit and bulkhead (fusebox_std::config's
//!                         format; default examples/outage/gateway.toml)
//!   --entry NAME          the file's entries to use (default `upstream`)
//!   --instances N --redis URL
//!                         instead of the outage script: N gateways, one quota and one
//!                         idempotency store per instance, then shared in Redis (demo/fleet.rs)
//! ```

// Shared with `tests/outage.rs`: some parts are used by only one of the two.
#[allow(dead_code)]
mod demo;

use std::time::Instant;

use demo::{Mode, Script, Settings};
use tower::BoxError;

struct Args {
    chart: Option<String>,
    script: Option<String>,
    rate: Option<u32>,
    serve: bool,
    port: u16,
    upstream: Option<String>,
    config: Option<String>,
    entry: String,
    instances: Option<usize>,
    redis: Option<String>,
}

const USAGE: &str = "usage: outage [--chart FILE.svg] [--script FILE] [--rate N] \
                     [--serve [--port P] [--upstream URL] [--config FILE [--entry NAME]]] \
                     [--instances N --redis URL]";

fn args() -> Result<Args, String> {
    let mut a = Args {
        chart: None,
        script: None,
        rate: None,
        serve: false,
        port: 0,
        upstream: None,
        config: None,
        entry: "upstream".into(),
        instances: None,
        redis: None,
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
            "--config" => a.config = Some(value("--config")?),
            "--entry" => a.entry = value("--entry")?,
            "--instances" => {
                a.instances = Some(
                    value("--instances")?
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or("--instances takes a whole number from 1 to 64")?,
                )
            }
            "--redis" => a.redis = Some(value("--redis")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if a.instances.is_some() != a.redis.is_some() {
        return Err(format!(
            "--instances N and --redis URL go together (the fleet shares its state in Redis)\n{USAGE}"
        ));
    }
    if a.serve && a.instances.is_some() {
        return Err(format!("--instances does not work with --serve\n{USAGE}"));
    }
    if !a.serve && (a.upstream.is_some() || a.config.is_some()) {
        return Err(format!(
            "--upstream and --config work with --serve\n{USAGE}"
        ));
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
    if let (Some(n), Some(url)) = (args.instances, &args.redis) {
        let started = Instant::now();
        let mut runs = Vec::new();
        for limits in [
            demo::fleet::Limits::PerInstance,
            demo::fleet::Limits::Shared,
        ] {
            runs.push(demo::fleet::run(limits, n, url, &settings).await?);
        }
        println!("{}", demo::fleet::table(&runs, n, &settings));
        println!("done in {:.1} s", started.elapsed().as_secs_f64());
        return Ok(());
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
    if let Some((short, hedged)) = demo::hedge_runs(&script, &settings).await? {
        println!("slow tail, hedging side by side:");
        println!("{}", demo::report::hedge_table(&short, &hedged));
    }
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
    let o = demo::ServeOptions {
        upstream: args.upstream.clone(),
        config: args
            .config
            .clone()
            .map_or_else(demo::config::default_path, Into::into),
        entry: args.entry.clone(),
        port: args.port,
    };
    let scripted = o.upstream.is_none();
    let total = script.total();
    let served = demo::serve_gateway(&o, script, s, recorder).await?;
    if scripted {
        println!(
            "scripted upstream on {} ({:.1} s of phases, then the last one stays)",
            served.base,
            total.as_secs_f64()
        );
    }
    let addr = served.addr;
    println!(
        "fusebox gateway on http://{addr} in front of {}, breaker, rate limit and bulkhead from {} [{}]; \
         metrics at http://{addr}/metrics",
        served.base,
        o.config.display(),
        o.entry
    );
    println!("try: oha -z 30s -q 200 http://{addr}/item/1   (Ctrl-C to stop)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
