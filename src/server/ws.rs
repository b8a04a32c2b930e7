//! The WebSocket transport, `GET /ws` (PROTOCOL.md). Framing lives here; meaning is in
//! `Session::handle`. Each connection is one task running a reader and a writer side by side:
//! the reader decodes client messages, opens a `Feed` per subscribed dashboard and hands it
//! (or a reply) to the writer; the writer polls every feed of the connection itself and writes
//! each frame as it comes, pings on an interval, and closes with 1001 when the server shuts
//! down. So a delivery wakes one task, and the outgoing queue of a connection is one frame in
//! the socket writer: a feed is not polled while that frame waits, so a slow reader falls
//! behind in the hub's shared ring (bounded in frames) and is resynced with one snapshot
//! (PROTOCOL.md rule 4), whatever its number of subscriptions. Abuse ends a connection with a close code: 1009 for a message
//! over the size limit, 1008 for a message flood, silence past two heartbeats, or a socket
//! that accepts no data for the write timeout.

use super::{
    api::error_response,
    broker::{Broker, Frame},
    feed::Feed,
    limits::RateLimiter,
    telemetry::{GaugeGuard, Telemetry},
    AppState,
};
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
use axum::{
    extract::{
        ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    http::StatusCode,
    response::Response,
};
use futures::{
    stream::{AbortHandle, Abortable, BoxStream, SelectAll},
    SinkExt, StreamExt,
};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// Requests from the reader to the writer queued at most (replies and subscription changes):
/// a client flooding faster than its socket drains waits, and is then cut by the rate limit.
const COMMANDS_QUEUED: usize = 64;

/// What the reader asks of the writer.
enum Command {
    /// Start sending `dashboard`'s feed, replacing any earlier subscription to it.
    Subscribe(String, BoxStream<'static, Frame>),
    Unsubscribe(String),
    Reply(ServerMessage),
}

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    // Refused before the upgrade, so a full server costs a rejected request, not a socket.
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RateLimited,
            "too many connections; try again later",
        );
    };
    let max = state.settings.max_frame_bytes;
    // Small codec buffers: tungstenite's 128 KiB defaults would dominate per-connection memory,
    // and client messages here are tiny.
    let ws = ws.read_buffer_size(4096).write_buffer_size(0).max_message_size(max).max_frame_size(max);
    ws.on_upgrade(move |socket| {
        let tasks = state.tasks.clone();
        tasks.track_future(async move {
            serve(socket, state).await;
            drop(permit);
        })
    })
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
    let (commands, mut commanded) = mpsc::channel::<Command>(COMMANDS_QUEUED);
    let started = Instant::now();
    // Milliseconds after `started` when the client was last heard from.
    let last_heard = AtomicU64::new(0);
    let heartbeat = state.settings.heartbeat;
    let write_timeout = state.settings.write_timeout;
    let mut session = Session { broker: state.broker.clone(), telemetry: telemetry.clone(), commands };

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
        // The connection's feeds, polled together; each can be stopped by its dashboard's handle.
        let mut feeds = SelectAll::<Abortable<BoxStream<'static, Frame>>>::new();
        let mut handles: HashMap<String, AbortHandle> = HashMap::new();
        loop {
            let message = tokio::select! {
                _ = state.shutdown.cancelled() => {
                    return Ending::Close(close_code::AWAY, "server shutting down");
                }
                command = commanded.recv() => match command {
                    Some(Command::Subscribe(dashboard, feed)) => {
                        let (handle, registration) = AbortHandle::new_pair();
                        if let Some(replaced) = handles.insert(dashboard, handle) {
                            replaced.abort();
                        }
                        feeds.push(Abortable::new(feed, registration));
                        continue;
                    }
                    Some(Command::Unsubscribe(dashboard)) => {
                        if let Some(handle) = handles.remove(&dashboard) {
                            handle.abort();
                        }
                        continue;
                    }
                    Some(Command::Reply(message)) => Message::Text(message.to_json().into()),
                    None => return Ending::Gone,
                },
                Some(frame) = feeds.next(), if !feeds.is_empty() => Message::Text(frame.json),
                _ = ping.tick() => {
                    let silent_ms = (started.elapsed().as_millis() as u64)
                        .saturating_sub(last_heard.load(Ordering::Relaxed));
                    if silent_ms > 2 * heartbeat.as_millis() as u64 {
                        telemetry.dropped_clients.inc();
                        return Ending::Close(close_code::POLICY, "no answer to pings");
                    }
                    Message::Ping(Default::default())
                }
            };
            let is_protocol_message = matches!(message, Message::Text(_));
            tokio::select! {
                _ = state.shutdown.cancelled() => {
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

/// The reader's side of a connection: what it asks of the writer.
struct Session {
    broker: Arc<dyn Broker>,
    telemetry: Arc<Telemetry>,
    commands: mpsc::Sender<Command>,
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
                match Feed::open_throttled(self.broker.clone(), &dashboard, since.as_ref(), throttle)
                    .await
                {
                    Ok(feed) => {
                        let frames = frames(feed, self.telemetry.clone());
                        let _ = self.commands.send(Command::Subscribe(dashboard, frames)).await;
                    }
                    Err(_) => {
                        self.telemetry.error("ws", "unknown_dashboard");
                        self.reply(ServerMessage::unknown_dashboard(&dashboard)).await
                    }
                }
            }
            ClientMessage::Unsubscribe { dashboard } => {
                let _ = self.commands.send(Command::Unsubscribe(dashboard)).await;
            }
            ClientMessage::Ping { id } => self.reply(ServerMessage::Pong { id }).await,
        }
    }

    async fn reply(&self, message: ServerMessage) {
        let _ = self.commands.send(Command::Reply(message)).await;
    }
}

/// A feed's frames as a stream, counted in the subscription gauge while it lives.
fn frames(feed: Feed, telemetry: Arc<Telemetry>) -> BoxStream<'static, Frame> {
    let subscribed = GaugeGuard::new(&telemetry.subscriptions);
    let state = (feed, telemetry, subscribed, false);
    futures::stream::unfold(state, |(mut feed, telemetry, subscribed, started)| async move {
        let Some(frame) = feed.next().await else {
            tracing::debug!(dashboard = feed.dashboard(), "feed ended");
            return None;
        };
        // Every snapshot after the first replaces updates this reader could not take.
        if frame.is_snapshot && started {
            telemetry.resync_snapshots.inc();
        }
        Some((frame, (feed, telemetry, subscribed, true)))
    })
    .boxed()
}
