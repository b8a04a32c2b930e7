//! `POST /api/v2/write` over a real socket: InfluxDB answers (204, JSON errors with the line),
//! gzip bodies, the ingest token, limits, and a real InfluxDB client library writing.

use crate::common;

use common::*;
use flate2::{write::GzEncoder, Compression};
use std::io::Write;

async fn write(
    running: &livedash::server::Running,
    query: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().post(http_url(running, &format!("/api/v2/write?{query}"))).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("write request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn points_become_metrics_of_the_bucket_dashboard() {
    let running = start(quiet_settings()).await;
    let body = "# from telegraf\n\
                cpu,host=web-01,cpu=cpu-total usage_idle=97.5,usage_user=1.5 1700000000000000000\n\
                \n\
                mem,host=web-01 used=1024i,ok=true,note=\"fine\" 1700000001000000000\n";
    let (status, answer) = write(&running, "bucket=ops&org=any", body.into(), &[]).await;
    assert_eq!(status, 204, "{answer}");
    let snapshot = snapshot(&running, "ops").await;
    assert_eq!(snapshot["metrics"]["cpu.cpu_total.web_01.usage_idle"], 97.5);
    assert_eq!(snapshot["metrics"]["mem.web_01.used"], 1024.0);
    assert_eq!(snapshot["metrics"]["mem.web_01.ok"], 1.0);
    assert!(snapshot["metrics"].get("mem.web_01.note").is_none(), "strings are skipped");
    assert_eq!(snapshot["seq"], 2, "one update per timestamp");
    assert_eq!(snapshot["ts"], 1_700_000_001_000i64);
    running.shutdown().await;
}

#[tokio::test]
async fn gzip_bodies_and_precision() {
    let running = start(quiet_settings()).await;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(b"m v=1 1700000000\nm v=2 1700000005\n").unwrap();
    let gzipped = encoder.finish().unwrap();
    let (status, answer) = write(&running, "bucket=zipped&precision=s", gzipped, &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 204, "{answer}");
    let snapshot = snapshot(&running, "zipped").await;
    assert_eq!(snapshot["metrics"]["m.v"], 2.0);
    assert_eq!(snapshot["ts"], 1_700_000_005_000i64);
    // A body that says gzip but is not is refused, not half-read.
    let (status, _) = write(&running, "bucket=zipped", b"m v=1".to_vec(), &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 400);
    running.shutdown().await;
}

#[tokio::test]
async fn errors_name_the_line_and_apply_nothing() {
    let running = start(quiet_settings()).await;
    let (status, answer) = write(&running, "bucket=ops", b"ok v=1\n\nbad v=\nok v=2".to_vec(), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(answer["code"], "invalid");
    assert_eq!(answer["line"], 3);
    assert!(answer["message"].as_str().unwrap().contains("missing field value"), "{answer}");
    let (status, _) = reqwest::get(http_url(&running, "/api/v1/dashboards/ops/snapshot"))
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 404, "nothing from the bad request was applied");

    let cases = [
        ("precision=s", "bucket is required"),
        ("bucket=Not%20Valid", "not a valid dashboard id"),
        ("bucket=ops&precision=h", "not one of ns, us, ms, s"),
    ];
    for (query, message) in cases {
        let (status, answer) = write(&running, query, b"m v=1".to_vec(), &[]).await;
        assert_eq!(status, 400, "{query}");
        assert!(answer["message"].as_str().unwrap().contains(message), "{query}: {answer}");
    }
    let (status, answer) = write(&running, "bucket=ops", vec![0xff, 0xfe], &[]).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalid")));
    running.shutdown().await;
}

#[tokio::test]
async fn the_ingest_token_guards_both_ingest_paths() {
    let mut settings = quiet_settings();
    settings.ingest_token = Some("s3cret".into());
    let running = start(settings).await;
    let (status, answer) = write(&running, "bucket=ops", b"m v=1".to_vec(), &[]).await;
    assert_eq!((status, answer["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = write(&running, "bucket=ops", b"m v=1".to_vec(), &[("authorization", "Token wrong")]).await;
    assert_eq!(status, 401);
    let (status, _) = write(&running, "bucket=ops", b"m v=1".to_vec(), &[("authorization", "Token s3cret")]).await;
    assert_eq!(status, 204);
    let (status, answer) = ingest(&running, r#"{"dashboard":"ops","metrics":{"x":1}}"#).await;
    assert_eq!((status, answer["code"].as_str()), (401, Some("unauthorized")));
    let response = reqwest::Client::new()
        .post(http_url(&running, "/api/v1/ingest"))
        .header("authorization", "Bearer s3cret")
        .body(r#"{"dashboard":"ops","metrics":{"x":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    running.shutdown().await;
}

#[tokio::test]
async fn limits_refuse_whole_requests_with_clear_errors() {
    let mut settings = quiet_settings();
    settings.max_values_per_request = 3;
    settings.max_dashboards = 2;
    settings.max_metrics_per_dashboard = 4;
    settings.max_ingest_bytes = 1024;
    let running = start(settings).await;
    let (status, answer) = write(&running, "bucket=a", b"m a=1,b=2,c=3,d=4".to_vec(), &[]).await;
    assert_eq!((status, answer["code"].as_str()), (413, Some("request too large")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("4 metric values"), "{answer}");

    let (status, _) = write(&running, "bucket=a", b"m a=1,b=2,c=3".to_vec(), &[]).await;
    assert_eq!(status, 204);
    let (status, answer) = write(&running, "bucket=a", b"n a=1,b=2".to_vec(), &[]).await;
    assert_eq!(status, 422, "a fifth and sixth metric: {answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("would have 5 series") && message.contains("--max-metrics-per-dashboard"), "{answer}");
    assert_eq!(metric(&running, "livedash_refused_series_total").await, 2.0, "the two new series are counted");
    let (status, _) = write(&running, "bucket=b", b"m a=1".to_vec(), &[]).await;
    assert_eq!(status, 204);
    let (status, answer) = ingest(&running, r#"{"dashboard":"c","metrics":{"x":1}}"#).await;
    assert_eq!(status, 422, "a third dashboard: {answer}");
    assert!(answer["error"].as_str().unwrap().contains("3 dashboards"), "{answer}");

    let big = "m a=1\n".repeat(300);
    let (status, answer) = write(&running, "bucket=a", big.into(), &[]).await;
    assert_eq!((status, answer["code"].as_str()), (413, Some("request too large")), "{answer}");
    running.shutdown().await;
}

/// The official `influxdb-client` Python library (installed by `make python-deps`) writes
/// points, line protocol text and gzip batches through its normal API.
#[tokio::test]
async fn the_influxdb_python_client_writes_unchanged() {
    let mut settings = quiet_settings();
    settings.ingest_token = Some("py-token".into());
    let running = start(settings).await;
    run_producer("influx_client.py", &[format!("http://{}", running.addr), "py-token".into()]).await;
    let snapshot = snapshot(&running, "pyclient").await;
    assert_eq!(snapshot["metrics"]["weather.office.temperature"], 21.5, "{snapshot}");
    assert_eq!(snapshot["metrics"]["weather.office.humidity"], 40.0);
    assert_eq!(snapshot["metrics"]["text.lines"], 3.0);
    assert_eq!(snapshot["metrics"]["batch.n"], 999.0);
    running.shutdown().await;
}
