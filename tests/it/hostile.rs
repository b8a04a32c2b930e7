//! Hostile input over real sockets: each case gets a clear error (or, for abuse, a close code)
//! and the server goes on serving everyone else. Auth's hostile tokens are in `auth.rs`,
//! origins in `origins.rs`, oversized frames and floods of pings in `limits.rs`.

use crate::common;

use common::*;
use futures::StreamExt;
use livedash::protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// JSON nested `depth` arrays deep.
fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

/// Checks the server still answers a fresh client.
async fn still_serving(running: &livedash::server::Running) {
    push(running, "alive", 1.0).await;
    let mut socket = connect(running).await;
    send(&mut socket, &subscribe("alive", None)).await;
    expect_snapshot(&mut socket).await;
}

#[tokio::test]
async fn hostile_websocket_messages_get_errors_and_the_connection_stays() {
    let running = start(quiet_settings()).await;
    push(&running, "main", 1.0).await;
    let mut socket = connect(&running).await;
    let long_id = "a".repeat(10 * 1024);
    let hostile = [
        format!(r#"{{"type":"subscribe","dashboard":{}}}"#, nested(10_000)),
        r#"{"type":"ping","id":1e400}"#.to_owned(),
        r#"{"type":"ping","id":NaN}"#.to_owned(),
        r#"{"type":"subscribe","dashboard":"main","maxHz":-1}"#.to_owned(),
        // Intervals past what a Duration holds: refused, never a panic of the connection's task.
        r#"{"type":"subscribe","dashboard":"main","maxHz":1e-20}"#.to_owned(),
        r#"{"type":"subscribe","dashboard":"main","maxHz":5e-324}"#.to_owned(),
        r#"{"type":"subscribe","dashboard":"main","since":"nonsense"}"#.to_owned(),
        r#"{"type":"refresh","token":"anything"}"#.to_owned(),
        r#"{"type":"launch"}"#.to_owned(),
    ];
    for text in &hostile {
        send_text(&mut socket, text).await;
        expect_error(&mut socket, ErrorCode::BadRequest).await;
    }
    for dashboard in ["../etc/passwd", "a\u{0}b", long_id.as_str(), ""] {
        send(&mut socket, &subscribe(dashboard, None)).await;
        expect_error(&mut socket, ErrorCode::UnknownDashboard).await;
    }
    send(&mut socket, &subscribe("main", None)).await;
    assert_eq!(expect_snapshot(&mut socket).await.dashboard, "main", "the connection is still usable");
    running.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_ends_only_that_connection() {
    let running = start(quiet_settings()).await;
    let mut raw = raw_websocket(running.addr).await;
    // A masked text frame (FIN, opcode 1) whose payload is not UTF-8.
    let payload = [0xff, 0xfe, 0xfd];
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend(mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    raw.write_all(&frame).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PROMPTLY, raw.read_to_end(&mut rest)).await.expect("hung up in time").unwrap();
    still_serving(&running).await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_subscribes_closes_with_1008() {
    let running = start(quiet_settings()).await;
    push(&running, "main", 1.0).await;
    let mut socket = connect(&running).await;
    for _ in 0..200 {
        send(&mut socket, &subscribe("main", None)).await;
    }
    let code = loop {
        match tokio::time::timeout(PROMPTLY, socket.next()).await.expect("closed in time") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => break frame.code,
            Some(Ok(_)) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Policy);
    still_serving(&running).await;
    running.shutdown().await;
}

#[tokio::test]
async fn hostile_ingest_is_refused_whole_with_the_reason() {
    let running = start(quiet_settings()).await;
    let long_id = "a".repeat(10 * 1024);
    let cases = [
        (r#"{"dashboard":"x","metrics":{"a":1e400}}"#.to_owned(), "number out of range"),
        (r#"{"dashboard":"x","metrics":{"a":NaN}}"#.to_owned(), "invalid JSON"),
        (r#"{"dashboard":"x","metrics":{"a":Infinity}}"#.to_owned(), "invalid JSON"),
        (r#"{"dashboard":"x","metrics":{"a":"1"}}"#.to_owned(), "a"),
        (nested(10_000), "recursion limit"),
        (r#"{"dashboard":"../x","metrics":{"a":1}}"#.to_owned(), "dashboard"),
        (r#"{"dashboard":"a\u0000b","metrics":{"a":1}}"#.to_owned(), "dashboard"),
        (format!(r#"{{"dashboard":"{long_id}","metrics":{{"a":1}}}}"#), "dashboard"),
        (r#"{"dashboard":"x","metrics":{"../a":1}}"#.to_owned(), "../a"),
    ];
    for (body, reason) in &cases {
        let (status, answer) = ingest(&running, body).await;
        assert_eq!(status, 400, "{}: {answer}", &body[..body.len().min(80)]);
        assert_eq!(answer["code"], "bad_request");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(reason), "{message} should mention {reason}");
        assert!(message.len() < 1000, "errors stay short: {} bytes", message.len());
    }
    let (_, list) = get_json(http_url(&running, "/api/v1/dashboards")).await;
    assert_eq!(list, serde_json::json!([]), "nothing was created");
    running.shutdown().await;
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_after_inflating_no_more_than_the_limit() {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let mut settings = quiet_settings();
    settings.max_ingest_bytes = 1024 * 1024;
    let running = start(settings).await;
    // 64 MiB of zeros in 64 KB: refused once 1 MiB has been inflated.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
    for path in ["/api/v1/ingest", "/api/v2/write?bucket=x"] {
        let started = std::time::Instant::now();
        let response = reqwest::Client::new()
            .post(http_url(&running, path))
            .header("content-encoding", "gzip")
            .header("content-type", "application/json")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{path}: {:?}", started.elapsed());
    }
    still_serving(&running).await;
    running.shutdown().await;
}
