//! Abuse and dead peers over real sockets: oversized frames (1009), floods (1008), clients
//! that stop answering pings, and the connection cap.

use crate::common;

use common::*;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let mut settings = quiet_settings();
    settings.stream.max_frame_bytes = 1024;
    let running = start(settings).await;
    let mut socket = connect(&running).await;
    let huge = format!(r#"{{"type":"subscribe","dashboard":"{}"}}"#, "a".repeat(4096));
    socket.send(Message::text(huge)).await.unwrap();
    assert_eq!(close_of(&mut socket).await.0, CloseCode::Size);
    running.shutdown().await;
}

#[tokio::test]
async fn a_flood_closes_with_1008_but_normal_traffic_passes() {
    let mut settings = quiet_settings();
    settings.stream.max_messages_per_sec = 10.0;
    settings.stream.message_burst = 10.0;
    let running = start(settings).await;

    let mut polite = connect(&running).await;
    for id in 0..5 {
        send(&mut polite, &livedash::protocol::ClientMessage::Ping { id }).await;
    }
    for id in 0..5 {
        assert_eq!(next_message(&mut polite).await, livedash::protocol::ServerMessage::Pong { id });
    }

    let mut flooder = connect(&running).await;
    for id in 0..100 {
        if flooder.send(Message::text(format!(r#"{{"type":"ping","id":{id}}}"#))).await.is_err() {
            break;
        }
    }
    let (code, reason) = close_of(&mut flooder).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("rate"), "{reason}");
    running.shutdown().await;
}

/// A WebSocket peer that never answers anything; it returns the server's frames as
/// (opcode, payload) once the server hangs up.
async fn silent_peer(addr: std::net::SocketAddr) -> Vec<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut stream = raw_websocket(addr).await;
    let mut bytes = Vec::new();
    tokio::time::timeout(PROMPTLY, stream.read_to_end(&mut bytes)).await.expect("hung up in time").unwrap();
    // Server frames are unmasked and, here, short (payload length under 126).
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 2 {
        let (opcode, length) = (rest[0] & 0x0f, (rest[1] & 0x7f) as usize);
        assert!(length < 126 && rest.len() >= 2 + length);
        frames.push((opcode, rest[2..2 + length].to_vec()));
        rest = &rest[2 + length..];
    }
    frames
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    let mut settings = quiet_settings();
    settings.stream.heartbeat = Duration::from_millis(100);
    let running = start(settings).await;
    let mut answering = connect(&running).await;
    let silent = tokio::spawn(silent_peer(running.addr));
    // `answering` is read, so it answers pings (tungstenite replies while reading).
    let until = tokio::time::Instant::now() + Duration::from_millis(700);
    let mut pings = 0;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, answering.next()).await {
        match message {
            Message::Ping(_) => pings += 1,
            Message::Close(close) => panic!("an answering client was closed: {close:?}"),
            _ => {}
        }
    }
    assert!(pings >= 3, "the server pings on its interval ({pings})");

    let frames = silent.await.unwrap();
    assert!(frames.iter().any(|(opcode, _)| *opcode == 0x9), "it was pinged: {frames:?}");
    let (_, close) = frames.iter().find(|(opcode, _)| *opcode == 0x8).expect("a close frame");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1008);
    assert!(String::from_utf8_lossy(&close[2..]).contains("ping"));
    running.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_before_upgrade() {
    let mut settings = quiet_settings();
    settings.max_connections = 2;
    let running = start(settings).await;
    let first = connect(&running).await;
    let _second = connect(&running).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // A slot frees when a connection ends.
    drop(first);
    let mut retried = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await {
            retried = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(retried.is_some(), "the freed slot is reusable");
    running.shutdown().await;
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share() {
    let mut settings = quiet_settings();
    settings.max_connections_per_client = 2;
    let running = start(settings).await;
    push(&running, "shop", 1.0).await;
    let first = connect(&running).await;
    // An SSE stream counts as a connection too.
    let stream = reqwest::get(http_url(&running, "/api/v1/stream/shop")).await.unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    match tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected 503 before the upgrade, got {other:?}"),
    }
    let refused = reqwest::get(http_url(&running, "/api/v1/stream/shop")).await.unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.text().await.unwrap().contains("from this address"));
    // Short requests are not limited, and closing a stream frees its slot.
    assert_eq!(get_json(http_url(&running, "/api/v1/dashboards")).await.0, 200);
    drop((first, stream));
    let mut reopened = false;
    for _ in 0..50 {
        if tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await.is_ok() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reopened, "the freed slots are reusable");
    running.shutdown().await;
}

