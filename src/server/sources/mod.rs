//! Producers that feed dashboards on their own: the demo business simulator (`main`) and the
//! host's real system metrics (`host`). Each declares its dashboard, then publishes one update
//! per tick until shutdown.

pub mod host;
pub mod simulator;

use super::broker::{Broker, Declaration, Publication};
use crate::protocol::{Metrics, Millis};
use std::{sync::Arc, time::Duration};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Something that reads a set of metrics once per tick.
pub trait Source: Send + 'static {
    fn declaration(&self) -> Declaration;
    /// The metrics at `now`; `None` to skip this tick.
    fn sample(&mut self, now: Millis) -> Option<Metrics>;
}

/// Declares `source`'s dashboard, then publishes a sample every `tick` until `shutdown`.
pub async fn run(
    mut source: impl Source,
    broker: Arc<dyn Broker>,
    tick: Duration,
    shutdown: CancellationToken,
) {
    let declaration = source.declaration();
    let dashboard = declaration.dashboard.clone();
    if let Err(error) = broker.declare(declaration).await {
        tracing::error!(%error, dashboard, "source could not declare its dashboard");
        return;
    }
    let mut interval = tokio::time::interval(tick);
    // After a stall, keep the rhythm instead of bursting to catch up.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let ts = super::now_millis();
        let Some(metrics) = source.sample(ts) else { continue };
        let publication = Publication { dashboard: dashboard.clone(), ts, metrics };
        if let Err(error) = broker.publish(vec![publication]).await {
            tracing::warn!(%error, dashboard, "source could not publish");
        }
    }
}
