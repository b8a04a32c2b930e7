//! The wire protocol (PROTOCOL.md, version 1): every message the server and its clients
//! exchange, shared by both builds so that the browser and the server cannot disagree.
//!
//! Pure data and validation only: no I/O here, so it is unit-tested directly.

pub mod named;
pub mod read;
pub mod series;

use named::named;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt, str::FromStr};

/// Series key (a metric's name: `series`) to value. A `BTreeMap` so that encodings are stable and comparable.
pub type Metrics = BTreeMap<String, f64>;

/// Kinds a producer stated for series whose family's name does not say them (version 1.2):
/// a StatsD `c` or an OpenTelemetry monotonic sum named without `_total` is a counter.
pub type Kinds = BTreeMap<String, SeriesKind>;

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// Longest dashboard id and metric name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// `[a-z0-9][a-z0-9_-]{0,63}`
pub fn is_valid_dashboard_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// The dashboard id a producer's own name makes (an OpenTelemetry `service.name`, a
/// Prometheus `job`): lower case, every other character `-`, cut to the longest id; `None`
/// when nothing of it is left.
pub fn dashboard_id_from(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '-' })
        .collect();
    let id: String = mapped.trim_start_matches(['-', '_']).chars().take(MAX_NAME_LEN).collect();
    let id = id.trim_end_matches('-').to_owned();
    is_valid_dashboard_id(&id).then_some(id)
}

/// `[A-Za-z][A-Za-z0-9_.]{0,63}`: the names line protocol flattens points into (version 1's
/// rule; a series key is wider, `series`).
pub fn is_valid_metric_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0].is_ascii_alphabetic()
        && bytes[1..].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
}

/// A dashboard id or metric name that breaks its rule; the message states the rule. A long
/// name is cut short in the message (it is echoed to whoever sent it, and to the log).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvalidName {
    #[error("'{0}' is not a valid dashboard id ([a-z0-9][a-z0-9_-]{{0,63}})")]
    DashboardId(String),
    #[error("metric name '{name}' is not valid: {reason}")]
    MetricName { name: String, reason: series::SeriesKeyError },
}

/// `name` as an error message shows it: at most `MAX_NAME_LEN` characters, then an ellipsis.
/// (Series keys' errors too: `series`.)
fn shown(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_LEN) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}

/// `Ok` when `id` is a valid dashboard id, else the error that says why.
pub fn check_dashboard_id(id: &str) -> Result<(), InvalidName> {
    if is_valid_dashboard_id(id) {
        Ok(())
    } else {
        Err(InvalidName::DashboardId(shown(id)))
    }
}

/// `name`'s canonical series key (a family alone, or `family{k="v",...}` with the names
/// sorted: `series`), borrowed when `name` is canonical already, else the error that says why
/// it is not one.
pub fn metric_key(name: &str) -> Result<std::borrow::Cow<'_, str>, InvalidName> {
    series::canonical_key(name).map_err(|reason| InvalidName::MetricName { name: shown(name), reason })
}

/// `Ok` when `name` is a valid metric name (a series key), else the error that says why.
pub fn check_metric_name(name: &str) -> Result<(), InvalidName> {
    metric_key(name).map(drop)
}

/// A client's place in a dashboard's stream, written `"<epoch>:<seq>"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// Names the seq space; changes whenever continuity is lost.
    pub epoch: String,
    /// The last update the client holds.
    pub seq: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.seq)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("a position is written \"<epoch>:<seq>\", got {0:?}")]
pub struct BadPosition(String);

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadPosition(text.to_owned());
        let (epoch, seq) = text.rsplit_once(':').ok_or_else(bad)?;
        if epoch.is_empty() || epoch.len() > MAX_NAME_LEN {
            return Err(bad());
        }
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(Position { epoch: epoch.to_owned(), seq })
    }
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe {
        dashboard: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Position>,
        /// At most this many updates per second; the server merges what comes in between.
        #[serde(default, rename = "maxHz", skip_serializing_if = "Option::is_none")]
        max_hz: Option<f64>,
    },
    Unsubscribe {
        dashboard: String,
    },
    Ping {
        #[serde(default)]
        id: u64,
    },
    /// Replaces the connection's credential (version 1.1 auth).
    Refresh {
        token: String,
    },
}

