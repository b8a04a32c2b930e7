//! Prometheus' data model into livedash series, for remote write and scraping alike: samples
//! named `__name__`/family with labels, and what the producer says of each family's type
//! (`# TYPE`, remote write's metadata).
//!
//! - a counter (typed, or named `*_total`) is a counter series; a gauge a gauge; untyped by
//!   its name;
//! - a classic histogram's `<family>_bucket{le=...}` series are not kept as series: they become
//!   `<family>{quantile="0.5"|"0.9"|"0.99"}` gauges estimated from the buckets counted since the
//!   previous sample (`model::histogram`), beside `<family>_count` and `<family>_sum`
//!   (counters);
//! - a summary's `<family>{quantile=...}` are gauges already, its `_count` and `_sum` counters;
//! - OpenMetrics' `_created` samples are dropped (a counter's reset shows in its values).
//!
//! Families are recognised as histograms or summaries by their type, or, without one (remote
//! write 1.0 sends metadata apart from samples), by `_bucket` series with `le` and series with
//! `quantile` in the same request.

use super::{memory::SeriesMemory, Converted};
use crate::model::histogram::{Buckets, SHOWN_QUANTILES};
use crate::protocol::{series::SeriesKey, Millis, SeriesKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// What a family is, as its producer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// Untyped, unknown, info, stateset, gauge histogram: what its name says.
    Untyped,
}

impl MetricType {
    /// A `# TYPE` line's word (text format and OpenMetrics).
    pub fn from_word(word: &str) -> MetricType {
        match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            _ => MetricType::Untyped,
        }
    }
}

/// One sample: its family (`__name__`), other labels, value and time (`None`: now).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub ts: Option<Millis>,
}

/// Families' types remembered across requests (remote write 1.0 sends metadata on its own),
/// by family; bounded like `SeriesMemory`.
#[derive(Default)]
pub struct FamilyTypes(Mutex<HashMap<String, MetricType>>);

const MAX_FAMILY_TYPES: usize = 100_000;

impl FamilyTypes {
    pub fn remember(&self, family: &str, kind: MetricType) {
        let mut types = self.0.lock().expect("family types lock poisoned");
        if types.len() < MAX_FAMILY_TYPES || types.contains_key(family) {
            types.insert(family.to_owned(), kind);
        }
    }

    pub fn get(&self, family: &str) -> Option<MetricType> {
        self.0.lock().expect("family types lock poisoned").get(family).copied()
    }
}

/// Where samples go and what is known of their families.
pub struct Destination<'a> {
    /// The dashboard of a sample (by its labels); `None` refuses it.
    pub dashboard: &'a dyn Fn(&BTreeMap<String, String>) -> Option<String>,
    /// A label taken off every series (the `job` that named the dashboard).
    pub drop_label: Option<&'a str>,
    pub types: &'a dyn Fn(&str) -> Option<MetricType>,
    pub memory: &'a SeriesMemory,
    pub now: Millis,
}

/// The family a sample name belongs to, with its suffix: `x_bucket` -> (`x`, `_bucket`).
fn split_suffix(name: &str) -> Option<(&str, &'static str)> {
    ["_bucket", "_count", "_sum", "_total", "_created"]
        .into_iter()
        .find_map(|suffix| name.strip_suffix(suffix).filter(|base| !base.is_empty()).map(|base| (base, suffix)))
}

/// Samples into updates: one per dashboard and time.
pub fn convert(samples: Vec<Sample>, destination: &Destination<'_>) -> Converted {
    let mut converted = Converted::default();
    // Families that show themselves as histograms or summaries in this request.
    let mut bucketed = HashSet::new();
    let mut quantiled = HashSet::new();
    for sample in &samples {
        if sample.labels.contains_key("le") {
            if let Some((base, "_bucket")) = split_suffix(&sample.name) {
                bucketed.insert(base.to_owned());
            }
        }
        if sample.labels.contains_key("quantile") {
            quantiled.insert(sample.name.clone());
        }
    }
    let type_of = |family: &str| {
        (destination.types)(family).or_else(|| {
            if bucketed.contains(family) {
                Some(MetricType::Histogram)
            } else if quantiled.contains(family) {
                Some(MetricType::Summary)
            } else {
                None
            }
        })
    };
    // A histogram's cumulative `le` counts, by dashboard, family and other labels, and time.
    type Group = (String, String, BTreeMap<String, String>, Millis);
    let mut histograms: BTreeMap<Group, Vec<(f64, f64)>> = BTreeMap::new();
    for Sample { name, mut labels, value, ts } in samples {
        // NaN is a staleness marker, or a summary without observations: nothing to show.
        if value.is_nan() {
            continue;
        }
        let Some(dashboard) = (destination.dashboard)(&labels) else {
            converted.reject(format!("series '{name}': no dashboard for it"));
            continue;
        };
        if let Some(label) = destination.drop_label {
            labels.remove(label);
        }
        let ts = ts.unwrap_or(destination.now);
        let own_type = (destination.types)(&name);
        let kind = match split_suffix(&name) {
            Some((base, suffix)) if own_type.is_none() => match (type_of(base), suffix) {
                (_, "_created") => continue,
                (Some(MetricType::Histogram), "_bucket") => {
                    let Some(le) = labels.remove("le").and_then(|le| parse_bound(&le)) else {
                        converted.reject(format!("series '{name}': a bucket without a valid le"));
                        continue;
                    };
                    histograms.entry((dashboard, base.to_owned(), labels, ts)).or_default().push((le, value));
                    continue;
                }
                (Some(MetricType::Histogram | MetricType::Summary), "_count" | "_sum") => SeriesKind::Counter,
                (Some(MetricType::Counter), "_total") => SeriesKind::Counter,
                (Some(MetricType::Gauge), _) => SeriesKind::Gauge,
                _ => SeriesKind::by_name(&name),
            },
            _ => match own_type.or_else(|| type_of(&name)) {
                Some(MetricType::Counter) => SeriesKind::Counter,
                Some(MetricType::Gauge | MetricType::Summary | MetricType::Histogram) => SeriesKind::Gauge,
                _ => SeriesKind::by_name(&name),
            },
        };
        match SeriesKey::new(&name, labels) {
            // A value that is not finite (+Inf is a valid sample) cannot be shown: skipped.
            Ok(key) => _ = converted.put(&dashboard, ts, &key, value, kind),
            Err(error) => converted.reject(format!("series '{name}': {error}")),
        }
    }
    for ((dashboard, family, labels, ts), le) in histograms {
        let Some(buckets) = Buckets::from_cumulative(le) else {
            converted.reject(format!("histogram '{family}': buckets without +Inf"));
            continue;
        };
        let Ok(key) = SeriesKey::new(&family, labels.clone()) else {
            converted.reject(format!("histogram '{family}': labels past the rules"));
            continue;
        };
        let interval = destination.memory.interval(&dashboard, &key.to_string(), buckets);
        for (quantile, label) in SHOWN_QUANTILES {
            let Some(value) = interval.quantile(quantile) else { continue };
            let mut labels = labels.clone();
            labels.insert("quantile".into(), label.into());
            if let Ok(series) = SeriesKey::new(&family, labels) {
                converted.put(&dashboard, ts, &series, value, SeriesKind::Gauge);
            }
        }
    }
    converted
}

