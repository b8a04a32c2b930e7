//! Read-only HTTP endpoints: the dashboard list, snapshots, history and liveness.

use crate::protocol::{
    DashboardSummary, HistoryAnswer, MetricDefinition, Millis, SeriesKind, ServerMessage, TargetHealth,
};
use crate::server::{
    auth::{authorize, Access, Action},
    http::{time_range, ApiError, ApiPath, ApiQuery},
    state::AppState,
    store::{
        history::HistoryQuery,
        tier::{parse_step, Tier},
        Health,
    },
};
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;
use serde_json::json;

/// The dashboards the credential covers; the others are not mentioned.
pub async fn dashboards(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
) -> Json<Vec<DashboardSummary>> {
    Json(state.dashboard_list(&access).await)
}

/// `GET /api/v1/targets`: every scraped target the credential may read, with its health.
pub async fn targets(State(state): State<AppState>, Extension(access): Extension<Access>) -> Json<Vec<TargetHealth>> {
    let mut targets = state.targets.list();
    targets.retain(|target| authorize(&access, &target.dashboard, Action::Read).is_ok());
    Json(targets)
}

/// The same object as the WebSocket `snapshot` message, `"type":"snapshot"` included.
pub async fn snapshot(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    authorize(&access, &id, Action::Read)?;
    let snapshot = state.broker.snapshot(&id).await?;
    let json = ServerMessage::Snapshot(snapshot).to_json();
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[derive(Deserialize)]
pub struct HistoryParams {
    metric: String,
    from: Option<Millis>,
    to: Option<Millis>,
    step: Option<String>,
    format: Option<String>,
}

/// Buckets one history answer may hold at most.
const MAX_BUCKETS: Millis = 100_000;

/// Steps chosen when a request names none: the finest giving at most `AUTO_BUCKETS` buckets.
const AUTO_STEPS: [&str; 12] = ["1s", "5s", "10s", "30s", "1m", "5m", "10m", "30m", "1h", "6h", "1d", "7d"];
const AUTO_BUCKETS: Millis = 1_500;

/// The buckets a history or query request asks for: its range, its step, and the tier that
/// answers it.
pub struct Span {
    pub from: Millis,
    pub to: Millis,
    pub step_ms: Millis,
    pub tier: Tier,
}

/// Reads `from`, `to` and `step` as the history and query APIs take them: `to` defaults to now,
/// `from` to an hour before `to`, `step` to what keeps the answer near 1,500 buckets.
pub fn history_span(
    state: &AppState,
    from: Option<Millis>,
    to: Option<Millis>,
    step: Option<&str>,
) -> Result<Span, ApiError> {
    let (from, to) = time_range(from, to, state.clock.now_millis(), 3_600_000)?;
    let step_ms = match step {
        Some(step) => parse_step(step).map_err(ApiError::BadRequest)?,
        None => AUTO_STEPS
            .iter()
            .map(|step| parse_step(step).expect("valid built-in steps"))
            .find(|step_ms| (to - from) / step_ms <= AUTO_BUCKETS)
            .unwrap_or(7 * 86_400_000),
    };
    if (to - from) / step_ms > MAX_BUCKETS {
        let asked = (to - from) / step_ms;
        return Err(ApiError::BadRequest(format!(
            "{asked} buckets asked for; at most {MAX_BUCKETS}: use a larger step"
        )));
    }
    let tier = Tier::for_step(step_ms)
        .ok_or_else(|| ApiError::BadRequest(format!("step {step_ms} ms is not whole seconds")))?;
    Ok(Span { from, to, step_ms, tier })
}

/// `GET /api/v1/dashboards/{id}/history?metric=M&from=T&to=T&step=1m[&format=csv]`: from the
/// history store (`history_span` for the defaults).
pub async fn history(
    State(state): State<AppState>,
    ApiPath(dashboard): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    authorize(&access, &dashboard, Action::Read)?;
    let csv = super::query::wants_csv(params.format.as_deref())?;
    let Some(store) = state.store.clone() else {
        return Err(ApiError::Unavailable("history is not kept: the server runs with --persist false".into()));
    };
    let Span { from, to, step_ms, tier } = history_span(&state, params.from, params.to, params.step.as_deref())?;
    // A series the dashboard no longer holds (a restart without it since) is what its name says.
    let kind = match state.broker.kind(&dashboard, &params.metric).await {
        Some(kind) => kind,
        None => MetricDefinition::inferred(&params.metric).kind,
    };
    let counter = kind == SeriesKind::Counter;
    let query =
        HistoryQuery { dashboard: dashboard.clone(), metric: params.metric.clone(), from, to, step_ms, tier, counter };
    store.merged(&dashboard).await;
    let read = tokio::task::spawn_blocking(move || store.readers().history(&query)).await;
    let buckets = match read.map_err(|error| ApiError::Unavailable(format!("history read failed: {error}")))? {
        Ok(Some(buckets)) => buckets,
        Ok(None) => return Err(ApiError::UnknownMetric { dashboard, metric: params.metric }),
        Err(error) => {
            tracing::error!(%error, "history read failed");
            return Err(ApiError::Unavailable(error.to_string()));
        }
    };
    if csv {
        let mut out = String::new();
        crate::model::csv::row(&mut out, ["ts", "count", "sum", "min", "max", "avg", "rate"]);
        for b in &buckets {
            let numbers = [b.sum, b.min, b.max, b.avg].map(crate::model::csv::number);
            let rate = b.rate.map(crate::model::csv::number).unwrap_or_default();
            let (ts, count) = (b.ts.to_string(), b.count.to_string());
            crate::model::csv::row(
                &mut out,
                [ts.as_str(), &count, &numbers[0], &numbers[1], &numbers[2], &numbers[3], &rate],
            );
        }
        return Ok(super::query::csv_response(out));
    }
    Ok(Json(HistoryAnswer { dashboard, metric: params.metric, from, to, step_ms, buckets }).into_response())
}

/// `ok` while the server serves and stores; `503` with what is wrong while the history store
/// refuses writes (a full disk), so an orchestrator can act on it. Public: it names the kind
/// of failure only, never the store's own words (paths); those are in the log.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.as_ref().map(|store| store.health()) {
        Some(Health::Failing { since, kind: error, refused, .. }) => {
            let since = since.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as Millis);
            let body = json!({ "status": "failing", "store": { "error": error, "since": since, "refused": refused } });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        _ => "ok".into_response(),
    }
}
