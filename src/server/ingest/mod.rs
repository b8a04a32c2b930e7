//! Ingest: the two ways metrics come in, `json` (`POST /api/v1/ingest`) and `influx`
//! (`POST /api/v2/write`, InfluxDB line protocol parsed by `line_protocol`), and the one path
//! both take into the broker: authorization, per-request limits, then a publish that is applied
//! whole or not at all (the broker enforces cardinality limits and makes it durable).

pub mod influx;
pub mod json;
pub mod line_protocol;

use super::{broker::BrokerError, broker::Publication, AppState};
use axum::http::{header, HeaderMap};

/// Why a well-formed request was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{count} metric values in one request; the limit is {limit}")]
    TooManyValues { count: usize, limit: usize },
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// Whether the request carries the ingest token (`Authorization: Token <t>` as InfluxDB
/// clients send it, or `Bearer <t>`), or no token is configured.
pub fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = state.settings.ingest_token.as_deref() else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Token ").or_else(|| value.strip_prefix("Bearer ")))
        .is_some_and(|token| constant_time_eq(token.trim().as_bytes(), expected.as_bytes()))
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Applies a parsed request: checks its size, then publishes it as one batch.
/// Returns the number of metric values accepted.
pub async fn apply(state: &AppState, batch: Vec<Publication>) -> Result<usize, IngestError> {
    let values: usize = batch.iter().map(|publication| publication.metrics.len()).sum();
    let limit = state.settings.max_values_per_request;
    if values > limit {
        return Err(IngestError::TooManyValues { count: values, limit });
    }
    let updates = batch.len() as u64;
    state.broker.publish(batch).await?;
    state.telemetry.ingested_updates.inc_by(updates);
    state.telemetry.ingested_values.inc_by(values as u64);
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
