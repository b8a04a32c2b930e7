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

use super::{
    auth::Auth,
    broker::Broker,
    http::{ApiError, ClientAddr},
    telemetry::Telemetry,
};
use crate::protocol::Position;
use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::Deserialize;
use std::{sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What the transports need of the server (`State<StreamState>`, taken from its state).
#[derive(Clone)]
pub struct StreamState {
    pub broker: Arc<dyn Broker>,
    pub telemetry: Arc<Telemetry>,
    /// Credentials: a stream ends when its credential does.
    pub auth: Arc<Auth>,
    /// One permit per open stream (a WebSocket, an SSE stream, a waiting poll), up to
    /// `--max-connections`.
    pub connections: Arc<Semaphore>,
    /// Open streams per client address, up to `--max-connections-per-client`.
    pub per_client: Arc<per_client::PerClient>,
    /// Cancelled when the server shuts down: every stream ends (WebSocket: 1001).
    pub shutdown: CancellationToken,
    /// Open connections, awaited on shutdown.
    pub tasks: TaskTracker,
    pub limits: StreamLimits,
    /// Where WebSocket connections run.
    pub fanout: Fanout,
}

/// The runtime WebSocket connections run on, apart from the one that answers requests: the
/// ten thousand connections an update wakes would otherwise queue every ingest answer, store
/// acknowledgement and page behind them (tokio has no priorities; here the OS shares the cores
/// between the two runtimes' threads, so a request woken meanwhile runs within a time slice).
#[derive(Clone)]
pub struct Fanout(Arc<FanoutRuntime>, Arc<ws::Writers>);

struct FanoutRuntime(Option<tokio::runtime::Runtime>);

impl Drop for FanoutRuntime {
    fn drop(&mut self) {
        // Dropped from async code (the server's state goes with its last handler).
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Fanout {
    /// A runtime with a worker per core.
    pub fn new() -> std::io::Result<Fanout> {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("livedash-fanout")
            .enable_all()
            .build()?;
        // A dashboard's direct writers: one per worker.
        let writers = Arc::new(ws::Writers::new(workers, runtime.handle().clone()));
        Ok(Fanout(Arc::new(FanoutRuntime(Some(runtime))), writers))
    }

    /// The groups writing dashboards' updates straight to sockets (`ws::direct`).
    pub fn writers(&self) -> Arc<ws::Writers> {
        self.1.clone()
    }

    pub fn spawn(&self, connection: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.0 .0 {
            runtime.spawn(connection);
        }
    }
}

/// A stream's places: one of `--max-connections` and one of its client's; freed when dropped.
pub struct Admission {
    _client: per_client::ClientSlot,
    _server: OwnedSemaphorePermit,
}

impl StreamState {
    /// Admits one more stream from `client`, whatever its transport, or refuses it (503)
    /// before any upgrade, feed or wait.
    pub fn admit(&self, client: ClientAddr) -> Result<Admission, ApiError> {
        let slot = self.per_client.acquire(client.ip).ok_or(ApiError::TooManyFromClient)?;
        let permit = self.connections.clone().try_acquire_owned().map_err(|_| ApiError::TooManyConnections)?;
        Ok(Admission { _client: slot, _server: permit })
    }
}

/// The transports' limits: flags of their own, flattened into the server's settings.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct StreamLimits {
    /// Interval of WebSocket pings, in milliseconds; a client silent for two is dropped.
    #[arg(long = "heartbeat-ms", env = "LIVEDASH_HEARTBEAT_MS", default_value = "15000", value_parser = crate::server::config::parse_millis)]
    pub heartbeat: Duration,

    /// Largest WebSocket message accepted from a client, in bytes.
    #[arg(long, env = "LIVEDASH_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Messages per second a WebSocket client may send on average; a flood closes it (1008).
    #[arg(long, env = "LIVEDASH_MAX_MESSAGES_PER_SEC", default_value_t = 20.0)]
    pub max_messages_per_sec: f64,

    /// Messages a WebSocket client may send in a burst above that rate.
    #[arg(long, env = "LIVEDASH_MESSAGE_BURST", default_value_t = 50.0)]
    pub message_burst: f64,

    /// A client whose socket accepts no data for this long is dropped, in milliseconds.
    #[arg(long = "write-timeout-ms", env = "LIVEDASH_WRITE_TIMEOUT_MS", default_value = "10000", value_parser = crate::server::config::parse_millis)]
    pub write_timeout: Duration,

    /// Longest wait of a long-poll request, in milliseconds, whatever its `timeout` asks.
    #[arg(long = "max-poll-wait-ms", env = "LIVEDASH_MAX_POLL_WAIT_MS", default_value = "30000", value_parser = crate::server::config::parse_millis)]
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
