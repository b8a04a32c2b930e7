//! `POST /v1/metrics`: OpenTelemetry's OTLP/HTTP, protobuf or JSON by `Content-Type` and
//! answered in kind (gzip inflated before, as every ingest body). Each resource's metrics go to
//! one dashboard, named by its `service.name` (`--otlp-dashboard-attribute`, or `?dashboard=`).
//!
//! What each point becomes (docs/protocol.md, "OpenTelemetry"):
//! - gauge: a gauge series;
//! - sum: cumulative and monotonic, a counter (its raw total); delta, added into a total kept
//!   here (a counter when monotonic, otherwise a gauge); cumulative and not monotonic (an
//!   up-down counter), a gauge;
//! - histogram and exponential histogram: `<name>_count` and `<name>_sum` (counters) and
//!   `<name>{quantile=...}` gauges estimated from the buckets counted since the previous point
//!   (`model::histogram`);
//! - summary: its quantiles as `<name>{quantile=...}` gauges, `<name>_count` and `<name>_sum`.
//!
//! Labels are the point's attributes, plus the resource's `service.instance.id` and `host.name`
//! when it has them: two processes of one service must not write one series (their totals
//! would interleave into nonsense rates). Other resource and scope attributes (the SDK's
//! name and version, the instrumentation scope) describe the producer, not the series, and are
//! dropped. A point that cannot be taken (a name or label past the rules, a value that is not
//! finite, a series past the dashboard's limit) is left out and counted in `partial_success`;
//! the rest is applied.

use super::{apply, memory::SeriesMemory, Applied, Converted, DashboardParam, IngestState, Producer};
use crate::model::histogram::{Buckets, SHOWN_QUANTILES};
use crate::protocol::{
    dashboard_id_from, series::label_name_from, series::SeriesKey, Millis, ProducerKind, SeriesKind,
};
use crate::server::{auth::Access, broker::Admission, http::ApiError};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use opentelemetry_proto::tonic::{
    collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse},
    common::v1::{any_value, AnyValue, KeyValue},
    metrics::v1::{
        exponential_histogram_data_point::Buckets as ExponentialBuckets, metric::Data, number_data_point,
        AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
    },
};
use prost::Message;
use std::collections::BTreeMap;

/// The resource attributes kept as labels, and why: see the module's doc.
const KEPT_RESOURCE_ATTRIBUTES: [&str; 2] = ["service.instance.id", "host.name"];
/// Dashboard of a resource without the attribute that names it.
const UNNAMED_DASHBOARD: &str = "otel";

/// How the request was encoded, and so how it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Option<Encoding> {
        let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP error answer (its `details` never sent).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An answer in the request's encoding.
fn answer(encoding: Encoding, status: StatusCode, protobuf: Vec<u8>, json: String) -> Response {
    let body = match encoding {
        Encoding::Protobuf => protobuf,
        Encoding::Json => json.into_bytes(),
    };
    (status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
}

/// An OTLP error: `status` with a `Status` saying why (gRPC code 3, invalid argument, for a
/// client's mistake; 14, unavailable, for the server's, which exporters retry).
fn failure(encoding: Encoding, status: StatusCode, message: String) -> Response {
    let code = if status.is_server_error() { 14 } else { 3 };
    let body = Status { code, message };
    answer(encoding, status, body.encode_to_vec(), serde_json::to_string(&body).expect("strings serialize"))
}

/// `POST /v1/metrics`.
pub async fn export(
    State(state): State<IngestState>,
    Query(params): Query<DashboardParam>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(encoding) = Encoding::of(&headers) else {
        let message = "Content-Type must be application/x-protobuf or application/json".to_owned();
        return failure(Encoding::Json, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return failure(encoding, rejection.status(), rejection.body_text()),
    };
    let request = match encoding {
        Encoding::Protobuf => ExportMetricsServiceRequest::decode(body).map_err(|error| error.to_string()),
        Encoding::Json => serde_json::from_slice(&body).map_err(|error| error.to_string()),
    };
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return failure(encoding, StatusCode::BAD_REQUEST, format!("not an OTLP metrics request: {error}"))
        }
    };
    // Every resource into this dashboard, whatever its attributes say.
    let dashboard = match params.checked() {
        Ok(dashboard) => dashboard,
        Err(message) => return failure(encoding, StatusCode::BAD_REQUEST, message),
    };
    let naming = Naming { attribute: &state.producers.otlp_dashboard_attribute, dashboard: dashboard.as_deref() };
    let mut converted = convert(&request, &naming, &state.producers.memory, state.clock.now_millis());
    let publications = converted.take_publications();
    let applied = apply(&state, Producer::Client(&access, ProducerKind::Otlp), publications, Admission::Partial).await;
    match applied {
        Ok(Applied { refused, .. }) => {
            if refused > 0 {
                converted.rejected += refused;
                converted.reasons.push(format!(
                    "{refused} new series past the dashboard's limit of {} (--max-metrics-per-dashboard)",
                    state.max_series_per_dashboard
                ));
            }
        }
        // A store that cannot write answers 503, which exporters retry.
        Err(error) => {
            let error = ApiError::from(error);
            return failure(encoding, error.status(), error.to_string());
        }
    }
    let partial_success = (converted.rejected > 0).then(|| ExportMetricsPartialSuccess {
        rejected_data_points: converted.rejected as i64,
        error_message: converted.reasons.join("; "),
    });
    // Fully accepted: an empty message (`{}`, not `{"partialSuccess":null}`).
    let json = match &partial_success {
        Some(partial) => serde_json::json!({ "partialSuccess": partial }).to_string(),
        None => "{}".to_owned(),
    };
    let response = ExportMetricsServiceResponse { partial_success };
    answer(encoding, StatusCode::OK, response.encode_to_vec(), json)
}

