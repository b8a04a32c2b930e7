//! The alert state machine, shared by the server (which evaluates rules on every update) and
//! the browser (which previews a rule over the history it holds): `step(rule, state, input)`
//! gives the next state and the transitions to announce, and nothing else. Pure: no clock (the
//! time is the update's), no I/O.
//!
//! States: inactive -> pending (breached, waiting `for`) -> firing -> resolved (back to
//! inactive), and nodata (no value for `no_data`). A level is entered past its threshold and
//! left only past its `clear` value, so a value inside the band between them never changes
//! anything (hysteresis); warning escalates to critical and back without a resolve between.

use crate::protocol::{named::named, Millis};
pub use crate::protocol::{AlertPhase, Severity};
use serde::{Deserialize, Serialize};

/// Which side of the threshold is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Above,
    Below,
}

named!(Direction { Above = "above", Below = "below" });

/// One level of a rule: breached past `threshold`, cleared only past `clear`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub direction: Direction,
    pub threshold: f64,
    /// Where a breach ends; the threshold itself when no band is configured.
    pub clear: f64,
}

impl Level {
    /// A level past `threshold`, cleared past `clear` (the threshold itself when none), if
    /// `clear` is on the good side of it.
    pub fn checked(direction: Direction, threshold: f64, clear: Option<f64>) -> Result<Level, String> {
        let clear = clear.unwrap_or(threshold);
        let wrong_side = match direction {
            Direction::Above => clear > threshold,
            Direction::Below => clear < threshold,
        };
        if !threshold.is_finite() || !clear.is_finite() || wrong_side {
            let side = if direction == Direction::Above { "at or below" } else { "at or above" };
            return Err(format!("clear ({clear}) must be a number {side} the threshold ({threshold})"));
        }
        Ok(Level { direction, threshold, clear })
    }

    /// Whether `value` is past the threshold, given whether the level holds now: entering
    /// needs the threshold crossed, leaving needs `clear` crossed.
    fn holds(&self, value: f64, holding: bool) -> bool {
        match (self.direction, holding) {
            (Direction::Above, false) => value > self.threshold,
            (Direction::Above, true) => value >= self.clear,
            (Direction::Below, false) => value < self.threshold,
            (Direction::Below, true) => value <= self.clear,
        }
    }
}

/// What `step` needs of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub warn: Option<Level>,
    pub crit: Option<Level>,
    /// How long a breach must last before it fires.
    pub for_ms: Millis,
    /// How long a firing alert stays firing after its breach ends.
    pub keep_firing_for_ms: Millis,
    /// No value for this long: `nodata`. `None`: never.
    pub no_data_ms: Option<Millis>,
}

impl Thresholds {
    /// The level `value` is at, given the severity held now (hysteresis per level).
    fn severity_of(&self, value: f64, held: Option<Severity>) -> Option<Severity> {
        let crit = self.crit.is_some_and(|level| level.holds(value, held == Some(Severity::Critical)));
        let warn = self.warn.is_some_and(|level| level.holds(value, held.is_some()));
        if crit {
            Some(Severity::Critical)
        } else if warn {
            Some(Severity::Warning)
        } else {
            None
        }
    }

    pub fn level(&self, severity: Severity) -> Option<&Level> {
        match severity {
            Severity::Warning => self.warn.as_ref(),
            Severity::Critical => self.crit.as_ref(),
        }
    }
}

/// Where a rule is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Inactive,
    /// Breached at `severity` since `since`, not yet for long enough.
    Pending {
        severity: Severity,
        since: Millis,
    },
    /// Firing at `severity` since `since`; `breach_ended` once the value went back (while
    /// `keep_firing_for` runs).
    Firing {
        severity: Severity,
        since: Millis,
        breach_ended: Option<Millis>,
    },
    NoData {
        since: Millis,
    },
}

/// A rule's state: its phase and when it last saw a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub phase: Phase,
    /// The time of the last value, for `no_data`.
    pub last_value_at: Option<Millis>,
    pub last_value: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    pub state: AlertPhase,
    /// The severity it concerns (the one that ended, for `resolved`); `None` for `nodata`.
    pub severity: Option<Severity>,
    /// The value that caused it (`None` for `nodata`).
    pub value: Option<f64>,
    /// When the state it announces began.
    pub since: Millis,
    /// Whether a firing alert ended (so receivers are told); a pending one that never fired
    /// resolves quietly.
    pub was_firing: bool,
}