/// Messages the server sends. Decoded by `decode_type_first` below.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Snapshot(Snapshot),
    Update(Update),
    Error(ErrorReply),
    Pong {
        id: u64,
    },
    /// With auth, the first message on a connection and the answer to a `refresh`: who the
    /// credential names and when it expires (`null`: never).
    Session {
        user: String,
        #[serde(rename = "expiresAt")]
        expires_at: Option<Millis>,
    },
}

/// How serde reads a server message: the server reading its own back (the replay log,
/// another instance's frames), the load generator, the tests. (The browser reads with `read`.)
/// serde's derived decoder for an internally tagged enum buffers the whole object before it
/// knows the variant, which compiles every variant's decoder a second time (for the buffer).
/// The server always writes `type` first (serde puts the tag first), so the rest of the object
/// is decoded straight into the variant instead.
mod decode_type_first {
    use super::*;
    use serde::de::{value::MapAccessDeserializer, Deserializer, Error, MapAccess, Visitor};

    #[derive(Clone, Copy)]
    pub(super) enum Kind {
        Snapshot,
        Update,
        Error,
        Pong,
        Session,
    }

    named!(Kind { Snapshot = "snapshot", Update = "update", Error = "error", Pong = "pong", Session = "session" });

    #[derive(Deserialize)]
    struct PongBody {
        id: u64,
    }

    #[derive(Deserialize)]
    struct SessionBody {
        user: String,
        #[serde(rename = "expiresAt")]
        expires_at: Option<Millis>,
    }

    impl<'de> Deserialize<'de> for ServerMessage {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_map(TypeFirst)
        }
    }

    struct TypeFirst;

    impl<'de> Visitor<'de> for TypeFirst {
        type Value = ServerMessage;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a server message: an object whose first field is \"type\"")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServerMessage, A::Error> {
            if map.next_key::<String>()?.as_deref() != Some("type") {
                return Err(A::Error::custom("\"type\" must be the first field of a server message"));
            }
            let kind: Kind = map.next_value()?;
            let rest = MapAccessDeserializer::new(map);
            Ok(match kind {
                Kind::Snapshot => ServerMessage::Snapshot(Snapshot::deserialize(rest)?),
                Kind::Update => ServerMessage::Update(Update::deserialize(rest)?),
                Kind::Error => ServerMessage::Error(ErrorReply::deserialize(rest)?),
                Kind::Pong => ServerMessage::Pong { id: PongBody::deserialize(rest)?.id },
                Kind::Session => {
                    let SessionBody { user, expires_at } = SessionBody::deserialize(rest)?;
                    ServerMessage::Session { user, expires_at }
                }
            })
        }
    }
}

/// Everything a client needs to draw a dashboard from scratch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub dashboard: String,
    /// Human title of the dashboard.
    #[serde(default)]
    pub title: String,
    pub epoch: String,
    /// The last update included; 0 before the first one.
    pub seq: u64,
    pub ts: Millis,
    /// Latest value of every metric.
    pub metrics: Metrics,
    /// The recent window for charts.
    pub history: HistoryWindow,
    /// In display order.
    pub definitions: Vec<MetricDefinition>,
    /// Every rule that is not inactive (pending, firing, nodata), as its last change said.
    pub alerts: Vec<AlertChange>,
}

impl Snapshot {
    pub fn position(&self) -> Position {
        Position { epoch: self.epoch.clone(), seq: self.seq }
    }
}

/// Column-oriented history: `series[m][i]` is metric `m` at `ts[i]`, `null` where that update
/// did not carry `m`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryWindow {
    pub ts: Vec<Millis>,
    pub series: BTreeMap<String, Vec<Option<f64>>>,
}

/// One tick of one dashboard: the metrics that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub dashboard: String,
    pub seq: u64,
    /// Set when this update merges seqs `from_seq..=seq` (a throttled subscription): the
    /// metrics are the latest value of each one that changed in that range.
    #[serde(default, rename = "fromSeq", skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<u64>,
    pub ts: Millis,
    pub metrics: Metrics,
    /// Kinds its producer stated for series of this update that their names do not say
    /// (version 1.2); absent when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: Kinds,
    /// Alert rules whose state this update changed (version 1.1); absent when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertChange>,
}

