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
/// Each selected series' state is decided once (by name) and kept with its key already
/// written; an aggregation of a selector keeps its groups and their members, so an update
/// costs the series it carries and the groups they fall in, not the series it does not carry.
#[derive(Clone, Debug)]
pub struct LiveQuery {
    query: Query,
    /// Every series name seen: its member's index if the selector picks it (decided once).
    index: HashMap<String, Option<usize>>,
    members: Vec<Member>,
    /// `sum by (code) (selector)` and the like: the groups kept between updates.
    groups: Option<Groups>,
    /// Members given a value by the update being applied.
    touched: Vec<usize>,
    /// What the last answer of another shape was (a `topk`, nested aggregations).
    computed: Vec<Output>,
    /// A series silent this long is left out of the answer (Prometheus' lookback).
    stale_after_ms: Millis,
}

/// A selected series between updates.
#[derive(Clone, Debug)]
struct Member {
    key: SeriesKey,
    /// `key` written out, once.
    text: String,
    /// Read as a rate: its recent totals (the last one, or those within the range).
    totals: Option<VecDeque<(Millis, f64)>>,
    /// Its value as the query reads it, and when it was last given.
    value: Option<(Millis, f64)>,
    /// Its group, when the query aggregates a selector.
    group: usize,
}

/// An aggregation's groups over a selector's series.
#[derive(Clone, Debug)]
struct Groups {
    op: AggregateOp,
    grouping: Grouping,
    by_labels: HashMap<BTreeMap<String, String>, usize>,
    list: Vec<Group>,
}

#[derive(Clone, Debug)]
struct Group {
    output: Output,
    members: Vec<usize>,
    /// Whether it has a value (`output.value`) as of the last refresh.
    valued: bool,
    /// A member changed since the group was last computed.
    dirty: bool,
    /// The oldest member value in it: the group must be computed again once that one is stale.
    oldest: Millis,
}

/// One series of an answer that changed with the update: a selected series or a group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Changed<'a> {
    pub key: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub value: f64,
}

/// Prometheus' default lookback.
pub const STALE_AFTER_MS: Millis = 5 * 60_000;

impl LiveQuery {
    pub fn new(query: Query) -> Self {
        let groups = match &query {
            Query::Aggregate { op, grouping, inner } if matches!(**inner, Query::Select(_) | Query::Rate(_)) => {
                Some(Groups { op: *op, grouping: grouping.clone(), by_labels: HashMap::new(), list: Vec::new() })
            }
            _ => None,
        };
        LiveQuery {
            query,
            index: HashMap::new(),
            members: Vec::new(),
            groups,
            touched: Vec::new(),
            computed: Vec::new(),
            stale_after_ms: STALE_AFTER_MS,
        }
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
        self.take(ts, metrics, &counter).then(|| self.answer(ts))
    }

