//! `POST /api/v1/write`: Prometheus remote write, 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`, its symbol table and metadata), told apart by
//! `Content-Type`'s `proto=`, in snappy blocks. Samples go to the dashboard `?dashboard=` names,
//! or their `job` label makes (that label is then not kept: every series of the dashboard would
//! carry it), or `prometheus`; `prometheus::convert` makes them series.
//!
//! Answers as the specification says: `204` when everything was written; `400` (never retried)
//! for what will never be taken, including a partial write (the rest applied, the message
//! saying how many samples were refused and why); `413` past `--max-ingest-bytes` inflated;
//! `415` for another content type or encoding; `503` (retried) when the store cannot write.
//! 2.0's answers carry `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`.
//! Native histograms are not taken (refused, counted in the message).

use super::{
    apply,
    prometheus::{self, Destination, FamilyTypes, MetricType, Sample},
    Applied, DashboardParam, IngestState, Producer,
};
use crate::protocol::{dashboard_id_from, ProducerKind};
use crate::server::{auth::Access, broker::Admission, http::ApiError};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Query, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use prost::Message;
use std::collections::BTreeMap;

/// Dashboard of samples without `?dashboard=` or a `job`.
const DEFAULT_DASHBOARD: &str = "prometheus";

/// `prometheus.WriteRequest` (remote write 1.0, `prompb/remote.proto` and `types.proto`).
pub mod v1 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        /// UNKNOWN 0, COUNTER 1, GAUGE 2, HISTOGRAM 3, GAUGEHISTOGRAM 4, SUMMARY 5, INFO 6, STATESET 7.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        #[prost(string, tag = "4")]
        pub help: String,
        #[prost(string, tag = "5")]
        pub unit: String,
    }
}

/// `io.prometheus.write.v2.Request` (remote write 2.0, `prompb/io/prometheus/write/v2/types.proto`).
pub mod v2 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        /// Every string the request uses, referred to by index; the first is "".
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Name and value references, alternating.
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<super::v1::Sample>,
        /// Native histograms: counted, not taken.
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<Histogram>,
        #[prost(message, repeated, tag = "4")]
        pub exemplars: Vec<Exemplar>,
        #[prost(message, optional, tag = "5")]
        pub metadata: Option<Metadata>,
        #[prost(int64, tag = "6")]
        pub created_timestamp: i64,
    }

    /// Only counted: its fields are not read.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }

    /// Only counted: exemplars are not kept.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(double, tag = "2")]
        pub value: f64,
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metadata {
        /// UNSPECIFIED 0, COUNTER 1, GAUGE 2, HISTOGRAM 3, GAUGEHISTOGRAM 4, SUMMARY 5, INFO 6, STATESET 7.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        #[prost(uint32, tag = "3")]
        pub help_ref: u32,
        #[prost(uint32, tag = "4")]
        pub unit_ref: u32,
    }
}

/// Both versions' metric type numbers.
fn metric_type(number: i32) -> Option<MetricType> {
    match number {
        1 => Some(MetricType::Counter),
        2 => Some(MetricType::Gauge),
        3 => Some(MetricType::Histogram),
        5 => Some(MetricType::Summary),
        4 | 6 | 7 => Some(MetricType::Untyped),
        _ => None,
    }
}

/// Which message a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// From `Content-Type`: `application/x-protobuf`, with `proto=` naming the message or not
    /// (1.0 then).
    fn of(headers: &HeaderMap) -> Result<Version, String> {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
        let mut parts = content_type.split(';').map(str::trim);
        if !parts.next().unwrap_or("").eq_ignore_ascii_case("application/x-protobuf") {
            return Err(format!("Content-Type '{content_type}' is not application/x-protobuf"));
        }
        match parts.find_map(|part| part.strip_prefix("proto=")) {
            None | Some("prometheus.WriteRequest") => Ok(Version::V1),
            Some("io.prometheus.write.v2.Request") => Ok(Version::V2),
            Some(other) => Err(format!("proto={other} is not a remote write message this server reads")),
        }
    }
}

/// What a request wrote, for 2.0's headers.
#[derive(Default)]
struct Written {
    samples: usize,
    histograms: usize,
    exemplars: usize,
}

