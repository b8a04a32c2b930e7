//! How the browser reads what the server writes: the stream's messages, the dashboard's load
//! served in its page, the server functions' answers. Not with serde's derived decoders:
//! compiled for serde_json's parser they were each type's field matching and number parsing
//! over again, about 80 KB of the first load's WASM (BENCHMARKS.md). Here the browser's own
//! `JSON.parse` makes the tree (no parser in the WASM), and each type takes its fields from it
//! (`FromJson`), in one function per type.
//!
//! The reading follows serde's for what the server writes: a field `#[serde(default)]` may be
//! absent, an `Option` may be absent or `null`, names are the renamed ones, a unit enum is its
//! `named!` name. Unknown fields are passed over everywhere. Numbers are JavaScript's: an
//! integer above 2^53 (no seq or time gets there) reads rounded, as in any JavaScript client.
//! The tests read everything serde writes for each type through this code, with serde_json's
//! `Value` as the tree, so the two cannot part unseen.

use super::{
    AlertChange, DashboardSource, DashboardSummary, ErrorReply, HistoryWindow, MetricDefinition, PollResponse,
    ServerMessage, Snapshot, TargetHealth, Update,
};
use crate::model::alerts::{ChangeWindow, Level, RuleSummary};
use crate::model::panel::{PanelSpec, Threshold};
use std::collections::BTreeMap;
use std::fmt;

/// A parsed JSON value: in the browser `JSON.parse`'s, in tests serde_json's.
pub trait Json: Sized {
    /// Field `key` of an object; `None` when absent (or not an object).
    fn field(&self, key: &str) -> Option<Self>;
    fn number(&self) -> Option<f64>;
    fn text(&self) -> Option<String>;
    fn boolean(&self) -> Option<bool>;
    fn is_null(&self) -> bool;
    /// An array's items.
    fn items(&self) -> Option<Vec<Self>>;
    /// An object's fields.
    fn entries(&self) -> Option<Vec<(String, Self)>>;
}

/// A value of a type read from a JSON tree.
pub trait FromJson: Sized {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread>;

    /// What an absent field reads as: nothing (an error), except for an `Option`.
    fn absent() -> Option<Self> {
        None
    }
}

/// Why a value did not read, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Misread(String);

impl Misread {
    pub fn expected(what: &str) -> Misread {
        Misread(format!("expected {what}"))
    }

    fn within(self, key: &str) -> Misread {
        Misread(format!("{key}: {}", self.0))
    }
}

impl fmt::Display for Misread {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Field `key` of `json`, which must be there unless `T` is an `Option`. Not inlined (nor
/// `field_or_default`): compiled once per type read, not once per field.
#[inline(never)]
pub fn field<T: FromJson, J: Json>(json: &J, key: &str) -> Result<T, Misread> {
    match json.field(key) {
        Some(value) => T::from_json(&value).map_err(|misread| misread.within(key)),
        None => T::absent().ok_or_else(|| Misread(format!("missing field {key}"))),
    }
}

/// Field `key` of `json`, or `T`'s default when absent (`#[serde(default)]`).
#[inline(never)]
pub fn field_or_default<T: FromJson + Default, J: Json>(json: &J, key: &str) -> Result<T, Misread> {
    match json.field(key) {
        Some(value) => T::from_json(&value).map_err(|misread| misread.within(key)),
        None => Ok(T::default()),
    }
}

/// Which of `names` (a `named!` enum's names, then its aliases) `json` is; an error naming
/// the `canonical` ones when it is none of them.
pub fn name_index<J: Json>(json: &J, names: &[&str], canonical: &[&str]) -> Result<usize, Misread> {
    let name = json.text();
    name.and_then(|name| names.iter().position(|known| *known == name))
        .ok_or_else(|| Misread::expected(&format!("one of {}", canonical.join(", "))))
}

/// `json` as an integer from `min` to `max`.
fn integer<J: Json>(json: &J, min: f64, max: f64) -> Result<f64, Misread> {
    match json.number() {
        Some(number) if number.fract() == 0.0 && (min..=max).contains(&number) => Ok(number),
        _ => Err(Misread::expected("an integer in range")),
    }
}

impl FromJson for f64 {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        json.number().ok_or_else(|| Misread::expected("a number"))
    }
}

impl FromJson for i64 {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        integer(json, i64::MIN as f64, i64::MAX as f64).map(|number| number as i64)
    }
}

impl FromJson for u64 {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        integer(json, 0.0, u64::MAX as f64).map(|number| number as u64)
    }
}