    /// Applies an update at `ts` and gives only the answer's series it changed: the selected
    /// series it carried, the groups they fall in, or (for other shapes) the whole answer.
    /// `None` when it carried none of the selected series. What a chart appends per update.
    pub fn apply_changes(
        &mut self,
        ts: Millis,
        metrics: &Metrics,
        counter: impl Fn(&str) -> bool,
    ) -> Option<Vec<Changed<'_>>> {
        if !self.take(ts, metrics, &counter) {
            return None;
        }
        let changed = match &mut self.groups {
            Some(groups) => {
                let refreshed = groups.refresh(&self.members, ts, self.stale_after_ms);
                let groups = self.groups.as_ref().expect("matched above");
                refreshed
                    .into_iter()
                    .map(|at| &groups.list[at])
                    .filter(|group| group.valued)
                    .map(|group| Changed {
                        key: &group.output.key,
                        labels: &group.output.labels,
                        value: group.output.value,
                    })
                    .collect()
            }
            None if matches!(self.query, Query::Select(_) | Query::Rate(_)) => self
                .touched
                .iter()
                .filter_map(|&at| {
                    let member = &self.members[at];
                    let (_, value) = member.value?;
                    Some(Changed { key: &member.text, labels: &member.key.labels, value })
                })
                .collect(),
            None => {
                self.computed = self.answer(ts);
                self.computed.iter().map(|o| Changed { key: &o.key, labels: &o.labels, value: o.value }).collect()
            }
        };
        Some(changed)
    }

    /// Takes an update's values into the members; whether any selected series changed.
    fn take(&mut self, ts: Millis, metrics: &Metrics, counter: &impl Fn(&str) -> bool) -> bool {
        self.touched.clear();
        let range_ms = self.query.selector().range_ms;
        for (name, &reading) in metrics {
            let at = match self.index.get(name.as_str()) {
                Some(at) => *at,
                None => {
                    let at = self.add_member(name, counter(name));
                    self.index.insert(name.clone(), at);
                    at
                }
            };
            let Some(at) = at else { continue };
            if self.members[at].take(ts, reading, range_ms) {
                self.touched.push(at);
                if let Some(groups) = &mut self.groups {
                    groups.list[self.members[at].group].dirty = true;
                }
            }
        }
        !self.touched.is_empty()
    }

    /// The query's series as of `ts`, from each selected series' last value.
    pub fn answer(&mut self, ts: Millis) -> Vec<Output> {
        let fresh = |value: Option<(Millis, f64)>| value.filter(|(at, _)| ts - at <= self.stale_after_ms);
        match (&mut self.groups, &self.query) {
            (Some(groups), _) => {
                groups.refresh(&self.members, ts, self.stale_after_ms);
                let mut outputs: Vec<Output> =
                    groups.list.iter().filter(|group| group.valued).map(|group| group.output.clone()).collect();
                outputs.sort_by(|a, b| a.key.cmp(&b.key));
                outputs
            }
            (None, Query::Select(_) | Query::Rate(_)) => {
                let mut outputs: Vec<Output> = self
                    .members
                    .iter()
                    .filter_map(|member| {
                        let (_, value) = fresh(member.value)?;
                        Some(Output { key: member.text.clone(), labels: member.key.labels.clone(), value })
                    })
                    .collect();
                outputs.sort_by(|a, b| a.key.cmp(&b.key));
                outputs
            }
            (None, query) => {
                let inputs: Vec<Input<'_>> = self
                    .members
                    .iter()
                    .filter_map(|member| Some(Input { key: &member.key, value: fresh(member.value)?.1 }))
                    .collect();
                evaluate(query, &inputs)
            }
        }
    }

    /// A member for series `name` if the selector picks it (and its group, if kept).
    fn add_member(&mut self, name: &str, counter: bool) -> Option<usize> {
        let key = SeriesKey::parse(name).ok()?;
        if !self.query.selector().matches(&key.family, &key.labels) {
            return None;
        }
        let at = self.members.len();
        let group = match &mut self.groups {
            Some(groups) => groups.join(&key, at),
            None => 0,
        };
        let totals = self.query.rates(counter).then(VecDeque::new);
        self.members.push(Member { text: key.to_string(), key, totals, value: None, group });
        Some(at)
    }
}

impl Groups {
    /// Puts member `at` with `key` into its group (made when it is the first); the group's index.
    fn join(&mut self, key: &SeriesKey, at: usize) -> usize {
        let labels = self.grouping.group_of(&key.labels);
        let index = match self.by_labels.get(&labels) {
            Some(index) => *index,
            None => {
                let index = self.list.len();
                self.by_labels.insert(labels.clone(), index);
                let output = Output::of_group(labels, 0.0);
                self.list.push(Group { output, members: Vec::new(), valued: false, dirty: false, oldest: Millis::MAX });
                index
            }
        };
        self.list[index].members.push(at);
        index
    }

    /// Computes again the groups a member changed in, and those holding a value gone stale by
    /// `ts`; their indexes.
    fn refresh(&mut self, members: &[Member], ts: Millis, stale_after_ms: Millis) -> Vec<usize> {
        let mut refreshed = Vec::new();
        for (index, group) in self.list.iter_mut().enumerate() {
            let staling = group.valued && ts - group.oldest > stale_after_ms;
            if !group.dirty && !staling {
                continue;
            }
            let mut oldest = Millis::MAX;
            let values = group.members.iter().filter_map(|&at| {
                let (when, value) = members[at].value?;
                (ts - when <= stale_after_ms).then(|| {
                    oldest = oldest.min(when);
                    value
                })
            });
            let value = self.op.apply(values);
            group.valued = value.is_some();
            group.output.value = value.unwrap_or(0.0);
            group.oldest = oldest;
            group.dirty = false;
            refreshed.push(index);
        }
        refreshed
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
