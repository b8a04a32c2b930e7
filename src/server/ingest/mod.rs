//! Ingest: the two ways metrics come in, `json` (`POST /api/v1/ingest`) and `influx`
//! (`POST /api/v2/write`, InfluxDB line protocol parsed by `line_protocol`), and the one path
//! both take into the broker: authorization of every dashboard in the request, per-request
//! limits, then a publish that is applied whole or not at all (the broker enforces cardinality
//! limits and makes it durable). Whether the request may write at all was checked by the gate
//! before its body was read.

pub mod influx;
pub mod json;
pub mod line_protocol;

use super::{
    auth::{authorize, Access, Action},
    broker::{Broker, BrokerError, Publication},
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
    /// Stamps what arrives without a time.
    pub clock: Clock,
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

/// Applies a parsed request: checks that `access` covers each of its dashboards and its size,
/// then publishes it as one batch. Returns the number of metric values accepted.
pub async fn apply(state: &IngestState, access: &Access, batch: Vec<Publication>) -> Result<usize, IngestError> {
    for publication in &batch {
        authorize(access, &publication.dashboard, Action::Write)?;
    }
    let values: usize = batch.iter().map(|publication| publication.metrics.len()).sum();
    let limit = state.max_values_per_request;
    if values > limit {
        return Err(IngestError::TooManyValues { count: values, limit });
    }
    let updates = batch.len() as u64;
    if let Err(error) = state.broker.publish(batch).await {
        if let BrokerError::SeriesLimit { refused, .. } = &error {
            state.telemetry.refused_series.inc_by(*refused as u64);
        }
        return Err(error.into());
    }
    state.telemetry.ingested_updates.inc_by(updates);
    state.telemetry.ingested_values.inc_by(values as u64);
    Ok(values)
}
