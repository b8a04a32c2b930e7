//! The seam between producers and transports on one side and where a dashboard's stream lives
//! on the other. Producers `publish`, transports `subscribe` and read `snapshot`s; neither knows
//! whether the broker is this process's memory (`hub::MemoryBroker`) or, later, Redis (seq
//! assigned there, recent history in a stream, pub/sub between instances).

use crate::protocol::{
    DashboardSummary, MetricDefinition, Metrics, Millis, Position, Snapshot, Update,
};
use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use std::sync::Arc;
use tokio::sync::broadcast;

/// One update a producer wants appended to a dashboard's stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    pub dashboard: String,
    pub ts: Millis,
    pub metrics: Metrics,
}

/// What a producer says about a dashboard before feeding it: title and metric definitions,
/// in display order. Publishing to an undeclared dashboard creates it with inferred ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    pub dashboard: String,
    pub title: String,
    pub definitions: Vec<MetricDefinition>,
}

/// A message serialized once and shared by every subscriber (cloning is a reference count).
#[derive(Clone, Debug)]
pub struct Frame {
    /// The seq this message brings its reader to.
    pub seq: u64,
    /// A snapshot replaces the reader's state; an update extends it.
    pub is_snapshot: bool,
    /// The JSON text of the `ServerMessage`.
    pub json: Utf8Bytes,
    /// The update itself, for feeds that merge updates (throttled subscriptions).
    pub update: Option<Arc<Update>>,
}

/// The start of a subscription, consistent with its live feed: `live` carries exactly the
/// updates after the last seq in `start`.
pub struct Subscription {
    /// The dashboard's current epoch.
    pub epoch: String,
    /// A snapshot, or the retained updates after the subscriber's `since`.
    pub start: Vec<Frame>,
    /// Updates as they are published.
    pub live: broadcast::Receiver<Frame>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BrokerError {
    #[error("no dashboard named '{0}'")]
    UnknownDashboard(String),
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// A publication would pass a cardinality limit (dashboards, metrics per dashboard).
    #[error("{0}; nothing was applied")]
    LimitExceeded(String),
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Creates `declaration.dashboard` or updates its title and definitions.
    async fn declare(&self, declaration: Declaration) -> Result<(), BrokerError>;

    /// Appends every publication, each as one update with the next seq of its dashboard,
    /// creating dashboards as needed. Applied whole or not at all.
    async fn publish(&self, batch: Vec<Publication>) -> Result<(), BrokerError>;

    /// Starts a subscription (PROTOCOL.md rules 1 and 2): replay after `since` when it is in
    /// the current epoch and still retained, otherwise a snapshot.
    async fn subscribe(
        &self,
        dashboard: &str,
        since: Option<&Position>,
    ) -> Result<Subscription, BrokerError>;

    /// The latest state of a dashboard with its recent history window.
    async fn snapshot(&self, dashboard: &str) -> Result<Snapshot, BrokerError>;

    /// Every dashboard, declared ones first in declaration order, then by creation.
    async fn dashboards(&self) -> Vec<DashboardSummary>;
}