impl Update {
    /// The first seq this update covers.
    pub fn first_seq(&self) -> u64 {
        self.from_seq.unwrap_or(self.seq)
    }
}

/// How a metric (a series) is shown, and what it is (PROTOCOL.md 1.2 "Definition").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricDefinition {
    /// The series key.
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub format: Format,
    /// Omitted on the wire when it is the default line chart.
    #[serde(default, skip_serializing_if = "ChartKind::is_line")]
    pub chart: ChartKind,
    /// The key's family, for a labelled series (omitted for an unlabelled one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The key's labels (omitted when none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Omitted when `gauge`.
    #[serde(default, skip_serializing_if = "SeriesKind::is_gauge")]
    pub kind: SeriesKind,
}

/// What a series' values are (PROTOCOL.md 1.2 "Kinds").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeriesKind {
    /// The value is the reading.
    #[default]
    Gauge,
    /// A total that only grows, except when its producer restarts (a drop is a reset); shown
    /// as a rate per second.
    Counter,
}

named!(SeriesKind { Gauge = "gauge", Counter = "counter" });

impl SeriesKind {
    pub fn is_gauge(&self) -> bool {
        *self == SeriesKind::Gauge
    }

    /// This kind as an update states it for a series of `family`: only when the name does not
    /// already say it (`Kinds`).
    pub fn unless_named(self, family: &str) -> Option<SeriesKind> {
        (self != SeriesKind::by_name(family)).then_some(self)
    }

    /// What a family's name says when nothing else does: `*_total` is a counter (the
    /// Prometheus and OpenMetrics naming rule), anything else a gauge.
    pub fn by_name(family: &str) -> SeriesKind {
        match family.ends_with("_total") {
            true => SeriesKind::Counter,
            false => SeriesKind::Gauge,
        }
    }
}

impl MetricDefinition {
    /// An unlabelled gauge.
    pub fn new(name: &str, label: &str, unit: &str, format: Format) -> Self {
        MetricDefinition {
            name: name.into(),
            label: label.into(),
            unit: unit.into(),
            format,
            chart: ChartKind::Line,
            family: None,
            labels: BTreeMap::new(),
            kind: SeriesKind::Gauge,
        }
    }

    /// What a series that arrived without a configuration looks like: its family and labels
    /// read from its key, its kind from its family's name.
    pub fn inferred(name: &str) -> Self {
        let key = series::SeriesKey::parse(name)
            .unwrap_or_else(|_| series::SeriesKey { family: name.to_owned(), labels: BTreeMap::new() });
        let kind = SeriesKind::by_name(&key.family);
        let family = (!key.labels.is_empty()).then_some(key.family);
        MetricDefinition { family, labels: key.labels, kind, ..MetricDefinition::new(name, name, "", Format::Decimal) }
    }
}

/// Display format of a value; see `model::format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    Int,
    #[default]
    Decimal,
    /// A ratio: 0.05 shows as 5.0 %.
    Percent,
    /// US dollars.
    Currency,
    Bytes,
    /// Seconds.
    Duration,
}

named!(Format {
    Int = "int",
    Decimal = "decimal",
    Percent = "percent",
    Currency = "currency",
    Bytes = "bytes",
    Duration = "duration",
} aliases { "integer" = Int });

/// One step of stored history (`GET /api/v1/dashboards/{id}/history`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket, aligned to the step.
    pub ts: Millis,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    /// A counter's: its rate per second over the bucket (from the last point before it, reset-safe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// One series of a query's answer (`GET /api/v1/dashboards/{id}/query`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuerySeries {
    /// A selected series' key, or a group's labels (`{code="500"}`, `{}` for all).
    pub key: String,
    pub labels: BTreeMap<String, String>,
    /// `[ts, value]` at each step with a value, oldest first.
    pub points: Vec<(Millis, f64)>,
}