/// What happened: a value of the metric at `ts`, or time passing without one (the no-data
/// timer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    Value(f64),
    Tick,
    /// A change rule's value arrived but there is nothing to compare it with (no baseline):
    /// `nodata` at once, never a firing.
    NoBaseline,
}

/// The next state of a rule after `input` at `ts`, and the transitions to announce.
pub fn step(rule: &Thresholds, state: AlertState, input: Input, ts: Millis) -> (AlertState, Vec<Transition>) {
    let mut next = state;
    let mut transitions = Vec::new();
    let value = match input {
        Input::Value(value) if value.is_finite() => value,
        Input::Value(_) => return (state, transitions),
        Input::Tick => {
            let silent_for = ts - state.last_value_at.unwrap_or(ts);
            let waited = rule.no_data_ms.is_some_and(|limit| state.last_value_at.is_some() && silent_for >= limit);
            if waited && !matches!(state.phase, Phase::NoData { .. }) {
                let since = state.last_value_at.unwrap_or(ts) + rule.no_data_ms.unwrap_or(0);
                next.phase = Phase::NoData { since };
                let was_firing = matches!(state.phase, Phase::Firing { .. });
                transitions.push(Transition {
                    state: AlertPhase::NoData,
                    severity: None,
                    value: None,
                    since,
                    was_firing,
                });
            }
            return (next, transitions);
        }
        Input::NoBaseline => {
            // Values do arrive: the no-data timer has nothing to add.
            next.last_value_at = Some(ts);
            if !matches!(state.phase, Phase::NoData { .. }) {
                next.phase = Phase::NoData { since: ts };
                let was_firing = matches!(state.phase, Phase::Firing { .. });
                transitions.push(Transition {
                    state: AlertPhase::NoData,
                    severity: None,
                    value: None,
                    since: ts,
                    was_firing,
                });
            }
            return (next, transitions);
        }
    };
    next.last_value_at = Some(ts);
    next.last_value = Some(value);
    let held = match state.phase {
        Phase::Pending { severity, .. } | Phase::Firing { severity, breach_ended: None, .. } => Some(severity),
        // Kept firing after the breach ended: the value must breach afresh.
        Phase::Firing { .. } | Phase::Inactive | Phase::NoData { .. } => None,
    };
    let breached = rule.severity_of(value, held);
    let announce = |state, severity, since, was_firing| Transition {
        state,
        severity: Some(severity),
        value: Some(value),
        since,
        was_firing,
    };
    match (state.phase, breached) {
        (Phase::Inactive, None) => {}
        (Phase::NoData { since }, None) => {
            // Values again, none breaching: the no-data state ends.
            next.phase = Phase::Inactive;
            transitions.push(Transition {
                state: AlertPhase::Resolved,
                severity: None,
                value: Some(value),
                since,
                was_firing: false,
            });
        }
        (Phase::Inactive | Phase::NoData { .. }, Some(severity)) => {
            if rule.for_ms <= 0 {
                next.phase = Phase::Firing { severity, since: ts, breach_ended: None };
                transitions.push(announce(AlertPhase::Firing, severity, ts, false));
            } else {
                next.phase = Phase::Pending { severity, since: ts };
                transitions.push(announce(AlertPhase::Pending, severity, ts, false));
            }
        }
        (Phase::Pending { severity, since }, None) => {
            next.phase = Phase::Inactive;
            transitions.push(announce(AlertPhase::Resolved, severity, since, false));
        }
        (Phase::Pending { since, .. }, Some(severity)) => {
            if ts - since >= rule.for_ms {
                next.phase = Phase::Firing { severity, since: ts, breach_ended: None };
                transitions.push(announce(AlertPhase::Firing, severity, ts, false));
            } else {
                next.phase = Phase::Pending { severity, since };
                if Some(severity) != held {
                    transitions.push(announce(AlertPhase::Pending, severity, since, false));
                }
            }
        }
        (Phase::Firing { severity, since, breach_ended }, None) => {
            let ended = breach_ended.unwrap_or(ts);
            if ts - ended >= rule.keep_firing_for_ms {
                next.phase = Phase::Inactive;
                transitions.push(announce(AlertPhase::Resolved, severity, since, true));
            } else {
                next.phase = Phase::Firing { severity, since, breach_ended: Some(ended) };
            }
        }
        (Phase::Firing { severity: was, since, .. }, Some(severity)) => {
            next.phase = Phase::Firing { severity, since, breach_ended: None };
            if severity != was {
                // Escalation or de-escalation: still firing, no resolve between.
                transitions.push(announce(AlertPhase::Firing, severity, since, false));
            }
        }
    }
    (next, transitions)
}

