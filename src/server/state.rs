//! `AppState`: what every handler and server function can reach, assembled by
//! `server::assemble`; and the parts of it each stage's handlers take instead of the whole
//! (`IngestState`, `StreamState`, `LoginState`, through `FromRef`).

use super::{
    alerts, auth, broker::Broker, clock::Clock, http, ingest, settings::Settings, store::Store, stream,
    telemetry::Telemetry,
};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What every handler and server function can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The build of the client bundle served, named in every page's scripts.
    pub bundle: http::bundle::Bundle,
    pub broker: Arc<dyn Broker>,
    pub settings: Arc<Settings>,
    /// Cancelled when the server shuts down; every long-lived loop selects on it.
    pub shutdown: CancellationToken,
    /// Connections and sources, awaited on shutdown.
    pub tasks: TaskTracker,
    /// One permit per open WebSocket, up to `settings.max_connections`.
    pub connections: Arc<Semaphore>,
    /// Long-lived connections per client address, up to `settings.max_connections_per_client`.
    pub per_client: Arc<stream::per_client::PerClient>,
    pub telemetry: Arc<Telemetry>,
    /// The history store, unless running with `--persist false`.
    pub store: Option<Arc<Store>>,
    /// Credentials: keys, users, tokens, sessions.
    pub auth: Arc<auth::Auth>,
    /// Sign-outs shared with the other instances (`--redis`).
    pub sign_outs: Option<Arc<auth::sign_outs::SharedSignOuts>>,
    /// Alert deliveries, when receivers are configured.
    pub outbox: Option<Arc<alerts::notify::delivery::Outbox>>,
    /// Silences and acks.
    pub controls: Arc<alerts::notify::silences::Controls>,
    /// The same, shared with the other instances (`--redis`).
    pub shared_controls: Option<Arc<alerts::notify::shared::SharedControls>>,
    /// What time it is (the system's; a test's own in tests).
    pub clock: Clock,
    /// What producers' conversions remember between requests.
    pub producers: Arc<ingest::Producers>,
    /// Scraped targets' health.
    pub targets: Arc<ingest::scrape::Targets>,
    /// The runtime WebSocket connections run on.
    pub fanout: stream::Fanout,
}

impl AppState {
    /// The dashboards `access` may read, each with what fed it and its scraped targets: the
    /// list page and `GET /api/v1/dashboards`.
    pub async fn dashboard_list(&self, access: &auth::Access) -> Vec<crate::protocol::DashboardSummary> {
        use auth::{authorize, Action};
        let mut dashboards = self.broker.dashboards().await;
        dashboards.retain(|dashboard| authorize(access, &dashboard.id, Action::Read).is_ok());
        let targets = self.targets.list();
        for dashboard in &mut dashboards {
            dashboard.sources = self.telemetry.sources_of(&dashboard.id);
            dashboard.targets = targets.iter().filter(|target| target.dashboard == dashboard.id).cloned().collect();
        }
        dashboards
    }
}

/// Ingest's part of the state.
impl FromRef<AppState> for ingest::IngestState {
    fn from_ref(state: &AppState) -> Self {
        ingest::IngestState {
            broker: state.broker.clone(),
            telemetry: state.telemetry.clone(),
            max_values_per_request: state.settings.max_values_per_request,
            max_series_per_dashboard: state.settings.max_metrics_per_dashboard,
            max_ingest_bytes: state.settings.max_ingest_bytes,
            clock: state.clock.clone(),
            producers: state.producers.clone(),
        }
    }
}

/// The transports' part of the state.
impl FromRef<AppState> for stream::StreamState {
    fn from_ref(state: &AppState) -> Self {
        stream::StreamState {
            broker: state.broker.clone(),
            telemetry: state.telemetry.clone(),
            auth: state.auth.clone(),
            connections: state.connections.clone(),
            per_client: state.per_client.clone(),
            shutdown: state.shutdown.clone(),
            tasks: state.tasks.clone(),
            limits: state.settings.stream,
            fanout: state.fanout.clone(),
        }
    }
}

/// Sign-in's part of the state.
impl FromRef<AppState> for auth::login::LoginState {
    fn from_ref(state: &AppState) -> Self {
        auth::login::LoginState {
            auth: state.auth.clone(),
            sign_outs: state.sign_outs.clone(),
            frame_ancestors: http::headers::FrameAncestors(state.settings.frame_ancestors.clone()),
        }
    }
}
