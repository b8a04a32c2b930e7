//! `GET /api/v1/dashboards/{id}/query?q=...&from=&to=&step=&format=`: a query
//! (`model::query`) over the history tiers. The series the selector picks among the
//! dashboard's are read a step at a time (a gauge's average over the step, a series read as a
//! rate its bucket's `rate`), and each step's values go through the same evaluation the browser
//! runs over the live stream. `format=csv` answers `text/csv`, as the history API does.

use super::dashboards::{history_span, Span};
use crate::model::{
    csv,
    query::{evaluate, Input, Query},
};
use crate::protocol::{series::SeriesKey, Millis, QueryAnswer, QuerySeries, SeriesKind};
use crate::server::{
    auth::{authorize, Access, Action},
    http::{ApiError, ApiPath, ApiQuery},
    state::AppState,
    store::history::HistoryQuery,
};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Series one query may read at most (each is a read of the history tiers).
pub const MAX_QUERY_SERIES: usize = 2_000;

#[derive(Deserialize)]
pub struct QueryParams {
    q: String,
    from: Option<Millis>,
    to: Option<Millis>,
    step: Option<String>,
    format: Option<String>,
}

pub async fn query(
    State(state): State<AppState>,
    ApiPath(dashboard): ApiPath<String>,
    ApiQuery(params): ApiQuery<QueryParams>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    authorize(&access, &dashboard, Action::Read)?;
    let csv = wants_csv(params.format.as_deref())?;
    let query = Query::parse(&params.q).map_err(|error| ApiError::BadRequest(format!("query {error}")))?;
    let Span { from, to, step_ms, tier } = history_span(&state, params.from, params.to, params.step.as_deref())?;
    let Some(store) = state.store.clone() else {
        return Err(ApiError::Unavailable("history is not kept: the server runs with --persist false".into()));
    };
    // The dashboard's series the selector picks, each with how the query reads it.
    let selector = query.selector();
    let selected: Vec<(SeriesKey, bool)> = state
        .broker
        .definitions(&dashboard)
        .await?
        .into_iter()
        .filter_map(|definition| {
            let key = SeriesKey::parse(&definition.name).ok()?;
            let rates = query.rates(definition.kind == SeriesKind::Counter);
            selector.matches(&key.family, &key.labels).then_some((key, rates))
        })
        .collect();
    if selected.len() > MAX_QUERY_SERIES {
        return Err(ApiError::BadRequest(format!(
            "the query's selector picks {} series; at most {MAX_QUERY_SERIES}: narrow it with labels",
            selected.len()
        )));
    }
    store.merged(&dashboard).await;
    let reads: Vec<HistoryQuery> = selected
        .iter()
        .map(|(key, rates)| HistoryQuery {
            dashboard: dashboard.clone(),
            metric: key.to_string(),
            from,
            to,
            step_ms,
            tier,
            counter: *rates,
        })
        .collect();
    let read = tokio::task::spawn_blocking(move || {
        reads.iter().map(|read| store.readers().history(read)).collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|error| ApiError::Unavailable(format!("history read failed: {error}")))?;
    let stored = read.map_err(|error| {
        tracing::error!(%error, "query: history read failed");
        ApiError::Unavailable(error.to_string())
    })?;
    // Each step's values, by series.
    let mut steps: BTreeMap<Millis, Vec<(usize, f64)>> = BTreeMap::new();
    for (index, buckets) in stored.into_iter().enumerate() {
        let rates = selected[index].1;
        for bucket in buckets.into_iter().flatten() {
            let value = if rates { bucket.rate } else { Some(bucket.avg) };
            if let Some(value) = value {
                steps.entry(bucket.ts).or_default().push((index, value));
            }
        }
    }
    let mut series: BTreeMap<String, QuerySeries> = BTreeMap::new();
    for (ts, values) in steps {
        let inputs: Vec<Input<'_>> =
            values.iter().map(|&(index, value)| Input { key: &selected[index].0, value }).collect();
        for output in evaluate(&query, &inputs) {
            let entry = series.entry(output.key.clone()).or_insert_with(|| QuerySeries {
                key: output.key,
                labels: output.labels,
                points: Vec::new(),
            });
            entry.points.push((ts, output.value));
        }
    }
    let answer =
        QueryAnswer { dashboard, query: query.to_string(), from, to, step_ms, series: series.into_values().collect() };
    if csv {
        let table =
            csv::series_table(answer.series.iter().map(|series| (series.key.as_str(), series.points.as_slice())));
        return Ok(csv_response(table));
    }
    Ok(Json(answer).into_response())
}

/// Whether `format` asks for CSV (`format=csv`) rather than JSON (none, or `json`).
pub fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!("format '{other}': json or csv"))),
    }
}

pub fn csv_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}