/// A rule as the browser sees it (`GET /api/v1/alerts/rules`, and with a dashboard's page):
/// enough to draw its thresholds on the metric's chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    pub name: String,
    pub dashboard: String,
    pub metric: String,
    pub warn: Option<Level>,
    pub crit: Option<Level>,
    #[serde(rename = "forMs")]
    pub for_ms: Millis,
    #[serde(rename = "noDataMs")]
    pub no_data_ms: Option<Millis>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// A change rule's spans: its levels are then ratios, not values of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeWindow>,
    /// The levels apply to the metric's rate per second (a counter's), not its value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rate: bool,
}

impl RuleSummary {
    /// Its levels in the metric's units, warning first (none for a change rule, whose levels
    /// are ratios, nor for a rate rule, whose levels are per second).
    pub fn levels(&self) -> impl Iterator<Item = (Severity, Level)> + '_ {
        [(Severity::Warning, self.warn), (Severity::Critical, self.crit)]
            .into_iter()
            .filter(|_| self.change.is_none() && !self.rate)
            .filter_map(|(severity, level)| Some((severity, level?)))
    }
}

/// The two spans a change rule compares: the average over the last `window` against the
/// average over the same span `versus` earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWindow {
    #[serde(rename = "windowMs")]
    pub window_ms: Millis,
    #[serde(rename = "versusMs")]
    pub versus_ms: Millis,
}

/// An alert change with the time of the update that carried it (the alert history): on the
/// wire, the change's fields beside `ts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "FlatRecordedChange")]
pub struct RecordedChange {
    pub ts: Millis,
    #[serde(flatten)]
    pub change: crate::protocol::AlertChange,
}

/// How a `RecordedChange` is read. The browser reads the history on every dashboard with
/// rules, and serde's `flatten` reads by buffering every field first (its `Content` tree and a
/// decoder of each field type through it: 3 KB of the first load's brotli); these fields are
/// read as they come.
#[derive(Deserialize)]
struct FlatRecordedChange {
    ts: Millis,
    rule: String,
    severity: Severity,
    state: AlertPhase,
    metric: String,
    value: Option<f64>,
    threshold: Option<f64>,
    since: Millis,
    message: String,
}

impl From<FlatRecordedChange> for RecordedChange {
    fn from(flat: FlatRecordedChange) -> Self {
        let FlatRecordedChange { ts, rule, severity, state, metric, value, threshold, since, message } = flat;
        let change = crate::protocol::AlertChange { rule, severity, state, metric, value, threshold, since, message };
        RecordedChange { ts, change }
    }
}

/// An alert someone is on: the rule's state, severity and start when it was acked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub dashboard: String,
    pub rule: String,
    pub state: AlertPhase,
    pub severity: Severity,
    pub since: Millis,
    pub by: String,
    pub comment: String,
    pub at: Millis,
}

impl Ack {
    /// Whether it still holds for the alert as it now stands.
    pub fn covers(&self, dashboard: &str, change: &crate::protocol::AlertChange) -> bool {
        self.dashboard == dashboard
            && self.rule == change.rule
            && self.state == change.state
            && self.severity == change.severity
            && self.since == change.since
    }
}

/// An active alert as `GET /api/v1/alerts` shows it: its last change, its ack, and the
/// active silences that match it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    #[serde(flatten)]
    pub change: crate::protocol::AlertChange,
    pub acked: Option<Ack>,
    #[serde(rename = "silencedBy")]
    pub silenced_by: Vec<i64>,
}

/// One delivery of an alert change to a receiver, as `GET /api/v1/alerts/deliveries` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub receiver: String,
    pub dashboard: String,
    pub rule: String,
    pub state: String,
    pub round: i64,
    /// pending, delivered, failed, silenced or held.
    pub status: String,
    pub attempts: i64,
    #[serde(rename = "nextAt")]
    pub next_at: Millis,
    #[serde(rename = "lastError")]
    pub last_error: Option<String>,
}