/// Where a resource's points go.
pub struct Naming<'a> {
    /// The resource attribute naming the dashboard (`service.name`).
    pub attribute: &'a str,
    /// `?dashboard=`: every resource into it.
    pub dashboard: Option<&'a str>,
}

/// Converts a request; points that cannot be taken are counted in `rejected`.
pub fn convert(
    request: &ExportMetricsServiceRequest,
    naming: &Naming<'_>,
    memory: &SeriesMemory,
    now: Millis,
) -> Converted {
    let mut converted = Converted::default();
    for resource_metrics in &request.resource_metrics {
        let attributes = resource_metrics.resource.as_ref().map_or(&[][..], |resource| &resource.attributes[..]);
        let named_by = attributes.iter().find(|kv| kv.key == naming.attribute).map(|kv| text_of(kv.value.as_ref()));
        let dashboard = naming
            .dashboard
            .map(str::to_owned)
            .or_else(|| named_by.as_deref().and_then(dashboard_id_from))
            .unwrap_or_else(|| UNNAMED_DASHBOARD.to_owned());
        let kept: Vec<&KeyValue> =
            attributes.iter().filter(|kv| KEPT_RESOURCE_ATTRIBUTES.contains(&kv.key.as_str())).collect();
        let mut sink = Sink { dashboard: &dashboard, memory, now, converted: &mut converted };
        for metric in resource_metrics.scope_metrics.iter().flat_map(|scope| &scope.metrics) {
            let Some(data) = &metric.data else { continue };
            let name = metric.name.as_str();
            match data {
                Data::Gauge(gauge) => {
                    for point in &gauge.data_points {
                        sink.number(name, &kept, point, Kind::Gauge);
                    }
                }
                Data::Sum(sum) => {
                    let delta = sum.aggregation_temporality == AggregationTemporality::Delta as i32;
                    let kind = match (sum.is_monotonic, delta) {
                        (true, false) => Kind::Counter,
                        (true, true) => Kind::DeltaCounter,
                        (false, false) => Kind::Gauge,
                        (false, true) => Kind::DeltaGauge,
                    };
                    for point in &sum.data_points {
                        sink.number(name, &kept, point, kind);
                    }
                }
                Data::Histogram(histogram) => {
                    let delta = histogram.aggregation_temporality == AggregationTemporality::Delta as i32;
                    for point in &histogram.data_points {
                        sink.histogram(name, &kept, point, delta);
                    }
                }
                Data::ExponentialHistogram(histogram) => {
                    let delta = histogram.aggregation_temporality == AggregationTemporality::Delta as i32;
                    for point in &histogram.data_points {
                        sink.exponential(name, &kept, point, delta);
                    }
                }
                Data::Summary(summary) => {
                    for point in &summary.data_points {
                        sink.summary(name, &kept, point);
                    }
                }
            }
        }
    }
    converted
}

/// What a number point is.
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
    /// A monotonic delta sum: added into a counter.
    DeltaCounter,
    /// A non-monotonic delta sum: added into a gauge.
    DeltaGauge,
}

/// A histogram point of either shape, its buckets as explicit bounds.
struct HistogramPoint<'p> {
    attributes: &'p [KeyValue],
    time: u64,
    count: f64,
    sum: Option<f64>,
    /// `None` when its counts do not fit its bounds.
    buckets: Option<Buckets>,
}

