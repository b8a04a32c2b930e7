//! Read-only HTTP endpoints (the dashboard list, snapshots, history, liveness) and the JSON
//! error answers every HTTP endpoint shares.

use super::{
    broker::BrokerError,
    store::{history::HistoryQuery, tier::parse_step},
    AppState,
};
use crate::protocol::{DashboardSummary, ErrorCode, HistoryAnswer, Millis, Snapshot};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
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

#[derive(Deserialize)]
pub struct HistoryParams {
    metric: String,
    from: Option<Millis>,
    to: Option<Millis>,
    step: Option<String>,
}

/// Buckets one history answer may hold at most.
const MAX_BUCKETS: Millis = 100_000;

/// Steps chosen when a request names none: the finest giving at most `AUTO_BUCKETS` buckets.
const AUTO_STEPS: [&str; 12] = ["1s", "5s", "10s", "30s", "1m", "5m", "10m", "30m", "1h", "6h", "1d", "7d"];
const AUTO_BUCKETS: Millis = 1_500;

/// `GET /api/v1/dashboards/{id}/history?metric=M&from=T&to=T&step=1m`: from the history store.
/// `to` defaults to now, `from` to an hour before `to`, `step` to what keeps the answer near
/// 1,500 buckets.
pub async fn history(
    State(state): State<AppState>,
    Path(dashboard): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Response {
    let bad = |message: String| error_response(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message);
    let Some(store) = state.store.clone() else {
        let message = "history is not kept: the server runs with --persist false";
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": message }))).into_response();
    };
    let to = params.to.unwrap_or_else(super::now_millis);
    let from = params.from.unwrap_or(to - 3_600_000);
    if from > to {
        return bad(format!("from ({from}) is after to ({to})"));
    }
    let step_ms = match params.step.as_deref() {
        Some(step) => match parse_step(step) {
            Ok(step_ms) => step_ms,
            Err(reason) => return bad(reason),
        },
        None => AUTO_STEPS
            .iter()
            .map(|step| parse_step(step).expect("valid built-in steps"))
            .find(|step_ms| (to - from) / step_ms <= AUTO_BUCKETS)
            .unwrap_or(7 * 86_400_000),
    };
    if (to - from) / step_ms > MAX_BUCKETS {
        return bad(format!("{} buckets asked for; at most {MAX_BUCKETS}: use a larger step", (to - from) / step_ms));
    }
    let query = HistoryQuery { dashboard: dashboard.clone(), metric: params.metric.clone(), from, to, step_ms };
    let read = tokio::task::spawn_blocking(move || store.readers().history(&query)).await;
    match read {
        Ok(Ok(Some(buckets))) => {
            Json(HistoryAnswer { dashboard, metric: params.metric, from, to, step_ms, buckets }).into_response()
        }
        Ok(Ok(None)) => error_response(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownDashboard,
            format!("no history of metric '{}' on dashboard '{dashboard}'", params.metric),
        ),
        Ok(Err(error)) => {
            tracing::error!(%error, "history read failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": error.to_string() }))).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "history read panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
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
        BrokerError::LimitExceeded(_) => {
            error_response(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::TooLarge, error.to_string())
        }
        BrokerError::Unavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": error.to_string() })))
                .into_response()
        }
    }
}
