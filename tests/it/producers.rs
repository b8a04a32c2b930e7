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