/// A stretch of time a rule was firing, at one severity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FiringSpan {
    pub from: Millis,
    pub to: Millis,
    pub severity: Severity,
}

/// Where the rules on `metric` were firing, from the recorded changes (oldest first) and the
/// alerts active now (for a firing that began before the record); a span still open ends at
/// `now`. An escalation ends one span and starts the next at its own severity.
pub fn firing_spans(
    log: &[RecordedChange],
    active: &[crate::protocol::AlertChange],
    metric: &str,
    now: Millis,
) -> Vec<FiringSpan> {
    /// Takes `rule`'s open span out of `open`.
    fn close<'a>(open: &mut Vec<(&'a str, Millis, Severity)>, rule: &str) -> Option<(&'a str, Millis, Severity)> {
        let at = open.iter().position(|(open_rule, ..)| *open_rule == rule)?;
        Some(open.swap_remove(at))
    }
    let mut spans = Vec::new();
    // Each rule's span still open: its start and severity. A metric has a few rules, so a list
    // (a map's tree code was 2.5 KB of brotli in the browser's first load).
    let mut open: Vec<(&str, Millis, Severity)> = Vec::new();
    for change in active.iter().filter(|change| change.metric == metric && change.state == AlertPhase::Firing) {
        let before_log = log.first().is_none_or(|first| change.since < first.ts);
        if before_log {
            close(&mut open, &change.rule);
            open.push((&change.rule, change.since, change.severity));
        }
    }
    for RecordedChange { ts, change } in log.iter().filter(|recorded| recorded.change.metric == metric) {
        if let Some((_, from, severity)) = close(&mut open, &change.rule) {
            spans.push(FiringSpan { from, to: *ts, severity });
        }
        if change.state == AlertPhase::Firing {
            open.push((&change.rule, *ts, change.severity));
        }
    }
    spans.extend(open.into_iter().map(|(_, from, severity)| FiringSpan { from, to: now, severity }));
    super::sort::sort_by_key(&mut spans, |span| span.from);
    spans
}

/// What a rule would have done over some values: where it fired, and how many notifications
/// it would have sent (firing, escalation, and the resolve of what fired).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preview {
    pub spans: Vec<FiringSpan>,
    pub notifications: usize,
    /// Times it started firing.
    pub fired: usize,
}

/// Runs `step` over `points` (oldest first), as the server would have on those updates.
pub fn preview(rule: &Thresholds, points: &[(Millis, f64)], now: Millis) -> Preview {
    let mut state = AlertState::default();
    let mut log = Vec::new();
    let mut outcome = Preview::default();
    for &(ts, value) in points {
        let (next, transitions) = step(rule, state, Input::Value(value), ts);
        state = next;
        for transition in transitions {
            let was_firing =
                matches!(log.last(), Some(RecordedChange { change, .. }) if change.state == AlertPhase::Firing);
            match transition.state {
                AlertPhase::Firing => {
                    outcome.notifications += 1;
                    outcome.fired += usize::from(!was_firing);
                }
                AlertPhase::Resolved if transition.was_firing => outcome.notifications += 1,
                _ => {}
            }
            log.push(RecordedChange {
                ts,
                change: crate::protocol::AlertChange {
                    rule: String::new(),
                    severity: transition.severity.unwrap_or(Severity::Critical),
                    state: transition.state,
                    metric: String::new(),
                    value: transition.value,
                    threshold: None,
                    since: transition.since,
                    message: String::new(),
                },
            });
        }
    }
    outcome.spans = firing_spans(&log, &[], "", now);
    outcome
}

/// What a rule reads: a metric, or a query's series (the worst of them).
#[derive(Clone, Debug, PartialEq)]
pub enum RuleSubject {
    Metric(String),
    Query(String),
}

impl RuleSubject {
    /// As `[[alerts]]` writes it: `metric = "..."` or `expr = "..."`.
    fn toml_line(&self) -> String {
        let quoted = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
        match self {
            RuleSubject::Metric(metric) => format!("metric = {}\n", quoted(metric)),
            RuleSubject::Query(query) => format!("expr = {}\n", quoted(query)),
        }
    }
}

