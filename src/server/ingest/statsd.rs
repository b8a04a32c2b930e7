//! StatsD and DogStatsD over UDP (`--statsd-addr`, off by default): every datagram is read a
//! line at a time (a malformed line is counted and skipped, never the rest of its packet),
//! aggregated, and flushed every second into one dashboard (`--statsd-dashboard`) through
//! ingest's `apply`, new series past the dashboard's limit counted and left out.
//!
//! What each type becomes (docs/protocol.md, "StatsD"):
//! - `c` (with `@rate`, each increment counts `1/rate`): a counter series whose total grows by
//!   every increment (its kind stated, so it shows as a rate), sent every flush;
//! - `g`: a gauge; `+n` and `-n` move it;
//! - `ms`, `h`, `d`: per flush, `<name>{quantile="0.5"|"0.9"|"0.99"}` (gauges, over that
//!   flush's samples) and the counters `<name>_count` and `<name>_sum` (totals), the shape
//!   histograms have everywhere in livedash;
//! - `s`: a gauge, the distinct members seen in the flush.
//!
//! DogStatsD tags (`|#env:prod,canary`) become labels (`canary="true"` for a bare tag), a
//! character a label name cannot hold replaced by `_`; DogStatsD's packed values
//! (`name:1:2:3|d`) are read, its container and timestamp fields ignored.

use super::{apply, Applied, IngestState, Producer};
use crate::model::histogram::SHOWN_QUANTILES;
use crate::protocol::{
    series::{label_name_from, SeriesKey, SeriesKeyError},
    Kinds, Metrics, ProducerKind, SeriesKind,
};
use crate::server::broker::{Admission, Publication};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// How often aggregates are sent.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The timing samples one series keeps per flush for its quantiles (a uniform sample of
/// them past that: count and sum still take every one).
const MAX_SAMPLES_PER_FLUSH: usize = 10_000;
/// The members one set keeps per flush; past it the count stops growing.
const MAX_MEMBERS_PER_FLUSH: usize = 10_000;

/// `--statsd-addr` and `--statsd-dashboard`, with the dashboard's series limit.
#[derive(Clone, Debug)]
pub struct StatsdOptions {
    pub dashboard: String,
    /// `--max-metrics-per-dashboard`: the aggregator holds no more series than the dashboard may.
    pub max_series: usize,
}

/// One value of a line.
#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    /// `c`: an increment, already divided by its sample rate.
    Count(f64),
    /// `g`: a reading, or with a sign a move of the last one.
    Gauge { value: f64, delta: bool },
    /// `ms`, `h`, `d`: an observation, and how many it stands for (`1/rate`).
    Timing { value: f64, weight: f64 },
    /// `s`: a member.
    Member(String),
}

/// A line: the series it names and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub key: SeriesKey,
    pub samples: Vec<Sample>,
}

/// Why a line did not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MalformedLine {
    #[error("no ':' between the name and the value")]
    NoValue,
    #[error("no '|' and type after the value")]
    NoType,
    #[error("unknown type '{0}' (c, g, ms, h, d, s)")]
    UnknownType(String),
    #[error("value '{0}' is not a finite number")]
    BadValue(String),
    #[error("sample rate '{0}' is not a number in (0, 1]")]
    BadRate(String),
    #[error(transparent)]
    Key(#[from] SeriesKeyError),
}

