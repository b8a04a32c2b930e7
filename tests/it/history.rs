//! The history store seen from outside: positions and history survive a restart (clients
//! resume with no gap), an acknowledged write survives `kill -9`, and the history API answers
//! aligned buckets from the right tier.

use crate::common;

use common::*;
use livedash::protocol::Position;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

#[tokio::test]
async fn a_client_resumes_across_a_restart_without_gap_or_duplicate() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(persisted_settings(folder.path())).await;
    for value in 1..=5 {
        push(&running, "shop", value as f64).await;
    }
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", None)).await;
    let before = expect_snapshot(&mut socket).await;
    assert_eq!(before.seq, 5);
    // The client saw up to seq 3 when the connection dropped (say), then the server restarts.
    running.shutdown().await;

    let running = start(persisted_settings(folder.path())).await;
    push(&running, "shop", 6.0).await;
    let mut socket = connect(&running).await;
    let since = Position { epoch: before.epoch.clone(), seq: 3 };
    send(&mut socket, &subscribe("shop", Some(since))).await;
    for seq in 4..=6 {
        let update = expect_update(&mut socket).await;
        assert_eq!((update.seq, update.metrics["x"]), (seq, seq as f64), "replayed in order");
    }
    push(&running, "shop", 7.0).await;
    assert_eq!(expect_update(&mut socket).await.seq, 7, "then live");

    // A fresh subscriber gets a snapshot with the same epoch, the latest value and the history.
    let mut fresh = connect(&running).await;
    send(&mut fresh, &subscribe("shop", None)).await;
    let after = expect_snapshot(&mut fresh).await;
    assert_eq!((after.epoch.as_str(), after.seq), (before.epoch.as_str(), 7));
    assert_eq!(after.metrics["x"], 7.0);
    assert_eq!(after.history.series["x"].len(), 7);
    running.shutdown().await;
}

