//! Read-only HTTP endpoints (the dashboard list, snapshots, liveness) and the JSON error
//! answers every HTTP endpoint shares.

use super::{broker::BrokerError, AppState};
use crate::protocol::{DashboardSummary, ErrorCode, Snapshot};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

pub async fn dashboards(State(state): State<AppState>) -> Json<Vec<DashboardSummary>> {
    Json(state.broker.dashboards().await)
}

pub async fn snapshot(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.broker.snapshot(&id).await {
        Ok(snapshot) => Json::<Snapshot>(snapshot).into_response(),
        Err(error) => broker_error_response(error),
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// A JSON error answer `{"error": message, "code": code}` for HTTP transports.
pub fn error_response(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into(), "code": code }))).into_response()
}

/// The error answer for a broker failure.
pub fn broker_error_response(error: BrokerError) -> Response {
    match error {
        BrokerError::UnknownDashboard(_) => {
            error_response(StatusCode::NOT_FOUND, ErrorCode::UnknownDashboard, error.to_string())
        }
        BrokerError::Unavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": error.to_string() })))
                .into_response()
        }
    }
}
