//! Ingest: the ways metrics come in, `json` (`POST /api/v1/ingest`), `influx`
//! (`POST /api/v2/write`, InfluxDB line protocol parsed by `line_protocol`), `statsd` (UDP,
//! `--statsd-addr`), and the one path all take into the broker (`apply`): authorization of
//! every dashboard in a client's request, per-request limits, then a publish applied whole
//! or without the new series past a limit (the broker enforces cardinality limits and makes
//! it durable). Whether a request may write at all was checked by the gate before its body
//! was read.

pub mod exposition;
pub mod influx;
pub mod json;
pub mod line_protocol;
pub mod memory;
pub mod otlp;
pub mod prometheus;
pub mod remote_write;
pub mod scrape;
pub mod statsd;

use super::{
    auth::{authorize, Access, Action},
    broker::{Admission, Broker, BrokerError, Publication},
    clock::Clock,
    http::ApiError,
    telemetry::Telemetry,
};
use crate::protocol::{series::SeriesKey, Kinds, Metrics, Millis, ProducerKind, SeriesKind};
use crate::server::sources::dashboards::{DashboardConfig, FamilyKinds};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What ingest needs of the server (`State<IngestState>`, taken from the server's state).
#[derive(Clone)]
pub struct IngestState {
    pub broker: Arc<dyn Broker>,
    pub telemetry: Arc<Telemetry>,
    /// `--max-values-per-request`.
    pub max_values_per_request: usize,
    /// `--max-ingest-bytes`: what a body may inflate to (remote write's snappy).
    pub max_ingest_bytes: usize,
    /// `--max-metrics-per-dashboard`, for answers that name it.
    pub max_series_per_dashboard: usize,
    /// Stamps what arrives without a time.
    pub clock: Clock,
    pub producers: Arc<Producers>,
}

/// What producers' conversions keep between requests, and how they name dashboards.
pub struct Producers {
    /// Delta sums' totals and histograms' last buckets.
    pub memory: memory::SeriesMemory,
    /// Prometheus families' types from remote write's metadata.
    pub family_types: prometheus::FamilyTypes,
    /// `--otlp-dashboard-attribute`: the resource attribute naming an OTLP dashboard.
    pub otlp_dashboard_attribute: String,
    /// Kinds configured for families, by dashboard (only dashboards that configure some).
    pub family_kinds: HashMap<String, FamilyKinds>,
}

impl Producers {
    pub fn new(otlp_dashboard_attribute: &str, dashboards: &[DashboardConfig]) -> Self {
        Producers {
            memory: Default::default(),
            family_types: Default::default(),
            otlp_dashboard_attribute: otlp_dashboard_attribute.to_owned(),
            family_kinds: dashboards
                .iter()
                .filter(|dashboard| !dashboard.family_kinds.is_empty())
                .map(|dashboard| (dashboard.id.clone(), dashboard.family_kinds.clone()))
                .collect(),
        }
    }

    /// Gives each series of `batch` whose producer stated no kind the one configured for its
    /// family, where its name does not say it: carried in the update like a stated kind, so
    /// clients, the store and other instances learn it with the first value.
    fn state_configured_kinds(&self, batch: &mut [Publication]) {
        for publication in batch {
            let Some(configured) = self.family_kinds.get(&publication.dashboard) else { continue };
            for name in publication.metrics.keys() {
                if publication.kinds.contains_key(name) {
                    continue;
                }
                let family = name.split('{').next().unwrap_or(name);
                if let Some(kind) = configured.of(family).and_then(|kind| kind.unless_named(family)) {
                    publication.kinds.insert(name.clone(), kind);
                }
            }
        }
    }
}

/// Why a well-formed request was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{count} metric values in one request; the limit is {limit}")]
    TooManyValues { count: usize, limit: usize },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The credential does not cover one of the request's dashboards.
    #[error(transparent)]
    NotAllowed(#[from] ApiError),
}

/// How a request that was not applied answers over HTTP.
impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::TooManyValues { .. } => ApiError::TooLarge(error.to_string()),
            IngestError::Broker(error) => error.into(),
            IngestError::NotAllowed(error) => error,
        }
    }
}

/// A producer's request on its way into updates: values by dashboard and time, with the kinds
/// it stated, and what was left out (counted, with the first few distinct reasons).
#[derive(Debug, Default)]
pub struct Converted {
    updates: BTreeMap<(String, Millis), (Metrics, Kinds)>,
    pub rejected: usize,
    pub reasons: Vec<String>,
}

