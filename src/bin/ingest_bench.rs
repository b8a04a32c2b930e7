//! Ingest benchmark (see BENCHMARKS.md): pushes batches of points to a running server through
//! line protocol (`/api/v2/write`), JSON (`/api/v1/ingest`), OTLP protobuf (`/v1/metrics`) or
//! Prometheus remote write 1.0 (`/api/v1/write`) from several concurrent writers,
//! and prints sustained points per second, request latency p50/p99/max, and the server's CPU
//! time per point (from /proc when `--server-pid` is given).
//!
//! A batch holds `--series` series (one tag value each) at `--steps` consecutive seconds, so
//! `series x steps` points; time moves on by `steps` seconds per batch, as a backfill would.

use clap::{Parser, ValueEnum};
use livedash::bench::{percentile, process_usage};
use std::fmt::Write as _;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// InfluxDB line protocol to `/api/v2/write?precision=s`.
    Lp,
    /// JSON to `/api/v1/ingest`.
    Json,
    /// OTLP/HTTP protobuf to `/v1/metrics?dashboard=`: a gauge with a `host` attribute.
    Otlp,
    /// Prometheus remote write 1.0 (snappy) to `/api/v1/write?dashboard=`.
    RemoteWrite,
}

#[derive(Parser, Debug)]
#[command(about = "Measure a livedash server's ingest throughput and latency.")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:3000")]
    server: SocketAddr,
    #[arg(long, value_enum, default_value = "lp")]
    format: Format,
    /// Dashboard (bucket) written to.
    #[arg(long, default_value = "ingestbench")]
    dashboard: String,
    /// Series (distinct metrics) per batch.
    #[arg(long, default_value_t = 100)]
    series: usize,
    /// Consecutive seconds per series per batch.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The server's pid, to report its CPU time per point.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Dashboards written to, in turn (`<dashboard>0`, `<dashboard>1`...; just `<dashboard>`
    /// when 1).
    #[arg(long, default_value_t = 1)]
    dashboards: usize,
    /// Stop once every dashboard got this many seconds (updates) of points.
    #[arg(long)]
    steps_per_dashboard: Option<usize>,
    /// Seconds before now of the first point (a second run given less writes points after the
    /// first run's, as further traffic would).
    #[arg(long, default_value_t = 86_000)]
    from_ago: u64,
    /// A write credential sent as `Authorization: Bearer` (sign-in on).
    #[arg(long, env = "LOADGEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// The name of dashboard `index`.
fn dashboard(args: &Args, index: usize) -> String {
    if args.dashboards == 1 {
        args.dashboard.clone()
    } else {
        format!("{}{index}", args.dashboard)
    }
}

/// One batch for `dashboard` starting at `first_second`.
fn batch(args: &Args, dashboard: &str, first_second: i64) -> Vec<u8> {
    let mut body = String::with_capacity(args.series * args.steps * 40);
    match args.format {
        Format::Lp => {
            for step in 0..args.steps as i64 {
                let ts = first_second + step;
                for series in 0..args.series {
                    let value = value(ts, series);
                    let _ = writeln!(body, "bench,host=h{series} value={value} {ts}");
                }
            }
        }
        Format::Json => {
            body.push('[');
            for step in 0..args.steps as i64 {
                let ts = first_second + step;
                if step > 0 {
                    body.push(',');
                }
                let _ = write!(body, r#"{{"dashboard":"{dashboard}","ts":{},"metrics":{{"#, ts * 1000);
                for series in 0..args.series {
                    let value = value(ts, series);
                    let comma = if series > 0 { "," } else { "" };
                    let _ = write!(body, r#"{comma}"bench.h{series}.value":{value}"#);
                }
                body.push_str("}}");
            }
            body.push(']');
        }
        Format::Otlp => return otlp(args, first_second),
        Format::RemoteWrite => return remote_write(args, first_second),
    }
    body.into_bytes()
}

/// The value of `series` at second `ts`, the same in every format.
fn value(ts: i64, series: usize) -> f64 {
    (ts % 1000) as f64 + series as f64 / 7.0
}

/// An OTLP request: one gauge `bench.value`, a point per series (`host` attribute) and second.
fn otlp(args: &Args, first_second: i64) -> Vec<u8> {
    use opentelemetry_proto::tonic::{
        collector::metrics::v1::ExportMetricsServiceRequest,
        common::v1::{any_value, AnyValue, KeyValue},
        metrics::v1::{metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics},
    };
    use prost::Message;
    let mut data_points = Vec::with_capacity(args.series * args.steps);
    for step in 0..args.steps as i64 {
        let ts = first_second + step;
        for series in 0..args.series {
            let host = AnyValue { value: Some(any_value::Value::StringValue(format!("h{series}"))) };
            data_points.push(NumberDataPoint {
                attributes: vec![KeyValue { key: "host".into(), value: Some(host), ..Default::default() }],
                time_unix_nano: ts as u64 * 1_000_000_000,
                value: Some(number_data_point::Value::AsDouble(value(ts, series))),
                ..Default::default()
            });
        }
    }
    let metric =
        Metric { name: "bench.value".into(), data: Some(Data::Gauge(Gauge { data_points })), ..Default::default() };
    let scope = ScopeMetrics { metrics: vec![metric], ..Default::default() };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics { scope_metrics: vec![scope], ..Default::default() }],
    };
    request.encode_to_vec()
}

