//! Several instances behind one Redis (docs/deploy.md, PROTOCOL.md "Several server
//! instances"): a real `redis-server` on a unix socket with persistence off, real livedash
//! instances (in this process, or as processes a test kills with SIGKILL), real sockets.

use crate::common;

use common::redis::{Instance, RedisServer};
use common::*;
use livedash::protocol::{ClientMessage, Position, ServerMessage};
use livedash::server::{settings::Secret, Running};
use std::{collections::BTreeMap, time::Duration};

fn redis_settings(redis: &RedisServer) -> livedash::server::settings::Settings {
    let mut settings = quiet_settings();
    settings.redis = Some(Secret::from(redis.url().as_str()));
    settings
}

async fn instance(redis: &RedisServer) -> Running {
    start(redis_settings(redis)).await
}

async fn ingest_at(addr: std::net::SocketAddr, dashboard: &str, value: f64) -> u16 {
    let body = format!(r#"{{"dashboard":"{dashboard}","metrics":{{"x":{value}}}}}"#);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    response.map_or(0, |response| response.status().as_u16())
}

async fn connect_to(addr: std::net::SocketAddr) -> Socket {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("websocket connects").0
}

/// Reads updates until `seq` is reached: (seq, x) of each, in arrival order. Panics on a
/// snapshot unless `snapshots` allows them.
async fn updates_until(socket: &mut Socket, seq: u64) -> Vec<(u64, f64)> {
    let mut seen = Vec::new();
    while seen.last().is_none_or(|(last, _)| *last < seq) {
        match next_message(socket).await {
            ServerMessage::Update(update) => seen.push((update.seq, update.metrics["x"])),
            other => panic!("expected updates up to {seq}, got {other:?} after {seen:?}"),
        }
    }
    seen
}

#[tokio::test]
async fn a_subscriber_on_one_instance_gets_every_update_ingested_through_another_once_in_order() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    push(&b, "orders", 0.0).await;
    let mut socket = connect(&a).await;
    send(&mut socket, &subscribe("orders", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!((snapshot.seq, snapshot.metrics["x"]), (1, 0.0), "A knows what B took");
    for i in 1..=50 {
        push(&b, "orders", f64::from(i)).await;
    }
    let seen = updates_until(&mut socket, 51).await;
    assert_eq!(seen, (2..=51).map(|seq| (seq, (seq - 1) as f64)).collect::<Vec<_>>());
    expect_silence(&mut socket, Duration::from_millis(300)).await;
    // Both instances serve the same epoch and seq.
    let (on_a, on_b) = (snapshot_of(&a, "orders").await, snapshot_of(&b, "orders").await);
    assert_eq!((&on_a["epoch"], &on_a["seq"]), (&on_b["epoch"], &on_b["seq"]));
}

async fn snapshot_of(running: &Running, dashboard: &str) -> serde_json::Value {
    snapshot(running, dashboard).await
}

#[tokio::test]
async fn concurrent_ingest_through_two_instances_makes_one_sequence_every_subscriber_sees_alike() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    push(&a, "shared", -1.0).await;
    let mut on_a = connect(&a).await;
    let mut on_b = connect(&b).await;
    for socket in [&mut on_a, &mut on_b] {
        send(socket, &subscribe("shared", None)).await;
        assert_eq!(expect_snapshot(socket).await.seq, 1);
    }
    let writers = [(a.addr, 0.0), (b.addr, 1000.0)].map(|(addr, base)| {
        tokio::spawn(async move {
            for i in 0..100 {
                assert_eq!(ingest_at(addr, "shared", base + f64::from(i)).await, 202);
            }
        })
    });
    for writer in writers {
        writer.await.unwrap();
    }
    let (seen_a, seen_b) = (updates_until(&mut on_a, 201).await, updates_until(&mut on_b, 201).await);
    assert_eq!(seen_a.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), (2..=201).collect::<Vec<_>>());
    assert_eq!(seen_a, seen_b, "one order for everyone");
    let mut values: Vec<f64> = seen_a.iter().map(|(_, x)| *x).collect();
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..100).map(f64::from).chain((0..100).map(|i| 1000.0 + f64::from(i))).collect();
    assert_eq!(values, expected, "every update once");
}

