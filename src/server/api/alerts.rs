//! The alerts API: `GET /api/v1/alerts` (what is active, per dashboard, with its ack and the
//! silences that hold it), `GET /api/v1/alerts/history?dashboard=&from=&to=` (recorded
//! changes), `GET /api/v1/alerts/rules` (the rules with their thresholds, for charts), `GET
//! /api/v1/alerts/deliveries` (the latest deliveries and their status), silences (`GET`/`POST
//! /api/v1/alerts/silences`, `DELETE /api/v1/alerts/silences/{id}`) and acks (`POST
//! /api/v1/alerts/acks`). Each covers only the dashboards the credential covers; silences and
//! acks need `admin` on the dashboard (`Action::Control`), never a `write` token's.

use crate::model::alerts::{ActiveAlert, RecordedChange, RuleSummary};
use crate::protocol::Millis;
use crate::server::{
    alerts::notify::{
        delivery::DeliveryRecord,
        silences::{Ack, NewSilence, Silence},
    },
    auth::{authorize, Access, Action},
    http::{time_range, ApiError, ApiPath, ApiQuery},
    state::AppState,
};
use axum::{body::Bytes, extract::State, http::StatusCode, Extension, Json};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every dashboard's rules that are not inactive, by dashboard.
pub async fn active(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
) -> Result<Json<BTreeMap<String, Vec<ActiveAlert>>>, ApiError> {
    let mut active = BTreeMap::new();
    let now = state.clock.now_millis();
    for dashboard in state.broker.dashboards().await {
        if authorize(&access, &dashboard.id, Action::Read).is_err() {
            continue;
        }
        let alerts = state.broker.active_alerts(&dashboard.id).await?;
        let shown: Vec<ActiveAlert> = alerts
            .into_iter()
            .map(|change| {
                let rule = state.settings.alerts.iter().find(|r| r.dashboard == dashboard.id && r.name == change.rule);
                let labels = crate::server::alerts::notify::labels(&dashboard.id, &change, rule);
                ActiveAlert {
                    acked: state.controls.ack_of(&dashboard.id, &change),
                    silenced_by: state.controls.silenced_by(&labels, now),
                    change,
                }
            })
            .collect();
        if !shown.is_empty() {
            active.insert(dashboard.id, shown);
        }
    }
    Ok(Json(active))
}

/// Reads a JSON body, with the API's error shape when it does not read.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::BadRequest(format!("body: {error}")))
}

/// Whom a silence or an ack is recorded as: the signed-in user or token, else what the body
/// says, else "anonymous".
fn author(access: &Access, given: Option<String>) -> String {
    access.principal().map(|principal| principal.name.clone()).or(given).unwrap_or_else(|| "anonymous".into())
}

/// Silences and acks need control of the dashboard they hold; a silence without a
/// `dashboard` equality matcher, of every dashboard.
fn authorize_silence(access: &Access, silence_dashboard: Option<&str>) -> Result<(), ApiError> {
    match silence_dashboard {
        Some(dashboard) => authorize(access, dashboard, Action::Control),
        None => authorize(access, "*", Action::Control).map_err(|error| match error {
            ApiError::Forbidden(_) => ApiError::Forbidden(
                "a silence without a dashboard=\"...\" matcher needs admin on every dashboard".into(),
            ),
            other => other,
        }),
    }
}

/// Silences not expired for more than a day, newest first: those of dashboards the caller
/// reads, and those of every dashboard only for a caller who reads every dashboard.
pub async fn silences(State(state): State<AppState>, Extension(access): Extension<Access>) -> Json<Vec<Silence>> {
    let mut silences = state.controls.silences(state.clock.now_millis());
    silences.retain(|silence| authorize(&access, silence.dashboard().unwrap_or("*"), Action::Read).is_ok());
    Json(silences)
}