fn answer(status: StatusCode, version: Version, written: &Written, message: String) -> Response {
    let mut response = (status, message).into_response();
    if version == Version::V2 {
        let headers = response.headers_mut();
        for (name, count) in [
            ("x-prometheus-remote-write-samples-written", written.samples),
            ("x-prometheus-remote-write-histograms-written", written.histograms),
            ("x-prometheus-remote-write-exemplars-written", written.exemplars),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(count));
        }
    }
    response
}

/// `POST /api/v1/write`.
pub async fn write(
    State(state): State<IngestState>,
    Query(params): Query<DashboardParam>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let version = match Version::of(&headers) {
        Ok(version) => version,
        Err(message) => return (StatusCode::UNSUPPORTED_MEDIA_TYPE, message).into_response(),
    };
    let refuse = |status, message: String| answer(status, version, &Written::default(), message);
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|value| value.to_str().ok()).unwrap_or("");
    if !encoding.eq_ignore_ascii_case("snappy") {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Content-Encoding '{encoding}' is not snappy"));
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refuse(rejection.status(), rejection.body_text()),
    };
    let limit = state.max_ingest_bytes;
    match snap::raw::decompress_len(&body) {
        Ok(length) if length > limit => {
            let message = format!("{length} bytes inflated; the limit is {limit} (--max-ingest-bytes)");
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, message);
        }
        Ok(_) => {}
        Err(error) => return refuse(StatusCode::BAD_REQUEST, format!("not a snappy block: {error}")),
    }
    let inflated = match snap::raw::Decoder::new().decompress_vec(&body) {
        Ok(inflated) => inflated,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, format!("not a snappy block: {error}")),
    };
    let dashboard = match params.checked() {
        Ok(dashboard) => dashboard,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let types = &state.producers.family_types;
    let decoded = match version {
        Version::V1 => v1::WriteRequest::decode(&inflated[..]).map(|request| samples_of_v1(request, types)),
        Version::V2 => v2::Request::decode(&inflated[..]).map(|request| samples_of_v2(request, types)),
    };
    let (samples, mut refused, mut reasons, exemplars) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(message)) => return refuse(StatusCode::BAD_REQUEST, message),
        Err(error) => {
            return refuse(StatusCode::BAD_REQUEST, format!("not a remote write {version:?} message: {error}"))
        }
    };
    let offered = samples.len();
    // In a block: what it borrows is not `Send`, and must not live across the await.
    let publications = {
        let by_job = |labels: &BTreeMap<String, String>| {
            Some(
                labels
                    .get("job")
                    .and_then(|job| dashboard_id_from(job))
                    .unwrap_or_else(|| DEFAULT_DASHBOARD.to_owned()),
            )
        };
        let forced = |_: &BTreeMap<String, String>| dashboard.clone();
        let types = |family: &str| types.get(family);
        let destination = Destination {
            dashboard: if dashboard.is_some() { &forced } else { &by_job },
            drop_label: if dashboard.is_some() { None } else { Some("job") },
            types: &types,
            memory: &state.producers.memory,
            now: state.clock.now_millis(),
        };
        let mut converted = prometheus::convert(samples, &destination);
        refused += converted.rejected;
        reasons.append(&mut converted.reasons);
        converted.take_publications()
    };
    match apply(&state, Producer::Client(&access, ProducerKind::RemoteWrite), publications, Admission::Partial).await {
        Ok(Applied { refused: 0, .. }) => {}
        Ok(Applied { refused: past_limit, .. }) => {
            refused += past_limit;
            reasons.push(format!(
                "{past_limit} new series past the dashboard's limit of {} (--max-metrics-per-dashboard)",
                state.max_series_per_dashboard
            ));
        }
        Err(error) => {
            let error = ApiError::from(error);
            return refuse(error.status(), error.to_string());
        }
    }
    // Samples, not series values: one series may carry several samples in a request.
    let written = Written { samples: offered.saturating_sub(refused).min(offered), histograms: 0, exemplars };
    if refused > 0 {
        let message = format!("{refused} of {offered} samples not written: {}", reasons.join("; "));
        return answer(StatusCode::BAD_REQUEST, version, &written, message);
    }
    answer(StatusCode::NO_CONTENT, version, &written, String::new())
}

