//! The WebSocket transport, `GET /ws` (PROTOCOL.md). Framing lives here; meaning is in
//! `Session::handle`. Each connection runs a reader and a writer side by side: the reader
//! decodes client messages and starts or stops one `Feed` task per subscribed dashboard; the
//! writer drains an outbox bounded in frames and in bytes into the socket, pings on an interval, and closes with 1001
//! when the server shuts down. Abuse ends a connection with a close code: 1009 for a message
//! over the size limit, 1008 for a message flood, silence past two heartbeats, or a socket
//! that accepts no data for the write timeout.

use super::{feed::Feed, rate_limit::RateLimiter};
use crate::server::{
    broker::Broker,
    http::ApiError,
    telemetry::{GaugeGuard, Telemetry},
    AppState,
};
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
use axum::{
    extract::{
        ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use futures::{SinkExt, StreamExt};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::AbortOnDropHandle;

/// Frames queued for one connection before its feeds wait (and, if it stays slow, fall behind
/// and get resynced with a snapshot).
const OUTBOX_FRAMES: usize = 64;

/// Bytes of feed frames queued for one connection at most; a frame larger than this (a big
/// snapshot) goes alone.
const OUTBOX_BYTES: usize = 256 * 1024;

/// A message for the socket, holding its share of the connection's byte budget until written.
type Outgoing = (Message, Option<OwnedSemaphorePermit>);

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Result<Response, ApiError> {
    // Refused before the upgrade, so a full server costs a rejected request, not a socket.
    let permit = state.connections.clone().try_acquire_owned().map_err(|_| ApiError::TooManyConnections)?;
    let max = state.settings.max_frame_bytes;
    // Small codec buffers: tungstenite's 128 KiB defaults would dominate per-connection memory,
    // and client messages here are tiny.
    let ws = ws.read_buffer_size(4096).write_buffer_size(0).max_message_size(max).max_frame_size(max);
    Ok(ws.on_upgrade(move |socket| {
        let tasks = state.tasks.clone();
        tasks.track_future(async move {
            serve(socket, state).await;
            drop(permit);
        })
    }))
}

/// Whether a read failed because the client sent a frame over the size limit.
fn is_too_large(error: &axum::Error) -> bool {
    use std::error::Error;
    matches!(
        error.source().and_then(|source| source.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Why a connection ended, and what to tell the client.
enum Ending {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    Close(u16, &'static str),
}

async fn serve(socket: WebSocket, state: AppState) {
    let telemetry = state.telemetry.clone();
    let _open = GaugeGuard::new(&telemetry.connections);
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut outgoing) = mpsc::channel::<Outgoing>(OUTBOX_FRAMES);
    let started = Instant::now();
    // Milliseconds after `started` when the client was last heard from.
    let last_heard = AtomicU64::new(0);
    let heartbeat = state.settings.heartbeat;
    let write_timeout = state.settings.write_timeout;
    let mut session = Session {
        broker: state.broker.clone(),
        telemetry: telemetry.clone(),
        outbox,
        bytes: Arc::new(Semaphore::new(OUTBOX_BYTES)),
        feeds: HashMap::new(),
    };

    let settings = &state.settings;
    let mut limiter =
        RateLimiter::new(settings.max_messages_per_sec, settings.message_burst, Instant::now());
    let reader = async {
        while let Some(read) = stream.next().await {
            let message = match read {
                Ok(message) => message,
                Err(error) if is_too_large(&error) => {
                    return Ending::Close(close_code::SIZE, "message too large");
                }
                Err(_) => return Ending::Gone,
            };
            last_heard.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            if !limiter.allow(Instant::now()) {
                return Ending::Close(close_code::POLICY, "message rate limit exceeded");
            }
            match message {
                Message::Text(text) => session.handle(&text).await,
                Message::Binary(_) => {
                    session
                        .reply(ServerMessage::error(
                            ErrorCode::BadRequest,
                            "binary frames are not part of the protocol; send JSON text",
                            None,
                        ))
                        .await
                }
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        Ending::Gone
    };

    let writer = async {
        let mut ping = tokio::time::interval(heartbeat);
        ping.reset();
        // Made once: a fresh `cancelled()` per frame registered and unregistered a waiter on
        // the token each time (measurable at 100,000 frames/s).
        let shutdown = state.shutdown.cancelled();
        tokio::pin!(shutdown);
        loop {
            // A frame's share of the byte budget is released once the socket has taken it.
            let (message, _budget) = tokio::select! {
                _ = &mut shutdown => {
                    return Ending::Close(close_code::AWAY, "server shutting down");
                }
                message = outgoing.recv() => match message {
                    Some(outgoing) => outgoing,
                    None => return Ending::Gone,
                },
                _ = ping.tick() => {
                    let silent_ms = (started.elapsed().as_millis() as u64)
                        .saturating_sub(last_heard.load(Ordering::Relaxed));
                    if silent_ms > 2 * heartbeat.as_millis() as u64 {
                        telemetry.dropped_clients.inc();
                        return Ending::Close(close_code::POLICY, "no answer to pings");
                    }
                    (Message::Ping(Default::default()), None)
                }
            };
            let is_protocol_message = matches!(message, Message::Text(_));
            tokio::select! {
                _ = &mut shutdown => {
                    return Ending::Close(close_code::AWAY, "server shutting down");
                }
                sent = tokio::time::timeout(write_timeout, sink.send(message)) => match sent {
                    Ok(Ok(())) => {
                        if is_protocol_message {
                            telemetry.messages_sent.inc();
                        }
                    }
                    Ok(Err(_)) => return Ending::Gone,
                    // Hopelessly behind: its socket took no data for the whole timeout.
                    Err(_) => {
                        telemetry.dropped_clients.inc();
                        return Ending::Close(close_code::POLICY, "client too slow");
                    }
                },
            }
        }
    };

    let ending = tokio::select! {
        ending = reader => ending,
        ending = writer => ending,
    };
    if let Ending::Close(code, reason) = ending {
        let close = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
    }
}

/// What one connection has subscribed to, and where its messages go.
struct Session {
    broker: Arc<dyn Broker>,
    telemetry: Arc<Telemetry>,
    outbox: mpsc::Sender<Outgoing>,
    /// The connection's byte budget for queued feed frames (`OUTBOX_BYTES`).
    bytes: Arc<Semaphore>,
    /// One forwarding task per subscribed dashboard, stopped when dropped.
    feeds: HashMap<String, AbortOnDropHandle<()>>,
}

impl Session {
    async fn handle(&mut self, text: &str) {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                self.telemetry.error("ws", "bad_request");
                let reply = ServerMessage::error(ErrorCode::BadRequest, error.to_string(), None);
                return self.reply(reply).await;
            }
        };
        match message {
            ClientMessage::Subscribe { dashboard, since, max_hz } => {
                let throttle = match max_hz {
                    None => None,
                    Some(hz) if hz.is_finite() && hz > 0.0 => {
                        Some(Duration::from_secs_f64(1.0 / hz.min(1000.0)))
                    }
                    Some(hz) => {
                        self.telemetry.error("ws", "bad_request");
                        let message = format!("maxHz must be a positive number, got {hz}");
                        let reply = ServerMessage::error(ErrorCode::BadRequest, message, Some(&dashboard));
                        return self.reply(reply).await;
                    }
                };
                // Replacing an existing subscription restarts it from `since`.
                self.feeds.remove(&dashboard);
                match Feed::open_throttled(self.broker.clone(), &dashboard, since.as_ref(), throttle)
                    .await
                {
                    Ok(feed) => {
                        let task =
                            tokio::spawn(forward(feed, self.outbox.clone(), self.bytes.clone(), self.telemetry.clone()));
                        self.feeds.insert(dashboard, AbortOnDropHandle::new(task));
                    }
                    Err(_) => {
                        self.telemetry.error("ws", "unknown_dashboard");
                        self.reply(ServerMessage::unknown_dashboard(&dashboard)).await
                    }
                }
            }
            ClientMessage::Unsubscribe { dashboard } => {
                self.feeds.remove(&dashboard);
            }
            ClientMessage::Ping { id } => self.reply(ServerMessage::Pong { id }).await,
        }
    }

    async fn reply(&self, message: ServerMessage) {
        let _ = self.outbox.send((Message::Text(message.to_json().into()), None)).await;
    }
}

/// Moves one feed's frames into the connection's outbox. Waiting here when the outbox is full
/// (64 frames or 256 KiB) is the backpressure: the feed falls behind the live channel and
/// resyncs with a snapshot.
async fn forward(
    mut feed: Feed,
    outbox: mpsc::Sender<Outgoing>,
    bytes: Arc<Semaphore>,
    telemetry: Arc<Telemetry>,
) {
    let _subscribed = GaugeGuard::new(&telemetry.subscriptions);
    let mut started = false;
    while let Some(frame) = feed.next().await {
        // Every snapshot after the first replaces updates this reader could not take.
        if frame.is_snapshot && started {
            telemetry.resync_snapshots.inc();
        }
        started = true;
        let share = frame.json.len().clamp(1, OUTBOX_BYTES) as u32;
        let Ok(budget) = bytes.clone().acquire_many_owned(share).await else { break };
        if outbox.send((Message::Text(frame.json), Some(budget))).await.is_err() {
            break;
        }
    }
    tracing::debug!(dashboard = feed.dashboard(), "feed ended");
}
