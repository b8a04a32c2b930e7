//! `/ws` over real sockets: subscribe, live updates, resume with `since`, errors that keep the
//! connection usable, and shutdown.

use crate::common;

use common::*;
use livedash::protocol::{ClientMessage, ErrorCode, Position, ServerMessage};
use std::time::Duration;

#[tokio::test]
async fn subscribe_gets_a_snapshot_then_consecutive_updates() {
    let mut settings = quiet_settings();
    settings.simulator = true;
    let running = start(settings).await;
    let mut socket = connect(&running).await;
    // The simulator declares `main` at start; give it its first tick.
    tokio::time::sleep(Duration::from_millis(120)).await;
    send(&mut socket, &subscribe("main", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!(snapshot.dashboard, "main");
    let names: Vec<_> = snapshot.definitions.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["activeUsers", "requestsPerSec", "errorRate", "revenue", "orders"]);
    assert!(snapshot.metrics.contains_key("activeUsers"));
    assert_eq!(snapshot.history.ts.len(), snapshot.history.series["orders"].len());
    let mut seq = snapshot.seq;
    for _ in 0..5 {
        let update = expect_update(&mut socket).await;
        assert_eq!(update.seq, seq + 1, "updates follow the snapshot without a gap");
        assert_eq!(update.metrics.len(), 5);
        seq = update.seq;
    }
    running.shutdown().await;
}

#[tokio::test]
async fn resume_with_since_replays_exactly_the_missed_updates_then_live() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    push(&running, "shop", 2.0).await;
    let held = expect_update(&mut socket).await;
    drop(socket);

    // Updates pass while the client is away.
    for value in 3..=7 {
        push(&running, "shop", f64::from(value)).await;
    }
    let mut socket = connect(&running).await;
    let since = Position { epoch: snapshot.epoch.clone(), seq: held.seq };
    send(&mut socket, &subscribe("shop", Some(since))).await;
    let mut seqs = Vec::new();
    let mut values = Vec::new();
    for _ in 3..=7 {
        let update = expect_update(&mut socket).await;
        seqs.push(update.seq);
        values.push(update.metrics["x"]);
    }
    assert_eq!(seqs, (held.seq + 1..=held.seq + 5).collect::<Vec<_>>());
    assert_eq!(values, [3.0, 4.0, 5.0, 6.0, 7.0]);
    // Nothing else was replayed: the next message is the next live update.
    expect_silence(&mut socket, Duration::from_millis(200)).await;
    push(&running, "shop", 8.0).await;
    let live = expect_update(&mut socket).await;
    assert_eq!((live.seq, live.metrics["x"]), (held.seq + 6, 8.0));
    running.shutdown().await;
}

#[tokio::test]
async fn stale_or_foreign_positions_get_a_snapshot() {
    let mut settings = quiet_settings();
    settings.replay_capacity = 4;
    let running = start(settings).await;
    for value in 0..10 {
        push(&running, "shop", f64::from(value)).await;
    }
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", Some(Position { epoch: "gone".into(), seq: 9 }))).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!((snapshot.seq, snapshot.metrics["x"]), (10, 9.0));

    // Same epoch but evicted from the replay ring (it holds seqs 7..=10).
    let evicted = Position { epoch: snapshot.epoch.clone(), seq: 2 };
    send(&mut socket, &subscribe("shop", Some(evicted))).await;
    assert_eq!(expect_snapshot(&mut socket).await.seq, 10);
    running.shutdown().await;
}

