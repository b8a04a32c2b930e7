//! One message path for every transport: `Dispatcher` routes each server message to its
//! dashboard's state, marks the connection live, measures the round trip, reports how a
//! reconnection caught up, and decides when a gap calls for resubscribing. Shared so that the
//! transports cannot differ in what they accept.

use super::status::{ConnectionStatus, Recovery};
use crate::client::state::{Applied, ConnectionState, DashboardState};
use crate::protocol::ServerMessage;
use leptos::prelude::*;

pub(super) struct Dispatcher {
    pub(super) connection: ConnectionState,
    /// Dashboards between a resubscribe and the first message that fits again: updates
    /// already in flight from before it are dropped, not treated as new gaps. (A few ids
    /// each: lists, not hash sets, whose code the page would carry for these two alone.)
    resyncing: Vec<String>,
    /// Whether this session has heard from the server.
    heard: bool,
    /// Set when this session follows a lost live one: the first message counts a reconnect.
    reconnecting: bool,
    /// Dashboards whose first data message of this session tells how they caught up.
    recovering: Vec<String>,
    /// The last ping sent: its id and browser time.
    last_ping: Option<(u64, f64)>,
}

impl Dispatcher {
    pub(super) fn new(connection: ConnectionState) -> Self {
        Dispatcher {
            connection,
            resyncing: Vec::new(),
            heard: false,
            reconnecting: false,
            recovering: Vec::new(),
            last_ping: None,
        }
    }

    /// Starts a session; `recover` when it follows one that was lost after being live.
    pub(super) fn begin(&mut self, recover: bool) {
        self.heard = false;
        self.resyncing.clear();
        self.last_ping = None;
        if recover {
            self.reconnecting = true;
            self.recovering = self.connection.open_ids();
        }
    }

    /// Whether this session has heard from the server.
    pub(super) fn heard(&self) -> bool {
        self.heard
    }

    /// Marks the connection live (the server answered).
    pub(super) fn live(&mut self) {
        self.heard = true;
        self.connection.heard_at.set(js_sys::Date::now());
        if self.connection.status.get_untracked() != ConnectionStatus::Live {
            self.connection.status.set(ConnectionStatus::Live);
        }
        if std::mem::take(&mut self.reconnecting) {
            self.connection.reconnects.update(|count| *count += 1);
            // Back after a loss, perhaps from a redeploy.
            crate::client::redeploy::reload_if_replaced();
        }
    }

    pub(super) fn ping_sent(&mut self, id: u64) {
        self.last_ping = Some((id, js_sys::Date::now()));
    }

    /// Applies one message to its dashboard; the dashboard to resubscribe, if a gap showed.
    pub(super) fn receive(&mut self, message: ServerMessage) -> Option<String> {
        self.live();
        let id = match &message {
            ServerMessage::Pong { id } => {
                if let Some((_, at)) = self.last_ping.filter(|(sent, _)| sent == id) {
                    self.connection.rtt_ms.set(Some(js_sys::Date::now() - at));
                }
                return None;
            }
            ServerMessage::Snapshot(snapshot) => &snapshot.dashboard,
            ServerMessage::Update(update) => &update.dashboard,
            ServerMessage::Error(error) => {
                leptos::logging::warn!("server: {} ({:?})", error.message, error.code);
                return None;
            }
            // Who is signed in is on the page already (the top bar); expiry ends the socket
            // with 4001, which the retry policy handles.
            ServerMessage::Session { .. } => return None,
        };
        // Messages for a dashboard closed a moment ago may still be in flight.
        let dashboard = self.connection.find(id)?;
        if matches!(message, ServerMessage::Snapshot(_) | ServerMessage::Update(_)) && take(&mut self.recovering, id) {
            self.connection.recovery.set(Some(recovery_by(&message, dashboard)));
        }
        let resyncing = self.resyncing.iter().any(|resyncing| resyncing == id);
        // The id is copied only when a gap opens or closes, not for every update.
        match dashboard.apply(message) {
            Applied::Gap if !resyncing => {
                let id = dashboard.id.get_value();
                self.resyncing.push(id.clone());
                Some(id)
            }
            Applied::Ok if resyncing => {
                dashboard.id.with_value(|id| take(&mut self.resyncing, id));
                None
            }
            Applied::Ok | Applied::Gap | Applied::Other => None,
        }
    }

    pub(super) fn receive_text(&mut self, text: &str) -> Option<String> {
        crate::protocol::read::from_text::<ServerMessage>(text).ok().and_then(|message| self.receive(message))
    }
}

/// How the first data message after a reconnection caught `dashboard` up.
fn recovery_by(message: &ServerMessage, dashboard: DashboardState) -> Recovery {
    match message {
        ServerMessage::Snapshot(_) => Recovery::Snapshot,
        _ => Recovery::Resumed { after_seq: dashboard.position.with_untracked(|p| p.seq) },
    }
}

/// Takes `id` out of `ids`; whether it was there.
fn take(ids: &mut Vec<String>, id: &str) -> bool {
    let before = ids.len();
    ids.retain(|kept| kept != id);
    ids.len() != before
}
