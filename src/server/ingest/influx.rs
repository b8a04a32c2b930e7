//! `POST /api/v2/write?bucket=<dashboard>&precision=ns|us|ms|s`: InfluxDB v2 line protocol, so
//! Telegraf and the influxdb-client libraries push unchanged (gzip bodies included), answered
//! the way InfluxDB answers: 204, or `{"code":..., "message":..., "line":N}`.
//!
//! How points become metrics of the `bucket` dashboard:
//! - metric name = measurement, then the tag values in tag-key order, then the field key, joined
//!   by `.`, with every character outside `[A-Za-z0-9_]` turned into `_` (the Graphite template
//!   Telegraf documents): `cpu,host=web-01,cpu=cpu-total usage_idle=97.5` becomes
//!   `cpu.cpu_total.web_01.usage_idle`. Tags are part of the identity, so each series is its
//!   own metric; the `--max-metrics-per-dashboard` limit bounds how many.
//! - with `labels=true` (PROTOCOL.md 1.2), a point is a labelled series instead, as Telegraf's
//!   Prometheus output names it: family = measurement `_` field key, labels = the tags
//!   (`cpu,host=web-01 usage_idle=97.5` becomes `cpu_usage_idle{host="web-01"}`); characters a
//!   family or label name cannot hold become `_`, label values stay as written.
//! - floats as they are; integers and unsigned integers as f64 (exact up to 2^53); booleans as
//!   1 and 0; string fields are skipped (they cannot be charted) and counted in
//!   `livedash_ingest_skipped_string_fields_total`.
//! - every distinct timestamp becomes one update, in time order; points without a timestamp
//!   take the server's time.

use super::{apply, line_protocol, IngestError, IngestState, Producer};
use crate::protocol::{
    check_dashboard_id, is_valid_metric_name, series::SeriesKey, ErrorCode, Metrics, Millis, ProducerKind,
};
use crate::server::{
    auth::Access,
    broker::{Admission, Publication},
    http::{error::ErrorLabel, ApiError},
};
use axum::{
    body::Bytes,
    extract::{
        rejection::{BytesRejection, QueryRejection},
        FromRequestParts, State,
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension, Json,
};
use line_protocol::{FieldValue, Point};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Deserialize)]
pub struct WriteParams {
    bucket: Option<String>,
    precision: Option<String>,
    /// `labels=true`: tags become labels of a series (`Naming::Labelled`).
    #[serde(default)]
    labels: bool,
}

/// How a point's measurement, tags and field become a series key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Naming {
    /// Version 1's names: `measurement.tagvalue....field`.
    Flattened,
    /// `measurement_field{tag="value",...}`.
    Labelled,
}

/// Timestamp units of a write request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
}

impl Precision {
    fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("ns") => Ok(Precision::Nanoseconds),
            Some("us") => Ok(Precision::Microseconds),
            Some("ms") => Ok(Precision::Milliseconds),
            Some("s") => Ok(Precision::Seconds),
            Some(other) => Err(format!("precision '{other}' is not one of ns, us, ms, s")),
        }
    }

    fn to_millis(self, timestamp: i64) -> Option<Millis> {
        match self {
            Precision::Nanoseconds => Some(timestamp.div_euclid(1_000_000)),
            Precision::Microseconds => Some(timestamp.div_euclid(1_000)),
            Precision::Milliseconds => Some(timestamp),
            Precision::Seconds => timestamp.checked_mul(1_000),
        }
    }
}

/// An InfluxDB-style error answer, `{"code": ..., "message": ..., "line": N}`, counted in
/// `/metrics` under the protocol code of the same case (`ApiError::code`).
pub struct WriteError {
    status: StatusCode,
    /// InfluxDB's code: `invalid`, `unauthorized`, `request too large`, ...
    code: &'static str,
    label: ErrorCode,
    message: String,
    line: Option<usize>,
}

impl WriteError {
    fn invalid(message: impl Into<String>, line: Option<usize>) -> Self {
        let message = message.into();
        WriteError { status: StatusCode::BAD_REQUEST, code: "invalid", label: ErrorCode::BadRequest, message, line }
    }
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(line) = self.line {
            body["line"] = line.into();
        }
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorLabel(self.label.as_str()));
        response
    }
}

/// The same cases as every other endpoint, in InfluxDB's words.
impl From<ApiError> for WriteError {
    fn from(error: ApiError) -> Self {
        let code = match error.code() {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TooLarge if error.status() == StatusCode::PAYLOAD_TOO_LARGE => "request too large",
            ErrorCode::TooLarge => "unprocessable entity",
            ErrorCode::Unavailable | ErrorCode::RateLimited => "unavailable",
            _ => "invalid",
        };
        WriteError { status: error.status(), code, label: error.code(), message: error.to_string(), line: None }
    }
}

impl From<IngestError> for WriteError {
    fn from(error: IngestError) -> Self {
        ApiError::from(error).into()
    }
}