#[tokio::test]
async fn waiting_polls_and_sse_streams_take_the_same_places_as_websockets() {
    let mut settings = quiet_settings();
    settings.max_connections = 2;
    let running = start(settings).await;
    push(&running, "shop", 1.0).await;
    let (_, snapshot) = get_json(http_url(&running, "/api/v1/poll/shop")).await;
    let position = format!("{}:{}", snapshot["messages"][0]["epoch"].as_str().unwrap(), snapshot["messages"][0]["seq"]);
    // Two polls waiting for news hold both places of the server.
    let waiting = |_| reqwest::get(http_url(&running, &format!("/api/v1/poll/shop?since={position}&timeout=10")));
    let polls: Vec<_> = (0..2).map(waiting).map(tokio::spawn).collect();
    let refused = async || {
        let deadline = tokio::time::Instant::now() + PROMPTLY;
        loop {
            let status = reqwest::get(http_url(&running, "/api/v1/stream/shop")).await.unwrap().status().as_u16();
            if status == 503 || tokio::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert_eq!(refused().await, 503, "an SSE stream past the cap");
    let poll =
        reqwest::get(http_url(&running, &format!("/api/v1/poll/shop?since={position}&timeout=0"))).await.unwrap();
    assert_eq!(poll.status().as_u16(), 503, "a third poll past the cap");
    match tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected 503 before the upgrade, got {other:?}"),
    }
    // News answers the polls, and their places come back.
    push(&running, "shop", 2.0).await;
    for poll in polls {
        assert_eq!(poll.await.unwrap().unwrap().status().as_u16(), 200);
    }
    assert_eq!(get_json(http_url(&running, &format!("/api/v1/poll/shop?since={position}&timeout=0"))).await.0, 200);
    running.shutdown().await;
}

/// A WebSocket peer that subscribes and then never reads again.
async fn unread_peer(addr: std::net::SocketAddr, subscribe: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = raw_websocket(addr).await;
    // One masked text frame (client frames must be masked; a zero mask keeps it readable).
    let payload = subscribe.as_bytes();
    assert!(payload.len() < 126);
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    stream.write_all(&frame).await.unwrap();
    stream
}

#[tokio::test]
async fn a_client_whose_socket_takes_no_data_is_dropped_and_counted() {
    let mut settings = quiet_settings();
    settings.stream.write_timeout = Duration::from_millis(300);
    let running = start(settings).await;
    let metrics: String = (0..40).map(|i| format!(r#""metric{i}":{i}"#)).collect::<Vec<_>>().join(",");
    let body = format!(r#"{{"dashboard":"wide","metrics":{{{metrics}}}}}"#);
    assert_eq!(ingest(&running, &body).await.0, 202);
    let _stuck = unread_peer(running.addr, r#"{"type":"subscribe","dashboard":"wide"}"#).await;

    // Push until the kernel buffers between server and peer are full and a write stalls.
    let batch = format!("[{}]", vec![body.as_str(); 200].join(","));
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    while metric(&running, "livedash_dropped_clients_total").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the stuck client was never dropped");
        assert_eq!(ingest(&running, &batch).await.0, 202);
    }
    // Its connection is gone, not just counted.
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    while metric(&running, "livedash_connections").await > 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "the connection stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
}
