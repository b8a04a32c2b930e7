//! The server, one folder per stage of the flow:
//!
//! ```text
//! sources/ (simulator, host)  ─┐
//!                              ├─> broker/ (seq, persist, fan-out) ─> stream/ (feed -> ws | sse | poll) ─> browser
//! ingest/ (JSON, line protocol)┘        └─> store/ (SQLite history) <─ http/ (snapshot, history, errors)
//! ```
//!
//! `settings/` reads flags, environment and the config file; `auth/` decides who may do what;
//! `alerts/` evaluates alert rules on the broker's publishing path; `telemetry` serves
//! `/metrics`.
//! This module wires them: `start` opens the store, builds the broker, starts the sources and
//! serves the router; `Running::shutdown` stops it all (close 1001 to every socket).

pub mod alerts;
pub mod auth;
pub mod broker;
pub mod http;
pub mod ingest;
pub mod settings;
pub mod sources;
pub mod store;
pub mod stream;
pub mod telemetry;

use crate::{app::shell, protocol::Millis};
use axum::{
    extract::{DefaultBodyLimit, FromRef},
    middleware,
    routing::{get, post},
    Router,
};
use broker::{Broker, HubLimits, MemoryBroker};
use http::api;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use settings::{dashboards::SourceKind, Settings};
use sources::Source;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use store::Store;
use stream::{poll, sse, ws};
use telemetry::Telemetry;
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What every handler and server function can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
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
    pub outbox: Option<Arc<alerts::delivery::Outbox>>,
    /// Silences and acks.
    pub controls: Arc<alerts::silences::Controls>,
    /// The same, shared with the other instances (`--redis`).
    pub shared_controls: Option<Arc<alerts::shared::SharedControls>>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as Millis)
}

/// Seconds since the Unix epoch, now (JWT time).
pub fn now_secs() -> u64 {
    (now_millis() / 1000).max(0) as u64
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, closes every socket with 1001, stops the sources, and waits (up to the
    /// grace period) for all of it.
    pub async fn shutdown(self) {
        let AppState { shutdown, tasks, settings, store, .. } = self.state;
        shutdown.cancel();
        tasks.close();
        let grace = settings.shutdown_grace;
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!(?grace, "connections still open after the grace period");
        }
        match tokio::time::timeout(Duration::from_secs(1), self.served).await {
            Ok(Ok(Err(error))) => tracing::error!(%error, "server error"),
            Err(_) => tracing::warn!("HTTP server did not stop in time"),
            _ => {}
        }
        if let Some(store) = store {
            // Commits what is queued; blocking, so off the async workers.
            let _ = tokio::task::spawn_blocking(move || store.close()).await;
        }
    }
}

