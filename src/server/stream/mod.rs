//! Streaming to clients: one `feed::Feed` per subscriber applies the resume and coalescing
//! rules (PROTOCOL.md 2-4) for every transport, and each transport only frames what the feed
//! hands out: `ws` (the WebSocket, with its reader/writer loops and abuse limits from
//! `rate_limit`), `sse` (Server-Sent Events) and `poll` (long-polling).
//!
//! A new transport takes a `Feed` and writes its frames; it never reads the broker itself.

pub mod feed;
pub mod per_client;
pub mod poll;
pub mod rate_limit;
pub mod sse;
pub mod ws;

use super::{auth::Auth, broker::Broker, http::ApiError, telemetry::Telemetry};
use crate::protocol::Position;
use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::Deserialize;
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What the transports need of the server (`State<StreamState>`, taken from its state).
#[derive(Clone)]
pub struct StreamState {
    pub broker: Arc<dyn Broker>,
    pub telemetry: Arc<Telemetry>,
    /// Credentials: a stream ends when its credential does.
    pub auth: Arc<Auth>,
    /// One permit per open WebSocket, up to `--max-connections`.
    pub connections: Arc<Semaphore>,
    /// Long-lived connections per client address, up to `--max-connections-per-client`.
    pub per_client: Arc<per_client::PerClient>,
    /// Cancelled when the server shuts down: every stream ends (WebSocket: 1001).
    pub shutdown: CancellationToken,
    /// Open connections, awaited on shutdown.
    pub tasks: TaskTracker,
    pub limits: StreamLimits,
}

/// The transports' limits, from the settings of the same names.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// Pings (WebSocket) and keep-alive comments (SSE) go out this often.
    pub heartbeat: Duration,
    /// A socket that takes no data for this long is dropped.
    pub write_timeout: Duration,
    pub max_frame_bytes: usize,
    pub max_messages_per_sec: f64,
    pub message_burst: f64,
    /// The longest a long-poll waits.
    pub max_poll_wait: Duration,
}

/// Where a subscriber resumes from, for the HTTP transports: the `Last-Event-ID` header (sent
/// by browsers when an event source reconnects; it wins over the query the page was first
/// opened with), else `?since=E:S`. Absent: a snapshot first.
pub struct Since(pub Option<Position>);

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Since {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header =
            parts.headers.get("last-event-id").and_then(|value| value.to_str().ok()).filter(|value| !value.is_empty());
        let text = match header {
            Some(header) => Some(header.to_owned()),
            None => {
                Query::<SinceQuery>::try_from_uri(&parts.uri)
                    .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?
                    .0
                    .since
            }
        };
        let since = text.map(|text| text.parse::<Position>()).transpose();
        since.map(Since).map_err(|error| ApiError::BadRequest(error.to_string()))
    }
}
