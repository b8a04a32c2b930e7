//! Abuse and dead peers over real sockets: oversized frames (1009), floods (1008), clients
//! that stop answering pings, and the connection cap.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

/// Reads until the server's close frame and returns its code and reason.
async fn close_of(socket: &mut Socket) -> (CloseCode, String) {
    loop {
        match tokio::time::timeout(PROMPTLY, socket.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let mut settings = quiet_settings();
    settings.max_frame_bytes = 1024;
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
    settings.max_messages_per_sec = 10.0;
    settings.message_burst = 10.0;
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

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    let mut settings = quiet_settings();
    settings.heartbeat = Duration::from_millis(100);
    let running = start(settings).await;
    let mut answering = connect(&running).await;
    let mut silent = connect(&running).await;
    // Only `answering` is read, so only it answers pings (tungstenite replies while reading).
    let keep_reading = tokio::spawn(async move {
        let mut pings = 0;
        let until = tokio::time::Instant::now() + Duration::from_millis(700);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, answering.next()).await {
            if let Message::Ping(_) = message {
                pings += 1;
            }
            if let Message::Close(close) = message {
                panic!("an answering client was closed: {close:?}");
            }
        }
        pings
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (code, reason) = close_of(&mut silent).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("ping"), "{reason}");
    assert!(keep_reading.await.unwrap() >= 3, "the server pings on its interval");
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
        if let Ok((socket, _)) =
            tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await
        {
            retried = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(retried.is_some(), "the freed slot is reusable");
    running.shutdown().await;
}
