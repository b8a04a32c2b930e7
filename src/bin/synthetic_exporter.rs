//! Scrape benchmark's targets (see BENCHMARKS.md, `scripts/bench-scrape.sh`): serves
//! `--targets` Prometheus targets on one loopback port, `/t/<i>/metrics`, each with `--series`
//! series (a counter per `cpu`/`mode` pair, as the node exporter's shape) whose values move on
//! with the clock, in the text format 0.0.4. Prints `listening on <addr>` and serves until
//! killed.

use axum::{extract::Path, http::header, response::IntoResponse, routing::get, Router};
use clap::Parser;
use std::fmt::Write as _;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(about = "Serve synthetic Prometheus targets for the scrape benchmark.")]
struct Args {
    /// Targets served, `/t/0/metrics` to `/t/<n-1>/metrics`.
    #[arg(long, default_value_t = 100)]
    targets: usize,
    /// Series per target.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
}

/// One target's exposition at `seconds`: each series' total grows with the clock at its own pace.
fn exposition(target: usize, series: usize, seconds: u64) -> String {
    let mut text = String::with_capacity(series * 64 + 128);
    text.push_str("# HELP bench_cpu_seconds_total Seconds the CPUs spent in each mode.\n");
    text.push_str("# TYPE bench_cpu_seconds_total counter\n");
    for index in 0..series {
        let (cpu, mode) = (index / 8, index % 8);
        let total = seconds as f64 * (1.0 + mode as f64) + target as f64;
        let _ = writeln!(text, "bench_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"m{mode}\"}} {total}");
    }
    text
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let served = args.clone();
    let app = Router::new().route(
        "/t/{target}/metrics",
        get(move |Path(target): Path<usize>| {
            let args = served.clone();
            async move {
                let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let body = exposition(target.min(args.targets), args.series, seconds);
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(args.listen).await.expect("the address is free");
    println!("listening on {}", listener.local_addr().expect("bound"));
    axum::serve(listener, app).await.expect("serving");
}