impl Converted {
    /// Adds a value of `key` (with the kind its producer says, stated where its name does not
    /// say it); false, and nothing added, when it is not finite.
    pub fn put(&mut self, dashboard: &str, ts: Millis, key: &SeriesKey, value: f64, kind: SeriesKind) -> bool {
        if !value.is_finite() {
            return false;
        }
        let (metrics, kinds) = self.updates.entry((dashboard.to_owned(), ts)).or_default();
        let name = key.to_string();
        if let Some(kind) = kind.unless_named(&key.family) {
            kinds.insert(name.clone(), kind);
        }
        metrics.insert(name, value);
        true
    }

    /// Counts something left out, and why.
    pub fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < 5 && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    /// The updates so far, one per dashboard and time, oldest first.
    pub fn take_publications(&mut self) -> Vec<Publication> {
        std::mem::take(&mut self.updates)
            .into_iter()
            .map(|((dashboard, ts), (metrics, kinds))| Publication {
                kinds,
                ..Publication::new(dashboard, ts, metrics)
            })
            .collect()
    }
}

/// `?dashboard=` of a producer's endpoint (OTLP, remote write): every series into it.
#[derive(serde::Deserialize)]
pub struct DashboardParam {
    dashboard: Option<String>,
}

impl DashboardParam {
    /// The dashboard asked for, checked; `Ok(None)` when none was.
    pub fn checked(self) -> Result<Option<String>, String> {
        match self.dashboard {
            Some(dashboard) => crate::protocol::check_dashboard_id(&dashboard)
                .map(|()| Some(dashboard))
                .map_err(|error| error.to_string()),
            None => Ok(None),
        }
    }
}

/// Who hands ingest a batch: a client with its credential, or one of the server's own
/// producers (scraping, StatsD: allowed by the configuration that started them); and in which
/// format (the dashboard list shows it).
#[derive(Clone, Copy)]
pub enum Producer<'a> {
    Client(&'a Access, ProducerKind),
    Server(ProducerKind),
}

impl Producer<'_> {
    fn kind(&self) -> ProducerKind {
        match self {
            Producer::Client(_, kind) | Producer::Server(kind) => *kind,
        }
    }
}

/// What a batch applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Metric values appended.
    pub values: usize,
    /// New series taken out for passing their dashboard's series limit (`Admission::Partial`).
    pub refused: usize,
}

/// Applies a parsed batch: checks that a client's credential covers each of its dashboards
/// and its size, then publishes it as one batch, whole (`Admission::Whole`: past a series
/// limit nothing is applied) or without the new series that do not fit (`Partial`).
pub async fn apply(
    state: &IngestState,
    producer: Producer<'_>,
    mut batch: Vec<Publication>,
    admission: Admission,
) -> Result<Applied, IngestError> {
    if let Producer::Client(access, _) = producer {
        for publication in &batch {
            authorize(access, &publication.dashboard, Action::Write)?;
        }
    }
    let values: usize = batch.iter().map(|publication| publication.metrics.len()).sum();
    let limit = state.max_values_per_request;
    if values > limit && matches!(producer, Producer::Client(..)) {
        return Err(IngestError::TooManyValues { count: values, limit });
    }
    state.producers.state_configured_kinds(&mut batch);
    let updates = batch.len() as u64;
    // The batch goes to the broker: its dashboards are noted first, each once.
    let mut dashboards: Vec<String> = Vec::new();
    for publication in &batch {
        if !dashboards.contains(&publication.dashboard) {
            dashboards.push(publication.dashboard.clone());
        }
    }
    let published = match admission {
        Admission::Whole => state.broker.publish(batch).await.map(|()| 0),
        Admission::Partial => state.broker.publish_partial(batch).await,
    };
    let refused = match published {
        Ok(refused) => refused,
        Err(error) => {
            if let BrokerError::SeriesLimit { refused, .. } = &error {
                state.telemetry.refused_series.inc_by(*refused as u64);
            }
            return Err(error.into());
        }
    };
    state.telemetry.refused_series.inc_by(refused as u64);
    let now = state.clock.now_millis();
    for dashboard in &dashboards {
        state.telemetry.received(dashboard, producer.kind(), now);
    }
    state.telemetry.ingested_updates.inc_by(updates);
    state.telemetry.ingested_values.inc_by((values - refused) as u64);
    Ok(Applied { values: values - refused, refused })
}
