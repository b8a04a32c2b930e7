//! Producers that feed dashboards on their own: the demo business simulator and the host's
//! real system metrics, on the dashboards the configuration names (`main` and `host` by
//! default). Each publishes one update per tick until shutdown.

pub mod dashboards;
pub mod host;
pub mod simulator;

use super::broker::{Broker, Declaration, Publication};
use super::clock::Clock;
use super::telemetry::Telemetry;
use crate::protocol::{Metrics, Millis, ProducerKind};
use dashboards::DashboardConfig;
use std::{sync::Arc, time::Duration};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Something that reads a set of metrics once per tick.
pub trait Source: Send + 'static {
    /// Its own title and metric definitions (the dashboard id is the configuration's).
    fn declaration(&self) -> Declaration;
    /// The metrics at `now`; `None` to skip this tick.
    fn sample(&mut self, now: Millis) -> Option<Metrics>;
}

impl Source for Box<dyn Source> {
    fn declaration(&self) -> Declaration {
        (**self).declaration()
    }

    fn sample(&mut self, now: Millis) -> Option<Metrics> {
        (**self).sample(now)
    }
}

/// What `config` declares: its title and metrics first (gaps filled from `built_in`, the
/// source's own declaration), then the source's other metrics.
pub fn configured_declaration(config: &DashboardConfig, built_in: Option<Declaration>) -> Declaration {
    let built_in = built_in.unwrap_or_else(|| Declaration {
        dashboard: config.id.clone(),
        title: config.id.clone(),
        definitions: Vec::new(),
    });
    let mut definitions: Vec<_> = config
        .metrics
        .iter()
        .filter(|metric| !metric.is_pattern())
        .map(|metric| metric.definition(built_in.definitions.iter().find(|d| d.name == metric.name)))
        .collect();
    for definition in built_in.definitions {
        if !definitions.iter().any(|d| d.name == definition.name) {
            definitions.push(definition);
        }
    }
    let title = if config.title.is_empty() { built_in.title } else { config.title.clone() };
    Declaration { dashboard: config.id.clone(), title, definitions }
}

/// Where and how often a source publishes.
pub struct Feed {
    /// Already declared.
    pub dashboard: String,
    pub broker: Arc<dyn Broker>,
    pub tick: Duration,
    /// The lease this instance must hold to publish (with several instances, one of them runs
    /// each source; a process alone always does), and for how long it takes it: a killed
    /// holder's source moves to another instance within `lease_ttl`.
    pub lease: String,
    pub lease_ttl: Duration,
    /// Stamps each sample.
    pub clock: Clock,
    /// Notes what fed the dashboard (`kind`).
    pub telemetry: Arc<Telemetry>,
    pub kind: ProducerKind,
}

/// Publishes a sample of `source` as `feed` says, every tick until `shutdown`.
pub async fn run(mut source: impl Source, feed: Feed, shutdown: CancellationToken) {
    let Feed { dashboard, broker, tick, lease, lease_ttl, clock, telemetry, kind } = feed;
    let mut interval = tokio::time::interval(tick);
    // Failed publishes in a row: a failing store refuses every tick, logged once.
    let mut failures: u64 = 0;
    // After a stall, keep the rhythm instead of bursting to catch up.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        if !broker.lease(&lease, lease_ttl).await {
            continue;
        }
        let ts = clock.now_millis();
        // A sample may read /proc and the disks (host metrics): kept off the async workers.
        let sampled = tokio::task::spawn_blocking(move || {
            let metrics = source.sample(ts);
            (source, metrics)
        });
        let metrics = match sampled.await {
            Ok((returned, metrics)) => {
                source = returned;
                metrics
            }
            Err(error) => {
                tracing::error!(%error, dashboard, "source failed; it stops");
                return;
            }
        };
        let Some(metrics) = metrics else { continue };
        let publication = Publication::new(dashboard.clone(), ts, metrics);
        match broker.publish(vec![publication]).await {
            Err(error) if failures == 0 => {
                tracing::warn!(%error, dashboard, "source cannot publish; retrying every tick");
                failures = 1;
            }
            Err(_) => failures += 1,
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(dashboard, failures, "source publishes again");
                    failures = 0;
                }
                telemetry.received(&dashboard, kind, ts);
            }
        }
    }
}