/// A remote write 1.0 request: a series per host, its samples for the batch's seconds.
fn remote_write(args: &Args, first_second: i64) -> Vec<u8> {
    use livedash::server::ingest::remote_write::v1::{Label, Sample, TimeSeries, WriteRequest};
    use prost::Message;
    let timeseries = (0..args.series)
        .map(|series| TimeSeries {
            labels: vec![
                Label { name: "__name__".into(), value: "bench_value".into() },
                Label { name: "host".into(), value: format!("h{series}") },
            ],
            samples: (0..args.steps as i64)
                .map(|step| Sample {
                    value: value(first_second + step, series),
                    timestamp: (first_second + step) * 1000,
                })
                .collect(),
        })
        .collect();
    let request = WriteRequest { timeseries, metadata: Vec::new() };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy compresses any block")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    let url = |dashboard: &str| match args.format {
        Format::Lp => format!("http://{}/api/v2/write?bucket={dashboard}&precision=s", args.server),
        Format::Json => format!("http://{}/api/v1/ingest", args.server),
        Format::Otlp => format!("http://{}/v1/metrics?dashboard={dashboard}", args.server),
        Format::RemoteWrite => format!("http://{}/api/v1/write?dashboard={dashboard}", args.server),
    };
    let content_type = match args.format {
        Format::Lp => "text/plain; charset=utf-8",
        Format::Json => "application/json",
        Format::Otlp => "application/x-protobuf",
        Format::RemoteWrite => "application/x-protobuf",
    };
    let points_per_batch = (args.series * args.steps) as u64;
    // Start a day ago so the per-second tier keeps everything written.
    let start =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - args.from_ago) as i64;
    // Batches handed out so far: batch `b` goes to dashboard `b % dashboards`, its round `b /
    // dashboards` of `steps` seconds.
    let handed = Arc::new(AtomicI64::new(0));
    let urls: Arc<Vec<(String, String)>> = Arc::new(
        (0..args.dashboards.max(1)).map(|index| (dashboard(&args, index), url(&dashboard(&args, index)))).collect(),
    );
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &args.token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("a header-safe token"));
    }
    let client = reqwest::Client::builder().default_headers(headers).build().expect("an HTTP client");
    let before = args.server_pid.and_then(process_usage);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let writers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (args, client, urls, handed) = (args.clone(), client.clone(), urls.clone(), handed.clone());
            tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                let mut failures = 0u64;
                while Instant::now() < deadline {
                    let handed = handed.fetch_add(1, Ordering::Relaxed) as usize;
                    let (round, (dashboard, url)) = (handed / urls.len(), &urls[handed % urls.len()]);
                    if args.steps_per_dashboard.is_some_and(|limit| round * args.steps >= limit) {
                        break;
                    }
                    let body = batch(&args, dashboard, start + (round * args.steps) as i64);
                    let sent = Instant::now();
                    let mut request = client.post(url).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
                    if matches!(args.format, Format::RemoteWrite) {
                        request = request
                            .header(reqwest::header::CONTENT_ENCODING, "snappy")
                            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
                    }
                    match request.send().await {
                        Ok(response) if response.status().is_success() => {
                            latencies_us.push(sent.elapsed().as_micros() as u32);
                        }
                        Ok(response) => {
                            failures += 1;
                            let status = response.status();
                            eprintln!("refused: {status} {}", response.text().await.unwrap_or_default());
                        }
                        Err(error) => {
                            failures += 1;
                            eprintln!("request failed: {error}");
                        }
                    }
                }
                (latencies_us, failures)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    for writer in writers {
        let (latencies, failed) = writer.await.expect("writer panicked");
        latencies_us.extend(latencies);
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = args.server_pid.and_then(process_usage);
    latencies_us.sort_unstable();
    let points = latencies_us.len() as u64 * points_per_batch;
    println!("format              {:?}", args.format);
    println!("batch               {} points ({} series x {} s)", points_per_batch, args.series, args.steps);
    println!("concurrency         {} writers, {} dashboard(s)", args.concurrency, args.dashboards);
    println!("requests            {} ok, {failures} failed, in {elapsed:.1} s", latencies_us.len());
    println!("points/s            {:.0}", points as f64 / elapsed);
    println!(
        "latency ms          p50 {:.1}  p99 {:.1}  max {:.1}",
        percentile(&latencies_us, 0.5),
        percentile(&latencies_us, 0.99),
        percentile(&latencies_us, 1.0)
    );
    if let (Some((cpu_before, _)), Some((cpu_after, rss))) = (before, after) {
        let cpu = cpu_after - cpu_before;
        println!("server CPU          {cpu:.2} s = {:.2} us per point", cpu * 1e6 / points.max(1) as f64);
        println!("server RSS          {:.1} MB", rss as f64 / 1e6);
    }
    if failures > 0 {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