pub async fn create_silence(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    body: Bytes,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    let mut new: NewSilence = json_body(&body)?;
    let now = state.clock.now_millis();
    new.check(now).map_err(ApiError::BadRequest)?;
    authorize_silence(&access, new.dashboard())?;
    let author = author(&access, new.created_by.take());
    let made = match &state.shared_controls {
        Some(shared) => shared.add_silence(new, author, now).await.map_err(ApiError::Unavailable)?,
        None => {
            let controls = state.controls.clone();
            tokio::task::spawn_blocking(move || controls.add_silence(new, author, now, None))
                .await
                .map_err(|error| ApiError::Unavailable(error.to_string()))?
                .map_err(ApiError::Unavailable)?
        }
    };
    tracing::info!(id = made.id, by = made.created_by, "silence added");
    Ok((StatusCode::CREATED, Json(made)))
}

/// Ends a silence now.
pub async fn expire_silence(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Silence>, ApiError> {
    let now = state.clock.now_millis();
    let existing = state.controls.silences(now).into_iter().find(|silence| silence.id == id);
    let existing = existing.ok_or_else(|| ApiError::NotFound(format!("no silence {id}")))?;
    authorize_silence(&access, existing.dashboard())?;
    let controls = state.controls.clone();
    let expired = tokio::task::spawn_blocking(move || controls.expire_silence(id, now))
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?
        .map_err(ApiError::Unavailable)?;
    let expired = expired.ok_or_else(|| ApiError::NotFound(format!("no silence {id}")))?;
    if let Some(shared) = &state.shared_controls {
        shared.silence_changed(&expired).await.map_err(ApiError::Unavailable)?;
    }
    Ok(Json(expired))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    dashboard: String,
    rule: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    by: Option<String>,
}

/// "I'm on it": stops the alert's repeats until its state changes.
pub async fn ack(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    body: Bytes,
) -> Result<(StatusCode, Json<Ack>), ApiError> {
    let request: AckRequest = json_body(&body)?;
    authorize(&access, &request.dashboard, Action::Control)?;
    let active = state.broker.active_alerts(&request.dashboard).await?;
    let change = active.into_iter().find(|change| change.rule == request.rule).ok_or_else(|| {
        ApiError::NotFound(format!("no active alert '{}' on dashboard '{}'", request.rule, request.dashboard))
    })?;
    let ack = Ack {
        dashboard: request.dashboard,
        rule: request.rule,
        state: change.state,
        severity: change.severity,
        since: change.since,
        by: author(&access, request.by),
        comment: request.comment,
        at: state.clock.now_millis(),
    };
    let (controls, kept) = (state.controls.clone(), ack.clone());
    tokio::task::spawn_blocking(move || controls.ack(kept))
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?
        .map_err(ApiError::BadRequest)?;
    if let Some(shared) = &state.shared_controls {
        shared.acked(&ack).await.map_err(ApiError::Unavailable)?;
    }
    tracing::info!(dashboard = ack.dashboard, rule = ack.rule, by = ack.by, "alert acked");
    Ok((StatusCode::CREATED, Json(ack)))
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
    ApiQuery(params): ApiQuery<HistoryParams>,
    Extension(access): Extension<Access>,
) -> Result<Json<Vec<RecordedChange>>, ApiError> {
    authorize(&access, &params.dashboard, Action::Read)?;
    let Some(store) = state.store.clone() else {
        return Err(ApiError::Unavailable("alert history is not kept: the server runs with --persist false".into()));
    };
    let (from, to) = time_range(params.from, params.to, state.clock.now_millis(), 86_400_000)?;
    let dashboard = params.dashboard;
    let read = tokio::task::spawn_blocking(move || store.readers().alert_history(&dashboard, from, to, MAX_HISTORY));
    let changes = read
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?
        .map_err(|error| ApiError::Unavailable(format!("alert history unreadable: {error}")))?;
    Ok(Json(changes))
}

/// The rules of the dashboards the credential covers, with their thresholds.
pub async fn rules(State(state): State<AppState>, Extension(access): Extension<Access>) -> Json<Vec<RuleSummary>> {
    let visible = state.settings.alerts.iter().filter(|rule| authorize(&access, &rule.dashboard, Action::Read).is_ok());
    Json(visible.map(|rule| rule.summary()).collect())
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
