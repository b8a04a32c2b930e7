//! Throttled subscriptions (`maxHz`) and slow readers over real sockets: a subscriber never
//! sees a gap and always ends at the true state. (The pace of a throttled feed is checked on
//! `Feed` itself with paused time, `stream::feed` tests; here only what crosses the socket.)

use crate::common;

use common::*;
use futures::StreamExt;
use livedash::protocol::{ClientMessage, ServerMessage};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn max_hz_merges_updates_and_keeps_seq_contiguous() {
    let running = start(quiet_settings()).await;
    push(&running, "fast", 0.0).await;
    let mut socket = connect(&running).await;
    let subscribe = r#"{"type":"subscribe","dashboard":"fast","maxHz":4}"#;
    send_text(&mut socket, subscribe).await;
    let snapshot = expect_snapshot(&mut socket).await;
    let mut held = snapshot.seq;

    // 60 updates over ~1.5 s, each carrying its own counter in `x` and a second metric on odd ones.
    let publisher = {
        let url = http_url(&running, "/api/v1/ingest");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 1..=60 {
                let body = if i % 2 == 1 {
                    format!(r#"{{"dashboard":"fast","metrics":{{"x":{i},"odd":{i}}}}}"#)
                } else {
                    format!(r#"{{"dashboard":"fast","metrics":{{"x":{i}}}}}"#)
                };
                client.post(&url).body(body).send().await.unwrap();
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut received = Vec::new();
    while held < snapshot.seq + 60 {
        let update = expect_update(&mut socket).await;
        let first = update.from_seq.unwrap_or(update.seq);
        assert_eq!(first, held + 1, "merged ranges are contiguous");
        held = update.seq;
        received.push(update);
    }
    publisher.await.unwrap();
    assert!(received.len() < 30, "60 updates in about 1.5 s at maxHz 4 were merged: {} sent", received.len());
    let last = received.last().unwrap();
    assert_eq!(last.metrics["x"], 60.0, "latest value per metric wins");
    // `odd` last changed at 59: a merge that covered it still carries it.
    let last_odd = received.iter().rev().find_map(|u| u.metrics.get("odd")).unwrap();
    assert_eq!(*last_odd, 59.0);
    running.shutdown().await;
}

#[tokio::test]
async fn max_hz_must_be_positive() {
    let running = start(quiet_settings()).await;
    push(&running, "fast", 0.0).await;
    let mut socket = connect(&running).await;
    send_text(&mut socket, r#"{"type":"subscribe","dashboard":"fast","maxHz":0}"#).await;
    let message = expect_error(&mut socket, livedash::protocol::ErrorCode::BadRequest).await;
    assert!(message.contains("maxHz"), "{message}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_stalled_reader_is_coalesced_and_converges_to_the_truth() {
    let mut settings = quiet_settings();
    settings.live_buffer = 16;
    let running = start(settings).await;
    // Wide updates (about 2 KB each), so the backlog outgrows the kernel's socket buffers.
    let metrics: String = (0..120).map(|i| format!(r#""metric{i}":{i}"#)).collect::<Vec<_>>().join(",");
    let body = format!(r#"{{"dashboard":"wide","metrics":{{{metrics}}}}}"#);
    assert_eq!(ingest(&running, &body).await.0, 202);
    // A reader's receive buffer could otherwise grow to hold the whole backlog (32 MB here,
    // `net.ipv4.tcp_rmem`): the test then saw no snapshot.
    let mut stalled = connect_with_small_buffer(&running).await;
    send(&mut stalled, &ClientMessage::Subscribe { dashboard: "wide".into(), since: None, max_hz: None }).await;
    let first = expect_snapshot(&mut stalled).await;

    // The reader stops reading while 3,000 updates (about 6 MB) pass: more than the server's
    // send buffer holds at most here (4 MB, `net.ipv4.tcp_wmem`) beside the reader's 16 KB.
    let batch: String = (0..100).map(|_| body.clone()).collect::<Vec<_>>().join(",");
    for _ in 0..30 {
        assert_eq!(ingest(&running, &format!("[{batch}]")).await.0, 202);
    }
    let final_body = r#"{"dashboard":"wide","metrics":{"metric0":-1}}"#;
    assert_eq!(ingest(&running, final_body).await.0, 202);
    let truth = first.seq + 3001;
    // An ingest is answered before its update is published: wait until all of them are, so
    // the backlog is all there before the reader resumes (else it may keep up, and see none).
    tokio::time::timeout(PROMPTLY, async {
        while snapshot(&running, "wide").await["seq"].as_u64() < Some(truth) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every update published");

    // It resumes: frames arrive in order, seq never jumps without a snapshot, and it ends at
    // the true state having received far fewer than 3,001 updates.
    let mut held = first.seq;
    let mut updates = 0;
    let mut snapshots = 0u32;
    let mut x0 = 0.0;
    while held < truth {
        let frame = tokio::time::timeout(PROMPTLY, stalled.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(text) = frame else { continue };
        match serde_json::from_str::<ServerMessage>(&text).unwrap() {
            ServerMessage::Snapshot(snapshot) => {
                snapshots += 1;
                held = snapshot.seq;
                x0 = snapshot.metrics["metric0"];
            }
            ServerMessage::Update(update) => {
                assert_eq!(update.seq, held + 1, "no gap without a snapshot");
                held = update.seq;
                updates += 1;
                x0 = update.metrics["metric0"];
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(held, truth);
    assert_eq!(x0, -1.0, "the reader ends with the true latest value");
    assert!(snapshots >= 1, "the backlog was coalesced into a snapshot ({updates} updates came one by one)");
    assert!(updates < 3001, "{updates} updates: the backlog was not delivered whole");
    let resyncs = metric(&running, "livedash_resync_snapshots_total").await;
    assert_eq!(resyncs, f64::from(snapshots), "the coalescing is counted");
    running.shutdown().await;
}
