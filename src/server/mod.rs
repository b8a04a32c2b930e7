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
pub mod api;
pub mod auth;
pub mod broker;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod http;
pub mod ingest;
pub mod settings;
pub mod sources;
pub mod state;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod tools;

use crate::protocol::Millis;
use broker::{Broker, HubLimits, MemoryBroker};
pub use clock::Clock;
use leptos::prelude::LeptosOptions;
use settings::Settings;
use sources::dashboards::SourceKind;
use sources::Source;
pub use state::AppState;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use store::Store;
use telemetry::Telemetry;
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    /// Where StatsD is read (`--statsd-addr`, its port chosen when it was 0).
    pub statsd_addr: Option<SocketAddr>,
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
    start_on(settings, listener, Clock::system()).await
}

/// `start`, reading the time on `clock` (tests take it over with `Clock::manual`).
pub async fn start_on(settings: Settings, listener: TcpListener, clock: Clock) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let state = assemble(settings, addr, clock).await?;
    let statsd_addr = start_producers(&state).await?;
    start_sources(&state).await;
    start_alerts(&state);
    let served = serve(listener, &state);
    Ok(Running { addr, statsd_addr, state, served })
}

/// Everything a request can reach, for a server answering at `addr`: the store opened, the
/// broker built on it (through Redis with `--redis`), credentials, the alert outbox and
/// silences, all reading the time on `clock`. Starts nothing that produces updates or sends
/// alerts (`start` does); router tests call this and `api::router` without a socket.
pub async fn assemble(settings: Settings, addr: SocketAddr, clock: Clock) -> std::io::Result<AppState> {
    let mut telemetry = Telemetry::new();
    let (cache, store) = open_store(&settings, &mut telemetry, &clock).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let auth = Arc::new(auth::Auth::new(&settings.auth_options(), clock.clone()).map_err(std::io::Error::other)?);
    let (broker, link) = build_broker(&settings, cache, &shutdown, &tasks).await?;
    let sign_outs = link.as_ref().map(|link| auth::sign_outs::SharedSignOuts::start(link, auth.clone()));
    let (outbox, controls) = open_alert_notices(&settings, store.is_some()).await?;
    let shared_controls =
        link.map(|link| alerts::notify::shared::SharedControls::start(&link, controls.clone(), clock.clone()));
    Ok(AppState {
        outbox,
        controls,
        shared_controls,
        auth,
        sign_outs,
        store,
        leptos_options: leptos_options(&settings, addr),
        bundle: http::bundle::Bundle::open(&settings.site_root).await,
        broker,
        connections: Arc::new(Semaphore::new(settings.max_connections)),
        per_client: stream::per_client::PerClient::new(settings.max_connections_per_client),
        producers: Arc::new(ingest::Producers::new(&settings.otlp_dashboard_attribute, &settings.dashboards)),
        targets: Default::default(),
        fanout: stream::Fanout::new()?,
        telemetry: Arc::new(telemetry),
        settings: Arc::new(settings),
        shutdown,
        tasks,
        clock,
    })
}

/// This instance's hubs, with the history store they persist to and recover from (none with
/// `--persist false`), and their alert rules seeded from it.
async fn open_store(
    settings: &Settings,
    telemetry: &mut Telemetry,
    clock: &Clock,
) -> std::io::Result<(MemoryBroker, Option<Arc<Store>>)> {
    let limits = HubLimits {
        replay_capacity: settings.replay_capacity,
        history_window_ms: Millis::from(settings.history_window_secs) * 1000,
        live_capacity: settings.live_buffer,
        max_dashboards: settings.max_dashboards,
        max_metrics_per_dashboard: settings.max_metrics_per_dashboard,
        budget: broker::budget::RetainBudget::new(settings.retain_memory()),
    };
    telemetry.watch_retention(&limits.budget);
    let rules: Vec<Arc<alerts::eval::rules::AlertRule>> = settings.alerts.iter().cloned().map(Arc::new).collect();
    let Some(options) = settings.store_options(clock) else {
        return Ok((MemoryBroker::new(limits).with_clock(clock.clone()).with_alert_rules(rules), None));
    };
    let clock = clock.clone();
    // Opening reads and may convert the file, and seeding the rules reads history: blocking.
    tokio::task::spawn_blocking(move || {
        let (store, recovered) = Store::open(options).map_err(std::io::Error::other)?;
        tracing::info!(dashboards = recovered.len(), "history store opened");
        let store = Arc::new(store);
        let broker = MemoryBroker::with_store(limits, store.clone(), recovered).with_clock(clock);
        Ok((broker.with_alert_rules(rules), Some(store)))
    })
    .await
    .expect("opening the store panicked")
}