#[tokio::test]
async fn a_killed_pubsub_connection_leaves_no_gap() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    push(&b, "d", 0.0).await;
    let mut socket = connect(&a).await;
    send(&mut socket, &subscribe("d", None)).await;
    expect_snapshot(&mut socket).await;
    let writer = tokio::spawn(async move {
        for i in 1..=150 {
            push(&b, "d", f64::from(i)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        b
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut admin = redis.connection().await;
    let killed: u64 = ::redis::cmd("CLIENT").arg(&["KILL", "TYPE", "pubsub"]).query_async(&mut admin).await.unwrap();
    assert!(killed >= 2, "both instances' pub/sub links cut ({killed})");
    let _b = writer.await.unwrap();
    let seen = updates_until(&mut socket, 151).await;
    assert_eq!(seen, (2..=151).map(|seq| (seq, (seq - 1) as f64)).collect::<Vec<_>>(), "repaired from the log");
}

#[tokio::test]
async fn a_client_of_a_killed_instance_resumes_on_another_with_exactly_what_it_missed() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let mut a = Instance::start(&redis.url(), &[]);
    let b = Instance::start(&redis.url(), &[]);
    assert_eq!(ingest_at(b.addr, "d", 0.0).await, 202);
    let mut socket = connect_to(a.addr).await;
    send(&mut socket, &subscribe("d", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    let b_addr = b.addr;
    let writer = tokio::spawn(async move {
        for i in 1..=200 {
            assert_eq!(ingest_at(b_addr, "d", f64::from(i)).await, 202);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut seen = updates_until(&mut socket, 20).await;
    a.kill_9();
    let held = seen.last().unwrap().0;
    let mut resumed = connect_to(b.addr).await;
    let since = Position { epoch: snapshot.epoch.clone(), seq: held };
    send(&mut resumed, &subscribe("d", Some(since))).await;
    writer.await.unwrap();
    seen.extend(updates_until(&mut resumed, 201).await);
    assert_eq!(
        seen,
        (2..=201).map(|seq| (seq, (seq - 1) as f64)).collect::<Vec<_>>(),
        "no seq missing, none twice, no snapshot"
    );
}

#[tokio::test]
async fn redis_down_refuses_ingest_keeps_connections_and_recovers_and_a_restart_is_a_new_epoch() {
    let folder = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(folder.path());
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    push(&b, "d", 1.0).await;
    let mut socket = connect(&a).await;
    send(&mut socket, &subscribe("d", None)).await;
    let before = expect_snapshot(&mut socket).await;

    // Down (not answering): ingest is refused, never given an invented seq.
    redis.pause(true);
    let response = reqwest::Client::new()
        .post(http_url(&b, "/api/v1/ingest"))
        .body(r#"{"dashboard":"d","metrics":{"x":2}}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "unavailable", "{answer}");
    // The open connection stays, with its last data.
    expect_silence(&mut socket, Duration::from_millis(500)).await;
    assert_eq!(snapshot(&a, "d").await["metrics"]["x"], 1.0);

    // Back: the stream continues where it was.
    redis.pause(false);
    push(&b, "d", 3.0).await;
    let update = expect_update(&mut socket).await;
    assert_eq!((update.seq, update.metrics["x"]), (2, 3.0));

    // Restarted with nothing: a new epoch, seqs afresh, old positions get a snapshot.
    redis.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = ingest_at(b.addr, "d", 4.0).await;
        if status == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202, "ingest works again once Redis is back");
    let mut fresh = connect(&a).await;
    let since = Position { epoch: before.epoch.clone(), seq: 2 };
    let mut snapshot = None;
    for _ in 0..50 {
        send(&mut fresh, &subscribe("d", Some(since.clone()))).await;
        let got = expect_snapshot(&mut fresh).await;
        if got.epoch != before.epoch {
            snapshot = Some(got);
            break;
        }
        send(&mut fresh, &ClientMessage::Unsubscribe { dashboard: "d".into() }).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snapshot = snapshot.expect("a new epoch reaches instance A");
    assert_eq!((snapshot.seq, snapshot.metrics["x"]), (1, 4.0), "seq starts afresh");
    // The connection open all along goes on in the new epoch, from a snapshot.
    let on_the_open_connection = loop {
        let snapshot = expect_snapshot(&mut socket).await;
        if snapshot.seq >= 1 && snapshot.epoch != before.epoch {
            break snapshot;
        }
    };
    assert_eq!((on_the_open_connection.epoch, on_the_open_connection.metrics["x"]), (snapshot.epoch, 4.0));
}

#[tokio::test]
async fn a_client_away_longer_than_the_log_gets_a_snapshot_equal_to_what_redis_holds() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let mut settings = redis_settings(&redis);
    settings.replay_capacity = 8;
    let a = start(settings.clone()).await;
    let b = start(settings).await;
    for i in 0..3 {
        push_metric(&b, "d", "y", f64::from(i)).await;
    }
    let epoch = snapshot(&a, "d").await["epoch"].as_str().unwrap().to_owned();
    for i in 0..30 {
        push(&b, "d", f64::from(i) * 1.5).await;
    }
    // A late point (an agent flushing its buffer) of x, and of a metric not seen before.
    let (status, _) = ingest(&a, r#"{"dashboard":"d","ts":1000,"metrics":{"x":-5,"z":7}}"#).await;
    assert_eq!(status, 202);
    let mut socket = connect(&a).await;
    send(&mut socket, &subscribe("d", Some(Position { epoch: epoch.clone(), seq: 2 }))).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!((snapshot.epoch.as_str(), snapshot.seq), (epoch.as_str(), 34));
    let mut admin = redis.connection().await;
    let latest: BTreeMap<String, String> =
        ::redis::cmd("HGETALL").arg("livedash:{d}:latest").query_async(&mut admin).await.unwrap();
    let in_redis: BTreeMap<String, f64> =
        latest.iter().map(|(name, point)| (name.clone(), point.split_once(' ').unwrap().1.parse().unwrap())).collect();
    let shown: BTreeMap<String, f64> = snapshot.metrics.into_iter().collect();
    assert_eq!(shown, in_redis);
    assert_eq!(
        in_redis,
        BTreeMap::from([("x".to_owned(), 43.5), ("y".to_owned(), 2.0), ("z".to_owned(), 7.0)]),
        "the late x did not replace the newer one; the late z is the only z"
    );
    let log_length: u64 = ::redis::cmd("XLEN").arg("livedash:{d}:log").query_async(&mut admin).await.unwrap();
    assert_eq!(log_length, 8, "the log is bounded by --replay-capacity");
}

#[tokio::test]
async fn the_simulator_runs_on_one_instance_at_a_time_and_each_keeps_its_own_host_metrics() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    // Ticks of 50 ms; a killed holder's source moves within a second.
    let sources = ["--simulator", "true", "--host-metrics", "true", "--tick-ms", "50", "--source-lease-ms", "1000"];
    let mut a = Instance::start(&redis.url(), &[&sources[..], &["--instance-name", "a"]].concat());
    let b = Instance::start(&redis.url(), &[&sources[..], &["--instance-name", "b"]].concat());
    let seq_at = |addr| async move {
        let (_, snapshot) = get_json(format!("http://{addr}/api/v1/dashboards/main/snapshot")).await;
        snapshot["seq"].as_u64().unwrap_or(0)
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = seq_at(b.addr).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ticks = seq_at(b.addr).await - start;
    // One simulator ticks 40 times in 2 s (fewer on a busy machine); two would tick 80.
    assert!((10..=45).contains(&ticks), "{ticks} updates of main in 2 s");

    let (_, list) = get_json(format!("http://{}/api/v1/dashboards", b.addr)).await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"host-a") && ids.contains(&"host-b"), "{ids:?}");
    assert!(!ids.contains(&"host"), "no dashboard gets two machines' metrics: {ids:?}");

    // The holder killed: the other instance takes the simulator over within its lease.
    let mut admin = redis.connection().await;
    let holder: String =
        ::redis::cmd("GET").arg("livedash:lease:{main}:source:simulator").query_async(&mut admin).await.unwrap();
    let survivor = if holder.starts_with(&a.pid().to_string()) {
        a.kill_9();
        b.addr
    } else {
        drop(b);
        a.addr
    };
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = seq_at(survivor).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(seq_at(survivor).await > before + 5, "the simulator goes on after its instance died");
}

/// Points of `v` on dashboard `h` in the hour after `base`, as `instance`'s history API counts.
async fn history_count(running: &Running, base: i64) -> i64 {
    let url = http_url(
        running,
        &format!("/api/v1/dashboards/h/history?metric=v&from={base}&to={}&step=1h", base + 3_599_999),
    );
    let (status, answer) = get_json(url).await;
    assert_eq!(status, 200, "{answer}");
    answer["buckets"].as_array().unwrap().iter().map(|bucket| bucket["count"].as_i64().unwrap()).sum()
}

async fn ingest_points(running: &Running, base: i64, range: std::ops::Range<i64>) {
    let items: Vec<String> =
        range.map(|i| format!(r#"{{"dashboard":"h","ts":{},"metrics":{{"v":{i}}}}}"#, base + i * 1_000)).collect();
    for chunk in items.chunks(10) {
        let (status, answer) = ingest(running, &format!("[{}]", chunk.join(","))).await;
        assert_eq!(status, 202, "{answer}");
    }
}

#[tokio::test]
async fn every_instance_answers_history_completely_and_one_that_was_down_catches_up_from_the_log() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let persisted = |name: &str| {
        let mut settings = persisted_settings(&folder.path().join(name));
        settings.redis = Some(Secret::from(redis.url().as_str()));
        settings
    };
    let base: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    let a = start(persisted("a")).await;
    let b = start(persisted("b")).await;
    ingest_points(&b, base, 0..40).await;
    let deadline = std::time::Instant::now() + PROMPTLY;
    while history_count(&a, base).await < 40 {
        assert!(std::time::Instant::now() < deadline, "A's history has what went through B");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(history_count(&b, base).await, 40);

    // A stops; 30 more points go through B; A comes back and reads them from the log.
    a.shutdown().await;
    ingest_points(&b, base, 40..70).await;
    let a = start(persisted("a")).await;
    let deadline = std::time::Instant::now() + PROMPTLY;
    while history_count(&a, base).await < 70 {
        assert!(std::time::Instant::now() < deadline, "A caught up from its cursor: {}", history_count(&a, base).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(history_count(&a, base).await, 70, "nothing twice");
    let (on_a, on_b) = (snapshot(&a, "h").await, snapshot(&b, "h").await);
    assert_eq!((&on_a["epoch"], &on_a["seq"]), (&on_b["epoch"], &on_b["seq"]));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn long_polling_and_sse_resume_on_any_instance_and_redis_by_tcp_is_the_same_deployment() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let a = instance(&redis).await;
    // B reaches the same Redis over TCP.
    let mut over_tcp = quiet_settings();
    over_tcp.redis = Some(Secret::from(redis.tcp_url().as_str()));
    let b = start(over_tcp).await;
    for i in 0..5 {
        push(&a, "d", f64::from(i)).await;
    }
    let (_, first) = get_json(http_url(&a, "/api/v1/poll/d")).await;
    let epoch = first["messages"][0]["epoch"].as_str().unwrap().to_owned();
    assert_eq!(first["messages"][0]["seq"], 5);
    for i in 5..8 {
        push(&a, "d", f64::from(i)).await;
    }
    // The next poll goes to the other instance, from the position the first one gave.
    let (_, next) = get_json(http_url(&b, &format!("/api/v1/poll/d?since={epoch}:5&timeout=0"))).await;
    let seqs: Vec<u64> = next["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![6, 7, 8], "{next}");
    assert!(next["messages"].as_array().unwrap().iter().all(|m| m["type"] == "update"));

    // SSE resumed on A with the Last-Event-ID B's stream would have given.
    let response = reqwest::Client::new()
        .get(http_url(&a, "/api/v1/stream/d"))
        .header("last-event-id", format!("{epoch}:6"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while !text.contains(&format!("id: {epoch}:8")) {
        let chunk =
            tokio::time::timeout(PROMPTLY, futures::StreamExt::next(&mut body)).await.unwrap().unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with(&format!("event: update\nid: {epoch}:7\n")), "{text}");
    assert!(!text.contains("event: snapshot"), "{text}");
}

/// A kind a producer states (an OTLP monotonic sum named without `_total`) reaches every
/// instance: in the update the other instance's subscribers get, and in its definitions.
#[tokio::test]
async fn a_stated_kind_reaches_the_other_instances_subscribers_and_definitions() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let export = |value: f64| {
        serde_json::json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "jobs"}}]},
            "scopeMetrics": [{"metrics": [{"name": "jobs_done", "sum": {
                "dataPoints": [{"asDouble": value, "timeUnixNano": "0"}],
                "aggregationTemporality": 2, "isMonotonic": true
            }}]}]
        }]})
        .to_string()
    };
    let post = |value: f64| {
        reqwest::Client::new()
            .post(format!("http://{}/v1/metrics", b.addr))
            .header("content-type", "application/json")
            .body(export(value))
            .send()
    };
    assert_eq!(post(1.0).await.unwrap().status().as_u16(), 200);
    let mut socket = connect(&a).await;
    send(&mut socket, &subscribe("jobs", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    let definition = snapshot.definitions.iter().find(|d| d.name == "jobs_done").expect("defined on A");
    assert_eq!(definition.kind, livedash::protocol::SeriesKind::Counter);
    assert_eq!(post(4.0).await.unwrap().status().as_u16(), 200);
    let update = expect_update(&mut socket).await;
    assert_eq!(update.kinds.get("jobs_done"), Some(&livedash::protocol::SeriesKind::Counter));
}

/// A target configured on every instance is scraped by one of them at a time (its lease), and
/// each instance's target list says which.
#[tokio::test]
async fn one_instance_scrapes_a_target_that_several_are_configured_with() {
    let folder = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(folder.path());
    // The target: another livedash's own /metrics (the Prometheus text format, from loopback).
    let target = start(quiet_settings()).await;
    let config = format!("[[scrape]]\nurl = \"http://{}/metrics\"\ndashboard = \"self\"\n", target.addr);
    let file = livedash::server::settings::file::parse(&config, "livedash.toml").unwrap();
    let configured = || {
        let mut settings = redis_settings(&redis);
        settings.scrape = file.scrape.clone();
        start(settings)
    };
    let (a, b) = (configured().await, configured().await);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let scraped = |targets: serde_json::Value| targets[0]["lastScrape"].is_number();
    let (on_a, on_b) =
        (get_json(http_url(&a, "/api/v1/targets")).await.1, get_json(http_url(&b, "/api/v1/targets")).await.1);
    assert_eq!(
        [scraped(on_a.clone()), scraped(on_b.clone())].iter().filter(|here| **here).count(),
        1,
        "one scraper: {on_a} {on_b}"
    );
    // About one scrape a second went into the dashboard, not two.
    let seq = snapshot(&a, "self").await["seq"].as_u64().unwrap();
    assert!((2..=5).contains(&seq), "{seq} updates in 3.5 s");
    assert_eq!(snapshot(&b, "self").await["metrics"][format!(r#"up{{instance="{}"}}"#, target.addr)], 1.0);
}
