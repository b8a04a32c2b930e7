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
