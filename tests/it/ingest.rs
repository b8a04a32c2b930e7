//! `POST /api/v1/ingest` over real sockets: accepted data reaches subscribers, new dashboards
//! appear, bad requests are refused whole and change nothing.

use crate::common;

use common::*;
use livedash::protocol::ClientMessage;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn ingested_metrics_reach_a_subscriber() {
    let running = start(quiet_settings()).await;
    let (status, answer) =
        ingest(&running, r#"{"dashboard":"shop","ts":1763900000000,"metrics":{"orders":3,"revenue":129.5}}"#).await;
    assert_eq!((status, answer), (202, json!({"accepted": 1})));

    let mut socket = connect(&running).await;
    send(&mut socket, &ClientMessage::Subscribe { dashboard: "shop".into(), since: None, max_hz: None }).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!(snapshot.metrics["revenue"], 129.5);
    assert_eq!(snapshot.ts, 1_763_900_000_000);

    let (status, answer) = ingest(
        &running,
        r#"[{"dashboard":"shop","metrics":{"orders":4}},{"dashboard":"shop","metrics":{"orders":5}}]"#,
    )
    .await;
    assert_eq!((status, answer), (202, json!({"accepted": 2})));
    for (seq, orders) in [(2, 4.0), (3, 5.0)] {
        let update = expect_update(&mut socket).await;
        assert_eq!((update.seq, update.metrics["orders"]), (seq, orders));
    }
    running.shutdown().await;
}

#[tokio::test]
async fn new_dashboards_appear_in_the_list_with_their_metrics() {
    let running = start(quiet_settings()).await;
    push(&running, "fresh", 1.0).await;
    let list: serde_json::Value =
        reqwest::get(http_url(&running, "/api/v1/dashboards")).await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["id"], "fresh");
    assert_eq!(list[0]["definitions"][0]["name"], "x");
    running.shutdown().await;
}

#[tokio::test]
async fn a_bad_request_is_refused_whole_and_changes_nothing() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &ClientMessage::Subscribe { dashboard: "shop".into(), since: None, max_hz: None }).await;
    let before = expect_snapshot(&mut socket).await;

    // The first item is fine, the second is not: neither is applied.
    let (status, answer) =
        ingest(&running, r#"[{"dashboard":"shop","metrics":{"x":2}},{"dashboard":"shop","metrics":{"x":"lots"}}]"#)
            .await;
    assert_eq!(status, 400);
    assert_eq!(answer["index"], 1);
    assert!(answer["error"].as_str().unwrap().contains("'x'"), "{answer}");
    let (status, answer) = ingest(&running, r#"{"dashboard":"Bad Name","metrics":{"x":1}}"#).await;
    assert_eq!((status, answer["index"].clone()), (400, json!(0)));
    let (status, _) = ingest(&running, "not json").await;
    assert_eq!(status, 400);
    // A request over the size limit is refused before it is read whole.
    let huge = format!(
        r#"{{"dashboard":"shop","metrics":{{"x":1}},"pad":"{}"}}"#,
        "a".repeat(quiet_settings().max_ingest_bytes)
    );
    let (status, _) = ingest(&running, &huge).await;
    assert_eq!(status, 413);
    let (status, _) = ingest(&running, r#"{"dashboard":"ghost","metrics":{"x":1e999}}"#).await;
    assert_eq!(status, 400);

    expect_silence(&mut socket, Duration::from_millis(300)).await;
    let snapshot: serde_json::Value =
        reqwest::get(http_url(&running, "/api/v1/dashboards/shop/snapshot")).await.unwrap().json().await.unwrap();
    assert_eq!(snapshot["seq"], before.seq);
    assert_eq!(snapshot["metrics"]["x"], 1.0);
    let ghost = reqwest::get(http_url(&running, "/api/v1/dashboards/ghost/snapshot")).await.unwrap();
    assert_eq!(ghost.status().as_u16(), 404, "a refused request created no dashboard");
    running.shutdown().await;
}

#[tokio::test]
async fn a_labelled_series_is_known_by_its_canonical_key_with_its_family_labels_and_kind() {
    let running = start(quiet_settings()).await;
    // Labels in any order name one series.
    let body = r#"[{"dashboard":"svc","metrics":{"http_requests_total{method=\"GET\",code=\"500\"}":3,"queue_depth":7}},
                   {"dashboard":"svc","metrics":{"http_requests_total{code=\"500\",method=\"GET\"}":5}}]"#;
    let (status, answer) = ingest(&running, body).await;
    assert_eq!(status, 202, "{answer}");
    let snapshot = snapshot(&running, "svc").await;
    let key = r#"http_requests_total{code="500",method="GET"}"#;
    assert_eq!(snapshot["metrics"][key], 5.0, "{snapshot}");
    let definitions = snapshot["definitions"].as_array().unwrap();
    let counter = definitions.iter().find(|d| d["name"] == key).expect("a definition per series");
    assert_eq!(counter["family"], "http_requests_total");
    assert_eq!(counter["labels"], serde_json::json!({"code": "500", "method": "GET"}));
    assert_eq!(counter["kind"], "counter", "a family ending in _total counts");
    let gauge = definitions.iter().find(|d| d["name"] == "queue_depth").unwrap();
    assert!(gauge.get("family").is_none() && gauge.get("labels").is_none() && gauge.get("kind").is_none(), "{gauge}");

    // A key that breaks a rule is refused with the rule, and nothing of the request applied.
    let (status, answer) = ingest(&running, r#"{"dashboard":"svc","metrics":{"m{9x=\"a\"}":1}}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("label name '9x'"), "{answer}");
    running.shutdown().await;
}
