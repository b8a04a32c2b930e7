//! Alert notification, above the broker: what happens once a change is decided. The store
//! records every change with its update; `delivery` takes them from there to the receivers
//! (`receivers`: webhook, Alertmanager, mail) through its outbox, with retries, repeats and
//! digests; `silences` holds silences and acks (`shared` shares them between instances
//! through Redis); `tick_every_second` drives the broker's no-data timers.

pub mod delivery;
pub mod receivers;
pub mod shared;
pub mod silences;

use super::eval::rules::AlertRule;
use crate::protocol::AlertChange;
use std::{collections::BTreeMap, sync::Arc};

/// An alert's labels, as receivers and silences see them: the rule's own, then `alertname`,
/// `dashboard`, `metric` and `severity`.
pub fn labels(dashboard: &str, change: &AlertChange, rule: Option<&AlertRule>) -> BTreeMap<String, String> {
    let mut labels = rule.map(|rule| rule.labels.clone()).unwrap_or_default();
    labels.insert("alertname".into(), change.rule.clone());
    labels.insert("dashboard".into(), dashboard.to_owned());
    labels.insert("metric".into(), change.metric.clone());
    labels.insert("severity".into(), change.severity.as_str().to_owned());
    labels
}

/// Ticks the broker once a second (at `clock`'s time), so that `no_data` is announced on
/// time, until shutdown.
pub async fn tick_every_second(
    broker: Arc<dyn crate::server::broker::Broker>,
    clock: crate::server::clock::Clock,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = broker.tick(clock.now_millis()).await {
            tracing::warn!(%error, "cannot announce no-data alerts");
        }
    }
}