/// What a request carries, decoded: its samples; the samples and histograms refused, and why;
/// exemplars (counted as written: accepted and not kept).
type Decoded = (Vec<Sample>, usize, Vec<String>, usize);

fn samples_of_v1(request: v1::WriteRequest, types: &FamilyTypes) -> Result<Decoded, String> {
    for metadata in &request.metadata {
        if let Some(kind) = metric_type(metadata.r#type) {
            types.remember(&metadata.metric_family_name, kind);
        }
    }
    let mut samples = Vec::new();
    for series in request.timeseries {
        let mut labels: BTreeMap<String, String> =
            series.labels.into_iter().map(|label| (label.name, label.value)).collect();
        let Some(name) = labels.remove("__name__") else {
            return Err("a series without __name__".into());
        };
        samples.extend(series.samples.iter().map(|sample| Sample {
            name: name.clone(),
            labels: labels.clone(),
            value: sample.value,
            ts: Some(sample.timestamp),
        }));
    }
    Ok((samples, 0, Vec::new(), 0))
}

fn samples_of_v2(request: v2::Request, types: &FamilyTypes) -> Result<Decoded, String> {
    let symbol = |index: u32| {
        request
            .symbols
            .get(index as usize)
            .ok_or_else(|| format!("symbol {index} past the {} symbols", request.symbols.len()))
    };
    let (mut samples, mut histograms, mut exemplars) = (Vec::new(), 0, 0);
    for series in &request.timeseries {
        if series.labels_refs.len() % 2 == 1 {
            return Err("labels_refs of odd length".into());
        }
        let mut labels = BTreeMap::new();
        for pair in series.labels_refs.chunks(2) {
            labels.insert(symbol(pair[0])?.clone(), symbol(pair[1])?.clone());
        }
        let Some(name) = labels.remove("__name__") else {
            return Err("a series without __name__".into());
        };
        if let Some(kind) = series.metadata.as_ref().and_then(|metadata| metric_type(metadata.r#type)) {
            types.remember(&name, kind);
        }
        histograms += series.histograms.len();
        exemplars += series.exemplars.len();
        samples.extend(series.samples.iter().map(|sample| Sample {
            name: name.clone(),
            labels: labels.clone(),
            value: sample.value,
            ts: Some(sample.timestamp),
        }));
    }
    let reasons = match histograms {
        0 => Vec::new(),
        _ => vec![format!("{histograms} native histogram samples (not supported: send classic histograms)")],
    };
    Ok((samples, histograms, reasons, exemplars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_told_by_its_content_type() {
        let of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            Version::of(&headers)
        };
        assert_eq!(of("application/x-protobuf"), Ok(Version::V1));
        assert_eq!(of("application/x-protobuf;proto=prometheus.WriteRequest"), Ok(Version::V1));
        assert_eq!(of("application/x-protobuf; proto=io.prometheus.write.v2.Request"), Ok(Version::V2));
        assert!(of("application/x-protobuf;proto=other.Message").is_err());
        assert!(of("application/json").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Arbitrary bytes never panic either decoder.
            #[test]
            fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
                let (types, memory) = (FamilyTypes::default(), crate::server::ingest::memory::SeriesMemory::default());
                let dashboard = |_: &BTreeMap<String, String>| Some("d".to_owned());
                let no_types = |_: &str| None;
                let destination = Destination { dashboard: &dashboard, drop_label: None, types: &no_types, memory: &memory, now: 0 };
                let decoded = [
                    v1::WriteRequest::decode(&body[..]).ok().map(|request| samples_of_v1(request, &types)),
                    v2::Request::decode(&body[..]).ok().map(|request| samples_of_v2(request, &types)),
                ];
                for (samples, ..) in decoded.into_iter().flatten().flatten() {
                    for publication in prometheus::convert(samples, &destination).take_publications() {
                        prop_assert!(publication.metrics.values().all(|value| value.is_finite()));
                    }
                }
                let _ = snap::raw::Decoder::new().decompress_vec(&body);
            }
        }
    }
}
