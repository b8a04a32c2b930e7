//! The alerts API: `GET /api/v1/alerts` (what is active, per dashboard), `GET
//! /api/v1/alerts/history?dashboard=&from=&to=` (recorded changes), `GET /api/v1/alerts/rules`
//! (the rules with their thresholds, for charts) and `GET /api/v1/alerts/deliveries` (the
//! latest deliveries and their status). Each covers only the dashboards the credential covers.

use super::ApiError;
use crate::model::alerts::Level;
use crate::protocol::{AlertChange, Millis};
use crate::server::{
    alerts::delivery::DeliveryRecord,
    auth::{authorize, Access, Action},
    AppState,
};
use axum::{
    extract::{Query, State},
    Extension, Json,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every dashboard's rules that are not inactive, by dashboard.
pub async fn active(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
) -> Result<Json<BTreeMap<String, Vec<AlertChange>>>, ApiError> {
    let mut active = BTreeMap::new();
    for dashboard in state.broker.dashboards().await {
        if authorize(&access, &dashboard.id, Action::Read).is_err() {
            continue;
        }
        let alerts = state.broker.snapshot(&dashboard.id).await?.alerts;
        if !alerts.is_empty() {
            active.insert(dashboard.id, alerts);
        }
    }
    Ok(Json(active))
}

#[derive(Deserialize)]
pub struct HistoryParams {
    dashboard: String,
    from: Option<Millis>,
    to: Option<Millis>,
}

/// Changes recorded at most per answer.
const MAX_HISTORY: usize = 10_000;

/// `dashboard`'s alert changes between `from` and `to` (default: the last 24 hours), oldest
/// first.
pub async fn history(
    State(state): State<AppState>,
    Query(params): Query<HistoryParams>,
    Extension(access): Extension<Access>,
) -> Result<Json<Vec<AlertChange>>, ApiError> {
    authorize(&access, &params.dashboard, Action::Read)?;
    let Some(store) = state.store.clone() else {
        return Err(ApiError::Unavailable("alert history is not kept: the server runs with --persist false".into()));
    };
    let to = params.to.unwrap_or_else(crate::server::now_millis);
    let from = params.from.unwrap_or(to - 86_400_000);
    let dashboard = params.dashboard;
    let read = tokio::task::spawn_blocking(move || store.readers().alert_history(&dashboard, from, to, MAX_HISTORY));
    let changes = read
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?
        .map_err(|error| ApiError::Unavailable(format!("alert history unreadable: {error}")))?;
    Ok(Json(changes))
}

#[derive(Serialize)]
pub struct RuleView {
    name: String,
    dashboard: String,
    metric: String,
    warn: Option<Level>,
    crit: Option<Level>,
    #[serde(rename = "forMs")]
    for_ms: i64,
    #[serde(rename = "noDataMs")]
    no_data_ms: Option<i64>,
    labels: BTreeMap<String, String>,
}

pub async fn rules(State(state): State<AppState>, Extension(access): Extension<Access>) -> Json<Vec<RuleView>> {
    let visible = state.settings.alerts.iter().filter(|rule| authorize(&access, &rule.dashboard, Action::Read).is_ok());
    Json(
        visible
            .map(|rule| RuleView {
                name: rule.name.clone(),
                dashboard: rule.dashboard.clone(),
                metric: rule.metric.clone(),
                warn: rule.thresholds.warn,
                crit: rule.thresholds.crit,
                for_ms: rule.thresholds.for_ms,
                no_data_ms: rule.thresholds.no_data_ms,
                labels: rule.labels.clone(),
            })
            .collect(),
    )
}

/// The latest 200 deliveries, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
) -> Result<Json<Vec<DeliveryRecord>>, ApiError> {
    let Some(outbox) = state.outbox.clone() else { return Ok(Json(Vec::new())) };
    let read = tokio::task::spawn_blocking(move || outbox.recent(200)).await;
    let mut records = read
        .map_err(|error| ApiError::Unavailable(error.to_string()))?
        .map_err(|error| ApiError::Unavailable(format!("alert outbox unreadable: {error}")))?;
    records.retain(|record| authorize(&access, &record.dashboard, Action::Read).is_ok());
    Ok(Json(records))
}