/// The `[[alerts]]` entry for `rule` on `dashboard`'s `subject`, as the config file takes it
/// (what the rule preview offers to copy).
pub fn rule_toml(name: &str, dashboard: &str, subject: &RuleSubject, rule: &Thresholds) -> String {
    let level = |level: &Level| {
        let side = if level.direction == Direction::Above { "above" } else { "below" };
        if level.clear == level.threshold {
            format!("{{ {side} = {} }}", level.threshold)
        } else {
            format!("{{ {side} = {}, clear = {} }}", level.threshold, level.clear)
        }
    };
    let mut toml = format!("[[alerts]]\nname = \"{name}\"\ndashboard = \"{dashboard}\"\n{}", subject.toml_line());
    if let Some(warn) = &rule.warn {
        toml.push_str(&format!("warn = {}\n", level(warn)));
    }
    if let Some(crit) = &rule.crit {
        toml.push_str(&format!("crit = {}\n", level(crit)));
    }
    if rule.for_ms > 0 {
        toml.push_str(&format!("for = \"{}s\"\n", rule.for_ms / 1000));
    }
    toml
}

/// A rule name for `metric`: lower case letters, digits and `_`, then `_alert`.
pub fn rule_name_for(metric: &str) -> String {
    let mut name: String = metric
        .chars()
        .flat_map(|c| if c.is_ascii_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] })
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '_' })
        .collect();
    name = name.trim_matches('_').to_owned();
    format!("{name}_alert")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn above(threshold: f64, clear: f64) -> Option<Level> {
        Some(Level { direction: Direction::Above, threshold, clear })
    }

    /// Netdata's example: warn above 85 (clear 75), crit above 95 (clear 85).
    fn rule(for_ms: Millis) -> Thresholds {
        Thresholds {
            warn: above(85.0, 75.0),
            crit: above(95.0, 85.0),
            for_ms,
            keep_firing_for_ms: 0,
            no_data_ms: Some(60_000),
        }
    }

    /// What each step announced: (state, severity) pairs.
    type Announced = Vec<Vec<(AlertPhase, Option<Severity>)>>;

    /// Feeds `inputs` one second apart; what each step announced.
    fn run(rule: &Thresholds, inputs: &[Input]) -> Announced {
        let mut state = AlertState::default();
        inputs
            .iter()
            .enumerate()
            .map(|(i, &input)| {
                let (next, transitions) = step(rule, state, input, i as Millis * 1000);
                state = next;
                transitions.iter().map(|t| (t.state, t.severity)).collect()
            })
            .collect()
    }

    use AlertPhase::*;
    use Input::{Tick, Value as V};
    use Severity::*;

    #[test]
    fn every_transition() {
        let cases: Vec<(&str, Thresholds, Vec<Input>, Announced)> = vec![
            ("quiet stays quiet", rule(0), vec![V(10.0), V(80.0), V(85.0)], vec![vec![], vec![], vec![]]),
            ("fires at once without for", rule(0), vec![V(86.0)], vec![vec![(Firing, Some(Warning))]]),
            (
                "pending, then firing once for has passed",
                rule(2000),
                vec![V(86.0), V(87.0), V(88.0), V(88.0)],
                vec![vec![(Pending, Some(Warning))], vec![], vec![(Firing, Some(Warning))], vec![]],
            ),
            (
                "pending that ends before for resolves quietly",
                rule(5000),
                vec![V(86.0), V(70.0)],
                vec![vec![(Pending, Some(Warning))], vec![(Resolved, Some(Warning))]],
            ),
            (
                "escalates and de-escalates without a resolve",
                rule(0),
                vec![V(86.0), V(96.0), V(90.0), V(80.0), V(70.0)],
                vec![
                    vec![(Firing, Some(Warning))],
                    vec![(Firing, Some(Critical))],
                    vec![],
                    vec![(Firing, Some(Warning))],
                    vec![(Resolved, Some(Warning))],
                ],
            ),
            (
                "straight to critical",
                rule(0),
                vec![V(99.0), V(10.0)],
                vec![vec![(Firing, Some(Critical))], vec![(Resolved, Some(Critical))]],
            ),
            ("no data after silence, then back", rule(0), vec![V(10.0), Tick, V(20.0)], vec![vec![], vec![], vec![]]),
            ("a NaN changes nothing", rule(0), vec![V(f64::NAN)], vec![vec![]]),
            (
                "no data ends with a value",
                Thresholds { no_data_ms: Some(500), ..rule(0) },
                vec![V(10.0), Tick, V(20.0)],
                vec![vec![], vec![(NoData, None)], vec![(Resolved, None)]],
            ),
        ];
        for (name, rule, inputs, expected) in cases {
            assert_eq!(run(&rule, &inputs), expected, "{name}");
        }
    }

    #[test]
    fn no_data_after_the_configured_silence() {
        let rule = rule(0);
        let (state, _) = step(&rule, AlertState::default(), V(10.0), 0);
        assert_eq!(step(&rule, state, Tick, 59_999).1, vec![]);
        let (state, transitions) = step(&rule, state, Tick, 60_000);
        assert_eq!(transitions[0].state, NoData);
        assert_eq!(transitions[0].since, 60_000);
        assert_eq!(step(&rule, state, Tick, 120_000).1, vec![], "announced once");
        let (state, transitions) = step(&rule, state, V(99.0), 121_000);
        assert_eq!(transitions[0].state, Firing);
        assert!(matches!(state.phase, Phase::Firing { .. }));
        // Never seen a value: no data is not claimed from nothing.
        assert_eq!(step(&rule, AlertState::default(), Tick, 1_000_000).1, vec![]);
    }

    #[test]
    fn keep_firing_for_holds_after_the_breach_ends() {
        let rule = Thresholds { keep_firing_for_ms: 3000, ..rule(0) };
        let seen = run(&rule, &[V(90.0), V(10.0), V(10.0), V(10.0), V(10.0)]);
        assert_eq!(seen, vec![vec![(Firing, Some(Warning))], vec![], vec![], vec![], vec![(Resolved, Some(Warning))]]);
        let again = run(&rule, &[V(90.0), V(10.0), V(90.0), V(10.0)]);
        assert_eq!(again[2], vec![], "breached again while kept: still the same firing");
    }

    #[test]
    fn below_rules() {
        let rule = Thresholds {
            warn: None,
            crit: Some(Level { direction: Direction::Below, threshold: 10.0, clear: 20.0 }),
            for_ms: 0,
            keep_firing_for_ms: 0,
            no_data_ms: None,
        };
        let seen = run(&rule, &[V(11.0), V(9.0), V(15.0), V(21.0)]);
        assert_eq!(seen, vec![vec![], vec![(Firing, Some(Critical))], vec![], vec![(Resolved, Some(Critical))]]);
    }

    #[test]
    fn flapping_across_a_threshold_fires_once() {
        // crit above 85, clear 75: 84/86/84/86 notifies once.
        let rule =
            Thresholds { warn: None, crit: above(85.0, 75.0), for_ms: 0, keep_firing_for_ms: 0, no_data_ms: None };
        let seen: Vec<_> = run(&rule, &[V(84.0), V(86.0), V(84.0), V(86.0), V(84.0)]).concat();
        assert_eq!(seen, vec![(Firing, Some(Critical))]);
    }

    #[test]
    fn a_recorded_change_is_the_change_s_fields_beside_ts_and_reads_back() {
        let change = recorded(1_500, "hot", Firing, Critical);
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ts": 1500, "rule": "hot", "severity": "critical", "state": "firing", "metric": "cpu",
                "value": 1.0, "threshold": 1.0, "since": 1500, "message": ""})
        );
        assert_eq!(serde_json::from_value::<RecordedChange>(json).unwrap(), change);
        let nodata = r#"{"ts":2,"rule":"r","severity":"warning","state":"nodata","metric":"m","value":null,
            "threshold":null,"since":1,"message":"no data","extra":true}"#;
        let read: RecordedChange = serde_json::from_str(nodata).unwrap();
        assert_eq!((read.ts, read.change.state, read.change.value), (2, NoData, None), "unknown fields are skipped");
    }

    fn recorded(ts: Millis, rule: &str, state: AlertPhase, severity: Severity) -> RecordedChange {
        RecordedChange {
            ts,
            change: crate::protocol::AlertChange {
                rule: rule.into(),
                severity,
                state,
                metric: "cpu".into(),
                value: Some(1.0),
                threshold: Some(1.0),
                since: ts,
                message: String::new(),
            },
        }
    }

    #[test]
    fn no_baseline_is_nodata_at_once_and_values_end_it() {
        let rule =
            Thresholds { warn: None, crit: above(85.0, 75.0), for_ms: 0, keep_firing_for_ms: 0, no_data_ms: None };
        let seen = run(&rule, &[V(90.0), Input::NoBaseline, Input::NoBaseline, V(10.0)]);
        assert_eq!(
            seen,
            vec![vec![(Firing, Some(Critical))], vec![(NoData, None)], vec![], vec![(Resolved, None)]],
            "nodata once; a value inside the limits ends it"
        );
    }

    #[test]
    fn firing_spans_follow_firing_escalation_and_resolve() {
        let log = [
            recorded(1_000, "hot", Pending, Warning),
            recorded(2_000, "hot", Firing, Warning),
            recorded(5_000, "hot", Firing, Critical),
            recorded(7_000, "hot", Resolved, Critical),
            recorded(9_000, "hot", Firing, Critical),
        ];
        let spans = firing_spans(&log, &[], "cpu", 10_000);
        let shown: Vec<_> = spans.iter().map(|s| (s.from, s.to, s.severity)).collect();
        assert_eq!(shown, vec![(2_000, 5_000, Warning), (5_000, 7_000, Critical), (9_000, 10_000, Critical)]);
        assert!(firing_spans(&log, &[], "memory", 10_000).is_empty(), "other metrics' rules are not drawn");
        // Firing since before the record: from the active alert's own start.
        let active = [crate::protocol::AlertChange { since: 500, ..recorded(0, "cold", Firing, Warning).change }];
        assert_eq!(
            firing_spans(&log, &active, "cpu", 10_000)[0],
            FiringSpan { from: 500, to: 10_000, severity: Warning }
        );
    }

    #[test]
    fn a_preview_counts_what_would_have_been_sent() {
        let rule =
            Thresholds { warn: None, crit: above(85.0, 75.0), for_ms: 0, keep_firing_for_ms: 0, no_data_ms: None };
        // Flapping inside the band, a resolve, then a second firing still open.
        let values = [50.0, 90.0, 84.0, 86.0, 80.0, 70.0, 95.0];
        let points: Vec<(Millis, f64)> = values.iter().enumerate().map(|(i, v)| (i as Millis * 1000, *v)).collect();
        let outcome = preview(&rule, &points, 10_000);
        assert_eq!((outcome.fired, outcome.notifications), (2, 3), "{outcome:?}");
        let spans: Vec<_> = outcome.spans.iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(spans, vec![(1_000, 5_000), (6_000, 10_000)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// Once a level is entered, noise inside its band adds no transition.
        #[test]
        fn noise_inside_the_band_adds_nothing(noise in prop::collection::vec(75.0f64..=85.0, 1..50), for_ms in 0i64..3) {
            let rule = Thresholds { warn: above(85.0, 75.0), crit: None, for_ms: for_ms * 1000, keep_firing_for_ms: 0, no_data_ms: None };
            let (mut state, _) = step(&rule, AlertState::default(), V(90.0), 0);
            let (next, _) = step(&rule, state, V(90.0), 10_000);
            state = next;
            let before = state.phase;
            for (i, value) in noise.iter().enumerate() {
                let (next, transitions) = step(&rule, state, V(*value), 11_000 + i as Millis * 1000);
                prop_assert!(transitions.is_empty(), "{value} made {transitions:?}");
                state = next;
            }
            prop_assert_eq!(std::mem::discriminant(&state.phase), std::mem::discriminant(&before));
        }

        /// Whatever the values, states and announcements agree: each transition names the
        /// phase the state is now in.
        #[test]
        fn announcements_match_the_state(values in prop::collection::vec(0.0f64..120.0, 1..60)) {
            let rule = rule(1000);
            let mut state = AlertState::default();
            for (i, value) in values.iter().enumerate() {
                let (next, transitions) = step(&rule, state, V(*value), i as Millis * 700);
                for transition in &transitions {
                    let agrees = matches!(
                        (transition.state, next.phase),
                        (Pending, Phase::Pending { .. })
                            | (Firing, Phase::Firing { .. })
                            | (Resolved, Phase::Inactive)
                            | (NoData, Phase::NoData { .. })
                    );
                    prop_assert!(agrees, "{transition:?} but {:?}", next.phase);
                }
                prop_assert!(transitions.len() <= 1);
                state = next;
            }
        }
    }
}