/// The broker: `cache` alone, or as one instance of a deployment behind the Redis of
/// `--redis`, with the link the subsystems above the broker share state through.
async fn build_broker(
    settings: &Settings,
    cache: MemoryBroker,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<(Arc<dyn Broker>, Option<cluster::Link>)> {
    let Some(url) = &settings.redis else { return Ok((Arc::new(cache), None)) };
    let timing = settings.redis_timing;
    let broker = broker::redis::RedisBroker::start(url.expose(), cache, timing, shutdown.clone(), tasks)
        .await
        .map_err(|error| std::io::Error::other(format!("Redis: {:?}", error.kind())))?;
    tracing::info!("one of several instances: seqs and recent updates in Redis");
    let link = broker.link(shutdown.clone(), tasks.clone());
    Ok((broker, Some(link)))
}

/// The alert outbox (when receivers are configured; it lives in the store's file) and the
/// silences and acks (kept there too, or in memory with `--persist false`).
async fn open_alert_notices(
    settings: &Settings,
    persisted: bool,
) -> std::io::Result<(Option<Arc<alerts::notify::delivery::Outbox>>, Arc<alerts::notify::silences::Controls>)> {
    use alerts::notify::{delivery::Outbox, silences::Controls};
    if !settings.receivers.is_empty() && !persisted {
        let message = "alert receivers need the history store (--persist true): deliveries are kept there";
        return Err(std::io::Error::other(message));
    }
    if !persisted {
        return Ok((None, Arc::new(Controls::in_memory())));
    }
    let (path, with_outbox) = (settings.data.clone(), !settings.receivers.is_empty());
    tokio::task::spawn_blocking(move || {
        let outbox = with_outbox.then(|| Outbox::open(&path)).transpose().map_err(std::io::Error::other)?;
        let controls = Controls::open(&path).map_err(std::io::Error::other)?;
        Ok((outbox.map(Arc::new), Arc::new(controls)))
    })
    .await
    .expect("opening the alert outbox panicked")
}

/// Starts the server's own producers the configuration asks for: StatsD when `--statsd-addr`
/// says where (returns the address bound), a task per `[[scrape]]` target.
async fn start_producers(state: &AppState) -> std::io::Result<Option<SocketAddr>> {
    let ingest = <ingest::IngestState as axum::extract::FromRef<AppState>>::from_ref(state);
    ingest::scrape::start(&state.settings.scrape, ingest.clone(), state.targets.clone(), &state.shutdown, &state.tasks);
    let Some(addr) = state.settings.statsd_addr else { return Ok(None) };
    let socket = tokio::net::UdpSocket::bind(addr).await?;
    let bound = socket.local_addr()?;
    let options = ingest::statsd::StatsdOptions {
        dashboard: state.settings.statsd_dashboard.clone(),
        max_series: state.settings.max_metrics_per_dashboard,
    };
    tracing::info!(addr = %bound, dashboard = options.dashboard, "reading StatsD");
    state.tasks.spawn(ingest::statsd::run(socket, options, ingest, state.shutdown.clone()));
    Ok(Some(bound))
}

/// The no-data timers, and delivery to the receivers with Alertmanager's resends.
fn start_alerts(state: &AppState) {
    let settings = &state.settings;
    if !settings.alerts.is_empty() {
        let (broker, shutdown) = (state.broker.clone(), state.shutdown.clone());
        state.tasks.spawn(alerts::notify::tick_every_second(broker, state.clock.clone(), shutdown));
    }
    let Some(outbox) = state.outbox.clone() else { return };
    let addr = state.leptos_options.site_addr;
    let base_url = settings.public_url.as_ref().map_or_else(|| format!("http://{addr}"), ToString::to_string);
    let config = Arc::new(alerts::notify::delivery::DeliveryConfig {
        receivers: settings.receivers.clone(),
        rules: settings.alerts.iter().cloned().map(Arc::new).collect(),
        timing: settings.delivery,
        base_url,
        clock: state.clock.clone(),
    });
    let (controls, shutdown) = (state.controls.clone(), state.shutdown.clone());
    state.tasks.spawn(alerts::notify::delivery::run(config.clone(), outbox, controls.clone(), shutdown.clone()));
    state.tasks.spawn(alerts::notify::delivery::resend_to_alertmanagers(
        config,
        state.broker.clone(),
        controls,
        shutdown,
    ));
}

/// Serves the router on `listener` until shutdown.
fn serve(listener: TcpListener, state: &AppState) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let app = api::router(state.clone());
    let shutdown = state.shutdown.clone();
    tokio::spawn(http::listen::serve(listener, app, shutdown))
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
                    let seed = state.clock.now_millis() as u64 + index as u64;
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
            let lease = format!("{{{id}}}:source:{kind:?}").to_lowercase();
            let feed = sources::Feed {
                dashboard: id.clone(),
                broker: state.broker.clone(),
                tick: settings.tick,
                lease,
                lease_ttl: settings.source_lease(),
                clock: state.clock.clone(),
                telemetry: state.telemetry.clone(),
                kind: kind.into(),
            };
            state.tasks.spawn(sources::run(source, feed, state.shutdown.clone()));
        }
    }
}