/// The answer of the query endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAnswer {
    pub dashboard: String,
    /// The query as read, in its canonical form.
    pub query: String,
    pub from: Millis,
    pub to: Millis,
    pub step_ms: Millis,
    pub series: Vec<QuerySeries>,
}

/// The answer of the history endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryAnswer {
    pub dashboard: String,
    pub metric: String,
    pub from: Millis,
    pub to: Millis,
    pub step_ms: Millis,
    /// Only buckets with data, oldest first.
    pub buckets: Vec<Bucket>,
}

/// How a metric's history is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartKind {
    #[default]
    Line,
    /// A line with the area under it filled.
    Area,
    /// Only the card, no chart.
    None,
}

named!(ChartKind { Line = "line", Area = "area", None = "none" });

impl ChartKind {
    pub fn is_line(&self) -> bool {
        *self == ChartKind::Line
    }
}

/// One alert rule's change of state (PROTOCOL.md "Alerts (version 1.1)"), carried inside the
/// update that caused it, so it is ordered, persisted and replayed with the values; a
/// snapshot lists the rules that are not inactive in the same shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertChange {
    pub rule: String,
    pub severity: Severity,
    pub state: AlertPhase,
    pub metric: String,
    /// The value that caused it; `null` for `nodata`.
    pub value: Option<f64>,
    /// The threshold of `severity` (for a change rule, the ratio); `null` for `nodata`.
    pub threshold: Option<f64>,
    /// When the announced state began.
    pub since: Millis,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    UnknownDashboard,
    /// Not allowed: a foreign origin or Host (HTTP 403); with auth (PROTOCOL.md 1.1), a
    /// credential that does not cover the dashboard.
    Forbidden,
    RateLimited,
    TooLarge,
    Unauthorized,
    /// HTTP only: a history request for a metric the dashboard never had.
    UnknownMetric,
    /// HTTP only: the server cannot take or answer the request now (the history store); retry.
    Unavailable,
    /// HTTP only: no such silence, or no such active alert to ack.
    NotFound,
}

// The codes as written on the wire.
named!(ErrorCode {
    BadRequest = "bad_request",
    UnknownDashboard = "unknown_dashboard",
    Forbidden = "forbidden",
    RateLimited = "rate_limited",
    TooLarge = "too_large",
    Unauthorized = "unauthorized",
    UnknownMetric = "unknown_metric",
    Unavailable = "unavailable",
    NotFound = "not_found",
});

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>, dashboard: Option<&str>) -> Self {
        ServerMessage::Error(ErrorReply { code, message: message.into(), dashboard: dashboard.map(str::to_owned) })
    }

    pub fn unknown_dashboard(dashboard: &str) -> Self {
        ServerMessage::error(ErrorCode::UnknownDashboard, format!("no dashboard named '{dashboard}'"), Some(dashboard))
    }

    /// One JSON text, as sent in a WebSocket frame.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: all keys are strings, all numbers finite.
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// The answer of a long-poll request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PollResponse {
    pub messages: Vec<ServerMessage>,
}

/// One dashboard as listed by `GET /api/v1/dashboards`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    pub id: String,
    pub title: String,
    pub definitions: Vec<MetricDefinition>,
    /// Its series (version 1.2).
    #[serde(default)]
    pub series: usize,
    /// What has fed it, most recent first (version 1.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<DashboardSource>,
    /// The Prometheus targets scraped into it (version 1.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetHealth>,
}

/// One way data comes into dashboards (version 1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProducerKind {
    Simulator,
    Host,
    Json,
    LineProtocol,
    Otlp,
    RemoteWrite,
    Scrape,
    Statsd,
}

named!(ProducerKind {
    Simulator = "simulator",
    Host = "host",
    Json = "json",
    LineProtocol = "line_protocol",
    Otlp = "otlp",
    RemoteWrite = "remote_write",
    Scrape = "scrape",
    Statsd = "statsd",
});

impl ProducerKind {
    /// How a person names it.
    pub fn label(&self) -> &'static str {
        match self {
            ProducerKind::Simulator => "simulator",
            ProducerKind::Host => "host metrics",
            ProducerKind::Json => "JSON",
            ProducerKind::LineProtocol => "line protocol",
            ProducerKind::Otlp => "OpenTelemetry",
            ProducerKind::RemoteWrite => "remote write",
            ProducerKind::Scrape => "scrape",
            ProducerKind::Statsd => "StatsD",
        }
    }
}

