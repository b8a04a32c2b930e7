//! Ingest: the ways metrics come in, `json` (`POST /api/v1/ingest`), `influx`
//! (`POST /api/v2/write`, InfluxDB line protocol parsed by `line_protocol`), `statsd` (UDP,
//! `--statsd-addr`), and the one path all take into the broker (`apply`): authorization of
//! every dashboard in a client's request, per-request limits, then a publish applied whole
//! or without the new series past a limit (the broker enforces cardinality limits and makes
//! it durable). Whether a request may write at all was checked by the gate before its body
//! was read.

pub mod influx;
pub mod json;
pub mod line_protocol;
pub mod otlp;
pub mod statsd;

use super::{
    auth::{authorize, Access, Action},
    broker::{Admission, Broker, BrokerError, Publication},
    clock::Clock,
    http::ApiError,
    telemetry::Telemetry,
};
use std::sync::Arc;

/// What ingest needs of the server (`State<IngestState>`, taken from the server's state).
#[derive(Clone)]
pub struct IngestState {
    pub broker: Arc<dyn Broker>,
    pub telemetry: Arc<Telemetry>,
    /// `--max-values-per-request`.
    pub max_values_per_request: usize,
    /// `--max-metrics-per-dashboard`, for answers that name it.
    pub max_series_per_dashboard: usize,
    /// Stamps what arrives without a time.
    pub clock: Clock,
    pub producers: Arc<Producers>,
}

/// What producers' conversions keep between requests, and how they name dashboards.
pub struct Producers {
    /// Delta sums' totals and histograms' last buckets (OTLP).
    pub otlp_memory: otlp::OtlpMemory,
    /// `--otlp-dashboard-attribute`: the resource attribute naming an OTLP dashboard.
    pub otlp_dashboard_attribute: String,
}

impl Producers {
    pub fn new(otlp_dashboard_attribute: &str) -> Self {
        Producers { otlp_memory: Default::default(), otlp_dashboard_attribute: otlp_dashboard_attribute.to_owned() }
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

/// Who hands ingest a batch: a client with its credential, or one of the server's own
/// producers (scraping, StatsD: allowed by the configuration that started them).
#[derive(Clone, Copy)]
pub enum Producer<'a> {
    Client(&'a Access),
    Server,
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
    batch: Vec<Publication>,
    admission: Admission,
) -> Result<Applied, IngestError> {
    if let Producer::Client(access) = producer {
        for publication in &batch {
            authorize(access, &publication.dashboard, Action::Write)?;
        }
    }
    let values: usize = batch.iter().map(|publication| publication.metrics.len()).sum();
    let limit = state.max_values_per_request;
    if values > limit && matches!(producer, Producer::Client(_)) {
        return Err(IngestError::TooManyValues { count: values, limit });
    }
    let updates = batch.len() as u64;
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
    state.telemetry.ingested_updates.inc_by(updates);
    state.telemetry.ingested_values.inc_by((values - refused) as u64);
    Ok(Applied { values: values - refused, refused })
}
