//! The WebSocket transport: one socket carries every open dashboard. Subscriptions follow the
//! open dashboards as they change; a quiet socket is pinged and dropped after two silent
//! heartbeat intervals; a gap resubscribes that dashboard in place from its held position.

use super::dispatch::Dispatcher;
use super::policy::{refuses_retry, Ended};
use super::{options::socket_url, Changes};
use crate::client::state::DashboardState;
use crate::protocol::ClientMessage;
use futures::future::{select, Either};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;

/// How long the upgrade may go unanswered. A proxy that holds WebSocket upgrades (a black
/// hole rather than a refusal) would otherwise keep the page "connecting" for two heartbeats
/// (30 s) per attempt; a live server answers in milliseconds, even a loaded one in well under
/// this.
const HANDSHAKE_TIMEOUT_MS: u32 = 3_000;

/// One WebSocket and what it is subscribed to.
struct Socket {
    sink: futures::stream::SplitSink<WebSocket, Message>,
    /// The dashboards subscribed on this socket, each state with its id (kept here: a
    /// closed dashboard's state is gone by the time it is unsubscribed). States, not just
    /// ids: a dashboard reopened under the same id is subscribed again from its position.
    subscribed: Vec<(DashboardState, String)>,
    pings: u64,
}

impl Socket {
    async fn send(&mut self, message: &ClientMessage) -> bool {
        let text = serde_json::to_string(message).expect("client messages serialize");
        self.sink.send(Message::Text(text)).await.is_ok()
    }

    /// Asks the server for a `pong`, proof that the connection still carries messages.
    async fn ping(&mut self, dispatcher: &mut Dispatcher) -> bool {
        self.pings += 1;
        dispatcher.ping_sent(self.pings);
        self.send(&ClientMessage::Ping { id: self.pings }).await
    }

    /// Subscribes `dashboard` from its held position.
    async fn subscribe(&mut self, dashboard: DashboardState) -> bool {
        let Some(id) = dashboard.id.try_get_value() else { return true };
        let since = dashboard.position.try_get_untracked();
        self.send(&ClientMessage::Subscribe { dashboard: id, since, max_hz: None }).await
    }

    /// Brings the subscriptions in line with the open dashboards, then pings so that an
    /// idle dashboard still confirms the connection. False when the socket is gone.
    async fn sync(&mut self, dispatcher: &mut Dispatcher) -> bool {
        let open = dispatcher.connection.dashboards.get_untracked();
        let open_ids = dispatcher.connection.open_ids();
        let (kept, closed): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.subscribed).into_iter().partition(|(state, _)| open.contains(state));
        self.subscribed = kept;
        for (_, id) in closed {
            // Reopened under the same id: its new subscription below replaces this one.
            if !open_ids.contains(&id) && !self.send(&ClientMessage::Unsubscribe { dashboard: id }).await {
                return false;
            }
        }
        for dashboard in open {
            if self.subscribed.iter().any(|(state, _)| *state == dashboard) {
                continue;
            }
            let Some(id) = dashboard.id.try_get_value() else { continue };
            if !self.subscribe(dashboard).await {
                return false;
            }
            self.subscribed.push((dashboard, id));
        }
        self.ping(dispatcher).await
    }
}

pub(super) async fn session(dispatcher: &mut Dispatcher, changes: &mut Changes, heartbeat_ms: u32) -> Ended {
    let Ok(socket) = WebSocket::open(&socket_url()) else { return Ended::Lost };
    dispatcher.connection.sockets_opened.update(|count| *count += 1);
    let (sink, mut stream) = socket.split();
    let mut socket = Socket { sink, subscribed: Vec::new(), pings: 0 };
    // Sending waits for the socket to open, so the first subscriptions time the handshake.
    let handshake_ms = HANDSHAKE_TIMEOUT_MS.min(2 * heartbeat_ms);
    let opened = {
        let subscribing = std::pin::pin!(socket.sync(dispatcher));
        match select(subscribing, TimeoutFuture::new(handshake_ms)).await {
            Either::Left((true, _)) => true,
            // The upgrade failed (refused, or the socket closed at once): an ordinary failure.
            Either::Left((false, _)) => return refusal(&mut stream).map_or(Ended::Lost, Ended::Refused),
            Either::Right(_) => false,
        }
    };
    if !opened {
        return refusal(&mut stream).map_or(Ended::Unanswered, Ended::Refused);
    }
    // Heartbeat intervals in a row without a message; the browser does not report a
    // connection that silently died (a cut cable, a sleeping laptop), so two mean dead.
    let mut silent = 0;
    loop {
        // A message before the timer when both are ready (`select!` draws one at random).
        futures::select_biased! {
            message = stream.next().fuse() => {
                silent = 0;
                match message {
                    Some(Ok(Message::Text(text))) => {
                        let Some(gap) = dispatcher.receive_text(&text) else { continue };
                        let Some(dashboard) = dispatcher.connection.find(&gap) else { continue };
                        if !(socket.subscribe(dashboard).await && socket.ping(dispatcher).await) {
                            break;
                        }
                    }
                    Some(Ok(Message::Bytes(_))) => {}
                    Some(Err(WebSocketError::ConnectionClose(event))) if refuses_retry(event.code) => {
                        return Ended::Refused(event.code);
                    }
                    _ => break,
                }
            }
            _ = TimeoutFuture::new(heartbeat_ms).fuse() => {
                silent += 1;
                if silent >= 2 || !socket.ping(dispatcher).await {
                    break;
                }
            }
            _ = changes.next() => {
                if !socket.sync(dispatcher).await {
                    break;
                }
            }
        }
    }
    Ended::Lost
}

/// The close code of a refusal already queued on a socket that failed to open: a server
/// (or proxy) may answer the upgrade and close at once, before a message could be sent.
fn refusal(stream: &mut futures::stream::SplitStream<WebSocket>) -> Option<u16> {
    while let Some(Some(event)) = stream.next().now_or_never() {
        if let Err(WebSocketError::ConnectionClose(close)) = event {
            return refuses_retry(close.code).then_some(close.code);
        }
    }
    None
}