impl FromJson for usize {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        integer(json, 0.0, usize::MAX as f64).map(|number| number as usize)
    }
}

impl FromJson for u8 {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        integer(json, 0.0, 255.0).map(|number| number as u8)
    }
}

impl FromJson for bool {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        json.boolean().ok_or_else(|| Misread::expected("true or false"))
    }
}

impl FromJson for String {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        json.text().ok_or_else(|| Misread::expected("a string"))
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        if json.is_null() {
            return Ok(None);
        }
        T::from_json(json).map(Some)
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromJson> FromJson for Box<T> {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        T::from_json(json).map(Box::new)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        let items = json.items().ok_or_else(|| Misread::expected("an array"))?;
        // A loop, not a collect: collecting `Result`s compiles an adapter for every type.
        let mut read = Vec::with_capacity(items.len());
        for item in &items {
            read.push(T::from_json(item)?);
        }
        Ok(read)
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        let entries = json.entries().ok_or_else(|| Misread::expected("an object"))?;
        // Inserted one by one: collected, the map would sort its entries first, with a sort
        // compiled for every type of value.
        let mut map = BTreeMap::new();
        for (key, value) in entries {
            match T::from_json(&value) {
                Ok(value) => map.insert(key, value),
                Err(misread) => return Err(misread.within(&key)),
            };
        }
        Ok(map)
    }
}

// What the browser reads, field by field as serde writes them.

impl FromJson for ServerMessage {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        use super::decode_type_first::Kind;
        Ok(match field(json, "type")? {
            Kind::Snapshot => ServerMessage::Snapshot(Snapshot::from_json(json)?),
            Kind::Update => ServerMessage::Update(Update::from_json(json)?),
            Kind::Error => ServerMessage::Error(ErrorReply::from_json(json)?),
            Kind::Pong => ServerMessage::Pong { id: field(json, "id")? },
            Kind::Session => {
                ServerMessage::Session { user: field(json, "user")?, expires_at: field(json, "expiresAt")? }
            }
        })
    }
}

impl FromJson for PollResponse {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(PollResponse { messages: field(json, "messages")? })
    }
}

impl FromJson for Snapshot {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(Snapshot {
            dashboard: field(json, "dashboard")?,
            title: field_or_default(json, "title")?,
            epoch: field(json, "epoch")?,
            seq: field(json, "seq")?,
            ts: field(json, "ts")?,
            metrics: field(json, "metrics")?,
            history: field(json, "history")?,
            definitions: field(json, "definitions")?,
            alerts: field(json, "alerts")?,
        })
    }
}

impl FromJson for HistoryWindow {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(HistoryWindow { ts: field(json, "ts")?, series: field(json, "series")? })
    }
}

impl FromJson for MetricDefinition {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(MetricDefinition {
            name: field(json, "name")?,
            label: field(json, "label")?,
            unit: field_or_default(json, "unit")?,
            format: field_or_default(json, "format")?,
            chart: field_or_default(json, "chart")?,
            family: field(json, "family")?,
            labels: field_or_default(json, "labels")?,
            kind: field_or_default(json, "kind")?,
        })
    }
}

impl FromJson for Update {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(Update {
            dashboard: field(json, "dashboard")?,
            seq: field(json, "seq")?,
            from_seq: field(json, "fromSeq")?,
            ts: field(json, "ts")?,
            metrics: field(json, "metrics")?,
            kinds: field_or_default(json, "kinds")?,
            alerts: field_or_default(json, "alerts")?,
        })
    }
}

impl FromJson for AlertChange {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(AlertChange {
            rule: field(json, "rule")?,
            severity: field(json, "severity")?,
            state: field(json, "state")?,
            metric: field(json, "metric")?,
            value: field(json, "value")?,
            threshold: field(json, "threshold")?,
            since: field(json, "since")?,
            message: field(json, "message")?,
        })
    }
}

impl FromJson for ErrorReply {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(ErrorReply {
            code: field(json, "code")?,
            message: field(json, "message")?,
            dashboard: field(json, "dashboard")?,
        })
    }
}

impl FromJson for RuleSummary {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(RuleSummary {
            name: field(json, "name")?,
            dashboard: field(json, "dashboard")?,
            metric: field(json, "metric")?,
            warn: field(json, "warn")?,
            crit: field(json, "crit")?,
            for_ms: field(json, "forMs")?,
            no_data_ms: field(json, "noDataMs")?,
            labels: field_or_default(json, "labels")?,
            change: field(json, "change")?,
            rate: field_or_default(json, "rate")?,
        })
    }
}

