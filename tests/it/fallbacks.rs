//! The HTTP fallbacks over real sockets: Server-Sent Events with `Last-Event-ID` resume, and
//! long-polling with replay and timeout. Same rules as the WebSocket.

use crate::common;

use common::*;
use futures::StreamExt;
use livedash::protocol::{PollResponse, ServerMessage};
use std::time::{Duration, Instant};

/// One parsed SSE event.
#[derive(Debug)]
struct SseEvent {
    event: String,
    id: String,
    message: ServerMessage,
}

/// Reads SSE events from a streaming response.
struct SseReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    async fn open(running: &livedash::server::Running, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(http_url(running, path));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader { body: Box::pin(response.bytes_stream()), buffer: String::new() }
    }

    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .filter_map(|line| line.strip_prefix(name))
                        .map(|value| value.trim_start().to_owned())
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                let data = field("data:");
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return SseEvent {
                    event: field("event:"),
                    id: field("id:"),
                    message: serde_json::from_str(&data).unwrap(),
                };
            }
            let chunk = tokio::time::timeout(PROMPTLY, self.body.next())
                .await
                .expect("an event in time")
                .expect("stream open")
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn sse_streams_a_snapshot_then_updates_and_resumes_with_last_event_id() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;
    let mut reader = SseReader::open(&running, "/api/v1/stream/shop", None).await;
    let first = reader.next().await;
    assert_eq!(first.event, "snapshot");
    let ServerMessage::Snapshot(snapshot) = first.message else { panic!() };
    assert_eq!(first.id, format!("{}:1", snapshot.epoch));
    push(&running, "shop", 2.0).await;
    let second = reader.next().await;
    assert_eq!((second.event.as_str(), second.id.clone()), ("update", format!("{}:2", snapshot.epoch)));
    assert_eq!(metric(&running, "livedash_subscriptions").await, 1.0, "an open stream is a subscription");
    drop(reader);

    for value in 3..=5 {
        push(&running, "shop", f64::from(value)).await;
    }
    // What a browser's EventSource sends when it reconnects.
    let mut reader = SseReader::open(&running, "/api/v1/stream/shop", Some(&second.id)).await;
    for seq in 3..=5 {
        let event = reader.next().await;
        assert_eq!(event.event, "update");
        let ServerMessage::Update(update) = event.message else { panic!() };
        assert_eq!((update.seq, update.metrics["x"]), (seq, seq as f64));
    }
    push(&running, "shop", 6.0).await;
    assert_eq!(reader.next().await.id, format!("{}:6", snapshot.epoch));

    // `?since=` works too; a foreign epoch gets a snapshot.
    let mut reader = SseReader::open(&running, "/api/v1/stream/shop?since=other:3", None).await;
    assert_eq!(reader.next().await.event, "snapshot");
    running.shutdown().await;
}

#[tokio::test]
async fn sse_refuses_unknown_dashboards_and_bad_positions() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;
    let unknown = reqwest::get(http_url(&running, "/api/v1/stream/nope")).await.unwrap();
    assert_eq!(unknown.status(), 404);
    let answer: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(answer["code"], "unknown_dashboard");
    let bad = reqwest::get(http_url(&running, "/api/v1/stream/shop?since=garbage")).await.unwrap();
    assert_eq!(bad.status(), 400);
    running.shutdown().await;
}

async fn poll(running: &livedash::server::Running, query: &str) -> Vec<ServerMessage> {
    let answer: PollResponse =
        reqwest::get(http_url(running, &format!("/api/v1/poll/shop{query}"))).await.unwrap().json().await.unwrap();
    answer.messages
}

#[tokio::test]
async fn long_poll_answers_snapshot_replay_or_waits_then_times_out() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;

    let messages = poll(&running, "").await;
    let [ServerMessage::Snapshot(snapshot)] = messages.as_slice() else { panic!("{messages:?}") };
    let epoch = snapshot.epoch.clone();

    for value in 2..=4 {
        push(&running, "shop", f64::from(value)).await;
    }
    let replay = poll(&running, &format!("?since={epoch}:1")).await;
    let seqs: Vec<u64> = replay
        .iter()
        .map(|m| match m {
            ServerMessage::Update(update) => update.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [2, 3, 4], "missed updates at once, in order");

    // Nothing newer: it waits, then answers an empty list.
    let started = Instant::now();
    let empty = poll(&running, &format!("?since={epoch}:4&timeout=1")).await;
    assert!(empty.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());

    // Something published while it waits is answered right away.
    let waiting = tokio::spawn({
        let url = http_url(&running, &format!("/api/v1/poll/shop?since={epoch}:4&timeout=10"));
        async move { reqwest::get(url).await.unwrap().json::<serde_json::Value>().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    push(&running, "shop", 5.0).await;
    let answer = tokio::time::timeout(PROMPTLY, waiting).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(answer["messages"][0]["seq"], 5);

    // A position the server cannot serve gets a snapshot.
    let stale = poll(&running, "?since=elsewhere:2").await;
    assert!(matches!(stale.as_slice(), [ServerMessage::Snapshot(s)] if s.seq == 5));
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_streams_and_waiting_polls() {
    let running = start(quiet_settings()).await;
    push(&running, "shop", 1.0).await;
    let mut reader = SseReader::open(&running, "/api/v1/stream/shop", None).await;
    reader.next().await;
    let epoch = reqwest::get(http_url(&running, "/api/v1/dashboards/shop/snapshot"))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting =
        tokio::spawn(reqwest::get(http_url(&running, &format!("/api/v1/poll/shop?since={epoch}:1&timeout=30"))));
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(PROMPTLY, running.shutdown()).await.expect("shutdown is prompt");
    let answer = tokio::time::timeout(PROMPTLY, waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(answer.json::<serde_json::Value>().await.unwrap()["messages"], serde_json::json!([]));
    let ended = tokio::time::timeout(PROMPTLY, reader.body.next()).await.expect("the stream ends");
    assert!(!matches!(ended, Some(Ok(_))), "no more events after shutdown: {ended:?}");
}