/// A query string that does not read (`?precision=` twice, ...), in InfluxDB's shape.
impl From<QueryRejection> for WriteError {
    fn from(rejection: QueryRejection) -> Self {
        WriteError::invalid(rejection.body_text(), None)
    }
}

/// How the gate refuses a line protocol write (`auth::gate::Policy::Write`): InfluxDB's
/// clients read InfluxDB's error shape.
pub fn refusal(error: ApiError) -> Response {
    WriteError::from(error).into_response()
}

/// `/api/v2/write`'s query, refusing in InfluxDB's shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(WriteError))]
pub struct WriteQuery<T>(T);

pub async fn write(
    State(state): State<IngestState>,
    WriteQuery(params): WriteQuery<WriteParams>,
    Extension(access): Extension<Access>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&state, params, &access, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle(
    state: &IngestState,
    params: WriteParams,
    access: &Access,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), WriteError> {
    let body = body.map_err(ApiError::from)?;
    let bucket = params.bucket.ok_or_else(|| WriteError::invalid("bucket is required", None))?;
    check_dashboard_id(&bucket).map_err(|error| WriteError::invalid(format!("bucket {error}"), None))?;
    let precision =
        Precision::parse(params.precision.as_deref()).map_err(|reason| WriteError::invalid(reason, None))?;
    let text =
        std::str::from_utf8(&body).map_err(|error| WriteError::invalid(format!("body is not UTF-8: {error}"), None))?;
    let points = line_protocol::parse(text)
        .map_err(|error| WriteError::invalid(format!("unable to parse: {}", error.reason), Some(error.line)))?;
    let naming = if params.labels { Naming::Labelled } else { Naming::Flattened };
    let converted = to_publications(&bucket, &points, precision, naming, state.clock.now_millis())
        .map_err(|(line, reason)| WriteError::invalid(reason, Some(line)))?;
    state.telemetry.skipped_string_fields.inc_by(converted.skipped_strings as u64);
    apply(state, Producer::Client(access, ProducerKind::LineProtocol), converted.publications, Admission::Whole)
        .await?;
    Ok(())
}

/// A request's points as updates of one dashboard.
#[derive(Debug, PartialEq)]
pub struct Converted {
    /// One per distinct timestamp, oldest first.
    pub publications: Vec<Publication>,
    pub skipped_strings: usize,
}

/// Turns numbered points into updates of `dashboard`, or names the first line that cannot be one.
pub fn to_publications(
    dashboard: &str,
    points: &[(usize, Point<'_>)],
    precision: Precision,
    naming: Naming,
    now: Millis,
) -> Result<Converted, (usize, String)> {
    let mut by_time: BTreeMap<Millis, Metrics> = BTreeMap::new();
    let mut skipped_strings = 0;
    for &(line, ref point) in points {
        let ts = match point.timestamp {
            Some(timestamp) => precision
                .to_millis(timestamp)
                .filter(|&ts| ts >= 0)
                .ok_or_else(|| (line, format!("timestamp {timestamp} is out of range")))?,
            None => now,
        };
        let prefix = match naming {
            Naming::Flattened => series_prefix(point),
            Naming::Labelled => {
                let mut family = String::new();
                push_sanitized(&mut family, &point.measurement);
                family
            }
        };
        let labels = match naming {
            Naming::Flattened => BTreeMap::new(),
            Naming::Labelled => point.tags.iter().map(|(name, value)| (label_name(name), value.to_string())).collect(),
        };
        for (key, value) in &point.fields {
            let number = match value {
                FieldValue::Float(value) => *value,
                FieldValue::Integer(value) => *value as f64,
                FieldValue::Unsigned(value) => *value as f64,
                FieldValue::Boolean(value) => f64::from(u8::from(*value)),
                FieldValue::String(_) => {
                    skipped_strings += 1;
                    continue;
                }
            };
            let mut name = String::with_capacity(prefix.len() + 1 + key.len());
            name.push_str(&prefix);
            if naming == Naming::Labelled {
                name.push('_');
                push_sanitized(&mut name, key);
                let series = SeriesKey::new(&name, labels.clone()).map_err(|error| (line, error.to_string()))?;
                by_time.entry(ts).or_default().insert(series.to_string(), number);
                continue;
            }
            name.push('.');
            push_sanitized(&mut name, key);
            if !is_valid_metric_name(&name) {
                return Err((
                    line,
                    format!(
                        "metric name '{name}' (measurement, tag values, field) must start with \
                         a letter and be at most {} characters",
                        crate::protocol::MAX_NAME_LEN
                    ),
                ));
            }
            by_time.entry(ts).or_default().insert(name, number);
        }
    }
    let publications = by_time.into_iter().map(|(ts, metrics)| Publication::new(dashboard, ts, metrics)).collect();
    Ok(Converted { publications, skipped_strings })
}

/// `measurement.tagvalue1.tagvalue2` with tags in key order.
fn series_prefix(point: &Point<'_>) -> String {
    let mut tags: Vec<_> = point.tags.iter().collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let mut prefix = String::new();
    push_sanitized(&mut prefix, &point.measurement);
    for (_, value) in tags {
        prefix.push('.');
        push_sanitized(&mut prefix, value);
    }
    prefix
}

/// A tag key as a label name: characters outside `[A-Za-z0-9_.]` become `_`, and one that
/// starts with a digit gets a leading `_`.
fn label_name(tag: &str) -> String {
    let mut name = String::with_capacity(tag.len() + 1);
    if tag.starts_with(|c: char| c.is_ascii_digit()) {
        name.push('_');
    }
    name.extend(tag.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '_' }));
    name
}

/// Appends `text` with every character outside `[A-Za-z0-9_]` turned into `_` (no allocation
/// of its own: this runs for every field of every point).
fn push_sanitized(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(body: &str, precision: Precision) -> Result<Converted, (usize, String)> {
        to_publications("ops", &line_protocol::parse(body).unwrap(), precision, Naming::Flattened, 99_000)
    }

    #[test]
    fn with_labels_a_point_is_a_labelled_series_named_as_telegraf_names_it() {
        let body = "cpu,host=web-01,cpu=cpu-total usage_idle=97.5,usage_user=1i 1700000000000000000
                    http,status-code=500 requests_total=3i 1700000000000000000";
        let points = line_protocol::parse(body).unwrap();
        let converted = to_publications("ops", &points, Precision::Nanoseconds, Naming::Labelled, 0).unwrap();
        let names: Vec<&String> = converted.publications[0].metrics.keys().collect();
        assert_eq!(
            names,
            [
                r#"cpu_usage_idle{cpu="cpu-total",host="web-01"}"#,
                r#"cpu_usage_user{cpu="cpu-total",host="web-01"}"#,
                r#"http_requests_total{status_code="500"}"#,
            ]
        );
        let long = format!("m,tag={} f=1", "v".repeat(300));
        let points = line_protocol::parse(&long).unwrap();
        let error = to_publications("ops", &points, Precision::Nanoseconds, Naming::Labelled, 0).unwrap_err();
        assert!(error.1.contains("longer than 256"), "{error:?}");
    }

    #[test]
    fn names_follow_measurement_tag_values_field() {
        let converted = convert(
            "cpu,host=web-01,cpu=cpu-total usage_idle=97.5,usage_user=1i 1700000000000000000\n\
             disk,path=/var used=5u,ok=true,state=\"fine\" 1700000000000000000",
            Precision::Nanoseconds,
        )
        .unwrap();
        assert_eq!(converted.skipped_strings, 1);
        assert_eq!(converted.publications.len(), 1, "same timestamp, one update");
        let update = &converted.publications[0];
        assert_eq!(update.ts, 1_700_000_000_000);
        let names: Vec<_> = update.metrics.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["cpu.cpu_total.web_01.usage_idle", "cpu.cpu_total.web_01.usage_user", "disk._var.ok", "disk._var.used"]
        );
        assert_eq!(update.metrics["disk._var.ok"], 1.0);
        assert_eq!(update.metrics["disk._var.used"], 5.0);
    }

    #[test]
    fn timestamps_follow_the_precision_and_group_in_time_order() {
        let body = "m v=2 20\nm v=1 10\nm v=3";
        let seconds = convert(body, Precision::Seconds).unwrap().publications;
        let times: Vec<_> = seconds.iter().map(|p| p.ts).collect();
        assert_eq!(times, [10_000, 20_000, 99_000], "oldest first; no timestamp means now");
        let micros = convert("m v=1 1500000", Precision::Microseconds).unwrap().publications;
        assert_eq!(micros[0].ts, 1_500);
        assert_eq!(convert("m v=1 1500", Precision::Milliseconds).unwrap().publications[0].ts, 1_500);
    }

    #[test]
    fn bad_points_name_their_line() {
        let (line, reason) = convert("m v=1 1\n9m v=1 1", Precision::Seconds).unwrap_err();
        assert_eq!(line, 2);
        assert!(reason.contains("must start with a letter"), "{reason}");
        let (line, reason) = convert("m v=1 -5", Precision::Seconds).unwrap_err();
        assert_eq!(line, 1);
        assert!(reason.contains("out of range"), "{reason}");
        assert!(convert("m v=1 9223372036854775807", Precision::Seconds).is_err());
    }

    #[test]
    fn precision_names() {
        assert_eq!(Precision::parse(None), Ok(Precision::Nanoseconds));
        assert_eq!(Precision::parse(Some("s")), Ok(Precision::Seconds));
        assert!(Precision::parse(Some("m")).unwrap_err().contains("ns, us, ms, s"));
    }
}