/// Reads one line: `<name>:<value>[:<value>...]|<type>[|@<rate>][|#<tags>][|...]`.
pub fn parse_line(line: &str) -> Result<Line, MalformedLine> {
    let (name, rest) = line.split_once(':').ok_or(MalformedLine::NoValue)?;
    let mut fields = rest.split('|');
    let values = fields.next().unwrap_or_default();
    let kind = fields.next().ok_or(MalformedLine::NoType)?;
    let (mut rate, mut labels) = (1.0, BTreeMap::new());
    for field in fields {
        if let Some(text) = field.strip_prefix('@') {
            rate = text
                .parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0 && *r <= 1.0)
                .ok_or_else(|| MalformedLine::BadRate(text.into()))?;
        } else if let Some(tags) = field.strip_prefix('#') {
            for tag in tags.split(',').filter(|tag| !tag.is_empty()) {
                let (name, value) = tag.split_once(':').unwrap_or((tag, "true"));
                labels.insert(label_name_from(name), value.to_owned());
            }
        }
        // `c:` (container) and `T` (timestamp) fields, and any later extension: not used.
    }
    let number = |text: &str| {
        text.parse::<f64>().ok().filter(|value| value.is_finite()).ok_or_else(|| MalformedLine::BadValue(text.into()))
    };
    let samples = values
        .split(':')
        .map(|value| match kind {
            "c" => Ok(Sample::Count(number(value)? / rate)),
            "g" => Ok(Sample::Gauge { value: number(value)?, delta: value.starts_with(['+', '-']) }),
            "ms" | "h" | "d" => Ok(Sample::Timing { value: number(value)?, weight: 1.0 / rate }),
            "s" => Ok(Sample::Member(value.to_owned())),
            other => Err(MalformedLine::UnknownType(other.into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Line { key: SeriesKey::new(name, labels)?, samples })
}

/// One timing series' flush: its samples (a uniform sample past the bound) and totals.
#[derive(Default)]
struct Timing {
    samples: Vec<f64>,
    /// Samples offered this flush (for the uniform sample).
    offered: u64,
    count: f64,
    sum: f64,
}

/// What has arrived, by series, until the next flush (and the totals that outlive flushes).
#[derive(Default)]
pub struct Aggregator {
    counters: HashMap<SeriesKey, f64>,
    gauges: HashMap<SeriesKey, f64>,
    timings: HashMap<SeriesKey, Timing>,
    sets: HashMap<SeriesKey, HashSet<String>>,
    /// The series the above send (a timing sends five).
    series: usize,
}

/// What one packet did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Taken {
    pub malformed: usize,
    /// Samples of new series past the series limit.
    pub refused: usize,
}

impl Aggregator {
    /// Takes every line of a datagram; a line that does not read is counted and skipped.
    pub fn take_packet(&mut self, packet: &[u8], max_series: usize) -> Taken {
        let mut taken = Taken::default();
        for line in packet.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line)) {
            if line.is_empty() {
                continue;
            }
            match std::str::from_utf8(line).map_err(|_| ()).and_then(|line| parse_line(line).map_err(|_| ())) {
                Ok(line) => {
                    if !self.take(line, max_series) {
                        taken.refused += 1;
                    }
                }
                Err(()) => taken.malformed += 1,
            }
        }
        taken
    }

    /// Adds a line's samples; false when it names a new series past `max_series`.
    fn take(&mut self, line: Line, max_series: usize) -> bool {
        let Line { key, samples } = line;
        for sample in samples {
            let room = self.series < max_series;
            match sample {
                Sample::Count(increment) => match self.counters.get_mut(&key) {
                    Some(total) => *total += increment,
                    None if room => {
                        self.counters.insert(key.clone(), increment);
                        self.series += 1;
                    }
                    None => return false,
                },
                Sample::Gauge { value, delta } => match self.gauges.get_mut(&key) {
                    Some(reading) if delta => *reading += value,
                    Some(reading) => *reading = value,
                    None if room => {
                        self.gauges.insert(key.clone(), value);
                        self.series += 1;
                    }
                    None => return false,
                },
                Sample::Timing { value, weight } => {
                    if !self.timings.contains_key(&key) {
                        if self.series + 2 + SHOWN_QUANTILES.len() > max_series {
                            return false;
                        }
                        self.series += 2 + SHOWN_QUANTILES.len();
                    }
                    let timing = self.timings.entry(key.clone()).or_default();
                    timing.count += weight;
                    timing.sum += value * weight;
                    timing.offered += 1;
                    if timing.samples.len() < MAX_SAMPLES_PER_FLUSH {
                        timing.samples.push(value);
                    } else {
                        let slot = rand::random_range(0..timing.offered);
                        if let Some(kept) = timing.samples.get_mut(slot as usize) {
                            *kept = value;
                        }
                    }
                }
                Sample::Member(member) => match self.sets.get_mut(&key) {
                    Some(members) => {
                        if members.len() < MAX_MEMBERS_PER_FLUSH {
                            members.insert(member);
                        }
                    }
                    None if room => {
                        self.sets.insert(key.clone(), HashSet::from([member]));
                        self.series += 1;
                    }
                    None => return false,
                },
            }
        }
        true
    }

    /// This flush's values and the kinds they state; starts the next flush (counters' and
    /// timings' totals and gauges' readings carry on, samples and set members do not).
    pub fn flush(&mut self) -> (Metrics, Kinds) {
        let (mut metrics, mut kinds) = (Metrics::new(), Kinds::new());
        let mut counter = |key: &SeriesKey, value: f64, metrics: &mut Metrics| {
            let name = key.to_string();
            if let Some(kind) = SeriesKind::Counter.unless_named(&key.family) {
                kinds.insert(name.clone(), kind);
            }
            metrics.insert(name, value);
        };
        for (key, total) in &self.counters {
            counter(key, *total, &mut metrics);
        }
        for (key, timing) in &mut self.timings {
            for (suffix, total) in [("_count", timing.count), ("_sum", timing.sum)] {
                let family = format!("{}{suffix}", key.family);
                if let Ok(series) = SeriesKey::new(&family, key.labels.clone()) {
                    counter(&series, total, &mut metrics);
                }
            }
            if !timing.samples.is_empty() {
                timing.samples.sort_by(f64::total_cmp);
                for (quantile, label) in SHOWN_QUANTILES {
                    let mut labels = key.labels.clone();
                    labels.insert("quantile".into(), label.into());
                    if let Ok(series) = SeriesKey::new(&key.family, labels) {
                        metrics.insert(series.to_string(), nearest_rank(&timing.samples, quantile));
                    }
                }
            }
            timing.samples.clear();
            timing.offered = 0;
        }
        for (key, reading) in &self.gauges {
            metrics.insert(key.to_string(), *reading);
        }
        for (key, members) in &mut self.sets {
            metrics.insert(key.to_string(), members.len() as f64);
            members.clear();
        }
        // A total that overflowed is not sent (values on the wire are finite).
        metrics.retain(|_, value| value.is_finite());
        // A gauge named `*_total` is still a gauge.
        for key in self.gauges.keys().chain(self.sets.keys()) {
            if let Some(kind) = SeriesKind::Gauge.unless_named(&key.family) {
                kinds.insert(key.to_string(), kind);
            }
        }
        kinds.retain(|name, _| metrics.contains_key(name));
        (metrics, kinds)
    }
}