/// Starts serving on `listener` with the in-memory broker (persisting to the history store
/// unless `--persist false`) and the sources `settings` enable.
pub async fn start(settings: Settings, listener: TcpListener) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let limits = HubLimits {
        replay_capacity: settings.replay_capacity,
        history_window_ms: Millis::from(settings.history_window_secs) * 1000,
        live_capacity: settings.live_buffer,
        max_dashboards: settings.max_dashboards,
        max_metrics_per_dashboard: settings.max_metrics_per_dashboard,
        budget: broker::budget::RetainBudget::new(settings.retain_memory()),
    };
    let mut telemetry = Telemetry::new();
    telemetry.watch_retention(&limits.budget);
    let rules: Vec<Arc<alerts::rules::AlertRule>> = settings.alerts.iter().cloned().map(Arc::new).collect();
    let (cache, store) = match settings.store_options() {
        None => (MemoryBroker::new(limits).with_alert_rules(rules), None),
        Some(options) => {
            let (store, recovered) = tokio::task::spawn_blocking(move || Store::open(options))
                .await
                .expect("opening the store panicked")
                .map_err(std::io::Error::other)?;
            tracing::info!(dashboards = recovered.len(), "history store opened");
            let store = Arc::new(store);
            (MemoryBroker::with_store(limits, store.clone(), recovered).with_alert_rules(rules), Some(store))
        }
    };
    let shutdown = CancellationToken::new();
    let auth = Arc::new(auth::Auth::new(&settings).map_err(std::io::Error::other)?);
    let (broker, sign_outs, redis): (Arc<dyn Broker>, _, _) = match &settings.redis {
        None => (Arc::new(cache), None, None),
        Some(url) => {
            let broker = broker::redis::RedisBroker::start(url.expose(), cache, shutdown.clone())
                .await
                .map_err(|error| std::io::Error::other(format!("Redis: {:?}", error.kind())))?;
            tracing::info!("one of several instances: seqs and recent updates in Redis");
            let (client, connection) = broker.redis();
            let sign_outs = auth::sign_outs::SharedSignOuts::start(
                client.clone(),
                connection.clone(),
                auth.clone(),
                shutdown.clone(),
            );
            (broker as Arc<dyn Broker>, Some(sign_outs), Some((client, connection)))
        }
    };
    let outbox = match (&store, settings.receivers.is_empty()) {
        (_, true) => None,
        (None, false) => {
            let message = "alert receivers need the history store (--persist true): deliveries are kept there";
            return Err(std::io::Error::other(message));
        }
        (Some(_), false) => {
            let path = settings.data.clone();
            let opened = tokio::task::spawn_blocking(move || alerts::delivery::Outbox::open(&path))
                .await
                .expect("opening the alert outbox panicked")
                .map_err(std::io::Error::other)?;
            Some(Arc::new(opened))
        }
    };
    let controls = match &store {
        None => alerts::silences::Controls::in_memory(),
        Some(_) => {
            let path = settings.data.clone();
            tokio::task::spawn_blocking(move || alerts::silences::Controls::open(&path))
                .await
                .expect("reading silences panicked")
                .map_err(std::io::Error::other)?
        }
    };
    let controls = Arc::new(controls);
    let shared_controls = redis.map(|(client, connection)| {
        alerts::shared::SharedControls::start(client, connection, controls.clone(), shutdown.clone())
    });
    let state = AppState {
        outbox: outbox.clone(),
        controls,
        shared_controls,
        auth,
        sign_outs,
        store,
        leptos_options: leptos_options(&settings, addr),
        broker,
        connections: Arc::new(Semaphore::new(settings.max_connections)),
        per_client: stream::per_client::PerClient::new(settings.max_connections_per_client),
        telemetry: Arc::new(telemetry),
        settings: Arc::new(settings),
        shutdown,
        tasks: TaskTracker::new(),
    };
    start_sources(&state).await;
    if !state.settings.alerts.is_empty() {
        state.tasks.spawn(alerts::tick_every_second(state.broker.clone(), state.shutdown.clone()));
    }
    if let Some(outbox) = outbox {
        let settings = &state.settings;
        let base_url = settings.public_url.as_ref().map_or_else(|| format!("http://{addr}"), ToString::to_string);
        let config = Arc::new(alerts::delivery::DeliveryConfig {
            receivers: settings.receivers.clone(),
            rules: settings.alerts.iter().cloned().map(Arc::new).collect(),
            retry_min: settings.alert_retry_min,
            resend: settings.alert_resend,
            base_url,
        });
        let (controls, shutdown) = (state.controls.clone(), state.shutdown.clone());
        state.tasks.spawn(alerts::delivery::run(config.clone(), outbox, controls.clone(), shutdown.clone()));
        state.tasks.spawn(alerts::delivery::resend_to_alertmanagers(config, state.broker.clone(), controls, shutdown));
    }

    let app = router(state.clone());
    let shutdown = state.shutdown.clone();
    let served = tokio::spawn(async move {
        // The peer address, for the per-client connection bound.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
    });
    Ok(Running { addr, state, served })
}

fn leptos_options(settings: &Settings, addr: SocketAddr) -> LeptosOptions {
    // cargo-leptos compiles the output name in; plain `cargo build`/`cargo test` do not, and
    // Leptos' own reader would then complain on stderr, so it is asked only when it can answer.
    let built_by_cargo_leptos =
        option_env!("LEPTOS_OUTPUT_NAME").is_some() || std::env::var_os("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = built_by_cargo_leptos
        .then(|| leptos::config::get_configuration(None).ok())
        .flatten()
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|| LeptosOptions::builder().output_name("livedash").build());
    options.site_root = settings.site_root.as_str().into();
    options.site_addr = addr;
    options
}