/// Points on their way into one dashboard's updates.
struct Sink<'a> {
    dashboard: &'a str,
    memory: &'a SeriesMemory,
    now: Millis,
    converted: &'a mut Converted,
}

impl Sink<'_> {
    fn reject(&mut self, reason: String) {
        self.converted.reject(reason);
    }

    /// The series of `family` with the point's attributes and the kept resource ones.
    fn key(
        &mut self,
        family: &str,
        kept: &[&KeyValue],
        attributes: &[KeyValue],
        extra: Option<(&str, &str)>,
    ) -> Option<SeriesKey> {
        let mut labels = BTreeMap::new();
        for kv in kept.iter().copied().chain(attributes) {
            labels.insert(label_name_from(&kv.key), text_of(kv.value.as_ref()));
        }
        if let Some((name, value)) = extra {
            labels.insert(name.to_owned(), value.to_owned());
        }
        match SeriesKey::new(family, labels) {
            Ok(key) => Some(key),
            Err(error) => {
                self.reject(format!("metric '{family}': {error}"));
                None
            }
        }
    }

    fn put(&mut self, key: &SeriesKey, time_unix_nano: u64, value: f64, kind: SeriesKind) {
        let ts = if time_unix_nano == 0 { self.now } else { (time_unix_nano / 1_000_000) as Millis };
        if !self.converted.put(self.dashboard, ts, key, value, kind) {
            self.reject(format!("series '{key}': value {value} is not finite"));
        }
    }

    fn number(&mut self, family: &str, kept: &[&KeyValue], point: &NumberDataPoint, kind: Kind) {
        if no_recorded_value(point.flags) {
            return;
        }
        let Some(key) = self.key(family, kept, &point.attributes, None) else { return };
        let value = match point.value {
            Some(number_data_point::Value::AsDouble(value)) => value,
            Some(number_data_point::Value::AsInt(value)) => value as f64,
            None => return self.reject(format!("series '{key}': a point without a value")),
        };
        let (value, kind) = match kind {
            Kind::Gauge => (value, SeriesKind::Gauge),
            Kind::Counter => (value, SeriesKind::Counter),
            Kind::DeltaCounter | Kind::DeltaGauge => {
                let Some(total) = self.memory.add(self.dashboard, &key.to_string(), value) else {
                    return self.reject(format!("series '{key}': too many delta series remembered"));
                };
                let kind = if matches!(kind, Kind::DeltaCounter) { SeriesKind::Counter } else { SeriesKind::Gauge };
                (total, kind)
            }
        };
        self.put(&key, point.time_unix_nano, value, kind);
    }

    /// A histogram's count and sum (counters: totals, deltas added up) and the quantiles of
    /// the buckets counted in this interval.
    fn buckets(&mut self, family: &str, kept: &[&KeyValue], point: HistogramPoint<'_>, delta: bool) {
        let HistogramPoint { attributes, time, count, sum, buckets } = point;
        let Some(key) = self.key(family, kept, attributes, None) else { return };
        let whole = key.to_string();
        for (suffix, value) in [("_count", Some(count)), ("_sum", sum)] {
            let Some(value) = value else { continue };
            let Ok(series) = SeriesKey::new(&format!("{family}{suffix}"), key.labels.clone()) else {
                return self.reject(format!("metric '{family}{suffix}': name too long"));
            };
            let total = if delta { self.memory.add(self.dashboard, &series.to_string(), value) } else { Some(value) };
            match total {
                Some(total) => self.put(&series, time, total, SeriesKind::Counter),
                None => return self.reject(format!("series '{series}': too many delta series remembered")),
            }
        }
        let Some(buckets) = buckets else {
            return self.reject(format!("histogram '{whole}': bucket counts do not fit its bounds"));
        };
        let interval = if delta { buckets } else { self.memory.interval(self.dashboard, &whole, buckets) };
        for (quantile, label) in SHOWN_QUANTILES {
            let Some(value) = interval.quantile(quantile) else { continue };
            if let Some(series) = self.key(family, kept, attributes, Some(("quantile", label))) {
                self.put(&series, time, value, SeriesKind::Gauge);
            }
        }
    }

    fn histogram(&mut self, family: &str, kept: &[&KeyValue], point: &HistogramDataPoint, delta: bool) {
        if no_recorded_value(point.flags) {
            return;
        }
        let buckets = Buckets::new(point.explicit_bounds.clone(), point.bucket_counts.clone());
        let (attributes, time, count, sum) =
            (&point.attributes[..], point.time_unix_nano, point.count as f64, point.sum);
        self.buckets(family, kept, HistogramPoint { attributes, time, count, sum, buckets }, delta);
    }

    fn exponential(&mut self, family: &str, kept: &[&KeyValue], point: &ExponentialHistogramDataPoint, delta: bool) {
        if no_recorded_value(point.flags) {
            return;
        }
        let buckets = exponential_buckets(point);
        let (attributes, time, count, sum) =
            (&point.attributes[..], point.time_unix_nano, point.count as f64, point.sum);
        self.buckets(family, kept, HistogramPoint { attributes, time, count, sum, buckets }, delta);
    }

    fn summary(&mut self, family: &str, kept: &[&KeyValue], point: &SummaryDataPoint) {
        if no_recorded_value(point.flags) {
            return;
        }
        let Some(key) = self.key(family, kept, &point.attributes, None) else { return };
        for (suffix, value) in [("_count", point.count as f64), ("_sum", point.sum)] {
            match SeriesKey::new(&format!("{family}{suffix}"), key.labels.clone()) {
                Ok(series) => self.put(&series, point.time_unix_nano, value, SeriesKind::Counter),
                Err(error) => self.reject(format!("metric '{family}{suffix}': {error}")),
            }
        }
        for at in &point.quantile_values {
            let label = at.quantile.to_string();
            if let Some(series) = self.key(family, kept, &point.attributes, Some(("quantile", &label))) {
                self.put(&series, point.time_unix_nano, at.value, SeriesKind::Gauge);
            }
        }
    }
}