#[tokio::test]
async fn an_ingested_dashboard_keeps_its_metric_order_across_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(persisted_settings(folder.path())).await;
    for metric in ["zeta", "alpha", "mid"] {
        let body = format!(r#"{{"dashboard":"order","metrics":{{"{metric}":1}}}}"#);
        assert_eq!(ingest(&running, &body).await.0, 202);
    }
    let names = |snapshot: &serde_json::Value| -> Vec<String> {
        snapshot["definitions"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect()
    };
    let url = http_url(&running, "/api/v1/dashboards/order/snapshot");
    assert_eq!(names(&get_json(url).await.1), ["zeta", "alpha", "mid"]);
    running.shutdown().await;

    let running = start(persisted_settings(folder.path())).await;
    let url = http_url(&running, "/api/v1/dashboards/order/snapshot");
    assert_eq!(names(&get_json(url).await.1), ["zeta", "alpha", "mid"], "first seen first, as before");
    running.shutdown().await;
}

#[tokio::test]
async fn history_answers_aligned_buckets_from_the_store() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(persisted_settings(folder.path())).await;
    let base: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    // Two points per minute for an hour: 0, 1, 2, ... at 0 s and 30 s of each minute.
    let items: Vec<String> =
        (0..120).map(|i| format!(r#"{{"dashboard":"h","ts":{},"metrics":{{"v":{i}}}}}"#, base + i * 30_000)).collect();
    let (status, answer) = ingest(&running, &format!("[{}]", items.join(","))).await;
    assert_eq!(status, 202, "{answer}");

    let url = |query: &str| http_url(&running, &format!("/api/v1/dashboards/h/history?metric=v&{query}"));
    let (status, answer) = get_json(url(&format!("from={base}&to={}&step=1m", base + 3_599_999))).await;
    assert_eq!(status, 200, "{answer}");
    let buckets = answer["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 60);
    assert_eq!(buckets[1]["ts"], base + 60_000);
    assert_eq!(buckets[1]["count"], 2);
    assert_eq!((buckets[1]["min"].as_f64(), buckets[1]["max"].as_f64()), (Some(2.0), Some(3.0)));
    assert_eq!(buckets[1]["avg"], 2.5);

    let (_, answer) = get_json(url(&format!("from={}&to={}&step=1h", base + 1, base + 3_599_999))).await;
    let buckets = answer["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 1, "from is aligned down to the step");
    assert_eq!((buckets[0]["ts"].as_i64(), buckets[0]["count"].as_i64()), (Some(base), Some(120)));
    assert_eq!(buckets[0]["sum"], (0..120).sum::<i64>() as f64);

    let (_, answer) = get_json(url(&format!("from={base}&to={}&step=10m", base + 3_599_999))).await;
    assert_eq!(answer["buckets"].as_array().unwrap().len(), 6);
    assert_eq!(answer["stepMs"], 600_000);

    let (status, answer) = get_json(url("step=7x")).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = get_json(url(&format!("from={}&to={base}", base + 1))).await;
    assert_eq!(status, 400);
    let (status, answer) = get_json(url(&format!("from=0&to={base}&step=1s"))).await;
    assert_eq!(status, 400, "too many buckets: {answer}");
    // Bounds at the limits of i64: a clear refusal, not an overflow.
    for range in [format!("from={}&to=0", i64::MIN), format!("from=0&to={}", i64::MAX), format!("to={}", i64::MIN)] {
        let (status, answer) = get_json(url(&range)).await;
        assert_eq!((status, answer["code"].as_str()), (400, Some("bad_request")), "{range}: {answer}");
    }
    let alerts = format!("/api/v1/alerts/history?dashboard=h&from={}&to={}", i64::MIN, i64::MAX);
    let (status, answer) = get_json(http_url(&running, &alerts)).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = get_json(http_url(&running, "/api/v1/dashboards/h/history?metric=nope")).await;
    assert_eq!(status, 404);
    running.shutdown().await;
}

#[tokio::test]
async fn a_counters_buckets_carry_its_rate_and_a_family_pattern_in_the_config_makes_one() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("livedash.toml");
    std::fs::write(
        &config,
        "[[dashboards]]\nid = \"jobs\"\n[[dashboards.metrics]]\nname = \"jobs_*\"\nkind = \"counter\"\n",
    )
    .unwrap();
    let mut settings = persisted_settings(folder.path());
    settings.dashboards =
        livedash::server::settings::Settings::load(["livedash", "--config", config.to_str().unwrap()])
            .unwrap()
            .dashboards;
    let running = start(settings).await;
    let base: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    // A point every 30 s; the worker restarts after 90 (reading 15 at 120 s).
    let totals = [0, 30, 60, 90, 15, 45];
    let items: Vec<String> = totals
        .iter()
        .enumerate()
        .map(|(i, total)| {
            let ts = base + i as i64 * 30_000;
            format!(
                r#"{{"dashboard":"jobs","ts":{ts},"metrics":{{"jobs_done{{queue=\"a\"}}":{total},"queue_depth":{i}}}}}"#
            )
        })
        .collect();
    let (status, answer) = ingest(&running, &format!("[{}]", items.join(","))).await;
    assert_eq!(status, 202, "{answer}");

    let (_, snapshot) = get_json(http_url(&running, "/api/v1/dashboards/jobs/snapshot")).await;
    let definitions = snapshot["definitions"].as_array().unwrap();
    let kind_of = |name: &str| definitions.iter().find(|d| d["name"] == name).map(|d| d["kind"].clone());
    assert_eq!(kind_of(r#"jobs_done{queue="a"}"#), Some("counter".into()), "the pattern's kind: {snapshot}");
    assert_eq!(kind_of("queue_depth"), Some(serde_json::Value::Null), "a gauge says no kind");

    let history = |metric: &str| {
        let metric = livedash::model::url::encode_component(metric);
        http_url(
            &running,
            &format!("/api/v1/dashboards/jobs/history?metric={metric}&from={base}&to={}&step=1m", base + 179_999),
        )
    };
    let (status, answer) = get_json(history(r#"jobs_done{queue="a"}"#)).await;
    assert_eq!(status, 200, "{answer}");
    let rates: Vec<f64> = answer["buckets"].as_array().unwrap().iter().map(|b| b["rate"].as_f64().unwrap()).collect();
    // Per minute: 0 -> 30 within the first; 30 -> 90; 90 -> (restart) 15 -> 45.
    assert_eq!(rates, [0.5, 1.0, 0.75]);
    let (_, answer) = get_json(history("queue_depth")).await;
    assert!(answer["buckets"].as_array().unwrap().iter().all(|b| b.get("rate").is_none()), "{answer}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_query_over_history_groups_rates_and_answers_in_json_or_csv() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(persisted_settings(folder.path())).await;
    let base: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    // Three minutes, a point every 10 s: per code and method a counter growing at its own
    // rate, and a gauge.
    let growth = [("200", "GET", 10.0), ("200", "POST", 2.0), ("500", "GET", 1.0)];
    let items: Vec<String> = (0..18)
        .map(|i| {
            let ts = base + i * 10_000;
            let counters: Vec<String> = growth
                .iter()
                .map(|(code, method, per_second)| {
                    let total = *per_second * (i * 10) as f64;
                    format!(r#""http_requests_total{{code=\"{code}\",method=\"{method}\"}}":{total}"#)
                })
                .collect();
            format!(r#"{{"dashboard":"api","ts":{ts},"metrics":{{{},"in_flight":{}}}}}"#, counters.join(","), i % 3)
        })
        .collect();
    let (status, answer) = ingest(&running, &format!("[{}]", items.join(","))).await;
    assert_eq!(status, 202, "{answer}");
    let url = |q: &str, rest: &str| {
        let q = livedash::model::url::encode_component(q);
        http_url(
            &running,
            &format!("/api/v1/dashboards/api/query?q={q}&from={base}&to={}&step=1m{rest}", base + 179_999),
        )
    };

    let (status, answer) = get_json(url("sum by (code) (http_requests_total)", "")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["query"], "sum by (code) (http_requests_total)");
    let series = answer["series"].as_array().unwrap();
    let keys: Vec<&str> = series.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [r#"{code="200"}"#, r#"{code="500"}"#]);
    assert_eq!(series[0]["labels"]["code"], "200");
    // A counter reads as its rate: the later minutes hold every second's growth.
    let rates: Vec<f64> = series[0]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
    assert_eq!(&rates[1..], [12.0, 12.0], "{answer}");

    let (_, answer) = get_json(url(r#"max(in_flight)"#, "")).await;
    let points = answer["series"][0]["points"].as_array().unwrap();
    assert_eq!((points.len(), points[0][0].as_i64()), (3, Some(base)));
    assert_eq!(points[0][1], 1.0, "a gauge's average over the step");

    let response = reqwest::get(url(r#"http_requests_total{code=~"5.."}"#, "&format=csv")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let text = response.text().await.unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "ts,series,value");
    assert_eq!(rows.len(), 1 + 3, "{text}");
    assert_eq!(rows[2], format!(r#"{},"http_requests_total{{code=""500"",method=""GET""}}",1"#, base + 60_000));

    let (status, answer) = get_json(url("sum(rate(http_requests_total)", "")).await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("at character 30: expected ')'"), "{answer}");
    let history = http_url(
        &running,
        &format!(
            "/api/v1/dashboards/api/history?metric=in_flight&from={base}&to={}&step=1m&format=csv",
            base + 179_999
        ),
    );
    let text = reqwest::get(history).await.unwrap().text().await.unwrap();
    assert_eq!(text.lines().next(), Some("ts,count,sum,min,max,avg,rate"));
    assert_eq!(text.lines().nth(1), Some(format!("{base},6,6,0,2,1,").as_str()));
    running.shutdown().await;
}

#[tokio::test]
async fn a_late_point_is_kept_in_history_and_the_card_keeps_the_newest_value() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(persisted_settings(folder.path())).await;
    let base: i64 = 1_700_000_040_000;
    let write = |ts: i64, value: f64| format!(r#"{{"dashboard":"late","ts":{ts},"metrics":{{"v":{value}}}}}"#);
    // The newest point first, then what an agent buffered through an outage.
    assert_eq!(ingest(&running, &write(base + 50_000, 50.0)).await.0, 202);
    assert_eq!(
        ingest(&running, &format!("[{},{}]", write(base + 10_000, 10.0), write(base + 20_000, 20.0))).await.0,
        202
    );

    let (_, snapshot) = get_json(http_url(&running, "/api/v1/dashboards/late/snapshot")).await;
    assert_eq!(snapshot["seq"], 3, "every update is delivered");
    assert_eq!(snapshot["metrics"]["v"], 50.0, "the newest value stays on the card");
    assert_eq!(snapshot["ts"], base + 50_000);
    let url = http_url(
        &running,
        &format!("/api/v1/dashboards/late/history?metric=v&from={base}&to={}&step=10s", base + 59_999),
    );
    let (_, answer) = get_json(url).await;
    let buckets: Vec<(i64, f64)> = answer["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["ts"].as_i64().unwrap(), b["sum"].as_f64().unwrap()))
        .collect();
    assert_eq!(buckets, vec![(base + 10_000, 10.0), (base + 20_000, 20.0), (base + 50_000, 50.0)], "nothing is lost");
    running.shutdown().await;
}

/// The real binary, with its history in `folder`, and the address it listens on.
fn spawn_server(folder: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_livedash"))
        .args(["--addr", "127.0.0.1:0", "--simulator", "false", "--host-metrics", "false"])
        .arg("--data")
        .arg(folder.join("livedash.sqlite"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the livedash binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .find_map(|line| line.ok()?.strip_prefix("livedash listening on http://").map(str::to_owned))
        .expect("the server prints its address");
    (child, addr)
}

#[tokio::test]
async fn an_acknowledged_write_survives_kill_9() {
    let folder = tempfile::tempdir().unwrap();
    let (mut server, addr) = spawn_server(folder.path());
    let client = reqwest::Client::new();
    let mut acknowledged = 0;
    for batch in 0..40 {
        let body: String =
            (0..50).map(|i| format!("load,host=a v={} {}\n", batch * 50 + i, 1_700_000_000 + batch * 50 + i)).collect();
        let response = client
            .post(format!("http://{addr}/api/v2/write?bucket=durable&precision=s"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        acknowledged += 50;
    }
    // SIGKILL right after the last answer: no shutdown code runs.
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, addr) = spawn_server(folder.path());
    let (status, snapshot) = get_json(format!("http://{addr}/api/v1/dashboards/durable/snapshot")).await;
    assert_eq!(status, 200, "{snapshot}");
    assert_eq!(snapshot["seq"], acknowledged, "every acknowledged update kept its seq");
    assert_eq!(snapshot["metrics"]["load.a.v"], (acknowledged - 1) as f64);
    let (_, history) = get_json(format!(
        "http://{addr}/api/v1/dashboards/durable/history?metric=load.a.v&from=1700000000000&to=1700010000000&step=1h"
    ))
    .await;
    let count: i64 = history["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(count, acknowledged, "every acknowledged point is in the history");
    server.kill().unwrap();
    server.wait().unwrap();
}