/// Declares every configured dashboard, in the configured order, and starts the sources that
/// feed them (unless turned off by `--simulator false` / `--host-metrics false`). With several
/// instances (`--redis`), a dashboard fed by this machine's metrics is this instance's own,
/// `<id>-<instance>` (`host-web1-3000`), and every other source runs on one instance at a time.
async fn start_sources(state: &AppState) {
    let settings = &state.settings;
    for (index, dashboard) in settings.dashboards.iter().enumerate() {
        let mut feeding: Vec<(SourceKind, Box<dyn Source>)> = Vec::new();
        for kind in settings.running_sources(dashboard) {
            match kind {
                SourceKind::Simulator => {
                    let seed = now_millis() as u64 + index as u64;
                    feeding.push((kind, Box::new(sources::simulator::Simulator::new(seed))));
                }
                SourceKind::Host => {
                    // sysinfo's first reads touch /proc and /sys: keep them off the async workers.
                    let collector = tokio::task::spawn_blocking(sources::host::HostCollector::new)
                        .await
                        .expect("host collector setup panicked");
                    feeding.push((kind, Box::new(collector)));
                }
            }
        }
        if feeding.is_empty() && dashboard.built_in {
            continue;
        }
        let built_in = feeding.first().map(|(_, source)| source.declaration());
        let mut declaration = sources::configured_declaration(dashboard, built_in);
        if settings.redis.is_some() && feeding.iter().any(|(kind, _)| *kind == SourceKind::Host) {
            let instance = settings.instance(state.leptos_options.site_addr.port());
            declaration.dashboard = format!("{}-{instance}", dashboard.id);
            declaration.title = format!("{} ({instance})", declaration.title);
        }
        let id = declaration.dashboard.clone();
        if let Err(error) = state.broker.declare(declaration).await {
            tracing::error!(%error, dashboard = id, "cannot declare dashboard");
            continue;
        }
        for (kind, source) in feeding {
            let (broker, shutdown) = (state.broker.clone(), state.shutdown.clone());
            let lease = format!("{{{id}}}:source:{kind:?}").to_lowercase();
            state.tasks.spawn(sources::run(source, id.clone(), broker, settings.tick, lease, shutdown));
        }
    }
}

/// Where requests may come from: bound to a loopback address (local open mode), only a
/// loopback `Host`; from a browser, only this server's own origin or an allowed one.
fn origin_policy(state: &AppState) -> Arc<auth::origin::OriginPolicy> {
    Arc::new(auth::origin::OriginPolicy {
        loopback_only: state.leptos_options.site_addr.ip().is_loopback(),
        allowed: state.settings.allowed_origins.clone(),
        telemetry: state.telemetry.clone(),
    })
}

fn router(state: AppState) -> Router {
    let routes = generate_route_list(crate::app::App);
    let api = Router::new()
        .route("/api/v1/ingest", post(ingest::json::ingest))
        .route("/api/v2/write", post(ingest::influx::write))
        // Gzip bodies (Telegraf's default) are inflated first, so the limit counts what
        // they inflate to.
        .layer(DefaultBodyLimit::max(state.settings.max_ingest_bytes))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .route("/api/v1/dashboards/{id}/history", get(api::history))
        .route("/api/v1/dashboards", get(api::dashboards))
        .route("/api/v1/dashboards/{id}/snapshot", get(api::snapshot))
        .route("/ws", get(ws::upgrade))
        .route("/api/v1/stream/{dashboard}", get(sse::stream))
        .route("/api/v1/poll/{dashboard}", get(poll::poll))
        .route("/api/v1/alerts", get(http::alerts::active))
        .route("/api/v1/alerts/rules", get(http::alerts::rules))
        .route("/api/v1/alerts/history", get(http::alerts::history))
        .route("/api/v1/alerts/deliveries", get(http::alerts::deliveries))
        .route(
            "/api/v1/alerts/silences",
            get(http::alerts::silences).post(http::alerts::create_silence).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/api/v1/alerts/silences/{id}", axum::routing::delete(http::alerts::expire_silence))
        .route("/api/v1/alerts/acks", post(http::alerts::ack).layer(DefaultBodyLimit::max(16 * 1024)))
        .route_layer(middleware::from_fn_with_state(state.telemetry.clone(), http::error::count_errors))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(telemetry::metrics))
        .route("/login", get(auth::login::form).post(auth::login::sign_in).layer(DefaultBodyLimit::max(16 * 1024)))
        .route("/logout", post(auth::login::sign_out));
    api.leptos_routes(&state, routes, {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    })
    .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
    // Before any handler, upgrade or body, pages and files included: where from, then who.
    .layer(middleware::from_fn_with_state(state.clone(), auth::gate::require))
    .layer(middleware::from_fn_with_state(origin_policy(&state), auth::origin::check_origin))
    .layer(http::headers::layers(state.settings.public_url.as_ref().is_some_and(|url| url.is_https())))
    // Method and path only: a query may carry `access_token`, which must never reach a log.
    .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        },
    ))
    .with_state(state)
}
