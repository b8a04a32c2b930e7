//! Read-only HTTP endpoints: the dashboard list, snapshots and liveness.

use super::{broker::BrokerError, AppState};
use crate::protocol::{DashboardSummary, Snapshot};
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
        Err(error @ BrokerError::UnknownDashboard(_)) => {
            (StatusCode::NOT_FOUND, Json(json!({ "error": error.to_string() }))).into_response()
        }
        Err(error) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": error.to_string() })))
                .into_response()
        }
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}