#[tokio::test]
async fn bad_messages_get_errors_and_the_connection_keeps_working() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;
    let mut socket = connect(&running).await;

    send_text(&mut socket, "{this is not json").await;
    expect_error(&mut socket, ErrorCode::BadRequest).await;
    send_text(&mut socket, r#"{"type":"dance","dashboard":"shop"}"#).await;
    let message = expect_error(&mut socket, ErrorCode::BadRequest).await;
    assert!(message.contains("dance"), "{message}");
    send_text(&mut socket, r#"{"type":"subscribe","dashboard":"shop","since":"no-seq"}"#).await;
    expect_error(&mut socket, ErrorCode::BadRequest).await;
    send(&mut socket, &subscribe("nope", None)).await;
    match next_message(&mut socket).await {
        ServerMessage::Error(error) => {
            assert_eq!(error.code, ErrorCode::UnknownDashboard);
            assert_eq!(error.dashboard.as_deref(), Some("nope"));
        }
        other => panic!("expected unknown_dashboard, got {other:?}"),
    }

    // Still usable: ping, subscribe, live update.
    send(&mut socket, &ClientMessage::Ping { id: 7 }).await;
    assert_eq!(next_message(&mut socket).await, ServerMessage::Pong { id: 7 });
    send(&mut socket, &subscribe("shop", None)).await;
    expect_snapshot(&mut socket).await;
    push(&running, "shop", 2.0).await;
    assert_eq!(expect_update(&mut socket).await.metrics["x"], 2.0);
    running.shutdown().await;
}

#[tokio::test]
async fn one_connection_carries_several_dashboards_and_unsubscribe_stops_one() {
    let running = start(quiet_settings()).await;
    push(&running, "a", 1.0).await;
    push(&running, "b", 1.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("a", None)).await;
    assert_eq!(expect_snapshot(&mut socket).await.dashboard, "a");
    send(&mut socket, &subscribe("b", None)).await;
    assert_eq!(expect_snapshot(&mut socket).await.dashboard, "b");
    push(&running, "a", 2.0).await;
    assert_eq!(expect_update(&mut socket).await.dashboard, "a");
    push(&running, "b", 2.0).await;
    assert_eq!(expect_update(&mut socket).await.dashboard, "b");

    send(&mut socket, &ClientMessage::Unsubscribe { dashboard: "a".into() }).await;
    // The unsubscribe is processed before the ping that follows it.
    send(&mut socket, &ClientMessage::Ping { id: 1 }).await;
    assert_eq!(next_message(&mut socket).await, ServerMessage::Pong { id: 1 });
    push(&running, "a", 3.0).await;
    push(&running, "b", 3.0).await;
    let update = expect_update(&mut socket).await;
    assert_eq!((update.dashboard.as_str(), update.metrics["x"]), ("b", 3.0));
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

    let running = start(quiet_settings()).await;
    push(&running, "a", 1.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("a", None)).await;
    expect_snapshot(&mut socket).await;
    let stopping = tokio::spawn(running.shutdown());
    let close = loop {
        match tokio::time::timeout(PROMPTLY, socket.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(close))) => break close,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.expect("a close frame with a code").code, CloseCode::Away);
    tokio::time::timeout(PROMPTLY, stopping).await.expect("shutdown is prompt").unwrap();
}

#[tokio::test]
async fn metrics_count_connections_subscriptions_messages_and_errors() {
    let running = start(quiet_settings()).await;
    push(&running, "a", 1.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("a", None)).await;
    expect_snapshot(&mut socket).await;
    push(&running, "a", 2.0).await;
    expect_update(&mut socket).await;
    send(&mut socket, &subscribe("nope", None)).await;
    expect_error(&mut socket, ErrorCode::UnknownDashboard).await;

    let expected = [
        "livedash_connections 1",
        "livedash_subscriptions 1",
        "livedash_messages_sent_total 3",
        "livedash_ingested_updates_total 2",
        r#"livedash_errors_total{endpoint="ws",code="unknown_dashboard"} 1"#,
    ];
    // A message counts as sent once its write returns, which can be a moment after the
    // client has read it.
    eventually("the metrics", async || {
        let response = reqwest::get(http_url(&running, "/metrics")).await.unwrap();
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
        let text = response.text().await.unwrap();
        let missing: Vec<&str> = expected.into_iter().filter(|line| !text.lines().any(|l| l == *line)).collect();
        (missing.is_empty(), (missing, text))
    })
    .await;
    running.shutdown().await;
}
