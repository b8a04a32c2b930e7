//! Producers nobody here wrote feed livedash unchanged (PROTOCOL.md 1.2, "Producers"):
//! StatsD (the `statsd` package) and DogStatsD (`datadog`) over UDP with their values,
//! kinds and tags; a malformed StatsD line is counted and costs only itself.

use crate::common::*;
use serde_json::Value;

/// The largest value `key` had in the snapshot's history window.
fn largest(snapshot: &Value, key: &str) -> Option<f64> {
    snapshot["history"]["series"][key].as_array()?.iter().filter_map(Value::as_f64).reduce(f64::max)
}

fn kind(snapshot: &Value, key: &str) -> String {
    let definitions = snapshot["definitions"].as_array().unwrap();
    let definition = definitions.iter().find(|d| d["name"] == key).unwrap_or_else(|| panic!("{key}: {snapshot:#}"));
    definition["kind"].as_str().unwrap_or("gauge").to_owned()
}

async fn start_with_statsd() -> livedash::server::Running {
    let mut settings = quiet_settings();
    settings.statsd_addr = Some("127.0.0.1:0".parse().unwrap());
    start(settings).await
}

#[tokio::test]
async fn statsd_and_dogstatsd_clients_feed_the_statsd_dashboard() {
    let running = start_with_statsd().await;
    let statsd = running.statsd_addr.expect("listening");
    run_producer("statsd_clients.py", &[statsd.ip().to_string(), statsd.port().to_string()]).await;
    let requests = r#"api.requests{env="prod",route="/buy"}"#;
    let snapshot = snapshot_when(&running, "statsd", |snapshot| {
        snapshot["metrics"]["shop.orders"] == 5.0 && snapshot["metrics"][requests] == 3.0
    })
    .await;
    let metrics = &snapshot["metrics"];
    // StatsD: a counter's total, a gauge moved by a delta, a timer's quantiles and totals,
    // a set's distinct members in the flush that had them.
    assert_eq!(kind(&snapshot, "shop.orders"), "counter", "a `c` is a counter though not named _total");
    assert_eq!(metrics["shop.queue"], 15.0);
    assert_eq!(kind(&snapshot, "shop.queue"), "gauge");
    assert_eq!(metrics[r#"shop.latency{quantile="0.5"}"#], 50.0, "{snapshot:#}");
    assert_eq!(metrics[r#"shop.latency{quantile="0.9"}"#], 90.0);
    assert_eq!(metrics[r#"shop.latency{quantile="0.99"}"#], 100.0);
    assert_eq!(
        (metrics["shop.latency_count"].as_f64(), metrics["shop.latency_sum"].as_f64()),
        (Some(10.0), Some(550.0))
    );
    assert_eq!(kind(&snapshot, "shop.latency_count"), "counter");
    assert_eq!(largest(&snapshot, "shop.users"), Some(2.0), "ann and bob (ann twice)");
    // DogStatsD: tags become labels; histograms and distributions are timings.
    assert_eq!(kind(&snapshot, requests), "counter");
    assert_eq!(metrics[r#"api.inflight{env="prod"}"#], 7.0);
    assert_eq!(metrics[r#"api.size{env="prod",quantile="0.5"}"#], 512.0);
    assert_eq!(metrics[r#"api.latency_count{env="prod"}"#], 1.0);
    let definition = snapshot["definitions"].as_array().unwrap().iter().find(|d| d["name"] == requests).unwrap();
    assert_eq!(definition["family"], "api.requests");
    assert_eq!(definition["labels"], serde_json::json!({"env": "prod", "route": "/buy"}));
    running.shutdown().await;
}

#[tokio::test]
async fn a_malformed_statsd_line_is_counted_and_costs_only_itself() {
    let running = start_with_statsd().await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let packet = b"raw.good:2|c\nthis is not statsd\nraw.level:4|g\nraw.bad:x|c\n";
    socket.send_to(packet, running.statsd_addr.unwrap()).await.unwrap();
    let snapshot = snapshot_when(&running, "statsd", |s| s["metrics"]["raw.level"] == 4.0).await;
    assert_eq!(snapshot["metrics"]["raw.good"], 2.0);
    assert!(snapshot["metrics"].get("raw.bad").is_none());
    assert_eq!(metric(&running, "livedash_statsd_malformed_lines_total").await, 2.0);
    running.shutdown().await;
}

/// The SDK's series, as they must arrive in `dashboard` whatever the encoding.
async fn assert_sdk_series(running: &livedash::server::Running, dashboard: &str) {
    let orders = r#"orders{region="eu",service.instance.id="pod-1"}"#;
    let snapshot = snapshot_when(running, dashboard, |s| s["metrics"][orders] == 5.0).await;
    let metrics = &snapshot["metrics"];
    assert_eq!(kind(&snapshot, orders), "counter", "a monotonic cumulative sum is a counter");
    assert_eq!(metrics[r#"queue.depth{service.instance.id="pod-1"}"#], 6.0, "{snapshot:#}");
    assert_eq!(kind(&snapshot, r#"queue.depth{service.instance.id="pod-1"}"#), "gauge", "an up-down counter");
    assert_eq!(metrics[r#"temperature{room="lab",service.instance.id="pod-1"}"#], 21.5);
    assert_eq!(metrics[r#"request.duration_count{service.instance.id="pod-1"}"#], 10.0);
    assert_eq!(metrics[r#"request.duration_sum{service.instance.id="pod-1"}"#], 550.0);
    assert_eq!(kind(&snapshot, r#"request.duration_count{service.instance.id="pod-1"}"#), "counter");
    // 10..100 in the SDK's default buckets: the median at the top of (25, 50].
    assert_eq!(metrics[r#"request.duration{quantile="0.5",service.instance.id="pod-1"}"#], 50.0);
    let p90 = metrics[r#"request.duration{quantile="0.9",service.instance.id="pod-1"}"#].as_f64().unwrap();
    assert!((p90 - 91.666).abs() < 0.01, "{p90}");
    let definition = snapshot["definitions"].as_array().unwrap().iter().find(|d| d["name"] == orders).unwrap();
    assert_eq!(definition["family"], "orders");
    // The SDK's own resource attributes (telemetry.sdk.*) are not labels.
    assert!(metrics.as_object().unwrap().keys().all(|key| !key.contains("telemetry")), "{snapshot:#}");
}

#[tokio::test]
async fn the_opentelemetry_sdk_exports_in_protobuf_and_json() {
    let running = start(quiet_settings()).await;
    let base = format!("http://{}", running.addr);
    run_producer("otel_sdk.py", &[base.clone(), "protobuf".into(), "checkout".into()]).await;
    assert_sdk_series(&running, "checkout").await;
    run_producer("otel_sdk.py", &[base, "json".into(), "Checkout JSON".into()]).await;
    assert_sdk_series(&running, "checkout-json").await;
    running.shutdown().await;
}

/// POSTs an OTLP/JSON body with extra headers; the status, content type and answer.
async fn post_otlp(
    running: &livedash::server::Running,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new().post(http_url(running, path)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = response.bytes().await.unwrap();
    (status, content_type, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn gauge_request(service: &str, names: &[&str]) -> Vec<u8> {
    let metrics: Vec<Value> = names
        .iter()
        .map(|name| serde_json::json!({"name": name, "gauge": {"dataPoints": [{"asDouble": 1.5, "timeUnixNano": "1700000000000000000"}]}}))
        .collect();
    let request = serde_json::json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeMetrics": [{"metrics": metrics}]
    }]});
    serde_json::to_vec(&request).unwrap()
}

#[tokio::test]
async fn otlp_refuses_what_it_cannot_read_and_answers_partially_past_the_limit() {
    let mut settings = quiet_settings();
    settings.max_metrics_per_dashboard = 2;
    settings.max_ingest_bytes = 4096;
    let running = start(settings).await;
    let json = [("content-type", "application/json")];
    let (status, _, answer) =
        post_otlp(&running, "/v1/metrics", b"x".to_vec(), &[("content-type", "text/plain")]).await;
    assert_eq!((status, answer["code"].as_i64()), (415, Some(3)), "{answer}");
    let (status, content_type, answer) =
        post_otlp(&running, "/v1/metrics", b"{\"resourceMetrics\":7}".to_vec(), &json).await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    assert!(answer["message"].as_str().unwrap().contains("not an OTLP metrics request"), "{answer}");
    let (status, content_type, _) =
        post_otlp(&running, "/v1/metrics", vec![0xff; 16], &[("content-type", "application/x-protobuf")]).await;
    assert_eq!((status, content_type.as_str()), (400, "application/x-protobuf"), "answered in kind");
    let (status, ..) = post_otlp(&running, "/v1/metrics", vec![b' '; 8192], &json).await;
    assert_eq!(status, 413);

    // Three new series where two fit: two applied, one refused, said in partial_success.
    let (status, _, answer) =
        post_otlp(&running, "/v1/metrics", gauge_request("limits", &["a", "b", "c"]), &json).await;
    assert_eq!(status, 200, "{answer}");
    // An int64: a number or a string, as protobuf's JSON mapping reads either.
    assert_eq!(answer["partialSuccess"]["rejectedDataPoints"].to_string().trim_matches('"'), "1", "{answer}");
    assert!(answer["partialSuccess"]["errorMessage"].as_str().unwrap().contains("--max-metrics-per-dashboard"));
    let snapshot = snapshot(&running, "limits").await;
    assert_eq!(snapshot["metrics"].as_object().unwrap().len(), 2, "{snapshot}");
    // Gzip, and an accepted request answers an empty response.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &gauge_request("limits", &["a"])).unwrap();
    let headers = [("content-type", "application/json"), ("content-encoding", "gzip")];
    let (status, _, answer) = post_otlp(&running, "/v1/metrics", gzip.finish().unwrap(), &headers).await;
    assert_eq!((status, answer.clone()), (200, serde_json::json!({})), "{answer}");
    assert_eq!(metric(&running, "livedash_refused_series_total").await, 1.0);
    running.shutdown().await;
}

/// Debian's `prometheus-node-exporter` on a free loopback port: real host metrics.
async fn node_exporter() -> (Peer, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let child = tokio::process::Command::new("/usr/bin/prometheus-node-exporter")
        .arg(format!("--web.listen-address={address}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus-node-exporter is not installed: `make test` installs it (scripts/install-services.sh)");
    answering("node exporter ready", &format!("http://{address}/metrics")).await;
    (Peer(child), address)
}

/// Debian's `prometheus` scraping `target` as job `node` every second and remote-writing to
/// `write_url`, its data in `folder`.
async fn prometheus(folder: &std::path::Path, target: &str, write_url: &str) -> Peer {
    let config = folder.join("prometheus.yml");
    let text = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\n\
         remote_write:\n  - url: {write_url}\n    queue_config:\n      batch_send_deadline: 1s\n    \
         metadata_config:\n      send_interval: 1s\n"
    );
    std::fs::write(&config, text).unwrap();
    let child = tokio::process::Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", folder.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus is not installed: `make test` installs it (scripts/install-services.sh)");
    Peer(child)
}

#[tokio::test]
async fn prometheus_remote_writes_the_node_exporters_series_with_their_labels() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(quiet_settings()).await;
    let (_exporter, target) = node_exporter().await;
    let _prometheus = prometheus(folder.path(), &target, &http_url(&running, "/api/v1/write")).await;
    let idle = format!(r#"node_cpu_seconds_total{{cpu="0",instance="{target}",mode="idle"}}"#);
    let up = format!(r#"up{{instance="{target}"}}"#);
    // The job (`node`) names the dashboard; a few seconds for Prometheus to start and send.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let snapshot = loop {
        let (status, snapshot) = get_json(http_url(&running, "/api/v1/dashboards/node/snapshot")).await;
        // Prometheus sends in batches of a few hundred samples: wait for both.
        if status == 200 && snapshot["metrics"].get(&idle).is_some() && snapshot["metrics"].get(&up).is_some() {
            break snapshot;
        }
        assert!(std::time::Instant::now() < deadline, "no {idle} yet: {snapshot:#}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(kind(&snapshot, &idle), "counter");
    let definition = snapshot["definitions"].as_array().unwrap().iter().find(|d| d["name"] == idle.as_str()).unwrap();
    assert_eq!(definition["family"], "node_cpu_seconds_total");
    assert_eq!(definition["labels"]["mode"], "idle");
    assert!(definition["labels"].get("job").is_none(), "the job named the dashboard");
    // Scrape health Prometheus sends beside the samples.
    assert_eq!(snapshot["metrics"][&up], 1.0);
    assert!(snapshot["metrics"].as_object().unwrap().keys().all(|key| !key.contains("_bucket")));
    running.shutdown().await;
}

/// POSTs a remote write body (snappy-compressed here) with `content_type`; the answer.
async fn remote_write(
    running: &livedash::server::Running,
    query: &str,
    body: &[u8],
    content_type: &str,
) -> reqwest::Response {
    let compressed = snap::raw::Encoder::new().compress_vec(body).unwrap();
    reqwest::Client::new()
        .post(http_url(running, &format!("/api/v1/write{query}")))
        .header("content-type", content_type)
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "2.0.0")
        .body(compressed)
        .send()
        .await
        .unwrap()
}

fn written(response: &reqwest::Response, what: &str) -> Option<String> {
    let name = format!("x-prometheus-remote-write-{what}-written");
    response.headers().get(name).map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn remote_write_2_reads_symbols_and_metadata_and_answers_as_the_spec_says() {
    use livedash::server::ingest::remote_write::{v1, v2};
    use prost::Message;
    let mut settings = quiet_settings();
    settings.max_metrics_per_dashboard = 3;
    let running = start(settings).await;
    let v2_type = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let symbols = ["", "__name__", "jobs_done", "queue", "eu", "temperature_total", "region", "job", "batch"];
    let series = |refs: Vec<u32>, value: f64, metric_type: i32| v2::TimeSeries {
        labels_refs: refs,
        samples: vec![v1::Sample { value, timestamp: 1_700_000_000_000 }],
        metadata: Some(v2::Metadata { r#type: metric_type, help_ref: 0, unit_ref: 0 }),
        ..Default::default()
    };
    let request = v2::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries: vec![
            // jobs_done{region="eu"}: a counter by its metadata, though not named _total.
            series(vec![1, 2, 6, 4, 7, 8], 12.0, 1),
            // temperature_total: a gauge by its metadata, though named _total.
            series(vec![1, 5, 7, 8], 21.0, 2),
        ],
    };
    let response = remote_write(&running, "", &request.encode_to_vec(), v2_type).await;
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(written(&response, "samples").as_deref(), Some("2"));
    assert_eq!(written(&response, "histograms").as_deref(), Some("0"));
    assert_eq!(written(&response, "exemplars").as_deref(), Some("0"));
    let snapshot = snapshot(&running, "batch").await;
    assert_eq!(snapshot["metrics"][r#"jobs_done{region="eu"}"#], 12.0, "{snapshot:#}");
    assert_eq!(kind(&snapshot, r#"jobs_done{region="eu"}"#), "counter");
    assert_eq!(kind(&snapshot, "temperature_total"), "gauge");

    // Past the series limit (3): one new series of two fits; 400, never retried, says why.
    let more = v2::Request {
        symbols: ["", "__name__", "a", "b", "job", "batch"].iter().map(|s| s.to_string()).collect(),
        timeseries: vec![series(vec![1, 2, 4, 5], 1.0, 2), series(vec![1, 3, 4, 5], 1.0, 2)],
    };
    let response = remote_write(&running, "", &more.encode_to_vec(), v2_type).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(written(&response, "samples").as_deref(), Some("1"));
    let message = response.text().await.unwrap();
    assert!(
        message.contains("1 of 2 samples not written") && message.contains("--max-metrics-per-dashboard"),
        "{message}"
    );

    // What cannot be read: 415 for another type or encoding, 400 for a body that is not the message.
    let response = remote_write(&running, "", b"x", "application/json").await;
    assert_eq!(response.status().as_u16(), 415);
    let plain = reqwest::Client::new()
        .post(http_url(&running, "/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 415, "not snappy");
    let response = remote_write(&running, "", &[0xff, 0xff, 0xff], "application/x-protobuf").await;
    assert_eq!(response.status().as_u16(), 400);
    // A symbol reference past the table.
    let broken = v2::Request { symbols: vec!["".into()], timeseries: vec![series(vec![1, 2], 1.0, 2)] };
    let response = remote_write(&running, "?dashboard=batch", &broken.encode_to_vec(), v2_type).await;
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.unwrap().contains("symbol 1 past the 1 symbols"));
    running.shutdown().await;
}

/// The Python `prometheus-client` exporter (`tests/producers/prometheus_exporter.py`) on a
/// free loopback port.
async fn python_exporter() -> (Peer, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let address = format!("127.0.0.1:{}", free_port());
    let child = tokio::process::Command::new(root.join(".tools/pyvenv/bin/python"))
        .arg(root.join("tests/producers/prometheus_exporter.py"))
        .arg(address.rsplit(':').next().unwrap())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the test venv's Python (`make python-deps`)");
    answering("python exporter ready", &format!("http://{address}/metrics")).await;
    (Peer(child), address)
}

fn scrape_settings(config: &str) -> livedash::server::settings::Settings {
    let file = livedash::server::settings::file::parse(config, "livedash.toml").unwrap();
    let mut settings = quiet_settings();
    settings.scrape = file.scrape;
    settings
}

#[tokio::test]
async fn scraping_reads_the_python_client_and_the_node_exporter_every_second() {
    let (_python, app) = python_exporter().await;
    let (_node, node) = node_exporter().await;
    let dead = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[[scrape]]\nurl = \"http://{app}/metrics\"\ndashboard = \"shop\"\nlabels = {{ env = \"lab\" }}\n\
         [[scrape]]\nurl = \"http://{node}/metrics\"\ndashboard = \"node\"\ninterval = \"1s\"\n\
         [[scrape]]\nurl = \"http://{dead}/metrics\"\ndashboard = \"shop\"\ntimeout = \"500ms\"\n"
    );
    let running = start(scrape_settings(&config)).await;
    let target = |name: &str, extra: &str| format!(r#"{name}{{env="lab",instance="{app}"{extra}}}"#);
    let orders = target("shop_orders_total", r#",region="eu""#);
    let shop = snapshot_when(&running, "shop", |s| s["metrics"].get(&orders).is_some()).await;
    let metrics = &shop["metrics"];
    assert_eq!(metrics[&orders], 7.0);
    assert_eq!(kind(&shop, &orders), "counter");
    assert_eq!(metrics[target("shop_queue_depth", "")], 4.0);
    assert_eq!(metrics[target("up", "")], 1.0);
    assert_eq!(metrics[format!(r#"up{{instance="{dead}"}}"#)], 0.0, "{shop:#}");
    assert!(metrics[target("scrape_samples_scraped", "")].as_f64().unwrap() > 10.0);
    // The histogram as quantiles (4 observations: 1 <= 0.1, 2 in (0.1, 0.5], 1 in (0.5, 1]),
    // its count a counter; the summary's count too.
    let median = metrics[target("shop_latency_seconds", r#",quantile="0.5""#)].as_f64().unwrap();
    assert!((median - 0.3).abs() < 1e-9, "{median}");
    assert_eq!(metrics[target("shop_latency_seconds_count", "")], 4.0);
    assert_eq!(kind(&shop, &target("shop_latency_seconds_count", "")), "counter");
    assert_eq!(metrics[target("shop_payload_bytes_count", "")], 1.0);
    assert!(metrics.as_object().unwrap().keys().all(|key| !key.contains("_bucket") && !key.contains("_created")));

    // The node exporter: every cpu and mode a counter, a rate in the browser.
    let idle = format!(r#"node_cpu_seconds_total{{cpu="0",instance="{node}",mode="idle"}}"#);
    let host = snapshot_when(&running, "node", |s| s["metrics"].get(&idle).is_some()).await;
    assert_eq!(kind(&host, &idle), "counter");
    let modes =
        host["definitions"].as_array().unwrap().iter().filter(|d| d["family"] == "node_cpu_seconds_total").count();
    assert!(modes >= 8, "one series per cpu and mode: {modes}");
    // Scraped again a second later: the counter moved on.
    let before = host["metrics"][&idle].as_f64().unwrap();
    let later = snapshot_when(&running, "node", |s| s["metrics"][&idle].as_f64().unwrap() > before).await;
    assert!(later["seq"].as_u64() > host["seq"].as_u64());

    // Health in the API and the dashboard list.
    let (_, targets) = get_json(http_url(&running, "/api/v1/targets")).await;
    let targets = targets.as_array().unwrap();
    assert_eq!(targets.len(), 3);
    let down = targets.iter().find(|t| t["url"].as_str().unwrap().contains(&dead)).unwrap();
    assert_eq!(down["up"], false);
    assert!(down["lastError"].as_str().unwrap().contains("cannot reach"), "{down}");
    let (_, list) = get_json(http_url(&running, "/api/v1/dashboards")).await;
    let shop = list.as_array().unwrap().iter().find(|d| d["id"] == "shop").unwrap();
    assert_eq!(shop["sources"][0]["kind"], "scrape");
    assert_eq!(shop["targets"].as_array().unwrap().len(), 2);
    assert!(shop["series"].as_u64().unwrap() > 10);
    running.shutdown().await;
}