/// The data point flag saying there is no value (a stale marker).
fn no_recorded_value(flags: u32) -> bool {
    flags & 1 == 1
}

/// An exponential histogram's buckets as explicit bounds: negative buckets (largest magnitude
/// first), the zero bucket (up to its threshold), then the positive ones; each bucket `i`
/// holds `(base^i, base^(i+1)]` with `base = 2^(2^-scale)`.
fn exponential_buckets(point: &ExponentialHistogramDataPoint) -> Option<Buckets> {
    let base = 2f64.powf(2f64.powi(-point.scale));
    let empty = ExponentialBuckets::default();
    let (negative, positive) = (point.negative.as_ref().unwrap_or(&empty), point.positive.as_ref().unwrap_or(&empty));
    let mut bounds = Vec::new();
    let mut counts = Vec::new();
    for (k, &count) in negative.bucket_counts.iter().enumerate().rev() {
        bounds.push(-base.powi(negative.offset + k as i32));
        counts.push(count);
    }
    bounds.push(point.zero_threshold.max(0.0));
    counts.push(point.zero_count);
    // The first positive bucket starts at base^offset, not at the zero bucket's edge.
    let start = base.powi(positive.offset);
    if !positive.bucket_counts.is_empty() && start > point.zero_threshold.max(0.0) {
        bounds.push(start);
        counts.push(0);
    }
    for (k, &count) in positive.bucket_counts.iter().enumerate() {
        bounds.push(base.powi(positive.offset + k as i32 + 1));
        counts.push(count);
    }
    counts.push(0);
    // Bounds past f64's range, or equal after rounding, cannot be told apart.
    if bounds.iter().any(|bound| !bound.is_finite()) {
        return None;
    }
    bounds.dedup();
    Buckets::new(bounds, counts)
}

