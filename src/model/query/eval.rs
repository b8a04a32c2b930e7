//! Evaluating a query. `evaluate` takes one instant (each selected series' value at a time:
//! the server's history, a step at a time) and gives the query's series at that instant;
//! `LiveQuery` keeps what the live stream needs between updates (each series' last value, a
//! counter's last total or its points over a range) so an update costs the series it carries
//! and the groups they fall in, never the window behind it. Both group and aggregate with the
//! same functions, so the browser and the server agree.

use super::{Grouping, Query};
use crate::model::counter;
use crate::protocol::{series::SeriesKey, Metrics, Millis};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How the series of one group become one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

impl AggregateOp {
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        Some(match name {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "count" => AggregateOp::Count,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Count => "count",
        }
    }

    /// The group's value; `None` for a group without values.
    pub fn apply(self, values: impl Iterator<Item = f64>) -> Option<f64> {
        let (mut count, mut sum, mut min, mut max) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for value in values {
            count += 1;
            sum += value;
            min = min.min(value);
            max = max.max(value);
        }
        (count > 0).then(|| match self {
            AggregateOp::Sum => sum,
            AggregateOp::Avg => sum / count as f64,
            AggregateOp::Min => min,
            AggregateOp::Max => max,
            AggregateOp::Count => count as f64,
        })
    }
}

impl Grouping {
    /// The labels of the group a series with `labels` falls in.
    pub fn group_of(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match self {
            Grouping::All => BTreeMap::new(),
            Grouping::By(kept) => labels.iter().filter(|(name, _)| kept.contains(name)).map(clone_pair).collect(),
            Grouping::Without(dropped) => {
                labels.iter().filter(|(name, _)| !dropped.contains(name)).map(clone_pair).collect()
            }
        }
    }
}

fn clone_pair((name, value): (&String, &String)) -> (String, String) {
    (name.clone(), value.clone())
}

/// A selected series' value at the instant evaluated: its reading, or its rate when the query
/// reads it as one (`Query::rates`).
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub key: &'a SeriesKey,
    pub value: f64,
}

/// One series of a query's answer: a selected series under its own key, or a group's
/// (`{code="500"}`, `{}` for everything) with the labels that make it.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub key: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Output {
    fn of_group(labels: BTreeMap<String, String>, value: f64) -> Output {
        let mut key = String::new();
        crate::protocol::series::write_labels(&mut key, &labels).expect("writing to a string");
        Output { key, labels, value }
    }
}

/// The query's series at one instant, given the value of each series that may be selected
/// (those the selector does not pick are left out here). Sorted by key.
pub fn evaluate(query: &Query, inputs: &[Input<'_>]) -> Vec<Output> {
    let mut outputs = match query {
        Query::Select(selector) | Query::Rate(selector) => inputs
            .iter()
            .filter(|input| selector.matches(&input.key.family, &input.key.labels))
            .map(|input| Output { key: input.key.to_string(), labels: input.key.labels.clone(), value: input.value })
            .collect(),
        Query::Aggregate { op, grouping, inner } => {
            let mut groups: BTreeMap<BTreeMap<String, String>, Vec<f64>> = BTreeMap::new();
            for output in evaluate(inner, inputs) {
                groups.entry(grouping.group_of(&output.labels)).or_default().push(output.value);
            }
            groups
                .into_iter()
                .filter_map(|(labels, values)| Some(Output::of_group(labels, op.apply(values.into_iter())?)))
                .collect()
        }
        Query::TopK { k, inner } => top(evaluate(inner, inputs), *k),
    };
    outputs.sort_by(|a: &Output, b: &Output| a.key.cmp(&b.key));
    outputs
}

/// The `k` highest of `outputs` (a tie goes to the smaller key).
fn top(mut outputs: Vec<Output>, k: usize) -> Vec<Output> {
    outputs.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
    outputs.truncate(k);
    outputs
}

/// A query over the live stream: updates in, the query's series at each update's time out.
#[derive(Clone, Debug)]
pub struct LiveQuery {
    query: Query,
    /// Every series name seen: its state if the selector picks it, `None` if not (decided once).
    series: HashMap<String, Option<Member>>,
    /// A series silent this long is left out of the answer (Prometheus' lookback).
    stale_after_ms: Millis,
}

/// A selected series between updates.
#[derive(Clone, Debug)]
struct Member {
    key: SeriesKey,
    /// Read as a rate: its recent totals (the last one, or those within the range).
    totals: Option<VecDeque<(Millis, f64)>>,
    /// Its value as the query reads it, and when it was last given.
    value: Option<(Millis, f64)>,
}

/// Prometheus' default lookback.
pub const STALE_AFTER_MS: Millis = 5 * 60_000;

impl LiveQuery {
    pub fn new(query: Query) -> Self {
        LiveQuery { query, series: HashMap::new(), stale_after_ms: STALE_AFTER_MS }
    }

    /// With another lookback than `STALE_AFTER_MS`.
    pub fn stale_after(self, stale_after_ms: Millis) -> Self {
        LiveQuery { stale_after_ms, ..self }
    }

    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Applies an update at `ts` (`counter` says which series are counters) and gives the
    /// query's series as of `ts`; `None` when the update carried none of the selected series.
    pub fn apply(&mut self, ts: Millis, metrics: &Metrics, counter: impl Fn(&str) -> bool) -> Option<Vec<Output>> {
        let mut touched = false;
        for (name, &total) in metrics {
            if !self.series.contains_key(name) {
                let member = self.member_for(name, counter(name));
                self.series.insert(name.clone(), member);
            }
            let Some(Some(member)) = self.series.get_mut(name) else { continue };
            touched |= member.take(ts, total, self.query.selector().range_ms);
        }
        touched.then(|| self.answer(ts))
    }

    /// The query's series as of `ts`, from each selected series' last value.
    pub fn answer(&self, ts: Millis) -> Vec<Output> {
        let inputs: Vec<Input<'_>> = self
            .series
            .values()
            .flatten()
            .filter_map(|member| {
                let (at, value) = member.value?;
                (ts - at <= self.stale_after_ms).then_some(Input { key: &member.key, value })
            })
            .collect();
        evaluate(&self.query, &inputs)
    }

    fn member_for(&self, name: &str, counter: bool) -> Option<Member> {
        let key = SeriesKey::parse(name).ok()?;
        self.query.selector().matches(&key.family, &key.labels).then(|| Member {
            key,
            totals: self.query.rates(counter).then(VecDeque::new),
            value: None,
        })
    }
}

impl Member {
    /// Takes the series' next reading; whether its value changed.
    fn take(&mut self, ts: Millis, reading: f64, range_ms: Option<Millis>) -> bool {
        let Some(totals) = &mut self.totals else {
            self.value = Some((ts, reading));
            return true;
        };
        if totals.back().is_some_and(|&(last, _)| ts <= last) {
            return false; // late or repeated: the rate goes forward only
        }
        totals.push_back((ts, reading));
        match range_ms {
            // Since the previous point.
            None => {
                while totals.len() > 2 {
                    totals.pop_front();
                }
            }
            // Over the range: the points within it, and the last one before it.
            Some(range) => {
                while totals.len() > 2 && totals[1].0 <= ts - range {
                    totals.pop_front();
                }
            }
        }
        let (first, last) = (totals[0], totals[totals.len() - 1]);
        if totals.len() < 2 {
            return false;
        }
        let increase: f64 = totals.iter().zip(totals.iter().skip(1)).map(|(a, b)| counter::increase(a.1, b.1)).sum();
        self.value = Some((ts, increase * 1000.0 / (last.0 - first.0) as f64));
        true
    }
}
