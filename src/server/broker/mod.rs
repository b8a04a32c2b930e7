//! The seam between producers and transports on one side and where a dashboard's stream lives
//! on the other. Producers (`sources`, `ingest`) `publish`; transports (`stream`) `subscribe`
//! and read snapshots as `Frame`s; neither knows whether the broker is this process's memory
//! (`memory::MemoryBroker`, one `hub::Hub` per dashboard) or Redis (`redis::RedisBroker`:
//! seq assigned there, recent updates in a log there, pub/sub between instances, each
//! instance's hubs a cache).

pub mod budget;
pub mod frame;
mod hub;
mod log;
pub mod memory;
pub mod redis;

pub use frame::Frame;
pub use memory::{HubLimits, MemoryBroker};

use crate::protocol::{
    AlertChange, DashboardSummary, Kinds, MetricDefinition, Metrics, Millis, Position, SeriesKind, Snapshot,
};
use async_trait::async_trait;
use tokio::sync::broadcast;

/// One update a producer wants appended to a dashboard's stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    pub dashboard: String,
    pub ts: Millis,
    pub metrics: Metrics,
    /// Kinds the producer stated that the series' names do not say (`protocol::Kinds`).
    pub kinds: Kinds,
}

impl Publication {
    /// Values whose kinds their names say (or the configuration does).
    pub fn new(dashboard: impl Into<String>, ts: Millis, metrics: Metrics) -> Self {
        Publication { dashboard: dashboard.into(), ts, metrics, kinds: Kinds::new() }
    }
}

/// Whether a batch past a dashboard's series limit is refused whole or applied without the
/// new series that do not fit (`Broker::publish_partial`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Whole,
    Partial,
}

/// What a producer says about a dashboard before feeding it: title and metric definitions,
/// in display order. Publishing to an undeclared dashboard creates it with inferred ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    pub dashboard: String,
    pub title: String,
    pub definitions: Vec<MetricDefinition>,
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

/// A snapshot serialized for sending, with the epoch it belongs to.
pub struct SnapshotFrame {
    pub epoch: String,
    pub frame: Frame,
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
    /// A publication would give a dashboard more series than `--max-metrics-per-dashboard`;
    /// `refused` of them are new.
    #[error(
        "dashboard '{dashboard}' would have {would_have} series; the limit is {limit} \
         (--max-metrics-per-dashboard); nothing was applied"
    )]
    SeriesLimit { dashboard: String, would_have: usize, limit: usize, refused: usize },
}

/// How a broker failure answers over HTTP.
impl From<BrokerError> for crate::server::http::ApiError {
    fn from(error: BrokerError) -> Self {
        use crate::server::http::ApiError;
        match error {
            BrokerError::UnknownDashboard(dashboard) => ApiError::UnknownDashboard(dashboard),
            BrokerError::LimitExceeded(_) | BrokerError::SeriesLimit { .. } => {
                ApiError::LimitExceeded(error.to_string())
            }
            BrokerError::Unavailable(_) => ApiError::Unavailable(error.to_string()),
        }
    }
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Creates `declaration.dashboard` or updates its title and definitions.
    async fn declare(&self, declaration: Declaration) -> Result<(), BrokerError>;

    /// Appends every publication, each as one update with the next seq of its dashboard,
    /// creating dashboards as needed. Applied whole or not at all.
    async fn publish(&self, batch: Vec<Publication>) -> Result<(), BrokerError>;

    /// `publish`, but a new series past its dashboard's series limit is taken out rather than
    /// refusing the batch: the series that fit, and every series already known, are applied.
    /// Returns how many were taken out. (For producers that answer partially or count drops:
    /// OTLP, scraping, StatsD.)
    async fn publish_partial(&self, batch: Vec<Publication>) -> Result<usize, BrokerError>;

    /// Starts a subscription (PROTOCOL.md rules 1 and 2): replay after `since` when it is in
    /// the current epoch and still retained, otherwise a snapshot.
    async fn subscribe(&self, dashboard: &str, since: Option<&Position>) -> Result<Subscription, BrokerError>;

    /// The latest state of a dashboard with its recent history window.
    async fn snapshot(&self, dashboard: &str) -> Result<Snapshot, BrokerError>;

    /// The alert rules of `dashboard` that are not inactive, as their last change said: what a
    /// snapshot lists, without building one.
    async fn active_alerts(&self, dashboard: &str) -> Result<Vec<AlertChange>, BrokerError>;

    /// `dashboard`'s series, in display order (what a query's selector chooses from).
    async fn definitions(&self, dashboard: &str) -> Result<Vec<MetricDefinition>, BrokerError>;

    /// The kind of `dashboard`'s series `metric` as its definition says (stated by its producer,
    /// configured, or by its name); `None` when the dashboard does not know it.
    async fn kind(&self, dashboard: &str, metric: &str) -> Option<SeriesKind>;

    /// `snapshot`, serialized: the same frame for every caller at the same seq, so a burst of
    /// readers resynced at once costs one serialization.
    async fn snapshot_frame(&self, dashboard: &str) -> Result<SnapshotFrame, BrokerError>;

    /// Every dashboard, declared ones first in declaration order, then by creation.
    async fn dashboards(&self) -> Vec<DashboardSummary>;

    /// Whether this instance may be the one that does `name` (run a dashboard's simulator,
    /// evaluate its alert rules) for the next `ttl`: asked again before `ttl` passes, it keeps
    /// it; when it stops asking (killed), another instance gets it after `ttl`. A process alone
    /// always may. Names of one dashboard's leases start with `{<dashboard>}`.
    async fn lease(&self, name: &str, ttl: std::time::Duration) -> bool;

    /// Time passing at `now` (ms): alert rules with `no_data` that have waited long enough
    /// announce it, in an update without values. Called about once a second.
    async fn tick(&self, now: Millis) -> Result<(), BrokerError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{protocol::ErrorCode, server::http::ApiError};
    use axum::http::StatusCode;

    #[test]
    fn broker_failures_keep_their_meaning_over_http() {
        let unavailable = ApiError::from(BrokerError::Unavailable("disk full".into()));
        assert_eq!(
            (unavailable.status(), unavailable.code()),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
        );
        let limit = ApiError::from(BrokerError::LimitExceeded("too many".into()));
        assert_eq!((limit.status(), limit.code()), (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::TooLarge));
    }
}