/// An attribute's value as a label value: strings as they are, numbers and booleans written
/// out, arrays and maps as JSON.
fn text_of(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(any_value::Value::BytesValue(bytes)) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Some(any_value::Value::ArrayValue(array)) => {
            let items: Vec<String> = array.values.iter().map(|item| text_of(Some(item))).collect();
            serde_json::to_string(&items).expect("strings serialize")
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let map: BTreeMap<&str, String> =
                list.values.iter().map(|kv| (kv.key.as_str(), text_of(kv.value.as_ref()))).collect();
            serde_json::to_string(&map).expect("strings serialize")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::{
        common::v1::any_value::Value as Any,
        metrics::v1::{
            metric::Data, summary_data_point::ValueAtQuantile, ExponentialHistogram, Gauge, Metric, ResourceMetrics,
            ScopeMetrics, Sum, Summary,
        },
        resource::v1::Resource,
    };

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(Any::StringValue(value.into())) }),
            ..Default::default()
        }
    }

    fn request(service: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        let resource = Resource {
            attributes: vec![text("service.name", service), text("telemetry.sdk.name", "x")],
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    fn metric(name: &str, data: Data) -> Metric {
        Metric { name: name.into(), data: Some(data), ..Default::default() }
    }

    fn point(value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            time_unix_nano: 2_000_000_000,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        }
    }

    fn convert_one(request: &ExportMetricsServiceRequest, memory: &SeriesMemory) -> Converted {
        convert(request, &Naming { attribute: "service.name", dashboard: None }, memory, 1)
    }

    #[test]
    fn delta_sums_add_up_into_totals_between_requests() {
        let memory = SeriesMemory::default();
        let sum = |value| {
            let delta = Sum {
                data_points: vec![point(value, vec![text("k", "v")])],
                aggregation_temporality: 1,
                is_monotonic: true,
            };
            request("Cart", vec![metric("bytes", Data::Sum(delta))])
        };
        convert_one(&sum(5.0), &memory);
        let publications = convert_one(&sum(7.0), &memory).take_publications();
        let publication = &publications[0];
        assert_eq!((publication.dashboard.as_str(), publication.ts), ("cart", 2_000));
        assert_eq!(publication.metrics[r#"bytes{k="v"}"#], 12.0);
        assert_eq!(publication.kinds[r#"bytes{k="v"}"#], SeriesKind::Counter);
    }

    #[test]
    fn exponential_histograms_and_summaries_become_quantiles_and_totals() {
        let memory = SeriesMemory::default();
        // Scale 0: base 2, bucket i is (2^i, 2^(i+1)]: 4 in (1, 2], 4 in (2, 4].
        let exponential = ExponentialHistogramDataPoint {
            time_unix_nano: 2_000_000_000,
            count: 8,
            sum: Some(20.0),
            scale: 0,
            positive: Some(ExponentialBuckets { offset: 0, bucket_counts: vec![4, 4] }),
            ..Default::default()
        };
        let summary = SummaryDataPoint {
            time_unix_nano: 2_000_000_000,
            count: 3,
            sum: 9.0,
            quantile_values: vec![ValueAtQuantile { quantile: 0.5, value: 2.5 }],
            ..Default::default()
        };
        let request = request(
            "svc",
            vec![
                metric(
                    "size",
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![exponential],
                        aggregation_temporality: 2,
                    }),
                ),
                metric("rpc", Data::Summary(Summary { data_points: vec![summary] })),
            ],
        );
        let mut converted = convert_one(&request, &memory);
        let publications = converted.take_publications();
        let metrics = &publications[0].metrics;
        assert_eq!(metrics["size_count"], 8.0);
        assert_eq!(metrics[r#"size{quantile="0.5"}"#], 2.0);
        assert_eq!(metrics[r#"size{quantile="0.9"}"#], 3.6);
        assert_eq!((metrics["rpc_count"], metrics["rpc_sum"]), (3.0, 9.0));
        assert_eq!(metrics[r#"rpc{quantile="0.5"}"#], 2.5);
        assert_eq!(converted.rejected, 0);
    }

    #[test]
    fn bad_points_are_counted_and_the_rest_kept() {
        let gauge = Gauge {
            data_points: vec![
                point(1.0, vec![]),
                point(f64::NAN, vec![text("a", "b")]),
                point(2.0, vec![text("long", &"x".repeat(300))]),
            ],
        };
        let request = request(
            "",
            vec![
                metric("ok", Data::Gauge(gauge)),
                metric("9bad", Data::Gauge(Gauge { data_points: vec![point(1.0, vec![])] })),
            ],
        );
        let mut converted = convert_one(&request, &SeriesMemory::default());
        assert_eq!(converted.rejected, 3, "{:?}", converted.reasons);
        let publications = converted.take_publications();
        assert_eq!(publications[0].dashboard, UNNAMED_DASHBOARD, "an empty service.name");
        assert_eq!(publications[0].metrics.keys().collect::<Vec<_>>(), ["ok"]);
        assert!(converted.reasons.iter().any(|reason| reason.contains("9bad")), "{:?}", converted.reasons);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Arbitrary bytes, as protobuf or JSON, never panic the decoder or the conversion.
            #[test]
            fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
                let memory = SeriesMemory::default();
                if let Ok(request) = ExportMetricsServiceRequest::decode(&body[..]) {
                    for publication in convert_one(&request, &memory).take_publications() {
                        prop_assert!(publication.metrics.values().all(|value| value.is_finite()));
                    }
                }
                if let Ok(request) = serde_json::from_slice::<ExportMetricsServiceRequest>(&body) {
                    convert_one(&request, &memory);
                }
            }
        }
    }
}
