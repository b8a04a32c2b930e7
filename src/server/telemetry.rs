//! The server's own metrics, counted by every stage and served at `GET /metrics`
//! (`server::api::metrics`) in the Prometheus text format: connections, subscriptions,
//! messages sent, resync snapshots sent to slow readers, slow clients dropped, ingest volume
//! and errors by endpoint and code.

use crate::protocol::{DashboardSource, Millis, ProducerKind};
use crate::server::http::error::ErrorCounter;
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use std::{collections::HashMap, sync::Mutex};

/// Labels of an error counter: which endpoint, which protocol error code.
type ErrorLabels = Vec<(&'static str, &'static str)>;

pub struct Telemetry {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Active subscriptions over every transport: WebSocket subscriptions, open SSE streams,
    /// waiting polls.
    pub subscriptions: Gauge,
    /// Protocol messages written to clients.
    pub messages_sent: Counter,
    /// Snapshots sent in place of updates a slow reader could not take (coalescing).
    pub resync_snapshots: Counter,
    /// Clients dropped for not reading (write timeout) or not answering pings.
    pub dropped_clients: Counter,
    /// Updates accepted through ingest.
    pub ingested_updates: Counter,
    /// Metric values accepted through ingest (a point of one metric at one time).
    pub ingested_values: Counter,
    /// Line protocol string fields skipped (they cannot be charted).
    pub skipped_string_fields: Counter,
    /// New series refused for passing a dashboard's series limit.
    pub refused_series: Counter,
    /// StatsD lines that did not read (each skipped, the rest of its packet kept).
    pub statsd_malformed_lines: Counter,
    /// Errors answered, by endpoint and code.
    errors: Family<ErrorLabels, Counter>,
    /// What fed each dashboard, and when it last did.
    received: Mutex<HashMap<String, HashMap<ProducerKind, Millis>>>,
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("livedash");
        let telemetry = Telemetry {
            connections: Gauge::default(),
            subscriptions: Gauge::default(),
            messages_sent: Counter::default(),
            resync_snapshots: Counter::default(),
            dropped_clients: Counter::default(),
            ingested_updates: Counter::default(),
            ingested_values: Counter::default(),
            skipped_string_fields: Counter::default(),
            refused_series: Counter::default(),
            statsd_malformed_lines: Counter::default(),
            errors: Family::default(),
            received: Mutex::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "Open WebSocket connections", telemetry.connections.clone());
        registry.register("subscriptions", "Active subscriptions", telemetry.subscriptions.clone());
        registry.register("messages_sent", "Messages sent to clients", telemetry.messages_sent.clone());
        registry.register(
            "resync_snapshots",
            "Snapshots sent to slow readers instead of the updates they missed",
            telemetry.resync_snapshots.clone(),
        );
        registry.register(
            "dropped_clients",
            "Clients dropped for not reading or not answering pings",
            telemetry.dropped_clients.clone(),
        );
        registry.register("ingested_updates", "Updates accepted by ingest", telemetry.ingested_updates.clone());
        registry.register("ingested_values", "Metric values accepted by ingest", telemetry.ingested_values.clone());
        registry.register(
            "ingest_skipped_string_fields",
            "Line protocol string fields skipped (not chartable)",
            telemetry.skipped_string_fields.clone(),
        );
        registry.register(
            "refused_series",
            "New series refused for passing a dashboard's series limit (--max-metrics-per-dashboard)",
            telemetry.refused_series.clone(),
        );
        registry.register(
            "statsd_malformed_lines",
            "StatsD lines skipped because they did not read (--statsd-addr)",
            telemetry.statsd_malformed_lines.clone(),
        );
        registry.register("errors", "Errors answered, by endpoint and code", telemetry.errors.clone());
        Telemetry { registry, ..telemetry }
    }

    /// Shows the retention budget: bytes retained, the limit, and updates evicted.
    pub fn watch_retention(&mut self, budget: &crate::server::broker::budget::RetainBudget) {
        let (used, limit, evicted) = budget.metrics();
        self.registry.register("retained_bytes", "Bytes retained in memory for replay and chart history", used);
        self.registry.register("retained_limit_bytes", "The retention budget (--retain-memory)", limit);
        self.registry.register(
            "retained_evictions",
            "Updates dropped from memory to stay within the retention budget",
            evicted,
        );
    }

    /// Counts one error answered by `endpoint` with `code` (a protocol error code).
    pub fn error(&self, endpoint: &'static str, code: &'static str) {
        self.errors.get_or_create(&vec![("endpoint", endpoint), ("code", code)]).inc();
    }

    /// Notes that `kind` fed `dashboard` at `now` (what the dashboard list shows). Bounded by
    /// the dashboards there are: only applied updates are noted.
    pub fn received(&self, dashboard: &str, kind: ProducerKind, now: Millis) {
        let mut received = self.received.lock().expect("received lock poisoned");
        match received.get_mut(dashboard) {
            Some(kinds) => _ = kinds.insert(kind, now),
            None => _ = received.insert(dashboard.to_owned(), HashMap::from([(kind, now)])),
        }
    }

    /// What fed `dashboard`, most recent first.
    pub fn sources_of(&self, dashboard: &str) -> Vec<DashboardSource> {
        let received = self.received.lock().expect("received lock poisoned");
        let mut sources: Vec<DashboardSource> = received
            .get(dashboard)
            .into_iter()
            .flatten()
            .map(|(kind, last_received)| DashboardSource { kind: *kind, last_received: *last_received })
            .collect();
        sources.sort_by(|a, b| b.last_received.cmp(&a.last_received).then(a.kind.cmp(&b.kind)));
        sources
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// Holds a gauge up for as long as it lives: a connection or a subscription.
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ErrorCounter for Telemetry {
    fn error(&self, endpoint: &'static str, code: &'static str) {
        Telemetry::error(self, endpoint, code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_labelled_errors() {
        let telemetry = Telemetry::new();
        let connection = GaugeGuard::new(&telemetry.connections);
        telemetry.messages_sent.inc_by(3);
        telemetry.error("ingest", "bad_request");
        let text = telemetry.render();
        assert!(text.contains("livedash_connections 1"), "{text}");
        assert!(text.contains("livedash_messages_sent_total 3"), "{text}");
        assert!(text.contains(r#"livedash_errors_total{endpoint="ingest",code="bad_request"} 1"#), "{text}");
        drop(connection);
        assert!(telemetry.render().contains("livedash_connections 0"));
    }
}