/// The value at quantile `q` of sorted `samples` (nearest rank).
fn nearest_rank(samples: &[f64], q: f64) -> f64 {
    let rank = (q * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Reads datagrams from `socket` and flushes every second into `options.dashboard`, until
/// `shutdown` (then flushes once more).
pub async fn run(socket: UdpSocket, options: StatsdOptions, ingest: IngestState, shutdown: CancellationToken) {
    let mut aggregator = Aggregator::default();
    // The largest UDP payload: a datagram is never cut.
    let mut buffer = vec![0u8; 65_535];
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = flush.tick() => send(&mut aggregator, &options, &ingest).await,
            received = socket.recv_from(&mut buffer) => match received {
                Ok((length, _)) => {
                    let taken = aggregator.take_packet(&buffer[..length], options.max_series);
                    ingest.telemetry.statsd_malformed_lines.inc_by(taken.malformed as u64);
                    ingest.telemetry.refused_series.inc_by(taken.refused as u64);
                }
                // An ICMP error from an earlier send, or a signal: the socket still works.
                Err(error) => tracing::debug!(%error, "statsd receive"),
            },
        }
    }
    send(&mut aggregator, &options, &ingest).await;
}

/// One flush through ingest's apply path.
async fn send(aggregator: &mut Aggregator, options: &StatsdOptions, ingest: &IngestState) {
    let (metrics, kinds) = aggregator.flush();
    if metrics.is_empty() {
        return;
    }
    let publication =
        Publication { kinds, ..Publication::new(options.dashboard.clone(), ingest.clock.now_millis(), metrics) };
    match apply(ingest, Producer::Server(ProducerKind::Statsd), vec![publication], Admission::Partial).await {
        Ok(Applied { refused: 0, .. }) => {}
        Ok(Applied { refused, .. }) => {
            tracing::debug!(dashboard = options.dashboard, refused, "statsd series past the dashboard's limit")
        }
        // A failing store logs its own failure; the next flush sends the totals again.
        Err(error) => tracing::debug!(%error, dashboard = options.dashboard, "statsd flush not applied"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SeriesKey {
        SeriesKey::parse(text).unwrap()
    }

    #[test]
    fn reads_every_type_rate_and_tags() {
        let line = parse_line("page.views:3|c|@0.5|#env:prod,canary,web-tier:a").unwrap();
        assert_eq!(line.key, key(r#"page.views{canary="true",env="prod",web_tier="a"}"#));
        assert_eq!(line.samples, [Sample::Count(6.0)]);
        assert_eq!(parse_line("temp:-2.5|g").unwrap().samples, [Sample::Gauge { value: -2.5, delta: true }]);
        assert_eq!(parse_line("temp:7|g").unwrap().samples, [Sample::Gauge { value: 7.0, delta: false }]);
        assert_eq!(
            parse_line("lat:1:2|d|@0.25").unwrap().samples,
            [Sample::Timing { value: 1.0, weight: 4.0 }, Sample::Timing { value: 2.0, weight: 4.0 }]
        );
        assert_eq!(parse_line("users:ann|s|#1st:x").unwrap().key, key(r#"users{_1st="x"}"#));
        assert_eq!(parse_line("x:1|c|c:abc|T1700000000").unwrap().samples, [Sample::Count(1.0)]);
    }

    #[test]
    fn a_bad_line_says_why() {
        let cases = [
            ("nocolon", MalformedLine::NoValue),
            ("x:1", MalformedLine::NoType),
            ("x:1|q", MalformedLine::UnknownType("q".into())),
            ("x:abc|c", MalformedLine::BadValue("abc".into())),
            ("x:inf|g", MalformedLine::BadValue("inf".into())),
            ("x:1|c|@0", MalformedLine::BadRate("0".into())),
            ("x:1|c|@2", MalformedLine::BadRate("2".into())),
        ];
        for (line, error) in cases {
            assert_eq!(parse_line(line).unwrap_err(), error, "{line}");
        }
        assert!(matches!(parse_line("9x:1|c"), Err(MalformedLine::Key(SeriesKeyError::Family(_)))));
    }

    #[test]
    fn a_malformed_line_costs_only_itself() {
        let mut aggregator = Aggregator::default();
        let taken = aggregator.take_packet(b"a:1|c\nbroken\nb:2|g\r\n\xff\xfe:1|c\na:2|c", 100);
        assert_eq!(taken, Taken { malformed: 2, refused: 0 });
        let (metrics, kinds) = aggregator.flush();
        assert_eq!(metrics, [("a".to_string(), 3.0), ("b".to_string(), 2.0)].into());
        assert_eq!(kinds, [("a".to_string(), SeriesKind::Counter)].into(), "a StatsD counter is a counter");
    }

    #[test]
    fn counters_and_gauges_carry_on_timings_and_sets_start_again() {
        let mut aggregator = Aggregator::default();
        aggregator
            .take_packet(b"hits:2|c\nhits:1|c|@0.5\nlevel:10|g\nlevel:+5|g\nlevel:-3|g\nu:a|s\nu:b|s\nu:a|s", 100);
        for value in 1..=100 {
            aggregator.take_packet(format!("lat:{value}|ms").as_bytes(), 100);
        }
        let (metrics, kinds) = aggregator.flush();
        assert_eq!(metrics["hits"], 4.0);
        assert_eq!(metrics["level"], 12.0);
        assert_eq!(metrics["u"], 2.0);
        assert_eq!(metrics[r#"lat{quantile="0.5"}"#], 50.0);
        assert_eq!(metrics[r#"lat{quantile="0.9"}"#], 90.0);
        assert_eq!(metrics[r#"lat{quantile="0.99"}"#], 99.0);
        assert_eq!((metrics["lat_count"], metrics["lat_sum"]), (100.0, 5050.0));
        assert_eq!(kinds["lat_count"], SeriesKind::Counter);
        aggregator.take_packet(b"hits:1|c\nlat:7|ms", 100);
        let (metrics, _) = aggregator.flush();
        assert_eq!(metrics["hits"], 5.0, "a counter's total grows by each increment");
        assert_eq!(metrics["level"], 12.0, "a gauge holds its reading");
        assert_eq!(metrics["u"], 0.0, "no member this flush");
        assert_eq!(metrics[r#"lat{quantile="0.99"}"#], 7.0, "quantiles of this flush only");
        assert_eq!(metrics["lat_count"], 101.0);
    }

    #[test]
    fn past_the_series_limit_new_series_are_refused_and_known_ones_kept() {
        let mut aggregator = Aggregator::default();
        assert_eq!(aggregator.take_packet(b"a:1|c\nb:1|g\nc:1|c\na:1|c\nt:1|ms", 2).refused, 2);
        let (metrics, _) = aggregator.flush();
        assert_eq!(metrics.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(metrics["a"], 2.0);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Arbitrary bytes never panic, and whatever is taken flushes to valid series.
            #[test]
            fn arbitrary_packets_never_panic(packet in prop::collection::vec(any::<u8>(), 0..512), text in "[a-z:|@#,.0-9+\\-\n]{0,200}") {
                let mut aggregator = Aggregator::default();
                aggregator.take_packet(&packet, 50);
                aggregator.take_packet(text.as_bytes(), 50);
                let (metrics, _) = aggregator.flush();
                prop_assert!(metrics.len() <= 50);
                for (name, value) in metrics {
                    prop_assert!(crate::protocol::check_metric_name(&name).is_ok() && value.is_finite(), "{name}");
                }
            }
        }
    }
}