impl FromJson for Level {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(Level {
            direction: field(json, "direction")?,
            threshold: field(json, "threshold")?,
            clear: field(json, "clear")?,
        })
    }
}

impl FromJson for ChangeWindow {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(ChangeWindow { window_ms: field(json, "windowMs")?, versus_ms: field(json, "versusMs")? })
    }
}

impl FromJson for PanelSpec {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(PanelSpec {
            id: field(json, "id")?,
            title: field_or_default(json, "title")?,
            query: field(json, "query")?,
            metrics: field_or_default(json, "metrics")?,
            kind: field_or_default(json, "kind")?,
            unit: field_or_default(json, "unit")?,
            format: field(json, "format")?,
            thresholds: field_or_default(json, "thresholds")?,
            min: field(json, "min")?,
            max: field(json, "max")?,
            stack: field_or_default(json, "stack")?,
            compare: field(json, "compare")?,
            width: field_or_default(json, "width")?,
            height: field_or_default(json, "height")?,
        })
    }
}

impl FromJson for Threshold {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(Threshold { value: field(json, "value")?, color: field(json, "color")? })
    }
}

impl FromJson for DashboardSummary {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(DashboardSummary {
            id: field(json, "id")?,
            title: field(json, "title")?,
            definitions: field(json, "definitions")?,
            series: field_or_default(json, "series")?,
            sources: field_or_default(json, "sources")?,
            targets: field_or_default(json, "targets")?,
        })
    }
}

impl FromJson for DashboardSource {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(DashboardSource { kind: field(json, "kind")?, last_received: field(json, "lastReceived")? })
    }
}

impl FromJson for TargetHealth {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(TargetHealth {
            url: field(json, "url")?,
            dashboard: field(json, "dashboard")?,
            interval_ms: field(json, "intervalMs")?,
            up: field(json, "up")?,
            last_scrape: field(json, "lastScrape")?,
            last_duration_ms: field(json, "lastDurationMs")?,
            last_error: field(json, "lastError")?,
            samples: field(json, "samples")?,
            scraped_here: field(json, "scrapedHere")?,
        })
    }
}

/// `text`'s JSON as a `T`, parsed by the browser.
#[cfg(feature = "hydrate")]
pub fn from_text<T: FromJson>(text: &str) -> Result<T, Misread> {
    let json = js_sys::JSON::parse(text).map_err(|_| Misread::expected("JSON"))?;
    T::from_json(&json)
}

#[cfg(feature = "hydrate")]
impl Json for wasm_bindgen::JsValue {
    fn field(&self, key: &str) -> Option<Self> {
        if !self.is_object() {
            return None;
        }
        js_sys::Reflect::get(self, &key.into()).ok().filter(|value| !value.is_undefined())
    }

    fn number(&self) -> Option<f64> {
        self.as_f64()
    }

    fn text(&self) -> Option<String> {
        self.as_string()
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn is_null(&self) -> bool {
        wasm_bindgen::JsValue::is_null(self)
    }

    fn items(&self) -> Option<Vec<Self>> {
        js_sys::Array::is_array(self).then(|| js_sys::Array::from(self).iter().collect())
    }

    fn entries(&self) -> Option<Vec<(String, Self)>> {
        if !self.is_object() || js_sys::Array::is_array(self) {
            return None;
        }
        use wasm_bindgen::JsCast;
        let keys = js_sys::Object::keys(self.unchecked_ref::<js_sys::Object>());
        let entries = keys.iter().filter_map(|key| Some((key.as_string()?, js_sys::Reflect::get(self, &key).ok()?)));
        Some(entries.collect())
    }
}

#[cfg(test)]
impl Json for serde_json::Value {
    fn field(&self, key: &str) -> Option<Self> {
        self.as_object()?.get(key).cloned()
    }

    fn number(&self) -> Option<f64> {
        self.as_f64()
    }

    fn text(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn is_null(&self) -> bool {
        serde_json::Value::is_null(self)
    }

    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }

    fn entries(&self) -> Option<Vec<(String, Self)>> {
        Some(self.as_object()?.iter().map(|(key, value)| (key.clone(), value.clone())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loaders::{DashboardList, DashboardLoad};
    use crate::model::alerts::Direction;
    use crate::model::panel::{Compare, PanelKind};
    use crate::protocol::{AlertPhase, ChartKind, ErrorCode, Format, ProducerKind, SeriesKind, Severity};
    use serde::{de::DeserializeOwned, Serialize};
    use serde_json::{json, Value};

    /// Reads what serde wrote for `value` back through `FromJson`.
    fn read_back<T: FromJson + Serialize>(value: &T) -> Result<T, Misread> {
        T::from_json(&serde_json::to_value(value).expect("serializes"))
    }

    /// `value` reads back from what serde writes for it; and with each of its fields taken
    /// away, then made `null`, it reads as serde's derived decoder reads it (the same value,
    /// or refused by both): the defaults, the options and the names are serde's.
    fn reads_as_serde_does<T: FromJson + DeserializeOwned + Serialize + PartialEq + fmt::Debug>(value: &T) {
        assert_eq!(read_back(value).as_ref(), Ok(value));
        let written = serde_json::to_value(value).unwrap();
        let object = written.as_object().expect("an object");
        for key in object.keys() {
            for replacement in [None, Some(Value::Null)] {
                let mut changed = object.clone();
                match &replacement {
                    None => changed.remove(key),
                    Some(null) => changed.insert(key.clone(), null.clone()),
                };
                let changed = Value::Object(changed);
                let by_serde = serde_json::from_value::<T>(changed.clone()).ok();
                assert_eq!(T::from_json(&changed).ok(), by_serde, "{key} as {replacement:?}");
            }
        }
    }

    fn definition() -> MetricDefinition {
        MetricDefinition {
            name: "http_requests_total{code=\"200\"}".into(),
            label: "Requests".into(),
            unit: "req".into(),
            format: Format::Int,
            chart: ChartKind::Area,
            family: Some("http_requests_total".into()),
            labels: [("code".to_owned(), "200".to_owned())].into(),
            kind: SeriesKind::Counter,
        }
    }

    fn change() -> AlertChange {
        AlertChange {
            rule: "hot".into(),
            severity: Severity::Critical,
            state: AlertPhase::Firing,
            metric: "cpu".into(),
            value: Some(97.5),
            threshold: Some(90.0),
            since: 1_700_000_000_000,
            message: "cpu at 97.5".into(),
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            dashboard: "main".into(),
            title: "Main".into(),
            epoch: "k3j2".into(),
            seq: 1042,
            ts: 1_700_000_000_500,
            metrics: [("cpu".to_owned(), 42.5), ("mem".to_owned(), -1e-3)].into(),
            history: HistoryWindow {
                ts: vec![1_700_000_000_000, 1_700_000_000_500],
                series: [("cpu".to_owned(), vec![Some(40.0), None])].into(),
            },
            definitions: vec![definition(), MetricDefinition::new("cpu", "CPU", "%", Format::Percent)],
            alerts: vec![change()],
        }
    }

    fn update() -> Update {
        Update {
            dashboard: "main".into(),
            seq: 1043,
            from_seq: Some(1040),
            ts: 1_700_000_001_000,
            metrics: [("cpu".to_owned(), 43.0)].into(),
            kinds: [("requests".to_owned(), SeriesKind::Counter)].into(),
            alerts: vec![change()],
        }
    }

    fn rule() -> RuleSummary {
        RuleSummary {
            name: "hot".into(),
            dashboard: "main".into(),
            metric: "cpu".into(),
            warn: Some(Level { direction: Direction::Above, threshold: 80.0, clear: 75.0 }),
            crit: Some(Level { direction: Direction::Below, threshold: 5.0, clear: 6.0 }),
            for_ms: 30_000,
            no_data_ms: Some(60_000),
            labels: [("team".to_owned(), "web".to_owned())].into(),
            change: Some(ChangeWindow { window_ms: 60_000, versus_ms: 3_600_000 }),
            rate: true,
        }
    }

    fn panel() -> PanelSpec {
        PanelSpec {
            id: "latency".into(),
            title: "Latency".into(),
            query: None,
            metrics: vec!["p99".into(), "p50".into()],
            kind: PanelKind::Stat,
            unit: "ms".into(),
            format: Some(Format::Duration),
            thresholds: vec![Threshold { value: 100.0, color: "#ff0000".into() }],
            min: Some(0.0),
            max: Some(500.0),
            stack: true,
            compare: Some(Compare::Day),
            width: 6,
            height: 2,
        }
    }

    fn summary() -> DashboardSummary {
        DashboardSummary {
            id: "main".into(),
            title: "Main".into(),
            definitions: vec![definition()],
            series: 3,
            sources: vec![DashboardSource { kind: ProducerKind::LineProtocol, last_received: 1_700_000_000_000 }],
            targets: vec![TargetHealth {
                url: "http://127.0.0.1:9100/metrics".into(),
                dashboard: "main".into(),
                interval_ms: 15_000,
                up: Some(true),
                last_scrape: Some(1_700_000_000_000),
                last_duration_ms: Some(12.5),
                last_error: Some("timed out".into()),
                samples: 412,
                scraped_here: true,
            }],
        }
    }

    #[test]
    fn every_type_the_browser_reads_reads_as_serde_reads_it() {
        reads_as_serde_does(&snapshot());
        reads_as_serde_does(&snapshot().history);
        reads_as_serde_does(&definition());
        reads_as_serde_does(&update());
        reads_as_serde_does(&change());
        reads_as_serde_does(&ErrorReply {
            code: ErrorCode::UnknownDashboard,
            message: "no such dashboard".into(),
            dashboard: Some("nope".into()),
        });
        reads_as_serde_does(&rule());
        reads_as_serde_does(&rule().warn.unwrap());
        reads_as_serde_does(&rule().change.unwrap());
        reads_as_serde_does(&panel());
        reads_as_serde_does(&PanelSpec::of_query("errors", "Errors", PanelKind::Line, "rate(errors_total)"));
        reads_as_serde_does(&panel().thresholds[0]);
        reads_as_serde_does(&summary());
        reads_as_serde_does(&summary().sources[0]);
        reads_as_serde_does(&summary().targets[0]);
        reads_as_serde_does(&DashboardList { now: 1_700_000_000_000, dashboards: vec![summary()] });
    }

    #[test]
    fn server_messages_read_by_their_type() {
        let messages = [
            ServerMessage::Snapshot(snapshot()),
            ServerMessage::Update(update()),
            ServerMessage::Update(Update { from_seq: None, kinds: BTreeMap::new(), alerts: vec![], ..update() }),
            ServerMessage::Error(ErrorReply {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                dashboard: None,
            }),
            ServerMessage::Pong { id: 7 },
            ServerMessage::Session { user: "ada".into(), expires_at: Some(1_700_000_060_000) },
            ServerMessage::Session { user: "ada".into(), expires_at: None },
        ];
        for message in &messages {
            assert_eq!(read_back(message).as_ref(), Ok(message));
        }
        let answer = PollResponse { messages: messages.to_vec() };
        assert_eq!(read_back(&answer), Ok(answer));
        let unknown = json!({"type": "gossip", "dashboard": "main"});
        assert!(ServerMessage::from_json(&unknown).unwrap_err().to_string().contains("one of snapshot, update"));
    }

    #[test]
    fn a_dashboards_load_reads_in_each_of_its_forms() {
        let ready = DashboardLoad::Ready(Box::new(snapshot()), vec![rule()], vec![panel()]);
        for load in [ready, DashboardLoad::NotFound, DashboardLoad::Forbidden] {
            assert_eq!(read_back(&load).as_ref(), Ok(&load));
        }
        let short = json!({"Ready": [serde_json::to_value(snapshot()).unwrap(), []]});
        assert!(DashboardLoad::from_json(&short).is_err());
        assert!(DashboardLoad::from_json(&json!("Gone")).is_err());
        assert_eq!(Option::<String>::from_json(&json!(null)), Ok(None));
        assert_eq!(Option::<String>::from_json(&json!("disk full")), Ok(Some("disk full".into())));
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_refused_saying_where() {
        let mut written = serde_json::to_value(update()).unwrap();
        written["seq"] = json!(1.5);
        assert_eq!(Update::from_json(&written).unwrap_err().to_string(), "seq: expected an integer in range");
        written["seq"] = json!(-1);
        assert!(Update::from_json(&written).is_err());
        written["seq"] = json!(7);
        written["metrics"] = json!({"cpu": "hot"});
        assert_eq!(Update::from_json(&written).unwrap_err().to_string(), "metrics: cpu: expected a number");
        let mut definition = serde_json::to_value(definition()).unwrap();
        definition["kind"] = json!("histogram");
        assert!(MetricDefinition::from_json(&definition)
            .unwrap_err()
            .to_string()
            .starts_with("kind: expected one of gauge"));
        assert!(u8::from_json(&json!(256)).is_err());
        assert_eq!(u8::from_json(&json!(255)), Ok(255));
        assert!(String::from_json(&json!(3)).is_err());
        assert!(Vec::<f64>::from_json(&json!({"a": 1})).is_err());
    }
}