/// A bucket's `le`: a number or `+Inf`.
fn parse_bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        _ => text.parse::<f64>().ok().filter(|bound| !bound.is_nan()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Sample { name: name.into(), labels, value, ts: Some(1_000) }
    }

    fn convert_all(samples: Vec<Sample>, types: &HashMap<&str, MetricType>, memory: &SeriesMemory) -> Converted {
        let dashboard = |labels: &BTreeMap<String, String>| Some(labels.get("job").cloned().unwrap_or("prom".into()));
        let types = |family: &str| types.get(family).copied();
        let destination = Destination { dashboard: &dashboard, drop_label: Some("job"), types: &types, memory, now: 0 };
        convert(samples, &destination)
    }

    #[test]
    fn histograms_become_quantiles_over_the_interval_with_counters_beside() {
        let memory = SeriesMemory::default();
        let histogram = |counts: [f64; 4]| {
            let mut samples: Vec<Sample> = [("1", counts[0]), ("2", counts[1]), ("4", counts[2]), ("+Inf", counts[3])]
                .into_iter()
                .map(|(le, value)| sample("rpc_seconds_bucket", &[("job", "api"), ("le", le)], value))
                .collect();
            samples.push(sample("rpc_seconds_count", &[("job", "api")], counts[3]));
            samples.push(sample("rpc_seconds_sum", &[("job", "api")], 150.0));
            samples
        };
        convert_all(histogram([10.0, 90.0, 100.0, 100.0]), &HashMap::new(), &memory);
        // Since then: 10 more, all in (2, 4].
        let publications =
            convert_all(histogram([10.0, 90.0, 110.0, 110.0]), &HashMap::new(), &memory).take_publications();
        let publication = &publications[0];
        assert_eq!(publication.dashboard, "api");
        assert_eq!(publication.metrics[r#"rpc_seconds{quantile="0.5"}"#], 3.0);
        assert_eq!(publication.metrics["rpc_seconds_count"], 110.0);
        assert_eq!(publication.kinds["rpc_seconds_count"], SeriesKind::Counter);
        assert!(publication.metrics.keys().all(|key| !key.contains("_bucket")), "{:?}", publication.metrics);
    }

    #[test]
    fn types_say_the_kind_and_names_do_otherwise() {
        let types = HashMap::from([("requests", MetricType::Counter), ("temp_total", MetricType::Gauge)]);
        let samples = vec![
            sample("requests_total", &[("code", "200")], 5.0),
            sample("temp_total", &[], 3.0),
            sample("bytes_total", &[], 9.0),
            sample("up", &[], 1.0),
            sample("requests_created", &[], 1e9),
            sample("lat", &[("quantile", "0.5")], 0.2),
            sample("lat_count", &[], 7.0),
            sample("stale", &[], f64::NAN),
        ];
        let publications = convert_all(samples, &types, &SeriesMemory::default()).take_publications();
        let publication = &publications[0];
        assert_eq!(publication.metrics.len(), 6, "{:?}", publication.metrics);
        assert_eq!(publication.kinds.get(r#"requests_total{code="200"}"#), None, "the name says counter already");
        assert_eq!(publication.kinds["temp_total"], SeriesKind::Gauge, "typed gauge though named _total");
        assert_eq!(publication.kinds["lat_count"], SeriesKind::Counter, "a summary's count");
        assert!(!publication.kinds.contains_key(r#"lat{quantile="0.5"}"#));
    }
}