/// A producer that has fed a dashboard, and when it last did (this instance saw it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSource {
    pub kind: ProducerKind,
    pub last_received: Millis,
}

/// A Prometheus target's health, as its last scrape left it (`GET /api/v1/targets`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    pub url: String,
    pub dashboard: String,
    pub interval_ms: u64,
    /// `None` before the first scrape.
    pub up: Option<bool>,
    pub last_scrape: Option<Millis>,
    pub last_duration_ms: Option<f64>,
    pub last_error: Option<String>,
    pub samples: usize,
    /// False while another instance holds the target's lease (it scrapes it then).
    pub scraped_here: bool,
}

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

/// What is announced when a state changes (PROTOCOL.md "Alerts", without the rule's name and
/// message, which the caller adds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertPhase {
    Pending,
    Firing,
    Resolved,
    NoData,
}

named!(Severity { Warning = "warning", Critical = "critical" });
named!(AlertPhase { Pending = "pending", Firing = "firing", Resolved = "resolved", NoData = "nodata" });

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip_client(message: ClientMessage) {
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(serde_json::from_str::<ClientMessage>(&text).unwrap(), message, "{text}");
    }

    #[test]
    fn producers_names_make_dashboard_ids() {
        assert_eq!(dashboard_id_from("checkout").as_deref(), Some("checkout"));
        assert_eq!(dashboard_id_from("unknown_service:python").as_deref(), Some("unknown_service-python"));
        assert_eq!(dashboard_id_from("Node Exporter!").as_deref(), Some("node-exporter"));
        assert_eq!(dashboard_id_from("__x").as_deref(), Some("x"));
        assert_eq!(dashboard_id_from(&"a".repeat(100)).map(|id| id.len()), Some(MAX_NAME_LEN));
        assert_eq!(dashboard_id_from("!!!"), None);
        assert_eq!(dashboard_id_from(""), None);
    }

    fn round_trip_server(message: ServerMessage) {
        let text = message.to_json();
        assert_eq!(serde_json::from_str::<ServerMessage>(&text).unwrap(), message, "{text}");
    }

    #[test]
    fn client_messages_decode_as_the_protocol_writes_them() {
        let subscribe: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","dashboard":"main","since":"k3j2:1042"}"#).unwrap();
        assert_eq!(
            subscribe,
            ClientMessage::Subscribe {
                dashboard: "main".into(),
                since: Some(Position { epoch: "k3j2".into(), seq: 1042 }),
                max_hz: None,
            }
        );
        let throttled: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","dashboard":"main","maxHz":2}"#).unwrap();
        assert!(matches!(throttled, ClientMessage::Subscribe { max_hz: Some(hz), .. } if hz == 2.0));
        let ping: ClientMessage = serde_json::from_str(r#"{"type":"ping","id":7}"#).unwrap();
        assert_eq!(ping, ClientMessage::Ping { id: 7 });
        let unsubscribe: ClientMessage = serde_json::from_str(r#"{"type":"unsubscribe","dashboard":"main"}"#).unwrap();
        assert_eq!(unsubscribe, ClientMessage::Unsubscribe { dashboard: "main".into() });
    }

    #[test]
    fn client_messages_round_trip() {
        round_trip_client(ClientMessage::Subscribe { dashboard: "main".into(), since: None, max_hz: None });
        round_trip_client(ClientMessage::Subscribe {
            dashboard: "host".into(),
            since: Some(Position { epoch: "e1".into(), seq: u64::MAX }),
            max_hz: Some(2.5),
        });
        round_trip_client(ClientMessage::Unsubscribe { dashboard: "x".into() });
        round_trip_client(ClientMessage::Ping { id: 3 });
    }

    #[test]
    fn unknown_types_and_bad_positions_are_rejected() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","dashboard":"main","since":"nocolon"}"#)
            .is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","dashboard":"main","since":"e:-1"}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe"}"#).is_err());
    }

    #[test]
    fn server_messages_round_trip() {
        let mut series = BTreeMap::new();
        series.insert("orders".to_string(), vec![Some(2.0), None]);
        round_trip_server(ServerMessage::Snapshot(Snapshot {
            dashboard: "main".into(),
            title: "Main".into(),
            epoch: "k3j2".into(),
            seq: 1042,
            ts: 1_763_900_000_000,
            metrics: [("orders".to_string(), 3.0)].into(),
            history: HistoryWindow { ts: vec![1, 2], series },
            definitions: vec![MetricDefinition::new("orders", "Orders", "", Format::Int)],
            alerts: vec![],
        }));
        round_trip_server(ServerMessage::Update(Update {
            dashboard: "main".into(),
            seq: 1043,
            from_seq: Some(1040),
            ts: 1_763_900_001_000,
            metrics: [("activeUsers".to_string(), 815.0)].into(),
            kinds: Default::default(),
            alerts: vec![error_rate_alert()],
        }));
        round_trip_server(ServerMessage::unknown_dashboard("nope"));
        round_trip_server(ServerMessage::Pong { id: 7 });
    }

    #[test]
    fn server_messages_need_their_type_first_and_known() {
        let decode = serde_json::from_str::<ServerMessage>;
        assert_eq!(decode(r#"{"type":"pong","id":7}"#).unwrap(), ServerMessage::Pong { id: 7 });
        let late_type = decode(r#"{"id":7,"type":"pong"}"#).unwrap_err().to_string();
        assert!(late_type.contains("\"type\" must be the first field"), "{late_type}");
        assert!(decode(r#"{"type":"dance","id":7}"#).is_err());
        assert!(decode(r#"{"type":"pong"}"#).unwrap_err().to_string().contains("missing field `id`"));
        assert!(decode(r#"{"type":"update","dashboard":"main"}"#).is_err());
        assert!(decode(r#"[1,2]"#).is_err());
        assert!(decode(r#"{}"#).is_err());
    }

    /// PROTOCOL.md's example alert change.
    fn error_rate_alert() -> AlertChange {
        AlertChange {
            rule: "high_error_rate".into(),
            severity: Severity::Critical,
            state: AlertPhase::Firing,
            metric: "errorRate".into(),
            value: Some(0.07),
            threshold: Some(0.05),
            since: 1_763_899_991_000,
            message: "Error rate 7% above 5%".into(),
        }
    }

    #[test]
    fn alert_changes_ride_in_updates_as_the_protocol_shows() {
        let update = ServerMessage::Update(Update {
            dashboard: "main".into(),
            seq: 1043,
            from_seq: None,
            ts: 1_763_900_001_000,
            metrics: [("errorRate".to_string(), 0.07)].into(),
            kinds: Default::default(),
            alerts: vec![error_rate_alert()],
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&update.to_json()).unwrap(),
            json!({"type":"update","dashboard":"main","seq":1043,"ts":1_763_900_001_000_i64,"metrics":{"errorRate":0.07},
                   "alerts":[{"rule":"high_error_rate","severity":"critical","state":"firing","metric":"errorRate",
                              "value":0.07,"threshold":0.05,"since":1_763_899_991_000_i64,"message":"Error rate 7% above 5%"}]})
        );
        let nodata = json!({"rule":"r","severity":"warning","state":"nodata","metric":"m","value":null,
                            "threshold":null,"since":1,"message":"m: no data"});
        let decoded: AlertChange = serde_json::from_value(nodata).unwrap();
        assert_eq!((decoded.state, decoded.value), (AlertPhase::NoData, None));
    }

    #[test]
    fn server_messages_encode_as_the_protocol_shows() {
        let update = ServerMessage::Update(Update {
            dashboard: "main".into(),
            seq: 1043,
            from_seq: None,
            ts: 1_763_900_001_000,
            metrics: [("activeUsers".to_string(), 815.0)].into(),
            kinds: Default::default(),
            alerts: Vec::new(),
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&update.to_json()).unwrap(),
            json!({"type":"update","dashboard":"main","seq":1043,"ts":1_763_900_001_000_i64,
                   "metrics":{"activeUsers":815.0}})
        );
        let error = ServerMessage::unknown_dashboard("nope");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&error.to_json()).unwrap(),
            json!({"type":"error","code":"unknown_dashboard",
                   "message":"no dashboard named 'nope'","dashboard":"nope"})
        );
    }

    #[test]
    fn names_follow_the_protocol_patterns() {
        assert!(is_valid_dashboard_id("main"));
        assert!(is_valid_dashboard_id("0shop_eu-1"));
        assert!(!is_valid_dashboard_id(""));
        assert!(!is_valid_dashboard_id("Main"));
        assert!(!is_valid_dashboard_id("-x"));
        assert!(!is_valid_dashboard_id(&"a".repeat(65)));
        assert!(is_valid_dashboard_id(&"a".repeat(64)));
        assert!(is_valid_metric_name("activeUsers"));
        assert!(is_valid_metric_name("cpu.usage_1"));
        assert!(!is_valid_metric_name("1cpu"));
        assert!(!is_valid_metric_name("cpu-usage"));
        assert!(!is_valid_metric_name(""));
    }

    #[test]
    fn positions_parse_and_print() {
        let position: Position = "k3j2:1042".parse().unwrap();
        assert_eq!(position.to_string(), "k3j2:1042");
        assert!(":5".parse::<Position>().is_err());
        assert!("e:".parse::<Position>().is_err());
        assert!("e:x".parse::<Position>().is_err());
    }

    #[test]
    fn error_codes_are_written_as_their_names() {
        use ErrorCode::*;
        for code in
            [BadRequest, UnknownDashboard, Forbidden, RateLimited, TooLarge, Unauthorized, UnknownMetric, Unavailable]
        {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_rule_and_cut_short() {
        assert_eq!(check_dashboard_id("main"), Ok(()));
        assert_eq!(check_metric_name("cpu.user_2"), Ok(()));
        let error = check_dashboard_id("../etc").unwrap_err().to_string();
        assert_eq!(error, "'../etc' is not a valid dashboard id ([a-z0-9][a-z0-9_-]{0,63})");
        let error = check_metric_name("9x").unwrap_err().to_string();
        assert_eq!(
            error,
            "metric name '9x' is not valid: family '9x' is not valid ([A-Za-z_:][A-Za-z0-9_.:/-]{0,254})"
        );
        assert_eq!(
            metric_key(r#"http_requests_total{method="GET",code="500"}"#).unwrap(),
            r#"http_requests_total{code="500",method="GET"}"#
        );
        let long = "a".repeat(10_000);
        let error = check_dashboard_id(&long).unwrap_err().to_string();
        assert!(error.len() < 200 && error.contains("…"), "{error}");
        assert!(check_dashboard_id("nul\0").is_err() && check_dashboard_id("").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// JSON-ish text: fragments of the protocol's own words, so that decoding goes deep.
        fn protocolish() -> impl Strategy<Value = String> {
            crate::testing::fragments(
                vec![
                    "{",
                    "}",
                    "[",
                    "]",
                    ",",
                    ":",
                    "\"type\"",
                    "\"subscribe\"",
                    "\"refresh\"",
                    "\"ping\"",
                    "\"dashboard\"",
                    "\"since\"",
                    "\"maxHz\"",
                    "\"id\"",
                    "\"token\"",
                    "\"a:1\"",
                    "1e400",
                    "-0",
                    "null",
                    "true",
                    "18446744073709551616",
                    "\"\\u0000\"",
                    "\"\\ud800\"",
                    " ",
                ],
                40,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

            #[test]
            fn the_client_decoder_never_panics_and_what_it_accepts_round_trips(text in protocolish()) {
                if let Ok(message) = serde_json::from_str::<ClientMessage>(&text) {
                    let again = serde_json::to_string(&message).unwrap();
                    prop_assert_eq!(serde_json::from_str::<ClientMessage>(&again).unwrap(), message);
                }
            }

            #[test]
            fn the_server_decoder_never_panics(text in protocolish(), raw in ".{0,200}") {
                let _ = serde_json::from_str::<ServerMessage>(&text);
                let _ = serde_json::from_str::<ServerMessage>(&raw);
            }
        }
    }
}
